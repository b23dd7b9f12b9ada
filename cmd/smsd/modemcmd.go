package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/modem"
	"github.com/clinicsms/smsd/ops"
)

func init() {
	register(command{name: "modem", summary: "find and check modems: smsd modem detect | smsd modem probe [-device D]", run: runModem})
}

var modemActions = map[string]subcommand{
	"detect": {usage: "smsd modem detect [-json]            list USB serial ports of known modem makers"},
	"probe":  {usage: "smsd modem probe [-device D] [-json] open a modem, initialise it and show its health"},
}

func runModem(ctx context.Context, env *cmdEnv, args []string) error {
	var cf commonFlags
	var device *string
	var asJSON *bool
	var timeout *time.Duration
	action, _, err := parseAction(env, "modem", modemActions, []string{"detect", "probe"}, args,
		func(action string, fs *flag.FlagSet) {
			asJSON = fs.Bool("json", false, "print JSON")
			if action == "probe" {
				cf = addCommonFlags(fs, env)
				device = fs.String("device", "", "device path or auto (default: the configured modem)")
				timeout = fs.Duration("timeout", 30*time.Second, "give up after this long")
			}
		})
	if err != nil {
		return err
	}
	if action == "detect" {
		return modemDetect(env, *asJSON)
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	h, perr := daemon.Probe(pctx, cfg, *device)
	if *asJSON {
		out := struct {
			ops.ModemStatus
			Error string `json:"error,omitempty"`
		}{ModemStatus: h}
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
			fmt.Fprintf(tw, "%s\t%s\n", k, safe(v))
		}
	}
	row("port:", h.Port)
	row("modem:", h.Manufacturer+" "+h.Model+" "+h.Revision)
	row("IMEI:", h.IMEI)
	row("SIM:", h.SIM)
	if h.Connected {
		row("SMSC:", map[bool]string{true: "set", false: "MISSING: the SIM has no service centre number"}[h.SMSC])
		row("operator:", h.Operator)
		row("network:", h.Registration)
		if h.Bars > 0 || h.SignalDBm != 0 {
			row("signal:", fmt.Sprintf("%d dBm (%d/5)", h.SignalDBm, h.Bars))
		}
	}
	tw.Flush()
	if perr != nil {
		if h.Port != "" {
			return fmt.Errorf("probe %s: %w", h.Port, perr)
		}
		return perr
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
		fmt.Fprintf(tw, "%s\t%s:%s\t%s\n", safe(c.Path), safe(c.VID), safe(c.PID), safe(c.Vendor))
	}
	tw.Flush()
	fmt.Fprintln(env.stdout, "smsd modem probe -device PORT tells which one answers AT; modem = \"auto\" picks it by itself")
	return nil
}
