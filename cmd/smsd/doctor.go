package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/clinicsms/smsd/ops"
)

func init() {
	register(command{name: "doctor", summary: "check the store's integrity and the audit chain: smsd doctor [check|dismiss ID|accept TABLE]", run: runDoctor})
}

var doctorActions = map[string]subcommand{
	ops.DoctorCheck:   {usage: "smsd doctor check [-json]      every row's integrity tag, each table's digest, the audit chain; exit 1 on a problem"},
	ops.DoctorDismiss: {usage: "smsd doctor dismiss ID         erase a quarantined message's untrusted content and settle it as failed", words: 1},
	ops.DoctorAccept:  {usage: "smsd doctor accept TABLE       after review, trust a table as it is now (its digest reported a rollback)", words: 1},
}

func runDoctor(ctx context.Context, env *cmdEnv, args []string) error {
	// Without an action, doctor checks.
	if !slices.ContainsFunc(args, func(a string) bool { _, ok := doctorActions[a]; return ok }) && !slices.Contains(args, "-h") {
		args = append([]string{ops.DoctorCheck}, args...)
	}
	var cf commonFlags
	var asJSON *bool
	action, words, err := parseAction(env, "doctor", doctorActions, []string{ops.DoctorCheck, ops.DoctorDismiss, ops.DoctorAccept}, args,
		func(_ string, fs *flag.FlagSet) {
			cf = addCommonFlags(fs, env)
			asJSON = fs.Bool("json", false, "print JSON")
		})
	if err != nil {
		return err
	}
	req := ops.DoctorRequest{Action: action}
	switch action {
	case ops.DoctorDismiss:
		if req.ID, err = strconv.ParseInt(words[0], 10, 64); err != nil || req.ID <= 0 {
			return usageError("%q is not a message id (smsd doctor lists the quarantined ones)", words[0])
		}
	case ops.DoctorAccept:
		req.Table = words[0]
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	rep, err := conn.Doctor(ctx, req)
	if ops.CodeOf(err) != "" && ops.CodeOf(err) != ops.CodeIntegrity {
		return err
	}
	if *asJSON {
		if jerr := printJSON(env.stdout, rep); jerr != nil {
			return jerr
		}
		return err
	}
	switch action {
	case ops.DoctorDismiss:
		fmt.Fprintf(env.stdout, "message %d dismissed: its untrusted content is erased; it stays failed\n", req.ID)
	case ops.DoctorAccept:
		fmt.Fprintf(env.stdout, "table %s accepted as it is now\n", safe(req.Table))
	}
	if len(rep.Problems) > 0 {
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TABLE\tID\tPROBLEM\tQUARANTINED")
		for _, p := range rep.Problems {
			id := "-"
			if p.ID != 0 {
				id = strconv.FormatInt(p.ID, 10)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%t\n", safe(p.Table), id, safe(p.Problem), p.Quarantined)
		}
		tw.Flush()
		fmt.Fprintln(env.stdout, "a quarantined message: smsd doctor dismiss ID; a table that was put back from an older copy: review it, then smsd doctor accept TABLE")
	}
	if rep.Audit.OK {
		fmt.Fprintf(env.stdout, "audit log OK: %d rows, head %s\n", rep.Audit.Rows, rep.Audit.Head)
	} else {
		fmt.Fprintf(env.stdout, "AUDIT LOG DOES NOT VERIFY: %s\n", safe(rep.Audit.Problem))
	}
	if rep.Quarantined > 0 {
		fmt.Fprintf(env.stdout, "%d message(s) quarantined: they were not sent; dismiss each with smsd doctor dismiss ID\n", rep.Quarantined)
	}
	if rep.OK {
		fmt.Fprintln(env.stdout, "store integrity OK")
	}
	return err
}
