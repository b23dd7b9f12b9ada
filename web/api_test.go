package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// A message as an integration sends it.
const sendJSON = `{"to": "+15551230101", "text": "Reminder: your appointment is tomorrow at 09:30."}`

// TestAPIAuthentication: without a bearer token, with a malformed, an
// unknown or a revoked one, every authenticated route answers 401 JSON
// with WWW-Authenticate: Bearer and does nothing; a signed-in browser's
// session cookie is no credential for the API.
func TestAPIAuthentication(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleAdmin)
	good := makeToken(t, svc, "pms")
	revoked := makeToken(t, svc, "old")
	if _, err := svc.Tokens(context.Background(), root, ops.TokenRequest{Action: ops.TokenRevoke, Name: "old"}); err != nil {
		t.Fatal(err)
	}
	s := apiSite(t, svc, nil)
	b := s.browser()
	b.signIn("alice", "/")

	routes := []struct{ method, path, body string }{
		{"POST", "/api/v1/messages", sendJSON},
		{"GET", "/api/v1/messages/1", ""},
		{"GET", "/api/v1/inbox", ""},
		{"GET", "/api/v1/inbox?since=3", ""},
		{"GET", "/api/v1/status", ""},
	}
	for _, tc := range []struct {
		name, authorization, cookie string
		challenge                   string // WWW-Authenticate holds it
	}{
		{name: "no header", challenge: `Bearer realm="smsd"`},
		{name: "basic", authorization: "Basic YWxpY2U6cGFzc3dvcmQ=", challenge: `Bearer realm="smsd"`},
		{name: "empty bearer", authorization: "Bearer ", challenge: `Bearer realm="smsd"`},
		{name: "unknown token", authorization: "Bearer smsd_not-a-real-token", challenge: `error="invalid_token"`},
		{name: "token in lower case scheme, wrong", authorization: "bearer " + strings.ToUpper(good), challenge: `error="invalid_token"`},
		{name: "revoked token", authorization: "Bearer " + revoked, challenge: `error="invalid_token"`},
		{name: "token with a character no token has", authorization: "Bearer " + good + "\xe9", challenge: `Bearer realm="smsd"`},
		{name: "session cookie only", cookie: b.cookie(), challenge: `Bearer realm="smsd"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := s.integration("")
			for _, rt := range routes {
				var body *strings.Reader
				if rt.body != "" {
					body = strings.NewReader(rt.body)
				} else {
					body = strings.NewReader("")
				}
				req, err := http.NewRequest(rt.method, s.srv.URL+rt.path, body)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				if tc.authorization != "" {
					req.Header["Authorization"] = []string{tc.authorization}
				}
				if tc.cookie != "" {
					req.AddCookie(&http.Cookie{Name: "smsd", Value: tc.cookie})
				}
				a := in.do(req)
				wantError(t, rt.method+" "+rt.path, a, http.StatusUnauthorized, "unauthorized")
				if ch := a.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer") || !strings.Contains(ch, tc.challenge) {
					t.Errorf("%s %s: WWW-Authenticate %q, want it to hold %q", rt.method, rt.path, ch, tc.challenge)
				}
			}
		})
	}
	// Two Authorization headers are refused too (which one would count?).
	req, _ := http.NewRequest("GET", s.srv.URL+"/api/v1/status", nil)
	req.Header["Authorization"] = []string{"Bearer " + good, "Bearer " + good}
	wantError(t, "two Authorization headers", s.integration("").do(req), http.StatusUnauthorized, "unauthorized", "more than one")

	// Nothing was queued by any of it, and the good token works.
	if ms, err := svc.Messages(context.Background(), root, ops.MessageFilter{}); err != nil || len(ms) != 0 {
		t.Errorf("refused requests queued %d messages (%v)", len(ms), err)
	}
	if a := s.integration(good).get("/api/v1/status"); a.status != http.StatusOK {
		t.Errorf("GET /api/v1/status with a good token: %d %s", a.status, a.body)
	}
	// The scheme is case-insensitive (RFC 7235).
	req, _ = http.NewRequest("GET", s.srv.URL+"/api/v1/status", nil)
	req.Header.Set("Authorization", "bearer "+good)
	if a := s.integration("").do(req); a.status != http.StatusOK {
		t.Errorf("GET /api/v1/status with scheme bearer: %d %s", a.status, a.body)
	}
}

// TestAPISendAndIdempotency: a message queued with an Idempotency-Key is
// 201 with its Location; the same request again is 200 with the same id
// and existing true, and one message exists; the key with another text or
// another send_at is 409 idempotency_conflict; keys are per token; the
// message's own page shows its state, times and parts but neither its text
// nor its full number, and only to the token that queued it.
func TestAPISendAndIdempotency(t *testing.T) {
	svc := openService(t)
	s := apiSite(t, svc, nil)
	pms := s.integration(makeToken(t, svc, "pms"))
	other := s.integration(makeToken(t, svc, "lab"))

	first := pms.post("/api/v1/messages", sendJSON, "appt-4711")
	if first.status != http.StatusCreated || first.id() <= 0 || first.str("state") != "queued" {
		t.Fatalf("POST /api/v1/messages: %d %s, want 201 with a queued message", first.status, first.body)
	}
	id := first.id()
	if loc := first.header.Get("Location"); loc != fmt.Sprintf("/api/v1/messages/%d", id) {
		t.Errorf("Location %q, want /api/v1/messages/%d", loc, id)
	}
	if to := first.str("to"); to != "+1******0101" {
		t.Errorf("the answer's number is %q, want it masked +1******0101", to)
	}
	if v, ok := first.field("existing"); ok && v != false {
		t.Errorf("a new message says existing: %s", first.body)
	}
	again := pms.post("/api/v1/messages", sendJSON, "appt-4711")
	if again.status != http.StatusOK || again.id() != id || again.str("state") != "queued" {
		t.Errorf("the same request with the same key: %d %s, want 200 and id %d", again.status, again.body, id)
	}
	if v, _ := again.field("existing"); v != true {
		t.Errorf("the same request with the same key: existing is %v, want true: %s", v, again.body)
	}
	if loc := again.header.Get("Location"); loc != fmt.Sprintf("/api/v1/messages/%d", id) {
		t.Errorf("the repeated answer's Location %q", loc)
	}
	wantError(t, "the key with another text",
		pms.post("/api/v1/messages", `{"to": "+15551230101", "text": "Another text"}`, "appt-4711"),
		http.StatusConflict, ops.CodeConflict, "idempotency key")
	wantError(t, "the key with another number",
		pms.post("/api/v1/messages", `{"to": "+15551230102", "text": "Reminder: your appointment is tomorrow at 09:30."}`, "appt-4711"),
		http.StatusConflict, ops.CodeConflict)
	later := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
	wantError(t, "the key with another send_at",
		pms.post("/api/v1/messages", `{"to": "+15551230101", "text": "Reminder: your appointment is tomorrow at 09:30.", "send_at": "`+later+`"}`, "appt-4711"),
		http.StatusConflict, ops.CodeConflict, "send_at")
	// Another integration's key of the same name is its own.
	lab := other.post("/api/v1/messages", sendJSON, "appt-4711")
	if lab.status != http.StatusCreated || lab.id() == id {
		t.Errorf("another token with the same key: %d %s, want 201 and a new message", lab.status, lab.body)
	}
	// A scheduled message keeps its send_at, and its key with the same
	// send_at is the same message.
	sched := pms.post("/api/v1/messages", `{"to": "+15551230103", "text": "Scheduled", "send_at": "`+later+`"}`, "appt-4712")
	if sched.status != http.StatusCreated || sched.str("send_at") != later {
		t.Errorf("a scheduled message: %d %s, want 201 with send_at %s", sched.status, sched.body, later)
	}
	if a := pms.post("/api/v1/messages", `{"to": "+15551230103", "text": "Scheduled", "send_at": "`+later+`"}`, "appt-4712"); a.status != http.StatusOK || a.id() != sched.id() {
		t.Errorf("the scheduled message again: %d %s", a.status, a.body)
	}
	// Without a key every request is a message.
	n1 := pms.post("/api/v1/messages", sendJSON, "")
	n2 := pms.post("/api/v1/messages", sendJSON, "")
	if n1.status != http.StatusCreated || n2.status != http.StatusCreated || n1.id() == n2.id() {
		t.Errorf("two requests without a key: %d %s, %d %s, want two messages", n1.status, n1.body, n2.status, n2.body)
	}
	ms, err := svc.Messages(context.Background(), root, ops.MessageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 5 {
		t.Errorf("%d messages queued, want 5 (one per key and token, and two without a key)", len(ms))
	}

	// The message's own page.
	a := pms.get(fmt.Sprintf("/api/v1/messages/%d", id))
	if a.status != http.StatusOK || a.id() != id || a.str("state") != "queued" || a.str("created_at") == "" {
		t.Fatalf("GET the message: %d %s", a.status, a.body)
	}
	for _, k := range []string{"parts_total", "parts_accepted", "attempts"} {
		if _, ok := a.field(k); !ok {
			t.Errorf("GET the message: no %q: %s", k, a.body)
		}
	}
	if strings.Contains(a.body, "Reminder") || strings.Contains(a.body, "5551230101") {
		t.Errorf("GET the message shows its text or full number: %s", a.body)
	}
	if _, ok := a.field("text"); ok {
		t.Errorf("GET the message has a text field: %s", a.body)
	}
	if _, err := time.Parse(time.RFC3339, a.str("created_at")); err != nil {
		t.Errorf("created_at %q is not RFC 3339", a.str("created_at"))
	}
	// Another token's message is not there for this one.
	wantError(t, "another token's message", pms.get(fmt.Sprintf("/api/v1/messages/%d", lab.id())), http.StatusNotFound, ops.CodeNotFound)
	wantError(t, "a message that does not exist", pms.get("/api/v1/messages/999999"), http.StatusNotFound, ops.CodeNotFound, "999999")
}

// TestAPIAudited: every call is a row in the audit trail under
// token:<name> with the client's address: the send, the message's view,
// the inbox (PHI handed to the integration) and the status.
func TestAPIAudited(t *testing.T) {
	svc := openService(t)
	if _, err := svc.Store().AddInbound(context.Background(), queue.Inbound{From: "+15551230199", Text: "C"}); err != nil {
		t.Fatal(err)
	}
	s := apiSite(t, svc, nil)
	pms := s.integration(makeToken(t, svc, "pms"))
	sent := pms.post("/api/v1/messages", sendJSON, "k1")
	if sent.status != http.StatusCreated {
		t.Fatalf("send: %d %s", sent.status, sent.body)
	}
	for _, p := range []string{fmt.Sprintf("/api/v1/messages/%d", sent.id()), "/api/v1/inbox", "/api/v1/status"} {
		if a := pms.get(p); a.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", p, a.status, a.body)
		}
	}
	wantError(t, "a refused send", pms.post("/api/v1/messages", `{"to": "not a number", "text": "x"}`, ""), http.StatusBadRequest, ops.CodeInvalidNumber)
	got := map[string]int{}
	for _, r := range auditRows(t, svc) {
		if r.Actor != "token:pms" {
			continue
		}
		if r.Client != "127.0.0.1" {
			t.Errorf("audit row %s by token:pms from %q, want 127.0.0.1", r.Action, r.Client)
		}
		got[r.Action+" "+r.Outcome]++
	}
	for _, want := range []string{
		audit.MessageCreate + " " + audit.OK, audit.MessageView + " " + audit.OK, audit.InboxView + " " + audit.OK,
		audit.StatusView + " " + audit.OK, audit.MessageCreate + " " + audit.Failed,
	} {
		if got[want] == 0 {
			t.Errorf("no audit row %q under token:pms; rows: %v", want, got)
		}
	}
}

// TestAPIRevocation: revoking a token, on the tokens page, refuses its
// very next call.
func TestAPIRevocation(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleAdmin)
	s := apiSite(t, svc, nil)
	pms := s.integration(makeToken(t, svc, "pms"))
	if a := pms.get("/api/v1/status"); a.status != http.StatusOK {
		t.Fatalf("before revoking: %d %s", a.status, a.body)
	}
	b := s.browser()
	b.signIn("alice", "/")
	if a := b.post("/tokens/pms", url.Values{"action": {"revoke"}}); a.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", a.status, a.body)
	}
	wantError(t, "the call after revoking", pms.get("/api/v1/status"), http.StatusUnauthorized, "unauthorized")
	wantError(t, "a send after revoking", pms.post("/api/v1/messages", sendJSON, "k"), http.StatusUnauthorized, "unauthorized")
	if ms, _ := svc.Messages(context.Background(), root, ops.MessageFilter{}); len(ms) != 0 {
		t.Errorf("a revoked token queued %d messages", len(ms))
	}
}

// TestAPIBadInput: what the API cannot take is a 4xx with a JSON message
// that says what is wrong (the field, where it can), never a 500, and
// queues nothing.
func TestAPIBadInput(t *testing.T) {
	svc := openService(t)
	s := apiSite(t, svc, nil)
	pms := s.integration(makeToken(t, svc, "pms"))
	huge := `{"to": "+15551230101", "text": "` + strings.Repeat("a", 70<<10) + `"}`
	past := time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)
	json := map[string]string{"Content-Type": "application/json"}
	for _, tc := range []struct {
		name   string
		body   string
		hdr    map[string]string
		status int
		code   string
		words  []string // the message holds each
	}{
		{"huge body", huge, nil, 413, "too_large", []string{"64 KiB"}},
		{"empty body", "", json, 400, "invalid_request", []string{"empty"}},
		{"whitespace body", "  \n", nil, 400, "invalid_request", []string{"empty"}},
		{"invalid JSON", `{"to": "+15551230101", "text": }`, nil, 400, "invalid_request", []string{"not valid JSON"}},
		{"cut short", `{"to": "+15551230101", "text": "a`, nil, 400, "invalid_request", nil},
		{"not an object", `["+15551230101", "hello"]`, nil, 400, "invalid_request", []string{"JSON object"}},
		{"a string", `"hello"`, nil, 400, "invalid_request", []string{"JSON object"}},
		{"null", `null`, nil, 400, "invalid_request", []string{`"to"`}},
		{"two objects", sendJSON + sendJSON, nil, 400, "invalid_request", []string{"more after"}},
		{"invalid UTF-8 in the text", "{\"to\": \"+15551230101\", \"text\": \"caf\xe9\"}", nil, 400, "invalid_request", []string{`"text"`, "UTF-8"}},
		{"invalid UTF-8 in the number", "{\"to\": \"+1555\xff\", \"text\": \"hi\"}", nil, 400, "invalid_request", []string{`"to"`, "UTF-8"}},
		{"invalid UTF-8 in a field name", "{\"t\xffo\": \"+15551230101\"}", nil, 400, "invalid_request", []string{"field's name", "UTF-8"}},
		{"a lone surrogate escape", `{"to": "+15551230101", "text": "a\ud83d b"}`, nil, 400, "invalid_request", []string{`"text"`, "surrogate"}},
		{"a lone low surrogate", `{"to": "+15551230101", "text": "\udc00"}`, nil, 400, "invalid_request", []string{`"text"`}},
		{"number as a number", `{"to": 15551230101, "text": "hi"}`, nil, 400, "invalid_request", []string{`"to"`, "string", "number"}},
		{"text as an array", `{"to": "+15551230101", "text": ["hi"]}`, nil, 400, "invalid_request", []string{`"text"`, "string", "array"}},
		{"text as true", `{"to": "+15551230101", "text": true}`, nil, 400, "invalid_request", []string{`"text"`, "bool"}},
		{"send_at as a number", `{"to": "+15551230101", "text": "hi", "send_at": 1764000000}`, nil, 400, "invalid_request", []string{`"send_at"`}},
		{"unknown field", `{"to": "+15551230101", "text": "hi", "priority": "high"}`, nil, 400, "invalid_request", []string{`"priority"`, "unknown field"}},
		{"unknown field, case", `{"To": "+15551230101", "text": "hi"}`, nil, 400, "invalid_request", []string{`"To"`, "lower case"}},
		{"a field twice", `{"to": "+15551230101", "text": "hi", "to": "+15551230102"}`, nil, 400, "invalid_request", []string{`"to"`, "twice"}},
		{"bad date", `{"to": "+15551230101", "text": "hi", "send_at": "tomorrow 9:30"}`, nil, 400, "invalid_request", []string{`"send_at"`, "RFC 3339"}},
		{"date without a zone", `{"to": "+15551230101", "text": "hi", "send_at": "2030-01-02T09:30:00"}`, nil, 400, "invalid_request", []string{`"send_at"`}},
		{"impossible date", `{"to": "+15551230101", "text": "hi", "send_at": "2030-02-30T09:30:00Z"}`, nil, 400, "invalid_request", []string{`"send_at"`}},
		{"date in the past", `{"to": "+15551230101", "text": "hi", "send_at": "` + past + `"}`, nil, 400, "invalid_request", []string{"past"}},
		{"missing number", `{"text": "hi"}`, nil, 400, "invalid_request", []string{`"to"`, "missing"}},
		{"empty number", `{"to": " ", "text": "hi"}`, nil, 400, "invalid_request", []string{`"to"`}},
		{"missing text", `{"to": "+15551230101"}`, nil, 400, "invalid_request", []string{`"text"`, "missing"}},
		{"invalid number", `{"to": "not a number", "text": "hi"}`, nil, 400, "invalid_number", nil},
		{"text too long", `{"to": "+15551230101", "text": "` + strings.Repeat("x", 2000) + `"}`, nil, 400, "too_long", nil},
		{"a template by name", `{"to": "+15551230101", "template": "reminder", "fields": {"time": "09:30"}}`, nil, 400, "invalid_request", []string{`"template"`, "unknown field"}},
		{"fields alone", `{"to": "+15551230101", "text": "hi", "fields": {}}`, nil, 400, "invalid_request", []string{`"fields"`, `"template_id"`}},
		{"text and a template", `{"to": "+15551230101", "text": "hi", "template_id": 1}`, nil, 400, "invalid_request", []string{"either", "not both"}},
		{"template id zero", `{"to": "+15551230101", "template_id": 0}`, nil, 400, "invalid_request", []string{`"template_id"`}},
		{"template id as a string", `{"to": "+15551230101", "template_id": "1"}`, nil, 400, "invalid_request", []string{`"template_id"`}},
		{"an unknown template", `{"to": "+15551230101", "template_id": 987654, "fields": {"name": "Ana"}}`, nil, 404, "not_found", nil},
		{"fields of the wrong type", `{"to": "+15551230101", "text": "hi", "fields": {"a": 1}}`, nil, 400, "invalid_request", []string{"fields"}},
		{"form encoded", "to=%2B15551230101&text=hi", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", []string{"application/json"}},
		{"plain text", sendJSON, map[string]string{"Content-Type": "text/plain"}, 415, "unsupported_media_type", nil},
		{"no content type", sendJSON, map[string]string{"Content-Type": ""}, 415, "unsupported_media_type", nil},
		{"latin-1", sendJSON, map[string]string{"Content-Type": "application/json; charset=iso-8859-1"}, 415, "unsupported_media_type", []string{"UTF-8"}},
		{"a key too long", sendJSON, map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, 400, "invalid_request", []string{"Idempotency-Key"}},
		{"a key with a space", sendJSON, map[string]string{"Idempotency-Key": "appt 4711"}, 400, "invalid_request", []string{"Idempotency-Key"}},
		{"a key not ASCII", sendJSON, map[string]string{"Idempotency-Key": "termin-ä"}, 400, "invalid_request", []string{"Idempotency-Key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := pms.request("POST", "/api/v1/messages", tc.body, tc.hdr)
			wantError(t, tc.name, a, tc.status, tc.code, tc.words...)
		})
	}
	// The charset parameter in UTF-8 is fine, in any case.
	if a := pms.request("POST", "/api/v1/messages", sendJSON, map[string]string{"Content-Type": "application/json; charset=UTF-8"}); a.status != http.StatusCreated {
		t.Errorf("charset=UTF-8: %d %s", a.status, a.body)
	}
	if ms, _ := svc.Messages(context.Background(), root, ops.MessageFilter{}); len(ms) != 1 {
		t.Errorf("%d messages queued, want only the one good request's", len(ms))
	}

	for _, tc := range []struct {
		method, path string
		status       int
		code         string
		words        []string
	}{
		{"GET", "/api/v1/messages/abc", 400, "invalid_request", []string{`"abc"`}},
		{"GET", "/api/v1/messages/0", 400, "invalid_request", nil},
		{"GET", "/api/v1/messages/-1", 400, "invalid_request", nil},
		{"GET", "/api/v1/messages/+1", 400, "invalid_request", nil},
		{"GET", "/api/v1/messages/1.5", 400, "invalid_request", nil},
		{"GET", "/api/v1/messages/1e3", 400, "invalid_request", nil},
		{"GET", "/api/v1/messages/99999999999999999999", 400, "invalid_request", nil},
		{"GET", "/api/v1/messages/%C3%A9", 400, "invalid_request", nil},
		{"GET", "/api/v1/messages/424242", 404, "not_found", nil},
		{"GET", "/api/v1/messages/1?full=1", 400, "invalid_request", []string{`"full"`}},
		{"GET", "/api/v1/inbox?since=abc", 400, "invalid_request", []string{"since"}},
		{"GET", "/api/v1/inbox?since=-1", 400, "invalid_request", []string{"since"}},
		{"GET", "/api/v1/inbox?since=", 400, "invalid_request", []string{"since"}},
		{"GET", "/api/v1/inbox?since=1&since=2", 400, "invalid_request", []string{"since", "once"}},
		{"GET", "/api/v1/inbox?limit=0", 400, "invalid_request", []string{"limit"}},
		{"GET", "/api/v1/inbox?limit=5000", 400, "invalid_request", []string{"limit", "1000"}},
		{"GET", "/api/v1/inbox?from=%2B1555", 400, "invalid_request", []string{`"from"`}},
		{"GET", "/api/v1/inbox?since=%zz", 400, "invalid_request", []string{"query"}},
		{"GET", "/api/v1/status?verbose=1", 400, "invalid_request", []string{`"verbose"`}},
		{"POST", "/api/v1/messages?dry_run=1", 400, "invalid_request", []string{`"dry_run"`}},
		{"GET", "/api/v1/messages", 405, "method_not_allowed", []string{"POST"}},
		{"DELETE", "/api/v1/messages/1", 405, "method_not_allowed", []string{"GET"}},
		{"PUT", "/api/v1/messages/1", 405, "method_not_allowed", nil},
		{"POST", "/api/v1/status", 405, "method_not_allowed", nil},
		{"POST", "/api/v1/inbox", 405, "method_not_allowed", nil},
		{"OPTIONS", "/api/v1/messages", 405, "method_not_allowed", nil},
		{"GET", "/api/v1/", 404, "not_found", []string{"openapi.json"}},
		{"GET", "/api/v1/nothing", 404, "not_found", nil},
		{"GET", "/api/v1/messages/", 404, "not_found", nil},
		{"GET", "/api/v1/messages/1/parts", 404, "not_found", nil},
		{"POST", "/api/v1/tokens", 404, "not_found", nil},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			body := ""
			if tc.method == "POST" {
				body = sendJSON
			}
			a := pms.request(tc.method, tc.path, body, nil)
			wantError(t, tc.method+" "+tc.path, a, tc.status, tc.code, tc.words...)
			if tc.status == 405 && a.header.Get("Allow") == "" {
				t.Errorf("%s %s: a 405 without Allow", tc.method, tc.path)
			}
		})
	}
	if ms, _ := svc.Messages(context.Background(), root, ops.MessageFilter{}); len(ms) != 1 {
		t.Errorf("%d messages queued after the refused requests, want 1", len(ms))
	}
}

// TestAPIInbox: without since the newest messages, oldest first, with the
// next call's since; polling with it after that misses none and repeats
// none, however many arrive between two calls.
func TestAPIInbox(t *testing.T) {
	svc := openService(t)
	ctx := context.Background()
	add := func(i int) int64 {
		t.Helper()
		in, err := svc.Store().AddInbound(ctx, queue.Inbound{From: fmt.Sprintf("+155512302%02d", i), Text: fmt.Sprintf("reply %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		return in.ID
	}
	var ids []int64
	for i := range 3 {
		ids = append(ids, add(i))
	}
	s := apiSite(t, svc, nil)
	pms := s.integration(makeToken(t, svc, "pms"))
	page := func(path string) ([]int64, int64) {
		t.Helper()
		a := pms.get(path)
		if a.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, a.status, a.body)
		}
		v, _ := a.field("entries")
		list, ok := v.([]any)
		if !ok {
			t.Fatalf("GET %s: no entries list: %s", path, a.body)
		}
		var got []int64
		for _, e := range list {
			m := e.(map[string]any)
			got = append(got, int64(m["id"].(float64)))
			if m["text"] == "" || m["from"] == "" || m["received_at"] == "" {
				t.Errorf("an entry without its text, sender or time: %v", m)
			}
		}
		next, _ := a.field("next_since")
		return got, int64(next.(float64))
	}
	got, since := page("/api/v1/inbox?limit=2")
	if fmt.Sprint(got) != fmt.Sprint(ids[1:]) || since != ids[2] {
		t.Errorf("the newest two: %v, next_since %d; want %v and %d", got, since, ids[1:], ids[2])
	}
	if got, _ := page("/api/v1/inbox?since=0"); fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("since=0: %v, want %v", got, ids)
	}
	if got, next := page(fmt.Sprintf("/api/v1/inbox?since=%d", since)); len(got) != 0 || next != since {
		t.Errorf("nothing new: %v, next_since %d; want none and %d", got, next, since)
	}
	// Five arrive; polling two at a time sees each once, in order.
	var want, seen []int64
	for i := 3; i < 8; i++ {
		want = append(want, add(i))
	}
	for range 5 {
		got, next := page(fmt.Sprintf("/api/v1/inbox?since=%d&limit=2", since))
		if len(got) == 0 {
			break
		}
		seen, since = append(seen, got...), next
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("polling with since saw %v, want %v", seen, want)
	}
}

// TestAPIRateLimit: a token gets apiBurst (20) requests at once and then
// 429 with Retry-After, in JSON; another token is not slowed by it. The
// clock is frozen, so the bucket does not refill during the test.
func TestAPIRateLimit(t *testing.T) {
	svc := openService(t)
	now := time.Now()
	s := apiSite(t, svc, func() time.Time { return now })
	pms := s.integration(makeToken(t, svc, "pms"))
	lab := s.integration(makeToken(t, svc, "lab"))
	for i := range 20 {
		// A refused request (an unknown parameter) counts too, and keeps
		// the test fast: nothing but the token is looked up.
		if a := pms.get("/api/v1/status?n=" + fmt.Sprint(i)); a.status != http.StatusBadRequest {
			t.Fatalf("request %d: %d %s", i+1, a.status, a.body)
		}
	}
	a := pms.get("/api/v1/status")
	wantError(t, "the 21st request", a, http.StatusTooManyRequests, "rate_limited", "10 a second")
	if ra := a.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
	if a := lab.get("/api/v1/status"); a.status != http.StatusOK {
		t.Errorf("another token while pms is limited: %d %s", a.status, a.body)
	}
	// Unauthenticated requests are refused before the limit: they do not
	// spend the token's requests.
	if a := s.integration("wrong").get("/api/v1/status"); a.status != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d", a.status)
	}
}

// TestAPILocked: while the store waits for its passphrase the API answers
// 503 JSON, code locked, with Retry-After.
func TestAPILocked(t *testing.T) {
	svc := lockedService(t, "the clinic's long passphrase")
	s := apiSite(t, svc, nil)
	in := s.integration("smsd_anything")
	in.allow5xx = map[int]bool{http.StatusServiceUnavailable: true}
	for _, tc := range []struct{ method, path string }{
		{"POST", "/api/v1/messages"}, {"GET", "/api/v1/messages/1"}, {"GET", "/api/v1/inbox"}, {"GET", "/api/v1/status"}, {"GET", "/api/v1/nothing"},
	} {
		body := ""
		if tc.method == "POST" {
			body = sendJSON
		}
		a := in.request(tc.method, tc.path, body, nil)
		wantError(t, tc.method+" "+tc.path+" locked", a, http.StatusServiceUnavailable, ops.CodeLocked, "locked")
		if a.header.Get("Retry-After") == "" {
			t.Errorf("%s %s locked: no Retry-After", tc.method, tc.path)
		}
	}
}

// TestAPINoCookieNoCORS: the API sets no cookie and sends no CORS header,
// whatever the request's Origin (every request of the harness checks
// both); a browser's preflight gets no permission.
func TestAPINoCookieNoCORS(t *testing.T) {
	svc := openService(t)
	s := apiSite(t, svc, nil)
	pms := s.integration(makeToken(t, svc, "pms"))
	hdr := map[string]string{"Origin": "https://evil.example", "Idempotency-Key": "cors-1"}
	// A server sends no Sec-Fetch-Site; with an Origin of another site the
	// cross-origin check refuses a POST (as a browser's would be).
	a := pms.request("GET", "/api/v1/status", "", hdr)
	if a.status != http.StatusOK {
		t.Errorf("GET with an Origin: %d %s", a.status, a.body)
	}
	wantError(t, "POST from a page of another site", pms.request("POST", "/api/v1/messages", sendJSON, hdr), http.StatusForbidden, ops.CodeDenied, "another site")
	if ms, _ := svc.Messages(context.Background(), root, ops.MessageFilter{}); len(ms) != 0 {
		t.Errorf("a cross-site POST queued %d messages", len(ms))
	}
	pre := pms.request("OPTIONS", "/api/v1/messages", "", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"})
	if pre.status/100 == 2 {
		t.Errorf("a CORS preflight was allowed: %d", pre.status)
	}
	if !regexp.MustCompile(`^[45]\d\d$`).MatchString(fmt.Sprint(pre.status)) {
		t.Errorf("preflight: %d", pre.status)
	}
}

// TestAPIPanicIsJSON500: a bug in a handler reaches the integration as a
// 500 in JSON, code internal, with no stack trace or panic value.
func TestAPIPanicIsJSON500(t *testing.T) {
	svc := openService(t)
	s := apiSite(t, panicking{svc}, nil)
	in := s.integration(makeToken(t, svc, "pms"))
	in.allow5xx = map[int]bool{http.StatusInternalServerError: true}
	a := in.get("/api/v1/status")
	wantError(t, "a panic", a, http.StatusInternalServerError, ops.CodeInternal, "journal")
	if strings.Contains(a.body, "nil map") || strings.Contains(a.body, "goroutine") {
		t.Errorf("the panic's details reached the client: %s", a.body)
	}
}

// TestAPISendTemplate: POST /api/v1/messages with template_id and fields
// queues the template filled in (the service renders it as the web UI's
// send page does); the same Idempotency-Key again makes no second
// message; a template missing a field it needs is a 400 naming it.
func TestAPISendTemplate(t *testing.T) {
	svc := openService(t)
	ctx := context.Background()
	ts, err := svc.Templates(ctx, root, ops.TemplateRequest{Action: ops.TemplateSave, Name: "API", Language: ops.LangEnglish,
		Body: "Hi {name}, your visit is {date} at {time}. Reply C to confirm."})
	if err != nil || len(ts) != 1 {
		t.Fatal(ts, err)
	}
	pms := apiSite(t, svc, nil).integration(makeToken(t, svc, "pms"))
	body := fmt.Sprintf(`{"to": "+15551230601", "template_id": %d, "fields": {"name": "Ana", "date": "Thu 3 Dec", "time": "3:00 PM"}}`, ts[0].ID)
	a := pms.post("/api/v1/messages", body, "tpl-1")
	if a.status != http.StatusCreated {
		t.Fatalf("send by template: %d %s", a.status, a.body)
	}
	m, err := svc.Message(ctx, root, a.id())
	if want := "Hi Ana, your visit is Thu 3 Dec at 3:00 PM. Reply C to confirm."; err != nil || m.Text != want {
		t.Errorf("the message's text %q (%v), want %q", m.Text, err, want)
	}
	if again := pms.post("/api/v1/messages", body, "tpl-1"); again.status != http.StatusOK || again.id() != a.id() {
		t.Errorf("the same key again: %d %s, want 200 with message %d", again.status, again.body, a.id())
	}
	short := fmt.Sprintf(`{"to": "+15551230601", "template_id": %d, "fields": {"name": "Ana"}}`, ts[0].ID)
	wantError(t, "a field missing", pms.post("/api/v1/messages", short, ""), http.StatusBadRequest, ops.CodeInvalidRequest, "{date}")
	if ms, _ := svc.Messages(ctx, root, ops.MessageFilter{}); len(ms) != 1 {
		t.Errorf("%d messages queued, want 1", len(ms))
	}
}
