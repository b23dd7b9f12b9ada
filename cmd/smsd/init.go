package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/crypt"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/web/localca"
)

func init() {
	register(command{name: "init", summary: "create the data directory, keys and database (never overwrites)", run: runInit})
}

func runInit(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "init", "smsd init [-passphrase]")
	cf := addCommonFlags(fs, env)
	pass := fs.Bool("passphrase", false, "locked mode: protect the database with a passphrase read from stdin (asked twice on a terminal) instead of a key file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	if fi, err := os.Stat(cfg.DataDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
			return fmt.Errorf("data directory %s has mode %04o and could not be made 0700: %w", cfg.DataDir, fi.Mode().Perm(), err)
		}
	}
	var keys queue.KeySource
	if *pass {
		cfg.KeySource = config.KeyPassphrase
		p, err := readNewPassphrase(env)
		if err != nil {
			return err
		}
		defer clear(p)
		keys = queue.KeySource{Passphrase: p}
	} else {
		keys = daemon.KeySource(&cfg, nil)
	}
	err = queue.Init(ctx, cfg.DBPath(), keys, daemon.StoreOptions(&cfg, nil))
	if errors.Is(err, queue.ErrExists) {
		return fmt.Errorf("%s already holds a database; smsd init never overwrites one (nothing was changed)", cfg.DataDir)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "created %s\n", cfg.DBPath())
	svc, err := daemon.OpenForKeys(ctx, cfg, keys)
	if err != nil {
		return fmt.Errorf("open the new store to make its recovery code: %w", err)
	}
	defer svc.Close()
	code, err := svc.NewRecoveryCode(ctx, daemon.Shell())
	if err != nil {
		return fmt.Errorf("the store was created, but its recovery code was not (run smsd key recovery): %w", err)
	}
	printRecoveryCode(env, code)
	if cfg.TLSCert == "" {
		// The web UI's local CA now, so that the postinst can show clinic IT
		// its fingerprint; failing here only defers it to smsd serve.
		names, err := localca.SystemNames()
		var ca *localca.CA
		if err == nil {
			ca, err = localca.LoadOrCreate(cfg.DataDir, names, time.Now())
		}
		if err != nil {
			fmt.Fprintf(env.stderr, "note: the web UI's certificate authority will be made when smsd serve starts: %v\n", err)
		} else {
			fmt.Fprintf(env.stdout, "web UI certificate authority %s (trust it once on each front-desk PC), SHA-256 fingerprint %s\n", filepath.Join(cfg.DataDir, localca.CAFile), ca.Fingerprint())
		}
	}
	if !*pass {
		if err := printSetupCode(ctx, env, svc); err != nil {
			fmt.Fprintf(env.stderr, "note: smsd serve will log the web UI's setup code when it starts: %v\n", err)
		}
	}
	switch {
	case *pass:
		// The setup code is sealed in the store, which is locked here: it
		// is logged by smsd serve once an admin unlocks it.
		fmt.Fprintln(env.stdout, "locked mode: set key_source = \"passphrase\" in the config; after each start run smsd key unlock")
	case cfg.KeySource == config.KeyFile:
		fmt.Fprintf(env.stdout, "key file %s (mode 0600): back it up apart from the database; without it nobody can read the messages\n", cfg.KeyFilePath())
	}
	return nil
}

// printRecoveryCode prints a recovery code once, on a line of its own that
// starts with "Recovery code: ", and what it is for.
func printRecoveryCode(env *cmdEnv, code string) {
	fmt.Fprintf(env.stdout, "Recovery code: %s\n", code)
	fmt.Fprintln(env.stdout, "  write it on paper and keep it away from this box (a safe): it opens the data, with a backup, if the key is lost; smsd shows it only now")
}

// readPassphrase reads one line from stdin, without echo on a terminal,
// as bytes (see readSecretLine): the caller zeroes it after use.
func readPassphrase(env *cmdEnv, prompt string) ([]byte, error) {
	restore := noEcho(env.stdin)
	if restore != nil {
		fmt.Fprint(env.stderr, prompt)
		defer func() { restore(); fmt.Fprintln(env.stderr) }()
	}
	p, err := readSecretLine(env.stdin)
	if errors.Is(err, io.EOF) {
		return nil, errors.New("no passphrase on stdin (type it, or pipe it in: echo ... | smsd ...)")
	}
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, errors.New("empty passphrase")
	}
	return p, nil
}

// readSecretTwice reads a new secret: typed twice (no echo) on a terminal,
// so a typo does not lock anyone out; once from a pipe.
func readSecretTwice(env *cmdEnv, prompt, again string) ([]byte, error) {
	return readNewSecret(env, prompt, again, nil)
}

// readNewPassphrase reads a new store passphrase like readSecretTwice and
// refuses a weak one (crypt.CheckPassphrase) before the second prompt, so
// that a person learns at once why.
func readNewPassphrase(env *cmdEnv) ([]byte, error) {
	return readNewSecret(env, fmt.Sprintf("New passphrase (at least %d characters; four or five random words): ", crypt.MinPassphraseLen), "Same passphrase again: ", crypt.CheckPassphrase)
}

func readNewSecret(env *cmdEnv, prompt, again string, check func([]byte) error) ([]byte, error) {
	p, err := readPassphrase(env, prompt)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(p); err != nil {
			clear(p)
			return nil, fmt.Errorf("%w; nothing was changed", err)
		}
	}
	if isTerminal(env.stdin) {
		q, err := readPassphrase(env, again)
		if err != nil {
			clear(p)
			return nil, err
		}
		same := subtle.ConstantTimeCompare(p, q) == 1
		clear(q)
		if !same {
			clear(p)
			return nil, errors.New("the two passphrases differ; nothing was changed")
		}
	}
	return p, nil
}

// printSetupCode prints the one-time code of the web UI's first-run page,
// which creates the first admin (smsd user add still works instead).
func printSetupCode(ctx context.Context, env *cmdEnv, svc *daemon.Service) error {
	code, needed, err := daemon.SetupCode(ctx, svc.Store())
	if err != nil || !needed {
		return err
	}
	fmt.Fprintf(env.stdout, "setup code: %s (open the web UI and create the first admin with it; it works once)\n", code)
	return nil
}
