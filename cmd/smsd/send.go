package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/clinicsms/smsd/ops"
)

func init() {
	register(command{name: "send", summary: "queue a message: smsd send -to N -text T [-at TIME]", run: runSend})
}

const sendUsage = `smsd send -to NUMBER -text TEXT [-at TIME] [-idempotency-key K]`

func runSend(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "send", sendUsage)
	cf := addCommonFlags(fs, env)
	to := fs.String("to", "", "recipient, with country code: +15551234567")
	text := fs.String("text", "", "message text (UTF-8)")
	at := fs.String("at", "", "send later: 2026-11-25T09:00 (local), RFC 3339, or a delay such as 2h")
	idem := fs.String("idempotency-key", "", "a key that makes repeating this command queue the message only once")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q (quote the text: -text \"...\")", fs.Arg(0))
	}
	if *to == "" || *text == "" {
		return usageError("both -to and -text are needed, e.g. smsd send -to +15551234567 -text \"See you at 9\"")
	}
	sendAt, err := parseAt(*at, time.Now())
	if err != nil {
		return usageError("%v", err)
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := conn.Send(ctx, ops.SendRequest{To: *to, Text: *text, SendAt: sendAt, IdempotencyKey: *idem})
	if err != nil {
		return err
	}
	verb := "queued"
	if res.Existing {
		verb = "already queued (same idempotency key):"
	}
	fmt.Fprintf(env.stdout, "%s message %d to %s (%d part(s), %s)", verb, res.ID, res.To, res.Parts, res.Encoding)
	if !res.SendAt.IsZero() && res.SendAt.After(time.Now()) {
		fmt.Fprintf(env.stdout, ", to be sent at %s", res.SendAt.Local().Format("2006-01-02 15:04"))
	}
	fmt.Fprintln(env.stdout)
	if conn.Direct {
		fmt.Fprintln(env.stderr, "smsd send: note: smsd serve is not running: the message goes out when it starts")
	}
	return nil
}

// parseAt reads -at: empty (now), a delay ("2h"), RFC 3339, or a local
// date and time.
func parseAt(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("-at %q is in the past", s)
		}
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("-at %q is not a time: use 2026-11-25T09:00 (local time), 2026-11-25T09:00:00-05:00, or a delay such as 2h", s)
}
