package web_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/web"
)

// root is the person at the box's shell, who creates the first accounts in
// tests the way `smsd user add` does.
var root = ops.Actor{Kind: ops.ActorUnix, Name: "root", Role: ops.RoleAdmin}

// A password that meets the policy, for every test account.
const password = "correct horse battery staple"

// openService makes a real encrypted store in a temporary data directory
// and opens it as the command line does (daemon.OpenDirect): the web UI
// in these tests runs over the real service, its rules and its audit rows.
func openService(t *testing.T) *daemon.Service {
	t.Helper()
	return openServiceWith(t, nil)
}

// openServiceWith is openService with a configuration change (a short
// idle timeout, say) made by change when it is not nil.
func openServiceWith(t *testing.T, change func(*config.Config)) *daemon.Service {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if change != nil {
		change(&cfg)
	}
	ctx := context.Background()
	if err := queue.Init(ctx, cfg.DBPath(), daemon.KeySource(&cfg, nil), daemon.StoreOptions(&cfg, nil)); err != nil {
		t.Fatal(err)
	}
	s, err := daemon.OpenDirect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// addUser creates an account as root at the shell.
func addUser(t *testing.T, svc *daemon.Service, username, role string) {
	t.Helper()
	if _, err := svc.User(context.Background(), root, ops.UserRequest{Action: ops.UserAdd, Username: username, Name: "Test " + username, Role: role, Password: password}); err != nil {
		t.Fatalf("add user %s: %v", username, err)
	}
}

// site is a web UI over a service, served by a real HTTP(S) server.
type site struct {
	t   *testing.T
	srv *httptest.Server
	tls bool
}

// siteOptions are what a test changes of web.Options.
type siteOptions struct {
	tls   bool
	caPEM []byte
}

// newSite serves a web.Server over svc on a loopback port.
func newSite(t *testing.T, svc web.Service, o siteOptions) *site {
	t.Helper()
	ws, err := web.New(web.Options{Service: svc, TLS: o.tls, CAPEM: o.caPEM, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var srv *httptest.Server
	if o.tls {
		srv = httptest.NewTLSServer(ws.Handler())
	} else {
		srv = httptest.NewServer(ws.Handler())
	}
	t.Cleanup(srv.Close)
	return &site{t: t, srv: srv, tls: o.tls}
}

// browser is one browser: its own cookie jar, redirects not followed (the
// tests look at each answer).
type browser struct {
	site *site
	c    *http.Client
	// allow5xx lists statuses of 500 and above this browser expects (the
	// locked page is a 503); any other 5xx fails the test.
	allow5xx map[int]bool
}

func (s *site) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	// A client of its own (the server's Client is one shared value), over
	// the server's transport, which trusts its TLS certificate.
	c := &http.Client{Transport: s.srv.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{site: s, c: c}
}

// answer is a response, read whole.
type answer struct {
	status   int
	header   http.Header
	body     string
	location string
}

// do sends a request and checks what every answer must have: the security
// headers, no 500, and for pages the contract's shape (lang, title, main,
// labels, no inline script or style).
func (b *browser) do(req *http.Request) answer {
	t := b.site.t
	t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", req.Method, req.URL.Path, err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(body), location: resp.Header.Get("Location")}
	what := req.Method + " " + req.URL.RequestURI()
	checkHeaders(t, what, a, b.site.tls)
	if a.status >= 500 && !b.allow5xx[a.status] {
		t.Errorf("%s: status %d: %s", what, a.status, a.body)
	}
	if strings.HasPrefix(a.header.Get("Content-Type"), "text/html") && (a.status < 300 || a.status >= 400) {
		checkPage(t, what, a.body)
	}
	return a
}

func (b *browser) get(path string) answer {
	b.site.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.site.srv.URL+path, nil)
	if err != nil {
		b.site.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form as a browser does from the site's own page: same-origin
// fetch metadata, which CrossOriginProtection lets through.
func (b *browser) post(path string, form url.Values) answer {
	b.site.t.Helper()
	return b.postWith(path, form.Encode(), map[string]string{"Sec-Fetch-Site": "same-origin"})
}

// postWith sends a raw form body with the given headers.
func (b *browser) postWith(path, body string, hdr map[string]string) answer {
	b.site.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.site.srv.URL+path, strings.NewReader(body))
	if err != nil {
		b.site.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return b.do(req)
}

// cookie is the session cookie the browser holds, "" for none.
func (b *browser) cookie() string {
	u, _ := url.Parse(b.site.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "smsd" || c.Name == "__Host-smsd" {
			return c.Value
		}
	}
	return ""
}

// setCookie puts a session token in the browser's jar (a replayed cookie).
func (b *browser) setCookie(token string) {
	u, _ := url.Parse(b.site.srv.URL)
	name := "smsd"
	if b.site.tls {
		name = "__Host-smsd"
	}
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: token, Path: "/", Secure: b.site.tls}})
}

// signIn signs in with username and the test password; the answer must
// be a redirect to want.
func (b *browser) signIn(username, want string) answer {
	b.site.t.Helper()
	a := b.post("/signin", url.Values{"username": {username}, "password": {password}})
	if a.status != http.StatusSeeOther || a.location != want {
		b.site.t.Fatalf("sign in as %s: %d to %q, want 303 to %s: %s", username, a.status, a.location, want, a.body)
	}
	return a
}

// sessionState is GET /session's JSON.
type sessionState struct {
	Code        string    `json:"code"`
	Stage       string    `json:"stage"`
	EndsAt      time.Time `json:"ends_at"`
	EndsInMS    int64     `json:"ends_in_ms"`
	IdleExpires time.Time `json:"idle_expires"`
	Expires     time.Time `json:"expires"`
	BreakGlass  bool      `json:"break_glass"`
}

func decodeSession(t *testing.T, a answer) sessionState {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("session answer is %q, want application/json: %s", ct, a.body)
	}
	var s sessionState
	if err := json.Unmarshal([]byte(a.body), &s); err != nil {
		t.Fatalf("session answer %q: %v", a.body, err)
	}
	return s
}

// The security headers every answer carries.
var wantHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
	"X-Frame-Options":         "DENY",
	"Cache-Control":           "no-store",
}

func checkHeaders(t *testing.T, what string, a answer, tls bool) {
	t.Helper()
	for k, v := range wantHeaders {
		if got := a.header.Get(k); got != v {
			t.Errorf("%s (%d): %s is %q, want %q", what, a.status, k, got, v)
		}
	}
	if a.header.Get("Permissions-Policy") == "" {
		t.Errorf("%s (%d): no Permissions-Policy", what, a.status)
	}
	hsts := a.header.Get("Strict-Transport-Security")
	if tls && !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("%s (%d): under TLS, Strict-Transport-Security is %q", what, a.status, hsts)
	}
	if !tls && hsts != "" {
		t.Errorf("%s (%d): over plain HTTP, Strict-Transport-Security is %q", what, a.status, hsts)
	}
}

// What no page may hold: inline style or script, event handler attributes,
// a stack trace.
var (
	inlineStyle = regexp.MustCompile(`(?i)<[^>]+\sstyle\s*=|<style`)
	scriptTag   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	onAttribute = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
	stackTrace  = regexp.MustCompile(`goroutine \d+ \[|\.go:\d+`)
	inputTag    = regexp.MustCompile(`(?is)<(input|select|textarea)\b[^>]*>`)
	attrID      = regexp.MustCompile(`\sid="([^"]+)"`)
	attrType    = regexp.MustCompile(`\stype="([^"]+)"`)
)

// checkPage checks a page against the contract's shape.
func checkPage(t *testing.T, what, body string) {
	t.Helper()
	for _, must := range []string{`<html lang="en">`, "<title>", "<main", `class="skip" href="#main"`} {
		if !strings.Contains(body, must) {
			t.Errorf("%s: the page has no %s", what, must)
		}
	}
	checkMarkup(t, what, body)
	if m := stackTrace.FindString(body); m != "" {
		t.Errorf("%s: the page has a stack trace: %q", what, m)
	}
	for _, tag := range inputTag.FindAllString(body, -1) {
		if ty := attrType.FindStringSubmatch(tag); ty != nil && (ty[1] == "hidden" || ty[1] == "submit") {
			continue
		}
		id := attrID.FindStringSubmatch(tag)
		if id == nil {
			t.Errorf("%s: an input without an id (so without a label): %s", what, tag)
			continue
		}
		if !strings.Contains(body, `for="`+id[1]+`"`) {
			t.Errorf("%s: input #%s has no label", what, id[1])
		}
	}
}

// checkMarkup fails for inline style or script and event handler
// attributes, which the Content-Security-Policy would block (and which
// would need 'unsafe-inline' to work).
func checkMarkup(t *testing.T, what, markup string) {
	t.Helper()
	for name, re := range map[string]*regexp.Regexp{"inline style": inlineStyle, "an on* attribute": onAttribute} {
		if m := re.FindString(markup); m != "" {
			t.Errorf("%s: has %s: %q", what, name, m)
		}
	}
	if strings.Count(strings.ToLower(markup), "<script") != len(scriptTag.FindAllString(markup, -1)) {
		t.Errorf("%s: has a <script> tag that is not closed right after it opens", what)
	}
	for _, m := range scriptTag.FindAllStringSubmatch(markup, -1) {
		if strings.TrimSpace(m[2]) != "" || !strings.Contains(m[1], "src=") {
			t.Errorf("%s: has an inline script: %q", what, m[0])
		}
	}
	if strings.Contains(strings.ToLower(markup), "javascript:") {
		t.Errorf("%s: has a javascript: URL", what)
	}
}

// hasID reports whether the page has an element with id.
func hasID(body, id string) bool { return strings.Contains(body, `id="`+id+`"`) }

// textOf is the text of the element with id (its content up to the next
// tag), unescaped.
func textOf(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no #%s in the page:\n%s", id, body)
	}
	return html.UnescapeString(strings.TrimSpace(m[1]))
}

// errorText is the page's #error message.
func errorText(body string) string {
	m := regexp.MustCompile(`id="error"[^>]*>([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// totpCode is the RFC 6238 code (HMAC-SHA1, 30 s, 6 digits: what
// authenticator apps use) of a base32 secret at t.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	secret = strings.ToUpper(strings.TrimRight(strings.ReplaceAll(secret, " ", ""), "="))
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatalf("secret %q is not base32: %v", secret, err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(at.Unix()/30))
	mac := hmac.New(sha1.New, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0xf
	code := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff % 1000000
	return fmt.Sprintf("%06d", code)
}

// testLogger collects what the server logs. At the end of the test it
// must hold no password (nothing a person typed is logged); a failed test
// shows it.
func testLogger(t *testing.T) *slog.Logger {
	var mu sync.Mutex
	var buf bytes.Buffer
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(buf.String(), password) || strings.Contains(buf.String(), "passphrase=") {
			t.Errorf("the server logged a password:\n%s", buf.String())
		}
		if t.Failed() && buf.Len() > 0 {
			t.Logf("server log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lockedWriter writes to a buffer under a mutex (handlers log from their
// own goroutines).
type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}
