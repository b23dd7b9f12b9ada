package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/clinicsms/smsd/ops"
)

func init() {
	register(command{name: "report", summary: "a day's reminders: sent, delivered, failed, confirmed, ... ([-date YYYY-MM-DD] [-json])", run: runReport})
}

func runReport(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "report", "smsd report [-date YYYY-MM-DD] [-days N] [-json]")
	cf := addCommonFlags(fs, env)
	date := fs.String("date", "", "the day, in the clinic's time zone (default today)")
	days := fs.Int("days", 14, "how many days the history covers, ending with -date")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	if *date != "" {
		if _, err := time.Parse(time.DateOnly, *date); err != nil {
			return usageError("-date %q is not a day: use YYYY-MM-DD, e.g. 2026-12-03", *date)
		}
	}
	if *days < 1 || *days > 366 {
		return usageError("-days %d: give 1 to 366", *days)
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	r, err := conn.Report(ctx, ops.ReportRequest{Date: *date, Days: *days})
	if err != nil {
		return err
	}
	if *asJSON {
		if r.Days == nil {
			r.Days = []ops.ReportDay{}
		}
		return printJSON(env.stdout, r)
	}
	printReport(env.stdout, r)
	return nil
}

// printReport shows the day's counts, then the days before it with a bar
// of the reminders sent (# confirmed, + the rest) per day.
func printReport(w io.Writer, r ops.Report) {
	fmt.Fprintf(w, "reminders on %s\n", safe(r.Date))
	for _, kv := range []struct {
		k string
		v int
	}{{"sent", r.Sent}, {"delivered", r.Delivered}, {"failed", r.Failed}, {"confirmed", r.Confirmed},
		{"asked to reschedule", r.Reschedule}, {"opted out", r.OptedOut}, {"still queued", r.Pending}} {
		fmt.Fprintf(w, "  %-20s %6d\n", kv.k+":", kv.v)
	}
	if len(r.Days) < 2 {
		return
	}
	most := 0
	for _, d := range r.Days {
		most = max(most, d.Sent)
	}
	fmt.Fprintln(w, "sent per day (# confirmed, + not confirmed):")
	const width = 40
	for _, d := range r.Days {
		sent, conf := d.Sent, min(d.Confirmed, d.Sent)
		if most > width {
			sent, conf = (sent*width+most-1)/most, (conf*width+most-1)/most
		}
		bar := strings.Repeat("#", conf) + strings.Repeat("+", max(sent-conf, 0))
		fmt.Fprintf(w, "  %s  %-*s %d sent, %d confirmed\n", safe(d.Date), min(most, width), bar, d.Sent, d.Confirmed)
	}
}
