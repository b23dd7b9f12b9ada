package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/control"
	"github.com/clinicsms/smsd/queue"
)

func init() {
	register(command{name: "key", summary: "keys: smsd key unlock (a locked daemon's passphrase) | smsd key rotate (new data key)", run: runKey})
}

const keyUsage = `smsd key unlock [-data-dir D]   give a locked daemon its passphrase (read from stdin)
       smsd key rotate [-data-dir D]   replace the data key and seal every stored value again (resumable)`

func runKey(ctx context.Context, env *cmdEnv, args []string) error {
	usage := fmt.Errorf("%w: %s", errUsage, keyUsage)
	fs := newFlagSet(env, "key")
	fs.Usage = func() { fmt.Fprintln(env.stderr, "Usage: "+keyUsage); fs.PrintDefaults() }
	cf := addCommonFlags(fs)
	// The subcommand may come before or after the flags.
	words, err := parseWords(fs, args)
	if err != nil {
		return err
	}
	if len(words) != 1 || (words[0] != "unlock" && words[0] != "rotate") {
		return usage
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	if words[0] == "unlock" {
		return keyUnlock(ctx, env, &cfg)
	}
	var r control.RotateResult
	err = withStoreOrDaemon(ctx, &cfg,
		func(c *control.Client) (err error) { r, err = c.RotateDataKey(ctx); return err },
		func(s *queue.Store) (err error) { r, err = rotateDataKey(ctx, s); return err })
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

func keyUnlock(ctx context.Context, env *cmdEnv, cfg *config.Config) error {
	p, err := readPassphrase(env, "Passphrase: ")
	if err != nil {
		return err
	}
	err = control.NewClient(cfg.SocketPath()).Unlock(ctx, p)
	if errors.Is(err, control.ErrNotRunning) {
		return errors.New("smsd serve is not running: start it first (systemctl start smsd), then unlock")
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "unlocked: smsd is sending")
	return nil
}
