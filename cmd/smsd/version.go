package main

import (
	"context"
	"fmt"

	"github.com/clinicsms/smsd/internal/version"
)

func init() {
	register(command{name: "version", summary: "print the version and build information (also smsd --version)", run: runVersion})
}

func runVersion(_ context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "version", "smsd version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	fmt.Fprintln(env.stdout, version.String())
	return nil
}
