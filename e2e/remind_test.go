package e2e

// Reminders through the command line (issue "Reminders"): the real smsd
// serve and smsd import, appointments and report against the emulated
// modem. Messy exports are imported (preview, commit, again), the
// reminders are planned at their time, go out when the daemon's test clock
// (SMSD_TEST_CLOCK_OFFSET) reaches it, and the handset's replies are
// matched to the latest reminder sent to each number.

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/clinicsms/smsd/ops"
)

// addConf appends lines to the rig's configuration file (read again by
// every command and at the daemon's next start).
func (r *rig) addConf(lines string) {
	r.t.Helper()
	f, err := os.OpenFile(r.conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + lines + "\n"); err != nil {
		r.t.Fatal(err)
	}
}

// importJSON runs smsd import -json with args and decodes its answer.
func (r *rig) importJSON(args ...string) ops.ImportResult {
	r.t.Helper()
	out, errs, code := r.cmd(append([]string{"import", "-json"}, args...)...)
	if code != 0 {
		r.t.Fatalf("smsd import %v: exit %d\n%s%s", args, code, out, errs)
	}
	var res ops.ImportResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		r.t.Fatalf("smsd import -json printed no result: %v\n%s", err, out)
	}
	return res
}

// appointments runs smsd appointments -json for day.
func (r *rig) appointments(day string) []ops.Appointment {
	r.t.Helper()
	out := r.run("appointments", "-json", "-date", day)
	var as []ops.Appointment
	if err := json.Unmarshal([]byte(out), &as); err != nil {
		r.t.Fatalf("smsd appointments -json: %v\n%s", err, out)
	}
	return as
}

// problemsByLine is each row's problem codes, by line.
func problemsByLine(res ops.ImportResult) map[int][]string {
	out := map[int][]string{}
	for _, row := range res.Rows {
		for _, p := range row.Problems {
			out[row.Line] = append(out[row.Line], p.Code)
		}
	}
	return out
}

// utf16LE is s as UTF-16LE with its byte order mark, as some practice
// systems and Excel's "Unicode text" export write.
func utf16LE(s string) []byte {
	u := utf16.Encode([]rune("\uFEFF" + s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// handsetTo is the texts the handset got for one number, in order.
func (r *rig) handsetTo(number string) []string {
	var out []string
	for _, m := range r.emu.Handset() {
		if m.To == number {
			out = append(out, m.Text)
		}
	}
	return out
}

// TestRemindersEndToEnd: a practice system's messy exports through smsd
// import; the appointments and their reminders at their planned times;
// the reminders going out when the test clock reaches them; and replies:
// two reminders to one number (the later one's appointment gets the
// answer), a reply from a number no reminder went to, a confirmation
// after the visit (threaded, not recorded), a STOP (the appointment shows
// the opt-out).
func TestRemindersEndToEnd(t *testing.T) {
	r := newRig(t)
	r.addConf(`timezone = "America/New_York"`)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	r.start()
	today := time.Now().In(ny)
	// Three days ahead: every planned reminder (two days and two hours
	// before) is in the future whatever time of day the test runs.
	d := time.Date(today.Year(), today.Month(), today.Day()+3, 0, 0, 0, 0, ny)
	day, next := d.Format("2006-01-02"), d.AddDate(0, 0, 1)
	at := func(base time.Time, h, m int) time.Time {
		return time.Date(base.Year(), base.Month(), base.Day(), h, m, 0, 0, ny)
	}
	const (
		ana = "+12025550141"
		ben = "+12025550142"
		gus = "+12025550147"
		eve = "+12025550199" // no reminder ever goes to her
	)
	us := d.Format("01/02/2006")
	// A UTF-8 export with a byte order mark, ';' between fields, Windows
	// line ends, a quoted line break, US dates, 12-hour times, numbers
	// without country code; and the rows a day's list really has wrong.
	messy := "\uFEFFPatient;Phone;Date;Time;Provider;Location;Language\r\n" +
		"Ana López;(202) 555-0141;" + us + ";10:00 AM;Dr. Kim;\"Main St\r\nSuite 2\";es\r\n" + // lines 2-3
		"Ben Ode;202-555-0142;" + us + ";11:00 AM;Dr. Kim;Main St;en\r\n" + // 4
		"Cy Bad;555;" + us + ";9:00 AM;;;en\r\n" + // 5 bad number
		";202-555-0144;" + us + ";9:30 AM;;;en\r\n" + // 6 no name
		"Ed Past;202-555-0145;01/02/2020;9:00 AM;;;en\r\n" + // 7 in the past
		"Ben Ode;202-555-0142;" + us + ";11:00 AM;Dr. Kim;Main St;en\r\n" + // 8 same as line 4
		"Fay Late;202-555-0146;" + us + ";25:00;;;en\r\n" + // 9 no such time
		"Hal Lang;202-555-0148;" + us + ";1:00 PM;;;fr\r\n" // 10 no templates in French
	dir := t.TempDir()
	file1 := filepath.Join(dir, "monday.csv")
	if err := os.WriteFile(file1, []byte(messy), 0o600); err != nil {
		t.Fatal(err)
	}

	// The preview changes nothing and names each bad row's problem.
	pre := r.importJSON(file1)
	if pre.Committed || pre.Encoding != "UTF-8 with BOM" || pre.Delimiter != ";" {
		t.Errorf("preview: committed %v, encoding %q, delimiter %q; want a preview of UTF-8 with BOM, ';'", pre.Committed, pre.Encoding, pre.Delimiter)
	}
	wantProblems := map[int][]string{
		5: {ops.ProblemBadNumber}, 6: {ops.ProblemMissingField}, 7: {ops.ProblemPast},
		8: {ops.ProblemDuplicateRow}, 9: {ops.ProblemBadTime}, 10: {ops.ProblemBadLanguage},
	}
	got := problemsByLine(pre)
	for line, want := range wantProblems {
		if !slices.Equal(got[line], want) {
			t.Errorf("line %d: problems %v, want %v", line, got[line], want)
		}
	}
	for line, codes := range got {
		if _, ok := wantProblems[line]; !ok {
			t.Errorf("line %d: unexpected problems %v", line, codes)
		}
	}
	if pre.Good != 2 || pre.Bad != 6 || len(pre.Rows) != 8 {
		t.Errorf("preview: %d rows, %d good, %d bad; want 8, 2, 6", len(pre.Rows), pre.Good, pre.Bad)
	}
	if as := r.appointments(day); len(as) != 0 {
		t.Fatalf("the preview created %d appointments", len(as))
	}
	// The table a person reads: names, numbers masked, each problem.
	text := r.run("import", file1)
	for _, want := range []string{"Ana López", "+1******0141", "bad_number", "line 5:", "-commit"} {
		if !strings.Contains(text, want) {
			t.Errorf("the preview table does not show %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "2025550141") {
		t.Errorf("the preview table shows a number in full:\n%s", text)
	}

	// Commit: the good rows only, each with its reminders.
	res := r.importJSON("-commit", file1)
	if !res.Committed || res.Created != 2 || res.Reminders != 4 || res.ImportID == 0 {
		t.Fatalf("commit: committed %v, created %d, reminders %d, import %d; want 2 appointments with 4 reminders", res.Committed, res.Created, res.Reminders, res.ImportID)
	}
	if got := problemsByLine(res); !slices.Equal(got[5], wantProblems[5]) || len(got) != len(wantProblems) {
		t.Errorf("commit lists the skipped rows as %v, want %v", got, wantProblems)
	}
	// The same file again creates nothing.
	again := r.importJSON("-commit", file1)
	if !again.AlreadyImported || again.Created != 0 || again.ImportID != res.ImportID {
		t.Errorf("the same file again: already imported %v, created %d, import %d; want nothing new (import %d)", again.AlreadyImported, again.Created, again.ImportID, res.ImportID)
	}

	// A UTF-16 export with tabs and other headers: Gus, and a second
	// visit for Ben the day after (two reminders to one number); Ana
	// again is a duplicate of the appointment that exists.
	iso := d.Format("2006-01-02")
	tabbed := "Patient Name\tMobile\tAppt Date\tAppt Time\tDoctor\r\n" +
		"Gus Ray\t+1 202 555 0147\t" + iso + "\t14:30\tDr. Roe\r\n" +
		"Ben Ode\t202.555.0142\t" + next.Format("2006-01-02") + "\t09:00\tDr. Kim\r\n" +
		"Ana López\t(202) 555-0141\t" + iso + "\t10:00\tDr. Kim\r\n"
	file2 := filepath.Join(dir, "export.txt")
	if err := os.WriteFile(file2, utf16LE(tabbed), 0o600); err != nil {
		t.Fatal(err)
	}
	res2 := r.importJSON("-commit", file2)
	if res2.Encoding != "UTF-16LE" || res2.Delimiter != "\t" || res2.Created != 2 {
		t.Errorf("UTF-16 export: encoding %q, delimiter %q, created %d; want UTF-16LE, tab, 2", res2.Encoding, res2.Delimiter, res2.Created)
	}
	if got := problemsByLine(res2); !slices.Equal(got[4], []string{ops.ProblemDuplicate}) || len(got) != 1 {
		t.Errorf("UTF-16 export's problems %v, want line 4 a duplicate of the existing appointment", got)
	}

	// Refused whole, with a sentence: invalid UTF-8, and a file over 10 MB.
	bad := filepath.Join(dir, "latin1.csv")
	os.WriteFile(bad, []byte("name,phone,date,time\r\nJos\xe9,2025550150,"+iso+",10:00\r\n"), 0o600)
	if out, errs, code := r.cmd("import", bad); code != 1 || !strings.Contains(errs, "UTF-8") {
		t.Errorf("an invalid UTF-8 file: exit %d\n%s%s", code, out, errs)
	}
	big := filepath.Join(dir, "big.csv")
	os.WriteFile(big, []byte("name,phone,date,time\r\n"+strings.Repeat("x", 10<<20)), 0o600)
	if out, errs, code := r.cmd("import", big); code != 1 || !strings.Contains(errs, "10 MB") {
		t.Errorf("a file over 10 MB: exit %d\n%s%s", code, out, errs)
	}

	// The appointments of the day, numbers masked, reminders at their
	// planned times: two days before on the wall clock, and two hours
	// before (inside the default reminder hours 08:00-21:00).
	as := r.appointments(day)
	byName := map[string]ops.Appointment{}
	for _, a := range as {
		byName[a.Name] = a
		if !strings.Contains(a.Phone, "*") {
			t.Errorf("smsd appointments shows %s's number in full", a.Name)
		}
	}
	if len(as) != 3 {
		t.Fatalf("%d appointments on %s, want Ana, Ben, Gus: %+v", len(as), day, as)
	}
	plan := map[string][]time.Time{
		"Ana López": {at(d.AddDate(0, 0, -2), 10, 0), at(d, 8, 0)},
		"Ben Ode":   {at(d.AddDate(0, 0, -2), 11, 0), at(d, 9, 0)},
		"Gus Ray":   {at(d.AddDate(0, 0, -2), 14, 30), at(d, 12, 30)},
	}
	for name, want := range plan {
		a := byName[name]
		var sendAt []time.Time
		for _, rem := range a.Reminders {
			if rem.State != "queued" {
				t.Errorf("%s's reminder %s is %q, want queued", name, rem.Before, rem.State)
			}
			sendAt = append(sendAt, rem.SendAt)
		}
		if len(sendAt) != 2 || !sendAt[0].Equal(want[0]) || !sendAt[1].Equal(want[1]) {
			t.Errorf("%s's reminders at %v, want %v", name, sendAt, want)
		}
	}
	// Ben's second visit at 09:00 the day after: its two-hours-before
	// reminder (07:00) waits for the reminder hours to open at 08:00.
	ben2 := r.appointments(next.Format("2006-01-02"))
	if len(ben2) != 1 || len(ben2[0].Reminders) != 2 || !ben2[0].Reminders[1].SendAt.Equal(at(next, 8, 0)) {
		t.Fatalf("Ben's second visit: %+v, want its second reminder at 08:00", ben2)
	}
	if len(r.emu.Handset()) != 0 {
		t.Fatalf("reminders went out before their time: %d on the handset", len(r.emu.Handset()))
	}

	// The daemon again, its clock at 09:05 the day before the visits:
	// every first reminder is due (Ben's second visit's too, after his
	// first); the second ones wait.
	r.stop()
	r.env = append(r.env, "SMSD_TEST_CLOCK_OFFSET="+time.Until(at(d.AddDate(0, 0, -1), 9, 5)).Round(time.Second).String())
	r.start()
	if !strings.Contains(r.logs.String(), "TEST CLOCK") {
		t.Errorf("the daemon with a test clock did not warn about it at start")
	}
	r.waitFor("the four first reminders on the handset", 30*time.Second, func() bool { return len(r.emu.Handset()) >= 4 })
	if got := r.handsetTo(ana); len(got) != 1 || !strings.Contains(got[0], "Ana López") || !strings.Contains(got[0], "Hola") {
		t.Errorf("Ana's handset got %q, want one Spanish reminder with her name", got)
	}
	if got := r.handsetTo(ben); len(got) != 2 {
		t.Errorf("Ben's handset got %d reminders, want 2 (one per visit)", len(got))
	}

	// Ben answers C: the latest reminder's appointment (his second visit)
	// is confirmed, not the first. Eve, to whom no reminder went, answers
	// too: her reply lands in the inbox and confirms nothing.
	if err := r.emu.Inject(ben, "C"); err != nil {
		t.Fatal(err)
	}
	if err := r.emu.Inject(eve, "Yes!"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("Ben's second visit confirmed", 30*time.Second, func() bool {
		a := r.appointments(next.Format("2006-01-02"))
		return len(a) == 1 && a[0].Answer == ops.AnswerConfirmed
	})
	r.waitFor("Eve's reply in the inbox", 30*time.Second, func() bool { return r.inboxFrom()[eve] == "Yes!" })
	// Gus opts out: his appointment shows it.
	if err := r.emu.Inject(gus, "stop"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("Gus's appointment showing his opt-out", 30*time.Second, func() bool {
		return answers(r.appointments(day))["Gus Ray"] == ops.AnswerOptedOut
	})
	if got := answers(r.appointments(day)); got["Ben Ode"] != "" || got["Ana López"] != "" {
		t.Errorf("answers %v: Ben's first visit and Ana must have none", got)
	}

	// The report counts the day's reminders and answers.
	var rep ops.Report
	if err := json.Unmarshal([]byte(r.run("report", "-json", "-date", at(d.AddDate(0, 0, -2), 0, 0).Format("2006-01-02"))), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Sent < 3 {
		t.Errorf("the report of the day the first reminders were due says %d sent, want at least 3: %+v", rep.Sent, rep.ReportDay)
	}

	// The clock past Ana's visit: her "Sí" is threaded to it but no
	// longer confirms it; the 2-hour reminders went out before.
	r.stop()
	r.env[len(r.env)-1] = "SMSD_TEST_CLOCK_OFFSET=" + time.Until(at(d, 10, 30)).Round(time.Second).String()
	r.start()
	r.waitFor("the two-hour reminders of Ana and Ben", 30*time.Second, func() bool {
		return len(r.handsetTo(ana)) == 2 && len(r.handsetTo(ben)) == 3
	})
	if err := r.emu.Inject(ana, "Sí"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("Ana's late reply in the inbox", 30*time.Second, func() bool { return r.inboxFrom()[ana] == "Sí" })
	// The daemon handles one modem's messages in order: Ben's answer,
	// after Ana's reply, recorded means her reply was matched before it.
	// Ben's latest reminder is now the two-hour one of today's visit
	// (11:00, not yet passed): his R answers that one.
	if err := r.emu.Inject(ben, "R"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("Ben's visit of the day asking for a new time", 30*time.Second, func() bool {
		return answers(r.appointments(day))["Ben Ode"] == ops.AnswerReschedule
	})
	if a := r.appointments(next.Format("2006-01-02")); len(a) != 1 || a[0].Answer != ops.AnswerConfirmed {
		t.Errorf("Ben's second visit: %+v, want still confirmed", a)
	}
	if got := answers(r.appointments(day))["Ana López"]; got != "" {
		t.Errorf("Ana's reply after her visit set the answer %q; a late reply must not", got)
	}
	if strings.Contains(r.logs.String(), "López") || strings.Contains(r.logs.String(), "5550141") {
		t.Errorf("the daemon's log names a patient or a number in full")
	}
}

// answers is each appointment's answer, by patient name.
func answers(as []ops.Appointment) map[string]string {
	out := map[string]string{}
	for _, a := range as {
		out[a.Name] = a.Answer
	}
	return out
}
