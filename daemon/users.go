package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/crypt"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// Password length bounds for staff accounts. NIST SP 800-63B asks for at
// least 8 and for accepting long passphrases; 12 is the floor here because
// the accounts guard patients' data on a shared clinic LAN.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// Username bounds: 1 to MaxUsernameLen characters of [a-z0-9._-], starting
// with a letter. A username lands in logs, the audit trail and terminals,
// and a person types it: a small alphabet keeps it from carrying control
// characters, look-alike letters or shell syntax. MaxNameLen bounds a
// person's display name.
const (
	MaxUsernameLen = 32
	MaxNameLen     = 100
)

// CheckUsername folds a username to lower case and applies the username
// rules; it returns the username as stored.
func CheckUsername(u string) (string, error) {
	u = strings.ToLower(strings.TrimSpace(u))
	switch {
	case u == "":
		return "", errors.New("the username is empty: give one such as alice or j.smith")
	case len(u) > MaxUsernameLen:
		return "", fmt.Errorf("username %.40q is too long: at most %d characters", u, MaxUsernameLen)
	case u[0] < 'a' || u[0] > 'z':
		return "", fmt.Errorf("username %q must start with a letter a-z", u)
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "", fmt.Errorf("username %q has %q: use only letters a-z, digits, dot, underscore and hyphen (such as j.smith)", u, r)
		}
	}
	return u, nil
}

// CheckName applies the rules for a person's display name: any letters,
// but valid UTF-8, no control characters (a line break or an escape
// sequence would rewrite what a terminal or a log shows) and at most
// MaxNameLen characters.
func CheckName(n string) error {
	switch {
	case !utf8.ValidString(n):
		return errors.New("the name is not valid UTF-8: type it again in a UTF-8 terminal")
	case utf8.RuneCountInString(n) > MaxNameLen:
		return fmt.Errorf("the name is too long: at most %d characters", MaxNameLen)
	case strings.ContainsFunc(n, unicode.IsControl):
		return fmt.Errorf("the name %q has a control character (a line break, tab or escape): give it on one line, without them", n)
	}
	return nil
}

// CheckPassword applies the password policy.
func CheckPassword(pw string) error {
	switch n := utf8.RuneCountInString(pw); {
	case n < MinPasswordLen:
		return fmt.Errorf("password too short: %d characters, at least %d are needed (a few unrelated words make a good one)", n, MinPasswordLen)
	case n > MaxPasswordLen:
		return fmt.Errorf("password too long: at most %d characters", MaxPasswordLen)
	}
	return nil
}

// User manages staff accounts (admins only): add, passwd (which also ends
// a lockout), disable, enable, list. It returns the accounts the action
// touched, every account for list. Errors carry no secret.
func (s *Service) User(ctx context.Context, a ops.Actor, r ops.UserRequest) (_ []ops.UserInfo, err error) {
	action := map[string]string{ops.UserList: audit.UserList, ops.UserAdd: audit.UserCreate, ops.UserPasswd: audit.PasswordChange,
		ops.UserDisable: audit.UserDisable, ops.UserEnable: audit.UserEnable, ops.UserRole: audit.RoleChange}[r.Action]
	if action == "" {
		action = "user_" + r.Action
	}
	// Usernames are folded to lower case everywhere; an add must meet the
	// rules, and the audit row names the request's username as checked.
	var badName error
	if r.Action == ops.UserAdd {
		u, err := CheckUsername(r.Username)
		if err == nil {
			r.Username, err = u, CheckName(r.Name)
		}
		badName = err
	} else if r.Action != ops.UserList {
		r.Username = strings.ToLower(strings.TrimSpace(r.Username))
	}
	ctx, rec := begin(ctx, a, action, "user", r.Username)
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := requireAdmin(a, "manage accounts"); err != nil {
		return nil, err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	invalid := func(err error) error { return ops.Errorf(ops.CodeInvalidRequest, err.Error()) }
	if badName != nil {
		return nil, invalid(badName)
	}
	switch r.Action {
	case ops.UserList:
		us, err := st.Users(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]ops.UserInfo, 0, len(us))
		for _, u := range us {
			out = append(out, userInfo(u))
		}
		return out, nil
	case ops.UserAdd:
		if r.Role == "" {
			r.Role = string(queue.RoleStaff)
		}
		if err := CheckPassword(r.Password); err != nil {
			return nil, invalid(err)
		}
		hash, err := crypt.HashPassword(r.Password)
		if err != nil {
			return nil, err
		}
		u, err := st.CreateUser(ctx, queue.User{Username: r.Username, Name: r.Name, Role: queue.Role(r.Role), PasswordHash: hash})
		switch {
		case errors.Is(err, queue.ErrUserExists):
			return nil, ops.Errorf(ops.CodeUserExists, fmt.Sprintf("user %s already exists (change the password with smsd user passwd %s)", r.Username, r.Username))
		case err != nil:
			return nil, invalid(err)
		}
		s.log.Info("account created", "username", u.Username, "role", u.Role, "actor", a.String())
		return []ops.UserInfo{userInfo(u)}, nil
	case ops.UserPasswd, ops.UserDisable, ops.UserEnable, ops.UserRole:
	default:
		return nil, invalid(fmt.Errorf("unknown user action %q (add, passwd, disable, enable, role, list)", r.Action))
	}
	u, err := st.UserByName(ctx, r.Username)
	if errors.Is(err, queue.ErrNotFound) {
		// The name came from the request: quoted when it is not a valid
		// username, so a control character in it reaches no terminal.
		name := r.Username
		if _, err := CheckUsername(name); err != nil {
			name = strconv.Quote(name)
		}
		return nil, ops.Errorf(ops.CodeNoSuchUser, fmt.Sprintf("no user %s (see smsd user list)", name))
	}
	if err != nil {
		return nil, err
	}
	switch r.Action {
	case ops.UserPasswd:
		if err := CheckPassword(r.Password); err != nil {
			return nil, invalid(err)
		}
		if u.PasswordHash, err = crypt.HashPassword(r.Password); err != nil {
			return nil, err
		}
		// A new password set by an admin ends a lockout from failed logins.
		u.FailedLogins, u.LockedUntil = 0, time.Time{}
	case ops.UserDisable:
		u.Disabled = true
	case ops.UserEnable:
		u.Disabled = false
	case ops.UserRole:
		if r.Role != ops.RoleAdmin && r.Role != ops.RoleStaff {
			return nil, invalid(fmt.Errorf("role %q: must be admin or staff", r.Role))
		}
		rec.AddDetail(fmt.Sprintf("role %s -> %s", u.Role, r.Role))
		u.Role = queue.Role(r.Role)
	}
	if err := st.UpdateUser(ctx, u); err != nil {
		return nil, err
	}
	s.log.Info("account changed", "username", u.Username, "action", r.Action, "actor", a.String())
	return []ops.UserInfo{userInfo(u)}, nil
}

func userInfo(u queue.User) ops.UserInfo {
	return ops.UserInfo{Username: u.Username, Name: u.Name, Role: string(u.Role), Disabled: u.Disabled, BreakGlass: u.BreakGlass,
		TOTP: u.TOTPSecret != "", LockedUntil: utc(u.LockedUntil), CreatedAt: utc(u.CreatedAt)}
}
