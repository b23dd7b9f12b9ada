package daemon

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/crypt"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// Sign-in: the password check, its lockout and the first-run setup. The
// rules live here; the store keeps the rows (queue/sessions.go), and the
// web UI only carries requests to these methods.

// loginBusyWait is how long a sign-in waits for a free password-check slot
// before it is told to try again: long enough to ride out a burst of a
// clinic's morning sign-ins, short enough that a flood does not pile up.
const loginBusyWait = 5 * time.Second

// setupCodeSetting is where the one-time setup code is kept, sealed, until
// the first admin is created.
const setupCodeSetting = "web.setup_code"

// policySetting keeps the sign-in policy's RequireTOTP ("1" or "0"); the
// break-glass half of the policy is the emergency account's own state.
const policySetting = "auth.require_totp"

// authState is the Service's sign-in machinery.
type authState struct {
	once sync.Once
	// sem bounds the argon2id computations that run at once (32 MiB each
	// for a password, more for the store's passphrase).
	sem chan struct{}
	// dummy is a hash of a random password at the cost of real ones, so an
	// unknown username takes as long to refuse as a wrong password.
	dummy string
	// busyWait is how long a check waits for a slot (tests shorten it).
	busyWait time.Duration
	// inFlight and peak count the password checks running, for the test
	// that the bound holds.
	inFlight, peak atomic.Int32

	mu sync.Mutex
	// setupFails are the times of recent wrong setup codes; setupLocked
	// refuses setup until then (there is no account to lock yet).
	setupFails  []time.Time
	setupLocked time.Time
	// unlockFails counts wrong passphrases from the web in a row;
	// unlockLocked refuses web unlocks until then. pendingAudit are the
	// refused unlocks, written to the audit log once the store opens (a
	// locked store has no log to write to).
	unlockFails  int
	unlockLocked time.Time
	pendingAudit []audit.Event
}

// maxPendingAudit bounds the refused unlocks kept for the audit log while
// the store is locked; past it only a count is kept in the journal.
const maxPendingAudit = 1000

func (s *Service) authInit() *authState {
	s.auth.once.Do(func() {
		n := s.cfg.LoginConcurrency
		if n < 1 {
			n = 1
		}
		s.auth.sem = make(chan struct{}, n)
		if s.auth.busyWait == 0 {
			s.auth.busyWait = loginBusyWait
		}
		pw, err := randomCode(16)
		if err == nil {
			s.auth.dummy, err = crypt.HashPassword(pw)
		}
		if err != nil {
			// Without a dummy an unknown user would answer faster; a
			// malformed hash still refuses, in no time. Say so.
			s.log.Error("sign-in: could not make the dummy password hash; unknown usernames are refused faster than wrong passwords", "err", err)
		}
	})
	return &s.auth
}

// errBusy answers a sign-in that found no free password-check slot.
func errBusy() error {
	return ops.Errorf(ops.CodeBusy, "too many sign-ins at once: try again in a moment")
}

// acquire takes a password-check slot, waiting at most busyWait.
func (s *Service) acquire(ctx context.Context) (func(), error) {
	st := s.authInit()
	t := time.NewTimer(st.busyWait)
	defer t.Stop()
	select {
	case st.sem <- struct{}{}:
		return func() { <-st.sem }, nil
	case <-t.C:
		return nil, errBusy()
	case <-ctx.Done():
		return nil, errBusy()
	}
}

// verifyPassword checks pw against the PHC hash, counting the checks that
// run at once. The caller holds a slot (acquire).
func (s *Service) verifyPassword(hash, pw string) bool {
	st := s.authInit()
	n := st.inFlight.Add(1)
	defer st.inFlight.Add(-1)
	for p := st.peak.Load(); n > p && !st.peak.CompareAndSwap(p, n); p = st.peak.Load() {
	}
	ok, err := crypt.VerifyPassword(hash, pw)
	if err != nil && hash != "" {
		s.log.Error("sign-in: a stored password hash is malformed; the account cannot sign in until an admin sets a new password")
	}
	return ok && err == nil
}

// errBadLogin is the one answer to every refused sign-in, whatever the
// reason, so that it never tells whether an account exists.
func errBadLogin() error {
	return ops.Errorf(ops.CodeBadLogin, "wrong username, password or code, or the account is locked or disabled: try again, or ask an administrator")
}

// errNoSession answers a request whose session ended or never was.
func errNoSession() error {
	return ops.Errorf(ops.CodeNoSession, "you are signed out (the session ended, or was ended): sign in again")
}

// randomCode is n random base32 letters and digits (A-Z, 2-7): typeable,
// 5 bits each.
func randomCode(n int) (string, error) {
	b := make([]byte, (n*5+7)/8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:n], nil
}

// groupCode writes a code in groups of g, joined by hyphens, for reading
// aloud and typing.
func groupCode(c string, g int) string {
	var parts []string
	for len(c) > g {
		parts = append(parts, c[:g])
		c = c[g:]
	}
	return strings.Join(append(parts, c), "-")
}

// normCode is a typed code as it is compared: upper case, without the
// hyphens and spaces it was shown with, the look-alike digits 0 and 1 read
// as the letters O and I (base32 has no 0 or 1).
func normCode(c string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case r == '0':
			return 'O'
		case r == '1':
			return 'I'
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, c)
}

// codesEqual compares two typed codes in constant time.
func codesEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(normCode(a)), []byte(normCode(b))) == 1
}

// Locked reports whether the store waits for its passphrase (key_source
// passphrase, not unlocked yet): nothing but Unlock works until then.
func (s *Service) Locked() bool {
	return s.cfg.KeySource == config.KeyPassphrase && s.Store() == nil
}

// SetupCode returns the one-time setup code of the store, making it the
// first time, while no account exists (needed true); once one exists it
// returns "", false. `smsd init` prints it; `smsd serve` logs it to the
// journal at start while it is needed. The code guards the web UI's
// first-run page, which creates the first admin and consumes it.
func SetupCode(ctx context.Context, st *queue.Store) (code string, needed bool, err error) {
	n, err := st.CountUsers(ctx)
	if err != nil {
		return "", false, fmt.Errorf("setup code: %w", err)
	}
	if n > 0 {
		return "", false, nil
	}
	code, err = st.Setting(ctx, setupCodeSetting)
	if errors.Is(err, queue.ErrNotFound) {
		var c string
		if c, err = randomCode(16); err == nil {
			code = groupCode(c, 4)
			err = st.SetSetting(audit.Without(ctx), setupCodeSetting, code)
		}
	}
	if err != nil {
		return "", false, fmt.Errorf("setup code: %w", err)
	}
	return code, true, nil
}

// logSetupCode puts the setup code in the journal while no account
// exists: the admin who lost what smsd init printed finds it there.
func (s *Service) logSetupCode(ctx context.Context, st *queue.Store) {
	code, needed, err := SetupCode(ctx, st)
	switch {
	case err != nil:
		s.log.Error("first run: could not read or make the setup code", "err", err)
	case needed:
		s.log.Warn("first run: no account exists yet; open the web UI and create the first admin with this one-time setup code", "setup_code", code)
	}
}

// SetupNeeded reports whether no account exists yet (first run).
func (s *Service) SetupNeeded(ctx context.Context) (bool, error) {
	st, err := s.ready(ctx)
	if err != nil {
		return false, err
	}
	n, err := st.CountUsers(ctx)
	return n == 0, err
}

// Setup creates the first admin with the one-time setup code and signs
// them in. It refuses once any account exists (CodeSetupDone) and a wrong
// code (CodeBadSetupCode), which is throttled like a sign-in: after
// lockout_failures wrong codes within lockout_window, setup is refused for
// lockout_duration.
func (s *Service) Setup(ctx context.Context, r ops.SetupRequest) (_ ops.Session, err error) {
	st, err := s.ready(ctx)
	if err != nil {
		return ops.Session{}, err
	}
	username, nameErr := CheckUsername(r.Username)
	if nameErr != nil {
		username = ""
	}
	a := ops.Actor{Kind: ops.ActorWeb, Name: username, Role: ops.RoleAdmin, Addr: r.Addr}
	ctx, rec := begin(ctx, a, audit.Setup, "user", username)
	defer func() { err = s.finish(ctx, rec, err) }()
	done := func() error {
		return ops.Errorf(ops.CodeSetupDone, "the first-run setup is over: an account exists; sign in, or ask an administrator for an account")
	}
	if n, err := st.CountUsers(ctx); err != nil {
		return ops.Session{}, err
	} else if n > 0 {
		return ops.Session{}, done()
	}
	as := s.authInit()
	now := s.now()
	as.mu.Lock()
	until := as.setupLocked
	as.mu.Unlock()
	if now.Before(until) {
		return ops.Session{}, ops.Errorf(ops.CodeBadSetupCode, fmt.Sprintf("too many wrong setup codes: setup is refused until %s; then type the code smsd init printed (or the journal's 'setup code' line)", until.UTC().Format("15:04 MST")))
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return ops.Session{}, err
	}
	defer release()
	code, err := st.Setting(ctx, setupCodeSetting)
	if errors.Is(err, queue.ErrNotFound) {
		return ops.Session{}, ops.Errorf(ops.CodeBadSetupCode, "this store has no setup code yet: restart smsd (systemctl restart smsd), which makes one and logs it (journalctl -u smsd | grep setup_code)")
	}
	if err != nil {
		return ops.Session{}, err
	}
	if !codesEqual(code, r.Code) {
		s.setupFailed(now)
		s.log.Warn("first-run setup refused: wrong setup code", "addr", r.Addr)
		return ops.Session{}, ops.Errorf(ops.CodeBadSetupCode, "the setup code is wrong: type the code smsd init printed (or the journal's 'setup code' line), groups of four letters and digits")
	}
	invalid := func(err error) error { return ops.Errorf(ops.CodeInvalidRequest, err.Error()) }
	if nameErr != nil {
		return ops.Session{}, invalid(nameErr)
	}
	if err := CheckName(r.Name); err != nil {
		return ops.Session{}, invalid(err)
	}
	if err := CheckPassword(r.Password); err != nil {
		return ops.Session{}, invalid(err)
	}
	hash, err := crypt.HashPassword(r.Password)
	if err != nil {
		return ops.Session{}, err
	}
	policy, err := s.requireTOTP(ctx, st)
	if err != nil {
		return ops.Session{}, err
	}
	rec.AddDetail("the first admin, with the setup code")
	var out ops.Session
	_, err = st.CreateAccount(ctx, queue.User{Username: username, Name: r.Name, Role: queue.RoleAdmin, PasswordHash: hash}, queue.UserAuth{LastLogin: now, LastLoginAddr: r.Addr}, now, true,
		func(acc *queue.Account) error {
			if err := acc.DeleteSetting(setupCodeSetting); err != nil {
				return err
			}
			stage := nextStage(acc, policy, true)
			x, token, err := acc.NewSession(stage, r.Addr, s.sessionTimes())
			if err != nil {
				return err
			}
			a.UserID = acc.User.ID
			e := event(a, audit.LoginOK, "user", username)
			e.Detail = "at setup; stage " + stage
			if err := acc.Audit(e); err != nil {
				return err
			}
			out = s.view(x, acc.User, r.Addr, token)
			return nil
		})
	if errors.Is(err, queue.ErrAccountsExist) {
		return ops.Session{}, done()
	}
	if err != nil {
		return ops.Session{}, err
	}
	as.mu.Lock()
	as.setupFails, as.setupLocked = nil, time.Time{}
	as.mu.Unlock()
	s.log.Info("first-run setup: the first admin was created", "username", username, "addr", r.Addr)
	return out, nil
}

// setupFailed counts a wrong setup code and refuses setup for a while
// after too many.
func (s *Service) setupFailed(now time.Time) {
	as := &s.auth
	as.mu.Lock()
	defer as.mu.Unlock()
	kept := as.setupFails[:0]
	for _, t := range as.setupFails {
		if now.Sub(t) < s.cfg.LockoutWindow.Duration {
			kept = append(kept, t)
		}
	}
	as.setupFails = append(kept, now)
	if len(as.setupFails) >= max(s.cfg.LockoutFailures, 1) {
		as.setupLocked = now.Add(s.cfg.LockoutDuration.Duration)
		as.setupFails = nil
		s.log.Warn("first-run setup locked after too many wrong setup codes", "until", as.setupLocked)
	}
}

// requireTOTP reads the policy's "every account uses a second factor".
func (s *Service) requireTOTP(ctx context.Context, st *queue.Store) (bool, error) {
	v, err := st.Setting(ctx, policySetting)
	if errors.Is(err, queue.ErrNotFound) {
		return false, nil
	}
	return v == "1", err
}

// nextStage is where a session of the account goes next. The order is
// the order of a sign-in: the second factor proves who it is (totpDone:
// passed, or not needed), then a password an admin set is replaced, then
// a second factor that is required but missing is enrolled. The
// break-glass account is exempt from the policy's second factor: its
// password in a sealed envelope is all an emergency has.
func nextStage(a *queue.Account, requireAll, totpDone bool) string {
	switch {
	case a.User.TOTPSecret != "" && !totpDone:
		return ops.StageTOTP
	case a.Auth.MustChange:
		return ops.StageChangePassword
	case a.User.TOTPSecret == "" && (a.Auth.TOTPRequired || requireAll && !a.User.BreakGlass):
		return ops.StageEnrolTOTP
	}
	return ops.StageActive
}

func (s *Service) sessionTimes() queue.SessionTimes {
	return queue.SessionTimes{Idle: s.cfg.IdleTimeout.Duration, Lifetime: s.cfg.SessionLifetime.Duration}
}

// webActor is the actor of a web session of u, asking from addr.
func webActor(u queue.User, addr string) ops.Actor {
	return ops.Actor{Kind: ops.ActorWeb, Name: u.Username, UserID: u.ID, Role: string(u.Role), Addr: addr}
}

// view is a stored session as the web UI sees it; token is set only when
// it was just issued.
func (s *Service) view(x queue.Session, u queue.User, addr, token string) ops.Session {
	return ops.Session{Token: token, ID: x.PublicID, Stage: x.Stage, Actor: webActor(u, addr), BreakGlass: u.BreakGlass,
		CreatedAt: utc(x.CreatedAt), LastSeen: utc(x.LastSeen), IdleExpires: utc(x.IdleExpires), Expires: utc(x.Expires), Addr: x.Addr}
}

// refusal is why an account may not sign in now ("" when it may). A
// lockout that is over is cleared here.
func refusal(a *queue.Account) string {
	now := a.Now()
	if !a.User.LockedUntil.IsZero() && !now.Before(a.User.LockedUntil) {
		a.User.LockedUntil, a.User.FailedLogins, a.Auth.FailWindowStart = time.Time{}, 0, time.Time{}
	}
	switch {
	case a.User.Disabled:
		return "disabled"
	case !a.User.LockedUntil.IsZero():
		return "locked"
	}
	return ""
}

// countFailure counts a failed sign-in of the account and locks it when
// there were lockout_failures within lockout_window; it reports a new
// lockout.
func (s *Service) countFailure(a *queue.Account) bool {
	now := a.Now()
	if a.User.FailedLogins == 0 || a.Auth.FailWindowStart.IsZero() || now.Sub(a.Auth.FailWindowStart) >= s.cfg.LockoutWindow.Duration {
		a.User.FailedLogins, a.Auth.FailWindowStart = 0, now
	}
	a.User.FailedLogins++
	if a.User.FailedLogins >= max(s.cfg.LockoutFailures, 1) && a.User.LockedUntil.IsZero() {
		a.User.LockedUntil = now.Add(s.cfg.LockoutDuration.Duration)
		return true
	}
	return false
}

// signedIn clears the failure count and records the sign-in.
func signedIn(a *queue.Account, addr string) {
	a.User.FailedLogins, a.User.LockedUntil, a.Auth.FailWindowStart = 0, time.Time{}, time.Time{}
	a.Auth.LastLogin, a.Auth.LastLoginAddr = a.Now(), addr
}

// failedLogin records a refused sign-in of the account in its
// transaction: the login_fail row, and when it locked the account the
// lockout row, the journal's warning and the end of its sessions. The
// break-glass account is never locked: its generated password (120 bits)
// cannot be guessed, while a lockout would be a way to deny it in the
// emergency it is for; its failures are recorded and warned all the same.
func (s *Service) failedLogin(acc *queue.Account, actor ops.Actor, reason string, counts bool) error {
	if acc.User.BreakGlass {
		counts = false
		s.log.Warn("BREAK-GLASS: a sign-in of the emergency account was refused", "addr", actor.Addr, "why", reason)
	}
	locked := counts && s.countFailure(acc)
	e := event(actor, audit.LoginFail, "user", acc.User.Username)
	e.Outcome, e.Detail = audit.Failed, reason
	if err := acc.Audit(e); err != nil {
		return err
	}
	s.log.Info("sign-in refused", "username", acc.User.Username, "addr", actor.Addr, "why", reason)
	if !locked {
		return nil
	}
	ended, err := acc.EndSessions(0)
	if err != nil {
		return err
	}
	e = event(actor, audit.Lockout, "user", acc.User.Username)
	e.Detail = fmt.Sprintf("%d failed sign-ins within %v; locked until %s", acc.User.FailedLogins, s.cfg.LockoutWindow.Duration,
		acc.User.LockedUntil.UTC().Format(audit.TimeLayout))
	if len(ended) > 0 {
		e.Detail += fmt.Sprintf("; %d session(s) ended", len(ended))
	}
	s.log.Warn("account locked after failed sign-ins", "username", acc.User.Username, "addr", actor.Addr, "until", acc.User.LockedUntil)
	return acc.Audit(e)
}

// Login checks a username and password and starts a session, in stage
// StageActive or a stage that must be finished first. Every refusal is
// the same CodeBadLogin, after the same work (an unknown username is
// checked against a dummy hash of the same cost), and writes a login_fail
// row. The break-glass account's sign-in is also a breakglass_use row and
// a warning in the journal.
func (s *Service) Login(ctx context.Context, r ops.LoginRequest) (ops.Session, error) {
	st, err := s.ready(ctx)
	if err != nil {
		return ops.Session{}, err
	}
	release, err := s.acquire(ctx)
	if err != nil {
		s.log.Warn("sign-in refused: too many at once", "addr", r.Addr)
		return ops.Session{}, err
	}
	defer release()
	as := s.authInit()
	username, nameErr := CheckUsername(r.Username)
	var u queue.User
	found, broken := false, false
	if nameErr == nil {
		u, err = st.UserByName(ctx, username)
		switch {
		case err == nil:
			found = true
		case errors.Is(err, queue.ErrNotFound):
		case errors.Is(err, queue.ErrIntegrity) || errors.Is(err, queue.ErrTampered):
			broken = true
		default:
			return ops.Session{}, err
		}
	}
	hash := as.dummy
	if found {
		hash = u.PasswordHash
	}
	ok := s.verifyPassword(hash, r.Password) && found
	if !found {
		// The typed name is not recorded: people type their password into
		// the username field.
		a := ops.Actor{Kind: ops.ActorWeb, Addr: r.Addr}
		e := event(a, audit.LoginFail, "user", "")
		e.Outcome, e.Detail = audit.Failed, "unknown user"
		if broken {
			e.ObjectID, e.Detail = username, "the account fails its integrity check (run smsd doctor)"
		}
		if _, err := st.Audit(ctx, e); err != nil {
			s.log.Error("audit: could not record a failed sign-in", "err", err)
		}
		s.log.Info("sign-in refused", "addr", r.Addr, "why", e.Detail)
		return ops.Session{}, errBadLogin()
	}
	policy, err := s.requireTOTP(ctx, st)
	if err != nil {
		return ops.Session{}, err
	}
	now := s.now()
	var out ops.Session
	refused := false
	err = st.Account(ctx, u.ID, now, func(acc *queue.Account) error {
		actor := webActor(acc.User, r.Addr)
		reason := refusal(acc)
		if reason == "" && !ok {
			reason = "wrong password"
		}
		if reason != "" {
			refused = true
			// Only a wrong password counts: a locked account's lockout is
			// not made longer by more tries.
			return s.failedLogin(acc, actor, reason, reason == "wrong password")
		}
		stage := nextStage(acc, policy, false)
		if stage != ops.StageTOTP {
			// With a second factor to come the failures are not cleared
			// yet: a known password must not buy endless code guesses.
			signedIn(acc, r.Addr)
		}
		if crypt.NeedsRehash(acc.User.PasswordHash) {
			if h, err := crypt.HashPassword(r.Password); err == nil {
				acc.User.PasswordHash = h
			}
		}
		x, token, err := acc.NewSession(stage, r.Addr, s.sessionTimes())
		if err != nil {
			return err
		}
		e := event(actor, audit.LoginOK, "user", acc.User.Username)
		e.Detail = "password; stage " + stage
		if err := acc.Audit(e); err != nil {
			return err
		}
		if acc.User.BreakGlass {
			e := event(actor, audit.BreakGlassUse, "user", acc.User.Username)
			e.Detail = "the emergency account signed in"
			if err := acc.Audit(e); err != nil {
				return err
			}
		}
		out = s.view(x, acc.User, r.Addr, token)
		return nil
	})
	switch {
	case errors.Is(err, queue.ErrIntegrity) || errors.Is(err, queue.ErrTampered):
		e := event(ops.Actor{Kind: ops.ActorWeb, Addr: r.Addr}, audit.LoginFail, "user", u.Username)
		e.Outcome, e.Detail = audit.Failed, "the account fails its integrity check (run smsd doctor)"
		if _, err := st.Audit(ctx, e); err != nil {
			s.log.Error("audit: could not record a failed sign-in", "err", err)
		}
		s.log.Error("sign-in refused: the account fails its integrity check (run smsd doctor)", "username", u.Username)
		return ops.Session{}, errBadLogin()
	case err != nil:
		return ops.Session{}, err
	case refused:
		return ops.Session{}, errBadLogin()
	}
	if out.BreakGlass {
		s.log.Warn("BREAK-GLASS: the emergency account signed in", "username", u.Username, "addr", r.Addr, "stage", out.Stage)
	} else {
		s.log.Info("signed in", "username", u.Username, "addr", r.Addr, "stage", out.Stage)
	}
	return out, nil
}
