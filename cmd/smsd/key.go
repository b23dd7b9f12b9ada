package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/clinicsms/smsd/control"
)

func init() {
	register(command{name: "key", summary: "key management: smsd key unlock (give a locked daemon its passphrase)", run: runKey})
}

func runKey(ctx context.Context, env *cmdEnv, args []string) error {
	usage := fmt.Errorf("%w: smsd key unlock [-data-dir D] (reads the passphrase from stdin); key rotation is not built yet", errUsage)
	fs := newFlagSet(env, "key unlock")
	cf := addCommonFlags(fs)
	sub := ""
	if len(args) > 0 && args[0] == "unlock" {
		sub, args = "unlock", args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if sub == "" && fs.NArg() == 1 {
		sub = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usage
	}
	if sub != "unlock" {
		return usage
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
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
