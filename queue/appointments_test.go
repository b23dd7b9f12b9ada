package queue

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/audit"
)

// testPlan plans one reminder per offset at at-offset, skipping those
// already past (the real rule is package remind's; the store only keeps
// what it is given).
func testPlan(now func() time.Time, before ...time.Duration) Planner {
	return func(a Appointment) ([]PlannedReminder, []SkippedSlot, error) {
		var p []PlannedReminder
		var sk []SkippedSlot
		for _, b := range before {
			at := a.At.Add(-b)
			if at.Before(now()) {
				sk = append(sk, SkippedSlot{Before: b, Why: "its time passed"})
				continue
			}
			p = append(p, PlannedReminder{Before: b, SendAt: at, Text: fmt.Sprintf("Reminder for %s at %s", a.Name, a.At.UTC().Format("15:04"))})
		}
		return p, sk, nil
	}
}

// sendDue claims every due message and marks it sent (one part each).
func sendDue(t testing.TB, s *Store) []int64 {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	for {
		m, err := s.Claim(ctx, "m1")
		if err != nil {
			t.Fatal(err)
		}
		if m == nil {
			return ids
		}
		if err := s.RecordPart(ctx, m.ID, 1, 1, int(m.ID%200)); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
}

func countRows(t testing.TB, s *Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.r.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func reminderStates(a Appointment) map[State]int {
	out := map[State]int{}
	for _, r := range a.Reminders {
		out[r.State]++
	}
	return out
}

// TestAppointmentLife: creating an appointment queues its planned
// reminders linked to it; moving it cancels the queued ones and queues the
// new plan (a reminder already sent stays sent) and clears a confirmation
// given for the old time; cancelling cancels what is still queued; a
// cancelled appointment cannot be moved or cancelled again.
func TestAppointmentLife(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	now := e.clk.Now()
	at := now.Add(72 * time.Hour)
	plan := testPlan(e.clk.Now, 48*time.Hour, 2*time.Hour)
	a, err := s.CreateAppointment(ctx, NewAppointment{Name: "Zebedee Quartermaine", Phone: "(555) 123-4567", Provider: "Dr. Rivera", At: at, Language: "es", CreatedBy: "web:bob"}, plan)
	if err != nil {
		t.Fatal(err)
	}
	if a.Phone != "+15551234567" || len(a.Reminders) != 2 || a.State != AppointmentScheduled {
		t.Fatalf("created: %+v", a)
	}
	got, err := s.GetAppointment(ctx, a.ID)
	if err != nil || got.Name != "Zebedee Quartermaine" || got.Provider != "Dr. Rivera" || got.Language != "es" || !got.At.Equal(at) || len(got.Reminders) != 2 {
		t.Fatalf("read back: %+v %v", got, err)
	}
	for _, r := range got.Reminders {
		m := mustState(t, s, r.MessageID, Queued)
		if m.To != "+15551234567" || !m.SendAt.Equal(at.Add(-r.Before)) || !strings.Contains(m.Text, "Zebedee") {
			t.Fatalf("reminder message: %+v", m)
		}
	}
	// The first reminder goes out, and the patient confirms.
	e.clk.Add(24*time.Hour + time.Minute)
	sent := sendDue(t, s)
	if len(sent) != 1 || sent[0] != got.Reminders[0].MessageID {
		t.Fatalf("sent %v, want the 48h reminder %d", sent, got.Reminders[0].MessageID)
	}
	in, err := s.AddInbound(ctx, Inbound{From: "+15551234567", Text: "C"})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := s.ThreadReply(ctx, in.ID, "+15551234567", AnswerConfirmed); err != nil || id != a.ID {
		t.Fatalf("thread: %d %v", id, err)
	}
	// Moved a day later: the queued 2h reminder is cancelled, two new ones
	// are queued (the new 48h slot is 1 minute short of passed: kept).
	newAt := at.Add(24 * time.Hour)
	moved, err := s.MoveAppointment(ctx, a.ID, newAt, plan)
	if err != nil {
		t.Fatal(err)
	}
	if !moved.At.Equal(newAt) || moved.Answer != "" || !moved.AnsweredAt.IsZero() {
		t.Fatalf("moved: %+v (the confirmation was for the old time)", moved)
	}
	mustState(t, s, got.Reminders[0].MessageID, Sent)
	mustState(t, s, got.Reminders[1].MessageID, Cancelled)
	if st := reminderStates(moved); st[Sent] != 1 || st[Queued] != 2 || len(moved.Reminders) != 3 {
		t.Fatalf("reminders after the move: %+v", moved.Reminders)
	}
	for _, r := range moved.Reminders {
		if r.State == Queued && !r.SendAt.Equal(newAt.Add(-r.Before)) {
			t.Fatalf("re-planned reminder at %v, want %v", r.SendAt, newAt.Add(-r.Before))
		}
	}
	// Cancelled: what is queued is cancelled, what was sent stays sent.
	c, err := s.CancelAppointment(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != AppointmentCancelled || reminderStates(c)[Queued] != 0 {
		t.Fatalf("cancelled: %+v", c)
	}
	mustState(t, s, got.Reminders[0].MessageID, Sent)
	if n := countRows(t, s, "SELECT COUNT(*) FROM messages WHERE appointment_id = ? AND state = 'queued'", a.ID); n != 0 {
		t.Fatalf("%d reminders still queued after the cancel", n)
	}
	if _, err := s.CancelAppointment(ctx, a.ID); !errors.Is(err, ErrAppointmentCancelled) {
		t.Fatalf("cancel twice: %v", err)
	}
	if _, err := s.MoveAppointment(ctx, a.ID, newAt.Add(time.Hour), plan); !errors.Is(err, ErrAppointmentCancelled) {
		t.Fatalf("move a cancelled one: %v", err)
	}
	if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
		t.Fatalf("integrity after the life: %+v %v", p, err)
	}
}

// TestAppointmentRefusals: an opted-out number, a second appointment of
// the same number at the same time, and a planner's error store nothing.
func TestAppointmentRefusals(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	at := e.clk.Now().Add(72 * time.Hour)
	plan := testPlan(e.clk.Now, 48*time.Hour)
	if err := s.OptOut(ctx, "+15550001111"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAppointment(ctx, NewAppointment{Name: "A", Phone: "+15550001111", At: at}, plan); !errors.Is(err, ErrOptedOut) {
		t.Fatalf("opted out: %v", err)
	}
	if _, err := s.CreateAppointment(ctx, NewAppointment{Name: "B", Phone: "+15550002222", At: at}, plan); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAppointment(ctx, NewAppointment{Name: "B again", Phone: "555-000-2222", At: at}, plan); !errors.Is(err, ErrDuplicateAppointment) {
		t.Fatalf("duplicate: %v", err)
	}
	boom := errors.New("boom")
	if _, err := s.CreateAppointment(ctx, NewAppointment{Name: "C", Phone: "+15550003333", At: at}, func(Appointment) ([]PlannedReminder, []SkippedSlot, error) {
		return nil, nil, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("planner error: %v", err)
	}
	if n := countRows(t, s, "SELECT COUNT(*) FROM appointments"); n != 1 {
		t.Fatalf("%d appointments, want only B's", n)
	}
	if n := countRows(t, s, "SELECT COUNT(*) FROM messages"); n != 1 {
		t.Fatalf("%d messages, want only B's reminder", n)
	}
	// Another time for the same number is no duplicate; a cancelled one
	// does not block its time.
	b2, err := s.CreateAppointment(ctx, NewAppointment{Name: "B", Phone: "+15550002222", At: at.Add(time.Hour)}, plan)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CancelAppointment(ctx, b2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAppointment(ctx, NewAppointment{Name: "B", Phone: "+15550002222", At: at.Add(time.Hour)}, plan); err != nil {
		t.Fatalf("the time of a cancelled appointment: %v", err)
	}
}

// TestThreadReply: a reply threads to the appointment of the latest
// reminder sent to its number before it arrived; a confirmation after the
// appointment's time threads but does not change the answer (late); an
// opt-out is recorded even late; a number that got no reminder gives 0 and
// no error; each threading writes one system audit row.
func TestThreadReply(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	num := "+15551234567"
	plan := testPlan(e.clk.Now, time.Hour)
	first, err := s.CreateAppointment(ctx, NewAppointment{Name: "P", Phone: num, At: e.clk.Now().Add(2 * time.Hour)}, plan)
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.CreateAppointment(ctx, NewAppointment{Name: "P", Phone: num, At: e.clk.Now().Add(6 * time.Hour)}, plan)
	if err != nil {
		t.Fatal(err)
	}
	// A plain message to the same number, sent last, is no reminder.
	if _, err := s.Enqueue(ctx, NewMessage{To: num, Text: "not a reminder", SendAt: e.clk.Now().Add(5*time.Hour + 30*time.Minute)}); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(61 * time.Minute)
	sendDue(t, s) // the first appointment's reminder
	in1, _ := s.AddInbound(ctx, Inbound{From: num, Text: "C", SentAt: e.clk.Now()})
	if id, err := s.ThreadReply(ctx, in1.ID, num, AnswerConfirmed); err != nil || id != first.ID {
		t.Fatalf("reply to the only reminder sent: %d %v, want %d", id, err, first.ID)
	}
	e.clk.Add(4 * time.Hour)
	sendDue(t, s) // the second's reminder
	e.clk.Add(30 * time.Minute)
	sendDue(t, s) // the plain message
	in2, _ := s.AddInbound(ctx, Inbound{From: num, Text: "R", SentAt: e.clk.Now()})
	if id, err := s.ThreadReply(ctx, in2.ID, num, AnswerReschedule); err != nil || id != second.ID {
		t.Fatalf("two reminders to one number: threaded to %d %v, want the latest's appointment %d", id, err, second.ID)
	}
	a1, _ := s.GetAppointment(ctx, first.ID)
	a2, _ := s.GetAppointment(ctx, second.ID)
	if a1.Answer != AnswerConfirmed || a2.Answer != AnswerReschedule || a2.AnsweredAt.IsZero() {
		t.Fatalf("answers: first %q, second %q", a1.Answer, a2.Answer)
	}
	// After the second appointment's time: a "C" is threaded, not recorded.
	e.clk.Add(2 * time.Hour)
	in3, _ := s.AddInbound(ctx, Inbound{From: num, Text: "C", SentAt: e.clk.Now()})
	if id, err := s.ThreadReply(ctx, in3.ID, num, AnswerConfirmed); err != nil || id != second.ID {
		t.Fatalf("late reply: %d %v", id, err)
	}
	if a2, _ = s.GetAppointment(ctx, second.ID); a2.Answer != AnswerReschedule {
		t.Fatalf("a late C changed the answer to %q", a2.Answer)
	}
	in4, _ := s.AddInbound(ctx, Inbound{From: num, Text: "STOP", SentAt: e.clk.Now()})
	if id, err := s.ThreadReply(ctx, in4.ID, num, AnswerOptedOut); err != nil || id != second.ID {
		t.Fatalf("late STOP: %d %v", id, err)
	}
	if a2, _ = s.GetAppointment(ctx, second.ID); a2.Answer != AnswerOptedOut {
		t.Fatalf("a late STOP was not recorded: %q", a2.Answer)
	}
	threaded, err := s.InboundAppointments(ctx, []int64{in1.ID, in2.ID, in3.ID, in4.ID})
	if err != nil || threaded[in1.ID] != first.ID || threaded[in2.ID] != second.ID || threaded[in3.ID] != second.ID {
		t.Fatalf("inbound threading: %v %v", threaded, err)
	}
	// Unknown number: 0, no error, no audit row.
	rows := countRows(t, s, "SELECT COUNT(*) FROM audit_log WHERE action = 'appointment_answer'")
	in5, _ := s.AddInbound(ctx, Inbound{From: "+15559998888", Text: "C"})
	if id, err := s.ThreadReply(ctx, in5.ID, "+15559998888", AnswerConfirmed); err != nil || id != 0 {
		t.Fatalf("unknown number: %d %v", id, err)
	}
	if n := countRows(t, s, "SELECT COUNT(*) FROM audit_log WHERE action = 'appointment_answer'"); n != rows || rows != 4 {
		t.Fatalf("audit rows of threading: %d then %d, want 4 and no more", rows, n)
	}
	if n := countRows(t, s, "SELECT COUNT(*) FROM audit_log WHERE action = 'appointment_answer' AND detail LIKE '%late%'"); n != 1 {
		t.Fatalf("late rows: %d", n)
	}
	if n := countRows(t, s, "SELECT COUNT(*) FROM audit_log WHERE detail LIKE '%5551234567%'"); n != 0 {
		t.Fatal("a number in clear in the audit log")
	}
}

func importItems(n int, at time.Time) []ImportItem {
	items := make([]ImportItem, n)
	for i := range items {
		items[i] = ImportItem{Line: i + 2, Appointment: NewAppointment{Name: fmt.Sprintf("Patient %d", i),
			Phone: fmt.Sprintf("+1555%07d", 1000000+i), At: at.Add(time.Duration(i) * time.Minute)}}
	}
	return items
}

// TestCommitImport: a commit creates every good item's appointment and
// reminders and the import's row in one transaction, with its audit row;
// the same file again creates nothing; a failure at any row leaves nothing
// at all (no import, no appointment, no message); a row refused by the
// store at commit time (opted out, duplicate) is named, the others created.
func TestCommitImport(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	at := e.clk.Now().Add(72 * time.Hour)
	plan := testPlan(e.clk.Now, 48*time.Hour, 2*time.Hour)
	data := []byte("name,phone,date,time\n...")
	sum := sha256.Sum256(data)

	// Mid-commit failure: the 3rd item's planner fails.
	calls := 0
	failing := func(a Appointment) ([]PlannedReminder, []SkippedSlot, error) {
		if calls++; calls == 3 {
			return nil, nil, errors.New("injected failure at the third row")
		}
		return plan(a)
	}
	if _, err := s.CommitImport(ctx, ImportCommit{Sum: sum, Rows: 5, Items: importItems(5, at), Plan: failing}); err == nil {
		t.Fatal("a failing commit succeeded")
	}
	for _, tbl := range []string{"imports", "appointments", "messages"} {
		if n := countRows(t, s, "SELECT COUNT(*) FROM "+tbl); n != 0 {
			t.Fatalf("after a failed commit: %d rows in %s, want none", n, tbl)
		}
	}

	if err := s.OptOut(ctx, "+15551000003"); err != nil {
		t.Fatal(err)
	}
	var progress []int
	rec := audit.NewRecord(audit.Event{Actor: "web:bob", Action: "import_commit"})
	out, err := s.CommitImport(audit.NewContext(ctx, rec), ImportCommit{Sum: sum, FileName: "monday.csv", CreatedBy: "web:bob", Rows: 6,
		Items: importItems(5, at), Plan: plan, Progress: func(done, total int) { progress = append(progress, done) }})
	if err != nil {
		t.Fatal(err)
	}
	if out.Existing || len(out.Created) != 4 || out.Reminders != 8 || !errors.Is(out.Refused[5], ErrOptedOut) {
		t.Fatalf("commit: %+v", out)
	}
	if out.Import.Created != 4 || out.Import.Skipped != 2 || len(progress) == 0 || progress[len(progress)-1] != 5 {
		t.Fatalf("import record %+v, progress %v", out.Import, progress)
	}
	if row, ok := rec.Written(); !ok || row.ObjectID != fmt.Sprint(out.Import.ID) || !strings.Contains(row.Detail, "created=4") {
		t.Fatalf("audit row: %+v %v", row, ok)
	}
	as, err := s.Appointments(ctx, AppointmentQuery{ImportID: out.Import.ID})
	if err != nil || len(as) != 4 || as[0].ImportID != out.Import.ID || as[0].CreatedBy != "web:bob" {
		t.Fatalf("appointments of the import: %d %v", len(as), err)
	}
	// The same file again: nothing new.
	again, err := s.CommitImport(ctx, ImportCommit{Sum: sum, Rows: 6, Items: importItems(5, at.Add(time.Hour)), Plan: plan})
	if err != nil || !again.Existing || again.Import.ID != out.Import.ID || len(again.Created) != 0 {
		t.Fatalf("second commit: %+v %v", again, err)
	}
	if n := countRows(t, s, "SELECT COUNT(*) FROM appointments"); n != 4 {
		t.Fatalf("%d appointments after the second commit, want 4", n)
	}
	if r, ok, err := s.FindImport(ctx, sum); err != nil || !ok || r.FileName != "monday.csv" {
		t.Fatalf("find import: %+v %v %v", r, ok, err)
	}
	// Another file with a row that is now a duplicate: named, not created.
	items := importItems(2, at)
	items[1].Appointment.At = at.Add(24 * time.Hour)
	out2, err := s.CommitImport(ctx, ImportCommit{Sum: sha256.Sum256([]byte("other")), Rows: 2, Items: items, Plan: plan})
	if err != nil || !errors.Is(out2.Refused[2], ErrDuplicateAppointment) || len(out2.Created) != 1 {
		t.Fatalf("duplicate at commit: %+v %v", out2, err)
	}
	checks, err := s.CheckImport(ctx, []string{"+15551000000", "+15551000003", "+15551000004"}, []time.Time{at, at, at})
	if err != nil || !checks[0].Duplicate || !checks[1].OptedOut || checks[2].Duplicate || checks[2].OptedOut {
		t.Fatalf("check import: %+v %v", checks, err)
	}
	if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
		t.Fatalf("integrity: %+v %v", p, err)
	}
}

// TestOptOutsOutliveRetention: the retention purge erases old messages',
// replies' and appointments' sealed cells, never an opt-out: the number
// stays refused.
func TestOptOutsOutliveRetention(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	num := "+15551234567"
	a, err := s.CreateAppointment(ctx, NewAppointment{Name: "Old Patient", Phone: "+15557654321", At: e.clk.Now().Add(3 * time.Hour)}, testPlan(e.clk.Now, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.OptOutFrom(ctx, num, "inbound"); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(10 * 365 * 24 * time.Hour)
	if _, err := s.Purge(ctx, e.clk.Now()); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.IsOptedOut(ctx, num); err != nil || !ok {
		t.Fatalf("opt-out after the purge: %v %v", ok, err)
	}
	if _, err := s.Enqueue(ctx, NewMessage{To: num, Text: "x"}); !errors.Is(err, ErrOptedOut) {
		t.Fatalf("send to an opted-out number after the purge: %v", err)
	}
	got, err := s.GetAppointment(ctx, a.ID)
	if err != nil || !got.Purged || got.Name != "" || got.Phone != "" || got.At.IsZero() {
		t.Fatalf("purged appointment: %+v %v", got, err)
	}
	if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
		t.Fatalf("integrity after the purge: %+v %v", p, err)
	}
}

// TestRotationKeepsReminders: after a data key rotation the appointments
// open, their numbers' blind index still finds duplicates and replies, and
// an imported file is still recognised.
func TestRotationKeepsReminders(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	at := e.clk.Now().Add(72 * time.Hour)
	plan := testPlan(e.clk.Now, 71*time.Hour)
	sum := sha256.Sum256([]byte("file"))
	out, err := s.CommitImport(ctx, ImportCommit{Sum: sum, FileName: "f.csv", Rows: 2, Items: importItems(2, at), Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveTemplate(ctx, Template{Name: "Reminder", Language: "es", Body: "Hola {name}", Reminder: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateDataKey(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "SELECT COUNT(*) FROM data_keys"); n != 1 {
		t.Fatalf("%d data keys after the rotation", n)
	}
	if _, ok, err := s.FindImport(ctx, sum); err != nil || !ok {
		t.Fatalf("the imported file after the rotation: %v %v", ok, err)
	}
	a, err := s.GetAppointment(ctx, out.Created[2])
	if err != nil || a.Name != "Patient 0" {
		t.Fatalf("appointment after the rotation: %+v %v", a, err)
	}
	if _, err := s.CreateAppointment(ctx, NewAppointment{Name: "x", Phone: a.Phone, At: a.At}, plan); !errors.Is(err, ErrDuplicateAppointment) {
		t.Fatalf("duplicate after the rotation: %v", err)
	}
	e.clk.Add(time.Hour + time.Minute)
	sendDue(t, s)
	in, _ := s.AddInbound(ctx, Inbound{From: a.Phone, Text: "C"})
	if id, err := s.ThreadReply(ctx, in.ID, a.Phone, AnswerConfirmed); err != nil || id != a.ID {
		t.Fatalf("reply after the rotation: %d %v", id, err)
	}
	if tm, err := s.ReminderTemplate(ctx, "es"); err != nil || tm.Body != "Hola {name}" {
		t.Fatalf("template after the rotation: %+v %v", tm, err)
	}
	if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
		t.Fatalf("integrity after the rotation: %+v %v", p, err)
	}
}

// TestTemplatesPerLanguage: a name is unique per language; one reminder
// template per language (the flag moves); a tampered reminder flag fails
// the row's check.
func TestTemplatesPerLanguage(t *testing.T) {
	_, s := openEnv(t)
	ctx := context.Background()
	en, err := s.SaveTemplate(ctx, Template{Name: "Reminder", Language: "en", Body: "Hi {name}", Reminder: true})
	if err != nil {
		t.Fatal(err)
	}
	es, err := s.SaveTemplate(ctx, Template{Name: "Reminder", Language: "es", Body: "Hola {name}", Reminder: true})
	if err != nil || es.ID == en.ID {
		t.Fatalf("same name, another language: %+v %v", es, err)
	}
	en2, err := s.SaveTemplate(ctx, Template{Name: "Short", Language: "en", Body: "{name}: {time}", Reminder: true})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.ReminderTemplate(ctx, "en"); err != nil || r.ID != en2.ID {
		t.Fatalf("reminder of en: %+v %v, want the one saved last", r, err)
	}
	if r, err := s.ReminderTemplate(ctx, "es"); err != nil || r.ID != es.ID {
		t.Fatalf("reminder of es: %+v %v", r, err)
	}
	if _, err := s.SaveTemplate(ctx, Template{ID: en2.ID, Name: "Reminder", Language: "en", Body: "x"}); !errors.Is(err, ErrTemplateExists) {
		t.Fatalf("renamed onto another: %v", err)
	}
	if _, err := s.GetTemplate(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown template: %v", err)
	}
	// Someone with the file moves the reminder flag back to the old one.
	if _, err := s.w.Exec("UPDATE templates SET reminder = 0 WHERE id = ?", en2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec("UPDATE templates SET reminder = 1 WHERE id = ?", en.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetTemplate(ctx, en.ID); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("tampered reminder flag: %v", err)
	}
	n, err := s.SeedTemplates(ctx, []Template{{Name: "Reminder", Language: "en", Body: "a"}, {Name: "Rappel", Language: "fr", Body: "b", Reminder: true}})
	if err != nil || n != 1 {
		t.Fatalf("seed: %d %v, want only the language without templates", n, err)
	}
}

// TestReminderReport counts reminders by the day they were due and
// answers by the day they came, from clear columns.
func TestReminderReport(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	day := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	plan := func(a Appointment) ([]PlannedReminder, []SkippedSlot, error) {
		return []PlannedReminder{{Before: 3 * time.Hour, SendAt: a.At.Add(-3 * time.Hour), Text: "r"}}, nil, nil
	}
	var ids []int64
	for i := 0; i < 4; i++ {
		a, err := s.CreateAppointment(ctx, NewAppointment{Name: "p", Phone: fmt.Sprintf("+1555123450%d", i), At: day.Add(time.Duration(10+i) * time.Hour)}, plan)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	// One the day after, and a plain message that day: not counted.
	if _, err := s.CreateAppointment(ctx, NewAppointment{Name: "p", Phone: "+15551234599", At: day.Add(34 * time.Hour)}, plan); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, NewMessage{To: "+15551234598", Text: "x", SendAt: day.Add(12 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	e.clk.t = day.Add(9*time.Hour + time.Minute) // 3 of the 4 due, not the plain message
	sent := sendDue(t, s)
	if len(sent) != 3 {
		t.Fatalf("sent %d", len(sent))
	}
	if _, err := s.RecordStatusReport(ctx, int(sent[0]%200), "+15551234500", true, true); err != nil {
		t.Fatal(err)
	}
	for i, ans := range []string{AnswerConfirmed, AnswerReschedule} {
		in, _ := s.AddInbound(ctx, Inbound{From: fmt.Sprintf("+1555123450%d", i), Text: "x"})
		if _, err := s.ThreadReply(ctx, in.ID, fmt.Sprintf("+1555123450%d", i), ans); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := s.ReminderReport(ctx, []Period{{day, day.AddDate(0, 0, 1)}, {day.AddDate(0, 0, 1), day.AddDate(0, 0, 2)}})
	if err != nil {
		t.Fatal(err)
	}
	d := cs[0]
	if d.Sent() != 3 || d.ByState[Delivered] != 1 || d.Pending() != 1 || d.Answers[AnswerConfirmed] != 1 || d.Answers[AnswerReschedule] != 1 {
		t.Fatalf("day: %+v", d)
	}
	if cs[1].Pending() != 1 || cs[1].Sent() != 0 || len(cs[1].Answers) != 0 {
		t.Fatalf("day after: %+v", cs[1])
	}
}

// TestAppointmentsNoPlaintextOnDisk: an appointment's name, number,
// provider and location, a reminder's text and an import's file name are
// never in the database file, its WAL or journal in clear (in UTF-8 or
// UTF-16), open, after a key rotation, and closed.
func TestAppointmentsNoPlaintextOnDisk(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	s, err := Open(ctx, e.db, e.keys, e.opt)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer func(n int) { canaries = canaries[:n] }(len(canaries))
	canaries = append(canaries, "Ximena Appointmentpatient", "15557771234", "Dr. Quillon Providerman", "Suite Locationcanary",
		"ximena-canary-list.csv", "Reminder for Ximena")
	at := e.clk.Now().Add(72 * time.Hour)
	plan := testPlan(e.clk.Now, 48*time.Hour)
	a, err := s.CreateAppointment(ctx, NewAppointment{Name: "Ximena Appointmentpatient", Phone: "+15557771234",
		Provider: "Dr. Quillon Providerman", Location: "Suite Locationcanary 42", At: at}, plan)
	if err != nil {
		t.Fatal(err)
	}
	items := []ImportItem{{Line: 2, Appointment: NewAppointment{Name: "Ximena Appointmentpatient", Phone: "+15557771234",
		Provider: "Dr. Quillon Providerman", Location: "Suite Locationcanary 43", At: at.Add(time.Hour)}}}
	if _, err := s.CommitImport(ctx, ImportCommit{Sum: sha256.Sum256([]byte("x")), FileName: "ximena-canary-list.csv", Rows: 1, Items: items, Plan: plan}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MoveAppointment(ctx, a.ID, at.Add(2*time.Hour), plan); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetAppointment(ctx, a.ID); err != nil || got.Location != "Suite Locationcanary 42" {
		t.Fatalf("stored appointment: %+v %v", got, err)
	}
	scanCanaries(t, e.db, "open")
	if _, err := s.RotateDataKey(ctx, 2); err != nil {
		t.Fatal(err)
	}
	scanCanaries(t, e.db, "after rotation")
	s.Close()
	scanCanaries(t, e.db, "closed")
}
