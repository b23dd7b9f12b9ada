package dispatch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/modem/pdu"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/quiet"
)

// Test numbers: 555-01xx is the fictional range.
const (
	alice = "+12025550100"
	bob   = "+12025550101"
	carol = "+12025550102"
	dave  = "+12025550123"
)

// mixedTexts covers both encodings, escapes, part boundaries and a
// surrogate pair that straddles a UCS-2 part boundary.
func mixedTexts() []string {
	long7 := strings.Repeat("Reminder: your appointment is tomorrow at 10:00. ", 8) // ~400 chars, 3 parts
	exact160 := strings.Repeat("x", 150) + "appointmen"                             // 160 septets, 1 part
	just161 := exact160 + "t"                                                       // 161 septets, 2 parts
	esc := "Reminder {ref} [A] costs €5 ~ ^ | \\ bring your card"                   // GSM-7 with escapes
	ucs2 := "Erinnerung: Termin morgen 10 Uhr 😀 bitte bestätigen"                   // emoji → UCS-2
	cjk := strings.Repeat("预约提醒明天上午十点", 10)                                         // 100 UTF-16 units, 2 parts
	straddle := strings.Repeat("я", 66) + "😀" + strings.Repeat("я", 10)             // emoji on units 67-68
	cyr := "Напоминание: приём завтра в 10:00"
	return []string{"Reminder: appointment tomorrow 10:00", long7, exact160, just161, esc, ucs2, cjk, straddle, cyr}
}

func TestSendMixedEncodingsExactlyOnce(t *testing.T) {
	r := newRig(t)
	texts := mixedTexts()
	nums := []string{alice, bob, carol, dave}
	var want []sent
	var ids []int64
	for i, text := range texts {
		to := nums[i%len(nums)]
		ids = append(ids, r.enqueue(to, text).ID)
		want = append(want, sent{to, text})
	}
	r.start()
	got := r.waitHandset(0, len(want), 30*time.Second)
	for i, id := range ids {
		m := r.waitOut(id, 10*time.Second)
		wantParts := pdu.CountText(texts[i]).Parts
		if m.PartsTotal != wantParts || len(m.PartsAccepted) != wantParts {
			t.Errorf("message %d: parts total %d, accepted %v; want %d parts", i, m.PartsTotal, m.PartsAccepted, wantParts)
		}
		if m.ModemID != "m1" {
			t.Errorf("message %d: modem id %q, want m1", i, m.ModemID)
		}
	}
	// Let any duplicate that might still be on its way arrive before the
	// final count.
	time.Sleep(200 * time.Millisecond)
	sameMessages(t, r.emus[0].Handset(), want)
	for _, h := range got {
		if wp := pdu.CountText(h.Text).Parts; h.Parts != wp {
			t.Errorf("handset message to %s arrived in %d parts, want %d", h.To, h.Parts, wp)
		}
	}
}

// TestLastPartMarksSentInOneWrite: the dispatcher records a message's last
// part and its move to sent in one transaction (queue.RecordLastPart), so
// no crash leaves a message whose every part was accepted still sending.
// Each write gives the row a new version: enqueue 1, claim 2, each part
// before the last one more, and the last part with sent one more.
func TestLastPartMarksSentInOneWrite(t *testing.T) {
	// No status report comes during the test: each would write the row.
	r := newRig(t, withStatusDelay(time.Hour))
	single := r.enqueue(alice, "Reminder: dentist Tuesday 10:00")
	multi := r.enqueue(bob, threePart)
	r.start()
	r.waitHandset(0, 2, 30*time.Second)
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(r.dir, "smsd.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		id     int64
		parts  int
		wantRV int64
	}{{single.ID, 1, 3}, {multi.ID, 3, 5}} {
		m := r.waitOut(c.id, 10*time.Second)
		if m.State != queue.Sent || len(m.PartsAccepted) != c.parts {
			t.Errorf("message %d: %s with parts %v, want sent with %d", c.id, m.State, m.PartsAccepted, c.parts)
		}
		var rv int64
		if err := db.QueryRow("SELECT rv FROM messages WHERE id = ?", c.id).Scan(&rv); err != nil {
			t.Fatal(err)
		}
		if rv != c.wantRV {
			t.Errorf("message %d of %d parts: row version %d, want %d (the last part and sent in one write)", c.id, c.parts, rv, c.wantRV)
		}
	}
}

func TestWakeOnEnqueue(t *testing.T) {
	r := newRig(t)
	r.start()
	r.waitReady()
	r.eventually("loop idle", 5*time.Second, func() bool { return r.d.Status().Modems[0].State == StateIdle })
	// The idle loop's fallback wake-up is a minute away: only the enqueue
	// signal can bring this message out within the wait below.
	m := r.enqueue(alice, "Reminder: appointment today")
	r.waitHandset(0, 1, 10*time.Second)
	r.waitOut(m.ID, 5*time.Second)
}

func TestScheduledSendAt(t *testing.T) {
	r := newRig(t)
	r.start()
	r.waitReady()
	at := time.Now().Add(1500 * time.Millisecond)
	later, err := r.store.Enqueue(context.Background(), queue.NewMessage{To: alice, Text: "Reminder: later", SendAt: at})
	if err != nil {
		t.Fatal(err)
	}
	now := r.enqueue(bob, "Reminder: now")
	got := r.waitHandset(0, 1, 10*time.Second)
	if got[0].To != bob {
		t.Fatalf("first message went to %s, want the unscheduled one", got[0].To)
	}
	if m := r.get(later.ID); m.State != queue.Queued && time.Now().Before(at) {
		t.Fatalf("scheduled message is %s before its time", m.State)
	}
	got = r.waitHandset(0, 2, 15*time.Second)
	if got[1].To != alice || got[1].At.Before(at) {
		t.Fatalf("scheduled message: to %s at %v, want to %s not before %v", got[1].To, got[1].At, alice, at)
	}
	r.waitOut(now.ID, 5*time.Second)
	r.waitOut(later.ID, 5*time.Second)
}

func TestRateLimitDefers(t *testing.T) {
	r := newRig(t, withRate(time.Hour))
	a := r.enqueue(alice, "Reminder one")
	b := r.enqueue(bob, "Reminder two")
	c := r.enqueue(carol, "Reminder three")
	r.start()
	got := r.waitHandset(0, 1, 10*time.Second)
	r.eventually("loop rate limited", 5*time.Second, func() bool { return r.d.Status().Modems[0].State == StateRateLimited })
	st := r.d.Status().Modems[0]
	if until := time.Until(st.Until); until < 59*time.Minute || until > time.Hour {
		t.Errorf("rate limited until %v from now, want about an hour", until)
	}
	// Deferred, not dropped, and not claimed: still queued for this modem
	// (or another one) to take later.
	if got[0].To != alice {
		t.Errorf("first message went to %s, want the oldest (%s)", got[0].To, alice)
	}
	r.waitOut(a.ID, 5*time.Second)
	for _, id := range []int64{b.ID, c.ID} {
		if m := r.get(id); m.State != queue.Queued || m.Attempts != 0 {
			t.Errorf("message %d: state %s attempts %d, want queued with no attempt", id, m.State, m.Attempts)
		}
	}
	if n := len(r.emus[0].Handset()); n != 1 {
		t.Errorf("handset has %d messages, want 1 while rate limited", n)
	}
	// A restart (new dispatcher) still sends them: nothing was lost.
	r.stop()
	r.cfg.Modems[0].RateLimit = -1
	r.start()
	r.waitHandset(0, 3, 15*time.Second)
	r.waitOut(c.ID, 5*time.Second)
}

func TestDailyCapDefers(t *testing.T) {
	r := newRig(t, withDailyCap(2))
	var ids []int64
	for i := range 3 {
		ids = append(ids, r.enqueue(alice, fmt.Sprintf("Reminder %d", i)).ID)
	}
	r.start()
	r.waitHandset(0, 2, 10*time.Second)
	r.eventually("daily cap reached", 5*time.Second, func() bool { return r.d.Status().Modems[0].State == StateDailyCap })
	if m := r.get(ids[2]); m.State != queue.Queued {
		t.Errorf("third message is %s, want queued (deferred to tomorrow)", m.State)
	}
	// After a restart the count of today's messages comes from the store.
	r.stop()
	r.start()
	r.eventually("daily cap reached after restart", 10*time.Second, func() bool { return r.d.Status().Modems[0].State == StateDailyCap })
	if n := len(r.emus[0].Handset()); n != 2 {
		t.Errorf("handset has %d messages, want 2 (cap)", n)
	}
}

func TestQuietHoursDefer(t *testing.T) {
	r := newRig(t)
	// A window around now that lasts into the next minute or two.
	now := time.Now().In(time.Local)
	sod := time.Duration(now.Hour())*time.Hour + time.Duration(now.Minute())*time.Minute
	r.cfg.QuietHours = &quiet.Hours{Start: sod, End: (sod + 2*time.Minute) % (24 * time.Hour)}
	m := r.enqueue(alice, "Reminder at night")
	r.start()
	r.eventually("quiet hours", 10*time.Second, func() bool { return r.d.Status().Modems[0].State == StateQuietHours })
	if got := r.get(m.ID); got.State != queue.Queued {
		t.Errorf("message is %s during quiet hours, want queued", got.State)
	}
	if n := len(r.emus[0].Handset()); n != 0 {
		t.Errorf("handset has %d messages during quiet hours", n)
	}
}

func TestTransientFailureThenSuccess(t *testing.T) {
	r := newRig(t)
	r.emus[0].FailSends(2, 42) // congestion: transient
	m := r.enqueue(alice, "Reminder: retry me")
	r.start()
	r.waitHandset(0, 1, 15*time.Second)
	got := r.waitOut(m.ID, 5*time.Second)
	if got.Attempts != 3 {
		t.Errorf("attempts = %d, want 3 (two congestion failures, then success)", got.Attempts)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(r.emus[0].Handset()); n != 1 {
		t.Errorf("handset has %d messages, want exactly 1", n)
	}
	if s := r.d.Status().Modems[0]; s.Retried != 2 || s.Sent != 1 || s.LastError != "cms_42" {
		t.Errorf("status: retried %d sent %d last error %q; want 2, 1, cms_42", s.Retried, s.Sent, s.LastError)
	}
}

func TestTransientFailuresExhaustAttempts(t *testing.T) {
	r := newRig(t, withMaxAttempts(3))
	r.emus[0].FailSends(10, 42)
	m := r.enqueue(alice, "Reminder: never gets through")
	r.start()
	got := r.waitState(m.ID, queue.Failed, 15*time.Second)
	if got.Attempts != 3 || !strings.Contains(got.LastError, "cms_42") {
		t.Errorf("attempts %d last error %q; want 3 attempts and cms_42", got.Attempts, got.LastError)
	}
}

func TestPermanentFailure(t *testing.T) {
	r := newRig(t)
	r.emus[0].FailSends(1, 1) // unassigned number: permanent
	m := r.enqueue(alice, "Reminder: bad number")
	ok := r.enqueue(bob, "Reminder: good number")
	r.start()
	got := r.waitState(m.ID, queue.Failed, 10*time.Second)
	if got.Attempts != 1 || got.LastError != "cms_1" {
		t.Errorf("attempts %d last error %q; want 1 attempt, cms_1", got.Attempts, got.LastError)
	}
	// The loop goes on with the next message.
	r.waitOut(ok.ID, 10*time.Second)
	sameMessages(t, r.emus[0].Handset(), []sent{{bob, "Reminder: good number"}})
}

func TestOptedOutAfterEnqueueNotSent(t *testing.T) {
	r := newRig(t)
	m := r.enqueue(alice, "Reminder: opted out later")
	if err := r.store.OptOut(context.Background(), alice); err != nil {
		t.Fatal(err)
	}
	ok := r.enqueue(bob, "Reminder: fine")
	r.start()
	r.waitOut(ok.ID, 10*time.Second)
	if got := r.get(m.ID); got.State != queue.Failed {
		t.Errorf("message to an opted-out number is %s, want failed", got.State)
	}
	sameMessages(t, r.emus[0].Handset(), []sent{{bob, "Reminder: fine"}})
}

func TestDispatcherStopsWhenEveryModemStopsForGood(t *testing.T) {
	r := newRig(t)
	r.emus[0].RequirePIN("1234") // and none configured
	r.start()
	select {
	case err := <-r.done:
		r.cancel = nil
		if err == nil || !strings.Contains(err.Error(), "every modem stopped") {
			t.Fatalf("Run returned %v, want an error saying every modem stopped", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return although its only modem cannot start")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	r := newRig(t)
	mc := ModemConfig{ID: "a", Modem: testModemConfig(r.emus[0].Path())}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no_store", Config{Modems: []ModemConfig{mc}}, "no store"},
		{"no_modem", Config{Store: r.store}, "no modem"},
		{"no_id", Config{Store: r.store, Modems: []ModemConfig{{Modem: mc.Modem}}}, "no ID"},
		{"dup_id", Config{Store: r.store, Modems: []ModemConfig{mc, mc}}, "used twice"},
		{"negative_cap", Config{Store: r.store, Modems: []ModemConfig{{ID: "a", Modem: mc.Modem, DailyCap: -1}}}, "negative"},
		{"bad_quiet", Config{Store: r.store, Modems: []ModemConfig{mc}, QuietHours: &quiet.Hours{Start: time.Hour, End: time.Hour}}, "start equals end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestStatusAndAlive(t *testing.T) {
	r := newRig(t, withModems(2))
	r.start()
	r.waitReady()
	r.eventually("alive", 5*time.Second, r.d.Alive)
	m := r.enqueue(alice, "Reminder: status")
	r.waitOut(m.ID, 10*time.Second)
	st := r.d.Status()
	if !st.Running || !st.Alive || len(st.Modems) != 2 || st.Queue[string(queue.Sent)]+st.Queue[string(queue.Delivered)] != 1 {
		t.Fatalf("status = %+v", st)
	}
	sum := st.Summary()
	if !strings.Contains(sum, "m1: ") || !strings.Contains(sum, "sent 1") && !strings.Contains(sum, "delivered 1") {
		t.Errorf("summary %q lacks the modems or the queue", sum)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r.d.Alive() {
		t.Error("Alive after Run returned")
	}
}

var _ = errors.Is
