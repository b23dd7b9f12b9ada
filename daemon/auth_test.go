package daemon

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/crypt"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// testClock is the Service's clock in a test: sessions, lockouts and TOTP
// codes follow it, so a test moves time instead of sleeping.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// authService is a Service on a real store in a temporary data directory,
// with a test clock.
func authService(t *testing.T) (*Service, *testClock) {
	t.Helper()
	s := openDirect(t)
	clk := &testClock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	s.now = clk.Now
	return s, clk
}

const (
	alicePW = "correct horse battery staple"
	bobPW   = "bob's long enough password"
)

// addUser creates an account as the shell's admin.
func addUser(t *testing.T, s *Service, username, role, password string) {
	t.Helper()
	if _, err := s.User(context.Background(), admin, ops.UserRequest{Action: ops.UserAdd, Username: username, Name: username, Role: role, Password: password}); err != nil {
		t.Fatal(err)
	}
}

// login signs in and fails the test if it does not work.
func login(t *testing.T, s *Service, username, password string) ops.Session {
	t.Helper()
	x, err := s.Login(context.Background(), ops.LoginRequest{Username: username, Password: password, Addr: "192.0.2.7"})
	if err != nil {
		t.Fatalf("sign-in of %s: %v", username, err)
	}
	if x.Token == "" {
		t.Fatalf("sign-in of %s: no token", username)
	}
	return x
}

// wantCode fails the test unless err has code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if ops.CodeOf(err) != code {
		t.Fatalf("%s: %v (code %q), want code %q", what, err, ops.CodeOf(err), code)
	}
}

// auditRows reads the audit log of s's store back from the file.
func auditRows(t *testing.T, s *Service) []audit.Row {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+s.cfg.DBPath()+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []audit.Row
	if err := audit.Scan(context.Background(), db, time.Time{}, time.Time{}, func(r audit.Row) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// rowsOf are the audit rows of action, in order.
func rowsOf(t *testing.T, s *Service, action string) []audit.Row {
	t.Helper()
	var out []audit.Row
	for _, r := range auditRows(t, s) {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

// rawDB opens the database file directly, bypassing the store, as someone
// with the SD card but without the key would.
func rawDB(t *testing.T, s *Service) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+s.cfg.DBPath()+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestLogin: a right password signs in; every refusal (wrong password,
// unknown user, disabled account) is the same code and the same words,
// and each is one login_fail row. The unknown username is not recorded.
func TestLogin(t *testing.T) {
	s, _ := authService(t)
	ctx := context.Background()
	addUser(t, s, "alice", ops.RoleAdmin, alicePW)
	addUser(t, s, "bob", ops.RoleStaff, bobPW)
	addUser(t, s, "carol", ops.RoleStaff, bobPW)
	if _, err := s.User(ctx, admin, ops.UserRequest{Action: ops.UserDisable, Username: "carol"}); err != nil {
		t.Fatal(err)
	}
	var refusal string
	for _, tc := range []struct {
		name, username, password string
		ok                       bool
		objectID, detail         string
	}{
		{"right", "alice", alicePW, true, "alice", "password; stage active"},
		{"right, username typed in capitals", " Bob ", bobPW, true, "bob", "password; stage active"},
		{"wrong password", "alice", "not the password at all", false, "alice", "wrong password"},
		{"unknown user", "mallory", alicePW, false, "", "unknown user"},
		{"password typed as the username", "correct horse battery staple", "x", false, "", "unknown user"},
		{"disabled, right password", "carol", bobPW, false, "carol", "disabled"},
		{"empty", "", "", false, "", "unknown user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(auditRows(t, s))
			x, err := s.Login(ctx, ops.LoginRequest{Username: tc.username, Password: tc.password, Addr: "192.0.2.7"})
			rows := auditRows(t, s)[before:]
			if tc.ok {
				if err != nil || x.Token == "" || x.Stage != ops.StageActive || x.Actor.Name != tc.objectID || x.Actor.Kind != ops.ActorWeb {
					t.Fatalf("%+v %v", x, err)
				}
				if len(rows) != 1 || rows[0].Action != audit.LoginOK || rows[0].ObjectID != tc.objectID || rows[0].Client != "192.0.2.7" || rows[0].Detail != tc.detail {
					t.Fatalf("audit rows %+v", rows)
				}
				return
			}
			wantCode(t, tc.name, err, ops.CodeBadLogin)
			if refusal == "" {
				refusal = err.Error()
			}
			if err.Error() != refusal {
				t.Errorf("the refusal says %q, another said %q: an answer must not tell why", err, refusal)
			}
			if len(rows) != 1 || rows[0].Action != audit.LoginFail || rows[0].Outcome != audit.Failed || rows[0].ObjectID != tc.objectID || rows[0].Detail != tc.detail {
				t.Fatalf("audit rows %+v", rows)
			}
			for _, r := range rows {
				if strings.Contains(r.Detail+r.ObjectID+r.Actor, "horse") || strings.Contains(r.Detail+r.ObjectID, tc.password) && tc.password != "" {
					t.Errorf("the audit row holds the password: %+v", r)
				}
			}
		})
	}
}

// TestLockout: lockout_failures wrong passwords within lockout_window lock
// the account (a lockout row), and then even the right password is
// refused, with the same answer, until an admin unlocks it or
// lockout_duration passes. Failures spread wider than the window do not
// add up.
func TestLockout(t *testing.T) {
	s, clk := authService(t)
	ctx := context.Background()
	addUser(t, s, "bob", ops.RoleStaff, bobPW)
	n := s.cfg.LockoutFailures
	wrong := func() {
		t.Helper()
		_, err := s.Login(ctx, ops.LoginRequest{Username: "bob", Password: "wrong wrong wrong", Addr: "192.0.2.9"})
		wantCode(t, "wrong password", err, ops.CodeBadLogin)
	}
	for i := 0; i < n; i++ {
		wrong()
		clk.Add(time.Second)
	}
	if l := rowsOf(t, s, audit.Lockout); len(l) != 1 || l[0].ObjectID != "bob" || !strings.Contains(l[0].Detail, "5 failed sign-ins") {
		t.Fatalf("lockout rows: %+v", l)
	}
	_, err := s.Login(ctx, ops.LoginRequest{Username: "bob", Password: bobPW})
	wantCode(t, "right password while locked", err, ops.CodeBadLogin)
	if f := rowsOf(t, s, audit.LoginFail); f[len(f)-1].Detail != "locked" {
		t.Fatalf("the last login_fail row: %+v", f[len(f)-1])
	}
	// The admin unlocks: the right password works at once.
	if _, err := s.User(ctx, admin, ops.UserRequest{Action: ops.UserUnlock, Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	if r := rowsOf(t, s, audit.UserUnlock); len(r) != 1 || r[0].Outcome != audit.OK {
		t.Fatalf("unlock rows: %+v", r)
	}
	login(t, s, "bob", bobPW)

	// Locked again; this time the lockout runs out.
	for i := 0; i < n; i++ {
		wrong()
	}
	clk.Add(s.cfg.LockoutDuration.Duration - time.Second)
	_, err = s.Login(ctx, ops.LoginRequest{Username: "bob", Password: bobPW})
	wantCode(t, "a second before the lockout ends", err, ops.CodeBadLogin)
	clk.Add(time.Second)
	login(t, s, "bob", bobPW)

	// n-1 failures, the window passes, n-1 more: never n within a window.
	for round := 0; round < 2; round++ {
		for i := 0; i < n-1; i++ {
			wrong()
		}
		clk.Add(s.cfg.LockoutWindow.Duration)
	}
	login(t, s, "bob", bobPW)
	if l := rowsOf(t, s, audit.Lockout); len(l) != 2 {
		t.Fatalf("%d lockout rows, want 2", len(l))
	}
	us, _ := s.Accounts(ctx, admin)
	for _, u := range us {
		if u.Username == "bob" && (u.FailedLogins != 0 || !u.LockedUntil.IsZero() || u.LastLoginAddr != "192.0.2.7") {
			t.Fatalf("bob after signing in: %+v", u)
		}
	}
}

// TestSetup: the one-time code creates the first admin once; a wrong code
// is refused and throttled; once an account exists setup is over and the
// code is gone.
func TestSetup(t *testing.T) {
	s, clk := authService(t)
	ctx := context.Background()
	if need, err := s.SetupNeeded(ctx); err != nil || !need {
		t.Fatalf("setup needed: %v %v", need, err)
	}
	code, needed, err := SetupCode(ctx, s.Store())
	if err != nil || !needed || len(code) != 19 || strings.Count(code, "-") != 3 {
		t.Fatalf("setup code %q %v %v", code, needed, err)
	}
	if again, _, _ := SetupCode(ctx, s.Store()); again != code {
		t.Fatalf("the setup code changed: %q then %q", code, again)
	}
	req := ops.SetupRequest{Code: code, Username: "Alice", Name: "Alice Admin", Password: alicePW, Addr: "192.0.2.1"}
	for _, tc := range []struct {
		name string
		edit func(r *ops.SetupRequest)
		code string
	}{
		{"wrong code", func(r *ops.SetupRequest) { r.Code = "AAAA-BBBB-CCCC-DDDD" }, ops.CodeBadSetupCode},
		{"no code", func(r *ops.SetupRequest) { r.Code = "" }, ops.CodeBadSetupCode},
		{"short password", func(r *ops.SetupRequest) { r.Password = "short" }, ops.CodeInvalidRequest},
		{"bad username", func(r *ops.SetupRequest) { r.Username = "a b" }, ops.CodeInvalidRequest},
	} {
		r := req
		tc.edit(&r)
		_, err := s.Setup(ctx, r)
		wantCode(t, tc.name, err, tc.code)
	}
	// Typed in lower case, without hyphens: the same code.
	r := req
	r.Code = strings.ToLower(strings.ReplaceAll(code, "-", " "))
	x, err := s.Setup(ctx, r)
	if err != nil || x.Stage != ops.StageActive || x.Actor.Name != "alice" || x.Actor.Role != ops.RoleAdmin || x.Token == "" {
		t.Fatalf("setup: %+v %v", x, err)
	}
	if got, err := s.Session(ctx, x.Token, "192.0.2.1", true); err != nil || got.Actor.Name != "alice" {
		t.Fatalf("the setup's session: %+v %v", got, err)
	}
	_, err = s.Setup(ctx, req)
	wantCode(t, "setup again", err, ops.CodeSetupDone)
	if c, needed, err := SetupCode(ctx, s.Store()); c != "" || needed || err != nil {
		t.Fatalf("setup code after setup: %q %v %v", c, needed, err)
	}
	if _, err := s.Store().Setting(ctx, setupCodeSetting); err == nil {
		t.Fatal("the setup code is still stored")
	}
	if n := len(rowsOf(t, s, audit.Setup)); n != 6 {
		t.Fatalf("%d setup rows, want 6 (4 refused, 1 done, 1 refused after)", n)
	}
	if r := rowsOf(t, s, audit.Setup); r[4].Outcome != audit.OK || r[0].Detail != ops.CodeBadSetupCode {
		t.Fatalf("setup rows: %+v", r)
	}

	// Throttled: after lockout_failures wrong codes even the right one
	// waits for lockout_duration.
	s2, clk2 := authService(t)
	code2, _, _ := SetupCode(ctx, s2.Store())
	for i := 0; i < s2.cfg.LockoutFailures; i++ {
		_, err := s2.Setup(ctx, ops.SetupRequest{Code: "AAAA-BBBB-CCCC-DDDD", Username: "alice", Password: alicePW})
		wantCode(t, "wrong code", err, ops.CodeBadSetupCode)
	}
	_, err = s2.Setup(ctx, ops.SetupRequest{Code: code2, Username: "alice", Password: alicePW})
	if ops.CodeOf(err) != ops.CodeBadSetupCode || !strings.Contains(err.Error(), "too many") {
		t.Fatalf("right code while throttled: %v", err)
	}
	clk2.Add(s2.cfg.LockoutDuration.Duration)
	if _, err := s2.Setup(ctx, ops.SetupRequest{Code: code2, Username: "alice", Password: alicePW}); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	_ = clk
}

// enrol takes a session in StageEnrolTOTP or StageActive through the
// enrolment and returns the secret and the confirmation.
func enrol(t *testing.T, s *Service, clk *testClock, token string) (string, ops.TOTPConfirmed) {
	t.Helper()
	ctx := context.Background()
	e, err := s.TOTPBegin(ctx, token, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URL, "otpauth://totp/") || e.Secret == "" || !strings.HasPrefix(string(e.QRPNG), "\x89PNG") {
		t.Fatalf("enrolment %+v", e.URL)
	}
	wrong, _ := totp.GenerateCode(e.Secret, clk.Now().Add(-5*time.Minute))
	_, err = s.TOTPConfirm(ctx, token, wrong, "192.0.2.7")
	wantCode(t, "a stale code", err, ops.CodeInvalidRequest)
	code, err := totp.GenerateCode(e.Secret, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.TOTPConfirm(ctx, token, code, "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	return e.Secret, c
}

// TestTOTP: an account required to use a second factor enrols at its next
// sign-in; afterwards a sign-in needs a current code (not one used before)
// or a recovery code (once); wrong codes count toward the lockout.
func TestTOTP(t *testing.T) {
	s, clk := authService(t)
	ctx := context.Background()
	addUser(t, s, "bob", ops.RoleStaff, bobPW)
	if _, err := s.User(ctx, admin, ops.UserRequest{Action: ops.UserRequireTOTP, Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	x := login(t, s, "bob", bobPW)
	if x.Stage != ops.StageEnrolTOTP {
		t.Fatalf("stage %s, want %s", x.Stage, ops.StageEnrolTOTP)
	}
	_, err := s.LoginTOTP(ctx, x.Token, "123456", "")
	wantCode(t, "a code before enrolling", err, ops.CodeWrongStage)
	secret, c := enrol(t, s, clk, x.Token)
	if len(c.RecoveryCodes) != 10 || c.Session.Stage != ops.StageActive || c.Session.Token == "" || c.Session.Token == x.Token {
		t.Fatalf("confirmed: %d codes, session %+v", len(c.RecoveryCodes), c.Session)
	}
	_, err = s.Session(ctx, x.Token, "", false)
	wantCode(t, "the token before enrolling", err, ops.CodeNoSession)
	if r := rowsOf(t, s, audit.TOTPEnrol); len(r) != 2 || r[0].Outcome != audit.Failed || r[1].Outcome != audit.OK {
		t.Fatalf("totp_enrol rows %+v", r)
	}
	if err := s.Logout(ctx, c.Session.Token, ""); err != nil {
		t.Fatal(err)
	}

	// A sign-in now stops at the second factor.
	clk.Add(time.Minute)
	x = login(t, s, "bob", bobPW)
	if x.Stage != ops.StageTOTP {
		t.Fatalf("stage %s", x.Stage)
	}
	_, err = s.TOTPBegin(ctx, x.Token, "")
	wantCode(t, "enrol before the code", err, ops.CodeWrongStage)
	code, _ := totp.GenerateCode(secret, clk.Now())
	got, err := s.LoginTOTP(ctx, x.Token, code[:3]+" "+code[3:], "192.0.2.7")
	if err != nil || got.Stage != ops.StageActive || got.Token == "" || got.Token == x.Token {
		t.Fatalf("TOTP sign-in: %+v %v", got, err)
	}
	s.Logout(ctx, got.Token, "")

	// The same code again, in the same 30 s: refused.
	x = login(t, s, "bob", bobPW)
	_, err = s.LoginTOTP(ctx, x.Token, code, "")
	wantCode(t, "a code used before", err, ops.CodeBadLogin)
	clk.Add(30 * time.Second)
	code, _ = totp.GenerateCode(secret, clk.Now())
	if got, err = s.LoginTOTP(ctx, x.Token, code, ""); err != nil {
		t.Fatalf("the next step's code: %v", err)
	}
	s.Logout(ctx, got.Token, "")

	// A recovery code, in lower case: once.
	rc := strings.ToLower(c.RecoveryCodes[3])
	for i, want := range []string{"", ops.CodeBadLogin} {
		x = login(t, s, "bob", bobPW)
		got, err = s.LoginTOTP(ctx, x.Token, rc, "")
		if ops.CodeOf(err) != want {
			t.Fatalf("recovery code, use %d: %v", i+1, err)
		}
		if err == nil {
			s.Logout(ctx, got.Token, "")
		}
	}
	n := 0
	for _, r := range rowsOf(t, s, audit.LoginOK) {
		if strings.Contains(r.Detail, "second factor: recovery code (9 left)") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d login_ok rows of the recovery code, want 1", n)
	}

	// Wrong codes lock the account (the password alone does not reset the
	// count), and the lockout ends the session waiting for a code. The
	// recovery code used twice was the first failure.
	for i := 0; i < s.cfg.LockoutFailures-1; i++ {
		x = login(t, s, "bob", bobPW)
		_, err = s.LoginTOTP(ctx, x.Token, "000000", "")
		wantCode(t, "a wrong code", err, ops.CodeBadLogin)
	}
	_, err = s.Session(ctx, x.Token, "", false)
	wantCode(t, "the session after the lockout", err, ops.CodeNoSession)
	_, err = s.Login(ctx, ops.LoginRequest{Username: "bob", Password: bobPW})
	wantCode(t, "locked after wrong codes", err, ops.CodeBadLogin)

	// An admin resets the second factor: bob enrols again.
	if _, err := s.User(ctx, admin, ops.UserRequest{Action: ops.UserUnlock, Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.User(ctx, admin, ops.UserRequest{Action: ops.UserResetTOTP, Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	if x = login(t, s, "bob", bobPW); x.Stage != ops.StageEnrolTOTP {
		t.Fatalf("after the reset: stage %s", x.Stage)
	}
}

// TestRequireTOTPForAll: the policy sends every account without a second
// factor to enrol, but not the break-glass account.
func TestRequireTOTPForAll(t *testing.T) {
	s, _ := authService(t)
	ctx := context.Background()
	addUser(t, s, "bob", ops.RoleStaff, bobPW)
	p, pw, err := s.AuthPolicy(ctx, admin, &ops.AuthPolicy{RequireTOTP: true, BreakGlass: true})
	if err != nil || !p.RequireTOTP || !p.BreakGlass || len(pw) != 29 {
		t.Fatalf("policy %+v, password of %d characters, %v", p, len(pw), err)
	}
	if x := login(t, s, "bob", bobPW); x.Stage != ops.StageEnrolTOTP {
		t.Fatalf("bob: stage %s", x.Stage)
	}
	if x := login(t, s, ops.BreakGlassUsername, pw); x.Stage != ops.StageActive || !x.BreakGlass {
		t.Fatalf("break-glass: %+v", x)
	}
}

// TestSessionExpiry: a session ends idle_timeout after the last request
// the person made, and session_lifetime after it began whatever they do;
// the page's own check (touch false) does not keep it alive; each end is
// one auto_logout row, also for a browser that never comes back (the
// sweep).
func TestSessionExpiry(t *testing.T) {
	s, clk := authService(t)
	ctx := context.Background()
	addUser(t, s, "bob", ops.RoleStaff, bobPW)
	idle, life := s.cfg.IdleTimeout.Duration, s.cfg.SessionLifetime.Duration

	x := login(t, s, "bob", bobPW)
	if !x.IdleExpires.Equal(clk.Now().Add(idle)) || !x.Expires.Equal(clk.Now().Add(life)) {
		t.Fatalf("deadlines %v %v", x.IdleExpires, x.Expires)
	}
	clk.Add(idle - time.Minute)
	if got, err := s.Session(ctx, x.Token, "", false); err != nil || !got.IdleExpires.Equal(x.IdleExpires) {
		t.Fatalf("an untouched look: %+v %v", got, err)
	}
	clk.Add(time.Minute)
	_, err := s.Session(ctx, x.Token, "", false)
	wantCode(t, "idle", err, ops.CodeNoSession)
	if r := rowsOf(t, s, audit.AutoLogout); len(r) != 1 || !strings.Contains(r[0].Detail, "idle") || r[0].Actor != "web:bob" {
		t.Fatalf("auto_logout rows %+v", r)
	}

	// Touched every 9 minutes it lives until its lifetime, not a moment
	// longer.
	start := clk.Now()
	x = login(t, s, "bob", bobPW)
	for clk.Now().Add(9 * time.Minute).Before(start.Add(life)) {
		clk.Add(9 * time.Minute)
		got, err := s.Session(ctx, x.Token, "", true)
		if err != nil {
			t.Fatalf("at %v: %v", clk.Now().Sub(start), err)
		}
		if got.IdleExpires.After(got.Expires) || !got.LastSeen.Equal(clk.Now()) {
			t.Fatalf("deadlines %+v", got)
		}
	}
	clk.Add(start.Add(life).Sub(clk.Now()))
	_, err = s.Session(ctx, x.Token, "", true)
	wantCode(t, "past the lifetime", err, ops.CodeNoSession)
	if r := rowsOf(t, s, audit.AutoLogout); len(r) != 2 || !strings.Contains(r[1].Detail, "lifetime") {
		t.Fatalf("auto_logout rows %+v", r)
	}

	// Nobody comes back: the sweep ends it.
	x = login(t, s, "bob", bobPW)
	y := login(t, s, "bob", bobPW)
	clk.Add(idle / 2)
	s.Session(ctx, y.Token, "", true)
	clk.Add(idle / 2)
	s.sweepSessions(ctx)
	if r := rowsOf(t, s, audit.AutoLogout); len(r) != 3 {
		t.Fatalf("%d auto_logout rows after the sweep, want 3", len(r))
	}
	if _, err := s.Session(ctx, y.Token, "", false); err != nil {
		t.Fatalf("the session used meanwhile: %v", err)
	}
	if xs, _ := s.Store().Sessions(ctx, 0); len(xs) != 1 {
		t.Fatalf("%d sessions stored, want 1", len(xs))
	}
	// Sign-out: one logout row, and the token is dead.
	if err := s.Logout(ctx, y.Token, "192.0.2.7"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "signed out", s.Logout(ctx, y.Token, ""), ops.CodeNoSession)
	if r := rowsOf(t, s, audit.Logout); len(r) != 1 || r[0].Actor != "web:bob" {
		t.Fatalf("logout rows %+v", r)
	}
}

// TestSessionsEnd: a password change ends the user's other sessions and
// renews the one that made it; an admin's reset, a disabled account and a
// role change end them all, so no session keeps what the account lost.
func TestSessionsEnd(t *testing.T) {
	s, _ := authService(t)
	ctx := context.Background()
	addUser(t, s, "alice", ops.RoleAdmin, alicePW)
	addUser(t, s, "bob", ops.RoleStaff, bobPW)
	alive := func(token string) bool {
		_, err := s.Session(ctx, token, "", false)
		return err == nil
	}
	a, b := login(t, s, "bob", bobPW), login(t, s, "bob", bobPW)
	other := login(t, s, "alice", alicePW)

	_, err := s.ChangePassword(ctx, a.Token, "wrong current password", "a brand new password", "")
	wantCode(t, "a wrong current password", err, ops.CodeBadLogin)
	_, err = s.ChangePassword(ctx, a.Token, bobPW, "short", "")
	wantCode(t, "a short new password", err, ops.CodeInvalidRequest)
	a2, err := s.ChangePassword(ctx, a.Token, bobPW, "a brand new password", "")
	if err != nil || a2.Token == "" || a2.Token == a.Token || a2.Stage != ops.StageActive {
		t.Fatalf("change: %+v %v", a2, err)
	}
	if alive(a.Token) || alive(b.Token) || !alive(a2.Token) || !alive(other.Token) {
		t.Fatalf("after the change: old %v, other of bob %v, renewed %v, alice's %v", alive(a.Token), alive(b.Token), alive(a2.Token), alive(other.Token))
	}
	if r := rowsOf(t, s, audit.PasswordChange); r[len(r)-1].Outcome != audit.OK || !strings.Contains(r[len(r)-1].Detail, "1 other session(s) ended") {
		t.Fatalf("password_change rows %+v", r)
	}

	// An admin's reset: every session ends; the next sign-in must choose.
	adminWeb := other.Actor
	if _, err := s.User(ctx, adminWeb, ops.UserRequest{Action: ops.UserResetPassword, Username: "bob", Password: "a temporary password"}); err != nil {
		t.Fatal(err)
	}
	if alive(a2.Token) {
		t.Fatal("a session outlived the admin's reset")
	}
	x := login(t, s, "bob", "a temporary password")
	if x.Stage != ops.StageChangePassword {
		t.Fatalf("stage %s", x.Stage)
	}
	_, err = s.TOTPBegin(ctx, x.Token, "")
	wantCode(t, "anything but the change", err, ops.CodeWrongStage)
	x, err = s.ChangePassword(ctx, x.Token, "a temporary password", "bob's own new password", "")
	if err != nil || x.Stage != ops.StageActive {
		t.Fatalf("the forced change: %+v %v", x, err)
	}

	// Role change: the staff session ends; the new admin signs in again.
	if _, err := s.User(ctx, adminWeb, ops.UserRequest{Action: ops.UserRole, Username: "bob", Role: ops.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if alive(x.Token) {
		t.Fatal("the staff session outlived the role change")
	}
	if x = login(t, s, "bob", "bob's own new password"); x.Actor.Role != ops.RoleAdmin {
		t.Fatalf("role %s", x.Actor.Role)
	}
	// Disabled: ended.
	if _, err := s.User(ctx, adminWeb, ops.UserRequest{Action: ops.UserDisable, Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	if alive(x.Token) {
		t.Fatal("a session outlived the disabled account")
	}
	// An admin ends alice's... own other session by its ID.
	o2 := login(t, s, "alice", alicePW)
	if err := s.EndSession(ctx, adminWeb, o2.ID); err != nil || alive(o2.Token) || !alive(other.Token) {
		t.Fatalf("end session: %v", err)
	}
	wantCode(t, "end it again", s.EndSession(ctx, adminWeb, o2.ID), ops.CodeNotFound)
	wantCode(t, "staff ends a session", s.EndSession(ctx, ops.Actor{Kind: ops.ActorWeb, Name: "bob", Role: ops.RoleStaff}, other.ID), ops.CodeDenied)
	if r := rowsOf(t, s, audit.SessionEnd); len(r) != 3 || r[0].Outcome != audit.OK || r[0].ObjectID != "alice" {
		t.Fatalf("session_end rows %+v", r)
	}
}

// TestLastAdmin: from the web UI the last enabled admin can be neither
// disabled nor made staff (the break-glass account does not count); with a
// second admin both work. At the shell, where being an admin is a Unix
// group, it may.
func TestLastAdmin(t *testing.T) {
	s, _ := authService(t)
	ctx := context.Background()
	addUser(t, s, "alice", ops.RoleAdmin, alicePW)
	addUser(t, s, "bob", ops.RoleStaff, bobPW)
	web := login(t, s, "alice", alicePW).Actor
	if _, _, err := s.AuthPolicy(ctx, web, &ops.AuthPolicy{BreakGlass: true}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []ops.UserRequest{{Action: ops.UserDisable, Username: "alice"}, {Action: ops.UserRole, Username: "alice", Role: ops.RoleStaff}} {
		_, err := s.User(ctx, web, r)
		if ops.CodeOf(err) != ops.CodeInvalidRequest || !strings.Contains(err.Error(), "last enabled administrator") {
			t.Fatalf("%s: %v", r.Action, err)
		}
	}
	if us, _ := s.User(ctx, admin, ops.UserRequest{Action: ops.UserList}); len(us) != 3 || us[0].Disabled || us[0].Role != ops.RoleAdmin {
		t.Fatalf("a refused change changed alice: %+v", us)
	}
	if _, err := s.User(ctx, web, ops.UserRequest{Action: ops.UserRole, Username: "bob", Role: ops.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.User(ctx, web, ops.UserRequest{Action: ops.UserDisable, Username: "alice"}); err != nil {
		t.Fatalf("with a second admin: %v", err)
	}
	if _, err := s.User(ctx, admin, ops.UserRequest{Action: ops.UserDisable, Username: "bob"}); err != nil {
		t.Fatalf("the shell disables the last admin: %v", err)
	}
}

// TestBreakGlass: turning break-glass on makes the emergency admin with a
// generated password, shown once; its sign-in is bannered (BreakGlass) and
// loudly audited; off disables it and ends its sessions.
func TestBreakGlass(t *testing.T) {
	s, _ := authService(t)
	ctx := context.Background()
	staff := ops.Actor{Kind: ops.ActorWeb, Name: "bob", Role: ops.RoleStaff}
	_, _, err := s.AuthPolicy(ctx, staff, &ops.AuthPolicy{BreakGlass: true})
	wantCode(t, "staff turns break-glass on", err, ops.CodeDenied)
	p, pw, err := s.AuthPolicy(ctx, admin, &ops.AuthPolicy{BreakGlass: true})
	if err != nil || !p.BreakGlass || pw == "" {
		t.Fatalf("%+v %q %v", p, pw, err)
	}
	x := login(t, s, ops.BreakGlassUsername, pw)
	if !x.BreakGlass || x.Actor.Role != ops.RoleAdmin || x.Stage != ops.StageActive {
		t.Fatalf("%+v", x)
	}
	if r := rowsOf(t, s, audit.BreakGlassUse); len(r) != 1 || r[0].Actor != "web:breakglass" {
		t.Fatalf("breakglass_use rows %+v", r)
	}
	_, err = s.User(ctx, admin, ops.UserRequest{Action: ops.UserDisable, Username: ops.BreakGlassUsername})
	wantCode(t, "disable through User", err, ops.CodeInvalidRequest)
	if p, _, err = s.AuthPolicy(ctx, admin, &ops.AuthPolicy{}); err != nil || p.BreakGlass {
		t.Fatalf("off: %+v %v", p, err)
	}
	if _, err := s.Session(ctx, x.Token, "", false); ops.CodeOf(err) != ops.CodeNoSession {
		t.Fatalf("the emergency session after off: %v", err)
	}
	_, err = s.Login(ctx, ops.LoginRequest{Username: ops.BreakGlassUsername, Password: pw})
	wantCode(t, "sign-in when off", err, ops.CodeBadLogin)
	// On again: a new password; the old one is dead.
	_, pw2, err := s.AuthPolicy(ctx, admin, &ops.AuthPolicy{BreakGlass: true})
	if err != nil || pw2 == pw {
		t.Fatalf("on again: %v", err)
	}
	_, err = s.Login(ctx, ops.LoginRequest{Username: ops.BreakGlassUsername, Password: pw})
	wantCode(t, "the old password", err, ops.CodeBadLogin)
	// Wrong passwords never lock it (that would deny it in an emergency);
	// each is still a login_fail row.
	before := len(rowsOf(t, s, audit.LoginFail))
	for i := 0; i < s.cfg.LockoutFailures+1; i++ {
		_, err = s.Login(ctx, ops.LoginRequest{Username: ops.BreakGlassUsername, Password: "a guess at the password"})
		wantCode(t, "a guess", err, ops.CodeBadLogin)
	}
	if n := len(rowsOf(t, s, audit.LoginFail)) - before; n != s.cfg.LockoutFailures+1 {
		t.Fatalf("%d login_fail rows for %d guesses", n, s.cfg.LockoutFailures+1)
	}
	login(t, s, ops.BreakGlassUsername, pw2)
}

// TestSessionsSurviveRestart: sessions are in the store, so closing and
// opening it again keeps them.
func TestSessionsSurviveRestart(t *testing.T) {
	s, _ := authService(t)
	ctx := context.Background()
	addUser(t, s, "bob", ops.RoleStaff, bobPW)
	x := login(t, s, "bob", bobPW)
	cfg := s.cfg
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenDirect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s2.now = s.now
	if got, err := s2.Session(ctx, x.Token, "", true); err != nil || got.Actor.Name != "bob" || got.ID != x.ID {
		t.Fatalf("after reopening: %+v %v", got, err)
	}
}

// TestSessionTampered: someone with the database file but not the key
// edits a session row: moves it to the admin, swaps in another session's
// token hash, skips the second factor, stretches its life, or puts back a
// session that signed out. Each is refused, and every session ends.
func TestSessionTampered(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB, bob, alice ops.Session)
	}{
		{"user_id set to the admin's", func(t *testing.T, db *sql.DB, bob, alice ops.Session) {
			mustExec(t, db, "UPDATE sessions SET user_id = ? WHERE public_id = ?", alice.Actor.UserID, bob.ID)
		}},
		{"token hash of another session", func(t *testing.T, db *sql.DB, bob, alice ops.Session) {
			// Alice's row gets bob's token hash: bob's cookie would find
			// the admin's session.
			var h []byte
			if err := db.QueryRow("SELECT token_hash FROM sessions WHERE public_id = ?", bob.ID).Scan(&h); err != nil {
				t.Fatal(err)
			}
			mustExec(t, db, "UPDATE sessions SET token_hash = x'01' WHERE public_id = ?", bob.ID)
			mustExec(t, db, "UPDATE sessions SET token_hash = ? WHERE public_id = ?", h, alice.ID)
		}},
		{"stage set to active", func(t *testing.T, db *sql.DB, bob, alice ops.Session) {
			mustExec(t, db, "UPDATE sessions SET stage = 'active' WHERE public_id = ?", bob.ID)
		}},
		{"lifetime stretched", func(t *testing.T, db *sql.DB, bob, alice ops.Session) {
			mustExec(t, db, "UPDATE sessions SET expires = expires + 86400000, idle_expires = idle_expires + 86400000 WHERE public_id = ?", bob.ID)
		}},
		{"row copied under another id", func(t *testing.T, db *sql.DB, bob, alice ops.Session) {
			mustExec(t, db, "UPDATE sessions SET id = id + 100 WHERE public_id = ?", bob.ID)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := authService(t)
			addUser(t, s, "alice", ops.RoleAdmin, alicePW)
			addUser(t, s, "bob", ops.RoleStaff, bobPW)
			if _, err := s.User(ctx, admin, ops.UserRequest{Action: ops.UserRequireTOTP, Username: "bob"}); err != nil {
				t.Fatal(err)
			}
			bob, alice := login(t, s, "bob", bobPW), login(t, s, "alice", alicePW)
			tc.tamper(t, rawDB(t, s), bob, alice)
			for _, tok := range []string{bob.Token, alice.Token} {
				got, err := s.Session(ctx, tok, "", true)
				if ops.CodeOf(err) != ops.CodeNoSession {
					t.Fatalf("a session after the edit: %+v %v", got, err)
				}
			}
			if r := rowsOf(t, s, audit.SessionEnd); len(r) != 1 || r[0].Outcome != audit.Failed || r[0].Actor != "system" {
				t.Fatalf("session_end rows %+v", r)
			}
			// Everyone signs in again, and that works.
			login(t, s, "alice", alicePW)
		})
	}
	t.Run("signed-out session put back", func(t *testing.T) {
		s, _ := authService(t)
		addUser(t, s, "bob", ops.RoleStaff, bobPW)
		x := login(t, s, "bob", bobPW)
		db := rawDB(t, s)
		var id, uid, created, seen, idle, exp, rv int64
		var pid, stage string
		var hash, addr, tag []byte
		if err := db.QueryRow("SELECT id, public_id, token_hash, user_id, stage, created_at, last_seen, idle_expires, expires, addr_sealed, rv, tag FROM sessions").
			Scan(&id, &pid, &hash, &uid, &stage, &created, &seen, &idle, &exp, &addr, &rv, &tag); err != nil {
			t.Fatal(err)
		}
		if err := s.Logout(ctx, x.Token, ""); err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, `INSERT INTO sessions (id, public_id, token_hash, user_id, stage, created_at, last_seen, idle_expires, expires, addr_sealed, rv, tag)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, pid, hash, uid, stage, created, seen, idle, exp, addr, rv, tag)
		_, err := s.Session(ctx, x.Token, "", true)
		wantCode(t, "the session put back", err, ops.CodeNoSession)
	})
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestNoSecretsOnDisk: after a sign-in, a TOTP enrolment, its recovery
// codes, a break-glass password and a setup code, none of them, nor a
// session token, nor a password, is in the database file or its WAL in
// clear. (Client addresses are: the audit log keeps them by design.)
func TestNoSecretsOnDisk(t *testing.T) {
	s, clk := authService(t)
	ctx := context.Background()
	code, _, err := SetupCode(ctx, s.Store())
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{code, strings.ReplaceAll(code, "-", "")}
	x, err := s.Setup(ctx, ops.SetupRequest{Code: code, Username: "alice", Password: alicePW})
	if err != nil {
		t.Fatal(err)
	}
	addUser(t, s, "bob", ops.RoleStaff, bobPW)
	b := login(t, s, "bob", bobPW)
	secret, c := enrol(t, s, clk, b.Token)
	_, pw, err := s.AuthPolicy(ctx, x.Actor, &ops.AuthPolicy{BreakGlass: true})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := s.TOTPBegin(ctx, x.Token, "") // kept with the session, not confirmed
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, x.Token, b.Token, c.Session.Token, alicePW, bobPW, secret, pending.Secret, pw, strings.ReplaceAll(pw, "-", ""))
	for _, rc := range c.RecoveryCodes {
		secrets = append(secrets, rc, strings.ReplaceAll(rc, "-", ""))
	}
	var files [][]byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(s.cfg.DBPath() + suffix)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	for _, sec := range secrets {
		for i, f := range files {
			if strings.Contains(string(f), sec) {
				t.Errorf("file %d holds a secret in clear: %.6s...", i, sec)
			}
		}
	}
	// The check itself works: something that is in clear is found.
	if !strings.Contains(string(files[0])+string(files[1]), "breakglass") {
		t.Fatal("the username breakglass is not found in the file: the search is broken")
	}
}

// TestLoginConcurrency: no more password checks run at once than
// login_concurrency, and a sign-in that finds every slot taken is told to
// try again (busy) instead of waiting without end.
func TestLoginConcurrency(t *testing.T) {
	s, _ := authService(t)
	ctx := context.Background()
	s.cfg.LoginConcurrency = 2
	// Long enough for 12 checks in 2 slots on a slow machine (-race):
	// this part counts the checks at once, not the refusals.
	s.auth.busyWait = time.Minute
	addUser(t, s, "bob", ops.RoleStaff, bobPW)
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			pw := bobPW
			if i%3 == 0 {
				pw = "a wrong password, and long"
			}
			if _, err := s.Login(ctx, ops.LoginRequest{Username: "bob", Password: pw}); err != nil && ops.CodeOf(err) != ops.CodeBadLogin {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if p := s.auth.peak.Load(); p > 2 || p < 1 {
		t.Fatalf("%d password checks ran at once, the bound is 2", p)
	}
	// Both slots taken: busy, after busyWait.
	s.auth.busyWait = 50 * time.Millisecond
	r1, _ := s.acquire(ctx)
	r2, _ := s.acquire(ctx)
	_, err := s.Login(ctx, ops.LoginRequest{Username: "bob", Password: bobPW})
	wantCode(t, "every slot taken", err, ops.CodeBusy)
	r1()
	r2()
	login(t, s, "bob", bobPW)
}

// TestAccounts: the admin's list shows the sign-in details and the live
// sessions; staff may not see it.
func TestAccounts(t *testing.T) {
	s, _ := authService(t)
	ctx := context.Background()
	addUser(t, s, "alice", ops.RoleAdmin, alicePW)
	addUser(t, s, "bob", ops.RoleStaff, bobPW)
	x := login(t, s, "bob", bobPW)
	s.Login(ctx, ops.LoginRequest{Username: "alice", Password: "wrong wrong wrong"})
	if _, err := s.User(ctx, admin, ops.UserRequest{Action: ops.UserRequireTOTP, Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Accounts(ctx, x.Actor)
	wantCode(t, "staff lists accounts", err, ops.CodeDenied)
	list, err := s.Accounts(ctx, admin)
	if err != nil || len(list) != 2 {
		t.Fatalf("%+v %v", list, err)
	}
	a, b := list[0], list[1]
	if a.Username != "alice" || a.FailedLogins != 1 || !a.TOTPRequired || len(a.Sessions) != 0 || !a.LastLogin.IsZero() {
		t.Fatalf("alice %+v", a)
	}
	if b.Username != "bob" || len(b.Sessions) != 1 || b.Sessions[0].ID != x.ID || b.Sessions[0].Token != "" || b.LastLoginAddr != "192.0.2.7" || b.LastLogin.IsZero() {
		t.Fatalf("bob %+v", b)
	}
}

// TestUnlockFromWeb: a locked store takes its passphrase from the web UI in
// a password-check slot; after lockout_failures wrong ones the web is
// refused for lockout_duration while the shell's unlock still works, and
// every refused try reaches the audit log once the store opens.
func TestUnlockFromWeb(t *testing.T) {
	saved := crypt.PassphraseParams
	crypt.PassphraseParams = crypt.Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}
	t.Cleanup(func() { crypt.PassphraseParams = saved })
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.KeySource = config.KeyPassphrase
	pass := []byte("the clinic's passphrase")
	if err := queue.Init(ctx, cfg.DBPath(), queue.KeySource{Passphrase: pass}, StoreOptions(&cfg, nil)); err != nil {
		t.Fatal(err)
	}
	s := New(cfg, nil, nil)
	t.Cleanup(func() { s.Close() })
	clk := &testClock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	s.now = clk.Now
	if !s.Locked() {
		t.Fatal("a passphrase store before its unlock is not Locked")
	}
	_, err := s.Login(ctx, ops.LoginRequest{Username: "alice", Password: alicePW})
	wantCode(t, "sign-in while locked", err, ops.CodeLocked)
	web := ops.Actor{Kind: ops.ActorWeb, Name: "unlock", Role: ops.RoleAdmin, Addr: "192.0.2.50"}
	for i := 0; i < cfg.LockoutFailures; i++ {
		wantCode(t, "a wrong passphrase", s.Unlock(ctx, web, []byte("not it")), ops.CodeWrongKey)
	}
	// Unlock zeroes the passphrase it is given: each call gets its copy.
	wantCode(t, "the right one, too soon, from the web", s.Unlock(ctx, web, bytes.Clone(pass)), ops.CodeBusy)
	clk.Add(cfg.LockoutDuration.Duration)
	wantCode(t, "one more wrong one after the wait", s.Unlock(ctx, web, []byte("still not it")), ops.CodeWrongKey)
	if !s.Locked() {
		t.Fatal("unlocked by a wrong passphrase")
	}
	given := bytes.Clone(pass)
	if err := s.Unlock(ctx, admin, given); err != nil {
		t.Fatalf("the shell's unlock: %v", err)
	}
	if !bytes.Equal(given, make([]byte, len(given))) {
		t.Fatal("Unlock left the passphrase in memory")
	}
	if s.Locked() {
		t.Fatal("still locked")
	}
	rows := rowsOf(t, s, audit.Unlock)
	if len(rows) != cfg.LockoutFailures+3 {
		t.Fatalf("%d unlock rows, want %d: %+v", len(rows), cfg.LockoutFailures+3, rows)
	}
	for i, r := range rows[:len(rows)-1] {
		if r.Outcome != audit.Failed || r.Client != "192.0.2.50" || r.Actor != "web:unlock" {
			t.Errorf("refused unlock %d: %+v", i, r)
		}
	}
	if last := rows[len(rows)-1]; last.Outcome != audit.OK || last.Actor != "unix:alice" {
		t.Errorf("the unlock: %+v", last)
	}
	if rows[cfg.LockoutFailures].Detail != ops.CodeBusy {
		t.Errorf("the throttled try: %+v", rows[cfg.LockoutFailures])
	}
}
