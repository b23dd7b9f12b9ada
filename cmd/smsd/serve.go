package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clinicsms/smsd/config"
)

func init() {
	register(command{name: "serve", summary: "run the daemon (systemd runs this)", run: runServe})
}

func runServe(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "serve")
	cf := addCommonFlags(fs)
	modemFlag := fs.String("modem", "", "modem device path, \"auto\", or \"emulator\" (overrides the config file)")
	listen := fs.String("listen", "", "web UI address (reserved: the web UI is not built yet)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (overrides the config file)")
	rate := fs.String("rate-limit", "", "least time between two messages per modem, e.g. 3s; 0s = none (overrides the config file)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	if *modemFlag != "" {
		cfg.Modem, cfg.Modems = *modemFlag, nil
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	if *rate != "" {
		d, err := time.ParseDuration(*rate)
		if err != nil || d < 0 {
			return fmt.Errorf("%w: -rate-limit %q is not a duration like 3s (0s = no limit)", errUsage, *rate)
		}
		cfg.RateLimit = config.Duration{Duration: d}
		for i := range cfg.Modems {
			cfg.Modems[i].RateLimit = nil
		}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	level := new(slog.LevelVar)
	lvl, _ := config.ParseLevel(cfg.LogLevel)
	level.Set(lvl)
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	d := newDaemon(cfg, log, level)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				d.reload(*cf.config)
			}
		}
	}()
	return d.run(ctx)
}
