package e2e

// The harness of the browser tests: Debian's chromium driven by chromedp,
// one browser (and profile) per test, a watcher that records every request
// a page makes and fails the test when one left the box, axe-core for
// accessibility, and screenshots for the README when SMSD_SCREENSHOTS=1.

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/clinicsms/smsd/internal/testutil"
)

// stepTimeout bounds one browser step (a page load, a click, a query that
// waits for its element). It is a deadline for a hang, never a measure of
// speed: a step normally takes well under a second.
const stepTimeout = 30 * time.Second

// axeEnv names another copy of axe.min.js than the one make deps installs.
const axeEnv = "SMSD_AXE"

// screenshotsEnv, set to 1, makes the tests write docs/screenshots/*.png.
const screenshotsEnv = "SMSD_SCREENSHOTS"

// axePath is where make deps (scripts/test-deps.sh) installs axe-core.
func axePath() string {
	if p := os.Getenv(axeEnv); p != "" {
		return p
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "smsd-test", "node_modules", "axe-core", "axe.min.js")
}

// requireAxe reads axe.min.js, or skips the test (fails it under
// SMSD_REQUIRE_REAL_PARTS=1) when make deps has not installed it.
func requireAxe(t *testing.T) string {
	t.Helper()
	p := axePath()
	b, err := os.ReadFile(p)
	if err != nil {
		testutil.SkipUnlessRequired(t, fmt.Sprintf("axe-core not found (%v): run make deps, which installs it, or set %s to an axe.min.js", err, axeEnv))
	}
	return string(b)
}

// browser is one Chromium, with a profile of its own, watching every
// request its pages make.
type browser struct {
	t    *testing.T
	base string // the box's web UI, scheme://127.0.0.1:port
	box  string // its host:port
	axe  string // axe.min.js, "" when the test does not check accessibility

	alloc context.Context
	first *tab
	mu    sync.Mutex
	hops  []hop
	allow map[string]bool // more origins a page may reach, scheme://host:port
}

// hop is one request a page made, and the status of its answer (0 until
// it came; a redirect's status for a hop that was redirected).
type hop struct {
	id     network.RequestID
	method string
	url    string
	status int64
}

// newBrowser starts Chromium for the rig's web UI. The test skips (fails
// under SMSD_REQUIRE_REAL_PARTS=1) without chromium, or without axe-core
// when withAxe.
func newBrowser(t *testing.T, r *rig, withAxe bool) *browser {
	t.Helper()
	exe := testutil.RequireTool(t, "chromium", "make deps installs it (apt-get install chromium)")
	b := &browser{t: t, allow: map[string]bool{}}
	if withAxe {
		b.axe = requireAxe(t)
	}
	var extra []chromedp.ExecAllocatorOption
	if strings.HasPrefix(r.listen, ":") {
		// Every address: HTTPS with the box's local CA. The browser trusts
		// the box's server certificate and nothing else (a fresh profile
		// trusts no local CA, and the flag names this one key).
		b.box = "127.0.0.1" + r.listen
		b.base = "https://" + b.box
		waitWeb(t, r, b.box)
		extra = append(extra, chromedp.Flag("ignore-certificate-errors-spki-list", serverSPKI(t, r)))
	} else {
		// A loopback address: plain HTTP, as smsd serves it there.
		b.box = r.listen
		b.base = "http://" + b.box
		waitWeb(t, r, b.box)
	}

	dir, err := os.MkdirTemp("", "smsd-chromium")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1024, 700),
	)
	opts = append(opts, extra...)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	b.alloc = alloc
	t.Cleanup(func() {
		cancel()
		// Chromium's children can still write to the profile for a moment
		// after it stopped.
		for range 50 {
			if err := os.RemoveAll(dir); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// Runs before the browser stops (cleanups run last first).
	t.Cleanup(b.checkRequests)
	b.first = b.newTab()
	return b
}

// serverSPKI is the base64 SHA-256 of the public key of the web UI's
// server certificate (data/server.pem, from the box's local CA), as
// chromium's --ignore-certificate-errors-spki-list takes it.
func serverSPKI(t *testing.T, r *rig) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.data, "server.pem"))
	if err != nil {
		t.Fatalf("the web UI's server certificate: %v", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("server.pem holds no PEM block")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatalf("server.pem: %v", err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// waitWeb waits until the rig's web UI accepts connections at addr.
func waitWeb(t *testing.T, r *rig, addr string) {
	t.Helper()
	if r.listen == "" {
		t.Fatal("the rig's daemon has no web address: start it first")
	}
	r.waitFor("the web UI listening on "+addr, 20*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// record is the network watcher; it runs on chromedp's reading goroutine.
func (b *browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if e.RedirectResponse != nil {
			for i := len(b.hops) - 1; i >= 0; i-- {
				if b.hops[i].id == e.RequestID {
					b.hops[i].status = e.RedirectResponse.Status
					break
				}
			}
		}
		b.hops = append(b.hops, hop{id: e.RequestID, method: e.Request.Method, url: e.Request.URL})
	case *network.EventResponseReceived:
		for i := len(b.hops) - 1; i >= 0; i-- {
			if b.hops[i].id == e.RequestID {
				b.hops[i].status = e.Response.Status
				break
			}
		}
	}
}

// allowOrigin lets pages reach one more origin (the cross-site test's
// other site).
func (b *browser) allowOrigin(origin string) {
	b.mu.Lock()
	b.allow[origin] = true
	b.mu.Unlock()
}

// requests returns the requests seen so far.
func (b *browser) requests() []hop {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]hop(nil), b.hops...)
}

// checkRequests fails the test for every request that went anywhere but
// the box (data: URLs aside), and when the watcher saw nothing at all.
func (b *browser) checkRequests() {
	hops := b.requests()
	if len(hops) == 0 {
		b.t.Errorf("the network watcher saw no request: it is not watching")
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bad := map[string]bool{}
	for _, h := range hops {
		u, err := url.Parse(h.url)
		switch {
		case err != nil:
			bad[h.url] = true
		case u.Scheme == "data":
		case (u.Scheme == "http" || u.Scheme == "https") && u.Host == b.box:
		case b.allow[u.Scheme+"://"+u.Host]:
		default:
			bad[h.url] = true
		}
	}
	for u := range bad {
		b.t.Errorf("a page made a request that left the box (%s): %s", b.box, u)
	}
}

// tab is one tab. Tabs made by newTab after the first have a browser
// context of their own: their own cookies, as a second person at another
// PC would have.
type tab struct {
	b   *browser
	t   *testing.T
	ctx context.Context
}

// newTab opens a tab; the first one starts the browser.
func (b *browser) newTab() *tab {
	b.t.Helper()
	if b.first == nil {
		return b.openTab(chromedp.NewContext(b.alloc, chromedp.WithListener(b.record)))
	}
	return b.openTab(chromedp.NewContext(b.first.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(b.record)))
}

// sibling opens another tab beside tb, sharing its cookies (the same
// person in a second tab).
func (tb *tab) sibling() *tab {
	tb.t.Helper()
	return tb.b.openTab(chromedp.NewContext(tb.ctx, chromedp.WithListener(tb.b.record)))
}

func (b *browser) openTab(ctx context.Context, cancel context.CancelFunc) *tab {
	b.t.Helper()
	b.t.Cleanup(cancel)
	tb := &tab{b: b, t: b.t, ctx: ctx}
	// The first action starts the browser (or opens the tab): without a
	// deadline, which would stop the whole browser when it ran out.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1024, 700)); err != nil {
		b.t.Fatalf("starting chromium: %v", err)
	}
	return tb
}

// step runs actions with the step deadline; a failure fails the test with
// where the page was.
func (tb *tab) step(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v\n%s", what, err, tb.where())
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](tb *tab, expr string, opts ...chromedp.EvaluateOption) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		tb.t.Fatalf("evaluating %.80q: %v\n%s", expr, err, tb.where())
	}
	return v
}

// where describes the page for a failure message: its URL, title and the
// start of its text.
func (tb *tab) where() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	type page struct{ URL, Title, Text string }
	p, err := chromedp.Run(ctx, chromedp.Evaluate[page](`({URL: location.href, Title: document.title, Text: document.body ? document.body.innerText : ""})`))
	if err != nil {
		return fmt.Sprintf("(the page could not be read: %v)", err)
	}
	if len(p.Text) > 1500 {
		p.Text = p.Text[:1500] + "…"
	}
	return fmt.Sprintf("page %s (title %q):\n%s", p.URL, p.Title, p.Text)
}

// open loads a page of the box (path such as "/signin") and returns the
// status of its document (after redirects).
func (tb *tab) open(path string) int64 {
	tb.t.Helper()
	return tb.openURL(tb.b.base + path)
}

// openURL loads any URL and returns its document's status.
func (tb *tab) openURL(u string) int64 {
	tb.t.Helper()
	return tb.openResponse(u).Status
}

// openResponse loads any URL and returns its document's response (status
// and headers, after redirects).
func (tb *tab) openResponse(u string) *network.Response {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	defer tb.trace("open "+u, time.Now())
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		tb.t.Fatalf("opening %s: %v\n%s", u, err, tb.where())
	}
	return resp
}

// click clicks an element that loads a page (a submit button, a link) and
// returns the status of the page it loads.
func (tb *tab) click(sel string) int64 {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	defer tb.trace("click "+sel, time.Now())
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		tb.t.Fatalf("clicking %s: %v\n%s", sel, err, tb.where())
	}
	return resp.Status
}

// trace logs how long a step took when SMSD_BROWSER_TRACE=1 (to find
// where a slow test spends its time; never an assertion).
func (tb *tab) trace(what string, t0 time.Time) {
	if os.Getenv("SMSD_BROWSER_TRACE") == "1" {
		tb.t.Logf("%s: %v", what, time.Since(t0).Round(time.Millisecond))
	}
}

// fill puts text into the input sel, after clearing it: focused as a
// click would, the text inserted as a keyboard's input method does (one
// input event; TestBrowserKeyboardOnly types key by key).
func (tb *tab) fill(sel, text string) {
	tb.t.Helper()
	defer tb.trace("fill "+sel, time.Now())
	tb.step("typing into "+sel,
		chromedp.WaitVisible(chromedp.CSS(sel)),
		// Emptied by script: chromedp.Clear fails on an empty textarea.
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).value = ""`, sel)),
		chromedp.Focus(chromedp.CSS(sel), chromedp.NodeVisible),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
			return err
		}))
	// A textarea keeps line ends as LF; an input drops them.
	want := strings.ReplaceAll(text, "\r\n", "\n")
	if eval[string](tb, fmt.Sprintf(`document.querySelector(%q).tagName`, sel)) == "INPUT" {
		want = strings.NewReplacer("\r", "", "\n", "").Replace(want)
	}
	if got := eval[string](tb, fmt.Sprintf(`document.querySelector(%q).value`, sel)); got != want {
		tb.t.Fatalf("typed %q into %s, and it holds %q", text, sel, got)
	}
}

// has reports whether an element matches sel now (no waiting).
func (tb *tab) has(sel string) bool {
	tb.t.Helper()
	return eval[bool](tb, fmt.Sprintf(`document.querySelector(%q) !== null`, sel))
}

// visible reports whether sel is there and rendered (not hidden).
func (tb *tab) visible(sel string) bool {
	tb.t.Helper()
	return eval[bool](tb, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && !e.hidden && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden"; })()`, sel))
}

// text returns sel's visible text ("" when there is no such element).
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText.trim() : ""; })()`, sel))
}

// bodyText is everything the page shows as text.
func (tb *tab) bodyText() string {
	tb.t.Helper()
	return eval[string](tb, `document.body ? document.body.innerText : ""`)
}

// path is the page's path and query, such as "/signin?ended=1".
func (tb *tab) path() string {
	tb.t.Helper()
	return eval[string](tb, `location.pathname + location.search`)
}

// must fails the test unless sel is on the page.
func (tb *tab) must(sel, why string) {
	tb.t.Helper()
	if !tb.has(sel) {
		tb.t.Fatalf("%s: no %s on the page\n%s", why, sel, tb.where())
	}
}

// waitPath waits (up to d) until the page's path starts with prefix, with
// no action of the test: the page must get there by itself.
func (tb *tab) waitPath(prefix string, d time.Duration) {
	tb.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		p, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + location.search`))
		cancel()
		if err == nil && strings.HasPrefix(p, prefix) {
			// And loaded: a query right after a navigation can still see
			// the old document.
			tb.step("waiting for "+prefix+" to load", chromedp.WaitReady(chromedp.CSS("body")))
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("the page did not go to %s by itself within %v (it is at %q, %v)\n%s", prefix, d, p, err, tb.where())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// keys sends key events to whatever has the focus, as a keyboard does.
func (tb *tab) keys(keys string) {
	tb.t.Helper()
	tb.step("pressing keys", chromedp.KeyEvent(keys))
}

// pressEnter presses Enter on the focused element, which loads a page,
// and returns its status.
func (tb *tab) pressEnter() int64 {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.KeyEvent(kb.Enter))
	if err != nil {
		tb.t.Fatalf("pressing Enter: %v\n%s", err, tb.where())
	}
	return resp.Status
}

// focused names the element that has the focus: "#id", or its tag.
func (tb *tab) focused() string {
	tb.t.Helper()
	return eval[string](tb, `(() => { const e = document.activeElement; if (!e || e === document.body) return "body"; return e.id ? "#" + e.id : e.tagName.toLowerCase() + (e.getAttribute("href") ? "[href=" + e.getAttribute("href") + "]" : ""); })()`)
}

// axeViolation is what the test keeps of an axe-core result.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// checkA11y runs axe-core on the page as it is and fails the test for
// every violation of impact serious or critical, naming the page, the
// rule and the elements; milder ones are logged.
func (tb *tab) checkA11y(page string) {
	tb.t.Helper()
	if tb.b.axe == "" {
		tb.t.Fatalf("checkA11y(%s): this browser was started without axe-core", page)
	}
	defer tb.trace("axe "+page, time.Now())
	if !eval[bool](tb, `typeof axe !== "undefined"`) {
		ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
		_, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](tb.b.axe))
		cancel()
		if err != nil {
			tb.t.Fatalf("injecting axe-core into %s: %v", page, err)
		}
	}
	type result struct {
		Passes     int
		Violations []axeViolation
	}
	res := eval[result](tb, `axe.run(document, {resultTypes: ["violations"]}).then(r => ({Passes: r.passes.length, Violations: r.violations.map(v => ({
		id: v.id, impact: v.impact || "", help: v.help,
		nodes: v.nodes.map(n => n.target.join(" ") + ": " + (n.failureSummary || "").replace(/\s+/g, " "))}))}))`, chromedp.EvalAwaitPromise)
	if res.Passes == 0 {
		tb.t.Errorf("axe-core on the %s page passed no rule at all: it did not look at the page", page)
	}
	tb.t.Logf("axe-core on the %s page (%s): %d rules passed, %d violations", page, tb.path(), res.Passes, len(res.Violations))
	for _, v := range res.Violations {
		msg := fmt.Sprintf("axe-core on the %s page (%s): %s %s: %s\n    %s", page, tb.path(), v.Impact, v.ID, v.Help, strings.Join(v.Nodes, "\n    "))
		if v.Impact == "serious" || v.Impact == "critical" {
			tb.t.Error(msg)
		} else {
			tb.t.Log(msg)
		}
	}
}

// maxScreenshot is the size a screenshot in docs/screenshots may have.
const maxScreenshot = 150 << 10

// screenshot writes the viewport to docs/screenshots/<name>.png when
// SMSD_SCREENSHOTS=1; otherwise it does nothing, so that test runs leave
// the tree as it was.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	if os.Getenv(screenshotsEnv) != "1" {
		return
	}
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) > maxScreenshot {
		tb.t.Errorf("screenshot %s is %d bytes, more than %d: keep the README's pictures small", name, len(png), maxScreenshot)
	}
	dir := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("wrote docs/screenshots/%s.png (%d bytes)", name, len(png))
}
