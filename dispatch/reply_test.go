package dispatch

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/modem/emulator"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/remind"
)

// TestOptOutWordsAreRemindsList: the words that opt a patient out here are
// exactly the words the template check (package remind) refuses to ask a
// patient to text, and no configured answer can shadow one of them.
func TestOptOutWordsAreRemindsList(t *testing.T) {
	a, b := slices.Clone(stopWords), slices.Clone(remind.OptOutWords)
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		t.Fatalf("dispatch opts out on %q, remind.OptOutWords is %q: they must be one list", a, b)
	}
	for _, w := range remind.OptOutWords {
		for _, text := range []string{w, strings.ToLower(w), " " + w + "! "} {
			if k := ParseKeyword(text); k != KeywordStop {
				t.Errorf("ParseKeyword(%q) = %v, want stop", text, k)
			}
			if got := remind.MatchAnswer(text, []string{w}, []string{w}); got != ops.AnswerNone {
				t.Errorf("MatchAnswer(%q) with %q configured = %q: an opt-out word must never answer a reminder", text, w, got)
			}
		}
	}
}

// remindNow is a planner that queues one reminder to go out at once.
func remindNow(text string) queue.Planner {
	return func(a queue.Appointment) ([]queue.PlannedReminder, []queue.SkippedSlot, error) {
		return []queue.PlannedReminder{{Before: time.Until(a.At), SendAt: time.Now(), Text: text}}, nil, nil
	}
}

// appointmentWithReminder creates an appointment for to at at and waits
// until its reminder went out.
func (r *rig) appointmentWithReminder(to string, at time.Time, text string) queue.Appointment {
	r.t.Helper()
	a, err := r.store.CreateAppointment(context.Background(), queue.NewAppointment{Name: "Pat", Phone: to, At: at, Language: "en", CreatedBy: "test"}, remindNow(text))
	if err != nil {
		r.t.Fatalf("create appointment: %v", err)
	}
	if len(a.Reminders) != 1 {
		r.t.Fatalf("appointment %d has %d reminders, want 1", a.ID, len(a.Reminders))
	}
	r.waitOut(a.Reminders[0].MessageID, 15*time.Second)
	return a
}

func (r *rig) answer(id int64) string {
	r.t.Helper()
	a, err := r.store.GetAppointment(context.Background(), id)
	if err != nil {
		r.t.Fatalf("appointment %d: %v", id, err)
	}
	return a.Answer
}

// threadedTo is the appointment each stored reply is threaded to, by the
// reply's text.
func (r *rig) threadedTo(n int) map[string]int64 {
	r.t.Helper()
	in := r.waitInbox(n)
	ids := make([]int64, len(in))
	for i, m := range in {
		ids[i] = m.ID
	}
	links, err := r.store.InboundAppointments(context.Background(), ids)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, m := range in {
		out[m.Text] = links[m.ID]
	}
	return out
}

// TestReplyMatching: a reply is matched to the latest reminder sent to
// its number. Two reminders to one number: "C" confirms the appointment of
// the later one, not the earlier; a free-text reply is threaded to it
// without changing its answer; the configured words ("ok" here) count, the
// default ones too when nothing is configured; a reply from a number no
// reminder went to stays in the inbox, linked to nothing; a confirmation
// after the appointment's time is threaded but does not confirm; STOP
// answers "opted out".
func TestReplyMatching(t *testing.T) {
	r := newRig(t)
	r.cfg.ConfirmWords = []string{"C", "ok"}
	r.cfg.RescheduleWords = []string{"R"}
	r.start()
	r.waitReady()
	e := r.emus[0]
	soon := time.Now().Add(3 * time.Hour)
	first := r.appointmentWithReminder(alice, soon, "Reminder 1: reply C to confirm")
	second := r.appointmentWithReminder(alice, soon.Add(24*time.Hour), "Reminder 2: reply C to confirm")

	if err := e.Inject(alice, "c!"); err != nil {
		t.Fatal(err)
	}
	r.eventually("the later appointment confirmed", 15*time.Second, func() bool { return r.answer(second.ID) == ops.AnswerConfirmed })
	if got := r.answer(first.ID); got != "" {
		t.Errorf("the earlier appointment got answer %q; the reply answers the latest reminder only", got)
	}

	if err := e.Inject(alice, "Can I come at 4 instead?"); err != nil {
		t.Fatal(err)
	}
	// A reply is stored, then threaded: wait for the threading.
	r.eventually("the free-text reply threaded", 15*time.Second, func() bool { return r.threadedTo(2)["Can I come at 4 instead?"] != 0 })
	if got := r.threadedTo(2); got["Can I come at 4 instead?"] != second.ID || got["c!"] != second.ID {
		t.Errorf("replies threaded to %v, want both to appointment %d", got, second.ID)
	}
	if got := r.answer(second.ID); got != ops.AnswerConfirmed {
		t.Errorf("a free-text reply changed the answer to %q", got)
	}

	// bob: R asks for a new time, then a configured word confirms.
	b := r.appointmentWithReminder(bob, soon, "Reminder: reply C to confirm, R to reschedule")
	if err := e.Inject(bob, "r"); err != nil {
		t.Fatal(err)
	}
	r.eventually("bob asks to reschedule", 15*time.Second, func() bool { return r.answer(b.ID) == ops.AnswerReschedule })
	if err := e.Inject(bob, "OK."); err != nil {
		t.Fatal(err)
	}
	r.eventually("bob confirms with a configured word", 15*time.Second, func() bool { return r.answer(b.ID) == ops.AnswerConfirmed })

	// carol: no reminder ever went to her.
	if err := e.Inject(carol, "YES"); err != nil {
		t.Fatal(err)
	}

	// dave: a confirmation after the visit's time does not confirm it.
	late := r.appointmentWithReminder(dave, time.Now().Add(1500*time.Millisecond), "Reminder: in a moment")
	for time.Now().Before(late.At.Add(100 * time.Millisecond)) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := e.Inject(dave, "C"); err != nil {
		t.Fatal(err)
	}
	r.eventually("the late reply threaded", 15*time.Second, func() bool { return r.threadedTo(6)["C"] != 0 })
	if got := r.threadedTo(6); got["C"] != late.ID {
		t.Errorf("the late reply is threaded to %d, want appointment %d", got["C"], late.ID)
	}
	if got := r.answer(late.ID); got != "" {
		t.Errorf("a confirmation after the appointment's time set the answer %q", got)
	}
	// One modem hands its messages over one at a time: carol's came
	// before dave's and is handled by now.
	if got := r.threadedTo(6); got["YES"] != 0 {
		t.Errorf("a reply from a number no reminder went to is threaded to appointment %d", got["YES"])
	}

	// STOP answers the latest appointment with "opted out".
	if err := e.Inject(alice, "STOP"); err != nil {
		t.Fatal(err)
	}
	r.eventually("alice's appointment answered opted out", 15*time.Second, func() bool { return r.answer(second.ID) == ops.AnswerOptedOut })
}

// handsetTexts counts the handset's messages to one number by text.
func handsetTexts(msgs []emulator.HandsetMessage, to string) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		if m.To == to {
			out[m.Text]++
		}
	}
	return out
}

// TestOptInConfirmedOnce: START from an opted-out number opts it back in
// and sends one confirmation naming the clinic; a second START (now not
// opted out) sends none, nor does a START from a number that never opted
// out, nor a STOP from a number already opted out. HELP replies serve as
// markers: each is answered after the message before it was handled, so
// "nothing more arrived" is seen without waiting for a time.
func TestOptInConfirmedOnce(t *testing.T) {
	const help = "Example Clinic reminders. Reply STOP to opt out."
	r := newRig(t, withHelp(help))
	r.cfg.ClinicName = "Example Clinic"
	r.start()
	r.waitReady()
	e := r.emus[0]
	confirm := OptInConfirmation("Example Clinic")
	marker := 0
	// step injects text from alice, then HELP, and waits for the HELP's
	// answer: everything text caused is on the handset by then. Each HELP
	// is written differently: the same text from the same number within
	// the SMSC timestamp's second is one message handed over twice (the
	// store keeps it once).
	helps := []string{"HELP", "help", "Help.", "HELP!", "help?"}
	step := func(text string) map[string]int {
		t.Helper()
		if err := e.Inject(alice, text); err != nil {
			t.Fatal(err)
		}
		if err := e.Inject(alice, helps[marker]); err != nil {
			t.Fatal(err)
		}
		marker++
		r.eventually("the HELP marker's answer", 20*time.Second, func() bool {
			return handsetTexts(e.Handset(), alice)[help] == marker
		})
		return handsetTexts(e.Handset(), alice)
	}

	if got := step("START"); got[confirm] != 0 {
		t.Fatalf("a START from a number that never opted out got %d confirmation(s)", got[confirm])
	}
	if err := r.store.OptOutFrom(context.Background(), alice, "test"); err != nil {
		t.Fatal(err)
	}
	// While opted out the HELP marker cannot be answered: opt in first.
	if err := e.Inject(alice, "Start"); err != nil {
		t.Fatal(err)
	}
	r.eventually("one opt-in confirmation", 20*time.Second, func() bool { return handsetTexts(e.Handset(), alice)[confirm] == 1 })
	if o, _ := r.store.IsOptedOut(context.Background(), alice); o {
		t.Fatal("still opted out after START")
	}
	if got := step("START!"); got[confirm] != 1 {
		t.Errorf("a second START: %d confirmations in all, want still 1", got[confirm])
	}
	if got := step("unstop"); got[confirm] != 1 {
		t.Errorf("UNSTOP while opted in: %d confirmations in all, want still 1", got[confirm])
	}
	if !strings.Contains(confirm, "Example Clinic") || !strings.Contains(confirm, "STOP") {
		t.Errorf("the confirmation %q does not name the clinic and how to opt out", confirm)
	}
}

// TestOptOutConfirmedOnce: the first STOP opts the number out and sends
// one confirmation (to the opted-out number, the one message the store lets
// through); more STOPs (any opt-out word) from the opted-out number change
// nothing and send nothing; the opt-out stays one row.
func TestOptOutConfirmedOnce(t *testing.T) {
	const help = "Example Clinic reminders. Reply STOP to opt out."
	r := newRig(t, withHelp(help))
	r.cfg.ClinicName = "Example Clinic"
	out := r.enqueue(alice, "Reminder: reply C to confirm")
	r.start()
	r.waitOut(out.ID, 15*time.Second)
	confirm := OptOutConfirmation("Example Clinic")
	if err := r.emus[0].Inject(alice, "STOP"); err != nil {
		t.Fatal(err)
	}
	r.eventually("the opt-out confirmation", 15*time.Second, func() bool { return handsetTexts(r.emus[0].Handset(), alice)[confirm] == 1 })
	for _, text := range []string{"stop", "CANCEL"} {
		if err := r.emus[0].Inject(alice, text); err != nil {
			t.Fatal(err)
		}
	}
	// The marker: HELP from bob, handled after the STOPs (one modem hands
	// its messages over in order), so its answer is queued after anything
	// they queued.
	if err := r.emus[0].Inject(bob, "HELP"); err != nil {
		t.Fatal(err)
	}
	r.eventually("the HELP marker's answer", 15*time.Second, func() bool { return handsetTexts(r.emus[0].Handset(), bob)[help] == 1 })
	if got := handsetTexts(r.emus[0].Handset(), alice); len(got) != 2 || got[confirm] != 1 {
		t.Errorf("alice's handset got %v; want the reminder and one confirmation", got)
	}
	list, err := r.store.OptOuts(context.Background())
	if err != nil || len(list) != 1 {
		t.Errorf("opt-outs after three STOPs: %d (%v), want 1", len(list), err)
	}
	// Anything else to the opted-out number is still refused.
	if _, err := r.store.Enqueue(context.Background(), queue.NewMessage{To: alice, Text: "Reminder: again"}); err == nil {
		t.Error("a message to the opted-out number was queued")
	}
	if _, err := r.store.Enqueue(context.Background(), queue.NewMessage{To: bob, Text: "x", CreatedBy: queue.OptOutConfirmationBy}); err == nil {
		t.Error("a message that is no confirmation was queued as created by " + queue.OptOutConfirmationBy)
	}
}
