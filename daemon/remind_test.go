package daemon

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

var clinicZone = mustZone("America/New_York")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// openRemind is openDirect with the clinic's zone, name and phone set.
func openRemind(t testing.TB) *Service {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Timezone = clinicZone.String()
	cfg.ClinicName = "Lakeside Clinic"
	cfg.ClinicPhone = "+1 555 000 1234"
	ctx := context.Background()
	if err := queue.Init(ctx, cfg.DBPath(), KeySource(&cfg, nil), StoreOptions(&cfg, nil)); err != nil {
		t.Fatal(err)
	}
	s, err := OpenDirect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dayAt is hh:mm local (the clinic's zone) d days from today.
func dayAt(d, hh, mm int) time.Time {
	n := time.Now().In(clinicZone)
	return time.Date(n.Year(), n.Month(), n.Day()+d, hh, mm, 0, 0, clinicZone)
}

func auditCount(t testing.TB, s *Service, action string) int {
	t.Helper()
	var n int
	db, err := sql.Open("sqlite3", "file:"+s.cfg.DBPath()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow("SELECT COUNT(*) FROM audit_log WHERE action = ?", action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func tableCount(t testing.TB, s *Service, table string) int {
	t.Helper()
	var n int
	db, err := sql.Open("sqlite3", "file:"+s.cfg.DBPath()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAppointmentService: staff create an appointment and its reminders
// are queued by the clinic's plan (48h and 2h before, in the clinic's
// zone, with the language's reminder template); moving re-plans them,
// cancelling cancels them; lists mask the number, show opens it; every
// step is audited; an API token may not.
func TestAppointmentService(t *testing.T) {
	s := openRemind(t)
	ctx := context.Background()
	at := dayAt(4, 10, 0)
	a, err := s.Appointment(ctx, staff, ops.AppointmentRequest{Action: ops.AppointmentCreate, Name: "Zebedee Quartermaine",
		Phone: "555-123-4567", At: at, Provider: "Dr. Rivera", Language: "es"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Phone == "+15551234567" || !strings.Contains(a.Phone, "4567") || len(a.Reminders) != 2 {
		t.Fatalf("created: %+v", a)
	}
	for _, r := range a.Reminders {
		d, _ := time.ParseDuration(r.Before)
		if !r.SendAt.Equal(at.Add(-d)) || r.State != "queued" {
			t.Fatalf("reminder %+v, want at %v", r, at.Add(-d))
		}
		m, err := s.Store().Get(ctx, r.MessageID)
		if err != nil || !strings.Contains(m.Text, "Zebedee Quartermaine") || !strings.Contains(m.Text, "Lakeside Clinic") ||
			!strings.Contains(m.Text, "10:00") || !strings.HasPrefix(m.Text, "Hola") {
			t.Fatalf("reminder text (Spanish template, clinic's zone): %q %v", m.Text, err)
		}
	}
	shown, err := s.Appointment(ctx, staff, ops.AppointmentRequest{Action: ops.AppointmentShow, ID: a.ID})
	if err != nil || shown.Phone != "+15551234567" || shown.Name != "Zebedee Quartermaine" {
		t.Fatalf("show: %+v %v", shown, err)
	}
	list, err := s.Appointments(ctx, staff, ops.AppointmentFilter{Date: at.Format("2006-01-02")})
	if err != nil || len(list) != 1 || list[0].ID != a.ID || list[0].Phone == "+15551234567" {
		t.Fatalf("list of the day: %+v %v", list, err)
	}
	if other, err := s.Appointments(ctx, staff, ops.AppointmentFilter{Date: at.AddDate(0, 0, 1).Format("2006-01-02")}); err != nil || len(other) != 0 {
		t.Fatalf("list of the next day: %+v %v", other, err)
	}
	// Moved to the next morning at 9:00: the 2h reminder would be 7:00,
	// before reminder_hours open (8:00), so it goes out at 8:00.
	newAt := dayAt(5, 9, 0)
	moved, err := s.Appointment(ctx, staff, ops.AppointmentRequest{Action: ops.AppointmentMove, ID: a.ID, At: newAt})
	if err != nil {
		t.Fatal(err)
	}
	queued := 0
	for _, r := range moved.Reminders {
		if r.State == "queued" {
			queued++
			if r.SendAt.In(clinicZone).Hour() < 8 || !r.SendAt.Before(newAt) {
				t.Fatalf("re-planned reminder at %v: outside reminder hours or after the visit", r.SendAt.In(clinicZone))
			}
		}
	}
	if queued != 2 {
		t.Fatalf("after the move: %+v", moved.Reminders)
	}
	for _, r := range a.Reminders {
		if m, _ := s.Store().Get(ctx, r.MessageID); m.State != queue.Cancelled {
			t.Fatalf("old reminder %d is %s after the move", r.MessageID, m.State)
		}
	}
	if _, err := s.Appointment(ctx, staff, ops.AppointmentRequest{Action: ops.AppointmentMove, ID: a.ID, At: time.Now().Add(-time.Hour)}); ops.CodeOf(err) != ops.CodeInvalidRequest {
		t.Fatalf("move into the past: %v", err)
	}
	c, err := s.Appointment(ctx, staff, ops.AppointmentRequest{Action: ops.AppointmentCancel, ID: a.ID})
	if err != nil || c.State != ops.AppointmentCancelled {
		t.Fatalf("cancel: %+v %v", c, err)
	}
	for _, r := range c.Reminders {
		if r.State == "queued" {
			t.Fatalf("a reminder still queued after the cancel: %+v", r)
		}
	}
	if _, err := s.Appointment(ctx, staff, ops.AppointmentRequest{Action: ops.AppointmentCancel, ID: a.ID}); ops.CodeOf(err) != ops.CodeWrongState {
		t.Fatalf("cancel twice: %v", err)
	}
	if _, err := s.Appointment(ctx, staff, ops.AppointmentRequest{Action: ops.AppointmentShow, ID: 999}); ops.CodeOf(err) != ops.CodeNotFound {
		t.Fatalf("show unknown: %v", err)
	}
	tok := ops.Actor{Kind: ops.ActorToken, Name: "pms", Role: ops.RoleStaff}
	if _, err := s.Appointments(ctx, tok, ops.AppointmentFilter{}); ops.CodeOf(err) != ops.CodeDenied {
		t.Fatalf("token lists appointments: %v", err)
	}
	for action, want := range map[string]int{audit.AppointmentCreate: 1, audit.AppointmentView: 2, audit.AppointmentList: 3, audit.AppointmentMove: 2, audit.AppointmentCancel: 2} {
		if n := auditCount(t, s, action); n != want {
			t.Errorf("%s: %d audit rows, want %d", action, n, want)
		}
	}
	for _, bad := range []ops.AppointmentRequest{
		{Action: ops.AppointmentCreate, Phone: "+15551234567", At: at},
		{Action: ops.AppointmentCreate, Name: "x", Phone: "12", At: at},
		{Action: ops.AppointmentCreate, Name: "x", Phone: "+15551234567", At: time.Now().Add(-time.Hour)},
		{Action: ops.AppointmentCreate, Name: "x", Phone: "+15551234567", At: at, Language: "fr"},
		{Action: ops.AppointmentCreate, Name: strings.Repeat("n", 61), Phone: "+15551234567", At: at},
	} {
		if _, err := s.Appointment(ctx, staff, bad); err == nil || ops.CodeOf(err) == "" {
			t.Errorf("%+v: %v, want a refusal with a code", bad, err)
		}
	}
}

// importCSV is a messy day's list: semicolons, CRLF, a quoted newline in
// a name, US dates in two forms, 12- and 24-hour times, and rows with
// every problem the store or the reader can name.
func importCSV(day time.Time) []byte {
	d1 := day.Format("01/02/2006")
	d2 := day.Format("2006-01-02")
	past := day.AddDate(0, 0, -10).Format("2006-01-02")
	lines := []string{
		"Patient Name;Mobile;Appt Date;Appt Time;Doctor;Language",
		"Ann Alpha;(555) 201-0001;" + d1 + ";9:00 AM;Dr. Rivera;en",
		"\"Bea\nBeta\";555-201-0002;" + d2 + ";14:30;;es",
		"Cy Gamma;12;" + d2 + ";10:00;;",                    // bad number
		"Di Delta;555-201-0004;" + d2 + ";11:00;;",          // opted out
		"Ed Eps;555-201-0005;" + d2 + ";11:30;;",            // duplicate of an existing appointment
		"Fay Zeta;555-201-0001;" + d1 + ";9:00 AM;;",        // duplicate of Ann's row
		"Gus Eta;555-201-0007;" + past + ";10:00;;",         // in the past
		"Hal Theta;555-201-0008;;10:00;;",                   // missing date
		"Ivy Iota;555-201-0009;" + d2 + ";3:15 PM;Dr. Kim;", // good
	}
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

func problemCodes(r ops.ImportRow) string {
	var cs []string
	for _, p := range r.Problems {
		cs = append(cs, p.Code)
	}
	return strings.Join(cs, ",")
}

// TestImportService: a preview names each row's problems (the reader's
// and the store's: opted out, duplicate of an existing appointment) and
// writes nothing but its audit row; a commit creates the good rows only,
// with their reminders; the same file again creates nothing; a failure
// while the commit inserts leaves nothing at all; a 10 MB file and invalid
// UTF-8 are refused clearly.
func TestImportService(t *testing.T) {
	s := openRemind(t)
	ctx := context.Background()
	day := dayAt(5, 0, 0)
	if _, err := s.OptOuts(ctx, staff, ops.OptOutRequest{Action: ops.OptOutAdd, Number: "555-201-0004"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Appointment(ctx, staff, ops.AppointmentRequest{Action: ops.AppointmentCreate, Name: "Ed Eps", Phone: "555-201-0005",
		At: time.Date(day.Year(), day.Month(), day.Day(), 11, 30, 0, 0, clinicZone)}); err != nil {
		t.Fatal(err)
	}
	data := importCSV(day)
	apps, msgs := tableCount(t, s, "appointments"), tableCount(t, s, "messages")
	prev, err := s.Import(ctx, staff, ops.ImportRequest{Data: data, FileName: "tomorrow.csv"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Ann Alpha": "", "Bea Beta": "", "Cy Gamma": ops.ProblemBadNumber, "Di Delta": ops.ProblemOptedOut,
		"Ed Eps": ops.ProblemDuplicate, "Fay Zeta": ops.ProblemDuplicateRow, "Gus Eta": ops.ProblemPast, "Hal Theta": ops.ProblemMissingField, "Ivy Iota": ""}
	if len(prev.Rows) != len(want) || prev.Good != 3 || prev.Bad != 6 || prev.Committed || prev.Delimiter != ";" {
		t.Fatalf("preview: %d rows, good %d, bad %d, delimiter %q", len(prev.Rows), prev.Good, prev.Bad, prev.Delimiter)
	}
	for _, r := range prev.Rows {
		if got := problemCodes(r); !strings.Contains(got, want[r.Name]) || (want[r.Name] == "") != (got == "") {
			t.Errorf("line %d %q: problems %q, want %q", r.Line, r.Name, got, want[r.Name])
		}
	}
	if tableCount(t, s, "appointments") != apps || tableCount(t, s, "messages") != msgs || tableCount(t, s, "imports") != 0 {
		t.Fatal("the preview wrote something")
	}
	if auditCount(t, s, audit.ImportPreview) != 1 {
		t.Fatal("no audit row for the preview")
	}

	// A failure in the middle of the commit (the store refuses the third
	// insert): nothing of the file is there afterwards.
	db, err := sql.Open("sqlite3", s.cfg.DBPath())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf(`CREATE TRIGGER inject_failure BEFORE INSERT ON appointments WHEN (SELECT COUNT(*) FROM appointments) >= %d
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END`, apps+2)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, staff, ops.ImportRequest{Data: data, Commit: true}, nil); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("a commit that failed half-way: %v", err)
	}
	if tableCount(t, s, "appointments") != apps || tableCount(t, s, "messages") != msgs || tableCount(t, s, "imports") != 0 {
		t.Fatal("a failed commit left part of the file")
	}
	if _, err := db.Exec("DROP TRIGGER inject_failure"); err != nil {
		t.Fatal(err)
	}

	var progress [][2]int
	res, err := s.Import(ctx, staff, ops.ImportRequest{Data: data, Commit: true}, func(done, total int) { progress = append(progress, [2]int{done, total}) })
	if err != nil {
		t.Fatal(err)
	}
	if !res.Committed || res.Created != 3 || res.Reminders != 6 || res.ImportID == 0 || len(progress) == 0 || progress[len(progress)-1][0] != progress[len(progress)-1][1] {
		t.Fatalf("commit: created %d reminders %d import %d progress %v", res.Created, res.Reminders, res.ImportID, progress)
	}
	for _, r := range res.Rows {
		if (r.AppointmentID != 0) != (len(r.Problems) == 0) {
			t.Errorf("line %d: appointment %d with problems %q", r.Line, r.AppointmentID, problemCodes(r))
		}
	}
	if got := tableCount(t, s, "appointments"); got != apps+3 {
		t.Fatalf("%d appointments after the commit, want %d", got, apps+3)
	}
	list, err := s.Appointments(ctx, staff, ops.AppointmentFilter{ImportID: res.ImportID})
	if err != nil || len(list) != 3 || list[0].Name != "Ann Alpha" || list[1].Name != "Bea Beta" || list[1].Language != "es" {
		t.Fatalf("the import's appointments: %+v %v", list, err)
	}
	again, err := s.Import(ctx, staff, ops.ImportRequest{Data: data, Commit: true}, nil)
	if err != nil || !again.AlreadyImported || again.ImportID != res.ImportID || again.Created != 0 {
		t.Fatalf("second commit: %+v %v", again, err)
	}
	if got := tableCount(t, s, "appointments"); got != apps+3 {
		t.Fatalf("the second commit created appointments: %d", got)
	}
	if p, err := s.Import(ctx, staff, ops.ImportRequest{Data: data}, nil); err != nil || !p.AlreadyImported {
		t.Fatalf("preview of a committed file: %+v %v", p.AlreadyImported, err)
	}
	if auditCount(t, s, audit.ImportCommit) != 3 {
		t.Fatalf("import_commit rows: %d, want 3 (failed, committed, already imported)", auditCount(t, s, audit.ImportCommit))
	}

	big := bytes.Repeat([]byte("a"), 10<<20+1)
	if _, err := s.Import(ctx, staff, ops.ImportRequest{Data: big}, nil); ops.CodeOf(err) != ops.CodeInvalidRequest || !strings.Contains(err.Error(), "10 MB") {
		t.Fatalf("an 11 MB file: %v", err)
	}
	bad := append([]byte("name,phone,date,time\nAnn,5552010001,2030-01-01,10:00\n"), 0xff, 0xfe, 'x', '\n')
	if _, err := s.Import(ctx, staff, ops.ImportRequest{Data: bad}, nil); ops.CodeOf(err) != ops.CodeInvalidRequest || !strings.Contains(strings.ToLower(err.Error()), "utf-8") {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if _, err := s.Import(ctx, staff, ops.ImportRequest{Data: data, SaveMappingAs: "pms"}, nil); ops.CodeOf(err) != ops.CodeDenied {
		t.Fatalf("staff saves a mapping: %v", err)
	}
	m := map[string]string{"name": "Patient Name", "phone": "Mobile"}
	if _, err := s.Import(ctx, admin, ops.ImportRequest{Data: data, Mapping: m, SaveMappingAs: "pms"}, nil); err != nil {
		t.Fatal(err)
	}
	if ms, err := s.ImportMappings(ctx, staff); err != nil || len(ms) != 1 || ms[0].Columns["phone"] != "Mobile" {
		t.Fatalf("mappings: %+v %v", ms, err)
	}
}

// TestTemplateService: the default templates exist in English and
// Spanish; a body that asks for CANCEL or has an unknown placeholder is
// refused with its problems; only an admin saves or deletes; the reminder
// template cannot be deleted; the template's language's reminder is what
// an appointment in that language gets.
func TestTemplateService(t *testing.T) {
	s := openRemind(t)
	ctx := context.Background()
	ts, err := s.Templates(ctx, staff, ops.TemplateRequest{Action: ops.TemplateList})
	if err != nil {
		t.Fatal(err)
	}
	langs := map[string]bool{}
	for _, tm := range ts {
		if tm.Reminder {
			langs[tm.Language] = true
		}
		if !tm.Check.OK {
			t.Errorf("default template %q does not pass its own check: %v", tm.Name, tm.Check.Problems)
		}
	}
	if !langs["en"] || !langs["es"] || auditCount(t, s, audit.TemplateSave) != 1 {
		t.Fatalf("default reminders: %v, %d audit rows", langs, auditCount(t, s, audit.TemplateSave))
	}
	// Seeding happens once: another call writes no row.
	s.Templates(ctx, staff, ops.TemplateRequest{Action: ops.TemplateList})
	if auditCount(t, s, audit.TemplateSave) != 1 {
		t.Fatal("defaults seeded twice")
	}
	for body, want := range map[string]string{
		"Hi {name}, reply CANCEL to cancel your visit": "CANCEL",
		"Hi {nmae}, see you {date}":                    "nmae",
	} {
		_, err := s.Templates(ctx, admin, ops.TemplateRequest{Action: ops.TemplateSave, Name: "bad", Language: "en", Body: body})
		if ops.CodeOf(err) != ops.CodeInvalidRequest || !strings.Contains(err.Error(), want) {
			t.Errorf("save %q: %v, want a refusal naming %s", body, err, want)
		}
	}
	if _, err := s.Templates(ctx, staff, ops.TemplateRequest{Action: ops.TemplateSave, Name: "x", Body: "Hi {name}"}); ops.CodeOf(err) != ops.CodeDenied {
		t.Fatalf("staff saves: %v", err)
	}
	saved, err := s.Templates(ctx, admin, ops.TemplateRequest{Action: ops.TemplateSave, Name: "Short", Language: "en",
		Body: "{name}: {clinic} {date} {time}. C=confirm. STOP to opt out", Reminder: true})
	if err != nil || len(saved) != 1 || !saved[0].Reminder {
		t.Fatalf("save: %+v %v", saved, err)
	}
	a, err := s.Appointment(ctx, staff, ops.AppointmentRequest{Action: ops.AppointmentCreate, Name: "Ann", Phone: "+15552010001", At: dayAt(4, 10, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Store().Get(ctx, a.Reminders[0].MessageID); !strings.HasPrefix(m.Text, "Ann: Lakeside Clinic") {
		t.Fatalf("reminder text %q, want the new English reminder", m.Text)
	}
	if _, err := s.Templates(ctx, admin, ops.TemplateRequest{Action: ops.TemplateDelete, ID: saved[0].ID}); ops.CodeOf(err) != ops.CodeInvalidRequest {
		t.Fatalf("delete the reminder: %v", err)
	}
	chk, err := s.Templates(ctx, staff, ops.TemplateRequest{Action: ops.TemplateValidate, Body: "Your biopsy result is ready, {name}"})
	if err != nil || len(chk) != 1 || len(chk[0].Check.Clinical) == 0 || !chk[0].Check.OK {
		t.Fatalf("check with a clinical word: %+v %v", chk, err)
	}
}

// TestSendByTemplate: a send names a template and fills its fields; the
// service renders it ({clinic} and {phone} from the configuration); an
// unknown template is not_found, a missing or unknown field is refused
// naming it; nothing is queued then.
func TestSendByTemplate(t *testing.T) {
	s := openRemind(t)
	ctx := context.Background()
	ts, err := s.Templates(ctx, admin, ops.TemplateRequest{Action: ops.TemplateSave, Name: "Call us", Language: "en", Body: "Hi {name}, please call {clinic} at {phone}."})
	if err != nil {
		t.Fatal(err)
	}
	id := ts[0].ID
	res, err := s.Send(ctx, staff, ops.SendRequest{To: "+15552010001", TemplateID: id, Fields: map[string]string{"name": "Ann"}})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Store().Get(ctx, res.ID); m.Text != "Hi Ann, please call Lakeside Clinic at +1 555 000 1234." {
		t.Fatalf("rendered %q", m.Text)
	}
	n := count(t, s)
	for _, c := range []struct {
		r    ops.SendRequest
		code string
		says string
	}{
		{ops.SendRequest{To: "+15552010001", TemplateID: 999, Fields: map[string]string{"name": "Ann"}}, ops.CodeNotFound, "999"},
		{ops.SendRequest{To: "+15552010001", TemplateID: id}, ops.CodeInvalidRequest, "{name}"},
		{ops.SendRequest{To: "+15552010001", TemplateID: id, Fields: map[string]string{"name": "Ann", "nmae": "x"}}, ops.CodeInvalidRequest, "nmae"},
		{ops.SendRequest{To: "+15552010001", TemplateID: id, Text: "x", Fields: map[string]string{"name": "Ann"}}, ops.CodeInvalidRequest, "not both"},
	} {
		if _, err := s.Send(ctx, staff, c.r); ops.CodeOf(err) != c.code || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v, want %s naming %s", c.r, err, c.code, c.says)
		}
	}
	if count(t, s) != n {
		t.Fatal("a refused send by template queued something")
	}
}

// TestReportService: the day's reminders and answers, counted by the
// service over the store's clear columns, and a reply in the inbox carries
// its appointment.
func TestReportService(t *testing.T) {
	s := openRemind(t)
	ctx := context.Background()
	st := s.Store()
	// Appointments an hour and a bit away: the 2h slot has passed, the
	// 48h slot too; plan one at 1 minute before via the store directly.
	now := time.Now()
	var ids []int64
	for i := 0; i < 3; i++ {
		a, err := st.CreateAppointment(ctx, queue.NewAppointment{Name: "P", Phone: fmt.Sprintf("+1555201000%d", i), At: now.Add(time.Hour)},
			func(a queue.Appointment) ([]queue.PlannedReminder, []queue.SkippedSlot, error) {
				return []queue.PlannedReminder{{Before: time.Hour, SendAt: now, Text: "reminder"}}, nil, nil
			})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	for i := 0; i < 2; i++ {
		m, err := st.Claim(ctx, "m")
		if err != nil || m == nil {
			t.Fatal(m, err)
		}
		st.RecordPart(ctx, m.ID, 1, 1, i)
		if err := st.MarkSent(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	in, err := st.AddInbound(ctx, queue.Inbound{From: "+15552010000", Text: "C"})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := st.ThreadReply(ctx, in.ID, "+15552010000", queue.AnswerConfirmed); err != nil || id != ids[0] {
		t.Fatalf("thread: %d %v", id, err)
	}
	r, err := s.Report(ctx, staff, ops.ReportRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != 2 || r.Pending != 1 || r.Confirmed != 1 || r.Failed != 0 || len(r.Days) != 14 || r.Days[13].Date != r.Date ||
		r.Date != now.In(clinicZone).Format("2006-01-02") {
		t.Fatalf("report: %+v", r)
	}
	if _, err := s.Report(ctx, staff, ops.ReportRequest{Date: "03/12/2026"}); ops.CodeOf(err) != ops.CodeInvalidRequest {
		t.Fatalf("bad date: %v", err)
	}
	if auditCount(t, s, audit.ReportView) != 2 {
		t.Fatal("report views not audited")
	}
	box, err := s.InboxList(ctx, staff, ops.InboxFilter{})
	if err != nil || len(box.Entries) != 1 || box.Entries[0].AppointmentID != ids[0] {
		t.Fatalf("inbox: %+v %v", box, err)
	}
}

// TestReportDaysAreTheClinics: the report's days are the clinic's, so the
// day DST starts (23 hours in New York) holds what its wall clock says:
// a reminder due at 00:30 and one at 23:30 local count on it, one at
// 00:30 the next day on the next; the chart's days are consecutive dates.
func TestReportDaysAreTheClinics(t *testing.T) {
	s := openRemind(t)
	ctx := context.Background()
	for i, at := range []time.Time{
		time.Date(2026, 3, 8, 0, 30, 0, 0, clinicZone),
		time.Date(2026, 3, 8, 23, 30, 0, 0, clinicZone),
		time.Date(2026, 3, 9, 0, 30, 0, 0, clinicZone),
	} {
		_, err := s.Store().CreateAppointment(ctx, queue.NewAppointment{Name: "P", Phone: fmt.Sprintf("+1555201000%d", i), At: at.Add(time.Hour)},
			func(a queue.Appointment) ([]queue.PlannedReminder, []queue.SkippedSlot, error) {
				return []queue.PlannedReminder{{Before: time.Hour, SendAt: at, Text: "reminder"}}, nil, nil
			})
		if err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Report(ctx, staff, ops.ReportRequest{Date: "2026-03-08", Days: 3})
	if err != nil {
		t.Fatal(err)
	}
	if r.Pending != 2 || r.Date != "2026-03-08" {
		t.Fatalf("the DST day: %+v", r)
	}
	next, err := s.Report(ctx, staff, ops.ReportRequest{Date: "2026-03-09", Days: 3})
	if err != nil {
		t.Fatal(err)
	}
	if next.Pending != 1 || len(next.Days) != 3 || next.Days[0].Date != "2026-03-07" || next.Days[1].Date != "2026-03-08" {
		t.Fatalf("the day after: %+v", next)
	}
}
