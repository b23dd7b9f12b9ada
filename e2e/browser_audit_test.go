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
var webActions = []string{audit.LoginOK, audit.LoginFail, audit.Lockout, audit.Logout, audit.AutoLogout, audit.TOTPEnrol, audit.BreakGlassUse}

// webAuditWalk takes, in a real browser through the rig's web UI, the
// actions of a day at the front desk: the first-run setup, an account
// added, the break-glass account enabled, five wrong passwords (a
// lockout) and an admin's unlock, a sign-in, a TOTP enrolment, a
// sign-out, a break-glass sign-in, and that session left idle until the
// page signs out by itself. The rig's daemon must run with a short
// -idle-timeout (a few seconds). It returns false, having taken none, when
// chromium is missing and real parts are not required.
func webAuditWalk(t *testing.T, r *rig) bool {
	t.Helper()
	if !webWired {
		return false // TEMPORARY until smsd serve has -listen
	}
	if _, err := exec.LookPath("chromium"); err != nil && !testutil.RealPartsRequired() {
		t.Logf("chromium not installed (make deps installs it): the web UI's actions %v are not taken", webActions)
		return false
	}
	if r.setupCode == "" {
		t.Fatalf("smsd init printed no setup code: the web walk needs it")
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
	// The admin's session may have run out meanwhile (the idle timeout is
	// short): sign in again if so.
	tb.open("/accounts")
	if !tb.signedIn() {
		tb.signInOK(admin, adminPass)
	}
	tb.accountAction(staff, "unlock")

	desk.signInOK(staff, staffPass)
	desk.enrolTOTP(false)
	desk.signOut()

	glass := b.newTab()
	glass.signInOK("breakglass", glassPass)
	glass.waitPath("/signin", 60*time.Second)
	return true
}
