package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// TestSignInRequired: without a session every page sends the browser to
// sign in, every action too (and changes nothing), and the session
// endpoints answer 401 JSON.
func TestSignInRequired(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleAdmin)
	b := newSite(t, svc, siteOptions{}).browser()
	for _, tc := range []struct {
		method, path string
	}{
		{"GET", "/"}, {"GET", "/accounts"}, {"GET", "/account/password"}, {"GET", "/account/totp"}, {"GET", "/signin/totp"},
		{"POST", "/accounts"}, {"POST", "/accounts/alice"}, {"POST", "/policy"}, {"POST", "/account/password"},
		{"POST", "/account/totp"}, {"POST", "/signin/totp"}, {"POST", "/signout"},
	} {
		var a answer
		if tc.method == "POST" {
			a = b.post(tc.path, url.Values{"action": {"disable"}})
		} else {
			a = b.get(tc.path)
		}
		if a.status != http.StatusSeeOther || a.location != "/signin" {
			t.Errorf("%s %s without a session: %d to %q, want 303 to /signin", tc.method, tc.path, a.status, a.location)
		}
	}
	for _, a := range []answer{b.get("/session"), b.post("/session/extend", nil)} {
		if s := decodeSession(t, a); a.status != http.StatusUnauthorized || s.Code != ops.CodeNoSession {
			t.Errorf("session without a cookie: %d %s, want 401 no_session", a.status, a.body)
		}
	}
	// A made-up token is no session either.
	b.setCookie("made-up-token")
	if a := b.get("/"); a.status != http.StatusSeeOther || a.location != "/signin?ended=1" {
		t.Errorf("GET / with a made-up token: %d to %q", a.status, a.location)
	}
	b.setCookie("made-up-token")
	if a := b.get("/session"); a.status != http.StatusUnauthorized {
		t.Errorf("GET /session with a made-up token: %d", a.status)
	}
	if u, err := svc.Accounts(context.Background(), root); err != nil || u[0].Disabled {
		t.Errorf("the refused POSTs changed alice: %+v %v", u, err)
	}
}

// TestSignInAndOut: the sign-in form, a wrong password, the signed-in
// header, and signing out, after which the old cookie is worth nothing.
func TestSignInAndOut(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleAdmin)
	b := newSite(t, svc, siteOptions{}).browser()

	a := b.get("/signin")
	for _, id := range []string{"signin", "username", "password", "signin-submit"} {
		if !hasID(a.body, id) {
			t.Errorf("the sign-in page has no #%s", id)
		}
	}
	if hasID(a.body, "session-countdown") {
		t.Error("the sign-in page shows a countdown")
	}

	a = b.post("/signin", url.Values{"username": {"alice"}, "password": {"not the password"}})
	if a.status != http.StatusUnauthorized || errorText(a.body) == "" || !strings.Contains(a.body, `value="alice"`) || strings.Contains(a.body, "not the password") {
		t.Errorf("a wrong password: %d, #error %q; want 401, the username kept, the password not echoed", a.status, errorText(a.body))
	}
	if b.cookie() != "" {
		t.Error("a wrong password set a cookie")
	}
	unknown := b.post("/signin", url.Values{"username": {"nobody"}, "password": {"not the password"}})
	if unknown.status != a.status || errorText(unknown.body) != errorText(a.body) {
		t.Errorf("an unknown user is told apart from a wrong password: %d %q vs %d %q", unknown.status, errorText(unknown.body), a.status, errorText(a.body))
	}

	b.signIn("alice", "/")
	token := b.cookie()
	a = b.get("/")
	if a.status != http.StatusOK {
		t.Fatalf("GET / signed in: %d: %s", a.status, a.body)
	}
	for _, id := range []string{"session-countdown", "signout-form", "signout", "session-warning", "stay-signed-in", "main"} {
		if !hasID(a.body, id) {
			t.Errorf("the home page has no #%s", id)
		}
	}
	if c := textOf(t, a.body, "session-countdown"); !regexp.MustCompile(`^Signs out in \d+:\d\d$`).MatchString(c) {
		t.Errorf("countdown %q", c)
	}
	if !strings.Contains(a.body, `id="session-countdown" aria-live="polite"`) {
		t.Error("the countdown is not aria-live polite")
	}
	if !regexp.MustCompile(`id="session-warning"[^>]*role="alertdialog"[^>]*hidden`).MatchString(a.body) {
		t.Error("#session-warning is not a hidden alertdialog")
	}
	if !strings.Contains(a.body, ">alice<") || !strings.Contains(a.body, `href="/accounts"`) || !strings.Contains(a.body, `href="/"`) {
		t.Error("the header lacks the username or the nav to / and /accounts")
	}
	if hasID(a.body, "breakglass-banner") {
		t.Error("a break-glass banner on an ordinary session")
	}
	// Signed in, /signin goes home.
	if a := b.get("/signin"); a.status != http.StatusSeeOther || a.location != "/" {
		t.Errorf("GET /signin signed in: %d to %q", a.status, a.location)
	}

	a = b.post("/signout", nil)
	if a.status != http.StatusSeeOther || a.location != "/signin" {
		t.Errorf("sign out: %d to %q", a.status, a.location)
	}
	if a := b.get("/"); a.status != http.StatusSeeOther || a.location != "/signin" {
		t.Errorf("GET / after sign-out: %d to %q", a.status, a.location)
	}
	// The old cookie, replayed, is an ended session.
	b.setCookie(token)
	if a := b.get("/"); a.status != http.StatusSeeOther || a.location != "/signin?ended=1" {
		t.Errorf("GET / with the signed-out token: %d to %q", a.status, a.location)
	}
	b.setCookie(token)
	if a := b.get("/session"); a.status != http.StatusUnauthorized || decodeSession(t, a).Code != ops.CodeNoSession {
		t.Errorf("GET /session with the signed-out token: %d %s", a.status, a.body)
	}
	a = b.get("/signin?ended=1")
	if a.status != http.StatusOK || !strings.Contains(textOf(t, a.body, "notice"), "You were signed out") {
		t.Errorf("/signin?ended=1: %d, notice %q", a.status, a.body)
	}
}

// TestRoles: staff reach home but not the accounts page or its actions;
// the refused action changes nothing.
func TestRoles(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleAdmin)
	addUser(t, svc, "bob", ops.RoleStaff)
	s := newSite(t, svc, siteOptions{})
	b := s.browser()
	b.signIn("bob", "/")
	a := b.get("/")
	if a.status != http.StatusOK || strings.Contains(a.body, `href="/accounts"`) {
		t.Errorf("staff home: %d, accounts link shown: %v", a.status, strings.Contains(a.body, `href="/accounts"`))
	}
	for _, tc := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "/accounts", nil},
		{"POST", "/accounts", url.Values{"username": {"eve"}, "name": {"Eve"}, "role": {"admin"}, "password": {password}}},
		{"POST", "/accounts/alice", url.Values{"action": {"disable"}}},
		{"POST", "/accounts/bob", url.Values{"action": {"role"}, "role": {"admin"}}},
		{"POST", "/policy", url.Values{"action": {"breakglass_enable"}}},
	} {
		var a answer
		if tc.method == "POST" {
			a = b.post(tc.path, tc.form)
		} else {
			a = b.get(tc.path)
		}
		if a.status != http.StatusForbidden || !strings.Contains(errorText(a.body), "administrators") {
			t.Errorf("staff %s %s: %d %q, want 403 for administrators", tc.method, tc.path, a.status, errorText(a.body))
		}
	}
	accts, err := svc.Accounts(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range accts {
		if u.Username == "eve" || u.Disabled || (u.Username == "bob" && u.Role != ops.RoleStaff) {
			t.Errorf("a refused action changed the accounts: %+v", u)
		}
	}
	pol, _, err := svc.AuthPolicy(context.Background(), root, nil)
	if err != nil || pol.BreakGlass {
		t.Errorf("a refused action changed the policy: %+v %v", pol, err)
	}
}

// TestSessionEndpoint: GET /session reports the session without
// extending it; POST /session/extend extends it.
func TestSessionEndpoint(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleStaff)
	b := newSite(t, svc, siteOptions{}).browser()
	b.signIn("alice", "/")
	first := decodeSession(t, b.get("/session"))
	idle := config.Default().IdleTimeout.Duration
	if first.Stage != ops.StageActive || first.EndsInMS <= 0 || first.EndsInMS > idle.Milliseconds() || first.BreakGlass {
		t.Fatalf("GET /session: %+v", first)
	}
	if first.EndsAt.IsZero() || first.IdleExpires.IsZero() || first.Expires.IsZero() || first.EndsAt.After(first.Expires) {
		t.Errorf("GET /session times: %+v", first)
	}
	time.Sleep(1100 * time.Millisecond)
	again := decodeSession(t, b.get("/session"))
	if !again.IdleExpires.Equal(first.IdleExpires) {
		t.Errorf("GET /session extended the session: idle_expires %v, then %v", first.IdleExpires, again.IdleExpires)
	}
	if again.EndsInMS >= first.EndsInMS {
		t.Errorf("ends_in_ms did not count down: %d, then %d", first.EndsInMS, again.EndsInMS)
	}
	ext := b.post("/session/extend", nil)
	if ext.status != http.StatusOK {
		t.Fatalf("POST /session/extend: %d %s", ext.status, ext.body)
	}
	if got := decodeSession(t, ext); !got.IdleExpires.After(first.IdleExpires) {
		t.Errorf("POST /session/extend did not extend: idle_expires %v, then %v", first.IdleExpires, got.IdleExpires)
	}
}

// TestIdleTimeoutEndsSession: a session nobody uses ends after the idle
// timeout, whatever the countdown's checks (which do not extend it); the
// next page goes to sign in with ?ended=1 and /session says no_session.
func TestIdleTimeoutEndsSession(t *testing.T) {
	const idle = 1500 * time.Millisecond
	svc := openServiceWith(t, func(c *config.Config) { c.IdleTimeout = config.Duration{Duration: idle} })
	addUser(t, svc, "alice", ops.RoleStaff)
	s := newSite(t, svc, siteOptions{})
	b := s.browser()
	b.signIn("alice", "/")
	if st := decodeSession(t, b.get("/session")); st.EndsInMS <= 0 || st.EndsInMS > idle.Milliseconds() {
		t.Fatalf("GET /session right after sign-in: %+v, want 0 < ends_in_ms <= %d", st, idle.Milliseconds())
	}
	// The countdown polls, as app.js does; the polls keep nothing alive.
	deadline := time.Now().Add(idle + 500*time.Millisecond)
	for time.Now().Before(deadline) {
		b.get("/session")
		time.Sleep(250 * time.Millisecond)
	}
	a := b.get("/session")
	if a.status != http.StatusUnauthorized || decodeSession(t, a).Code != ops.CodeNoSession {
		t.Fatalf("GET /session after the idle timeout: %d %s, want 401 no_session", a.status, a.body)
	}
	// The 401 also told the browser to forget the cookie.
	if b.cookie() != "" {
		t.Error("the cookie of an ended session is kept")
	}

	// A page after the idle timeout (the cookie still sent) goes to sign in.
	other := s.browser()
	other.signIn("alice", "/")
	time.Sleep(idle + 300*time.Millisecond)
	other.wantRedirect("/", "/signin?ended=1")
	if a := other.post("/session/extend", nil); a.status != http.StatusUnauthorized {
		t.Errorf("POST /session/extend after the idle timeout: %d, want 401 (too late to stay)", a.status)
	}
}

// TestVoluntaryEnrolment: a signed-in person sets up a second factor from
// the header's link, without any policy asking.
func TestVoluntaryEnrolment(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleStaff)
	b := newSite(t, svc, siteOptions{}).browser()
	b.signIn("alice", "/")
	a := b.get("/account/totp")
	if a.status != http.StatusOK || !hasID(a.body, "totp-qr") || !hasID(a.body, "session-countdown") {
		t.Fatalf("GET /account/totp signed in: %d: %s", a.status, errorText(a.body))
	}
	secret := textOf(t, a.body, "totp-secret")
	a = b.post("/account/totp", url.Values{"code": {totpCode(t, secret, time.Now())}})
	if a.status != http.StatusOK || !hasID(a.body, "recovery-codes") || !strings.Contains(a.body, `id="continue" href="/"`) {
		t.Fatalf("confirm: %d: %s", a.status, errorText(a.body))
	}
	if a := b.get("/"); a.status != http.StatusOK {
		t.Errorf("home after enrolling: %d", a.status)
	}
	accts, err := svc.Accounts(context.Background(), root)
	if err != nil || len(accts) != 1 || !accts[0].TOTP {
		t.Errorf("after enrolling, the account: %+v %v", accts, err)
	}
}

// signInWith signs in with a password; the answer must redirect to want.
func (b *browser) signInWith(username, pw, want string) {
	b.site.t.Helper()
	a := b.post("/signin", url.Values{"username": {username}, "password": {pw}})
	if a.status != http.StatusSeeOther || a.location != want {
		b.site.t.Fatalf("sign in as %s: %d to %q, want 303 to %s: %s", username, a.status, a.location, want, errorText(a.body))
	}
}

// wantRedirect checks that GET path redirects to want.
func (b *browser) wantRedirect(path, want string) {
	b.site.t.Helper()
	if a := b.get(path); a.status != http.StatusSeeOther || a.location != want {
		b.site.t.Errorf("GET %s: %d to %q, want 303 to %s", path, a.status, a.location, want)
	}
}

// TestChangePasswordStage: after an admin resets a password, the next
// sign-in reaches only the password page until a new one is chosen.
func TestChangePasswordStage(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleAdmin)
	addUser(t, svc, "bob", ops.RoleStaff)
	s := newSite(t, svc, siteOptions{})
	admin := s.browser()
	admin.signIn("alice", "/")
	const reset, chosen = "a reset password 1", "bob's own new password"
	a := admin.post("/accounts/bob", url.Values{"action": {ops.UserResetPassword}, "password": {reset}})
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, "/accounts?") {
		t.Fatalf("reset bob's password: %d to %q: %s", a.status, a.location, errorText(a.body))
	}
	if a := admin.get(a.location); !strings.Contains(textOf(t, a.body, "notice"), "bob") || strings.Contains(a.body, reset) {
		t.Errorf("after the reset: notice %q, password shown %v", textOf(t, a.body, "notice"), strings.Contains(a.body, reset))
	}

	bob := s.browser()
	bob.signInWith("bob", reset, "/account/password")
	for _, p := range []string{"/", "/accounts", "/account/totp", "/signin/totp", "/signin"} {
		bob.wantRedirect(p, "/account/password")
	}
	if st := decodeSession(t, bob.get("/session")); st.Stage != ops.StageChangePassword {
		t.Errorf("GET /session in stage change_password: %+v", st)
	}
	a = bob.get("/account/password")
	for _, id := range []string{"old-password", "new-password", "new-password2", "password-submit", "session-countdown", "signout"} {
		if !hasID(a.body, id) {
			t.Errorf("the password page has no #%s", id)
		}
	}
	before := bob.cookie()
	a = bob.post("/account/password", url.Values{"old_password": {reset}, "new_password": {chosen}, "new_password2": {chosen}})
	if a.status != http.StatusSeeOther || a.location != "/?done=password" {
		t.Fatalf("choose a new password: %d to %q: %s", a.status, a.location, errorText(a.body))
	}
	if bob.cookie() == "" || bob.cookie() == before {
		t.Error("the cookie was not replaced after the password change")
	}
	if a := bob.get(a.location); a.status != http.StatusOK || !hasID(a.body, "notice") {
		t.Errorf("home after the password change: %d", a.status)
	}
	other := s.browser()
	other.signInWith("bob", chosen, "/")
}

// TestTOTPStages: with a second factor required, the next sign-in enrols
// first (QR code, secret, a code, recovery codes shown once); later
// sign-ins ask for a code or a recovery code before anything else.
func TestTOTPStages(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleAdmin)
	addUser(t, svc, "carol", ops.RoleStaff)
	s := newSite(t, svc, siteOptions{})
	admin := s.browser()
	admin.signIn("alice", "/")
	if a := admin.post("/policy", url.Values{"action": {"policy"}, "require_totp": {"on"}}); a.status != http.StatusSeeOther {
		t.Fatalf("require TOTP: %d: %s", a.status, errorText(a.body))
	}
	if a := admin.get("/accounts"); !regexp.MustCompile(`id="require-totp"[^>]*checked`).MatchString(a.body) {
		t.Error("the policy form does not show the second factor as required")
	}

	c := s.browser()
	c.signIn("carol", "/account/totp")
	for _, p := range []string{"/", "/accounts", "/account/password", "/signin/totp"} {
		c.wantRedirect(p, "/account/totp")
	}
	a := c.get("/account/totp")
	if a.status != http.StatusOK || !regexp.MustCompile(`id="totp-qr" src="data:image/png;base64,`).MatchString(a.body) {
		t.Fatalf("the enrolment page: %d, no data: QR image: %s", a.status, a.body)
	}
	secret := textOf(t, a.body, "totp-secret")
	a = c.post("/account/totp", url.Values{"code": {"000000"}})
	if a.status < 400 || a.status >= 500 || errorText(a.body) == "" || !hasID(a.body, "code") || !hasID(a.body, "totp-confirm") {
		t.Errorf("a wrong first code: %d, #error %q", a.status, errorText(a.body))
	}
	a = c.post("/account/totp", url.Values{"code": {totpCode(t, secret, time.Now())}})
	if a.status != http.StatusOK || !hasID(a.body, "recovery-codes") {
		t.Fatalf("confirm the code: %d: %s", a.status, errorText(a.body))
	}
	ul := regexp.MustCompile(`(?s)<ul id="recovery-codes"[^>]*>(.*?)</ul>`).FindStringSubmatch(a.body)
	codes := regexp.MustCompile(`<li>([^<]+)</li>`).FindAllStringSubmatch(ul[1], -1)
	if len(codes) == 0 || !strings.Contains(a.body, `id="continue" href="/"`) {
		t.Fatalf("recovery codes %q, a#continue to /: %s", codes, a.body)
	}
	if a := c.get("/"); a.status != http.StatusOK {
		t.Errorf("home after enrolling: %d", a.status)
	}

	// The next sign-in asks for the second factor first.
	c.post("/signout", nil)
	c.signIn("carol", "/signin/totp")
	for _, p := range []string{"/", "/accounts", "/account/password", "/account/totp", "/signin"} {
		c.wantRedirect(p, "/signin/totp")
	}
	a = c.get("/signin/totp")
	if !hasID(a.body, "code") || !hasID(a.body, "totp-submit") {
		t.Errorf("the second-factor page lacks #code or #totp-submit: %s", a.body)
	}
	a = c.post("/signin/totp", url.Values{"code": {"000000"}})
	if a.status != http.StatusUnauthorized || errorText(a.body) == "" {
		t.Errorf("a wrong code: %d, #error %q", a.status, errorText(a.body))
	}
	before := c.cookie()
	a = c.post("/signin/totp", url.Values{"code": {codes[0][1]}})
	if a.status != http.StatusSeeOther || a.location != "/" {
		t.Fatalf("a recovery code: %d to %q: %s", a.status, a.location, errorText(a.body))
	}
	if c.cookie() == before {
		t.Error("the cookie was not replaced when the sign-in finished")
	}
	if a := c.get("/"); a.status != http.StatusOK {
		t.Errorf("home after the second factor: %d", a.status)
	}
}

// TestAccountsPage: the admin's list and each action of the contract.
func TestAccountsPage(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleAdmin)
	addUser(t, svc, "bob", ops.RoleStaff)
	s := newSite(t, svc, siteOptions{})
	admin := s.browser()
	admin.signIn("alice", "/")
	bob := s.browser()
	bob.signIn("bob", "/")

	a := admin.get("/accounts")
	if a.status != http.StatusOK {
		t.Fatalf("GET /accounts: %d: %s", a.status, errorText(a.body))
	}
	for _, id := range []string{"accounts", "user-add", "add-username", "add-name", "add-role", "add-password", "add-submit", "policy", "require-totp", "policy-submit", "breakglass-enable"} {
		if !hasID(a.body, id) {
			t.Errorf("the accounts page has no #%s", id)
		}
	}
	for _, u := range []string{"alice", "bob"} {
		if !strings.Contains(a.body, `<tr data-username="`+u+`">`) {
			t.Errorf("no row for %s", u)
		}
	}
	// A row offers the actions that change something for its account:
	// bob is active, not locked, without a second factor, signed in.
	checkActions(t, "bob, active and signed in", a.body, "bob",
		[]string{"disable", "require_totp", "end_sessions", "role", "reset_password", "end_session"},
		[]string{"enable", "unlock", "reset_totp"})
	bobSession := sessionIDOf(t, a.body, "bob")

	act := func(user string, form url.Values) answer {
		t.Helper()
		a := admin.post("/accounts/"+user, form)
		if a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, "/accounts?done=") {
			t.Fatalf("%s on %s: %d to %q: %s", form.Get("action"), user, a.status, a.location, errorText(a.body))
		}
		return admin.get(a.location)
	}

	// End one session: bob's browser is signed out.
	a = act("bob", url.Values{"action": {"end_session"}, "session": {bobSession}})
	if !hasID(a.body, "notice") {
		t.Error("no notice after ending a session")
	}
	bob.wantRedirect("/", "/signin?ended=1")

	// Disable: bob cannot sign in; enable: he can again.
	act("bob", url.Values{"action": {"disable"}})
	if a := bob.post("/signin", url.Values{"username": {"bob"}, "password": {password}}); a.status != http.StatusUnauthorized {
		t.Errorf("a disabled account signs in: %d to %q", a.status, a.location)
	}
	act("bob", url.Values{"action": {"enable"}})
	bob.signIn("bob", "/")

	// End every session of an account.
	act("bob", url.Values{"action": {"end_sessions"}})
	bob.wantRedirect("/", "/signin?ended=1")

	// Lockout after failed sign-ins, ended by an admin.
	for range config.Default().LockoutFailures {
		bob.post("/signin", url.Values{"username": {"bob"}, "password": {"wrong wrong wrong"}})
	}
	if a := bob.post("/signin", url.Values{"username": {"bob"}, "password": {password}}); a.status != http.StatusUnauthorized {
		t.Errorf("a locked-out account signs in: %d", a.status)
	}
	act("bob", url.Values{"action": {"unlock"}})
	bob.signIn("bob", "/")

	// Role: bob becomes an admin and reaches the accounts page, once he
	// signed in again (a role change ends the account's sessions).
	act("bob", url.Values{"action": {"role"}, "role": {"admin"}})
	bob.wantRedirect("/", "/signin?ended=1")
	bob.signIn("bob", "/")
	if a := bob.get("/accounts"); a.status != http.StatusOK {
		t.Errorf("bob as admin, GET /accounts: %d", a.status)
	}

	// Require and reset a second factor.
	act("bob", url.Values{"action": {"require_totp"}})
	act("bob", url.Values{"action": {"reset_totp"}})

	// Add an account, which can sign in.
	a = admin.post("/accounts", url.Values{"username": {"Dave"}, "name": {"Dave D"}, "role": {"staff"}, "password": {password}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("add dave: %d: %s", a.status, errorText(a.body))
	}
	if a := admin.get(a.location); !strings.Contains(a.body, `data-username="dave"`) || !strings.Contains(textOf(t, a.body, "notice"), "dave") {
		t.Errorf("dave is not listed, or no notice")
	}
	s.browser().signIn("dave", "/")

	// A crafted notice for an account that does not exist is not shown.
	if a := admin.get("/accounts?done=disable&user=nobody"); hasID(a.body, "notice") {
		t.Error("the page claims a change to an account that does not exist")
	}
}

// sessionIDOf is the first session ID listed in username's row.
func sessionIDOf(t *testing.T, body, username string) string {
	t.Helper()
	row := regexp.MustCompile(`(?s)<tr data-username="` + regexp.QuoteMeta(username) + `">(.*?)</tr>`).FindStringSubmatch(body)
	if row == nil {
		t.Fatalf("no row for %s", username)
	}
	m := regexp.MustCompile(`name="session" value="([^"]+)"`).FindStringSubmatch(row[1])
	if m == nil {
		t.Fatalf("no session listed for %s: %s", username, row[1])
	}
	return m[1]
}

// TestBreakGlass: enabling the emergency account shows its password once;
// its sessions carry the banner on every page and in /session.
func TestBreakGlass(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleAdmin)
	s := newSite(t, svc, siteOptions{})
	admin := s.browser()
	admin.signIn("alice", "/")
	a := admin.post("/policy", url.Values{"action": {"breakglass_enable"}})
	if a.status != http.StatusOK || !hasID(a.body, "breakglass-password") || !hasID(a.body, "breakglass-disable") {
		t.Fatalf("enable break-glass: %d: %s", a.status, errorText(a.body))
	}
	pw := textOf(t, a.body, "breakglass-password")
	if !strings.Contains(a.body, "envelope") {
		t.Error("no note to seal the password in an envelope")
	}
	if a := admin.get("/accounts"); strings.Contains(a.body, pw) {
		t.Error("the break-glass password is shown again")
	}
	bg := s.browser()
	bg.signInWith(ops.BreakGlassUsername, pw, "/")
	for _, p := range []string{"/", "/accounts", "/nope"} {
		a := bg.get(p)
		if !hasID(a.body, "breakglass-banner") || !strings.Contains(a.body, `role="alert"`) {
			t.Errorf("GET %s as break-glass: no #breakglass-banner", p)
		}
	}
	if st := decodeSession(t, bg.get("/session")); !st.BreakGlass {
		t.Errorf("GET /session as break-glass: %+v", st)
	}
	if a := admin.post("/policy", url.Values{"action": {"breakglass_disable"}}); a.status != http.StatusSeeOther {
		t.Errorf("disable break-glass: %d: %s", a.status, errorText(a.body))
	}
}

// TestSetup: on the first run sign-in leads to /setup; the one-time code
// creates the first admin and signs them in; then /setup is closed.
func TestSetup(t *testing.T) {
	svc := openService(t)
	ctx := context.Background()
	code, needed, err := daemon.SetupCode(ctx, svc.Store())
	if err != nil || !needed {
		t.Fatalf("setup code: %q %v %v", code, needed, err)
	}
	s := newSite(t, svc, siteOptions{})
	b := s.browser()
	b.wantRedirect("/signin", "/setup")
	b.wantRedirect("/", "/signin")
	a := b.get("/setup")
	for _, id := range []string{"setup-code", "username", "name", "password", "password2", "setup-submit"} {
		if !hasID(a.body, id) {
			t.Errorf("the setup page has no #%s", id)
		}
	}
	form := func(code, pw2 string) url.Values {
		return url.Values{"code": {code}, "username": {"alice"}, "name": {"Alice A"}, "password": {password}, "password2": {pw2}}
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want int
		says string
	}{
		{"no_code", url.Values{"username": {"alice"}, "name": {"A"}, "password": {password}, "password2": {password}}, http.StatusBadRequest, "The code is missing"},
		{"passwords_differ", form(code, password+"x"), http.StatusBadRequest, "differ"},
		{"wrong_code", form("WRONG-CODE-0000", password), http.StatusUnauthorized, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := b.post("/setup", tc.form)
			if a.status != tc.want || !strings.Contains(errorText(a.body), tc.says) || errorText(a.body) == "" || strings.Contains(a.body, password) {
				t.Errorf("%d %q, want %d saying %q, no password echoed", a.status, errorText(a.body), tc.want, tc.says)
			}
			if tc.form.Get("username") != "" && !strings.Contains(a.body, `value="alice"`) {
				t.Error("the username typed is not kept")
			}
		})
	}
	a = b.post("/setup", form(code, password))
	if a.status != http.StatusSeeOther || a.location != "/" || b.cookie() == "" {
		t.Fatalf("setup: %d to %q: %s", a.status, a.location, errorText(a.body))
	}
	if a := b.get("/accounts"); a.status != http.StatusOK {
		t.Errorf("the first admin, GET /accounts: %d", a.status)
	}
	s.browser().wantRedirect("/setup", "/signin")
	if a := s.browser().post("/setup", form(code, password)); a.status != http.StatusSeeOther || a.location != "/signin" {
		t.Errorf("setup again: %d to %q", a.status, a.location)
	}
}

// lockedService makes a store sealed by a passphrase and a service that
// has not been given it: locked mode.
func lockedService(t *testing.T, passphrase string) *daemon.Service {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.KeySource = config.KeyPassphrase
	ctx := context.Background()
	if err := queue.Init(ctx, cfg.DBPath(), daemon.KeySource(&cfg, []byte(passphrase)), daemon.StoreOptions(&cfg, nil)); err != nil {
		t.Fatal(err)
	}
	svc := daemon.New(cfg, nil, nil)
	t.Cleanup(func() { svc.Close() })
	return svc
}

// TestLocked: while the store waits for its passphrase every page is the
// locked page (503), the static files and /unlock excepted; the passphrase
// unlocks it from the web.
func TestLocked(t *testing.T) {
	const pass = "the clinic's long passphrase"
	svc := lockedService(t, pass)
	if !svc.Locked() {
		t.Fatal("the service is not locked")
	}
	s := newSite(t, svc, siteOptions{})
	b := s.browser()
	b.allow5xx = map[int]bool{http.StatusServiceUnavailable: true}
	for _, p := range []string{"/", "/signin", "/setup", "/accounts", "/account/password", "/nope"} {
		a := b.get(p)
		if a.status != http.StatusServiceUnavailable || !hasID(a.body, "locked") || !strings.Contains(a.body, `href="/unlock"`) ||
			!strings.Contains(textOf(t, a.body, "locked"), "an administrator must unlock it") {
			t.Errorf("GET %s locked: %d: %s", p, a.status, a.body)
		}
	}
	if a := b.post("/signin", url.Values{"username": {"alice"}, "password": {password}}); a.status != http.StatusServiceUnavailable || !hasID(a.body, "locked") {
		t.Errorf("POST /signin locked: %d", a.status)
	}
	if a := b.get("/session"); a.status != http.StatusServiceUnavailable || decodeSession(t, a).Code != ops.CodeLocked {
		t.Errorf("GET /session locked: %d %s", a.status, a.body)
	}
	if a := b.get("/static/app.css"); a.status != http.StatusOK {
		t.Errorf("GET /static/app.css locked: %d", a.status)
	}
	a := b.get("/unlock")
	if a.status != http.StatusOK || !hasID(a.body, "passphrase") || !hasID(a.body, "unlock-submit") {
		t.Fatalf("GET /unlock: %d: %s", a.status, a.body)
	}
	if a := b.post("/unlock", url.Values{}); a.status != http.StatusBadRequest || !strings.Contains(errorText(a.body), "passphrase is missing") {
		t.Errorf("unlock without a passphrase: %d %q", a.status, errorText(a.body))
	}
	a = b.post("/unlock", url.Values{"passphrase": {"not the passphrase"}})
	if a.status != http.StatusUnauthorized || !strings.Contains(errorText(a.body), "passphrase") || strings.Contains(a.body, "not the passphrase") {
		t.Errorf("a wrong passphrase: %d %q", a.status, errorText(a.body))
	}
	if !svc.Locked() {
		t.Fatal("a wrong passphrase unlocked the store")
	}
	a = b.post("/unlock", url.Values{"passphrase": {pass}})
	if a.status != http.StatusSeeOther || a.location != "/signin?unlocked=1" {
		t.Fatalf("unlock: %d to %q: %s", a.status, a.location, errorText(a.body))
	}
	if svc.Locked() {
		t.Fatal("the store is still locked")
	}
	// No account yet: the first run's setup.
	b.wantRedirect("/signin", "/setup")
	b.wantRedirect("/unlock", "/signin")
}

// TestUnlockThrottled: after lockout_failures wrong passphrases from the
// web, the service makes the next tries wait (CodeBusy): the page says so
// with 503 and Retry-After, and the store stays locked.
func TestUnlockThrottled(t *testing.T) {
	const pass = "the clinic's long passphrase"
	svc := lockedService(t, pass)
	b := newSite(t, svc, siteOptions{}).browser()
	b.allow5xx = map[int]bool{http.StatusServiceUnavailable: true}
	for i := range config.Default().LockoutFailures {
		if a := b.post("/unlock", url.Values{"passphrase": {"not it"}}); a.status != http.StatusUnauthorized {
			t.Fatalf("wrong passphrase %d: %d %q", i+1, a.status, errorText(a.body))
		}
	}
	a := b.post("/unlock", url.Values{"passphrase": {pass}})
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || errorText(a.body) == "" || !hasID(a.body, "passphrase") {
		t.Errorf("the right passphrase too soon: %d, Retry-After %q, #error %q", a.status, a.header.Get("Retry-After"), errorText(a.body))
	}
	if !svc.Locked() {
		t.Error("a throttled unlock opened the store")
	}
}

// checkActions checks which action buttons the accounts page's row of
// user offers: every one of want, none of unwanted.
func checkActions(t *testing.T, what, page, user string, want, unwanted []string) {
	t.Helper()
	_, row, ok := strings.Cut(page, `<tr data-username="`+user+`">`)
	if !ok {
		t.Fatalf("%s: no row for %s", what, user)
	}
	row, _, _ = strings.Cut(row, "</tr>")
	for _, v := range want {
		if !strings.Contains(row, `name="action" value="`+v+`"`) {
			t.Errorf("%s: no %s button", what, v)
		}
	}
	for _, v := range unwanted {
		if strings.Contains(row, `name="action" value="`+v+`"`) {
			t.Errorf("%s: a %s button, which would change nothing", what, v)
		}
	}
}
