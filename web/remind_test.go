package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/ops"
)

// The reminder pages (issue 15) over the real service and store:
// appointments, the CSV import with its progress, templates, the report,
// the send page's templates.

// postFile uploads a CSV file to POST /import as a browser's multipart
// form does, with the other fields of the form.
func (b *browser) postFile(path, fileName string, data []byte, fields map[string]string) answer {
	b.site.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			b.site.t.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", fileName)
	if err != nil {
		b.site.t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, b.site.srv.URL+path, &body)
	if err != nil {
		b.site.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// remindSite is a signed-in staff browser and a signed-in admin browser
// over one real service.
func remindSite(t *testing.T) (*daemon.Service, *browser, *browser) {
	t.Helper()
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleStaff)
	addUser(t, svc, "root2", ops.RoleAdmin)
	s := newSite(t, svc, siteOptions{})
	staff, admin := s.browser(), s.browser()
	staff.signIn("alice", "/")
	admin.signIn("root2", "/")
	return svc, staff, admin
}

// dayList is a day's list as a practice system exports it, for the day
// `day` (YYYY-MM-DD): two good rows, then a bad number, a missing name
// and a date in the past.
func dayList(day string) []byte {
	return []byte("name,phone,date,time,provider\r\n" +
		"Ana Lopez,+15551230401," + day + ",12:00,Dr Who\r\n" +
		"Ben Ode,+15551230402," + day + ",12:30,\r\n" +
		"Cy Bad,12," + day + ",13:00,\r\n" +
		",+15551230404," + day + ",13:30,\r\n" +
		"Di Past,+15551230405,2020-01-02,09:00,\r\n")
}

// importDay is a day three days ahead: every reminder of the default plan
// (2 days and 2 hours before) is still to come.
func importDay() string { return time.Now().AddDate(0, 0, 3).Format("2006-01-02") }

// previewRows are the preview table's rows: line -> problem codes.
func previewRows(body string) map[int]string {
	out := map[int]string{}
	re := regexp.MustCompile(`(?s)<tr data-line="(\d+)"[^>]*>.*?data-problems="([^"]*)"`)
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(m[1])
		out[n] = m[2]
	}
	return out
}

// commitPath is the preview's commit button's action.
func commitPath(body string) string {
	m := regexp.MustCompile(`id="import-commit" method="post" action="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// progressJSON is GET /import/jobs/{job}/progress's answer.
type progressJSON struct {
	Done     int    `json:"done"`
	Total    int    `json:"total"`
	Finished bool   `json:"finished"`
	Error    string `json:"error"`
}

// waitJob asks the job's progress until it is finished (no deadline of
// its own: the test's timeout ends a job that never finishes) and
// returns every answer seen.
func waitJob(t *testing.T, b *browser, job string) []progressJSON {
	t.Helper()
	var seen []progressJSON
	for {
		a := b.get(job + "/progress")
		if a.status != http.StatusOK || a.header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s/progress: %d %s", job, a.status, a.body)
		}
		var p progressJSON
		if err := json.Unmarshal([]byte(a.body), &p); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, p)
		if p.Finished {
			return seen
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRemindPagesNeedSignIn: without a session every reminder page and
// action goes to sign in and changes nothing.
func TestRemindPagesNeedSignIn(t *testing.T) {
	svc := openService(t)
	b := newSite(t, svc, siteOptions{}).browser()
	for _, tc := range []struct{ method, path string }{
		{"GET", "/appointments"}, {"GET", "/appointments/1"}, {"POST", "/appointments/1"}, {"GET", "/appointments/new"},
		{"POST", "/appointments/new"}, {"GET", "/import"},
		{"POST", "/import/x/commit"}, {"GET", "/import/jobs/x"}, {"GET", "/templates"}, {"POST", "/templates"}, {"GET", "/report"},
	} {
		var a answer
		if tc.method == "POST" {
			a = b.post(tc.path, url.Values{"action": {"cancel"}})
		} else {
			a = b.get(tc.path)
		}
		if a.status != http.StatusSeeOther || a.location != "/signin" {
			t.Errorf("%s %s without a session: %d to %q, want 303 to /signin", tc.method, tc.path, a.status, a.location)
		}
	}
	if a := b.postFile("/import", "day.csv", dayList(importDay()), nil); a.status != http.StatusSeeOther || a.location != "/signin" {
		t.Errorf("POST /import without a session: %d to %q", a.status, a.location)
	}
	if a := b.get("/import/jobs/x/progress"); a.status != http.StatusUnauthorized {
		t.Errorf("GET the progress without a session: %d %s", a.status, a.body)
	}
	if as, err := svc.Appointments(context.Background(), root, ops.AppointmentFilter{Date: importDay()}); err != nil || len(as) != 0 {
		t.Errorf("refused requests created appointments: %v %v", as, err)
	}
}

// TestRemindPagesForStaff: staff open every reminder page; each has its
// ids, and every page's navigation links to them.
func TestRemindPagesForStaff(t *testing.T) {
	_, staff, _ := remindSite(t)
	for _, tc := range []struct {
		path string
		ids  []string
	}{
		{"/appointments", []string{"appointments", "appointments-day", "date", "day-prev", "day-next"}},
		{"/import", []string{"import", "import-file", "import-submit", "import-mapping", "map-name", "map-phone"}},
		{"/templates", []string{"placeholders-help"}},
		{"/report", []string{"report-day", "report-date", "report-counts", "report-chart", "report-days"}},
		{"/send", []string{"template", "template-fields", "f-date", "f-time", "text", "counter"}},
	} {
		a := staff.get(tc.path)
		if a.status != http.StatusOK {
			t.Errorf("GET %s as staff: %d: %s", tc.path, a.status, errorText(a.body))
			continue
		}
		for _, id := range tc.ids {
			if !hasID(a.body, id) {
				t.Errorf("GET %s: no #%s", tc.path, id)
			}
		}
		for _, href := range []string{"/appointments", "/import", "/templates", "/report"} {
			if !strings.Contains(a.body, `href="`+href+`"`) {
				t.Errorf("GET %s: the navigation has no link to %s", tc.path, href)
			}
		}
	}
	if a := staff.get("/appointments"); !strings.Contains(a.body, `data-live="/appointments"`) {
		t.Error("the appointments page is not live (live.js refreshes pages with data-live)")
	}
	if a := staff.get("/import"); hasID(a.body, "save-mapping-as") {
		t.Error("staff are offered to save a mapping (admins only)")
	}
	for _, q := range []string{"?date=tomorrow", "?date=2026-02-30", "?import=x", "?date=%ff"} {
		if a := staff.get("/appointments" + q); a.status != http.StatusBadRequest || errorText(a.body) == "" {
			t.Errorf("GET /appointments%s: %d #error %q, want 400 with a message", q, a.status, errorText(a.body))
		}
	}
	if a := staff.get("/report?date=yesterday"); a.status != http.StatusBadRequest || errorText(a.body) == "" {
		t.Errorf("GET /report?date=yesterday: %d #error %q", a.status, errorText(a.body))
	}
}

// TestImportPreviewAndCommit: the preview names each bad row's problems;
// the commit runs as a job whose progress reaches its total; the result
// counts what was created and lists the skipped rows; the appointments
// page lists the new appointments with their reminders, numbers masked;
// the same file again creates nothing.
func TestImportPreviewAndCommit(t *testing.T) {
	svc, staff, _ := remindSite(t)
	day := importDay()
	data := dayList(day)
	a := staff.postFile("/import", "day.csv", data, nil)
	if a.status != http.StatusOK {
		t.Fatalf("POST /import: %d #error %q", a.status, errorText(a.body))
	}
	rows := previewRows(a.body)
	want := map[int]string{2: "", 3: "", 4: ops.ProblemBadNumber, 5: ops.ProblemMissingField, 6: ops.ProblemPast}
	for line, code := range want {
		got, ok := rows[line]
		if !ok {
			t.Errorf("the preview has no row for line %d: %v", line, rows)
			continue
		}
		if (code == "") != (got == "") || !strings.Contains(got, code) {
			t.Errorf("line %d: problems %q, want %q", line, got, code)
		}
	}
	if got := textOf(t, a.body, "preview-summary"); !strings.HasPrefix(got, "2 good rows, 3 with problems") {
		t.Errorf("#preview-summary %q", got)
	}
	if as, _ := svc.Appointments(context.Background(), root, ops.AppointmentFilter{Date: day}); len(as) != 0 {
		t.Fatalf("the preview created %d appointments", len(as))
	}
	commit := commitPath(a.body)
	if commit == "" {
		t.Fatalf("the preview has no commit button:\n%s", a.body)
	}

	// Another person cannot commit this upload.
	other := staff.site.browser()
	addUser(t, svc, "bob", ops.RoleStaff)
	other.signIn("bob", "/")
	if o := other.post(commit, nil); o.status != http.StatusNotFound {
		t.Errorf("bob commits alice's upload: %d", o.status)
	}

	c := staff.post(commit, nil)
	if c.status != http.StatusSeeOther || !strings.HasPrefix(c.location, "/import/jobs/") {
		t.Fatalf("commit: %d to %q, want 303 to /import/jobs/…: %s", c.status, c.location, errorText(c.body))
	}
	if o := other.get(c.location); o.status != http.StatusNotFound {
		t.Errorf("bob sees alice's import job: %d", o.status)
	}
	seen := waitJob(t, staff, c.location)
	last := seen[len(seen)-1]
	if last.Error != "" || last.Total != 2 || last.Done != last.Total {
		t.Errorf("the finished job's progress %+v, want 2 of 2 and no error", last)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Done < seen[i-1].Done {
			t.Errorf("the progress went back: %+v", seen)
		}
	}
	j := staff.get(c.location)
	if j.status != http.StatusOK {
		t.Fatalf("the job's page: %d %s", j.status, errorText(j.body))
	}
	if textOf(t, j.body, "import-created") != "2" || textOf(t, j.body, "import-skipped") != "3" {
		t.Errorf("the result: created %q, skipped %q; want 2 and 3", textOf(t, j.body, "import-created"), textOf(t, j.body, "import-skipped"))
	}
	if n, _ := strconv.Atoi(textOf(t, j.body, "import-reminders")); n < 2 {
		t.Errorf("the result: %d reminders, want at least one per appointment", n)
	}
	if !regexp.MustCompile(`<progress id="import-progress" max="2" value="2"`).MatchString(j.body) {
		t.Errorf("the finished job's progress bar is not full: %s", regexp.MustCompile(`<progress[^>]*>`).FindString(j.body))
	}
	for _, line := range []string{"4", "5", "6"} {
		if !strings.Contains(j.body, `<tr data-line="`+line+`"><th scope="row">`+line+`</th>`) {
			t.Errorf("the result does not list skipped line %s", line)
		}
	}
	// The upload was taken: a second commit of it is refused.
	if again := staff.post(commit, nil); again.status != http.StatusNotFound {
		t.Errorf("the same upload committed twice: %d", again.status)
	}

	// The day's list: both appointments, masked numbers, their reminders.
	l := staff.get("/appointments?date=" + day)
	ids := dataIDs(l.body)
	if len(ids) != 2 {
		t.Fatalf("the appointments page of %s lists %v, want 2 appointments", day, ids)
	}
	body := html.UnescapeString(l.body)
	for _, name := range []string{"Ana Lopez", "Ben Ode"} {
		if !strings.Contains(body, name) {
			t.Errorf("the day's list has no %s", name)
		}
	}
	if strings.Contains(body, "+15551230401") || strings.Contains(body, "+15551230402") {
		t.Error("the day's list shows a full number")
	}
	if strings.Count(l.body, `class="reminder state-queued"`) < 2 || strings.Contains(l.body, "Skipped") {
		t.Errorf("the day's list does not show each appointment's queued reminders")
	}
	if !strings.Contains(l.body, "No answer yet") {
		t.Error("the day's list does not show the answers")
	}

	// The same file again: imported already, nothing new.
	a = staff.postFile("/import", "day.csv", data, nil)
	if a.status != http.StatusOK {
		t.Fatalf("POST /import again: %d %q", a.status, errorText(a.body))
	}
	if hasID(a.body, "already-imported") {
		if commitPath(a.body) != "" {
			t.Error("a file imported already can be committed again")
		}
	} else {
		c := staff.post(commitPath(a.body), nil)
		waitJob(t, staff, c.location)
		if j := staff.get(c.location); !strings.Contains(textOf(t, j.body, "notice"), "imported already") {
			t.Errorf("the same file committed again: notice %q, want imported already", textOf(t, j.body, "notice"))
		}
	}
	if as, _ := svc.Appointments(context.Background(), root, ops.AppointmentFilter{Date: day}); len(as) != 2 {
		t.Errorf("after importing the file twice, %d appointments, want 2", len(as))
	}
}

// TestImportRefused: a file over 10 MB, no file, a form that is not a
// file upload and a file the service cannot read are refused with a
// message; nothing is created.
func TestImportRefused(t *testing.T) {
	svc, staff, _ := remindSite(t)
	big := append(dayList(importDay()), bytes.Repeat([]byte("Zed,+15551230409,2030-01-01,09:00,\r\n"), (10<<20)/36+10)...)
	for _, tc := range []struct {
		name   string
		data   []byte
		status int
		want   string
	}{
		{"over_10_MB", big, http.StatusRequestEntityTooLarge, "at most 10 MB"},
		{"empty", nil, http.StatusBadRequest, "No file"},
		{"invalid_utf8", []byte("name,phone,date,time\r\nAn\xffa,+15551230401,2030-01-01,09:00\r\n"), http.StatusBadRequest, ""},
		{"no_columns", []byte("a,b\r\n1,2\r\n"), http.StatusBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := staff.postFile("/import", "x.csv", tc.data, nil)
			if a.status != tc.status || errorText(a.body) == "" || !strings.Contains(errorText(a.body), tc.want) {
				t.Errorf("%d #error %q, want %d with %q", a.status, errorText(a.body), tc.status, tc.want)
			}
			if !hasID(a.body, "import") {
				t.Error("the form is not shown again")
			}
		})
	}
	if a := staff.post("/import", url.Values{"file": {"name,phone"}}); a.status != http.StatusBadRequest || errorText(a.body) == "" {
		t.Errorf("a form that is not an upload: %d %q", a.status, errorText(a.body))
	}
	if a := staff.post("/import/nosuchupload/commit", nil); a.status != http.StatusNotFound {
		t.Errorf("commit of an unknown upload: %d", a.status)
	}
	if a := staff.get("/import/jobs/nosuchjob"); a.status != http.StatusNotFound {
		t.Errorf("an unknown job: %d", a.status)
	}
	if as, _ := svc.Appointments(context.Background(), root, ops.AppointmentFilter{Date: "2030-01-01"}); len(as) != 0 {
		t.Errorf("refused imports created %d appointments", len(as))
	}
}

// importOne imports one appointment day days ahead at hh:mm and returns
// it as the service shows it.
func importOne(t *testing.T, svc *daemon.Service, name, phone, day, hhmm string) ops.Appointment {
	t.Helper()
	csv := "name,phone,date,time\r\n" + name + "," + phone + "," + day + "," + hhmm + "\r\n"
	res, err := svc.Import(context.Background(), root, ops.ImportRequest{Data: []byte(csv), FileName: "one.csv", Commit: true}, nil)
	if err != nil || res.Created != 1 || len(res.Rows) != 1 || res.Rows[0].AppointmentID == 0 {
		t.Fatalf("import %s: %+v %v", name, res, err)
	}
	a, err := svc.Appointment(context.Background(), root, ops.AppointmentRequest{Action: ops.AppointmentShow, ID: res.Rows[0].AppointmentID})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAppointmentActions: the appointment's own page shows the full
// number; moving it re-plans its reminders; cancelling cancels them; bad
// actions are refused with a message.
func TestAppointmentActions(t *testing.T) {
	svc, staff, _ := remindSite(t)
	ctx := context.Background()
	day := importDay()
	appt := importOne(t, svc, "Eve Moss", "+15551230411", day, "12:00")
	path := fmt.Sprintf("/appointments/%d", appt.ID)

	a := staff.get(path)
	if a.status != http.StatusOK || textOf(t, a.body, "appointment-phone") != "+15551230411" || textOf(t, a.body, "appointment-name") != "Eve Moss" {
		t.Fatalf("the appointment's page: %d %q", a.status, errorText(a.body))
	}
	if strings.Contains(a.body, "data-live") {
		t.Error("the appointment's own page refreshes by itself (each look is an audited view)")
	}

	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"no_action", url.Values{}, "action is missing"},
		{"unknown_action", url.Values{"action": {"delete"}}, "no such action"},
		{"move_without_time", url.Values{"action": {"move"}}, "new time is missing"},
		{"move_bad_time", url.Values{"action": {"move"}, "at": {"soon"}}, "not a date and time"},
	} {
		if r := staff.post(path, tc.form); r.status != http.StatusBadRequest || !strings.Contains(errorText(r.body), tc.want) {
			t.Errorf("%s: %d #error %q, want 400 with %q", tc.name, r.status, errorText(r.body), tc.want)
		}
	}
	if r := staff.post("/appointments/987654", url.Values{"action": {"cancel"}}); r.status != http.StatusNotFound {
		t.Errorf("cancel an unknown appointment: %d", r.status)
	}
	// A form posted from another site is refused and changes nothing.
	if r := staff.postWith(path, "action=cancel", map[string]string{"Sec-Fetch-Site": "cross-site"}); r.status != http.StatusForbidden {
		t.Errorf("a cross-site cancel: %d", r.status)
	}
	if got, _ := svc.Appointment(ctx, root, ops.AppointmentRequest{Action: ops.AppointmentShow, ID: appt.ID}); got.State != ops.AppointmentScheduled {
		t.Fatalf("a refused cross-site cancel left the appointment %q", got.State)
	}

	// Move it a day later, from the day's list.
	next := time.Now().AddDate(0, 0, 4).Format("2006-01-02")
	r := staff.post(path, url.Values{"action": {"move"}, "at": {next + "T14:00"}, "back": {"list"}})
	if r.status != http.StatusSeeOther || r.location != "/appointments?date="+next+"&done=move" {
		t.Fatalf("move: %d to %q: %q", r.status, r.location, errorText(r.body))
	}
	moved, err := svc.Appointment(ctx, root, ops.AppointmentRequest{Action: ops.AppointmentShow, ID: appt.ID})
	if err != nil || moved.At.Local().Format("2006-01-02T15:04") != next+"T14:00" {
		t.Fatalf("after the move: %v %v", moved.At, err)
	}
	for i, rem := range moved.Reminders {
		if rem.Skipped == "" && i < len(appt.Reminders) && rem.SendAt.Equal(appt.Reminders[i].SendAt) {
			t.Errorf("reminder %d still goes out at %v after the move", i, rem.SendAt)
		}
	}
	if l := staff.get(r.location); !strings.Contains(textOf(t, l.body, "notice"), "Moved") || len(dataIDs(l.body)) != 1 {
		t.Errorf("the new day's list after the move: notice %q, ids %v", textOf(t, l.body, "notice"), dataIDs(l.body))
	}

	// Cancel it from its own page.
	r = staff.post(path, url.Values{"action": {"cancel"}})
	if r.status != http.StatusSeeOther || r.location != path+"?done=cancel" {
		t.Fatalf("cancel: %d to %q: %q", r.status, r.location, errorText(r.body))
	}
	got, err := svc.Appointment(ctx, root, ops.AppointmentRequest{Action: ops.AppointmentShow, ID: appt.ID})
	if err != nil || got.State != ops.AppointmentCancelled {
		t.Fatalf("after cancel: %+v %v", got, err)
	}
	for _, rem := range got.Reminders {
		if rem.MessageID != 0 && rem.State != "cancelled" {
			t.Errorf("a reminder of the cancelled appointment is %q", rem.State)
		}
	}
	p := staff.get(path + "?done=cancel")
	if textOf(t, p.body, "appointment-state") != ops.AppointmentCancelled || hasID(p.body, "appointment-cancel") {
		t.Error("the cancelled appointment's page still offers to cancel it")
	}
	// A cancelled appointment is listed only with all=1.
	if l := staff.get("/appointments?date=" + next); len(dataIDs(l.body)) != 0 {
		t.Errorf("the day's list shows the cancelled appointment")
	}
	if l := staff.get("/appointments?all=1&date=" + next); len(dataIDs(l.body)) != 1 {
		t.Errorf("the day's list with all=1 does not show the cancelled appointment")
	}
}

// TestTemplatesPage: staff read the templates with their checks and get
// no form; admins check a text without saving it (unknown placeholder,
// opt-out word, clinical words, worst case), save a good one and delete it.
func TestTemplatesPage(t *testing.T) {
	svc, staff, admin := remindSite(t)
	ctx := context.Background()
	before, err := svc.Templates(ctx, root, ops.TemplateRequest{Action: ops.TemplateList})
	if err != nil {
		t.Fatal(err)
	}
	a := staff.get("/templates")
	if a.status != http.StatusOK {
		t.Fatalf("staff: %d", a.status)
	}
	if strings.Contains(a.body, `action="/templates"`) {
		t.Error("staff are shown a form that changes templates")
	}
	for _, tpl := range before {
		if !strings.Contains(a.body, fmt.Sprintf(`data-id="%d"`, tpl.ID)) {
			t.Errorf("the page does not list template %d (%s)", tpl.ID, tpl.Name)
		}
	}
	if len(before) > 0 && !strings.Contains(a.body, `class="worst-case"`) {
		t.Error("the templates' checks (worst case) are not shown to staff")
	}
	if p := admin.get("/templates"); len(before) > 0 && strings.Count(p.body, `class="worst-case"`) != len(before) {
		t.Errorf("admins see %d checks for %d templates", strings.Count(p.body, `class="worst-case"`), len(before))
	}
	if r := staff.post("/templates", url.Values{"action": {"save"}, "name": {"Mine"}, "language": {"en"}, "body": {"Hi {name}"}}); r.status != http.StatusForbidden {
		t.Errorf("staff save a template: %d", r.status)
	}

	check := func(body string) answer {
		t.Helper()
		r := admin.post("/templates", url.Values{"action": {"check"}, "id": {"0"}, "name": {"New"}, "language": {"en"}, "body": {body}})
		if r.status != http.StatusOK {
			t.Fatalf("check %q: %d %q", body, r.status, errorText(r.body))
		}
		if !strings.Contains(r.body, ">"+html.EscapeString(body)+"</textarea>") {
			t.Errorf("check %q: the text is not kept in the form", body)
		}
		return r
	}
	for _, tc := range []struct {
		body, want string
		ok         bool
	}{
		{"Hi {nmae}, see you {date}.", "{nmae}", false},
		{"Hi {name}, reply CANCEL to cancel your visit.", "CANCEL", false},
		{"Hi {name}, your HIV test is on {date} at {time}.", "HIV", true},
		{"Hi {name}, see you {date} at {time}. Reply C to confirm.", "parts · UCS-2", true},
	} {
		r := check(tc.body)
		form := regexp.MustCompile(`(?s)<form id="tpl-new".*?</form>`).FindString(r.body)
		box := regexp.MustCompile(`(?s)<div class="check (check-ok|check-bad)".*?</div>`).FindStringSubmatch(form)
		if box == nil {
			t.Errorf("check %q: no check shown", tc.body)
			continue
		}
		if (box[1] == "check-ok") != tc.ok || !strings.Contains(strings.ToUpper(html.UnescapeString(box[0])), strings.ToUpper(tc.want)) {
			t.Errorf("check %q: %s, want ok=%v naming %q", tc.body, html.UnescapeString(box[0]), tc.ok, tc.want)
		}
	}
	if after, _ := svc.Templates(ctx, root, ops.TemplateRequest{Action: ops.TemplateList}); len(after) != len(before) {
		t.Errorf("checking saved a template: %d, was %d", len(after), len(before))
	}
	// A refused save keeps the form and shows why.
	r := admin.post("/templates", url.Values{"action": {"save"}, "id": {"0"}, "name": {"Bad"}, "language": {"en"}, "body": {"Reply CANCEL to cancel."}})
	if r.status < 400 || r.status >= 500 || errorText(r.body) == "" {
		t.Errorf("saving an opt-out ask: %d %q, want a 4xx with a reason", r.status, errorText(r.body))
	}
	// A good one is saved, listed, then deleted.
	r = admin.post("/templates", url.Values{"action": {"save"}, "id": {"0"}, "name": {"Follow-up"}, "language": {"es"}, "body": {"Hola {name}, su cita es el {date} a las {time}."}})
	if r.status != http.StatusSeeOther || r.location != "/templates?done=saved" {
		t.Fatalf("save: %d to %q: %q", r.status, r.location, errorText(r.body))
	}
	after, _ := svc.Templates(ctx, root, ops.TemplateRequest{Action: ops.TemplateList})
	var saved ops.Template
	for _, tpl := range after {
		if tpl.Name == "Follow-up" {
			saved = tpl
		}
	}
	if saved.ID == 0 || saved.Language != ops.LangSpanish {
		t.Fatalf("the saved template is not listed: %+v", after)
	}
	if p := admin.get("/templates?done=saved"); !strings.Contains(p.body, fmt.Sprintf(`data-id="%d"`, saved.ID)) || textOf(t, p.body, "notice") != "Saved." {
		t.Error("the page does not show the saved template")
	}
	r = admin.post("/templates", url.Values{"action": {"delete"}, "id": {strconv.FormatInt(saved.ID, 10)}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d %q", r.status, errorText(r.body))
	}
	if after, _ := svc.Templates(ctx, root, ops.TemplateRequest{Action: ops.TemplateList}); len(after) != len(before) {
		t.Errorf("after delete: %d templates, want %d", len(after), len(before))
	}
}

// TestReportPage: the day's counts and the chart, drawn as SVG in the
// page with one bar per series and day, styled by classes only.
func TestReportPage(t *testing.T) {
	_, staff, _ := remindSite(t)
	a := staff.get("/report")
	if a.status != http.StatusOK {
		t.Fatalf("GET /report: %d %q", a.status, errorText(a.body))
	}
	svg := regexp.MustCompile(`(?s)<svg id="report-chart".*?</svg>`).FindString(a.body)
	if svg == "" {
		t.Fatal("no chart")
	}
	days := len(regexp.MustCompile(`<text class="day"`).FindAllString(svg, -1))
	if days == 0 || strings.Count(svg, `<rect class="bar series-sent"`) != days || strings.Count(svg, `<rect class="bar series-confirmed"`) != days {
		t.Errorf("the chart has %d days but not one bar per series and day", days)
	}
	if !strings.Contains(svg, `role="img"`) || !strings.Contains(svg, "<title") {
		t.Error("the chart has no accessible name")
	}
	for _, id := range []string{"report-sent", "report-delivered", "report-failed", "report-confirmed", "report-reschedule", "report-opted-out"} {
		if _, err := strconv.Atoi(textOf(t, a.body, id)); err != nil {
			t.Errorf("#%s is not a count: %v", id, err)
		}
	}
}

// TestSendTemplate: a message from a template and its fields is the
// template filled in; the counter counts the filled text and shows it.
func TestSendTemplate(t *testing.T) {
	svc, staff, _ := remindSite(t)
	ctx := context.Background()
	ts, err := svc.Templates(ctx, root, ops.TemplateRequest{Action: ops.TemplateSave, Name: "Short", Language: ops.LangEnglish,
		Body: "Hi {name}, see you {date} at {time} with {provider}."})
	if err != nil || len(ts) != 1 {
		t.Fatalf("save a template: %v %v", ts, err)
	}
	id := strconv.FormatInt(ts[0].ID, 10)
	want := "Hi Ana, see you Thu 3 Dec at 3:00 PM with Dr Who."
	a := staff.get("/send")
	if !strings.Contains(a.body, `<option value="`+id+`">Short (English)</option>`) {
		t.Errorf("the send page does not offer the template")
	}
	form := url.Values{"to": {patientA}, "patient": {"Ana"}, "template_id": {id}, "f_date": {"Thu 3 Dec"}, "f_time": {"3:00 PM"}, "f_provider": {"Dr Who"}}
	c := staff.post("/send/count", form)
	var got struct {
		ops.TextCount
		Preview string `json:"preview"`
	}
	if c.status != http.StatusOK || json.Unmarshal([]byte(c.body), &got) != nil {
		t.Fatalf("count: %d %s", c.status, c.body)
	}
	if got.Preview != want || got.TextCount != svc.CountText(ctx, want) {
		t.Errorf("count of the template: %+v, want the count of %q", got, want)
	}
	form.Set("text", "")
	r := staff.post("/send", form)
	m := regexp.MustCompile(`^/messages/(\d+)\?done=queued$`).FindStringSubmatch(r.location)
	if r.status != http.StatusSeeOther || m == nil {
		t.Fatalf("send by template: %d to %q: %q", r.status, r.location, errorText(r.body))
	}
	msgID, _ := strconv.ParseInt(m[1], 10, 64)
	msg, err := svc.Message(ctx, root, msgID)
	if err != nil || msg.Text != want {
		t.Errorf("the message's text %q (%v), want %q", msg.Text, err, want)
	}
	// Free text: the counter warns of clinical words.
	c = staff.post("/send/count", url.Values{"text": {"Your HIV test results are ready."}})
	var free struct {
		Clinical []string `json:"clinical"`
	}
	if json.Unmarshal([]byte(c.body), &free) != nil || len(free.Clinical) == 0 {
		t.Errorf("the counter of a text naming a test warns of nothing: %s", c.body)
	}
	if p := staff.post("/send", url.Values{"to": {"12"}, "text": {"Your HIV test results are ready."}}); !hasID(p.body, "clinical-note") || strings.Contains(p.body, `id="clinical-note" class="help clinical-warning" hidden`) {
		t.Error("the send page does not show the clinical warning for the text typed")
	}
	for _, tc := range []struct {
		name, tpl string
		want      string
	}{
		{"unknown_template", "987654", ""},
		{"not_a_number", "x", "no such template"},
	} {
		f := url.Values{"to": {patientA}, "template_id": {tc.tpl}}
		if r := staff.post("/send", f); r.status < 400 || r.status >= 500 || !strings.Contains(errorText(r.body), tc.want) {
			t.Errorf("%s: %d %q", tc.name, r.status, errorText(r.body))
		}
	}
}

// TestImportMapping: a practice system's export with headers of its own
// is refused naming what is missing; with the headers mapped it reads;
// an admin saves the mapping and staff then choose it by name.
func TestImportMapping(t *testing.T) {
	_, staff, admin := remindSite(t)
	day := importDay()
	csv := []byte("Pt;Cell;Visit Day;Visit Hour\r\nAna Lopez;+15551230421;" + day + ";12:00\r\n")
	a := staff.postFile("/import", "export.csv", csv, nil)
	if a.status != http.StatusBadRequest || errorText(a.body) == "" {
		t.Fatalf("an export without known headers: %d #error %q, want 400 naming what is missing", a.status, errorText(a.body))
	}
	mapped := map[string]string{"map_name": "Pt", "map_phone": "Cell", "map_date": "Visit Day", "map_time": "Visit Hour"}
	a = staff.postFile("/import", "export.csv", csv, mapped)
	if a.status != http.StatusOK || !strings.HasPrefix(textOf(t, a.body, "preview-summary"), "1 good row,") {
		t.Fatalf("the export with its headers mapped: %d #error %q", a.status, errorText(a.body))
	}
	if !strings.Contains(a.body, `id="map-phone" name="map_phone" type="text" autocomplete="off" value="Cell"`) {
		t.Error("the mapping typed is not kept in the form")
	}
	save := map[string]string{"save_mapping_as": "PracticeOne"}
	for k, v := range mapped {
		save[k] = v
	}
	a = admin.postFile("/import", "export.csv", csv, save)
	if a.status != http.StatusOK || !strings.Contains(textOf(t, a.body, "notice"), "PracticeOne") {
		t.Fatalf("an admin saving the mapping: %d #error %q", a.status, errorText(a.body))
	}
	f := staff.get("/import")
	if !strings.Contains(f.body, `<option value="PracticeOne">PracticeOne</option>`) {
		t.Fatalf("the saved mapping is not offered on the import page")
	}
	a = staff.postFile("/import", "export.csv", csv, map[string]string{"mapping_name": "PracticeOne"})
	if a.status != http.StatusOK || !strings.HasPrefix(textOf(t, a.body, "preview-summary"), "1 good row,") {
		t.Errorf("the export with the saved mapping: %d #error %q", a.status, errorText(a.body))
	}
}

// TestRemindPagesInert: markup in a patient's name, provider and the
// file's name is shown as text on the preview, the result, the day's list
// and the appointment's page.
func TestRemindPagesInert(t *testing.T) {
	svc, staff, _ := remindSite(t)
	day := importDay()
	const evil = `<script>alert(1)</script><img src=x onerror=alert(2)>`
	csv := []byte("name,phone,date,time,provider\r\n\"" + evil + "\",+15551230431," + day + ",12:00,\"\"\"><svg onload=alert(3)>\"\r\n")
	a := staff.postFile("/import", `"><script>x</script>.csv`, csv, nil)
	if a.status != http.StatusOK {
		t.Fatalf("preview: %d %q", a.status, errorText(a.body))
	}
	c := staff.post(commitPath(a.body), nil)
	waitJob(t, staff, c.location)
	as, err := svc.Appointments(context.Background(), root, ops.AppointmentFilter{Date: day})
	if err != nil || len(as) != 1 || as[0].Name != evil {
		t.Fatalf("the imported appointment: %+v %v", as, err)
	}
	for _, p := range []string{"/import/preview", c.location, "/appointments?date=" + day, fmt.Sprintf("/appointments/%d", as[0].ID)} {
		body := a.body
		if p != "/import/preview" {
			body = staff.get(p).body
		}
		for _, raw := range []string{"<script>alert", "<img src=x", "<svg onload", "<script>x"} {
			if strings.Contains(body, raw) {
				t.Errorf("%s shows %q as markup", p, raw)
			}
		}
		if p != c.location && !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s does not show the name as text", p)
		}
	}
}

// TestImportPreviewLong: a long list's preview shows every bad row and
// the first 500 good ones, and says how many good rows it left out; the
// commit still takes them all.
func TestImportPreviewLong(t *testing.T) {
	svc, staff, _ := remindSite(t)
	day := importDay()
	var csv strings.Builder
	csv.WriteString("name,phone,date,time\r\n")
	for i := range 600 {
		fmt.Fprintf(&csv, "Patient %d,+1555%07d,%s,12:%02d\r\n", i, 2000000+i, day, i%60)
	}
	csv.WriteString("Bad Row,12," + day + ",13:00\r\n")
	a := staff.postFile("/import", "long.csv", []byte(csv.String()), nil)
	if a.status != http.StatusOK {
		t.Fatalf("preview: %d %q", a.status, errorText(a.body))
	}
	rows := previewRows(a.body)
	if len(rows) != 501 || rows[602] != ops.ProblemBadNumber {
		t.Errorf("the preview shows %d rows (the bad one: %q), want 500 good and the bad one", len(rows), rows[602])
	}
	if got := textOf(t, a.body, "more-good"); got != "And 100 more good rows, not shown." {
		t.Errorf("#more-good %q", got)
	}
	c := staff.post(commitPath(a.body), nil)
	if p := waitJob(t, staff, c.location); p[len(p)-1].Done != 600 {
		t.Errorf("the commit: %+v, want 600 done", p[len(p)-1])
	}
	if as, _ := svc.Appointments(context.Background(), root, ops.AppointmentFilter{Date: day}); len(as) != 600 {
		t.Errorf("%d appointments, want 600", len(as))
	}
}

// TestImportTwiceAtOnce: the same file previewed twice and committed
// twice (two people at two desks) creates its appointments once; the
// second commit says it was imported already.
func TestImportTwiceAtOnce(t *testing.T) {
	svc, staff, admin := remindSite(t)
	day := importDay()
	data := dayList(day)
	first := commitPath(staff.postFile("/import", "day.csv", data, nil).body)
	second := commitPath(admin.postFile("/import", "day.csv", data, nil).body)
	if first == "" || second == "" {
		t.Fatal("a preview has no commit button")
	}
	c1 := staff.post(first, nil)
	waitJob(t, staff, c1.location)
	c2 := admin.post(second, nil)
	if p := waitJob(t, admin, c2.location); p[len(p)-1].Error != "" {
		t.Fatalf("the second commit failed: %+v", p[len(p)-1])
	}
	if j := admin.get(c2.location); !strings.Contains(textOf(t, j.body, "notice"), "imported already") {
		t.Errorf("the second commit's notice %q, want imported already", textOf(t, j.body, "notice"))
	}
	if as, _ := svc.Appointments(context.Background(), root, ops.AppointmentFilter{Date: day}); len(as) != 2 {
		t.Errorf("%d appointments after two commits of one file, want 2", len(as))
	}
}

// newAppointmentForm is a good new appointment's form for day at hhmm.
func newAppointmentForm(name, phone, day, hhmm string) url.Values {
	return url.Values{"name": {name}, "phone": {phone}, "date": {day}, "time": {hhmm}, "provider": {"Dr Lee"},
		"location": {"Room 2"}, "language": {"es"}}
}

// fieldValue is the value attribute of the input with id, unescaped.
func fieldValue(body, id string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*\svalue="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// TestAppointmentNew: staff create one appointment by hand; its page lists
// the reminders the clinic's plan made; the day's list shows it. A bad or
// opted-out number, a time in the past, a duplicate and a missing field
// show the form again as typed with the reason next to the field, and
// create nothing; a form posted from another site is refused.
func TestAppointmentNew(t *testing.T) {
	svc, staff, _ := remindSite(t)
	ctx := context.Background()
	day := importDay()
	if _, err := svc.OptOuts(ctx, root, ops.OptOutRequest{Action: ops.OptOutAdd, Number: "+15551230699"}); err != nil {
		t.Fatal(err)
	}

	// The form, linked from the day's list with the day filled in.
	list := staff.get("/appointments?date=" + day)
	if !strings.Contains(list.body, `href="/appointments/new?date=`+day+`"`) {
		t.Errorf("the day's list has no link to a new appointment on %s", day)
	}
	a := staff.get("/appointments/new?date=" + day)
	if a.status != http.StatusOK || fieldValue(a.body, "new-date") != day {
		t.Fatalf("GET /appointments/new: %d, date %q, want %s: %q", a.status, fieldValue(a.body, "new-date"), day, errorText(a.body))
	}
	for _, id := range []string{"appointment-new", "new-name", "new-phone", "new-date", "new-time", "new-provider", "new-location", "new-language", "new-submit"} {
		if !hasID(a.body, id) {
			t.Errorf("the new appointment form has no #%s", id)
		}
		if id != "appointment-new" && id != "new-submit" && !strings.Contains(a.body, `<label for="`+id+`"`) {
			t.Errorf("#%s has no label", id)
		}
	}
	if strings.Contains(a.body, "style=") || strings.Contains(a.body, "<script>") || strings.Contains(a.body, "data-live") {
		t.Error("the form has inline style or script, or refreshes by itself")
	}

	// Created by staff (front-desk work): its page lists the plan's two
	// reminders, queued.
	r := staff.post("/appointments/new", newAppointmentForm("Gil Sol", "+15551230601", day, "12:00"))
	m := regexp.MustCompile(`^/appointments/(\d+)\?done=create$`).FindStringSubmatch(r.location)
	if r.status != http.StatusSeeOther || m == nil {
		t.Fatalf("create: %d to %q: %q", r.status, r.location, errorText(r.body))
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	got, err := svc.Appointment(ctx, root, ops.AppointmentRequest{Action: ops.AppointmentShow, ID: id})
	if err != nil || got.Name != "Gil Sol" || got.Phone != "+15551230601" || got.Language != ops.LangSpanish || got.Provider != "Dr Lee" ||
		got.Location != "Room 2" || got.At.Local().Format("2006-01-02T15:04") != day+"T12:00" || got.CreatedBy == "" || !strings.Contains(got.CreatedBy, "alice") {
		t.Fatalf("the created appointment: %+v %v", got, err)
	}
	p := staff.get(r.location)
	if p.status != http.StatusOK || !strings.Contains(textOf(t, p.body, "notice"), "Created") || textOf(t, p.body, "appointment-phone") != "+15551230601" {
		t.Fatalf("the new appointment's page: %d %q", p.status, errorText(p.body))
	}
	queued := strings.Count(p.body, `class="reminder state-queued"`)
	if queued == 0 || queued != len(got.Reminders) {
		t.Errorf("the new appointment's page lists %d queued reminders; the service planned %d", queued, len(got.Reminders))
	}
	if l := staff.get("/appointments?date=" + day); !slices.Contains(dataIDs(l.body), id) {
		t.Errorf("the day's list does not show the new appointment %d: %v", id, dataIDs(l.body))
	}

	past := time.Now().AddDate(0, 0, -1).Format("2006-01-02")
	for _, tc := range []struct {
		name   string
		form   url.Values
		field  string // the field the reason stands next to
		status int
		want   string
	}{
		{"invalid_number", newAppointmentForm("Hal Ng", "12", day, "12:30"), "phone", http.StatusBadRequest, "number"},
		{"opted_out", newAppointmentForm("Ida Opt", "+15551230699", day, "12:30"), "phone", http.StatusBadRequest, "opted out"},
		{"past", newAppointmentForm("Jo Late", "+15551230602", past, "09:00"), "time", http.StatusBadRequest, "in the past"},
		{"duplicate", newAppointmentForm("Gil Again", "+15551230601", day, "12:00"), "time", http.StatusBadRequest, "exists already"},
		{"missing_name", newAppointmentForm("  ", "+15551230603", day, "12:30"), "name", http.StatusBadRequest, "name is missing"},
		{"missing_time", newAppointmentForm("Kim Lo", "+15551230603", day, ""), "time", http.StatusBadRequest, "time of the appointment is missing"},
		{"bad_date", newAppointmentForm("Kim Lo", "+15551230603", "2026-02-30", "12:30"), "date", http.StatusBadRequest, "not a date"},
		{"bad_language", func() url.Values {
			f := newAppointmentForm("Kim Lo", "+15551230603", day, "12:30")
			f.Set("language", "fr")
			return f
		}(),
			"language", http.StatusBadRequest, "no such language"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := svc.Appointments(ctx, root, ops.AppointmentFilter{Date: tc.form.Get("date"), All: true})
			a := staff.post("/appointments/new", tc.form)
			if a.status != tc.status || !strings.Contains(errorText(a.body), tc.want) {
				t.Fatalf("%d #error %q, want %d with %q", a.status, errorText(a.body), tc.status, tc.want)
			}
			if e := textOf(t, a.body, tc.field+"-error"); !strings.Contains(e, tc.want) {
				t.Errorf("next to the %s: %q, want %q", tc.field, e, tc.want)
			}
			if !regexp.MustCompile(`id="new-` + tc.field + `"[^>]*aria-invalid="true"`).MatchString(a.body) {
				t.Errorf("#new-%s is not marked invalid", tc.field)
			}
			if n := strings.Count(a.body, `class="field-error"`); n != 1 {
				t.Errorf("%d fields show a reason, want 1", n)
			}
			for _, f := range []string{"name", "phone", "date", "time", "provider", "location"} {
				if got, want := fieldValue(a.body, "new-"+f), strings.TrimSpace(tc.form.Get(f)); got != want {
					t.Errorf("the form kept %s as %q, want %q", f, got, want)
				}
			}
			if tc.field != "language" && !strings.Contains(a.body, `<option value="es" selected>`) {
				t.Error("the form did not keep the language")
			}
			if day, err := time.Parse("2006-01-02", tc.form.Get("date")); err == nil {
				after, _ := svc.Appointments(ctx, root, ops.AppointmentFilter{Date: day.Format("2006-01-02"), All: true})
				if len(after) != len(before) {
					t.Errorf("a refused form changed the day's appointments: %d, then %d", len(before), len(after))
				}
			}
		})
	}

	// A form posted from another site is refused and creates nothing.
	f := newAppointmentForm("Lu Cross", "+15551230604", day, "13:00")
	if r := staff.postWith("/appointments/new", f.Encode(), map[string]string{"Sec-Fetch-Site": "cross-site"}); r.status != http.StatusForbidden {
		t.Errorf("a cross-site create: %d", r.status)
	}
	if as, _ := svc.Appointments(ctx, root, ops.AppointmentFilter{Date: day, All: true}); len(as) != 1 {
		t.Errorf("the day has %d appointments after the refused forms, want only Gil's", len(as))
	}
}

// TestAppointmentNewClinical: a provider or location that looks like it
// carries clinical detail is said so on the form shown again and on the
// new appointment's page.
func TestAppointmentNewClinical(t *testing.T) {
	_, staff, _ := remindSite(t)
	day := importDay()
	f := newAppointmentForm("Mo Ray", "12", day, "12:00")
	f.Set("location", "Chemotherapy suite")
	a := staff.post("/appointments/new", f)
	if a.status != http.StatusBadRequest || !hasID(a.body, "new-clinical") || strings.Contains(a.body, `id="new-clinical" class="help clinical-warning" hidden`) {
		t.Fatalf("the form again with a clinical location: %d, warning shown: %v", a.status, hasID(a.body, "new-clinical"))
	}
	f.Set("phone", "+15551230611")
	r := staff.post("/appointments/new", f)
	if r.status != http.StatusSeeOther {
		t.Fatalf("create: %d %q", r.status, errorText(r.body))
	}
	if n := textOf(t, staff.get(r.location).body, "notice"); !strings.Contains(n, "clinical detail") {
		t.Errorf("the new appointment's notice %q does not warn of clinical detail", n)
	}
	if n := textOf(t, staff.get("/appointments/new").body, "new-clinical-words"); n != "" {
		t.Errorf("the empty form warns of %q", n)
	}
}

// TestSendPreviewFillsSettings: the send page's preview and counter show
// a template with {clinic} and {phone} filled from the settings, as Send
// fills them: a clinic name that takes the text past one part is counted
// as two, and the preview is the text that goes out.
func TestSendPreviewFillsSettings(t *testing.T) {
	svc := openServiceWith(t, func(c *config.Config) {
		c.ClinicName = "Quartermaine Family Practice of the Upper Valley"
		c.ClinicPhone = "+1 555 010 0000"
	})
	addUser(t, svc, "alice", ops.RoleStaff)
	staff := newSite(t, svc, siteOptions{}).browser()
	staff.signIn("alice", "/")
	ctx := context.Background()
	// 125 characters with the placeholders as written: one part unfilled,
	// two (173) once the clinic's name and number are in.
	body := "Hi {name}, see you {date} at {clinic}. Questions? Call {phone}. Reply C to confirm, R to reschedule. Thank you, see you soon!"
	ts, err := svc.Templates(ctx, root, ops.TemplateRequest{Action: ops.TemplateSave, Name: "Settings", Language: ops.LangEnglish, Body: body})
	if err != nil || len(ts) != 1 {
		t.Fatalf("save a template: %v %v", ts, err)
	}
	id := strconv.FormatInt(ts[0].ID, 10)
	form := url.Values{"to": {patientA}, "patient": {"Ana"}, "template_id": {id}, "f_date": {"Thu 3 Dec"}}
	c := staff.post("/send/count", form)
	var got struct {
		ops.TextCount
		Preview string `json:"preview"`
	}
	if c.status != http.StatusOK || json.Unmarshal([]byte(c.body), &got) != nil {
		t.Fatalf("count: %d %s", c.status, c.body)
	}
	if !strings.Contains(got.Preview, "Quartermaine Family Practice of the Upper Valley") || !strings.Contains(got.Preview, "+1 555 010 0000") {
		t.Errorf("the preview %q does not fill {clinic} and {phone} from the settings", got.Preview)
	}
	if got.Parts != 2 {
		t.Errorf("the counter says %d parts for %q, want 2", got.Parts, got.Preview)
	}
	if p := staff.post("/send", form); p.status != http.StatusSeeOther {
		t.Fatalf("send by template: %d %q", p.status, errorText(p.body))
	}
	// What went out is what the preview showed.
	ms, err := svc.Messages(ctx, root, ops.MessageFilter{})
	if err != nil || len(ms) != 1 {
		t.Fatalf("messages after the send: %v %v", ms, err)
	}
	m, err := svc.Message(ctx, root, ms[0].ID)
	if err != nil || m.Text != got.Preview {
		t.Errorf("the message's text %q (%v), the preview %q", m.Text, err, got.Preview)
	}
}
