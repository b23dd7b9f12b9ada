package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/control"
	"github.com/clinicsms/smsd/crypt"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/queue"
)

func init() {
	register(command{name: "key", summary: "keys: unlock | rotate [-kek] | move -to SOURCE | recovery | wait", run: runKey})
}

var keyActions = map[string]subcommand{
	"unlock":   {usage: "smsd key unlock   give a locked daemon its passphrase (read from stdin)"},
	"rotate":   {usage: "smsd key rotate [-kek]   replace the data key and seal every stored value again (resumable); -kek also replaces the key file, so old copies open nothing (smsd stopped)"},
	"move":     {usage: "smsd key move -to file:PATH|passphrase|credential[:NAME]   wrap the data key for another key source and retire the old one (smsd stopped)"},
	"recovery": {usage: "smsd key recovery   print a new recovery code and retire the old one (smsd stopped)"},
	"wait":     {usage: "smsd key wait [-timeout D]   wait for the key file (a USB key stick) to appear; the unit runs it before smsd serve"},
}

func runKey(ctx context.Context, env *cmdEnv, args []string) error {
	// Fault injection for the crash tests (e2e.TestKeyMoveKilled): the
	// process dies at that step of a key move, as in a power cut.
	if step := env.getenv("SMSD_FAULT_KEYMOVE"); step != "" {
		queue.SetKeyMoveFault(step, func() { os.Exit(70) })
	}
	var (
		cf      commonFlags
		kek     *bool
		to      *string
		timeout *time.Duration
	)
	action, _, err := parseAction(env, "key", keyActions, []string{"unlock", "rotate", "move", "recovery", "wait"}, args,
		func(a string, fs *flag.FlagSet) {
			cf = addCommonFlags(fs, env)
			switch a {
			case "rotate":
				kek = fs.Bool("kek", false, "also replace the key-encryption key: a new key file at the same path (the daemon must be stopped)")
			case "move":
				to = fs.String("to", "", "the new key source: file:PATH (a new key file, e.g. on a USB stick), passphrase (read from stdin), or credential[:NAME] (a systemd credential, default name smsd.key)")
			case "wait":
				timeout = fs.Duration("timeout", 80*time.Second, "give up after this long (exit 1; systemd starts the unit again)")
			}
		})
	if err != nil {
		return err
	}
	switch action {
	case "unlock":
		cfg, err := cf.load()
		if err != nil {
			return err
		}
		p, err := readPassphrase(env, "Passphrase: ")
		if err != nil {
			return err
		}
		err = control.NewClient(cfg.SocketPath()).Unlock(ctx, p)
		clear(p)
		if errors.Is(err, control.ErrNotRunning) {
			return errors.New("smsd serve is not running: start it first (systemctl start smsd), then unlock")
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, "unlocked: smsd is sending")
		return nil
	case "move":
		return keyMove(ctx, env, cf, *to)
	case "recovery":
		return keyRecovery(ctx, env, cf)
	case "wait":
		cfg, err := cf.load()
		if err != nil {
			return err
		}
		return waitForKeyFile(ctx, env, cfg, *timeout, 2*time.Second)
	}
	if *kek {
		return keyRotateKEK(ctx, env, cf)
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	r, err := conn.RotateDataKey(ctx)
	if err != nil {
		return err
	}
	resumed := ""
	if r.Resumed {
		resumed = " (an interrupted rotation was finished)"
	}
	fmt.Fprintf(env.stdout, "data key rotated%s: generation %d, %d row(s) sealed again; the old key is gone\n", resumed, r.Gen, r.Resealed)
	return nil
}

// errStopFirst: key custody changes need the daemon stopped, because the
// running daemon would keep its old key source until restarted anyway.
var errStopFirst = errors.New("smsd serve is running: stop it first (systemctl stop smsd), run this again, change smsd.toml as it then says, and start smsd")

// openForKeys opens cfg's store for a key change with its configured
// source, asking for the passphrase of a locked store. The caller closes
// the Service and zeroes nothing: the passphrase is zeroed here once the
// store is open.
func openForKeys(ctx context.Context, env *cmdEnv, cfg config.Config) (*daemon.Service, error) {
	if _, err := control.NewClient(cfg.SocketPath()).Ping(ctx); err == nil {
		return nil, errStopFirst
	}
	var pass []byte
	if cfg.KeySource == config.KeyPassphrase {
		p, err := readPassphrase(env, "Current passphrase: ")
		if err != nil {
			return nil, err
		}
		pass = p
		defer clear(pass)
	}
	svc, err := daemon.OpenForKeys(ctx, cfg, daemon.KeySource(&cfg, pass))
	if errors.Is(err, daemon.ErrDaemonRuns) {
		return nil, errStopFirst
	}
	return svc, err
}

// parseTarget reads -to: file:PATH, passphrase, credential[:NAME].
func parseTarget(spec string) (kind, arg string, err error) {
	kind, arg, _ = strings.Cut(spec, ":")
	switch kind {
	case "file":
		if arg == "" {
			return "", "", usageError("-to file:PATH needs the new key file's path, e.g. file:/media/smsd-key/smsd.key")
		}
		if !filepath.IsAbs(arg) {
			return "", "", usageError("-to file:%s: give an absolute path (the daemon runs from another directory)", arg)
		}
	case "passphrase":
		if arg != "" {
			return "", "", usageError("-to passphrase takes no argument: the passphrase is read from stdin")
		}
	case "credential":
		if arg == "" {
			arg = "smsd.key"
		}
		if strings.ContainsAny(arg, "/\x00") {
			return "", "", usageError("-to credential:%s: a credential name is a plain file name such as smsd.key", arg)
		}
	case "":
		return "", "", usageError("smsd key move needs -to file:PATH, -to passphrase or -to credential[:NAME]")
	default:
		return "", "", usageError("-to %q: not file:PATH, passphrase or credential[:NAME]", spec)
	}
	return kind, arg, nil
}

// keyMove is smsd key move -to ...: the store opens with the configured
// source, its data key is wrapped for the new one (crash-safe), the old
// key file is erased, and the command prints the settings to change.
func keyMove(ctx context.Context, env *cmdEnv, cf commonFlags, spec string) error {
	kind, arg, err := parseTarget(spec)
	if err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	var to queue.KeySource
	switch kind {
	case "file":
		to.KeyFile = arg
	case "credential":
		if os.Getenv("CREDENTIALS_DIRECTORY") == "" {
			return fmt.Errorf("-to credential:%s needs the credential loaded as systemd loads it for smsd: make it (e.g. systemd-creds encrypt --with-key=tpm2 --name=%s %s /etc/credstore.encrypted/%s for the current key, or a new random key), then run this command under it, as user smsd: systemd-run --pipe --wait -p User=smsd -p Group=smsd -p LoadCredentialEncrypted=%s:/etc/credstore.encrypted/%s /usr/bin/smsd key move -to credential:%s",
				arg, arg, cfg.KeyFilePath(), arg, arg, arg, arg)
		}
		to.Credential = arg
	}
	// A locked store's current passphrase first (openForKeys), then the
	// new one: one per line from a pipe, in the order a person is asked.
	svc, err := openForKeys(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	if kind == "passphrase" {
		newPass, err := readNewPassphrase(env)
		if err != nil {
			return err
		}
		defer clear(newPass)
		to.Passphrase = newPass
	}
	st := svc.Store()
	oldFile := st.KeyFile()
	if err := svc.MoveKey(ctx, daemon.Shell(), to); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "the data key is now wrapped for %s; the old key opens nothing\n", describeSource(kind, arg))
	if oldFile != "" && !sameFile(oldFile, to.KeyFile) {
		if err := eraseKeyFile(oldFile); err != nil {
			fmt.Fprintf(env.stderr, "warning: could not remove the old key file %s: %v; remove it yourself (shred -u %s)\n", oldFile, err, oldFile)
		} else {
			fmt.Fprintf(env.stdout, "the old key file %s was overwritten and removed\n", oldFile)
		}
	}
	if configMatches(cfg, kind, arg) {
		fmt.Fprintf(env.stdout, "%s already says so; start smsd again\n", configPath(cf))
		return nil
	}
	fmt.Fprintln(env.stdout, "now set in "+configPath(cf)+" (smsd will not start with the old setting):")
	switch kind {
	case "file":
		fmt.Fprintf(env.stdout, "  key_source = %q\n  key_file = %q\n", config.KeyFile, arg)
		if !strings.HasPrefix(arg, cfg.DataDir+string(filepath.Separator)) {
			fmt.Fprintln(env.stdout, "and keep the stick in: the unit waits for the key file at start (smsd key wait); see the README's \"Key custody\"")
		}
	case "passphrase":
		fmt.Fprintf(env.stdout, "  key_source = %q\nthen after each start: smsd key unlock\n", config.KeyPassphrase)
	case "credential":
		fmt.Fprintf(env.stdout, "  key_source = %q\n  key_credential = %q\nand in a drop-in (systemctl edit smsd): [Service] LoadCredentialEncrypted=%s:/etc/credstore.encrypted/%s\n", config.KeyCredential, arg, arg, arg)
	}
	return nil
}

// configMatches: the configuration already names the source moved to.
func configMatches(cfg config.Config, kind, arg string) bool {
	switch kind {
	case "file":
		return cfg.KeySource == config.KeyFile && sameFile(cfg.KeyFilePath(), arg)
	case "credential":
		return cfg.KeySource == config.KeyCredential && cfg.KeyCredential == arg
	}
	return cfg.KeySource == config.KeyPassphrase
}

// configPath names the config file a person edits.
func configPath(cf commonFlags) string {
	if *cf.config != "" && *cf.config != "/dev/null" {
		return *cf.config
	}
	return config.DefaultPath
}

func describeSource(kind, arg string) string {
	switch kind {
	case "file":
		return "the key file " + arg
	case "credential":
		return "the systemd credential " + arg
	}
	return "the new passphrase"
}

// sameFile: a and b name one file (b may not exist).
func sameFile(a, b string) bool {
	if b == "" {
		return false
	}
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// eraseKeyFile overwrites a retired key file with zeros, syncs it and
// removes it. On flash (SD cards, USB sticks) the old blocks may survive
// the overwrite in the controller; the key opens nothing any more anyway,
// unless the new source holds the same key.
func eraseKeyFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil {
		_, err = f.Write(make([]byte, st.Size()))
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// keyRotateKEK is smsd key rotate -kek: a new data key (every value sealed
// again), then a new key file in place of the old, so that a copy of the
// old file — and the data keys it could unwrap — open nothing written
// from now on.
func keyRotateKEK(ctx context.Context, env *cmdEnv, cf commonFlags) error {
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	svc, err := openForKeys(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	if m := svc.Store().KeyMethodInUse(); m != crypt.MethodKeyFile {
		return fmt.Errorf("smsd key rotate -kek replaces a key file, and this store uses a %s: for a new passphrase run smsd key move -to passphrase; for a credential make a new one and run smsd key move -to credential:NAME", m)
	}
	a := daemon.Shell()
	r, err := svc.RotateDataKey(ctx, a)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "data key rotated: generation %d, %d row(s) sealed again; the old key is gone\n", r.Gen, r.Resealed)
	if err := svc.RotateKEK(ctx, a); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "key file %s replaced by a new key: copies of the old file open nothing; back the new one up apart from the database\n", svc.Store().KeyFile())
	return nil
}

// keyRecovery is smsd key recovery: a new recovery code, the old retired.
func keyRecovery(ctx context.Context, env *cmdEnv, cf commonFlags) error {
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	svc, err := openForKeys(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	code, err := svc.NewRecoveryCode(ctx, daemon.Shell())
	if err != nil {
		return err
	}
	printRecoveryCode(env, code)
	fmt.Fprintln(env.stdout, "the previous recovery code no longer opens the store; backups made before this still open with it, so keep that paper as long as you keep those backups")
	return nil
}

// waitForKeyFile waits until the key file of a key-file store exists: a
// key kept on a USB stick that is not (yet) mounted. It says once, on
// stderr (the journal), what it waits for, and gives up after timeout so
// that systemd's restart tries again. Other sources return at once.
func waitForKeyFile(ctx context.Context, env *cmdEnv, cfg config.Config, timeout, every time.Duration) error {
	if cfg.KeySource != config.KeyFile {
		return nil
	}
	path := cfg.KeyFilePath()
	if _, err := os.Stat(cfg.DBPath()); errors.Is(err, fs.ErrNotExist) {
		// No store: nothing to wait for; smsd serve says to run smsd init.
		return nil
	}
	// A store moved to another kind of key (smsd key move) waits in vain
	// for a key file: say what to set instead.
	var moved error
	if m, err := queue.KeyMethod(ctx, cfg.DBPath(), daemon.StoreOptions(&cfg, nil)); err == nil && m != crypt.MethodKeyFile {
		moved = fmt.Errorf("the store's data key is wrapped for a %s (smsd key move), but smsd.toml says key_source = %q: set %s", m, cfg.KeySource, queue.SourceHint(m))
		if m == crypt.MethodPassphrase {
			return moved
		}
	}
	deadline := time.Now().Add(timeout)
	said := false
	for {
		_, err := os.Stat(path)
		if err == nil {
			if said {
				fmt.Fprintf(env.stderr, "the key file %s is there: starting\n", path)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("key file %s: %w", path, err)
		}
		if moved != nil {
			// A credential store without a key file: the config is stale.
			return moved
		}
		if !said {
			fmt.Fprintf(env.stderr, "waiting for the key file on %s: %s is missing (insert the USB key stick, or fix key_file in smsd.toml)\n", filepath.Dir(path), path)
			said = true
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for the key file on %s: still missing after %s; smsd will try again (insert the USB key stick)", filepath.Dir(path), timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}
