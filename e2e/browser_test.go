package e2e

// Browser tests of the web UI: the real smsd binary (smsd serve on the
// built-in emulated modem, web UI on a port of its own: plain HTTP on
// loopback, HTTPS with the local CA in TestBrowserTLS) driven by
// Debian's chromium as a person would, with axe-core on every page reached
// and a watcher that fails the test when a page reaches anything but the
// box. The harness is in browser_harness_test.go.

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/modem/emulator"
)

// The first admin every browser test creates at /setup.
const (
	adminUser = "ada"
	adminName = "Ada Quillfeather" // the accounts page shows it; it must leave the screen with the session
	adminPass = "correct horse battery staple"
)

// webRig is a rig whose daemon serves the web UI (smsd serve with the
// rig's -listen and extra, such as -idle-timeout 10s).
func webRig(t *testing.T, extra ...string) *rig {
	t.Helper()
	r := newRig(t)
	if r.setupCode == "" {
		t.Fatalf("smsd init printed no %q line: the web UI's first-run setup needs it", "setup code: XXXX-XXXX-XXXX-XXXX")
	}
	r.serveArgs = extra
	r.start()
	return r
}

// setup creates the first admin at /setup with the rig's one-time code;
// the browser is then signed in as that admin.
func (tb *tab) setup(code, user, name, pass string) {
	tb.t.Helper()
	tb.open("/setup")
	tb.must("input#setup-code", "the first-run setup page")
	tb.fillSetup(code, user, name, pass)
	if st := tb.click("button#setup-submit"); st != http.StatusOK {
		tb.t.Errorf("setup answered %d, want 200 (after the redirect)", st)
	}
	if !tb.signedIn() {
		tb.t.Fatalf("after the first-run setup the browser is not signed in (no #signout)\n%s", tb.where())
	}
}

func (tb *tab) fillSetup(code, user, name, pass string) {
	tb.t.Helper()
	tb.fill("#setup-code", code)
	tb.fill("#username", user)
	tb.fill("#name", name)
	tb.fill("#password", pass)
	tb.fill("#password2", pass)
}

// signIn fills /signin and submits it; it returns the status of the page
// that follows.
func (tb *tab) signIn(user, pass string) int64 {
	tb.t.Helper()
	tb.open("/signin")
	tb.must("form#signin", "the sign-in page")
	tb.fill("#username", user)
	tb.fill("#password", pass)
	return tb.click("button#signin-submit")
}

// signInOK signs in and fails the test unless that worked.
func (tb *tab) signInOK(user, pass string) {
	tb.t.Helper()
	tb.signIn(user, pass)
	if !tb.signedIn() {
		tb.t.Fatalf("signing in as %s with the right password did not sign in\n%s", user, tb.where())
	}
}

// signInRefused signs in and fails the test unless the page says why it
// refused and the browser is still signed out; it returns the error text.
func (tb *tab) signInRefused(user, pass, why string) string {
	tb.t.Helper()
	tb.signIn(user, pass)
	return tb.refused(why)
}

// refused checks that the page shows an error (#error, role=alert) and
// that the browser is not signed in; it returns the error text.
func (tb *tab) refused(why string) string {
	tb.t.Helper()
	if tb.signedIn() {
		tb.t.Fatalf("%s: the browser is signed in\n%s", why, tb.where())
	}
	msg := tb.text("#error")
	if msg == "" || !tb.visible("#error") {
		tb.t.Errorf("%s: no error shown in #error\n%s", why, tb.where())
	}
	if role := eval[string](tb, `(document.querySelector("#error") || {getAttribute: () => ""}).getAttribute("role") || ""`); role != "alert" {
		tb.t.Errorf("%s: #error has role %q, want alert (a screen reader reads it out)", why, role)
	}
	return msg
}

// signedIn reports whether the page is a page of a finished sign-in: it
// has the sign-out button and the main navigation (a sign-in that waits
// for its second factor has the button, not the navigation).
func (tb *tab) signedIn() bool {
	tb.t.Helper()
	return tb.has("button#signout") && tb.has(`nav a[href="/"]`)
}

// signOut presses the sign-out button; the browser lands on /signin.
func (tb *tab) signOut() {
	tb.t.Helper()
	tb.must("form#signout-form button#signout", "sign-out")
	if m := eval[string](tb, `document.querySelector("form#signout-form").method`); m != "post" {
		tb.t.Errorf("form#signout-form has method %q, want post", m)
	}
	tb.click("button#signout")
	if p := tb.path(); !strings.HasPrefix(p, "/signin") {
		tb.t.Errorf("after signing out the browser is at %s, want /signin", p)
	}
	if tb.signedIn() {
		tb.t.Fatalf("still signed in after signing out\n%s", tb.where())
	}
}

// checkPage checks what every page must have (lang, a title, one main
// landmark, a label for every input) and then runs axe-core on it.
func (tb *tab) checkPage(page string) {
	tb.t.Helper()
	type basics struct {
		Lang, Title string
		Mains       int
		Unlabelled  []string
	}
	got := eval[basics](tb, `(() => ({
		Lang: document.documentElement.lang,
		Title: document.title.trim(),
		Mains: document.querySelectorAll("main").length,
		Unlabelled: [...document.querySelectorAll("input, select, textarea")]
			.filter(e => e.type !== "hidden" && e.labels.length === 0 && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby"))
			.map(e => e.id || e.name || e.outerHTML),
	}))()`)
	if got.Lang != "en" {
		tb.t.Errorf("the %s page (%s): <html lang=%q>, want lang=\"en\"", page, tb.path(), got.Lang)
	}
	if got.Title == "" {
		tb.t.Errorf("the %s page (%s) has no <title>", page, tb.path())
	}
	if got.Mains != 1 {
		tb.t.Errorf("the %s page (%s) has %d <main> elements, want 1", page, tb.path(), got.Mains)
	}
	for _, u := range got.Unlabelled {
		tb.t.Errorf("the %s page (%s): input %s has no label", page, tb.path(), u)
	}
	if tb.signedIn() {
		if !tb.has("#session-countdown") {
			tb.t.Errorf("the signed-in %s page (%s) has no #session-countdown", page, tb.path())
		}
		if !tb.has("#session-warning") || !tb.has("button#stay-signed-in") {
			tb.t.Errorf("the signed-in %s page (%s) lacks #session-warning with button#stay-signed-in", page, tb.path())
		}
	}
	tb.checkA11y(page)
}

// auditRows exports the rig's audit log (smsd audit export) and returns
// its rows as maps from the header's names to the restored values.
func auditRows(t *testing.T, r *rig) []map[string]string {
	t.Helper()
	rows, _ := r.exportRows(fmt.Sprintf("audit-%d.csv", time.Now().UnixNano()))
	var out []map[string]string
	for _, rec := range rows[1:] {
		row := map[string]string{}
		for i, h := range audit.Header {
			v, err := audit.Restore(rec[i])
			if err != nil {
				t.Fatalf("audit row %s: %v", rec[0], err)
			}
			row[h] = v
		}
		out = append(out, row)
	}
	return out
}

// auditHas returns the rows of action whose fields contain every
// key=value of want; it fails the test when there is none.
func auditHas(t *testing.T, rows []map[string]string, action string, want ...string) []map[string]string {
	t.Helper()
	var found []map[string]string
	var all []map[string]string
	for _, row := range rows {
		if row["action"] != action {
			continue
		}
		all = append(all, row)
		ok := true
		for _, kv := range want {
			k, v, _ := strings.Cut(kv, "=")
			if !strings.Contains(row[k], v) {
				ok = false
			}
		}
		if ok {
			found = append(found, row)
		}
	}
	if len(found) == 0 {
		t.Errorf("the audit export has no %s row with %v; its %s rows: %v", action, want, action, all)
	}
	return found
}

// TestBrowserFirstRunSetup: the first visit goes to /setup; a wrong
// one-time code is refused; the code smsd init printed creates the first
// admin and signs them in; then setup is closed.
func TestBrowserFirstRunSetup(t *testing.T) {
	t.Parallel()
	r := webRig(t)
	b := newBrowser(t, r, true)
	tb := b.first

	tb.open("/")
	if p := tb.path(); !strings.HasPrefix(p, "/setup") {
		t.Errorf("the first visit to / of a box without accounts went to %s, want /setup", p)
		tb.open("/setup")
	}
	tb.must("input#setup-code", "the setup page")
	tb.checkPage("setup")
	tb.screenshot("setup")

	// A wrong code: refused, nobody created, not signed in.
	tb.fillSetup("AAAA-BBBB-CCCC-DDDD", adminUser, adminName, adminPass)
	tb.click("button#setup-submit")
	tb.refused("setup with a wrong code")
	tb.checkPage("setup with an error")

	tb.setup(r.setupCode, adminUser, adminName, adminPass)
	if !tb.has(`nav a[href="/accounts"]`) {
		t.Errorf("the admin's home page has no nav link to /accounts\n%s", tb.where())
	}
	tb.checkPage("home")
	tb.screenshot("home")

	// Setup is over: the page no longer offers it, and the code is spent.
	tb.open("/setup")
	if tb.has("input#setup-code") {
		t.Errorf("/setup still offers the setup form after the first admin exists\n%s", tb.where())
	}
	users := r.run("user", "list")
	if !strings.Contains(users, adminUser) {
		t.Errorf("smsd user list does not show the admin made at /setup:\n%s", users)
	}
	// The first admin's creation is audited (as setup or user_create).
	created := false
	for _, row := range auditRows(t, r) {
		if (row["action"] == "setup" || row["action"] == audit.UserCreate) && (row["object_id"] == adminUser || row["actor"] == adminUser) {
			created = true
		}
	}
	if !created {
		t.Errorf("the audit export has no setup or user_create row for %s", adminUser)
	}
}

// TestBrowserSignIn: sign out, a wrong password is refused with an error
// and keeps the browser out, the right one signs in; /account/password
// changes the password (the old one is refused after).
func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	r := webRig(t)
	b := newBrowser(t, r, true)
	tb := b.first
	tb.setup(r.setupCode, adminUser, adminName, adminPass)
	tb.signOut()
	tb.checkPage("signin")
	tb.screenshot("signin")

	tb.signInRefused(adminUser, "not the password at all", "a wrong password")
	if p := tb.path(); !strings.HasPrefix(p, "/signin") {
		t.Errorf("after a wrong password the browser is at %s, want /signin", p)
	}
	tb.checkPage("signin with an error")
	// Kept out: the home page sends the browser back to /signin.
	tb.open("/")
	if p := tb.path(); !strings.HasPrefix(p, "/signin") || tb.signedIn() {
		t.Errorf("after a refused sign-in, / shows %s (signed in: %v), want /signin", p, tb.signedIn())
	}
	if strings.Contains(tb.bodyText(), adminName) {
		t.Errorf("a signed-out page shows the admin's name")
	}

	tb.signInOK(adminUser, adminPass)

	// A second tab shares the session; signing out in one clears the
	// other by itself.
	second := tb.sibling()
	second.open("/accounts")
	if !second.signedIn() {
		t.Fatalf("a second tab of the signed-in browser is not signed in\n%s", second.where())
	}
	tb.signOut()
	second.waitPath("/signin", 60*time.Second)
	if second.signedIn() || second.has("#signed-in-user") {
		t.Errorf("after signing out in one tab the other still shows a signed-in page\n%s", second.where())
	}
	tb.signInOK(adminUser, adminPass)

	// Change the password.
	const newPass = "a brand new passphrase 42"
	tb.open("/account/password")
	tb.must("#old-password", "the password page")
	tb.checkPage("password")
	tb.screenshot("password")
	tb.fill("#old-password", adminPass)
	tb.fill("#new-password", newPass)
	tb.fill("#new-password2", newPass)
	tb.click("button#password-submit")
	if tb.has("#error") && tb.text("#error") != "" {
		t.Fatalf("changing the password: %s\n%s", tb.text("#error"), tb.where())
	}
	if tb.signedIn() {
		tb.signOut()
	}
	tb.signInRefused(adminUser, adminPass, "the old password after a change")
	tb.signInOK(adminUser, newPass)
	tb.signOut()

	rows := auditRows(t, r)
	auditHas(t, rows, audit.LoginFail, "object_id="+adminUser)
	auditHas(t, rows, audit.LoginOK, "actor="+adminUser)
	auditHas(t, rows, audit.Logout, "actor="+adminUser)
	auditHas(t, rows, audit.PasswordChange)
}

// TestBrowserKeyboardOnly: sign in with the keyboard alone: Tab moves the
// focus through the form in order (username, password, button) and Enter
// submits it.
func TestBrowserKeyboardOnly(t *testing.T) {
	t.Parallel()
	r := webRig(t)
	b := newBrowser(t, r, true)
	tb := b.first
	tb.setup(r.setupCode, adminUser, adminName, adminPass)
	tb.signOut()
	tb.open("/signin")

	// Tab from the top of the page until the username field has the focus;
	// a skip link or the CA download may come first, nothing else of the
	// form may.
	var order []string
	for len(order) < 8 {
		tb.keys("\t")
		f := tb.focused()
		order = append(order, f)
		if f == "#username" {
			break
		}
		if f == "#password" || f == "#signin-submit" {
			t.Fatalf("Tab reached %s before #username: focus order %v", f, order)
		}
	}
	if order[len(order)-1] != "#username" {
		t.Fatalf("8 presses of Tab never reached #username: focus order %v\n%s", order, tb.where())
	}
	tb.keys(adminUser)
	tb.keys("\t")
	if f := tb.focused(); f != "#password" {
		t.Fatalf("Tab from #username went to %s, want #password (order so far %v)", f, order)
	}
	tb.keys(adminPass)
	tb.keys("\t")
	if f := tb.focused(); f != "#signin-submit" {
		t.Fatalf("Tab from #password went to %s, want #signin-submit", f)
	}
	if v := eval[string](tb, `document.querySelector("#username").value`); v != adminUser {
		t.Errorf("the keys typed %q into #username, want %q", v, adminUser)
	}
	tb.pressEnter()
	if !tb.signedIn() {
		t.Fatalf("Enter on the sign-in button did not sign in\n%s", tb.where())
	}
	// And the sign-out button is reachable by Tab too.
	found := false
	for range 30 {
		tb.keys("\t")
		if tb.focused() == "#signout" {
			found = true
			break
		}
	}
	if !found {
		t.Errorf("30 presses of Tab on the home page never reached #signout")
	}
}

// addUser adds an account at /accounts (form#user-add).
func (tb *tab) addUser(user, name, role, pass string) {
	tb.t.Helper()
	tb.open("/accounts")
	tb.must("form#user-add", "the accounts page")
	tb.fill("#add-username", user)
	tb.fill("#add-name", name)
	tb.step("choosing the role", chromedp.SetValue(chromedp.CSS("select#add-role"), role))
	tb.fill("#add-password", pass)
	tb.click("button#add-submit")
	if tb.has("#error") && tb.text("#error") != "" {
		tb.t.Fatalf("adding %s: %s", user, tb.text("#error"))
	}
	tb.open("/accounts")
	if !tb.has(fmt.Sprintf(`table#accounts tr[data-username=%q]`, user)) {
		tb.t.Fatalf("after adding %s the accounts table has no row for it\n%s", user, tb.where())
	}
}

// accountAction presses the button of action in user's row at /accounts.
func (tb *tab) accountAction(user, action string) {
	tb.t.Helper()
	tb.open("/accounts")
	sel := fmt.Sprintf(`table#accounts tr[data-username=%q] button[name="action"][value=%q]`, user, action)
	tb.must(sel, "the accounts page")
	tb.click(sel)
	if tb.has("#error") && tb.text("#error") != "" {
		tb.t.Fatalf("%s %s: %s", action, user, tb.text("#error"))
	}
}

// TestBrowserLockout: five wrong passwords lock an account (then the
// right password is refused too, with the same message); an admin unlocks
// it at /accounts and the right password works; the admin ends its
// sessions and its open page clears itself.
func TestBrowserLockout(t *testing.T) {
	t.Parallel()
	r := webRig(t)
	b := newBrowser(t, r, true)
	admin := b.first
	admin.setup(r.setupCode, adminUser, adminName, adminPass)
	const alicePass = "alice's own long password"
	admin.addUser("alice", "Alice Front-Desk", "staff", alicePass)
	admin.checkPage("accounts")
	admin.screenshot("accounts")

	desk := b.newTab() // another PC: cookies of its own
	var first string
	for i := range 5 {
		msg := desk.signInRefused("alice", fmt.Sprintf("wrong password number %d", i), fmt.Sprintf("wrong password %d", i+1))
		if first == "" {
			first = msg
		}
	}
	msg := desk.signInRefused("alice", alicePass, "the right password of a locked account")
	if msg != first {
		t.Errorf("a locked account's error %q differs from a wrong password's %q: the page tells that the account exists and is locked", msg, first)
	}

	admin.accountAction("alice", "unlock")
	desk.signInOK("alice", alicePass)
	// Alice is staff: no accounts link, and /accounts is refused.
	if desk.has(`a[href="/accounts"]`) {
		t.Errorf("a staff account's page links to /accounts")
	}
	if st := desk.open("/accounts"); st != http.StatusForbidden {
		t.Errorf("/accounts for staff answered %d, want 403", st)
	}
	desk.checkPage("refused (403)")
	if st := desk.open("/no-such-page"); st != http.StatusNotFound {
		t.Errorf("/no-such-page answered %d, want 404", st)
	}
	desk.checkPage("not found (404)")

	// An admin ends alice's sessions: her open page clears itself and
	// goes to /signin, with no action at her PC.
	desk.open("/")
	if !desk.signedIn() {
		t.Fatalf("alice's home page is not signed in\n%s", desk.where())
	}
	admin.accountAction("alice", "end_sessions")
	desk.waitPath("/signin", 60*time.Second)
	if desk.signedIn() || desk.has("#signed-in-user") {
		t.Errorf("after an admin ended alice's sessions her page still shows a signed-in page\n%s", desk.where())
	}

	rows := auditRows(t, r)
	auditHas(t, rows, audit.Lockout, "object_id=alice")
	if n := len(auditHas(t, rows, audit.LoginFail, "object_id=alice")); n < 5 {
		t.Errorf("%d login_fail rows for alice, want 5 or more", n)
	}
	auditHas(t, rows, audit.LoginOK, "actor=alice")
}

// totpCode computes the TOTP code of secret at time at.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatalf("computing a TOTP code from the secret the page showed (%q): %v", secret, err)
	}
	return code
}

// enrolTOTP enrols a second factor at /account/totp (the tab must be
// signed in or at the enrolment stage) and returns the secret, the
// 30-second step of the code it used and the recovery codes.
func (tb *tab) enrolTOTP(check bool) (secret string, step int64, recovery []string) {
	tb.t.Helper()
	if !strings.HasPrefix(tb.path(), "/account/totp") {
		tb.open("/account/totp")
	}
	tb.must("img#totp-qr", "the TOTP enrolment page")
	if check {
		tb.checkPage("enrol")
		tb.screenshot("enrol")
	}
	if w := eval[int](tb, `document.querySelector("img#totp-qr").naturalWidth`); w == 0 {
		tb.t.Errorf("the QR code image did not load")
	}
	secret = strings.ReplaceAll(tb.text("#totp-secret"), " ", "")
	now := time.Now()
	tb.fill("input#code", totpCode(tb.t, secret, now))
	tb.click("button#totp-confirm")
	tb.must("ul#recovery-codes", "after confirming the first TOTP code")
	recovery = eval[[]string](tb, `[...document.querySelectorAll("ul#recovery-codes li")].map(li => li.innerText.trim())`)
	if len(recovery) < 2 {
		tb.t.Fatalf("%d recovery codes, want several\n%s", len(recovery), tb.where())
	}
	tb.must("a#continue", "the recovery codes page")
	if check {
		tb.checkPage("recovery codes")
	}
	tb.click("a#continue")
	return secret, now.Unix() / 30, recovery
}

// TestBrowserTOTP: enrol at /account/totp (the code computed from the
// secret the page shows), sign out, sign in with a computed code at
// /signin/totp; a wrong code is refused; a recovery code works once.
func TestBrowserTOTP(t *testing.T) {
	t.Parallel()
	r := webRig(t)
	b := newBrowser(t, r, true)
	tb := b.first
	tb.setup(r.setupCode, adminUser, adminName, adminPass)
	secret, enrolStep, recovery := tb.enrolTOTP(true)
	if !tb.signedIn() {
		t.Fatalf("after enrolling the browser is not signed in\n%s", tb.where())
	}
	tb.signOut()

	// The password alone is not enough now.
	toTOTP := func() {
		t.Helper()
		tb.signIn(adminUser, adminPass)
		if p := tb.path(); !strings.HasPrefix(p, "/signin/totp") {
			t.Fatalf("after the password of an account with TOTP the browser is at %s, want /signin/totp\n%s", p, tb.where())
		}
		if tb.signedIn() {
			t.Fatalf("signed in with the password alone")
		}
		tb.must("input#code", "the TOTP page")
	}
	code := func(c string) {
		t.Helper()
		if !strings.HasPrefix(tb.path(), "/signin/totp") {
			toTOTP()
		}
		tb.fill("input#code", c)
		tb.click("button#totp-submit")
	}
	toTOTP()
	tb.checkPage("totp")
	tb.screenshot("totp")

	// A wrong code: one that is none of the codes around now.
	var near []string
	for d := -3; d <= 3; d++ {
		near = append(near, totpCode(t, secret, time.Now().Add(time.Duration(d)*30*time.Second)))
	}
	wrong := "000000"
	for i := 1; slices.Contains(near, wrong); i++ {
		wrong = strings.Repeat(fmt.Sprint(i), 6)
	}
	code(wrong)
	tb.refused("a wrong TOTP code")
	tb.checkPage("totp with an error")

	// A recovery code works once.
	code(recovery[0])
	if !tb.signedIn() {
		t.Fatalf("the first recovery code did not sign in\n%s", tb.where())
	}
	tb.signOut()
	code(recovery[0])
	tb.refused("a recovery code used a second time")
	code(recovery[1])
	if !tb.signedIn() {
		t.Fatalf("the second recovery code did not sign in\n%s", tb.where())
	}
	tb.signOut()

	// A code computed now. The enrolment's own code may count as used:
	// wait for the next 30-second step (a wait, not a measure).
	for time.Now().Unix()/30 <= enrolStep {
		time.Sleep(time.Until(time.Unix((enrolStep+1)*30, 0)) + 200*time.Millisecond)
	}
	used := totpCode(t, secret, time.Now())
	code(used)
	if !tb.signedIn() {
		t.Fatalf("a TOTP code computed from the secret did not sign in\n%s", tb.where())
	}
	// The same code a second time is refused (a code is never accepted
	// twice; once its step has passed it is refused anyway).
	tb.signOut()
	code(used)
	tb.refused("a TOTP code used a second time")

	rows := auditRows(t, r)
	auditHas(t, rows, audit.TOTPEnrol, "actor="+adminUser)
	auditHas(t, rows, audit.LoginOK, "actor="+adminUser)
}

// TestBrowserIdleTimeout: with -idle-timeout 10s an untouched page goes
// back to /signin by itself, nothing of the signed-in page stays on
// screen, and Back does not show it again.
func TestBrowserIdleTimeout(t *testing.T) {
	t.Parallel()
	// 10 s: short enough to wait for, long enough that the steps before
	// the wait never run into it on a busy machine.
	r := webRig(t, "-idle-timeout", "10s")
	b := newBrowser(t, r, true)
	tb := b.first
	tb.setup(r.setupCode, adminUser, adminName, adminPass)
	// The signed-in page must not stay in the browser's cache.
	resp := tb.openResponse(tb.b.base + "/")
	if cc := header(resp, "Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("the home page's Cache-Control is %q, want no-store (it holds PHI)", cc)
	}
	if !tb.signedIn() {
		t.Fatalf("right after setup the home page is not signed in\n%s", tb.where())
	}
	home := tb.text("main")
	who := tb.text("#signed-in-user")
	if home == "" {
		t.Fatalf("the home page shows nothing in <main>\n%s", tb.where())
	}
	if !tb.has("#session-countdown") {
		t.Errorf("the home page has no #session-countdown")
	}
	// Less than a minute is left from the start: the warning shows, with
	// its button, before the page signs out. Watch the page until it
	// leaves by itself.
	warned, stayFocused := false, false
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if strings.HasPrefix(tb.path(), "/signin") {
			break
		}
		if !warned && tb.visible("#session-warning") {
			warned = true
			stayFocused = tb.focused() == "#stay-signed-in"
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !warned {
		t.Errorf("#session-warning never showed in the last minute of the session")
	} else if !stayFocused {
		t.Logf("the warning showed without the focus on #stay-signed-in")
	}
	tb.waitPath("/signin", 60*time.Second)
	gone := func(when string) {
		t.Helper()
		body := tb.bodyText()
		if tb.signedIn() {
			t.Errorf("%s: the page is still a signed-in page\n%s", when, tb.where())
		}
		if strings.Contains(body, adminName) || tb.has("#signed-in-user") || (who != "" && strings.Contains(body, "Signed in as "+who)) {
			t.Errorf("%s: the screen still shows who was signed in", when)
		}
		if home != "" && strings.Contains(body, home) {
			t.Errorf("%s: the screen still shows the home page's content", when)
		}
	}
	gone("after the idle timeout")
	if p := tb.path(); !strings.Contains(p, "ended=1") {
		t.Errorf("the sign-in page after the timeout is %s, want /signin?ended=1 (it says why)", p)
	} else if tb.text("#notice") == "" {
		t.Errorf("/signin?ended=1 shows no #notice saying the session ended\n%s", tb.where())
	}
	tb.checkPage("signin after the session ended")

	// Back: the browser must not show the signed-in page from its cache.
	tb.step("going back", chromedp.NavigateBack())
	if p := tb.path(); !strings.HasPrefix(p, "/signin") {
		t.Logf("Back went to %s", p)
	}
	gone("after Back")

	auditHas(t, auditRows(t, r), audit.AutoLogout, "actor="+adminUser)
}

// crossSite serves pages of another site (127.0.0.2, a different origin
// and site than the box's 127.0.0.1) with forms that post to the box by
// themselves, from a script file of their own (no inline script).
func crossSite(t *testing.T, b *browser, forms map[string]string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address for the other site: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/auto.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprint(w, `document.forms[0].submit();`)
	})
	for path, form := range forms {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><html lang="en"><head><title>Win a prize</title></head><body><main>%s<script src="/auto.js"></script></main></body></html>`, form)
		})
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	b.allowOrigin(srv.URL)
	return srv.URL
}

// waitPost waits for the browser's POST to the URL u and returns its
// answer's status.
func (b *browser) waitPost(u string) int64 {
	b.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		for _, h := range b.requests() {
			if h.method == "POST" && h.url == u && h.status != 0 {
				return h.status
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("the other site's form never posted to %s (requests: %v)", u, b.requests())
	return 0
}

// TestBrowserCrossSite: a page of another site that posts the box's own
// forms (disable an account, sign out) by itself, in the admin's signed-in
// browser: the box answers 403 and nothing changes.
func TestBrowserCrossSite(t *testing.T) {
	t.Parallel()
	r := webRig(t)
	b := newBrowser(t, r, false)
	admin := b.first
	admin.setup(r.setupCode, adminUser, adminName, adminPass)
	admin.addUser("alice", "Alice Front-Desk", "staff", "alice's own long password")

	// The other site posts exactly the fields of the box's own form.
	admin.open("/accounts")
	sel := `table#accounts tr[data-username="alice"] button[name="action"][value="disable"]`
	admin.must(sel, "the accounts page")
	type field struct{ Name, Value string }
	type form struct {
		Action string
		Fields []field
	}
	// (form.action would be the button named "action": read the attribute.)
	f := eval[form](admin, fmt.Sprintf(`(() => { const b = document.querySelector(%q);
		return {Action: new URL(b.form.getAttribute("action"), location.href).href, Fields: [...new FormData(b.form)].map(([k, v]) => ({Name: k, Value: String(v)})).concat([{Name: b.name, Value: b.value}])}; })()`, sel))
	if !strings.HasPrefix(f.Action, b.base+"/") {
		t.Fatalf("alice's disable form posts to %q, not to the box", f.Action)
	}
	var inputs strings.Builder
	for _, fl := range f.Fields {
		fmt.Fprintf(&inputs, `<input type="hidden" name="%s" value="%s">`, html.EscapeString(fl.Name), html.EscapeString(fl.Value))
	}
	other := crossSite(t, b, map[string]string{
		"/disable": fmt.Sprintf(`<form method="post" action="%s">%s</form>`, html.EscapeString(f.Action), inputs.String()),
		"/signout": fmt.Sprintf(`<form method="post" action="%s/signout"></form>`, b.base),
		// Login CSRF: sign the admin's browser in as someone else.
		"/signin": fmt.Sprintf(`<form method="post" action="%s/signin"><input type="hidden" name="username" value="alice"><input type="hidden" name="password" value="alice's own long password"></form>`, b.base),
	})

	admin.openURL(other + "/disable")
	if st := b.waitPost(f.Action); st != http.StatusForbidden {
		t.Errorf("a cross-site POST to %s (disable alice) answered %d, want 403", f.Action, st)
	}
	admin.openURL(other + "/signout")
	if st := b.waitPost(b.base + "/signout"); st != http.StatusForbidden {
		t.Errorf("a cross-site POST to /signout answered %d, want 403", st)
	}

	admin.openURL(other + "/signin")
	if st := b.waitPost(b.base + "/signin"); st != http.StatusForbidden {
		t.Errorf("a cross-site POST to /signin answered %d, want 403", st)
	}

	// Nothing changed: still signed in as the admin, alice still enabled.
	admin.open("/accounts")
	if !admin.signedIn() {
		t.Errorf("the cross-site POSTs signed the admin out")
	} else if who := admin.text("#signed-in-user"); who != adminUser {
		t.Errorf("after the cross-site POSTs the browser is signed in as %q, want %q", who, adminUser)
	}
	if !admin.has(sel) {
		t.Errorf("after the cross-site POST alice's row has no disable button any more (disabled?)\n%s", admin.where())
	}
	users := r.run("user", "list")
	for _, line := range strings.Split(users, "\n") {
		if strings.Contains(line, "alice") && strings.Contains(line, "disabled") {
			t.Errorf("smsd user list shows alice disabled after a cross-site POST: %s", line)
		}
	}
	rows := auditRows(t, r)
	for _, row := range rows {
		if row["action"] == audit.UserDisable || (row["action"] == audit.Logout && row["actor"] == adminUser) || row["actor"] == "alice" {
			t.Errorf("the cross-site POST made an audit row: %v", row)
		}
	}
	// The POSTs came from the other site, as the requests show.
	seen := 0
	for _, h := range b.requests() {
		if strings.HasPrefix(h.url, other) {
			seen++
		}
	}
	if seen == 0 {
		t.Errorf("the browser never loaded the other site's page")
	}
}

// TestBrowserBreakGlass: an admin enables the break-glass account at
// /accounts and reads its password once; signed in with it, every page
// shows #breakglass-banner; the audit export has a breakglass_use row.
func TestBrowserBreakGlass(t *testing.T) {
	t.Parallel()
	r := webRig(t)
	b := newBrowser(t, r, true)
	admin := b.first
	admin.setup(r.setupCode, adminUser, adminName, adminPass)
	if admin.has("#breakglass-banner") {
		t.Errorf("an ordinary admin's page shows #breakglass-banner")
	}
	pass := admin.enableBreakGlass()
	admin.open("/accounts")
	if strings.Contains(admin.bodyText(), pass) {
		t.Errorf("the break-glass password is still shown on /accounts after the page that gave it")
	}

	glass := b.newTab()
	glass.signInOK("breakglass", pass)
	for _, page := range []string{"/", "/accounts", "/account/password"} {
		glass.open(page)
		if !glass.signedIn() {
			t.Errorf("break-glass session: %s is not a signed-in page\n%s", page, glass.where())
			continue
		}
		if !glass.visible("#breakglass-banner") {
			t.Errorf("break-glass session: %s has no visible #breakglass-banner\n%s", page, glass.where())
		}
		if page == "/" {
			glass.checkPage("home, break-glass")
			glass.screenshot("breakglass")
		}
	}
	auditHas(t, auditRows(t, r), audit.BreakGlassUse, "actor=breakglass")

	// Disabled again after the emergency: its open page signs out by
	// itself, and its password no longer works.
	glass.open("/")
	admin.open("/accounts")
	admin.must("button#breakglass-disable", "the accounts page with break-glass enabled")
	admin.click("button#breakglass-disable")
	glass.waitPath("/signin", 60*time.Second)
	glass.signInRefused("breakglass", pass, "the break-glass password after disabling it")
}

// enableBreakGlass presses #breakglass-enable at /accounts and returns
// the password the page shows once.
func (tb *tab) enableBreakGlass() string {
	tb.t.Helper()
	tb.open("/accounts")
	tb.must("button#breakglass-enable", "the accounts page")
	tb.click("button#breakglass-enable")
	pass := tb.text("#breakglass-password")
	if len(pass) < 12 {
		tb.t.Fatalf("#breakglass-password shows %q, want the new password (12 characters or more)\n%s", pass, tb.where())
	}
	return pass
}

// TestBrowserLockedMode: a passphrase store: the browser sees #locked
// until /unlock gets the passphrase; then setup and sign-in work.
func TestBrowserLockedMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	emu, err := emulator.Start(emulator.Config{Link: filepath.Join(dir, "tty")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	r := &rig{t: t, dir: dir, data: filepath.Join(dir, "data"), conf: filepath.Join(dir, "smsd.toml"), emu: emu}
	os.WriteFile(r.conf, []byte(fmt.Sprintf("modem = %q\nrate_limit = \"0s\"\nkey_source = \"passphrase\"\n", emu.Path())), 0o600)
	const passphrase = "correct horse battery"
	out, code := r.cmdStdin(passphrase+"\n", "init", "-passphrase")
	if code != 0 {
		t.Fatalf("init -passphrase: %d %s", code, out)
	}
	t.Cleanup(func() { r.stop() })
	r.start()

	b := newBrowser(t, r, true)
	tb := b.first
	for _, page := range []string{"/", "/signin", "/setup"} {
		tb.open(page)
		if !tb.has("#locked") {
			t.Errorf("%s of a locked box does not show #locked\n%s", page, tb.where())
		}
		if tb.has("input#password") || tb.has("input#setup-code") {
			t.Errorf("%s of a locked box offers a sign-in or setup form", page)
		}
	}
	tb.open("/")
	tb.checkPage("locked")
	tb.screenshot("locked")

	tb.open("/unlock")
	tb.must("input#passphrase", "the unlock page")
	tb.checkPage("unlock")
	tb.screenshot("unlock")
	tb.fill("input#passphrase", "not the passphrase")
	tb.click("button#unlock-submit")
	if msg := tb.text("#error"); msg == "" {
		t.Errorf("a wrong passphrase shows no #error\n%s", tb.where())
	}
	if !strings.Contains(r.statusText(), "LOCKED") {
		t.Errorf("a wrong passphrase at /unlock unlocked the store")
	}
	tb.checkPage("unlock with an error")
	tb.open("/unlock")
	tb.fill("input#passphrase", passphrase)
	tb.click("button#unlock-submit")
	r.waitFor("the store unlocked", 20*time.Second, func() bool { return !strings.Contains(r.statusText(), "LOCKED") })
	tb.open("/")
	if tb.has("#locked") {
		t.Errorf("after unlocking, / still shows #locked\n%s", tb.where())
	}
	// The setup code is sealed in the locked store: smsd serve logs it
	// once the store is open.
	tb.setup(r.loggedSetupCode(), adminUser, adminName, adminPass)
	tb.signOut()
	tb.signInOK(adminUser, adminPass)
	auditHas(t, auditRows(t, r), audit.Unlock)
}

// loggedSetupCodeRe finds the setup code in the daemon's log.
var loggedSetupCodeRe = regexp.MustCompile(`setup_code=(\S+)`)

// loggedSetupCode waits for the daemon to log the first-run setup code (a
// passphrase store's: smsd init cannot read it) and returns it.
func (r *rig) loggedSetupCode() string {
	r.t.Helper()
	var code string
	r.waitFor("the setup code in the daemon's log", 20*time.Second, func() bool {
		if m := loggedSetupCodeRe.FindStringSubmatch(r.logs.String()); m != nil {
			code = strings.Trim(m[1], `"`)
		}
		return code != ""
	})
	return code
}

// TestBrowserTLS: on every address (not only loopback) the web UI serves
// HTTPS with a certificate from the box's local CA. A browser that trusts
// that certificate signs in: the session cookie is __Host-, Secure,
// HttpOnly and SameSite=Strict (a real browser accepts it, or sign-in
// would go round in circles), the sign-in page offers the CA
// (a#ca-download) and /ca.pem is the data directory's ca.pem.
func TestBrowserTLS(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	if r.setupCode == "" {
		t.Fatalf("smsd init printed no setup code")
	}
	_, port, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	r.listen = ":" + port // every address: HTTPS
	r.start()
	b := newBrowser(t, r, true)
	tb := b.first
	if !strings.HasPrefix(b.base, "https://") {
		t.Fatalf("base %s", b.base)
	}

	tb.setup(r.setupCode, adminUser, adminName, adminPass)
	tb.signOut()
	tb.open("/signin")
	tb.must("a#ca-download", "the sign-in page under TLS")
	tb.checkPage("signin over HTTPS")
	href := eval[string](tb, `document.querySelector("a#ca-download").getAttribute("href")`)
	caPage := eval[string](tb, fmt.Sprintf(`fetch(%q).then(r => r.text())`, href), chromedp.EvalAwaitPromise)
	caFile, err := os.ReadFile(filepath.Join(r.data, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(caPage) != strings.TrimSpace(string(caFile)) {
		t.Errorf("a#ca-download (%s) does not give the data directory's ca.pem:\n%s", href, caPage)
	}

	tb.signInOK(adminUser, adminPass)
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range res.Cookies {
		names = append(names, c.Name)
		if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" {
			t.Errorf("cookie %s: secure %v, httpOnly %v, sameSite %q, path %q; want a __Host- name, Secure, HttpOnly, SameSite=Strict, Path=/", c.Name, c.Secure, c.HTTPOnly, c.SameSite, c.Path)
		}
	}
	if len(names) == 0 {
		t.Errorf("signed in over HTTPS, the browser holds no cookie for the box")
	}
	if dc := eval[string](tb, `document.cookie`); dc != "" {
		t.Errorf("the page's script sees cookies %q (the session cookie must be HttpOnly)", dc)
	}
	resp := tb.openResponse(b.base + "/")
	if hsts := header(resp, "Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("the home page over HTTPS has Strict-Transport-Security %q", hsts)
	}
	if resp.SecurityState != "" && resp.SecurityState != "secure" {
		t.Logf("chromium's security state of the page: %s", resp.SecurityState)
	}
	tb.checkPage("home over HTTPS")
}

// header is a response header's value, whatever the case of its name
// (HTTP/2 sends names in lower case); "" when there is none.
func header(resp *network.Response, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// TestBrowserAccountStages: what an admin's account actions make of the
// next sign-in: a reset password must be replaced first (/account/password
// as a stage), a required second factor enrolled first (/account/totp as a
// stage); a disabled account's open page signs out by itself and its
// password is refused; enabled again it signs in (to its second factor);
// the policy "second factor for everyone" makes a new account enrol first.
func TestBrowserAccountStages(t *testing.T) {
	t.Parallel()
	r := webRig(t)
	b := newBrowser(t, r, true)
	admin := b.first
	admin.setup(r.setupCode, adminUser, adminName, adminPass)
	admin.addUser("alice", "Alice Front-Desk", "staff", "alice's first long password")

	// A reset password: the next sign-in must choose a new one.
	const temp, own = "a temporary password 7", "alice's own new password"
	admin.open("/accounts")
	admin.fill("#password-alice", temp)
	admin.click(`table#accounts tr[data-username="alice"] button[name="action"][value="reset_password"]`)
	if msg := admin.text("#error"); msg != "" {
		t.Fatalf("resetting alice's password: %s", msg)
	}
	desk := b.newTab()
	desk.signIn("alice", temp)
	if p := desk.path(); !strings.HasPrefix(p, "/account/password") || desk.signedIn() {
		t.Fatalf("a sign-in after a password reset went to %s (signed in: %v), want the password page first\n%s", p, desk.signedIn(), desk.where())
	}
	desk.checkPage("password, required")
	desk.open("/")
	if p := desk.path(); !strings.HasPrefix(p, "/account/password") {
		t.Errorf("with a password to choose, / went to %s, want /account/password", p)
	}
	desk.fill("#old-password", temp)
	desk.fill("#new-password", own)
	desk.fill("#new-password2", own)
	desk.click("button#password-submit")
	if !desk.signedIn() {
		t.Fatalf("after choosing a new password alice is not signed in\n%s", desk.where())
	}
	desk.signOut()

	// A required second factor: enrol before anything else.
	admin.accountAction("alice", "require_totp")
	desk.signIn("alice", own)
	if p := desk.path(); !strings.HasPrefix(p, "/account/totp") || desk.signedIn() {
		t.Fatalf("a sign-in with a second factor required went to %s (signed in: %v), want the enrolment first\n%s", p, desk.signedIn(), desk.where())
	}
	desk.checkPage("enrol, required")
	desk.enrolTOTP(false)
	if !desk.signedIn() {
		t.Fatalf("after enrolling alice is not signed in\n%s", desk.where())
	}

	// Disabled: her open page signs out by itself; the password is refused.
	desk.open("/")
	admin.accountAction("alice", "disable")
	desk.waitPath("/signin", 60*time.Second)
	desk.signInRefused("alice", own, "a disabled account")
	admin.accountAction("alice", "enable")
	desk.signIn("alice", own)
	if p := desk.path(); !strings.HasPrefix(p, "/signin/totp") {
		t.Errorf("enabled again, alice's password led to %s, want /signin/totp\n%s", p, desk.where())
	}

	// The policy: a second factor for everyone; a new account enrols at
	// its first sign-in.
	admin.open("/accounts")
	admin.must("form#policy input#require-totp", "the accounts page's policy form")
	if !eval[bool](admin, `document.querySelector("#require-totp").checked`) {
		admin.step("ticking require-totp", chromedp.Click(chromedp.CSS("#require-totp"), chromedp.NodeVisible))
	}
	admin.click("button#policy-submit")
	if msg := admin.text("#error"); msg != "" {
		t.Fatalf("setting the policy: %s", msg)
	}
	admin.open("/accounts")
	if !eval[bool](admin, `document.querySelector("#require-totp").checked`) {
		t.Errorf("after setting the policy #require-totp is not ticked")
	}
	admin.addUser("bob", "Bob Back-Office", "staff", "bob's own long password")
	bob := b.newTab()
	bob.signIn("bob", "bob's own long password")
	if p := bob.path(); !strings.HasPrefix(p, "/account/totp") || bob.signedIn() {
		t.Errorf("with a second factor required of everyone a new account's sign-in went to %s (signed in: %v), want the enrolment first", p, bob.signedIn())
	}

	rows := auditRows(t, r)
	auditHas(t, rows, audit.PasswordChange, "actor=alice")
	auditHas(t, rows, audit.TOTPEnrol, "actor=alice")
	auditHas(t, rows, audit.UserDisable, "object_id=alice")
	auditHas(t, rows, audit.UserEnable, "object_id=alice")
}
