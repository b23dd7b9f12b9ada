package web_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/web"
)

// The JSON API's test harness: an integration's HTTP client over a real
// web.Server, the real daemon.Service and its encrypted store.

// apiSite serves the web UI over svc with the clock now. A frozen clock
// makes the rate limit's buckets refill never; nil is a clock that moves a
// second further at each reading, so that the many quick requests of a
// test are never rate limited (the rate limit's own test freezes it).
func apiSite(t *testing.T, svc web.Service, now func() time.Time) *site {
	t.Helper()
	if now == nil {
		var mu sync.Mutex
		start, n := time.Now(), 0
		now = func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			n++
			return start.Add(time.Duration(n) * time.Second)
		}
	}
	ws, err := web.New(web.Options{Service: svc, Log: testLogger(t), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ws.Handler())
	t.Cleanup(srv.Close)
	return &site{t: t, srv: srv}
}

// integration is a practice system's HTTP client: no cookie jar, its
// bearer token on every request (none when token is "").
type integration struct {
	site  *site
	c     *http.Client
	token string
	// allow5xx lists statuses of 500 and above the test expects.
	allow5xx map[int]bool
}

func (s *site) integration(token string) *integration {
	return &integration{site: s, token: token,
		c: &http.Client{Transport: s.srv.Client().Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// apiAnswer is an API response, read whole, with its JSON.
type apiAnswer struct {
	status int
	header http.Header
	body   string
	// json is the body decoded (nil when it is not JSON).
	json any
}

// field is a top-level property of the answer's JSON object ("" and false
// when there is none).
func (a apiAnswer) field(name string) (any, bool) {
	m, ok := a.json.(map[string]any)
	if !ok {
		return nil, false
	}
	v, ok := m[name]
	return v, ok
}

// str is a string property of the answer's JSON object.
func (a apiAnswer) str(name string) string {
	v, _ := a.field(name)
	s, _ := v.(string)
	return s
}

// id is the answer's "id" as an integer.
func (a apiAnswer) id() int64 {
	v, _ := a.field("id")
	f, _ := v.(float64)
	return int64(f)
}

// request sends one request with the token, hdr and body (JSON content
// type unless hdr says otherwise) and checks what every API answer must
// have: the security headers, JSON (an object, with code and message when
// it is an error), no cookie, no CORS header, no unexpected 5xx.
func (in *integration) request(method, path, body string, hdr map[string]string) apiAnswer {
	t := in.site.t
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, in.site.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if in.token != "" {
		req.Header.Set("Authorization", "Bearer "+in.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return in.do(req)
}

func (in *integration) do(req *http.Request) apiAnswer {
	t := in.site.t
	t.Helper()
	resp, err := in.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", req.Method, req.URL.Path, err)
	}
	a := apiAnswer{status: resp.StatusCode, header: resp.Header, body: string(raw)}
	what := req.Method + " " + req.URL.RequestURI()
	checkHeaders(t, what, answer{status: a.status, header: a.header, body: a.body}, in.site.tls)
	if a.status >= 500 && !in.allow5xx[a.status] {
		t.Errorf("%s: status %d: %s", what, a.status, a.body)
	}
	if c := resp.Header.Values("Set-Cookie"); len(c) > 0 {
		t.Errorf("%s: the API set a cookie: %q", what, c)
	}
	for k := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("%s: a CORS header %s: %q (the API is for servers, not pages elsewhere)", what, k, resp.Header.Get(k))
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json: %s", what, ct, a.body)
		return a
	}
	if err := json.Unmarshal(raw, &a.json); err != nil {
		t.Errorf("%s: the body is not JSON: %v: %q", what, err, a.body)
		return a
	}
	if _, ok := a.json.(map[string]any); !ok {
		t.Errorf("%s: the body is not a JSON object: %s", what, a.body)
	}
	if a.status >= 400 && (a.str("code") == "" || a.str("message") == "") {
		t.Errorf("%s: an error (%d) without a code and a message: %s", what, a.status, a.body)
	}
	if stackTrace.MatchString(a.body) {
		t.Errorf("%s: a stack trace in the answer: %s", what, a.body)
	}
	return a
}

func (in *integration) get(path string) apiAnswer {
	in.site.t.Helper()
	return in.request(http.MethodGet, path, "", nil)
}

// post sends a JSON body, with an Idempotency-Key when key is not "".
func (in *integration) post(path, body, key string) apiAnswer {
	in.site.t.Helper()
	hdr := map[string]string{}
	if key != "" {
		hdr["Idempotency-Key"] = key
	}
	return in.request(http.MethodPost, path, body, hdr)
}

// wantError fails unless a is an error answer of status and code whose
// message holds every one of words.
func wantError(t *testing.T, what string, a apiAnswer, status int, code string, words ...string) {
	t.Helper()
	if a.status != status || a.str("code") != code {
		t.Errorf("%s: %d %s, want %d with code %s", what, a.status, a.body, status, code)
		return
	}
	for _, w := range words {
		if !strings.Contains(a.str("message"), w) {
			t.Errorf("%s: the message %q does not say %q", what, a.str("message"), w)
		}
	}
}

// makeToken creates an API token named name, as root at the shell, and
// returns its secret.
func makeToken(t *testing.T, svc *daemon.Service, name string) string {
	t.Helper()
	toks, err := svc.Tokens(context.Background(), root, ops.TokenRequest{Action: ops.TokenCreate, Name: name})
	if err != nil {
		t.Fatalf("create token %s: %v", name, err)
	}
	if len(toks) != 1 || toks[0].Secret == "" {
		t.Fatalf("create token %s answered %+v, want one token with its secret", name, toks)
	}
	return toks[0].Secret
}

// auditRows reads the audit log of svc's store back from the file.
func auditRows(t *testing.T, svc *daemon.Service) []audit.Row {
	t.Helper()
	cfg := svc.Config()
	db, err := sql.Open("sqlite3", "file:"+cfg.DBPath()+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []audit.Row
	if err := audit.Scan(context.Background(), db, time.Time{}, time.Time{}, func(r audit.Row) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}
