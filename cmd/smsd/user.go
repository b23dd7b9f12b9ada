package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/clinicsms/smsd/control"
	"github.com/clinicsms/smsd/crypt"
	"github.com/clinicsms/smsd/queue"
)

func init() {
	register(command{name: "user", summary: "staff accounts: smsd user add|passwd|disable|enable|list", run: runUser})
}

// Password length bounds for staff accounts. NIST SP 800-63B asks for at
// least 8 and for accepting long passphrases; 12 is the floor here because
// the accounts guard patients' data on a shared clinic LAN.
const (
	minPasswordLen = 12
	maxPasswordLen = 256
)

const userUsage = `smsd user add [-role staff|admin] [-name "Full Name"] USERNAME   (password from stdin)
       smsd user passwd USERNAME                                     (new password from stdin; also clears a lockout)
       smsd user disable|enable USERNAME
       smsd user list [-json]`

func runUser(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "user")
	fs.Usage = func() { fmt.Fprintln(env.stderr, "Usage: "+userUsage); fs.PrintDefaults() }
	cf := addCommonFlags(fs)
	role := fs.String("role", string(queue.RoleStaff), "add: staff or admin")
	name := fs.String("name", "", "add: the person's full name (shown in account lists)")
	asJSON := fs.Bool("json", false, "list: print JSON")
	// Flags may come before, between or after the action and the username.
	words, err := parseWords(fs, args)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return fmt.Errorf("%w: %s", errUsage, userUsage)
	}
	if len(words) > 2 {
		return fmt.Errorf("%w: unexpected argument %q\n%s", errUsage, words[2], userUsage)
	}
	action, username := words[0], ""
	if len(words) == 2 {
		username = words[1]
	}
	req := control.UserRequest{Action: action, Username: username}
	switch action {
	case control.UserList:
		if username != "" {
			return fmt.Errorf("%w: smsd user list takes no USERNAME\n%s", errUsage, userUsage)
		}
	case control.UserAdd, control.UserPasswd, control.UserDisable, control.UserEnable:
		if username == "" {
			return fmt.Errorf("%w: smsd user %s needs a USERNAME\n%s", errUsage, action, userUsage)
		}
	default:
		return fmt.Errorf("%w: unknown action %q\n%s", errUsage, action, userUsage)
	}
	if action == control.UserAdd {
		req.Role, req.Name = *role, *name
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	if action == control.UserAdd || action == control.UserPasswd {
		pw, err := readNewPassword(env)
		if err != nil {
			return err
		}
		req.Password = pw
	}
	var users []control.UserInfo
	err = withStoreOrDaemon(ctx, &cfg,
		func(c *control.Client) (err error) { users, err = c.User(ctx, req); return err },
		func(s *queue.Store) (err error) { users, err = userOp(ctx, s, req); return err })
	if err != nil {
		return err
	}
	switch action {
	case control.UserList:
		if *asJSON {
			if users == nil {
				users = []control.UserInfo{}
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Username, u.Role, u.Name, state, u.CreatedAt.Local().Format("2006-01-02"))
		}
		return tw.Flush()
	case control.UserAdd:
		fmt.Fprintf(env.stdout, "created %s account %s\n", users[0].Role, users[0].Username)
	case control.UserPasswd:
		fmt.Fprintf(env.stdout, "password of %s changed\n", username)
	case control.UserDisable:
		fmt.Fprintf(env.stdout, "%s disabled: they can no longer log in\n", username)
	case control.UserEnable:
		fmt.Fprintf(env.stdout, "%s enabled\n", username)
	}
	return nil
}

// readNewPassword reads a new password from stdin: typed twice (no echo) on
// a terminal, once from a pipe.
func readNewPassword(env *cmdEnv) (string, error) {
	p, err := readPassphrase(env, "New password: ")
	if err != nil {
		return "", errors.New(strings.Replace(err.Error(), "passphrase", "password", -1))
	}
	if isTerminal(env.stdin) {
		again, err := readPassphrase(env, "Same password again: ")
		if err != nil {
			return "", err
		}
		if string(again) != string(p) {
			return "", errors.New("the two passwords differ; nothing was changed")
		}
	}
	return string(p), nil
}

// checkPassword applies the password policy.
func checkPassword(pw string) error {
	switch n := utf8.RuneCountInString(pw); {
	case n < minPasswordLen:
		return fmt.Errorf("password too short: %d characters, at least %d are needed (a few unrelated words make a good one)", n, minPasswordLen)
	case n > maxPasswordLen:
		return fmt.Errorf("password too long: at most %d characters", maxPasswordLen)
	}
	return nil
}

// userOp is the one path from a user request into the store (daemon and
// direct mode). Errors are control errors with a code, and carry no secret.
func userOp(ctx context.Context, s *queue.Store, r control.UserRequest) ([]control.UserInfo, error) {
	invalid := func(err error) error { return control.Errorf(control.CodeInvalidRequest, err.Error()) }
	if r.Action == control.UserList {
		us, err := s.Users(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]control.UserInfo, 0, len(us))
		for _, u := range us {
			out = append(out, userInfo(u))
		}
		return out, nil
	}
	if r.Action == control.UserAdd {
		if r.Role == "" {
			r.Role = string(queue.RoleStaff)
		}
		if err := checkPassword(r.Password); err != nil {
			return nil, invalid(err)
		}
		hash, err := crypt.HashPassword(r.Password)
		if err != nil {
			return nil, err
		}
		u, err := s.CreateUser(ctx, queue.User{Username: r.Username, Name: r.Name, Role: queue.Role(r.Role), PasswordHash: hash})
		switch {
		case errors.Is(err, queue.ErrUserExists):
			return nil, control.Errorf(control.CodeUserExists, fmt.Sprintf("user %s already exists (change the password with smsd user passwd %s)", r.Username, r.Username))
		case err != nil:
			return nil, invalid(err)
		}
		return []control.UserInfo{userInfo(u)}, nil
	}
	u, err := s.UserByName(ctx, r.Username)
	if errors.Is(err, queue.ErrNotFound) {
		return nil, control.Errorf(control.CodeNoSuchUser, fmt.Sprintf("no user %s (see smsd user list)", r.Username))
	}
	if err != nil {
		return nil, err
	}
	switch r.Action {
	case control.UserPasswd:
		if err := checkPassword(r.Password); err != nil {
			return nil, invalid(err)
		}
		if u.PasswordHash, err = crypt.HashPassword(r.Password); err != nil {
			return nil, err
		}
		// A new password set by an admin ends a lockout from failed logins.
		u.FailedLogins, u.LockedUntil = 0, time.Time{}
	case control.UserDisable:
		u.Disabled = true
	case control.UserEnable:
		u.Disabled = false
	default:
		return nil, invalid(fmt.Errorf("unknown user action %q (add, passwd, disable, enable, list)", r.Action))
	}
	if err := s.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	return []control.UserInfo{userInfo(u)}, nil
}

func userInfo(u queue.User) control.UserInfo {
	return control.UserInfo{Username: u.Username, Name: u.Name, Role: string(u.Role), Disabled: u.Disabled, BreakGlass: u.BreakGlass,
		TOTP: u.TOTPSecret != "", LockedUntil: u.LockedUntil, CreatedAt: u.CreatedAt}
}
