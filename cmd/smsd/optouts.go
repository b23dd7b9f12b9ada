package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/clinicsms/smsd/ops"
)

func init() {
	register(command{name: "optouts", summary: "numbers that get no more messages: smsd optouts list|add|remove", run: runOptOuts})
}

var optOutActions = map[string]subcommand{
	ops.OptOutList:   {usage: "smsd optouts list [-json]          every opt-out, numbers masked", words: 0},
	ops.OptOutAdd:    {usage: "smsd optouts add - < NUMBER        stop all messages to the number on standard input", words: 1},
	ops.OptOutRemove: {usage: "smsd optouts remove -reason R - < NUMBER   messages to it may go again (the patient asked)", words: 1},
}

func runOptOuts(ctx context.Context, env *cmdEnv, args []string) error {
	var cf commonFlags
	var asJSON *bool
	var reason *string
	action, words, err := parseAction(env, "optouts", optOutActions,
		[]string{ops.OptOutList, ops.OptOutAdd, ops.OptOutRemove}, args,
		func(action string, fs *flag.FlagSet) {
			cf = addCommonFlags(fs, env)
			asJSON = fs.Bool("json", false, "print JSON")
			if action == ops.OptOutRemove {
				reason = fs.String("reason", "", "why (e.g. \"patient asked at the desk\"): no health details")
			}
		})
	if err != nil {
		return err
	}
	req := ops.OptOutRequest{Action: action}
	if len(words) == 1 {
		// "-": the number comes on standard input, where ps, shell history
		// and sudo's log do not see it. A number given as the word works,
		// with a warning that says why not to.
		if words[0] == "-" {
			if req.Number, err = readNumber(env.stdin); err != nil {
				return usageError("%v", err)
			}
		} else {
			warnArgv(env.stderr, "smsd optouts "+action, "a number", false, "echo NUMBER | smsd optouts "+action+" -")
			req.Number = words[0]
		}
	}
	if reason != nil {
		req.Reason = *reason
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	out, err := conn.OptOuts(ctx, req)
	if err != nil {
		return err
	}
	if *asJSON {
		if out == nil {
			out = []ops.OptOut{}
		}
		return printJSON(env.stdout, out)
	}
	switch action {
	case ops.OptOutAdd:
		fmt.Fprintf(env.stdout, "%s opted out: nothing more is sent to it\n", safe(out[0].Number))
	case ops.OptOutRemove:
		fmt.Fprintf(env.stdout, "%s opted back in: messages to it may go again\n", safe(out[0].Number))
	default:
		if len(out) == 0 {
			fmt.Fprintln(env.stdout, "no opt-outs")
			return nil
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NUMBER\tSINCE\tSOURCE")
		for _, o := range out {
			number := safe(o.Number)
			if o.Damaged {
				number = damagedMark
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", number, local(o.CreatedAt), safe(o.Source))
		}
		return flushListing(tw, env.stdout, slices.ContainsFunc(out, func(o ops.OptOut) bool { return o.Damaged }))
	}
	return nil
}
