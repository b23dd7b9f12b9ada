package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"
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
		return nil, ops.Errorf(ops.CodeNoSuchUser, fmt.Sprintf("no user %s (see smsd user list)", r.Username))
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
