package e2e

// Helpers of the browser tests of the front desk's work (issue "Web UI,
// part 2"): send, outbox, message pages, inbox, opt-outs, status and API
// tokens. The tests are in browser_work_test.go; the harness they use is
// browser_harness_test.go.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/clinicsms/smsd/modem/emulator"
)

// liveWait bounds how long a test waits for a page to change by itself
// (a state over server-sent events, a reply arriving). A deadline for a
// hang, never a measure: it normally takes well under a second.
const liveWait = 60 * time.Second

// workRig is a rig whose emulated modem sends each status report
// reportDelay after a message went out (0: the rig's 20 ms), with conf's
// lines added to its config file, with its
// daemon serving the web UI, a browser with axe-core, and its first tab
// signed in as the first admin.
func workRig(t *testing.T, reportDelay time.Duration, conf ...string) (*rig, *browser, *tab) {
	t.Helper()
	r := newRig(t)
	if r.setupCode == "" {
		t.Fatalf("smsd init printed no setup code")
	}
	if len(conf) > 0 {
		f, err := os.OpenFile(r.conf, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(f, strings.Join(conf, "\n"))
		f.Close()
	}
	if reportDelay > 0 {
		// The same link, so the config written by newRig still names it.
		r.emu.Close()
		emu, err := emulator.Start(emulator.Config{Link: filepath.Join(r.dir, "tty"), StatusReportDelay: reportDelay})
		if err != nil {
			t.Fatal(err)
		}
		r.emu = emu
		t.Cleanup(func() { emu.Close() })
	}
	r.start()
	b := newBrowser(t, r, true)
	tb := b.first
	tb.setup(r.setupCode, adminUser, adminName, adminPass)
	return r, b, tb
}

// setInput sets an input's or textarea's value as one paste would, with
// the input and change events a page's script listens for (for values a
// keyboard cannot type: control characters, very long strings).
func (tb *tab) setInput(sel, value string) {
	tb.t.Helper()
	tb.must(sel, "setting "+sel)
	ok := eval[bool](tb, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false;
		e.focus(); e.value = %s;
		e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true}));
		return true; })()`, sel, jsString(value)))
	if !ok {
		tb.t.Fatalf("setting %s: no such element\n%s", sel, tb.where())
	}
}

// typeInto types text into sel, as a person types, after emptying it
// (the harness's fill uses chromedp.Clear, which fails on an empty
// textarea: "does not have child #text node").
func (tb *tab) typeInto(sel, text string) {
	tb.t.Helper()
	tb.setInput(sel, "")
	tb.step("typing into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// jsString is s as a JavaScript string literal (JSON's escapes: every
// control character, quote and backslash; U+2028 and U+2029 too).
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\u%04x`, r)
		case r == '<':
			b.WriteString(`\u003c`) // harmless in an expression; keeps it plain text
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// sendForm is what a person puts in /send.
type sendForm struct {
	To, Patient, Text string
	// SendAt is the datetime-local value (clinic time, "2006-01-02T15:04"),
	// "" to send now.
	SendAt string
	// Paste sets the fields as a paste does instead of typing them.
	Paste bool
}

// messagePathRe finds a message's id in its page's path.
var messagePathRe = regexp.MustCompile(`^/messages/(\d+)`)

// send fills /send and submits it. It returns the id of the message
// whose page the browser landed on, or 0 and the #error the page showed.
func (tb *tab) send(f sendForm) (int64, string) {
	tb.t.Helper()
	tb.open("/send")
	tb.must("form#send", "the send page")
	put := tb.typeInto
	if f.Paste {
		put = tb.setInput
	}
	put("input#to", f.To)
	if f.Patient != "" {
		put("input#patient", f.Patient)
	}
	put("textarea#text", f.Text)
	if f.SendAt != "" {
		// A datetime-local takes its value as a picker leaves it.
		tb.setInput("input#send-at", f.SendAt)
	}
	tb.click("button#send-submit")
	p := tb.path()
	if m := messagePathRe.FindStringSubmatch(p); m != nil {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		return id, ""
	}
	msg := tb.text("#error")
	if msg == "" {
		tb.t.Fatalf("sending from /send led to %s, neither a message's page nor an #error\n%s", p, tb.where())
	}
	return 0, msg
}

// sendOK sends from /send and fails the test unless the browser lands on
// the new message's page with a #notice.
func (tb *tab) sendOK(f sendForm) int64 {
	tb.t.Helper()
	id, msg := tb.send(f)
	if id == 0 {
		tb.t.Fatalf("sending %.60q to %s from /send was refused: %s\n%s", f.Text, f.To, msg, tb.where())
	}
	if tb.text("#notice") == "" {
		tb.t.Errorf("after sending, the message's page /messages/%d shows no #notice saying it was queued\n%s", id, tb.where())
	}
	return id
}

// mark puts a value on the page's window object: it survives any change
// the page's script makes and is gone after a reload or a navigation.
func (tb *tab) mark() string {
	tb.t.Helper()
	m := fmt.Sprintf("m%d", time.Now().UnixNano())
	eval[bool](tb, fmt.Sprintf(`(window.__smsdMark = %q, true)`, m))
	return m
}

// stillMarked fails the test when the page was reloaded or left since
// mark (the change had to come without a reload).
func (tb *tab) stillMarked(m, what string) {
	tb.t.Helper()
	if got := eval[string](tb, `String(window.__smsdMark || "")`); got != m {
		tb.t.Errorf("%s: the page was reloaded or left (its mark is gone): the change did not come live\n%s", what, tb.where())
	}
}

// waitFor waits (up to d) until cond, a JavaScript expression, is true in
// the page, with no action of the test; it fails the test with why.
func (tb *tab) waitFor(cond, why string, d time.Duration) {
	tb.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s: not within %v (%v)\n%s", why, d, err, tb.where())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitText waits until sel's text satisfies ok, and returns the text.
func (tb *tab) waitText(sel, why string, d time.Duration, ok func(string) bool) string {
	tb.t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText.trim() : "\u0000none"; })()`, sel)))
		cancel()
		if err == nil {
			if ok(s) {
				return s
			}
			last = s
		}
		if time.Now().After(deadline) {
			if last == "\x00none" {
				last = "(no such element)"
			}
			tb.t.Fatalf("%s: %s did not get there within %v (it shows %q)\n%s", why, sel, d, last, tb.where())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitRow waits until the td.state of message id's row at /outbox, open
// in tb, satisfies ok, with no action of the test. On a timeout the
// failure says whether the page is only stale (the daemon's count and a
// fresh copy of the page, fetched without leaving it, show the state) or
// the message never got there.
func (tb *tab) waitRow(r *rig, id int64, why string, ok func(string) bool) {
	tb.t.Helper()
	sel := rowSel(id) + " td.state"
	deadline := time.Now().Add(liveWait)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText.trim() : ""; })()`, sel)))
		cancel()
		if err == nil && ok(s) {
			return
		}
		if time.Now().After(deadline) {
			fresh := eval[string](tb, fmt.Sprintf(`fetch(location.href, {credentials: "same-origin"}).then(r => r.text()).then(h => { const d = new DOMParser().parseFromString(h, "text/html"); const e = d.querySelector(%q); return e ? e.innerText.trim() : "(no row)"; })`, sel), chromedp.EvalAwaitPromise)
			stale := ""
			if ok(fresh) {
				stale = " The page is stale: a fresh copy of it shows the state, so the live update did not come."
			}
			tb.t.Fatalf("%s: %s shows %q after %v; a fresh copy of the page shows %q; smsd status counts %v.%s %s\n%s", why, sel, s, liveWait, fresh, r.queue(), stale, tb.liveState(), tb.where())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// liveState describes the page's live machinery for a failure message:
// its main[data-live] and the requests the browser made to /events.
func (tb *tab) liveState() string {
	tb.t.Helper()
	live := eval[string](tb, `(document.querySelector("main") || {getAttribute: () => null}).getAttribute("data-live") || "(none)"`)
	var ev []string
	for _, h := range tb.b.requests() {
		if strings.Contains(h.url, "/events") {
			ev = append(ev, fmt.Sprintf("%s %s → %d", h.method, h.url, h.status))
		}
	}
	probe := eval[string](tb, `window.__smsdProbe ? JSON.stringify(window.__smsdProbe) : "(no probe)"`)
	// What a page that holds back its refresh while the person types
	// would see as typing: the focus, and fields changed from their
	// defaults.
	fields := eval[string](tb, `(() => { const a = document.activeElement; const m = document.querySelector("main");
		const changed = m ? [...m.querySelectorAll("input, textarea, select")].filter(f => f.tagName === "SELECT" ? [...f.options].some(o => o.selected !== o.defaultSelected) : (f.type !== "hidden" && f.value !== f.defaultValue)).map(f => (f.id || f.name) + "=" + JSON.stringify(f.value)) : [];
		return "focus on " + (a ? a.tagName + (a.id ? "#" + a.id : "") : "nothing") + ", fields changed from their defaults (a page that holds its refresh while the person types takes these as typing): [" + changed.join(", ") + "]"; })()`)
	return fmt.Sprintf("The page's main[data-live] is %q; its requests to /events: %v; what a second stream of /events opened by the test received meanwhile: %s; %s.", live, ev, probe, fields)
}

// probeEvents opens a second stream of GET /events in the page and
// records what it receives (window.__smsdProbe), to tell in a failure
// whether the box sent a change or the page did not act on it.
func (tb *tab) probeEvents() {
	tb.t.Helper()
	eval[bool](tb, `(() => { window.__smsdProbe = []; const es = new EventSource("/events");
		es.onmessage = e => window.__smsdProbe.push(e.data); es.onerror = () => window.__smsdProbe.push("error, readyState " + es.readyState); return true; })()`)
}

// rowSel selects message id's row at /outbox.
func rowSel(id int64) string { return fmt.Sprintf(`table#outbox tr[data-id="%d"]`, id) }

// stateIs matches a state cell's text by its state word.
func stateIs(want string) func(string) bool {
	return func(s string) bool { return strings.Contains(strings.ToLower(s), want) }
}

// dialogWatch counts the JavaScript dialogs (alert, confirm, prompt) the
// pages of a tab open, and closes each so the page goes on.
type dialogWatch struct {
	mu   sync.Mutex
	seen []string
}

// watchDialogs starts counting tb's dialogs.
func (tb *tab) watchDialogs() *dialogWatch {
	tb.t.Helper()
	w := &dialogWatch{}
	evs := chromedp.Events(tb.ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range evs {
			if err != nil {
				return
			}
			w.mu.Lock()
			w.seen = append(w.seen, fmt.Sprintf("%s %q at %s", ev.Type, ev.Message, ev.URL))
			w.mu.Unlock()
			ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			cancel()
		}
	}()
	return w
}

// reset forgets the dialogs seen so far.
func (w *dialogWatch) reset() {
	w.mu.Lock()
	w.seen = nil
	w.mu.Unlock()
}

func (w *dialogWatch) opened() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.seen...)
}

// onNewDocument runs src in every document the tab loads from now on,
// before the page's own content (to set window.__xss = 0 first).
func (tb *tab) onNewDocument(src string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
		tb.t.Fatalf("adding a script to every new document: %v", err)
	}
}

// noOverflow fails the test when the page is wider than the window (a
// long unbroken string that pushes the layout sideways).
func (tb *tab) noOverflow(what string) {
	tb.t.Helper()
	type widths struct{ Scroll, Client int }
	w := eval[widths](tb, `({Scroll: document.documentElement.scrollWidth, Client: document.documentElement.clientWidth})`)
	if w.Scroll > w.Client+1 {
		tb.t.Errorf("%s (%s): the page is %d px wide in a %d px window: something does not wrap", what, tb.path(), w.Scroll, w.Client)
	}
}

// showsNumber reports whether text shows number in full (its digits in
// a row, as typed or in E.164).
func showsNumber(text, number string) bool {
	digits := strings.TrimPrefix(number, "+")
	return strings.Contains(text, number) || strings.Contains(text, digits)
}
