package daemon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/crypt"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// Web sessions: found by the keyed hash of their token, ended by sign-out,
// by idle_timeout or session_lifetime (each with its audit row), by a
// password change, a disabled account or a role change. A new token at
// each finished stage and each privilege change, so a token seen before
// it is worth nothing after.

// sweepInterval is how often a running daemon ends the sessions whose
// time is up, so that a browser that never comes back still gets its
// auto_logout row.
const sweepInterval = 30 * time.Second

// integrityBroken reports whether err is a failed integrity check.
func integrityBroken(err error) bool {
	return errors.Is(err, queue.ErrIntegrity) || errors.Is(err, queue.ErrTampered)
}

// sessionsBroken answers a session that failed its integrity check: no row
// of the table can be trusted, so every session ends (everyone signs in
// again), with an error in the journal and a session_end row.
func (s *Service) sessionsBroken(ctx context.Context, st *queue.Store, cause error) {
	n, err := st.ResetSessions(audit.Without(ctx))
	if err != nil {
		s.log.Error("sessions: a session failed its integrity check and the sessions could not be ended", "err", err, "cause", cause)
		return
	}
	s.log.Error("sessions: a session failed its integrity check (changed without the key); every session was ended, everyone signs in again (run smsd doctor)", "ended", n, "cause", cause)
	e := event(ops.System, audit.SessionEnd, "session", "")
	e.Outcome, e.Detail = audit.Failed, fmt.Sprintf("a session failed its integrity check: all %d session(s) ended", n)
	if _, err := st.Audit(ctx, e); err != nil {
		s.log.Error("audit: could not record the end of the sessions", "err", err)
	}
}

// endSession deletes session x with its audit row (action by actor; the
// session's user when actor is nil). A session someone else ended first
// writes nothing.
func (s *Service) endSession(ctx context.Context, st *queue.Store, x queue.Session, actor *ops.Actor, action, detail string) error {
	var a ops.Actor
	var name string
	if u, err := st.UserByID(ctx, x.UserID); err == nil {
		a, name = webActor(u, x.Addr), u.Username
	} else {
		a = ops.Actor{Kind: ops.ActorWeb, UserID: x.UserID, Addr: x.Addr}
	}
	if actor != nil {
		a = *actor
	}
	ctx, rec := begin(ctx, a, action, "user", name)
	rec.AddDetail(join("session "+x.PublicID, detail))
	err := st.DeleteSession(ctx, x.ID)
	if errors.Is(err, queue.ErrNotFound) {
		return nil
	}
	return err
}

// findSession finds the live session of token and its account. An ended
// session is deleted here with its auto_logout row; a missing, ended or
// broken one, or one of a disabled account, is CodeNoSession.
func (s *Service) findSession(ctx context.Context, token string) (*queue.Store, queue.Session, queue.User, error) {
	st, err := s.ready(ctx)
	if err != nil {
		return nil, queue.Session{}, queue.User{}, err
	}
	if token == "" {
		return nil, queue.Session{}, queue.User{}, errNoSession()
	}
	x, err := st.SessionByToken(ctx, token)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return nil, queue.Session{}, queue.User{}, errNoSession()
	case integrityBroken(err):
		s.sessionsBroken(ctx, st, err)
		return nil, queue.Session{}, queue.User{}, errNoSession()
	case err != nil:
		return nil, queue.Session{}, queue.User{}, err
	}
	if ended, why := x.Ended(s.now()); ended {
		if err := s.endSession(ctx, st, x, nil, audit.AutoLogout, why); err != nil {
			return nil, queue.Session{}, queue.User{}, err
		}
		return nil, queue.Session{}, queue.User{}, errNoSession()
	}
	u, err := st.UserByID(ctx, x.UserID)
	switch {
	case err == nil && u.Disabled:
		err = s.endSession(ctx, st, x, &ops.System, audit.SessionEnd, "the account is disabled")
	case err != nil && (integrityBroken(err) || errors.Is(err, queue.ErrNotFound)):
		s.log.Error("sessions: the session's account fails its integrity check; the session ends (run smsd doctor)", "user_id", x.UserID)
		err = s.endSession(ctx, st, x, &ops.System, audit.SessionEnd, "the account fails its integrity check")
	case err != nil:
		return nil, queue.Session{}, queue.User{}, err
	default:
		return st, x, u, nil
	}
	if err != nil {
		return nil, queue.Session{}, queue.User{}, err
	}
	return nil, queue.Session{}, queue.User{}, errNoSession()
}

// Session finds the session of token. touch, for a request the person
// made, extends the idle deadline (never past the lifetime) and records
// it; touch false only reads. An ended session is CodeNoSession, after
// its auto_logout row.
func (s *Service) Session(ctx context.Context, token, addr string, touch bool) (ops.Session, error) {
	st, x, u, err := s.findSession(ctx, token)
	if err != nil {
		return ops.Session{}, err
	}
	if touch {
		if x, err = st.TouchSession(ctx, x.ID, s.now(), s.cfg.IdleTimeout.Duration); err != nil {
			if errors.Is(err, queue.ErrNotFound) {
				return ops.Session{}, errNoSession()
			}
			return ops.Session{}, err
		}
	}
	return s.view(x, u, addr, ""), nil
}

// sessionIn is the live session of token, touched, in one of stages
// (CodeWrongStage otherwise).
func (s *Service) sessionIn(ctx context.Context, token, addr string, stages ...string) (*queue.Store, queue.Session, queue.User, error) {
	st, x, u, err := s.findSession(ctx, token)
	if err != nil {
		return nil, x, u, err
	}
	if !slices.Contains(stages, x.Stage) {
		return nil, x, u, ops.Errorf(ops.CodeWrongStage, fmt.Sprintf("this session is at the step %q of signing in: finish it first", x.Stage))
	}
	if x, err = st.TouchSession(ctx, x.ID, s.now(), s.cfg.IdleTimeout.Duration); err != nil {
		if errors.Is(err, queue.ErrNotFound) {
			return nil, x, u, errNoSession()
		}
		return nil, x, u, err
	}
	return st, x, u, nil
}

// Logout ends the session of token (a logout row; an auto_logout row if
// its time was up already).
func (s *Service) Logout(ctx context.Context, token, addr string) error {
	st, err := s.ready(ctx)
	if err != nil {
		return err
	}
	if token == "" {
		return errNoSession()
	}
	x, err := st.SessionByToken(ctx, token)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return errNoSession()
	case integrityBroken(err):
		s.sessionsBroken(ctx, st, err)
		return nil
	case err != nil:
		return err
	}
	if ended, why := x.Ended(s.now()); ended {
		return s.endSession(ctx, st, x, nil, audit.AutoLogout, why)
	}
	var actor *ops.Actor
	if u, err := st.UserByID(ctx, x.UserID); err == nil {
		a := webActor(u, addr)
		actor = &a
	}
	return s.endSession(ctx, st, x, actor, audit.Logout, "signed out")
}

// sweepSessions ends the sessions whose time is up, each with its
// auto_logout row.
func (s *Service) sweepSessions(ctx context.Context) {
	st := s.Store()
	if st == nil {
		return
	}
	xs, err := st.EndedSessions(ctx, s.now())
	if err != nil {
		s.log.Error("sessions: could not list the ended sessions", "err", err)
		return
	}
	for _, x := range xs {
		if x.UserID == 0 {
			s.sessionsBroken(ctx, st, queue.ErrIntegrity)
			return
		}
		_, why := x.Ended(s.now())
		if err := s.endSession(ctx, st, x, nil, audit.AutoLogout, why); err != nil {
			s.log.Error("sessions: could not end an ended session", "err", err)
		}
	}
}

// ChangePassword changes the session's own password (StageActive or
// StageChangePassword) after checking the current one; it ends the user's
// other sessions and renews this one. A wrong current password counts as
// a failed sign-in.
func (s *Service) ChangePassword(ctx context.Context, token, oldPassword, newPassword, addr string) (_ ops.Session, err error) {
	st, x, u, err := s.sessionIn(ctx, token, addr, ops.StageActive, ops.StageChangePassword)
	if err != nil {
		return ops.Session{}, err
	}
	actor := webActor(u, addr)
	ctx, rec := begin(ctx, actor, audit.PasswordChange, "user", u.Username)
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := CheckPassword(newPassword); err != nil {
		return ops.Session{}, ops.Errorf(ops.CodeInvalidRequest, err.Error())
	}
	if newPassword == oldPassword {
		return ops.Session{}, ops.Errorf(ops.CodeInvalidRequest, "the new password is the current one: choose another")
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return ops.Session{}, err
	}
	defer release()
	if !s.verifyPassword(u.PasswordHash, oldPassword) {
		err := st.Account(audit.Without(ctx), u.ID, s.now(), func(acc *queue.Account) error {
			return s.failedLogin(acc, actor, "wrong current password at a password change", true)
		})
		if err != nil {
			return ops.Session{}, err
		}
		return ops.Session{}, ops.Errorf(ops.CodeBadLogin, "the current password is wrong: type it again (too many wrong tries lock the account)")
	}
	hash, err := crypt.HashPassword(newPassword)
	if err != nil {
		return ops.Session{}, err
	}
	policy, err := s.requireTOTP(ctx, st)
	if err != nil {
		return ops.Session{}, err
	}
	var out ops.Session
	err = st.Account(ctx, u.ID, s.now(), func(acc *queue.Account) error {
		acc.User.PasswordHash = hash
		acc.Auth.MustChange = false
		if x.Stage == ops.StageChangePassword {
			// The sign-in this session was finishing is now complete.
			signedIn(acc, x.Addr)
		}
		ended, err := acc.EndSessions(x.ID)
		if err != nil {
			return err
		}
		if len(ended) > 0 {
			rec.AddDetail(fmt.Sprintf("%d other session(s) ended", len(ended)))
		}
		nx, tok, err := acc.RenewSession(x.ID, nextStage(acc, policy, true), s.cfg.IdleTimeout.Duration, false)
		if err != nil {
			return err
		}
		out = s.view(nx, acc.User, addr, tok)
		return nil
	})
	if err != nil {
		return ops.Session{}, err
	}
	s.log.Info("password changed", "username", u.Username, "addr", addr)
	return out, nil
}

// LoginTOTP finishes StageTOTP with a current TOTP code (one not used
// before) or an unused recovery code (used up by this). A wrong code
// counts as a failed sign-in, and a lockout ends the session.
func (s *Service) LoginTOTP(ctx context.Context, token, code, addr string) (ops.Session, error) {
	st, x, u, err := s.sessionIn(ctx, token, addr, ops.StageTOTP)
	if err != nil {
		return ops.Session{}, err
	}
	policy, err := s.requireTOTP(ctx, st)
	if err != nil {
		return ops.Session{}, err
	}
	code = strings.TrimSpace(code)
	var out ops.Session
	refused := false
	err = st.Account(ctx, u.ID, s.now(), func(acc *queue.Account) error {
		actor := webActor(acc.User, addr)
		reason, method := refusal(acc), ""
		if reason == "" {
			if step, ok := totpStep(acc.User.TOTPSecret, code, acc.Now()); ok {
				if step <= acc.Auth.TOTPLastStep {
					reason = "second factor: a TOTP code used before"
				} else {
					acc.Auth.TOTPLastStep, method = step, "TOTP code"
				}
			} else if acc.UseRecoveryCode(normCode(code)) {
				method = fmt.Sprintf("recovery code (%d left)", len(acc.Auth.Recovery))
			} else {
				reason = "second factor: wrong code"
			}
		}
		if reason != "" {
			refused = true
			if reason == "disabled" || reason == "locked" {
				if _, err := acc.EndSessions(0); err != nil {
					return err
				}
				return s.failedLogin(acc, actor, reason, false)
			}
			return s.failedLogin(acc, actor, reason, true)
		}
		signedIn(acc, x.Addr)
		nx, tok, err := acc.RenewSession(x.ID, nextStage(acc, policy, true), s.cfg.IdleTimeout.Duration, false)
		if err != nil {
			return err
		}
		e := event(actor, audit.LoginOK, "user", acc.User.Username)
		e.Detail = "second factor: " + method + "; stage " + nx.Stage
		if err := acc.Audit(e); err != nil {
			return err
		}
		if acc.User.BreakGlass {
			e := event(actor, audit.BreakGlassUse, "user", acc.User.Username)
			e.Detail = "the emergency account passed its second factor"
			if err := acc.Audit(e); err != nil {
				return err
			}
		}
		out = s.view(nx, acc.User, addr, tok)
		return nil
	})
	switch {
	case integrityBroken(err):
		s.log.Error("sign-in refused: the account fails its integrity check (run smsd doctor)", "username", u.Username)
		return ops.Session{}, errBadLogin()
	case err != nil:
		return ops.Session{}, err
	case refused:
		return ops.Session{}, errBadLogin()
	}
	s.log.Info("signed in with a second factor", "username", u.Username, "addr", addr, "stage", out.Stage)
	return out, nil
}
