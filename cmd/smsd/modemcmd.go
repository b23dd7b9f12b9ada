package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/modem"
)

func init() {
	register(command{name: "modem", summary: "find and check modems: smsd modem detect | smsd modem probe [-device D]", run: runModem})
}

const modemUsage = `smsd modem detect [-json]            list the USB serial ports of known modem makers
       smsd modem probe [-device D] [-json]   open the modem once, initialise it and show its health`

func runModem(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "modem")
	fs.Usage = func() { fmt.Fprintln(env.stderr, "Usage: "+modemUsage); fs.PrintDefaults() }
	cf := addCommonFlags(fs)
	device := fs.String("device", "", "probe: device path or auto (default: the configured modem)")
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", 30*time.Second, "probe: give up after this long")
	words, err := parseWords(fs, args)
	if err != nil {
		return err
	}
	if len(words) != 1 || (words[0] != "detect" && words[0] != "probe") {
		return fmt.Errorf("%w: %s", errUsage, modemUsage)
	}
	if words[0] == "detect" {
		return modemDetect(env, *asJSON)
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	spec := cfg.ModemSpecs()[0]
	path := spec.Path
	if *device != "" {
		path = *device
	}
	if path == "emulator" {
		return errors.New("the configured modem is the built-in emulator: nothing to probe (give -device /dev/ttyUSB2 or -device auto)")
	}
	// Two programs sending AT commands to one modem garble each other's
	// answers: never probe under a running daemon.
	if _, err := os.Stat(cfg.DataDir); err == nil {
		lock, held, err := lockFile(cfg.LockPath())
		if err == nil && held {
			return errors.New("smsd serve is running and using the modem: see its view with smsd status, or stop it first (systemctl stop smsd)")
		}
		if lock != nil {
			defer lock.Close()
		}
	}
	mc := modemConfig(&cfg, path, spec.PIN)
	mc.Logger = slog.New(slog.DiscardHandler)
	pctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	h, perr := modem.Probe(pctx, mc)
	if *asJSON {
		out := struct {
			modem.Health
			IMEI  string `json:"IMEI"`
			Error string `json:"error,omitempty"`
		}{Health: h, IMEI: mask.Serial(h.IMEI)}
		if perr != nil {
			out.Error = perr.Error()
		}
		if err := printJSON(env.stdout, out); err != nil {
			return err
		}
		return perr
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("port:", h.Port)
	row("modem:", h.Manufacturer+" "+h.Model+" "+h.Revision)
	row("IMEI:", mask.Serial(h.IMEI))
	row("SIM:", h.SIM)
	if h.Connected {
		row("SMSC:", map[bool]string{true: "set", false: "MISSING: the SIM has no service centre number"}[h.SMSC])
		row("operator:", h.Operator)
		row("network:", h.Registration.String())
		if h.Bars > 0 || h.SignalDBm != 0 {
			row("signal:", fmt.Sprintf("%d dBm (%d/5)", h.SignalDBm, h.Bars))
		}
	}
	tw.Flush()
	if perr != nil {
		return fmt.Errorf("probe %s: %w", path, perr)
	}
	fmt.Fprintln(env.stdout, "ready: this modem can send")
	return nil
}

func modemDetect(env *cmdEnv, asJSON bool) error {
	cands, err := modem.Candidates()
	if err != nil {
		return err
	}
	if asJSON {
		if cands == nil {
			cands = []modem.Candidate{}
		}
		return printJSON(env.stdout, cands)
	}
	if len(cands) == 0 {
		fmt.Fprintln(env.stdout, "no USB serial port of a known modem maker found (is the modem plugged in? lsusb lists USB devices; a modem in storage mode needs usb-modeswitch)")
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PORT\tUSB ID\tMAKER")
	for _, c := range cands {
		fmt.Fprintf(tw, "%s\t%s:%s\t%s\n", c.Path, c.VID, c.PID, c.Vendor)
	}
	tw.Flush()
	fmt.Fprintln(env.stdout, "smsd modem probe -device PORT tells which one answers AT; modem = \"auto\" picks it by itself")
	return nil
}
