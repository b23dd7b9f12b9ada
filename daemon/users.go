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

// userActions names the audit action of each UserRequest action.
var userActions = map[string]string{ops.UserList: audit.UserList, ops.UserAdd: audit.UserCreate, ops.UserPasswd: audit.PasswordChange,
	ops.UserDisable: audit.UserDisable, ops.UserEnable: audit.UserEnable, ops.UserRole: audit.RoleChange,
	ops.UserResetPassword: audit.PasswordChange, ops.UserUnlock: audit.UserUnlock, ops.UserRequireTOTP: audit.TOTPRequire,
	ops.UserResetTOTP: audit.TOTPReset}

// User manages staff accounts (admins only): add, passwd (which also ends
// a lockout), disable, enable, role, list, and from the web UI
// reset_password (the user must choose a new one at the next sign-in),
// unlock, require_totp and reset_totp. A new password, a disabled account,
// a role change and a forgotten second factor end every session of the
// account, so that no session keeps what the account lost. From the web
// UI the last enabled admin can be neither disabled nor demoted. It
// returns the
// accounts the action touched, every account for list. Errors carry no
// secret.
func (s *Service) User(ctx context.Context, a ops.Actor, r ops.UserRequest) (_ []ops.UserInfo, err error) {
	action := userActions[r.Action]
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
		if r.Username == ops.BreakGlassUsername {
			return nil, invalid(fmt.Errorf("%s is the emergency account's name: it is made by turning break-glass on in the sign-in policy; choose another username", ops.BreakGlassUsername))
		}
		if err := CheckPassword(r.Password); err != nil {
			return nil, invalid(err)
		}
		hash, err := s.hashPassword(ctx, r.Password)
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
	case ops.UserPasswd, ops.UserDisable, ops.UserEnable, ops.UserRole, ops.UserResetPassword, ops.UserUnlock, ops.UserRequireTOTP, ops.UserResetTOTP:
	default:
		return nil, invalid(fmt.Errorf("unknown user action %q (add, passwd, disable, enable, role, list, reset_password, unlock, require_totp, reset_totp)", r.Action))
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
	if u.BreakGlass && r.Action != ops.UserUnlock {
		return nil, invalid(fmt.Errorf("%s is the emergency account: turn it on or off (which gives it a new password) in the sign-in policy", u.Username))
	}
	var hash string
	switch r.Action {
	case ops.UserPasswd, ops.UserResetPassword:
		if err := CheckPassword(r.Password); err != nil {
			return nil, invalid(err)
		}
		if hash, err = s.hashPassword(ctx, r.Password); err != nil {
			return nil, err
		}
	case ops.UserRole:
		if r.Role != ops.RoleAdmin && r.Role != ops.RoleStaff {
			return nil, invalid(fmt.Errorf("role %q: must be admin or staff", r.Role))
		}
	}
	// From the web UI the last enabled admin stays one: without an admin
	// nobody could manage accounts or unlock the store there. At the
	// shell an admin of the box is one by Unix group, not by account, and
	// can always undo it, so the shell may.
	lastAdmin := func(acc *queue.Account, what string) error {
		if a.Kind == ops.ActorUnix || acc.User.Role != queue.RoleAdmin || acc.User.Disabled {
			return nil
		}
		n, err := acc.OtherEnabledAdmins()
		if err != nil {
			return err
		}
		if n == 0 {
			return ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("%s is the last enabled administrator and cannot be %s: make another account an administrator first", acc.User.Username, what))
		}
		return nil
	}
	var out queue.User
	err = st.Account(ctx, u.ID, s.now(), func(acc *queue.Account) error {
		endAll := false
		switch r.Action {
		case ops.UserPasswd, ops.UserResetPassword:
			acc.User.PasswordHash = hash
			// A new password set by an admin ends a lockout from failed
			// logins, and every session signed in with the old one.
			acc.User.FailedLogins, acc.User.LockedUntil, acc.Auth.FailWindowStart = 0, time.Time{}, time.Time{}
			acc.Auth.MustChange = r.Action == ops.UserResetPassword
			if acc.Auth.MustChange {
				rec.AddDetail("reset by an admin: a new password is chosen at the next sign-in")
			}
			endAll = true
		case ops.UserDisable:
			if err := lastAdmin(acc, "disabled"); err != nil {
				return err
			}
			acc.User.Disabled, endAll = true, true
		case ops.UserEnable:
			acc.User.Disabled = false
		case ops.UserRole:
			if r.Role == string(acc.User.Role) {
				break
			}
			if r.Role != ops.RoleAdmin {
				if err := lastAdmin(acc, "made staff"); err != nil {
					return err
				}
			}
			rec.AddDetail(fmt.Sprintf("role %s -> %s", acc.User.Role, r.Role))
			acc.User.Role, endAll = queue.Role(r.Role), true
		case ops.UserUnlock:
			acc.User.FailedLogins, acc.User.LockedUntil, acc.Auth.FailWindowStart = 0, time.Time{}, time.Time{}
		case ops.UserRequireTOTP:
			acc.Auth.TOTPRequired = true
		case ops.UserResetTOTP:
			acc.User.TOTPSecret = ""
			acc.Auth.Recovery, acc.Auth.TOTPLastStep = nil, 0
			endAll = true
		}
		if endAll {
			ended, err := acc.EndSessions(0)
			if err != nil {
				return err
			}
			if len(ended) > 0 {
				rec.AddDetail(fmt.Sprintf("%d session(s) ended", len(ended)))
			}
		}
		out = acc.User
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("account changed", "username", out.Username, "action", r.Action, "actor", a.String())
	return []ops.UserInfo{userInfo(out)}, nil
}

// hashPassword hashes a new password in a password-check slot: argon2id
// takes 32 MiB, and the slots bound what runs at once.
func (s *Service) hashPassword(ctx context.Context, pw string) (string, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return crypt.HashPassword(pw)
}

func userInfo(u queue.User) ops.UserInfo {
	return ops.UserInfo{Username: u.Username, Name: u.Name, Role: string(u.Role), Disabled: u.Disabled, BreakGlass: u.BreakGlass,
		TOTP: u.TOTPSecret != "", LockedUntil: utc(u.LockedUntil), CreatedAt: utc(u.CreatedAt)}
}
