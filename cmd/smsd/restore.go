package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"aead.dev/minisign"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/queue"
)

func init() {
	register(command{name: "restore", summary: "restore a backup into an empty data directory with the recovery code: smsd restore DIR -data-dir D", run: runRestore})
}

func runRestore(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "restore", `smsd restore [-pubkey KEY|FILE] DIR -data-dir D
  Restores the backup DIR (a smsd-YYYYMMDD-HHMMSS directory) into the empty
  data directory D. Reads the recovery code from standard input (one line;
  with key_source = "passphrase", the new passphrase on the next line).
  Gives D a new key of the configured kind and prints a new recovery code.`)
	cf := addCommonFlags(fs, env)
	pubkey := fs.String("pubkey", "", "the audit public key (RW...) or minisign .pub file the backup must be signed by (default: the restored store's own audit keys)")
	words, err := parseWords(fs, args)
	if err != nil {
		return err
	}
	if len(words) != 1 {
		return usageError("give one backup directory (DIR/smsd-YYYYMMDD-HHMMSS) and -data-dir D")
	}
	dir := words[0]
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	var keys []minisign.PublicKey
	if *pubkey != "" {
		if keys, err = auditKeys(ctx, env, cf, *pubkey); err != nil {
			return err
		}
	}
	// One byte at a time: nothing read ahead of the passphrase's line,
	// nothing held as a string.
	code, err := readCodeLine(env.stdin)
	code = bytes.TrimSpace(code)
	if err != nil || len(code) == 0 {
		return usageError("give the recovery code on standard input (one line: the code printed at smsd init or by smsd key recovery)")
	}
	var pass []byte
	if cfg.KeySource == config.KeyPassphrase {
		if pass, err = readCodeLine(env.stdin); err != nil || len(pass) == 0 {
			return usageError("key_source is passphrase: give the new passphrase on the line after the recovery code")
		}
	}
	res, err := daemon.Restore(ctx, cfg, daemon.RestoreRequest{Dir: dir, Recovery: code, Passphrase: pass, Keys: keys, Actor: daemon.Shell()})
	clear(code)
	clear(pass)
	if err != nil {
		if errors.Is(err, queue.ErrBadBackup) {
			return fmt.Errorf("%s does NOT verify, nothing was restored: %w", dir, err)
		}
		return err
	}
	m := res.Verified.Manifest
	w := env.stdout
	fmt.Fprintf(w, "restored %s (made %s on %s) into %s\n", dir, m.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), m.Host, cfg.DataDir)
	fmt.Fprintf(w, "  %d messages, %d received, %d opt-outs, %d users, %d audit rows; audit head %s\n",
		m.Counts["messages"], m.Counts["inbound"], m.Counts["optouts"], m.Counts["users"], m.Counts["audit_log"], m.AuditHead)
	if res.Uncertain > 0 {
		fmt.Fprintf(w, "  %d message(s) were being sent when the backup was taken, or were uncertain already: they are uncertain and are not sent again on their own (smsd messages -state uncertain; resend or dismiss each)\n", res.Uncertain)
	}
	fmt.Fprintln(w, "  messages still queued in the backup will be sent when smsd starts: any the old box sent after the backup was taken go out again")
	fmt.Fprintln(w, "  every web session of the old box was ended; the web UI makes a new certificate authority on its first start (trust it again on the front-desk PCs)")
	switch res.KeySource {
	case config.KeyPassphrase:
		fmt.Fprintln(w, "  new key: the passphrase given (locked mode: unlock after each start with smsd key unlock)")
	case config.KeyCredential:
		fmt.Fprintf(w, "  new key: the systemd credential %s\n", cfg.KeyCredential)
	default:
		fmt.Fprintf(w, "  new key file: %s (keep it apart from backups)\n", res.KeyFile)
	}
	if _, ok := m.File(queue.BackupConfigFile); ok {
		fmt.Fprintf(w, "  the old box's configuration is in %s: compare it with %s\n", filepath.Join(dir, queue.BackupConfigFile), config.DefaultPath)
	}
	fmt.Fprintln(w, "A new recovery code, shown once: write it down and keep it apart from the box and the backups.")
	fmt.Fprintln(w, "The old code no longer opens this store, but still opens every backup made before now: keep those as safe as it, or destroy them.")
	fmt.Fprintf(w, "Recovery code: %s\n", res.RecoveryCode)
	return nil
}

// readCodeLine reads one line of at most 1 KiB from r, one byte at a time
// (so the passphrase's line after the code stays unread), as bytes the
// caller clears. The line ends at \n or at the end of input.
func readCodeLine(r io.Reader) ([]byte, error) {
	buf := make([]byte, 0, 1024)
	var one [1]byte
	for {
		n, err := r.Read(one[:])
		if n == 1 {
			if one[0] == '\n' {
				return buf, nil
			}
			if len(buf) == cap(buf) {
				clear(buf)
				return nil, errors.New("the line is longer than 1 KiB")
			}
			buf = append(buf, one[0])
		}
		if err == io.EOF && len(buf) > 0 {
			return buf, nil
		}
		if err != nil {
			clear(buf)
			return nil, err
		}
	}
}
