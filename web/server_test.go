package web_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/web"
)

// TestHeadersOnEveryAnswer: pages, redirects, errors, 404s, 405s, JSON and
// static files all carry the security headers and no-store, over plain
// HTTP and over TLS (where HSTS joins them). The browser's do checks the
// headers of every answer in every test; this one walks the kinds of answer.
func TestHeadersOnEveryAnswer(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := "plain"
		if tls {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			svc := openService(t)
			addUser(t, svc, "alice", ops.RoleAdmin)
			s := newSite(t, svc, siteOptions{tls: tls})
			b := s.browser()
			for _, tc := range []struct {
				method, path string
				form         url.Values
				want         int
			}{
				{"GET", "/signin", nil, http.StatusOK},
				{"GET", "/", nil, http.StatusSeeOther},
				{"GET", "/no/such/page", nil, http.StatusNotFound},
				{"DELETE", "/signin", nil, http.StatusMethodNotAllowed},
				{"GET", "/static/app.js", nil, http.StatusOK},
				{"GET", "/static/app.css", nil, http.StatusOK},
				{"GET", "/static/nothing.js", nil, http.StatusNotFound},
				{"GET", "/session", nil, http.StatusUnauthorized},
				{"GET", "/ca.pem", nil, http.StatusNotFound},
				{"POST", "/signin", url.Values{"username": {"alice"}, "password": {"wrong password!"}}, http.StatusUnauthorized},
				{"POST", "/signin", url.Values{"username": {"alice"}}, http.StatusBadRequest},
				{"POST", "/signin", url.Values{"username": {"alice"}, "password": {password}}, http.StatusSeeOther},
				{"GET", "/", nil, http.StatusOK},
				{"GET", "/accounts", nil, http.StatusOK},
				{"GET", "/session", nil, http.StatusOK},
				{"POST", "/session/extend", url.Values{}, http.StatusOK},
			} {
				var a answer
				if tc.method == "POST" {
					a = b.post(tc.path, tc.form)
				} else {
					req, _ := http.NewRequest(tc.method, s.srv.URL+tc.path, nil)
					a = b.do(req) // checks the headers
				}
				if a.status != tc.want {
					t.Errorf("%s %s: %d, want %d: %s", tc.method, tc.path, a.status, tc.want, a.body)
				}
			}
		})
	}
}

// TestNotFoundAndMethod: the UI's own pages for an unknown address and a
// wrong method (with Allow), not Go's plain-text ones.
func TestNotFoundAndMethod(t *testing.T) {
	s := newSite(t, openService(t), siteOptions{})
	b := s.browser()
	a := b.get("/nope")
	if a.status != http.StatusNotFound || !hasID(a.body, "error") || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /nope: %d %q: %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	req, _ := http.NewRequest(http.MethodPut, s.srv.URL+"/signin", strings.NewReader("x"))
	a = b.do(req)
	if a.status != http.StatusMethodNotAllowed || !strings.Contains(a.header.Get("Allow"), "POST") || !hasID(a.body, "error") {
		t.Errorf("PUT /signin: %d, Allow %q: %s", a.status, a.header.Get("Allow"), a.body)
	}
	a = b.get("/signout")
	if a.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /signout: %d, want 405", a.status)
	}
}

// TestCookieAttributes: HttpOnly, SameSite=Strict, Path=/, no Domain, no
// Max-Age or Expires (the service's expiry is the authority); under TLS
// Secure and the __Host- prefix. Signing out clears it.
func TestCookieAttributes(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
		want string
	}{
		{"plain", false, "smsd"},
		{"tls", true, "__Host-smsd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := openService(t)
			addUser(t, svc, "alice", ops.RoleStaff)
			s := newSite(t, svc, siteOptions{tls: tc.tls})
			b := s.browser()
			a := b.signIn("alice", "/")
			raw := a.header.Values("Set-Cookie")
			if len(raw) != 1 {
				t.Fatalf("Set-Cookie: %q, want one", raw)
			}
			c, err := http.ParseSetCookie(raw[0])
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tc.want || c.Value == "" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.Secure != tc.tls {
				t.Errorf("cookie %q: name %q, HttpOnly %v, SameSite %v, Path %q, Domain %q, Secure %v", raw[0], c.Name, c.HttpOnly, c.SameSite, c.Path, c.Domain, c.Secure)
			}
			if c.MaxAge != 0 || !c.Expires.IsZero() || strings.Contains(strings.ToLower(raw[0]), "max-age") {
				t.Errorf("cookie %q has a lifetime: a session cookie has none", raw[0])
			}
			a = b.post("/signout", url.Values{})
			if a.status != http.StatusSeeOther || a.location != "/signin" {
				t.Errorf("sign out: %d to %q", a.status, a.location)
			}
			c, err = http.ParseSetCookie(a.header.Get("Set-Cookie"))
			if err != nil || c.Name != tc.want || c.MaxAge >= 0 || c.Value != "" {
				t.Errorf("sign out does not clear the cookie: %q (%v)", a.header.Get("Set-Cookie"), err)
			}
			if b.cookie() != "" {
				t.Error("the browser still holds a session cookie after signing out")
			}
		})
	}
}

// TestCrossSiteRefused: a state-changing request a browser sends from
// another site is refused with a 403 page, whatever the route and whether
// signed in; it changes nothing (the session stays). Reads pass.
func TestCrossSiteRefused(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleAdmin)
	s := newSite(t, svc, siteOptions{})
	b := s.browser()
	b.signIn("alice", "/")
	form := url.Values{"username": {"mallory"}, "name": {"M"}, "password": {password}}.Encode()
	for _, hdr := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "http://evil.example"},
		{"Origin": "null"},
	} {
		for _, path := range []string{"/signout", "/accounts", "/accounts/alice", "/policy", "/session/extend", "/signin", "/setup", "/unlock", "/account/password"} {
			a := b.postWith(path, form, hdr)
			if a.status != http.StatusForbidden || !strings.Contains(errorText(a.body), "another web site") {
				t.Errorf("POST %s with %v: %d %q, want 403 saying it came from another web site", path, hdr, a.status, errorText(a.body))
			}
		}
	}
	// Nothing changed: still signed in, no account added.
	if a := b.get("/"); a.status != http.StatusOK {
		t.Errorf("after refused cross-site requests, GET /: %d, want 200 (still signed in)", a.status)
	}
	if a := b.get("/accounts"); strings.Contains(a.body, `data-username="mallory"`) {
		t.Error("a cross-site request added an account")
	}
	// The same origin passes: Sec-Fetch-Site same-origin, or an Origin of
	// this host (browsers without fetch metadata).
	u, _ := url.Parse(s.srv.URL)
	a := b.postWith("/session/extend", "", map[string]string{"Origin": "http://" + u.Host})
	if a.status != http.StatusOK {
		t.Errorf("same-origin POST /session/extend: %d: %s", a.status, a.body)
	}
	// A cross-site GET is a read: it passes (SameSite=Strict keeps the
	// cookie off it in a real browser).
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if a := b.do(req); a.status != http.StatusOK {
		t.Errorf("cross-site GET /: %d", a.status)
	}
}

// TestBadInput: forms too large, not UTF-8, not a form or missing fields
// are answered 4xx with a message on the page, never a 500, and a
// password is never echoed back.
func TestBadInput(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleAdmin)
	s := newSite(t, svc, siteOptions{})
	admin := s.browser()
	admin.signIn("alice", "/")
	anon := s.browser()
	huge := "username=alice&password=" + strings.Repeat("a", 1<<20)
	for _, tc := range []struct {
		name      string
		signedIn  bool
		path      string
		body      string
		ctype     string
		want      int
		says      string
		notInBody string
	}{
		{"signin_1MiB", false, "/signin", huge, "", http.StatusRequestEntityTooLarge, "too large", ""},
		{"accounts_1MiB", true, "/accounts", huge, "", http.StatusRequestEntityTooLarge, "too large", ""},
		{"password_1MiB", true, "/account/password", huge, "", http.StatusRequestEntityTooLarge, "too large", ""},
		{"signin_username_not_utf8", false, "/signin", "username=al%FFce&password=x", "", http.StatusBadRequest, "The username is not valid text", ""},
		{"signin_password_not_utf8", false, "/signin", "username=alice&password=caf%E9", "", http.StatusBadRequest, "The password is not valid text", ""},
		{"signin_field_name_not_utf8", false, "/signin", "%FF=1&username=alice&password=x", "", http.StatusBadRequest, "not valid text", ""},
		{"signin_bad_escape", false, "/signin", "username=%zz", "", http.StatusBadRequest, "could not be read", ""},
		{"signin_no_password", false, "/signin", "username=alice", "", http.StatusBadRequest, "The password is missing", ""},
		{"signin_empty", false, "/signin", "", "", http.StatusBadRequest, "The username is missing", ""},
		{"signin_multipart", false, "/signin", "--x\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nalice\r\n--x--\r\n", "multipart/form-data; boundary=x", http.StatusBadRequest, "missing", ""},
		{"signin_json", false, "/signin", `{"username":"alice","password":"x"}`, "application/json", http.StatusBadRequest, "missing", ""},
		{"signin_wrong_password_not_echoed", false, "/signin", url.Values{"username": {"alice"}, "password": {"hunter2-not-right"}}.Encode(), "", http.StatusUnauthorized, "", "hunter2-not-right"},
		{"setup_after_setup", false, "/setup", "code=x", "", http.StatusSeeOther, "", ""},
		{"unlock_not_locked", false, "/unlock", "passphrase=x", "", http.StatusSeeOther, "", ""},
		{"password_missing_new", true, "/account/password", "old_password=x", "", http.StatusBadRequest, "The new password is missing", ""},
		{"password_mismatch", true, "/account/password", url.Values{"old_password": {password}, "new_password": {"a new password 1"}, "new_password2": {"a new password 2"}}.Encode(), "", http.StatusBadRequest, "differ", "a new password 1"},
		{"password_wrong_old", true, "/account/password", url.Values{"old_password": {"not my password"}, "new_password": {"a new password 1"}, "new_password2": {"a new password 1"}}.Encode(), "", http.StatusUnauthorized, "", "not my password"},
		{"add_missing_name", true, "/accounts", url.Values{"username": {"bob"}, "password": {password}}.Encode(), "", http.StatusBadRequest, "The name is missing", password},
		{"add_bad_username", true, "/accounts", url.Values{"username": {"9bob"}, "name": {"Bob"}, "password": {password}}.Encode(), "", http.StatusBadRequest, "must start with a letter", password},
		{"add_short_password", true, "/accounts", url.Values{"username": {"bob"}, "name": {"Bob"}, "password": {"short"}}.Encode(), "", http.StatusBadRequest, "too short", `value="short"`},
		{"add_name_not_utf8", true, "/accounts", "username=bob&name=B%E9b&password=x", "", http.StatusBadRequest, "The name is not valid text", ""},
		{"add_existing", true, "/accounts", url.Values{"username": {"alice"}, "name": {"A"}, "password": {password}}.Encode(), "", http.StatusConflict, "already exists", password},
		{"action_missing", true, "/accounts/alice", "", "", http.StatusBadRequest, "The action is missing", ""},
		{"action_unknown", true, "/accounts/alice", "action=explode", "", http.StatusBadRequest, "Unknown action", ""},
		{"action_no_such_user", true, "/accounts/nobody", "action=disable", "", http.StatusNotFound, "nobody", ""},
		{"reset_password_empty", true, "/accounts/alice", "action=reset_password", "", http.StatusBadRequest, "missing", ""},
		{"role_missing", true, "/accounts/alice", "action=role", "", http.StatusBadRequest, "The role is missing", ""},
		{"end_session_missing", true, "/accounts/alice", "action=end_session", "", http.StatusBadRequest, "The session is missing", ""},
		{"policy_unknown", true, "/policy", "action=explode", "", http.StatusBadRequest, "Unknown action", ""},
		{"totp_not_in_stage", true, "/signin/totp", "code=123456", "", http.StatusSeeOther, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := anon
			if tc.signedIn {
				b = admin
			}
			hdr := map[string]string{"Sec-Fetch-Site": "same-origin"}
			if tc.ctype != "" {
				hdr["Content-Type"] = tc.ctype
			}
			a := b.postWith(tc.path, tc.body, hdr)
			if a.status != tc.want {
				t.Fatalf("%d, want %d: %s", a.status, tc.want, a.body)
			}
			if tc.says != "" && !strings.Contains(errorText(a.body), tc.says) {
				t.Errorf("#error is %q, want it to say %q", errorText(a.body), tc.says)
			}
			if a.status >= 400 && !hasID(a.body, "error") {
				t.Errorf("no #error on the page: %s", a.body)
			}
			if tc.notInBody != "" && strings.Contains(a.body, tc.notInBody) {
				t.Errorf("the page echoes %q", tc.notInBody)
			}
		})
	}
}

// TestCACertificate: /ca.pem serves the local CA when there is one, and
// is 404 when the admin's own certificate serves.
func TestCACertificate(t *testing.T) {
	pem := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleStaff)
	s := newSite(t, svc, siteOptions{tls: true, caPEM: pem})
	b := s.browser()
	a := b.get("/ca.pem")
	if a.status != http.StatusOK || a.header.Get("Content-Type") != "application/x-pem-file" || a.body != string(pem) {
		t.Errorf("GET /ca.pem: %d %q %q", a.status, a.header.Get("Content-Type"), a.body)
	}
	if a := b.get("/signin"); !strings.Contains(a.body, `id="ca-download" href="/ca.pem"`) {
		t.Errorf("the sign-in page has no a#ca-download to /ca.pem: %s", a.body)
	}
	other := newSite(t, svc, siteOptions{tls: true}).browser()
	if a := other.get("/signin"); hasID(a.body, "ca-download") {
		t.Error("a#ca-download without a local CA")
	}
}

// panicking is the real service with a Status that panics: a bug in a
// handler must reach the browser as a plain 500 page, no stack trace.
type panicking struct{ web.Service }

func (panicking) Status(context.Context, ops.Actor) (ops.Status, error) {
	var m map[string]int
	m["boom"]++ // a nil map: a runtime error, as a real bug would be
	return ops.Status{}, nil
}

func TestPanicIsAPlain500(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleStaff)
	s := newSite(t, panicking{svc}, siteOptions{})
	b := s.browser()
	b.allow5xx = map[int]bool{http.StatusInternalServerError: true}
	b.signIn("alice", "/")
	a := b.get("/")
	if a.status != http.StatusInternalServerError || !hasID(a.body, "error") || strings.Contains(a.body, "goroutine") || strings.Contains(a.body, "nil map") {
		t.Errorf("a panic: %d: %s", a.status, a.body)
	}
}

// TestServeShutsDown: Serve answers until its context ends, then returns
// nil after a graceful shutdown.
func TestServeShutsDown(t *testing.T) {
	ws, err := web.New(web.Options{Service: openService(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ws.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /static/app.css: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Error("the server still answers after shutdown")
	}
}

// TestNewNeedsService: a clear error, not a nil dereference later.
func TestNewNeedsService(t *testing.T) {
	if _, err := web.New(web.Options{}); err == nil || !strings.Contains(err.Error(), "Service") {
		t.Errorf("New without a service: %v", err)
	}
}

// TestTemplatesAreCSPClean: no template holds inline style, inline script
// or an event handler attribute (they would need 'unsafe-inline'). The
// rendered pages are checked too, on every answer of every test.
func TestTemplatesAreCSPClean(t *testing.T) {
	files, err := filepath.Glob("templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates found: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkMarkup(t, f, string(b))
	}
	js, err := os.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	// The script builds no markup from strings (no innerHTML, no eval):
	// it only sets text.
	for _, bad := range []string{"innerHTML", "outerHTML", "eval(", "new Function", "document.write", "insertAdjacentHTML"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}
