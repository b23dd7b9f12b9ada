package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/clinicsms/smsd/modem"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

func init() {
	register(command{name: "status", summary: "modem, SIM, signal and queue depth by state ([-json])", run: runStatus})
}

// errNotRunning makes `smsd status` exit 3 (LSB "program is not running")
// after printing what the store says.
var errNotRunning = errors.New("smsd serve is not running")

func runStatus(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "status", "smsd status [-json]")
	cf := addCommonFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	st, err := conn.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(env.stdout, st); err != nil {
			return err
		}
	} else {
		printStatus(env.stdout, st)
	}
	if !st.Running {
		return errNotRunning
	}
	return nil
}

func printStatus(w io.Writer, st ops.Status) {
	switch {
	case !st.Running:
		fmt.Fprintln(w, "daemon:  not running (start it: systemctl start smsd)")
	case st.Locked:
		fmt.Fprintf(w, "daemon:  running (pid %d, %s), LOCKED: run smsd key unlock\n", st.PID, st.Version)
	case st.Starting:
		fmt.Fprintf(w, "daemon:  starting (pid %d, %s): opening the store\n", st.PID, st.Version)
	default:
		fmt.Fprintf(w, "daemon:  running (pid %d, %s, since %s)\n", st.PID, st.Version, st.StartedAt.Local().Format("2006-01-02 15:04:05"))
	}
	for _, m := range st.Modems {
		ready := "not ready"
		if m.Ready {
			ready = "ready"
		}
		fmt.Fprintf(w, "modem:   %s %s, %s; port %s; %s %s; SIM %s; operator %s; %s; signal %d dBm (%d/5); sent %d, failed %d, uncertain %d",
			safe(m.ID), ready, safe(m.State), safe(m.Port), safe(m.Manufacturer), safe(m.Model), safe(m.SIM), fmt.Sprintf("%q", m.Operator), safe(m.Registration), m.SignalDBm, m.Bars, m.Sent, m.Failed, m.Uncertain)
		if m.StorageTotal > 0 {
			fmt.Fprintf(w, "; SIM storage %d/%d", m.StorageUsed, m.StorageTotal)
			if m.StorageUsed*100 >= m.StorageTotal*modem.StorageWarnPercent {
				fmt.Fprint(w, " NEARLY FULL (the network holds new messages back when it is full)")
			}
		}
		if m.LastError != "" {
			fmt.Fprintf(w, "; last error %s", safe(m.LastError))
		}
		fmt.Fprintln(w)
	}
	keys := make([]string, 0, len(st.Queue))
	for _, s := range queue.States {
		if _, ok := st.Queue[string(s)]; ok {
			keys = append(keys, string(s))
		}
	}
	for k := range st.Queue {
		found := false
		for _, x := range keys {
			found = found || x == k
		}
		if !found {
			keys = append(keys, k)
		}
	}
	fmt.Fprint(w, "queue:  ")
	for _, k := range keys {
		fmt.Fprintf(w, " %s %d", k, st.Queue[k])
	}
	fmt.Fprintln(w)
	if st.CAFingerprint != "" {
		fmt.Fprintf(w, "web UI CA fingerprint (SHA-256): %s\n", safe(st.CAFingerprint))
	}
	if st.AuditProblem != "" {
		fmt.Fprintf(w, "AUDIT:   THE AUDIT LOG DOES NOT VERIFY: %s (run smsd audit check; keep the box as it is and tell the compliance officer)\n", safe(st.AuditProblem))
	}
	if st.QueueError != "" {
		fmt.Fprintf(w, "note:    the queue could not be counted: %s\n", safe(st.QueueError))
	}
	if st.Quarantined > 0 {
		fmt.Fprintf(w, "INTEGRITY: %d message(s) quarantined: their rows were changed without the key and will never be sent; run smsd doctor\n", st.Quarantined)
	}
	printBackupStatus(w, st.Backup)
	if n := st.Queue[string(queue.Uncertain)]; n > 0 {
		fmt.Fprintf(w, "note:    %d message(s) uncertain: they may have gone out; see smsd messages -state uncertain, then smsd message resend ID or smsd message dismiss ID\n", n)
	}
}
