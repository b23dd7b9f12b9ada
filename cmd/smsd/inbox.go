package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/clinicsms/smsd/control"
	"github.com/clinicsms/smsd/queue"
)

func init() {
	register(command{name: "inbox", summary: "received messages, newest first ([-json])", run: runInbox})
}

// inboxJSON is one line of `smsd inbox -json`.
type inboxJSON struct {
	ID          int64  `json:"id"`
	From        string `json:"from"`
	Text        string `json:"text"`
	ReceivedAt  string `json:"received_at"`
	ReplyTo     *int64 `json:"reply_to"`
	DecodeError string `json:"decode_error,omitempty"`
	Incomplete  bool   `json:"incomplete,omitempty"`
}

func runInbox(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "inbox")
	cf := addCommonFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON (from, text, received_at, reply_to)")
	limit := fs.Int("n", 50, "how many messages")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	var items []control.InboxItem
	err = withStoreOrDaemon(ctx, &cfg,
		func(c *control.Client) (err error) { items, err = c.Inbox(ctx, *limit); return err },
		func(s *queue.Store) (err error) { items, err = inbox(ctx, s, *limit); return err })
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]inboxJSON, 0, len(items))
		for _, it := range items {
			j := inboxJSON{ID: it.ID, From: it.From, Text: it.Text, ReceivedAt: it.ReceivedAt.UTC().Format("2006-01-02T15:04:05Z07:00"), DecodeError: it.DecodeError, Incomplete: it.Incomplete}
			if it.ReplyTo != 0 {
				r := it.ReplyTo
				j.ReplyTo = &r
			}
			out = append(out, j)
		}
		return printJSON(env.stdout, out)
	}
	return printInbox(env.stdout, items)
}

// printInbox writes received messages as a table, one per line.
func printInbox(w io.Writer, items []control.InboxItem) error {
	if len(items) == 0 {
		fmt.Fprintln(w, "no messages received")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tFROM\tREPLY TO\tTEXT")
	for _, it := range items {
		reply := "-"
		if it.ReplyTo != 0 {
			reply = fmt.Sprint(it.ReplyTo)
		}
		text := it.Text
		if it.DecodeError != "" {
			text = "(undecodable PDU kept raw: " + it.DecodeError + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%q\n", it.ID, it.ReceivedAt.Local().Format("2006-01-02 15:04"), it.From, reply, text)
	}
	return tw.Flush()
}
