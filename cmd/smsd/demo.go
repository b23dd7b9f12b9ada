package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/control"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/modem/emulator"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/web"
)

func init() {
	register(command{name: "demo", summary: "try smsd on this machine: temporary data dir, emulated modem, demo reminders", run: runDemo})
}

func runDemo(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "demo", "smsd demo [-for D] [-listen ADDR] [-v]")
	dur := fs.Duration("for", 0, "stop after this long (default: until Ctrl-C)")
	listen := fs.String("listen", "127.0.0.1:8080", "the web UI's address (plain HTTP on loopback)")
	verbose := fs.Bool("v", false, "show the daemon's log")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
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
	cfg.Listen = *listen
	if err := cfg.Validate(); err != nil {
		return usageError("%v", err)
	}
	if err := os.Mkdir(cfg.DataDir, 0o700); err != nil {
		return err
	}
	if err := queue.Init(ctx, cfg.DBPath(), daemon.KeySource(&cfg, nil), daemon.StoreOptions(&cfg, nil)); err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	if *verbose {
		level.Set(slog.LevelInfo)
	}
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	d := daemon.New(cfg, log, level)
	adminPassword, err := demoAdmin(ctx, cfg)
	if err != nil {
		return err
	}
	d.OpenDoors = webDoor(cfg, d, log, func(info web.ListenInfo) {
		fmt.Fprintf(env.stdout, "[demo] web UI: %s  (sign in as admin, password %s)\n", info.URL, adminPassword)
	})
	d.OnHandset = func(m emulator.HandsetMessage) {
		fmt.Fprintf(env.stdout, "[handset %s] %s (%d part(s), %s): %s\n", m.At.Format("15:04:05"), safe(m.To), m.Parts, m.Encoding, safe(m.Text))
	}
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	fmt.Fprintf(env.stdout, `smsd demo: a throw-away data directory (%s) and an emulated GSM modem; no real SMS is sent.
The emulated handsets' messages are printed here. Type at the prompt (the phone panel):
%s
Or, from another terminal (go run ./cmd/smsd ... from the source tree):
  printf '%%s\n' +15551234567 "Your appointment is tomorrow at 9" | smsd send -data-dir %s
  smsd status -data-dir %s
  smsd inbox -data-dir %s
Ctrl-C stops the demo and deletes the directory.

`, dir, demoHelp, cfg.DataDir, cfg.DataDir, cfg.DataDir)
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	go func() {
		c := control.NewClient(cfg.SocketPath())
		// The daemon's socket comes up a moment after this goroutine starts;
		// a send waits there for the store to open.
		for {
			if _, err := c.Status(ctx); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		for _, m := range []ops.SendRequest{
			{To: "+15551230001", Text: "Reminder: Dr. Rivera, tomorrow 9:00. Reply C to confirm, STOP to opt out."},
			{To: "+15551230002", Text: "Rappel : rendez-vous jeudi à 14h30 — répondez C pour confirmer 🙂"},
		} {
			r, err := c.Send(ctx, m)
			if err != nil {
				if ctx.Err() == nil {
					fmt.Fprintf(env.stdout, "[demo] could not queue a demo reminder: %v\n", err)
				}
				continue
			}
			fmt.Fprintf(env.stdout, "[demo] queued message %d to %s (%d part(s), %s)\n", r.ID, r.To, r.Parts, r.Encoding)
		}
		// The first patient answers once their reminder has reached them.
		for {
			emu := d.Emulator()
			if emu != nil && slices.ContainsFunc(emu.Handset(), func(m emulator.HandsetMessage) bool { return m.To == "+15551230001" }) {
				emu.Inject("+15551230001", "C")
				fmt.Fprintln(env.stdout, "[demo] the first patient replied \"C\": see smsd inbox")
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	go demoPrompt(ctx, env, d, control.NewClient(cfg.SocketPath()))
	err = <-errc
	fmt.Fprintln(env.stdout, "smsd demo: stopped; temporary data removed")
	return err
}

// demoHelp lists what the demo's prompt understands.
const demoHelp = `  reply NUMBER TEXT   a patient's phone answers, e.g. reply +15551230001 STOP
  send NUMBER TEXT    queue a reminder, e.g. send +15551234567 See you at 9
  status | inbox | help`

// demoLine is one line typed at the demo's prompt.
type demoLine struct {
	verb   string // reply, send, status, inbox, help; "" for an empty line
	number string
	text   string
}

// parseDemoLine reads a prompt line: a verb, and for reply and send a number
// and the rest of the line as the text (spaces kept).
func parseDemoLine(line string) (demoLine, error) {
	line = strings.TrimSpace(line)
	verb, rest, _ := strings.Cut(line, " ")
	verb = strings.ToLower(verb)
	switch verb {
	case "":
		return demoLine{}, nil
	case "status", "inbox", "help":
		return demoLine{verb: verb}, nil
	case "reply", "send":
		number, text, _ := strings.Cut(strings.TrimSpace(rest), " ")
		text = strings.TrimSpace(text)
		if number == "" || text == "" {
			return demoLine{}, fmt.Errorf("%s needs a number and a text, e.g. %s +15551230001 STOP", verb, verb)
		}
		return demoLine{verb: verb, number: number, text: text}, nil
	}
	return demoLine{}, fmt.Errorf("unknown command %q; type help", verb)
}

// demoPrompt is the demo's phone panel: it reads lines from stdin until EOF
// or ctx ends. A reply goes into the emulated modem as an inbound SMS, so the
// daemon handles it exactly as one from a real phone (STOP opts out, HELP is
// answered).
func demoPrompt(ctx context.Context, env *cmdEnv, d *daemon.Service, c *control.Client) {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(env.stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case line, ok := <-lines:
			if !ok {
				return
			}
			if err := demoRun(ctx, env, d, c, line); err != nil {
				fmt.Fprintf(env.stdout, "[demo] %v\n", err)
			}
		}
	}
}

func demoRun(ctx context.Context, env *cmdEnv, d *daemon.Service, c *control.Client, line string) error {
	l, err := parseDemoLine(line)
	if err != nil {
		return err
	}
	switch l.verb {
	case "help":
		fmt.Fprintln(env.stdout, demoHelp)
	case "status":
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		printStatus(env.stdout, st)
	case "inbox":
		items, err := c.Inbox(ctx, 20)
		if err != nil {
			return err
		}
		return printInbox(env.stdout, items)
	case "send":
		r, err := c.Send(ctx, ops.SendRequest{To: l.number, Text: l.text})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "[demo] queued message %d to %s (%d part(s), %s)\n", r.ID, r.To, r.Parts, r.Encoding)
	case "reply":
		emu := d.Emulator()
		if emu == nil {
			return errors.New("the emulated modem is not up yet; try again in a moment")
		}
		if err := emu.Inject(l.number, l.text); err != nil {
			return fmt.Errorf("reply: %w", err)
		}
		fmt.Fprintf(env.stdout, "[phone %s] sent %q to the clinic: see inbox\n", l.number, l.text)
	}
	return nil
}

// demoAdmin creates the demo's admin account, for the web UI, and returns
// its password: random, long enough for the password rules, easy to read
// off a terminal. (A real box starts with the setup page and its one-time
// code instead.)
func demoAdmin(ctx context.Context, cfg config.Config) (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make the demo admin's password: %w", err)
	}
	password := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	svc, err := daemon.OpenDirect(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer svc.Close()
	if _, err := svc.User(ctx, daemon.Shell(), ops.UserRequest{Action: ops.UserAdd, Username: "admin", Name: "Demo admin", Role: ops.RoleAdmin, Password: password}); err != nil {
		return "", fmt.Errorf("create the demo admin: %w", err)
	}
	return password, nil
}
