package e2e

// Browser tests of the front desk's work (issue "Web UI, part 2"): the
// real smsd serve with its emulated modem and Debian's chromium, as a
// person at the desk uses the pages: send a reminder and watch it go out
// and be delivered without a reload, schedule and cancel one, see a
// patient's reply arrive threaded to its reminder, a STOP become an
// opt-out that refuses the next send, an XSS corpus shown inert on every
// page, the status and API token pages. Every page passes axe-core (no
// serious or critical finding) and no page reaches anything but the box
// (the harness's watcher). Helpers: browser_work_helpers_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/chromedp"

	"github.com/clinicsms/smsd/audit"
)

// TestBrowserWorkSendLive: a reminder typed at /send (the counter says 1
// part GSM-7 for plain text, UCS-2 for a text with an emoji and names the
// emoji), then its row at /outbox turns sent and then delivered with no
// reload; its own page shows the number and text in full.
func TestBrowserWorkSendLive(t *testing.T) {
	t.Parallel()
	// Status reports come 15 s after a send: long enough to see "sent"
	// before "delivered" however slow the machine is at loading a page.
	// Quiet hours far from now (clinic time is the machine's), so that
	// the page shows them and they hold nothing back.
	now := time.Now()
	quiet := fmt.Sprintf("%02d:00-%02d:00", (now.Hour()+6)%24, (now.Hour()+7)%24)
	r, b, tb := workRig(t, 15*time.Second, fmt.Sprintf("quiet_hours = %q", quiet))
	const to, text = "+15551230101", "Reminder: your appointment is tomorrow at 9:00. Reply C to confirm."

	tb.open("/send")
	tb.must("form#send", "the send page")
	if qh := tb.text("#quiet-hours"); !strings.Contains(qh, quiet[:5]) {
		t.Errorf("/send shows #quiet-hours %q, want the configured quiet hours %s\n%s", qh, quiet, tb.where())
	}
	if typ := eval[string](tb, `(document.querySelector("input#send-at") || {}).type || ""`); typ != "datetime-local" {
		t.Errorf("input#send-at has type %q, want datetime-local", typ)
	}
	tb.typeInto("input#to", to)
	tb.typeInto("input#patient", "Ada Patient")
	tb.typeInto("textarea#text", text)
	counter := tb.waitText("#counter", "the counter for a plain text", liveWait, func(s string) bool {
		return strings.Contains(s, "GSM-7") && strings.Contains(s, strconv.Itoa(len(text)))
	})
	if !regexp.MustCompile(`\b1 part\b`).MatchString(counter) {
		t.Errorf("#counter for a plain text of %d characters says %q, want 1 part", len(text), counter)
	}
	if tb.visible("#ucs2-char") && tb.text("#ucs2-char") != "" {
		t.Errorf("a plain GSM-7 text shows #ucs2-char %q", tb.text("#ucs2-char"))
	}
	tb.checkPage("send")
	tb.screenshot("send")

	// An emoji forces UCS-2: the counter says so and names it.
	tb.typeInto("textarea#text", "See you at 9 😀 thanks")
	tb.waitText("#counter", "the counter for a text with an emoji", liveWait, func(s string) bool { return strings.Contains(s, "UCS-2") })
	tb.waitText("#ucs2-char", "the character that forces UCS-2", liveWait, func(s string) bool { return strings.Contains(s, "😀") })
	if !tb.visible("#ucs2-char") {
		t.Errorf("#ucs2-char is not visible for a text with an emoji")
	}
	tb.checkPage("send, UCS-2")
	tb.typeInto("textarea#text", text)
	tb.waitText("#counter", "the counter back to GSM-7", liveWait, func(s string) bool { return strings.Contains(s, "GSM-7") })

	tb.click("button#send-submit")
	m := messagePathRe.FindStringSubmatch(tb.path())
	if m == nil {
		t.Fatalf("sending from /send led to %s (#error %q), want the message's page /messages/{id}\n%s", tb.path(), tb.text("#error"), tb.where())
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	if tb.text("#notice") == "" {
		t.Errorf("the message's page after sending shows no #notice")
	}
	if got := tb.text("#message-to"); !strings.Contains(strings.ReplaceAll(got, " ", ""), to) {
		t.Errorf("#message-to shows %q, want the full number %s on the message's own page", got, to)
	}
	if got := tb.text("#message-text"); got != text {
		t.Errorf("#message-text shows %q, want %q", got, text)
	}

	// The outbox: the row turns sent, then delivered, by itself.
	out := b.newTab()
	out.signInOK(adminUser, adminPass)
	out.open("/outbox")
	out.must("table#outbox", "the outbox")
	out.must(rowSel(id), "the new message's row in the outbox")
	mark := out.mark()
	out.probeEvents()
	first := out.text(rowSel(id) + " td.state")
	if stateIs("delivered")(first) {
		t.Fatalf("the row was already delivered when the outbox opened (%q): the test saw no live change; the status report comes 15 s after the send", first)
	}
	t.Logf("the row's state when the outbox opened: %q", first)
	out.waitRow(r, id, "the row turning sent without a reload", func(s string) bool {
		return stateIs("sent")(s) || stateIs("delivered")(s)
	})
	if st := out.text(rowSel(id) + " td.state"); stateIs("delivered")(st) && !stateIs("sent")(first) {
		t.Logf("the row went from %q to delivered between two looks (sent lasted less than 200 ms)", first)
	}
	out.waitRow(r, id, "the row turning delivered without a reload", stateIs("delivered"))
	out.stillMarked(mark, "the outbox row turning sent and delivered")
	if txt := out.text("table#outbox"); showsNumber(txt, to) || strings.Contains(txt, "appointment is tomorrow") {
		t.Errorf("the outbox list shows the number in full or the message's text:\n%s", txt)
	}
	out.checkPage("outbox")
	out.screenshot("outbox")

	// Its page says delivered now; nothing to cancel.
	tb.open(fmt.Sprintf("/messages/%d", id))
	tb.waitText("#message-state", "the message's page", liveWait, stateIs("delivered"))
	if tb.has(`button[name="action"][value="cancel"]`) {
		t.Errorf("a delivered message's page offers cancel")
	}
	tb.checkPage("message")
	tb.screenshot("message")

	// Exactly once on the handset, with that text.
	if c := r.handsetCounts()[to+"|"+text]; c != 1 {
		t.Errorf("the reminder reached the handset %d times, want once", c)
	}
	// Sending and each look at the message's own page are audited.
	rows := auditRows(t, r)
	auditHas(t, rows, audit.MessageCreate, "actor="+adminUser)
	auditHas(t, rows, audit.MessageView, "actor="+adminUser, fmt.Sprintf("object_id=%d", id))
}

// TestBrowserWorkOutboxFilter: the outbox's filter by state and its
// search by number find the right rows; paging moves to older rows.
func TestBrowserWorkOutboxFilter(t *testing.T) {
	t.Parallel()
	r, _, tb := workRig(t, 0)
	// 105 messages, more than a page, queued on the command line; the
	// first to one number the search must find.
	r.run("send", "-to", "+15551230201", "-text", "the one to find")
	for i := range 104 {
		r.run("send", "-to", fmt.Sprintf("+1555124%04d", i), "-text", fmt.Sprintf("filler %d", i))
	}
	r.waitFor("105 messages delivered", 120*time.Second, func() bool { return r.queue()["delivered"] == 105 })

	tb.open("/outbox")
	tb.must("form#outbox-filter", "the outbox's filter")
	rows := eval[int](tb, `document.querySelectorAll("table#outbox tr[data-id]").length`)
	if rows == 0 || rows >= 105 {
		t.Errorf("the first page of an outbox of 105 shows %d rows, want a page (fewer than all)", rows)
	}
	if !tb.has("a#older") {
		t.Fatalf("the first page of 105 messages has no a#older\n%s", tb.where())
	}
	firstIDs := eval[[]string](tb, `[...document.querySelectorAll("table#outbox tr[data-id]")].map(r => r.dataset.id)`)
	tb.click("a#older")
	olderIDs := eval[[]string](tb, `[...document.querySelectorAll("table#outbox tr[data-id]")].map(r => r.dataset.id)`)
	if len(olderIDs) == 0 {
		t.Errorf("the older page shows no rows\n%s", tb.where())
	}
	for _, id := range olderIDs {
		for _, f := range firstIDs {
			if id == f {
				t.Errorf("message %s is on the first page and on the older one", id)
			}
		}
	}
	if !tb.has("a#newer") {
		t.Errorf("the older page has no a#newer")
	}
	tb.checkPage("outbox, older")

	// Find by number: one row.
	tb.open("/outbox")
	tb.typeInto("input#find", "+1 555 123 0201")
	tb.click("button#filter-submit")
	found := eval[int](tb, `document.querySelectorAll("table#outbox tr[data-id]").length`)
	if found != 1 {
		t.Errorf("finding +1 555 123 0201 shows %d rows, want 1\n%s", found, tb.where())
	}
	tb.checkPage("outbox, found")

	// By state: none failed, every one delivered.
	tb.open("/outbox")
	tb.step("choosing the state failed", chromedp.SetValue(chromedp.CSS("select#state"), "failed"))
	tb.click("button#filter-submit")
	if n := eval[int](tb, `document.querySelectorAll("table#outbox tr[data-id]").length`); n != 0 {
		t.Errorf("the filter state=failed shows %d rows, want none", n)
	}
	tb.open("/outbox")
	tb.step("choosing the state delivered", chromedp.SetValue(chromedp.CSS("select#state"), "delivered"))
	tb.click("button#filter-submit")
	states := eval[[]string](tb, `[...document.querySelectorAll("table#outbox tr[data-id] td.state")].map(c => c.innerText.trim().toLowerCase())`)
	if len(states) == 0 {
		t.Errorf("the filter state=delivered shows no row")
	}
	for _, s := range states {
		if !strings.Contains(s, "delivered") {
			t.Errorf("the filter state=delivered shows a row in state %q", s)
		}
	}
}

// TestBrowserWorkSchedule: a reminder scheduled an hour ahead waits;
// cancelled from its page it shows cancelled, offers cancel no more and
// never reaches the handset.
func TestBrowserWorkSchedule(t *testing.T) {
	t.Parallel()
	r, _, tb := workRig(t, 0)
	const to, text = "+15551230301", "Your check-up is next week."
	at := time.Now().Add(time.Hour).Format("2006-01-02T15:04")
	id := tb.sendOK(sendForm{To: to, Text: text, SendAt: at})
	st := tb.text("#message-state")
	if stateIs("sent")(st) || stateIs("delivered")(st) {
		t.Fatalf("a message scheduled for %s is %q already", at, st)
	}
	cancel := `button[name="action"][value="cancel"]`
	tb.must(cancel, "a scheduled message's page")
	if tb.has(`button[name="action"][value="resend"]`) || tb.has(`button[name="action"][value="dismiss"]`) {
		t.Errorf("a scheduled message's page offers resend or dismiss")
	}
	tb.checkPage("message, scheduled")
	tb.click(cancel)
	if msg := tb.text("#error"); msg != "" {
		t.Fatalf("cancelling: %s", msg)
	}
	tb.open(fmt.Sprintf("/messages/%d", id))
	if st := tb.text("#message-state"); !stateIs("cancel")(st) {
		t.Errorf("after cancel the message's state is %q, want cancelled", st)
	}
	if tb.has(cancel) {
		t.Errorf("a cancelled message's page still offers cancel")
	}
	tb.checkPage("message, cancelled")
	tb.open("/outbox")
	tb.waitRow(r, id, "the cancelled row in the outbox", stateIs("cancel"))
	if q := r.queue(); q["cancelled"] != 1 {
		t.Errorf("smsd status counts %v, want one cancelled", q)
	}
	for _, m := range r.emu.Handset() {
		if m.To == to {
			t.Errorf("the cancelled message reached the handset: %q", m.Text)
		}
	}
	auditHas(t, auditRows(t, r), audit.MessageCancel, "actor="+adminUser, fmt.Sprintf("object_id=%d", id))
}

// inboxEntry finds the /inbox entry ([data-id]) that satisfies a
// JavaScript predicate on its element e; "" when none does.
func (tb *tab) inboxEntry(pred string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`(() => { const e = [...document.querySelectorAll("main [data-id]")].find(e => %s); return e ? e.dataset.id : ""; })()`, pred))
}

// unread is the number #inbox-unread shows (0 when it is empty or gone).
func (tb *tab) unread() int {
	tb.t.Helper()
	s := tb.text("#inbox-unread")
	n, err := strconv.Atoi(strings.TrimSpace(regexp.MustCompile(`\d+`).FindString(s)))
	if err != nil {
		return 0
	}
	return n
}

// TestBrowserWorkInbox: a patient's "C" at the emulator appears in the
// open /inbox with no reload, threaded to the reminder (a link to its
// page) and marked as a confirmation; the unread badge counts it;
// marking it handled lowers the count; a reply from the page reaches the
// patient's handset.
func TestBrowserWorkInbox(t *testing.T) {
	t.Parallel()
	r, _, tb := workRig(t, 0)
	const to = "+15551230401"
	id := tb.sendOK(sendForm{To: to, Text: "Appointment Friday 10:30. Reply C to confirm."})
	ctx, cancel := context.WithTimeout(context.Background(), liveWait)
	defer cancel()
	if _, err := r.emu.WaitHandset(ctx, 1); err != nil {
		t.Fatalf("the reminder never reached the handset: %v", err)
	}

	tb.open("/inbox")
	tb.must(`nav a[href="/inbox"]`, "the main navigation's inbox link")
	before := tb.unread()
	mark := tb.mark()
	if err := r.emu.Inject(to, "C"); err != nil {
		t.Fatal(err)
	}
	link := fmt.Sprintf(`a[href="/messages/%d"]`, id)
	tb.waitFor(fmt.Sprintf(`[...document.querySelectorAll("main [data-id]")].some(e => e.querySelector(%q))`, link),
		"the reply appearing in the open inbox, threaded to its reminder", liveWait)
	entry := tb.inboxEntry(fmt.Sprintf(`e.querySelector(%q)`, link))
	esel := fmt.Sprintf(`main [data-id=%q]`, entry)
	if !tb.has(esel + " .keyword-confirm") {
		t.Errorf("the reply C is not marked as a confirmation (.keyword-confirm)\n%s", tb.where())
	}
	tb.waitFor(fmt.Sprintf(`(() => { const m = (document.querySelector("#inbox-unread") || {innerText: ""}).innerText.match(/\d+/); return m && +m[0] === %d; })()`, before+1),
		fmt.Sprintf("the unread badge going from %d to %d", before, before+1), liveWait)
	tb.stillMarked(mark, "the reply arriving in the inbox")
	tb.checkPage("inbox")
	tb.screenshot("inbox")

	// The thread's link leads to the reminder.
	tb.click(esel + " " + link)
	if p := tb.path(); p != fmt.Sprintf("/messages/%d", id) {
		t.Errorf("the reply's link to its reminder led to %s", p)
	}

	// Handled: the count goes down, the button goes.
	tb.open("/inbox")
	handled := esel + ` button[name="action"][value="handled"]`
	tb.must(handled, "the reply's entry")
	n := tb.unread()
	tb.click(handled)
	tb.open("/inbox")
	if got := tb.unread(); got != n-1 {
		t.Errorf("after marking the reply handled the badge shows %d, want %d", got, n-1)
	}
	if tb.has(handled) {
		t.Errorf("a handled reply still offers 'handled'")
	}

	// A reply from the page reaches the patient.
	const answer = "Thank you, see you Friday."
	tb.must(esel+" form.reply textarea[name=text]", "the reply form of the entry")
	tb.typeInto(esel+" form.reply textarea[name=text]", answer)
	tb.click(esel + ` form.reply button`)
	if msg := tb.text("#error"); msg != "" {
		t.Fatalf("replying from the inbox: %s", msg)
	}
	r.waitFor("the reply on the patient's handset", liveWait, func() bool { return r.handsetCounts()[to+"|"+answer] == 1 })
	auditHas(t, auditRows(t, r), audit.InboxView, "actor="+adminUser)
}

// TestBrowserWorkStop: a STOP at the emulator shows in the inbox as an
// opt-out, /optouts lists the number masked, and the next send to it
// from /send is refused with a message; an opt-out added at /optouts
// refuses sends too until it is removed with a reason.
func TestBrowserWorkStop(t *testing.T) {
	t.Parallel()
	r, _, tb := workRig(t, 0)
	const to = "+15551230501"
	id := tb.sendOK(sendForm{To: to, Text: "Flu shots this week. Reply STOP to opt out."})
	ctx, cancel := context.WithTimeout(context.Background(), liveWait)
	defer cancel()
	if _, err := r.emu.WaitHandset(ctx, 1); err != nil {
		t.Fatalf("the reminder never reached the handset: %v", err)
	}
	tb.open("/inbox")
	mark := tb.mark()
	if err := r.emu.Inject(to, "STOP"); err != nil {
		t.Fatal(err)
	}
	tb.waitFor(`[...document.querySelectorAll("main [data-id]")].some(e => e.querySelector(".keyword-stop"))`, "the STOP appearing in the open inbox as an opt-out (.keyword-stop)", liveWait)
	tb.stillMarked(mark, "the STOP arriving in the inbox")
	if !tb.has(fmt.Sprintf(`main [data-id] a[href="/messages/%d"]`, id)) {
		t.Errorf("the STOP is not threaded to the reminder it answers (no link to /messages/%d)", id)
	}
	tb.checkPage("inbox with a STOP")

	tb.open("/optouts")
	tb.must("table#optouts", "the opt-outs page")
	list := tb.text("table#optouts")
	if showsNumber(list, to) {
		t.Errorf("/optouts shows the number in full:\n%s", list)
	}
	if !strings.Contains(list, "0501") {
		t.Errorf("/optouts does not list the opted-out number (masked, ending 0501):\n%s", list)
	}

	id2, msg := tb.send(sendForm{To: to, Text: "Another reminder"})
	if id2 != 0 {
		t.Fatalf("a send to the opted-out number was queued as message %d", id2)
	}
	if !strings.Contains(strings.ToLower(msg), "opted out") {
		t.Errorf("the refusal of a send to an opted-out number says %q, want it to say the number opted out", msg)
	}
	if showsNumber(msg, to) {
		t.Errorf("the refusal shows the number in full: %q", msg)
	}
	if !tb.visible("#error") {
		t.Errorf("#error is not visible")
	}
	tb.checkPage("send, refused")

	// By hand: add, refused, remove with a reason, accepted.
	const other = "+15551230502"
	tb.open("/optouts")
	tb.typeInto("input#optout-number", other)
	tb.typeInto("input#optout-reason", "asked at the desk")
	tb.click("button#optout-add-submit")
	if msg := tb.text("#error"); msg != "" {
		t.Fatalf("adding an opt-out: %s", msg)
	}
	tb.open("/optouts")
	// The row of a number (masked: found by its last digits) that offers
	// its removal; its data-id.
	rowOf := func(digits string) string {
		return eval[string](tb, fmt.Sprintf(`(() => { const r = [...document.querySelectorAll("table#optouts tr[data-id]")].find(r => r.innerText.includes(%q) && r.querySelector('button[name="action"][value="remove"]')); return r ? r.dataset.id : ""; })()`, digits))
	}
	if rowOf("0502") == "" {
		t.Fatalf("/optouts has no row with a remove button for the number added by hand\n%s", tb.where())
	}
	tb.checkPage("optouts")
	tb.screenshot("optouts")
	if id, msg := tb.send(sendForm{To: other, Text: "x"}); id != 0 || !strings.Contains(strings.ToLower(msg), "opted out") {
		t.Errorf("a send to a number opted out by hand: message %d, error %q", id, msg)
	}
	tb.open("/optouts")
	row := fmt.Sprintf(`table#optouts tr[data-id=%q]`, rowOf("0502"))
	// The list shows numbers masked: removing one takes its full number.
	if tb.has(row + ` input[name="number"]`) {
		tb.typeInto(row+` input[name="number"]`, other)
	}
	tb.typeInto(row+` input[name="reason"]`, "patient asked again")
	tb.click(row + ` button[name="action"][value="remove"]`)
	if msg := tb.text("#error"); msg != "" {
		t.Fatalf("removing an opt-out: %s", msg)
	}
	tb.sendOK(sendForm{To: other, Text: "Welcome back"})
	rows := auditRows(t, r)
	auditHas(t, rows, audit.OptOutAdd, "actor="+adminUser)
	auditHas(t, rows, audit.OptOutRemove, "actor="+adminUser)
}

// xssCorpus are strings that run script or change the page if a page
// puts them into its HTML (or a script's innerHTML) unescaped. Those
// that would run script increment window.__xss.
var xssCorpus = []string{
	`<script>window.__xss++;alert(1)</script>`,
	`"><img src=x onerror="window.__xss++;alert(2)">`,
	`'><img src=x onerror=window.__xss++>`,
	`javascript:window.__xss++;alert(3)`,
	`<a href="javascript:window.__xss++">click me</a>`,
	`<svg/onload=window.__xss++;alert(4)>`,
	`<iframe srcdoc="<script>parent.__xss++</script>"></iframe>`,
	`</textarea><script>window.__xss++</script>`,
	`</title><style>*{display:none}</style>`,
	`<math><mtext><table><mglyph><style><img src=x onerror=window.__xss++>`,
	`{{7*7}} ${7*7} <%= 7*7 %>`,
	"\u202Egnp.exe",
	strings.Repeat("W", 300), // twice with the name: 603 characters, 4 parts
}

// xssControl are texts with control characters: accepted or refused,
// never anything else.
var xssControl = []string{
	"tab\there",
	"nul\x00here",
	"esc\x1b[31mred",
	"bell\x07bell",
}

// printable is s without control characters (and the U+FFFD a page may
// show for a NUL), with runs of space collapsed: what must show.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' {
			return ' '
		}
		if unicode.IsControl(r) || r == '\uFFFD' {
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// payloadElements lists, as a JavaScript expression, the elements of the
// page that only a payload parsed as HTML would make: javascript: links,
// frames, scripts in main, the payloads' images and SVG handlers.
const payloadElements = `[...document.querySelectorAll("[href^='javascript:' i], [src^='javascript:' i], [action^='javascript:' i], iframe, main script, main img[src='x'], main img[onerror], main [onload], main mglyph")].map(e => e.outerHTML.slice(0, 120))`

// TestBrowserWorkXSS: the XSS corpus as patient names and texts sent from
// /send, and as patients' replies at the emulator: every page that shows
// them (the message pages, the outbox, the inbox live and reloaded) shows
// them as text: no script ran (window.__xss stays 0), no dialog opened,
// no javascript: link, no image the payloads name was loaded.
func TestBrowserWorkXSS(t *testing.T) {
	t.Parallel()
	r, b, tb := workRig(t, 0)
	dialogs := tb.watchDialogs()
	tb.onNewDocument(`window.__xss = 0;`)
	inert := func(where string) {
		t.Helper()
		if n := eval[int](tb, `typeof window.__xss === "number" ? window.__xss : -1`); n != 0 {
			t.Errorf("%s (%s): window.__xss is %d, want 0: a payload ran (or the page lost its first script)", where, tb.path(), n)
		}
		if js := eval[[]string](tb, payloadElements); len(js) > 0 {
			t.Errorf("%s (%s): elements made from a payload: %v", where, tb.path(), js)
		}
		if d := dialogs.opened(); len(d) > 0 {
			t.Fatalf("%s: a page opened a dialog: %v", where, d)
		}
	}

	// The detectors can fire: markup put into the page as a page would if
	// it did not escape is found, and a dialog is seen. (The page's CSP
	// may stop the handlers; the elements are found all the same.)
	tb.open("/send")
	eval[bool](tb, `(document.querySelector("main").insertAdjacentHTML("beforeend", "<img src=\"data:,\" onerror=\"window.__xss++\"><svg onload=\"window.__xss++\"></svg>"), true)`)
	if js := eval[[]string](tb, payloadElements); len(js) != 2 {
		t.Fatalf("the test's own detector found %v in markup it added (want the img and the svg): it would miss a payload", js)
	}
	eval[bool](tb, `(setTimeout(() => alert("calibration"), 0), true)`)
	for deadline := time.Now().Add(stepTimeout); len(dialogs.opened()) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the test's dialog watcher did not see an alert the test opened: it would miss a payload's")
		}
	}
	dialogs.reset()

	type sent struct {
		id   int64
		text string // as the message's page must show it, the name put in
	}
	var msgs []sent
	for i, p := range append(append([]string{}, xssCorpus...), xssControl...) {
		to := fmt.Sprintf("+1555126%04d", i)
		// The patient's name goes where the text says {name}.
		id, msg := tb.send(sendForm{To: to, Patient: p, Text: p + " / {name}", Paste: true})
		inert(fmt.Sprintf("/send with payload %d", i))
		if id == 0 {
			if strings.ContainsFunc(p, unicode.IsControl) {
				t.Logf("payload %d %q refused at /send: %s", i, p, msg)
				continue
			}
			t.Errorf("payload %d %.60q refused at /send: %s", i, p, msg)
			continue
		}
		msgs = append(msgs, sent{id, p + " / " + p})
	}
	for _, m := range msgs {
		tb.open(fmt.Sprintf("/messages/%d", m.id))
		inert(fmt.Sprintf("the page of message %d", m.id))
		got := printable(tb.text("#message-text"))
		if want := printable(m.text); !strings.Contains(got, want) {
			t.Errorf("message %d: #message-text shows %.120q, want the text as typed with the patient's name in place of {name}: %.120q", m.id, got, want)
		}
		tb.noOverflow(fmt.Sprintf("the page of message %d", m.id))
	}
	tb.open("/outbox")
	inert("the outbox")
	tb.noOverflow("the outbox")

	// The patients' replies, arriving in the open inbox.
	tb.open("/inbox")
	mark := tb.mark()
	replies := append(append([]string{}, xssCorpus...), xssControl...)
	for i, p := range replies {
		if err := r.emu.Inject(fmt.Sprintf("+1555127%04d", i), p); err != nil {
			t.Fatalf("injecting reply %d: %v", i, err)
		}
	}
	tb.waitFor(fmt.Sprintf(`document.querySelectorAll("main [data-id]").length >= %d`, len(replies)), fmt.Sprintf("the %d replies appearing in the open inbox", len(replies)), 2*liveWait)
	tb.stillMarked(mark, "the replies arriving in the inbox")
	check := func(when string) {
		t.Helper()
		inert(when)
		body := printable(tb.bodyText())
		for i, p := range replies {
			if want := printable(p); !strings.Contains(body, want) {
				t.Errorf("%s: reply %d %.80q is not shown as text", when, i, want)
			}
		}
		tb.noOverflow(when)
	}
	check("the inbox, live")
	tb.open("/inbox")
	check("the inbox, reloaded")
	tb.checkPage("inbox with the XSS corpus")

	// No image named by a payload was ever requested: the markup stayed text.
	for _, h := range b.requests() {
		if u, err := url.Parse(h.url); err == nil && (strings.HasSuffix(u.Path, "/x") || u.Path == "x") {
			t.Errorf("a page loaded %s: a payload's <img src=x> was parsed as HTML", h.url)
		}
	}
}

// TestBrowserWorkStatusTokens: /status shows the modem and the queue; an
// admin creates an API token at /tokens (its secret shown once), an
// integration uses it on the JSON API (the same Idempotency-Key twice
// makes one message), and the message shows in the outbox; staff have no
// /tokens.
func TestBrowserWorkStatusTokens(t *testing.T) {
	t.Parallel()
	r, b, tb := workRig(t, 0)
	tb.open("/status")
	tb.must("#modems", "the status page")
	tb.must("#queue", "the status page")
	tb.waitText("#modems", "the modem on the status page", liveWait, func(s string) bool { return strings.Contains(s, "modem1") })
	tb.checkPage("status")
	tb.screenshot("status")

	tb.open("/tokens")
	tb.must("form#token-create", "the tokens page")
	tb.typeInto("input#token-name", "pms")
	tb.click("button#token-create-submit")
	secret := tb.text("#token-secret")
	if len(secret) < 20 {
		t.Fatalf("#token-secret shows %q, want the new token's secret\n%s", secret, tb.where())
	}
	tb.checkPage("tokens, created")
	tb.open("/tokens")
	if strings.Contains(tb.bodyText(), secret) || tb.has("#token-secret") {
		t.Errorf("/tokens shows the secret again after the page that created it")
	}
	if !strings.Contains(tb.text("table#tokens"), "pms") {
		t.Errorf("table#tokens does not list the token pms\n%s", tb.where())
	}
	tb.checkPage("tokens")
	tb.screenshot("tokens")

	// The integration's call, twice with one key.
	post := func() (int, map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"to": "+15551230601", "text": "From the practice system"})
		req, _ := http.NewRequest("POST", b.base+"/api/v1/messages", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "appt-4711")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var v map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Errorf("POST /api/v1/messages answered %s with no JSON: %q", resp.Status, raw)
		}
		return resp.StatusCode, v
	}
	c1, v1 := post()
	c2, v2 := post()
	if c1/100 != 2 || c2/100 != 2 || v1["id"] == nil || fmt.Sprint(v1["id"]) != fmt.Sprint(v2["id"]) {
		t.Fatalf("POST /api/v1/messages twice with one Idempotency-Key: %d %v, then %d %v; want 2xx and one id", c1, v1, c2, v2)
	}
	id := int64(v1["id"].(float64))
	tb.open("/outbox")
	tb.waitText(rowSel(id)+" td.state", "the API's message in the outbox", liveWait, func(s string) bool { return s != "" })
	if n := eval[int](tb, `document.querySelectorAll("table#outbox tr[data-id]").length`); n != 1 {
		t.Errorf("the outbox shows %d rows after one API message sent twice with one key, want 1", n)
	}

	// Staff: no tokens link, /tokens refused.
	tb.addUser("alice", "Alice Front-Desk", "staff", "alice's own long password")
	desk := b.newTab()
	desk.signInOK("alice", "alice's own long password")
	if desk.has(`a[href="/tokens"]`) {
		t.Errorf("a staff account's page links to /tokens")
	}
	if st := desk.open("/tokens"); st != http.StatusForbidden {
		t.Errorf("/tokens for staff answered %d, want 403", st)
	}
	for _, p := range []string{"/send", "/outbox", "/inbox", "/optouts", "/status"} {
		if !desk.has(fmt.Sprintf(`nav a[href=%q]`, p)) {
			t.Errorf("a staff account's navigation has no link to %s", p)
		}
	}
	_ = r
}
