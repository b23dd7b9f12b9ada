package e2e

import (
	"os/exec"
	"testing"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/internal/testutil"
)

// webActions are the audit actions only the web UI takes; webAuditWalk
// takes them for TestEveryActionAudited.
var webActions = []string{audit.LoginOK, audit.LoginFail, audit.Lockout, audit.Logout, audit.AutoLogout, audit.TOTPEnrol, audit.BreakGlassUse,
	audit.Setup, audit.UserUnlock, audit.SessionEnd, audit.TOTPRequire, audit.TOTPReset, audit.InboxView, audit.InboxHandle}

// webAuditWalk takes, in a real browser through the rig's web UI, the
// actions of a day at the front desk: the first-run setup, an account
// added, the break-glass account enabled, five wrong passwords (a
// lockout) and an admin's unlock, a sign-in and a TOTP enrolment, the
// admin ending that session, resetting the second factor and requiring
// one, a reply read in the inbox and marked handled, a sign-out, a break-glass sign-in, and that session left idle
// until the page signs out by itself. No account may exist yet, and the
// rig's daemon must run with a short -idle-timeout (a few seconds). It
// returns false, having taken none, when chromium is missing and real
// parts are not required.
func webAuditWalk(t *testing.T, r *rig) bool {
	t.Helper()
	if _, err := exec.LookPath("chromium"); err != nil && !testutil.RealPartsRequired() {
		t.Logf("chromium not installed (make deps installs it): the web UI's actions %v are not taken", webActions)
		return false
	}
	if r.setupCode == "" {
		r.setupCode = r.loggedSetupCode() // a passphrase store's, logged once unlocked
	}
	const (
		admin, adminPass = "wendy", "wendy's long enough password"
		staff, staffPass = "lou", "lou's long enough password"
	)
	b := newBrowser(t, r, false)
	tb := b.first
	tb.setup(r.setupCode, admin, "Wendy Web", adminPass)
	tb.addUser(staff, "Lou Desk", "staff", staffPass)
	glassPass := tb.enableBreakGlass()

	desk := b.newTab()
	for range 5 {
		desk.signInRefused(staff, "not lou's password", "a wrong password")
	}
	// The admin's session may run out between two steps (the idle
	// timeout is short): sign in again if so.
	adminDo := func(action string) {
		t.Helper()
		tb.open("/accounts")
		if !tb.signedIn() {
			tb.signInOK(admin, adminPass)
		}
		tb.accountAction(staff, action)
	}
	adminDo("unlock")

	desk.signInOK(staff, staffPass)
	desk.enrolTOTP(false)
	adminDo("end_sessions")
	adminDo("reset_totp")
	adminDo("require_totp")
	desk.open("/")
	if desk.signedIn() {
		t.Errorf("the admin ended %s's sessions, but its page is still signed in", staff)
	}
	tb.open("/")
	if !tb.signedIn() {
		tb.signInOK(admin, adminPass)
	}
	// A patient's reply, read on the inbox page and marked handled.
	r.emu.Inject("+15551239876", "C")
	tb.open("/inbox")
	if !tb.signedIn() {
		tb.signInOK(admin, adminPass)
		tb.open("/inbox")
	}
	tb.waitFor(`document.querySelector('button[name="action"][value="handled"]') !== null`, "the reply in the inbox", 60*time.Second)
	tb.click(`button[name="action"][value="handled"]`)
	tb.signOut()

	glass := b.newTab()
	glass.signInOK("breakglass", glassPass)
	glass.waitPath("/signin", 60*time.Second)
	return true
}
