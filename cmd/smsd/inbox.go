package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/clinicsms/smsd/ops"
)

func init() {
	register(command{name: "inbox", summary: "received messages, newest first ([-json])", run: runInbox})
}

func runInbox(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "inbox", "smsd inbox [-n N] [-json]")
	cf := addCommonFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON (id, from, text, received_at, reply_to, ...)")
	limit := fs.Int("n", 50, "how many messages")
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
	items, err := conn.Inbox(ctx, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		if items == nil {
			items = []ops.InboxItem{}
		}
		return printJSON(env.stdout, items)
	}
	return printInbox(env.stdout, items)
}

// printInbox writes received messages as a table, one per line.
func printInbox(w io.Writer, items []ops.InboxItem) error {
	if len(items) == 0 {
		fmt.Fprintln(w, "no messages received")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tFROM\tREPLY TO\tTEXT")
	for _, it := range items {
		reply := "-"
		if it.ReplyTo != nil {
			reply = fmt.Sprint(*it.ReplyTo)
		}
		text := fmt.Sprintf("%q", it.Text)
		if it.DecodeError != "" {
			text = "(undecodable PDU kept raw: " + safe(it.DecodeError) + ")"
		}
		from := safe(it.From)
		if it.Damaged {
			from, text = damagedMark, "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", it.ID, it.ReceivedAt.Local().Format("2006-01-02 15:04"), from, reply, text)
	}
	return flushListing(tw, w, slices.ContainsFunc(items, func(it ops.InboxItem) bool { return it.Damaged }))
}
