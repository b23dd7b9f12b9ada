package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// The admin's side of sign-in: the accounts page, ending a session, and
// the sign-in policy (second factor for all, the break-glass account).

// breakGlassLen is the length of the emergency account's generated
// password in base32 characters (120 bits), shown in groups of four.
const breakGlassLen = 24

// Accounts lists every account with its sign-in details and live sessions
// (admins only). It is recorded as a user_list.
func (s *Service) Accounts(ctx context.Context, a ops.Actor) (_ []ops.AccountDetail, err error) {
	ctx, rec := begin(ctx, a, audit.UserList, "user", "")
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := requireAdmin(a, "see the accounts"); err != nil {
		return nil, err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	us, err := st.Users(ctx)
	if err != nil {
		return nil, err
	}
	all, err := st.Sessions(ctx, 0)
	if err != nil && !integrityBroken(err) {
		return nil, err
	}
	now := s.now()
	out := make([]ops.AccountDetail, 0, len(us))
	for _, u := range us {
		d := ops.AccountDetail{UserInfo: userInfo(u), ID: u.ID, FailedLogins: u.FailedLogins, Sessions: []ops.Session{}}
		if !u.Tampered {
			ua, err := st.UserAuth(ctx, u.ID)
			switch {
			case err == nil:
				d.MustChangePassword, d.TOTPRequired = ua.MustChange, ua.TOTPRequired
				d.LastLogin, d.LastLoginAddr = utc(ua.LastLogin), ua.LastLoginAddr
			case !integrityBroken(err):
				return nil, err
			}
		}
		for _, x := range all {
			if ended, _ := x.Ended(now); x.UserID == u.ID && !ended {
				d.Sessions = append(d.Sessions, s.view(x, u, "", ""))
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// EndSession ends another session by its ID (admins only), with a
// session_end row naming its account.
func (s *Service) EndSession(ctx context.Context, a ops.Actor, id string) (err error) {
	if len(id) > 64 {
		id = id[:64]
	}
	ctx, rec := begin(ctx, a, audit.SessionEnd, "session", id)
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := requireAdmin(a, "end another person's session"); err != nil {
		return err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return err
	}
	x, err := st.SessionByPublicID(ctx, id)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return ops.Errorf(ops.CodeNotFound, "no such session: it ended already, or got a new ID when it signed in further (reload the accounts page)")
	case integrityBroken(err):
		s.sessionsBroken(ctx, st, err)
		return nil
	case err != nil:
		return err
	}
	if u, err := st.UserByID(ctx, x.UserID); err == nil {
		rec.AddDetail("of " + u.Username)
		rec.SetObject("user", u.Username)
		rec.AddDetail("session " + x.PublicID)
	}
	if err := st.DeleteSession(ctx, x.ID); err != nil && !errors.Is(err, queue.ErrNotFound) {
		return err
	}
	s.log.Info("session ended by an admin", "actor", a.String(), "user_id", x.UserID)
	return nil
}

// AuthPolicy returns the sign-in policy, after setting it when set is not
// nil (admins only). RequireTOTP makes every account (but the break-glass
// one) enrol a second factor at its next sign-in. BreakGlass on creates or
// re-enables the emergency admin account ops.BreakGlassUsername with a new
// generated password, returned this once for a sealed envelope; off
// disables it and ends its sessions. Each change is its own audit row.
func (s *Service) AuthPolicy(ctx context.Context, a ops.Actor, set *ops.AuthPolicy) (ops.AuthPolicy, string, error) {
	if err := requireAdmin(a, "see or change the sign-in policy"); err != nil {
		if set != nil {
			ctx, rec := begin(ctx, a, audit.ConfigChange, "auth_policy", "")
			return ops.AuthPolicy{}, "", s.finish(ctx, rec, err)
		}
		return ops.AuthPolicy{}, "", err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return ops.AuthPolicy{}, "", err
	}
	cur, err := s.policy(ctx, st)
	if err != nil {
		return ops.AuthPolicy{}, "", err
	}
	if set == nil {
		return cur, "", nil
	}
	if set.RequireTOTP != cur.RequireTOTP {
		err := func() (err error) {
			ctx, rec := begin(ctx, a, audit.ConfigChange, "auth_policy", "require_totp")
			defer func() { err = s.finish(ctx, rec, err) }()
			rec.AddDetail(fmt.Sprintf("require_totp %t -> %t", cur.RequireTOTP, set.RequireTOTP))
			v := "0"
			if set.RequireTOTP {
				v = "1"
			}
			return st.SetSetting(ctx, policySetting, v)
		}()
		if err != nil {
			return cur, "", err
		}
		cur.RequireTOTP = set.RequireTOTP
		s.log.Info("sign-in policy changed", "require_totp", set.RequireTOTP, "actor", a.String())
	}
	var password string
	if set.BreakGlass != cur.BreakGlass {
		if password, err = s.setBreakGlass(ctx, st, a, set.BreakGlass); err != nil {
			return cur, "", err
		}
		cur.BreakGlass = set.BreakGlass
	}
	return cur, password, nil
}

// policy is the sign-in policy as it stands.
func (s *Service) policy(ctx context.Context, st *queue.Store) (ops.AuthPolicy, error) {
	req, err := s.requireTOTP(ctx, st)
	if err != nil {
		return ops.AuthPolicy{}, err
	}
	p := ops.AuthPolicy{RequireTOTP: req}
	u, err := st.UserByName(ctx, ops.BreakGlassUsername)
	switch {
	case err == nil:
		p.BreakGlass = u.BreakGlass && !u.Disabled
	case errors.Is(err, queue.ErrNotFound):
	case integrityBroken(err):
		// A tampered emergency account has no privilege: off.
	default:
		return ops.AuthPolicy{}, err
	}
	return p, nil
}

// setBreakGlass turns the emergency account on (created, or enabled again
// with a new password, which it returns) or off (disabled, its sessions
// ended).
func (s *Service) setBreakGlass(ctx context.Context, st *queue.Store, a ops.Actor, on bool) (_ string, err error) {
	u, err := st.UserByName(ctx, ops.BreakGlassUsername)
	exists := err == nil
	if err != nil && !errors.Is(err, queue.ErrNotFound) {
		return "", err
	}
	action := audit.UserDisable
	switch {
	case on && !exists:
		action = audit.UserCreate
	case on:
		action = audit.UserEnable
	}
	ctx, rec := begin(ctx, a, action, "user", ops.BreakGlassUsername)
	defer func() { err = s.finish(ctx, rec, err) }()
	if exists && !u.BreakGlass {
		return "", ops.Errorf(ops.CodeUserExists, fmt.Sprintf("an ordinary account is called %s, the emergency account's name: disable it and ask for a build that renames it; break-glass stays off", ops.BreakGlassUsername))
	}
	if !on {
		if !exists {
			return "", nil
		}
		rec.AddDetail("break-glass off")
		err = st.Account(ctx, u.ID, s.now(), func(acc *queue.Account) error {
			acc.User.Disabled = true
			ended, err := acc.EndSessions(0)
			if len(ended) > 0 {
				rec.AddDetail(fmt.Sprintf("%d session(s) ended", len(ended)))
			}
			return err
		})
		if err == nil {
			s.log.Warn("break-glass: the emergency account is off", "actor", a.String())
		}
		return "", err
	}
	c, err := randomCode(breakGlassLen)
	if err != nil {
		return "", err
	}
	password := groupCode(c, 4)
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return "", err
	}
	rec.AddDetail("break-glass on: a new password was generated")
	if exists {
		err = st.Account(ctx, u.ID, s.now(), func(acc *queue.Account) error {
			acc.User.Disabled, acc.User.PasswordHash, acc.User.Role = false, hash, queue.RoleAdmin
			acc.User.FailedLogins, acc.User.LockedUntil, acc.Auth.FailWindowStart = 0, time.Time{}, time.Time{}
			acc.Auth.MustChange = false
			return nil
		})
	} else {
		_, err = st.CreateAccount(ctx, queue.User{Username: ops.BreakGlassUsername, Name: "Emergency access", Role: queue.RoleAdmin,
			PasswordHash: hash, BreakGlass: true}, queue.UserAuth{}, s.now(), false, nil)
	}
	if err != nil {
		return "", err
	}
	s.log.Warn("break-glass: the emergency account is on; put its password in a sealed envelope", "actor", a.String())
	return password, nil
}
