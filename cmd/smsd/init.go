package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clinicsms/smsd/config"
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
		p, err := readSecretTwice(env, "New passphrase (at least 8 characters): ", "Same passphrase again: ")
		if err != nil {
			return err
		}
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
		if err := printSetupCode(ctx, env, cfg); err != nil {
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

// readPassphrase reads one line from stdin, without echo on a terminal.
func readPassphrase(env *cmdEnv, prompt string) ([]byte, error) {
	restore := noEcho(env.stdin)
	if restore != nil {
		fmt.Fprint(env.stderr, prompt)
		defer func() { restore(); fmt.Fprintln(env.stderr) }()
	}
	line, err := bufio.NewReader(env.stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return nil, errors.New("no passphrase on stdin (type it, or pipe it in: echo ... | smsd ...)")
	}
	p := strings.TrimRight(line, "\r\n")
	if p == "" {
		return nil, errors.New("empty passphrase")
	}
	return []byte(p), nil
}

// readSecretTwice reads a new secret: typed twice (no echo) on a terminal,
// so a typo does not lock anyone out; once from a pipe.
func readSecretTwice(env *cmdEnv, prompt, again string) ([]byte, error) {
	p, err := readPassphrase(env, prompt)
	if err != nil {
		return nil, err
	}
	if isTerminal(env.stdin) {
		q, err := readPassphrase(env, again)
		if err != nil {
			return nil, err
		}
		if string(q) != string(p) {
			return nil, errors.New("the two passphrases differ; nothing was changed")
		}
	}
	return p, nil
}

// printSetupCode prints the one-time code of the web UI's first-run page,
// which creates the first admin (smsd user add still works instead).
func printSetupCode(ctx context.Context, env *cmdEnv, cfg config.Config) error {
	svc, err := daemon.OpenDirect(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	code, needed, err := daemon.SetupCode(ctx, svc.Store())
	if err != nil || !needed {
		return err
	}
	fmt.Fprintf(env.stdout, "setup code: %s (open the web UI and create the first admin with it; it works once)\n", code)
	return nil
}
