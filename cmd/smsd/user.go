package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clinicsms/smsd/ops"
)

func init() {
	register(command{name: "user", summary: "staff accounts: smsd user add|passwd|disable|enable|role|list", run: runUser})
}

var userActions = map[string]subcommand{
	ops.UserAdd:     {usage: `smsd user add [-role staff|admin] [-name "Full Name"] USERNAME   (password from stdin)`, words: 1},
	ops.UserPasswd:  {usage: `smsd user passwd USERNAME   (new password from stdin; also ends a lockout)`, words: 1},
	ops.UserDisable: {usage: `smsd user disable USERNAME`, words: 1},
	ops.UserEnable:  {usage: `smsd user enable USERNAME`, words: 1},
	ops.UserRole:    {usage: `smsd user role USERNAME admin|staff`, words: 2},
	ops.UserList:    {usage: `smsd user list [-json]`, words: 0},
}

func runUser(ctx context.Context, env *cmdEnv, args []string) error {
	var cf commonFlags
	var role, name *string
	var asJSON *bool
	action, words, err := parseAction(env, "user", userActions,
		[]string{ops.UserAdd, ops.UserPasswd, ops.UserDisable, ops.UserEnable, ops.UserRole, ops.UserList}, args,
		func(action string, fs *flag.FlagSet) {
			cf = addCommonFlags(fs, env)
			switch action {
			case ops.UserAdd:
				role = fs.String("role", ops.RoleStaff, "staff or admin")
				name = fs.String("name", "", "the person's full name (shown in account lists)")
			case ops.UserList:
				asJSON = fs.Bool("json", false, "print JSON")
			}
		})
	if err != nil {
		return err
	}
	req := ops.UserRequest{Action: action}
	if len(words) >= 1 {
		req.Username = words[0]
	}
	if action == ops.UserRole {
		req.Role = words[1]
	}
	if action == ops.UserAdd {
		req.Role, req.Name = *role, *name
	}
	if action == ops.UserAdd || action == ops.UserPasswd {
		pw, err := readNewPassword(env)
		if err != nil {
			return err
		}
		req.Password = pw
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	users, err := conn.User(ctx, req)
	if err != nil {
		return err
	}
	switch action {
	case ops.UserList:
		if *asJSON {
			if users == nil {
				users = []ops.UserInfo{}
			}
			return printJSON(env.stdout, users)
		}
		if len(users) == 0 {
			fmt.Fprintln(env.stdout, "no accounts yet: create the first administrator with smsd user add -role admin USERNAME")
			return nil
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tROLE\tNAME\tSTATE\tCREATED")
		for _, u := range users {
			state := "active"
			switch {
			case u.Disabled:
				state = "disabled"
			case u.LockedUntil.After(time.Now()):
				state = "locked until " + u.LockedUntil.Local().Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", safe(u.Username), u.Role, safe(u.Name), state, u.CreatedAt.Local().Format("2006-01-02"))
		}
		return tw.Flush()
	case ops.UserAdd:
		fmt.Fprintf(env.stdout, "created %s account %s\n", users[0].Role, safe(users[0].Username))
	case ops.UserPasswd:
		fmt.Fprintf(env.stdout, "password of %s changed\n", safe(req.Username))
	case ops.UserDisable:
		fmt.Fprintf(env.stdout, "%s disabled: they can no longer log in\n", safe(req.Username))
	case ops.UserEnable:
		fmt.Fprintf(env.stdout, "%s enabled\n", safe(req.Username))
	case ops.UserRole:
		fmt.Fprintf(env.stdout, "%s is now %s\n", safe(req.Username), users[0].Role)
	}
	return nil
}

// readNewPassword reads a new password from stdin: typed twice (no echo) on
// a terminal, once from a pipe.
func readNewPassword(env *cmdEnv) (string, error) {
	p, err := readSecretTwice(env, "New password: ", "Same password again: ")
	if err != nil {
		return "", errors.New(strings.ReplaceAll(err.Error(), "passphrase", "password"))
	}
	return string(p), nil
}
