package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/clinicsms/smsd/control"
)

func init() {
	register(command{name: "key", summary: "keys: smsd key unlock (a locked daemon's passphrase) | smsd key rotate (new data key)", run: runKey})
}

var keyActions = map[string]subcommand{
	"unlock": {usage: "smsd key unlock   give a locked daemon its passphrase (read from stdin)"},
	"rotate": {usage: "smsd key rotate   replace the data key and seal every stored value again (resumable)"},
}

func runKey(ctx context.Context, env *cmdEnv, args []string) error {
	var cf commonFlags
	action, _, err := parseAction(env, "key", keyActions, []string{"unlock", "rotate"}, args,
		func(_ string, fs *flag.FlagSet) { cf = addCommonFlags(fs, env) })
	if err != nil {
		return err
	}
	if action == "unlock" {
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
