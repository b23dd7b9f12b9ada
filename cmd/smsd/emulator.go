package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/clinicsms/smsd/modem/emulator"
)

func init() {
	register(command{name: "emulator", summary: "run the emulated GSM modem on a pseudo-terminal (for gammu, minicom, tests)", run: runEmulator})
}

// runEmulator runs the emulated modem until interrupted. It prints every
// message the "handset" receives, and reads commands on stdin to inject
// messages and faults (type "help").
func runEmulator(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "emulator", "smsd emulator [-link PATH] [-pin PIN] [-latency D] [-baud N] [-report-delay D] [-v]")
	link := fs.String("link", "/tmp/ttySIM0", "symlink to create to the pty slave; point the modem path (or gammu's device) at it")
	pin := fs.String("pin", "", "make the SIM ask for this PIN")
	latency := fs.Duration("latency", 0, "delay every answer by this much")
	baud := fs.Int("baud", 0, "pace output like a serial wire at this baud rate (0 = no pacing)")
	srDelay := fs.Duration("report-delay", 2*time.Second, "delay of delivery status reports")
	verbose := fs.Bool("v", false, "log emulator events to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q; usage: smsd emulator [-link PATH] [-pin PIN] [-latency D] [-baud N]", fs.Arg(0))
	}
	if *link == "" {
		return usageError("-link must not be empty")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	emu, err := emulator.Start(emulator.Config{
		Link:              *link,
		Logger:            logger,
		StatusReportDelay: *srDelay,
		OnHandset: func(m emulator.HandsetMessage) {
			// This is a test device: the handset shows what a phone would.
			fmt.Fprintf(env.stdout, "handset: %s to %s, %d part(s), %s, ref %d, MR %v: %s\n", m.At.Format(time.TimeOnly), m.To, m.Parts, m.Encoding, m.Reference, m.MRs, m.Text)
		},
	})
	if err != nil {
		return fmt.Errorf("start emulator: %w", err)
	}
	defer emu.Close()
	if *pin != "" {
		emu.RequirePIN(*pin)
	}
	emu.SetLatency(*latency)
	emu.SetBaud(*baud)
	fmt.Fprintf(env.stdout, "emulated modem on %s; type \"help\" for commands, Ctrl-C to stop\n", emu.Path())

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(env.stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case l, ok := <-lines:
			if !ok {
				// stdin closed (e.g. run in the background): keep serving.
				<-ctx.Done()
				return nil
			}
			if err := emulatorCommand(emu, l, env); err != nil {
				fmt.Fprintln(env.stderr, "error:", err)
			}
		}
	}
}

const emulatorHelp = `commands:
  inject FROM TEXT...   deliver an inbound message (multipart when long)
  fail N CMS            answer the next N sends with +CMS ERROR: CMS
  latency DURATION      delay every answer (e.g. 200ms)
  baud N                pace output at N baud (0 = off)
  hang | unhang         stop / resume answering
  unplug | replug       close the pty / create a new one at the same link
  register STAT         +CREG stat: 0 none, 1 home, 2 searching, 3 denied, 5 roaming
  signal RSSI           +CSQ rssi 0..31 (99 unknown)
  outcome ST            TP-Status of later status reports (0 delivered, 64 failed)
  handset               list the messages received so far
`

func emulatorCommand(emu *emulator.Emulator, line string, env *cmdEnv) error {
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	num := func(i int) (int, error) {
		if len(f) <= i {
			return 0, errors.New("missing number; type help")
		}
		return strconv.Atoi(f[i])
	}
	switch f[0] {
	case "help":
		fmt.Fprint(env.stdout, emulatorHelp)
	case "inject":
		if len(f) < 3 {
			return errors.New("usage: inject FROM TEXT...")
		}
		return emu.Inject(f[1], strings.Join(f[2:], " "))
	case "fail":
		n, err := num(1)
		if err != nil {
			return err
		}
		code, err := num(2)
		if err != nil {
			return err
		}
		emu.FailSends(n, code)
	case "latency":
		if len(f) < 2 {
			return errors.New("usage: latency DURATION")
		}
		d, err := time.ParseDuration(f[1])
		if err != nil {
			return err
		}
		emu.SetLatency(d)
	case "baud":
		n, err := num(1)
		if err != nil {
			return err
		}
		emu.SetBaud(n)
	case "hang":
		emu.Hang()
	case "unhang":
		emu.Unhang()
	case "unplug":
		emu.Unplug()
	case "replug":
		return emu.Replug()
	case "register":
		n, err := num(1)
		if err != nil {
			return err
		}
		emu.SetRegistered(n)
	case "signal":
		n, err := num(1)
		if err != nil {
			return err
		}
		emu.SetSignal(n)
	case "outcome":
		n, err := num(1)
		if err != nil || n < 0 || n > 255 {
			return errors.New("usage: outcome 0..255")
		}
		emu.SetDeliveryOutcome(byte(n))
	case "handset":
		for _, m := range emu.Handset() {
			fmt.Fprintf(env.stdout, "%s to %s (%d parts): %s\n", m.At.Format(time.TimeOnly), m.To, m.Parts, m.Text)
		}
	default:
		return fmt.Errorf("unknown command %q; type help", f[0])
	}
	return nil
}
