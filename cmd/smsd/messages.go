package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/clinicsms/smsd/ops"
)

func init() {
	register(command{name: "messages", summary: "outgoing messages, newest first: state, time, parts, masked number ([-state S] [-json])", run: runMessages})
	register(command{name: "message", summary: "one message: smsd message show|cancel|resend|dismiss ID", run: runMessage})
}

func runMessages(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "messages", "smsd messages [-state S] [-since DATE] [-until DATE] [-n N] [-offset K] [-json]")
	cf := addCommonFlags(fs, env)
	state := fs.String("state", "", "only this state: queued, sending, sent, delivered, undelivered, failed, uncertain, cancelled")
	since := fs.String("since", "", "created on or after this local date (2026-11-25) or time")
	until := fs.String("until", "", "created before this local date (2026-11-26) or time")
	limit := fs.Int("n", 100, "how many messages (at most 10000)")
	offset := fs.Int("offset", 0, "skip this many (paging)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	f := ops.MessageFilter{State: *state, Limit: *limit, Offset: *offset}
	var err error
	if f.Since, err = parseDay("-since", *since); err != nil {
		return err
	}
	if f.Until, err = parseDay("-until", *until); err != nil {
		return err
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	ms, err := conn.Messages(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		if ms == nil {
			ms = []ops.Message{}
		}
		return printJSON(env.stdout, ms)
	}
	if len(ms) == 0 {
		fmt.Fprintln(env.stdout, "no messages")
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tCREATED\tSEND AT\tTO\tPARTS\tBY\tERROR")
	for _, m := range ms {
		to := safe(m.To)
		if m.Damaged {
			to = damagedMark
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, safe(m.State), local(m.CreatedAt), local(m.SendAt), to, parts(m), safe(m.CreatedBy), safe(m.LastError))
	}
	return flushListing(tw, env.stdout, slices.ContainsFunc(ms, func(m ops.Message) bool { return m.Damaged }))
}

// parseDay reads a -since or -until: a local date, or a time as -at takes.
func parseDay(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	t, err := parseAt(s, time.Now())
	if err != nil {
		return time.Time{}, usageError("%s %q is not a date: use 2026-11-25 or 2026-11-25T09:00", flagName, s)
	}
	return t, nil
}

func local(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func parts(m ops.Message) string {
	if m.PartsTotal == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", m.PartsAccepted, m.PartsTotal)
}

var messageActions = map[string]subcommand{
	"show":            {usage: "smsd message show ID [-json]   the message with its number and text", words: 1},
	ops.ActionCancel:  {usage: "smsd message cancel ID          stop a queued or scheduled message", words: 1},
	ops.ActionResend:  {usage: "smsd message resend ID          send an uncertain, failed or undelivered message again", words: 1},
	ops.ActionDismiss: {usage: "smsd message dismiss ID         settle an uncertain message as failed, not sending it again", words: 1},
}

func runMessage(ctx context.Context, env *cmdEnv, args []string) error {
	var cf commonFlags
	var asJSON *bool
	action, words, err := parseAction(env, "message", messageActions,
		[]string{"show", ops.ActionCancel, ops.ActionResend, ops.ActionDismiss}, args,
		func(_ string, fs *flag.FlagSet) {
			cf = addCommonFlags(fs, env)
			asJSON = fs.Bool("json", false, "print JSON")
		})
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(words[0], 10, 64)
	if err != nil || id <= 0 {
		return usageError("%q is not a message id (a number, as smsd messages lists them)", words[0])
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	var m ops.Message
	if action == "show" {
		m, err = conn.Message(ctx, id)
	} else {
		m, err = conn.Act(ctx, ops.MessageAction{ID: id, Action: action})
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.stdout, m)
	}
	if action != "show" {
		fmt.Fprintf(env.stdout, "message %d %s: now %s\n", m.ID, pastTense[action], m.State)
		return nil
	}
	printMessage(env.stdout, m)
	return nil
}

var pastTense = map[string]string{ops.ActionCancel: "cancelled", ops.ActionResend: "queued again", ops.ActionDismiss: "dismissed"}

func printMessage(w io.Writer, m ops.Message) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("id:", strconv.FormatInt(m.ID, 10))
	row("state:", safe(m.State))
	row("to:", safe(m.To))
	row("created:", local(m.CreatedAt)+" by "+safe(m.CreatedBy))
	row("send at:", local(m.SendAt))
	row("attempts:", strconv.Itoa(m.Attempts))
	row("parts:", parts(m))
	if m.LastError != "" {
		row("error:", safe(m.LastError))
	}
	if m.Purged {
		row("text:", "(erased by the retention policy)")
	} else {
		row("text:", fmt.Sprintf("%q", m.Text))
	}
	tw.Flush()
}
