package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/mask"
)

func init() {
	register(command{name: "serve", summary: "run the daemon (systemd runs this)", run: runServe})
}

func runServe(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "serve", "smsd serve [-modem PATH|auto|emulator] [-listen ADDR] [-idle-timeout D] [-session-lifetime D] [-log-level L] [-rate-limit D]")
	cf := addCommonFlags(fs, env)
	modemFlag := fs.String("modem", "", "modem device path, \"auto\", or \"emulator\" (overrides the config file)")
	listen := fs.String("listen", "", "web UI address, such as :8443 (HTTPS) or 127.0.0.1:8080 (plain HTTP on loopback); \"off\" turns it off (overrides the config file)")
	idle := fs.Duration("idle-timeout", 0, "end a web session after this long without a request, e.g. 10m (overrides the config file)")
	lifetime := fs.Duration("session-lifetime", 0, "end a web session after this long in any case, e.g. 12h (overrides the config file)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (overrides the config file)")
	rate := fs.String("rate-limit", "", "least time between two messages per modem, e.g. 3s; 0s = none (overrides the config file)")
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
	if *modemFlag != "" {
		cfg.Modem, cfg.Modems = *modemFlag, nil
	}
	switch *listen {
	case "":
	case "off":
		cfg.Listen = ""
	default:
		cfg.Listen = *listen
	}
	if *idle != 0 {
		cfg.IdleTimeout = config.Duration{Duration: *idle}
	}
	if *lifetime != 0 {
		cfg.SessionLifetime = config.Duration{Duration: *lifetime}
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	if *rate != "" {
		d, err := time.ParseDuration(*rate)
		if err != nil || d < 0 {
			return usageError("-rate-limit %q is not a duration like 3s (0s = no limit)", *rate)
		}
		cfg.RateLimit = config.Duration{Duration: d}
		for i := range cfg.Modems {
			cfg.Modems[i].RateLimit = nil
		}
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	mask.SetLogNumbers(cfg.LogNumbers)
	level := new(slog.LevelVar)
	lvl, _ := config.ParseLevel(cfg.LogLevel)
	level.Set(lvl)
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	svc := daemon.New(cfg, log, level)
	offset, err := daemon.ClockOffset(env.getenv)
	if err != nil {
		return err
	}
	svc.SetClockOffset(offset)
	svc.OpenDoors = webDoor(cfg, svc, log, nil)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				svc.Reload(*cf.config)
			}
		}
	}()
	return svc.Run(ctx)
}
