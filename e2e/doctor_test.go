package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/audit"
)

// doctorActions are audited by TestDoctor rather than by
// TestEveryActionAudited: they need a tampered store.
var doctorActions = []string{audit.IntegrityCheck, audit.QuarantineDismiss, audit.DigestAccept}

// TestDoctor: after someone with SQL on the file garbles a queued message
// and deletes an opt-out, smsd doctor names both (exit 1), the admin
// dismisses the quarantined message and accepts the opt-out table after
// review, doctor is then clean, sending goes on, and each step is audited.
func TestDoctor(t *testing.T) {
	r := newRig(t)
	r.run("send", "-to", "+15551230001", "-text", "tampered")
	r.run("send", "-to", "+15551230002", "-text", "the other one")
	r.run("optouts", "add", "+15551230003")
	if out := r.run("doctor"); !strings.Contains(out, "store integrity OK") {
		t.Fatalf("doctor on an untouched store: %s", out)
	}
	db := filepath.Join(r.data, "smsd.db")
	sqlDo(t, db, "UPDATE messages SET text_sealed = randomblob(60) WHERE id = 1")
	r.start()
	r.waitFor("the untouched message sent", 20*time.Second, func() bool { return sent(r, "the other one") })
	r.waitFor("message 1 quarantined", 20*time.Second, func() bool { return strings.Contains(r.statusText(), "quarantined") })
	// Then the opt-out list loses a row: nothing is queued or sent until
	// an admin has looked (fail closed).
	r.stop()
	sqlDo(t, db, "DELETE FROM optouts")
	r.start()
	if _, _, code := r.cmd("send", "-to", "+15551230003", "-text", "to the opted-out patient"); code == 0 {
		t.Fatal("a send to the patient whose opt-out was deleted was queued")
	}

	out, errs, code := r.cmd("doctor", "check", "-json")
	var rep struct {
		OK       bool `json:"ok"`
		Problems []struct {
			Table       string `json:"table"`
			ID          int64  `json:"id"`
			Quarantined bool   `json:"quarantined"`
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.OK {
		t.Fatalf("doctor after tampering: exit %d, %v\n%s%s", code, err, out, errs)
	}
	var quarantined, optoutTable bool
	for _, p := range rep.Problems {
		quarantined = quarantined || (p.Table == "messages" && p.ID == 1 && p.Quarantined)
		optoutTable = optoutTable || (p.Table == "optouts" && p.ID == 0)
	}
	if !quarantined || !optoutTable {
		t.Fatalf("doctor did not name message 1 (quarantined) and the opt-out table: %s", out)
	}
	if strings.Contains(out, "tampered") || strings.Contains(out, "+15551230001") {
		t.Errorf("doctor shows content: %s", out)
	}
	if _, errs, code := r.cmd("doctor", "dismiss", "2"); code != 1 || !strings.Contains(errs, "not quarantined") {
		t.Errorf("dismiss of a sound message: exit %d %s", code, errs)
	}
	r.run("doctor", "dismiss", "1")
	r.run("doctor", "accept", "optouts")
	if out, errs, code := r.cmd("doctor"); code != 0 || !strings.Contains(out, "store integrity OK") {
		t.Fatalf("doctor after dismiss and accept: exit %d\n%s%s", code, out, errs)
	}
	r.run("send", "-to", "+15551230004", "-text", "after the doctor")
	r.waitFor("sending goes on", 20*time.Second, func() bool { return sent(r, "after the doctor") })
	// The deleted opt-out is gone from the table the admin accepted; the
	// audit trail still shows it (optout_add, masked), so the admin adds
	// it back, and the patient is safe again.
	rows, _ := r.exportRows("optouts.csv")
	found := false
	for _, rec := range rows[1:] {
		obj, _ := audit.Restore(rec[7]) // "+1..." is neutralised as "'+1..."
		found = found || (rec[5] == audit.OptOutAdd && obj == "+1******0003")
	}
	if !found {
		t.Fatal("the audit trail does not show the opt-out that the attacker deleted")
	}
	r.run("optouts", "add", "+15551230003")
	if _, _, code := r.cmd("send", "-to", "+15551230003", "-text", "x"); code == 0 {
		t.Error("a send to the re-added opt-out was queued")
	}
	rows, _ = r.exportRows("doctor.csv")
	me := "unix:" + currentUser(t)
	got := map[string]bool{}
	for _, rec := range rows[1:] {
		if rec[2] == me && rec[8] == audit.OK {
			got[rec[5]] = true
		}
	}
	for _, a := range doctorActions {
		if !got[a] {
			t.Errorf("no %s row by %s", a, me)
		}
	}
}

// sent reports whether the handset got a message with text.
func sent(r *rig, text string) bool {
	for _, m := range r.emu.Handset() {
		if m.Text == text {
			return true
		}
	}
	return false
}
