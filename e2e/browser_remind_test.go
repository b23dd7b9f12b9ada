package e2e

// The browser test of reminders (issue "Reminders"): the real smsd serve
// with its emulated modem and Debian's chromium. A person imports the
// day's list from a CSV file, reads the preview with each bad row's
// problems, commits the good rows and watches the progress bar fill, sees
// the appointments with their planned reminders; the daemon is started
// again with a test clock (SMSD_TEST_CLOCK_OFFSET) at the time the first
// reminder is due, which goes out and shows as sent on the open page with
// no reload; the patient's "C" from the handset confirms the appointment.
// Every page passes axe-core (checkPage runs it) and reaches nothing but
// the box.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserRemind: import, preview, commit with progress, the reminders
// listed, sent at their time, and a reply that confirms one.
func TestBrowserRemind(t *testing.T) {
	t.Parallel()
	r, _, tb := workRig(t, 0, `timezone = "UTC"`, `clinic_name = "Elm Street Clinic"`)
	now := time.Now().UTC()
	// The visit is three days ahead at noon: its reminders (2 days and 2
	// hours before, the default plan) are at noon tomorrow and at 10:00
	// on the day, both inside the default reminder hours 08:00-21:00,
	// whatever time of day the test runs.
	day := now.AddDate(0, 0, 3).Format("2006-01-02")
	const (
		anaPhone = "+15551230501"
		benPhone = "+15551230502"
		cyPhone  = "+15551230503"
	)
	csv := "Patient Name;Mobile;Appt Date;Appt Time;Provider\r\n" +
		"Ana Rivera;" + anaPhone + ";" + day + ";12:00;Dr Lee\r\n" +
		"Ben Ortiz;" + benPhone + ";" + day + ";12:30;Dr Lee\r\n" +
		"Cy Park;" + cyPhone + ";" + day + ";13:00;\r\n" +
		"No Number;12;" + day + ";13:30;\r\n" +
		"Long Ago;+15551230505;2020-01-02;09:00;\r\n"
	file := filepath.Join(t.TempDir(), "day.csv")
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}

	// Upload and preview.
	tb.open("/import")
	tb.must("form#import", "the import page")
	tb.checkPage("import")
	tb.step("choosing the CSV file", chromedp.SetUploadFiles(chromedp.CSS("input#import-file"), []string{file}))
	tb.click("button#import-submit")
	tb.must("table#preview", "the preview after the upload")
	if s := tb.text("#preview-summary"); !strings.HasPrefix(s, "3 good rows, 2 with problems") {
		t.Errorf("#preview-summary %q, want 3 good rows and 2 with problems", s)
	}
	for line, code := range map[int]string{5: "bad_number", 6: "in_the_past"} {
		got := eval[string](tb, fmt.Sprintf(`(document.querySelector('tr[data-line="%d"] td.problems') || {dataset: {}}).dataset.problems || ""`, line))
		if !strings.Contains(got, code) {
			t.Errorf("the preview's line %d: problems %q, want %s", line, got, code)
		}
		if txt := tb.text(fmt.Sprintf(`tr[data-line="%d"] td.problems`, line)); txt == "" || txt == "none" {
			t.Errorf("the preview's line %d names no problem", line)
		}
	}
	tb.checkPage("import preview")
	tb.scrollTo("#preview-title")
	tb.screenshot("import-preview")

	// Commit: the job's page fills its progress bar and then shows the
	// result.
	tb.click("button#commit-submit")
	tb.waitPath("/import/jobs/", liveWait)
	tb.waitFor(`(() => { const p = document.querySelector("progress#import-progress"); return !!p && p.max === 3 && p.value === p.max && !!document.querySelector("#import-created"); })()`,
		"the progress bar reaching 3 of 3 and the result", liveWait)
	if c := tb.text("#import-created"); c != "3" {
		t.Errorf("the import created %q appointments, want 3", c)
	}
	if s := tb.text("#import-skipped"); s != "2" {
		t.Errorf("the import skipped %q rows, want 2", s)
	}
	if n := tb.text("#import-reminders"); n != "6" {
		t.Errorf("the import planned %q reminders, want 6 (two per appointment)", n)
	}
	tb.checkPage("import result")
	tb.screenshot("import-result")

	// The same file again: imported already.
	tb.open("/import")
	tb.step("choosing the CSV file again", chromedp.SetUploadFiles(chromedp.CSS("input#import-file"), []string{file}))
	tb.click("button#import-submit")
	if !tb.has("#already-imported") || tb.has("button#commit-submit") {
		t.Errorf("the same file uploaded again is not said to be imported already, or can be committed\n%s", tb.where())
	}

	// The day's appointments with their reminders, all queued.
	tb.open("/appointments?date=" + day)
	tb.must("table#appointments", "the appointments page")
	if n := eval[int](tb, `document.querySelectorAll("table#appointments tr[data-id]").length`); n != 3 {
		t.Fatalf("the appointments page lists %d appointments on %s, want 3\n%s", n, day, tb.where())
	}
	if n := eval[int](tb, `document.querySelectorAll("table#appointments li.reminder.state-queued").length`); n != 6 {
		t.Errorf("%d queued reminders listed, want 6\n%s", n, tb.where())
	}
	page := tb.bodyText()
	for _, p := range []string{anaPhone, benPhone, cyPhone} {
		if showsNumber(page, p) {
			t.Errorf("the appointments list shows %s in full", p)
		}
	}
	ana := eval[string](tb, `[...document.querySelectorAll("table#appointments tr[data-id]")].find(tr => tr.innerText.includes("Ana Rivera")).dataset.id`)
	row := fmt.Sprintf(`table#appointments tr[data-id=%q]`, ana)
	tb.checkPage("appointments")
	tb.screenshot("appointments")

	// The templates, with the check of each.
	tb.open("/templates")
	tb.must("#placeholders-help", "the templates page")
	if n := eval[int](tb, `document.querySelectorAll("article.template .check").length`); n == 0 {
		t.Errorf("the templates page shows no template with its check\n%s", tb.where())
	}
	tb.checkPage("templates")
	tb.screenshot("templates")

	// The daemon again, its clock at five past noon tomorrow: Ana's first
	// reminder is due; the others wait for their time.
	due, _ := time.Parse("2006-01-02 15:04", now.AddDate(0, 0, 1).Format("2006-01-02")+" 12:05")
	offset := due.Sub(time.Now()).Round(time.Second)
	r.stop()
	r.env = append(r.env, "SMSD_TEST_CLOCK_OFFSET="+offset.String())
	r.start()
	waitWeb(t, r, tb.b.box)
	tb.signInOK(adminUser, adminPass)
	tb.open("/appointments?date=" + day)
	tb.must(row, "Ana's appointment after the restart")
	mark := tb.mark()
	tb.waitFor(fmt.Sprintf(`(() => { const li = document.querySelector(%q); return !!li && /sent|delivered/.test(li.className); })()`, row+" li.reminder"),
		"Ana's first reminder showing as sent at its time, with no reload", liveWait)
	ctx, cancel := context.WithTimeout(context.Background(), liveWait)
	defer cancel()
	if _, err := r.emu.WaitHandset(ctx, 1); err != nil {
		t.Fatalf("the reminder never reached the handset: %v", err)
	}
	hs := r.emu.Handset()
	if len(hs) != 1 || hs[0].To != anaPhone || !strings.Contains(hs[0].Text, "Ana") {
		t.Errorf("the handset got %d messages (first to %s), want Ana's one reminder", len(hs), hs[0].To)
	}
	if n := eval[int](tb, `document.querySelectorAll("table#appointments li.reminder.state-queued").length`); n != 5 {
		t.Errorf("%d reminders still queued, want 5 (only Ana's first was due)\n%s", n, tb.where())
	}

	// Ana texts C: the appointment shows it confirmed, with no reload.
	if err := r.emu.Inject(anaPhone, "C"); err != nil {
		t.Fatal(err)
	}
	tb.waitText(row+" td.answer", "Ana's answer after her C", liveWait, func(s string) bool { return strings.Contains(s, "Confirmed") })
	tb.stillMarked(mark, "the reminder going out and the reply arriving")
	tb.screenshot("appointments-confirmed")

	// The inbox links the reply to its appointment.
	tb.open("/inbox")
	link := fmt.Sprintf(`a.appointment-link[href="/appointments/%s"]`, ana)
	tb.waitFor(fmt.Sprintf(`!!document.querySelector(%q)`, link), "the reply in the inbox, linked to Ana's appointment", liveWait)
	tb.click(link)
	if p := tb.path(); p != "/appointments/"+ana {
		t.Errorf("the reply's appointment link led to %s", p)
	}
	if a := tb.text("#appointment-answer"); !strings.Contains(a, "Confirmed") {
		t.Errorf("Ana's appointment page shows the answer %q", a)
	}
	if p := tb.text("#appointment-phone"); p != anaPhone {
		t.Errorf("Ana's appointment page shows the number %q, want it in full", p)
	}
	tb.checkPage("appointment")

	// The report counts the day's reminder and its confirmation, and
	// draws them.
	tb.open("/report?date=" + due.Format("2006-01-02"))
	tb.must("svg#report-chart", "the report's chart")
	if s := tb.text("#report-sent"); s != "1" {
		t.Errorf("the report's sent count is %q, want 1", s)
	}
	if c := tb.text("#report-confirmed"); c != "1" {
		t.Errorf("the report's confirmed count is %q, want 1", c)
	}
	if h := eval[float64](tb, `(() => { const b = [...document.querySelectorAll("svg#report-chart rect.series-sent")]; return b.length ? b[b.length-1].getBBox().height : 0; })()`); h <= 0 {
		t.Errorf("the chart's bar of the day's sent reminders has height %v", h)
	}
	tb.checkPage("report")
	tb.scrollTo("#chart-title")
	tb.screenshot("report")

	// The send page with a template.
	tb.open("/send")
	tpl := eval[string](tb, `(() => { const o = [...document.querySelectorAll("select#template option")].find(o => o.value !== "0"); return o ? o.value : ""; })()`)
	if tpl == "" {
		t.Fatalf("the send page offers no template\n%s", tb.where())
	}
	tb.step("choosing a template", chromedp.SetValue(chromedp.CSS("select#template"), tpl))
	eval[bool](tb, `(document.querySelector("select#template").dispatchEvent(new Event("change", {bubbles: true})), true)`)
	tb.typeInto("input#patient", "Ana")
	tb.typeInto("input#f-date", "Fri 4 Dec")
	tb.typeInto("input#f-time", "12:00")
	preview := tb.waitText("#template-preview", "the filled template", liveWait, func(s string) bool { return strings.Contains(s, "Ana") })
	if tb.visible("textarea#text") {
		t.Error("the free-text box is shown while a template is chosen")
	}
	// {clinic} is filled from the settings, as the message will be.
	if !strings.Contains(preview, "Elm Street Clinic") || strings.Contains(preview, "{") {
		t.Errorf("the preview %q does not show the clinic's name from the settings", preview)
	}
	counter := tb.text("#counter")
	if m := regexp.MustCompile(`^(\d+) characters`).FindStringSubmatch(counter); m == nil {
		t.Errorf("the counter %q for the template %q", counter, preview)
	}
	tb.checkPage("send with a template")
}

// scrollTo scrolls sel to the top of the window (for a screenshot of the
// part of a page that matters).
func (tb *tab) scrollTo(sel string) {
	tb.t.Helper()
	eval[bool](tb, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (e) e.scrollIntoView({block: "start"}); return !!e; })()`, sel))
}

// TestBrowserAppointmentNew: a person at the front desk opens the form
// from the day's list, types a patient's appointment, is told next to the
// number that it is not one, corrects it, creates the appointment, lands
// on its page with the planned reminders, and finds it on the day's list.
// The form, refused and empty, passes axe-core.
func TestBrowserAppointmentNew(t *testing.T) {
	t.Parallel()
	_, _, tb := workRig(t, 0, `timezone = "UTC"`)
	// Three days ahead at noon: both reminders of the default plan are
	// still to come, inside the default reminder hours.
	day := time.Now().UTC().AddDate(0, 0, 3).Format("2006-01-02")
	const phone = "+15551230701"

	tb.open("/appointments?date=" + day)
	tb.must("a#appointment-new-link", "the day's list's link to a new appointment")
	tb.click("a#appointment-new-link")
	tb.waitPath("/appointments/new", liveWait)
	tb.must("form#appointment-new", "the new appointment form")
	if d := eval[string](tb, `document.querySelector("input#new-date").value`); d != day {
		t.Errorf("the form's date is %q, want the list's day %s", d, day)
	}
	tb.checkPage("new appointment")

	// Typed as a person does; the date and time pickers set as a pick
	// does (their keyboard entry follows the browser's locale).
	tb.fill("input#new-name", "Rosa Díaz")
	tb.fill("input#new-phone", "555")
	tb.setInput("input#new-time", "12:00")
	tb.fill("input#new-provider", "Dr Lee")
	tb.fill("input#new-location", "Room 2")
	tb.step("choosing Spanish", chromedp.SetValue(chromedp.CSS("select#new-language"), "es"))
	tb.click("button#new-submit")
	tb.must("#phone-error", "the reason next to the number after a bad number")
	if e := tb.text("#phone-error"); !strings.Contains(e, "number") {
		t.Errorf("next to the number: %q", e)
	}
	for sel, want := range map[string]string{"input#new-name": "Rosa Díaz", "input#new-time": "12:00", "input#new-date": day,
		"input#new-provider": "Dr Lee", "select#new-language": "es", "input#new-phone": "555"} {
		if got := eval[string](tb, fmt.Sprintf(`document.querySelector(%q).value`, sel)); got != want {
			t.Errorf("the form shown again has %s = %q, want %q as typed", sel, got, want)
		}
	}
	if !eval[bool](tb, `document.querySelector("input#new-phone").getAttribute("aria-describedby").split(" ").includes("phone-error")`) {
		t.Error("the number's field does not point its reader at the reason")
	}
	tb.checkPage("new appointment refused")
	tb.scrollTo("main")
	tb.screenshot("appointment-new")

	tb.fill("input#new-phone", phone)
	tb.click("button#new-submit")
	tb.waitPath("/appointments/", liveWait)
	if p := tb.path(); !regexp.MustCompile(`^/appointments/\d+\?done=create$`).MatchString(p) {
		t.Fatalf("after creating: at %s, want the appointment's page\n%s", p, tb.where())
	}
	if n := tb.text("#notice"); !strings.Contains(n, "Created") {
		t.Errorf("the new appointment's notice: %q", n)
	}
	if got := tb.text("#appointment-phone"); got != phone {
		t.Errorf("the new appointment's number: %q", got)
	}
	if n := eval[int](tb, `document.querySelectorAll("#appointment-reminders li.reminder.state-queued").length`); n != 2 {
		t.Errorf("the new appointment lists %d queued reminders, want the plan's 2\n%s", n, tb.where())
	}
	id := strings.TrimPrefix(strings.SplitN(tb.path(), "?", 2)[0], "/appointments/")

	tb.click(`a[href="/appointments?date=` + day + `"]`)
	tb.must(fmt.Sprintf(`table#appointments tr[data-id=%q]`, id), "the new appointment on the day's list")
	if s := tb.text(fmt.Sprintf(`table#appointments tr[data-id=%q] th`, id)); s != "Rosa Díaz" {
		t.Errorf("the day's list names the new appointment's patient %q", s)
	}
	if showsNumber(tb.bodyText(), phone) {
		t.Errorf("the day's list shows %s in full", phone)
	}
}
