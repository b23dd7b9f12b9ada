package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/control"
	"github.com/clinicsms/smsd/modem/emulator"
	"github.com/clinicsms/smsd/queue"
)

func init() {
	register(command{name: "demo", summary: "try smsd on this machine: temporary data dir, emulated modem, demo reminders", run: runDemo})
}

func runDemo(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "demo")
	dur := fs.Duration("for", 0, "stop after this long (default: until Ctrl-C)")
	verbose := fs.Bool("v", false, "show the daemon's log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "smsd-demo-")
	if err != nil {
		return fmt.Errorf("create a temporary data directory: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Modem = "emulator"
	cfg.RateLimit = config.Duration{Duration: time.Second}
	if err := os.Mkdir(cfg.DataDir, 0o700); err != nil {
		return err
	}
	if err := queue.Init(ctx, cfg.DBPath(), keySource(&cfg, nil), storeOptions(&cfg, slog.New(slog.DiscardHandler))); err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	if *verbose {
		level.Set(slog.LevelInfo)
	}
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	d := newDaemon(cfg, log, level)
	d.onHandset = func(m emulator.HandsetMessage) {
		fmt.Fprintf(env.stdout, "[handset %s] %s (%d part(s), %s): %s\n", m.At.Format("15:04:05"), m.To, m.Parts, m.Encoding, m.Text)
	}
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	fmt.Fprintf(env.stdout, `smsd demo: a throw-away data directory (%s) and an emulated GSM modem; no real SMS is sent.
The web UI is not built yet: this demo runs the daemon and prints what the emulated handsets receive.
Try, in another terminal:
  smsd send -data-dir %s -to +15551234567 -text "Your appointment is tomorrow at 9"
  smsd status -data-dir %s
  smsd inbox -data-dir %s
Ctrl-C stops the demo and deletes the directory.

`, dir, cfg.DataDir, cfg.DataDir, cfg.DataDir)
	errc := make(chan error, 1)
	go func() { errc <- d.run(ctx) }()
	go func() {
		c := control.NewClient(cfg.SocketPath())
		for range 50 {
			if _, err := c.Status(ctx); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, m := range []control.SendRequest{
			{To: "+15551230001", Text: "Reminder: Dr. Rivera, tomorrow 9:00. Reply C to confirm, STOP to opt out."},
			{To: "+15551230002", Text: "Rappel : rendez-vous jeudi à 14h30 — répondez C pour confirmer 🙂"},
		} {
			if r, err := c.Send(ctx, m); err == nil {
				fmt.Fprintf(env.stdout, "[demo] queued message %d to %s (%d part(s), %s)\n", r.ID, r.To, r.Parts, r.Encoding)
			}
		}
		time.Sleep(3 * time.Second)
		d.mu.Lock()
		emu := d.emu
		d.mu.Unlock()
		if emu != nil && ctx.Err() == nil {
			emu.Inject("+15551230001", "C")
			fmt.Fprintln(env.stdout, "[demo] the first patient replied \"C\": see smsd inbox")
		}
	}()
	err = <-errc
	fmt.Fprintln(env.stdout, "smsd demo: stopped; temporary data removed")
	return err
}
