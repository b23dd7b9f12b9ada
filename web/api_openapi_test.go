package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/web"
)

// The OpenAPI description (web/openapi.json) against the real handlers: a
// small reader of the OpenAPI 3 subset the file uses, and a schema walker
// for its types (object with properties, required and
// additionalProperties; string, with format date-time; integer; boolean;
// array; nullable; $ref).

// oaSpec is the part of an OpenAPI 3 document the test reads.
type oaSpec struct {
	OpenAPI    string                             `json:"openapi"`
	Info       map[string]any                     `json:"info"`
	Security   []map[string][]string              `json:"security"`
	Paths      map[string]map[string]*oaOperation `json:"paths"`
	Components struct {
		Schemas         map[string]*oaSchema   `json:"schemas"`
		Responses       map[string]*oaResponse `json:"responses"`
		SecuritySchemes map[string]any         `json:"securitySchemes"`
	} `json:"components"`
}

type oaOperation struct {
	OperationID string                 `json:"operationId"`
	Parameters  []oaParameter          `json:"parameters"`
	RequestBody *oaRequestBody         `json:"requestBody"`
	Responses   map[string]*oaResponse `json:"responses"`
	// Security, when given, replaces the document's ([] : no token).
	Security *[]map[string][]string `json:"security"`
}

type oaParameter struct {
	Name     string    `json:"name"`
	In       string    `json:"in"`
	Required bool      `json:"required"`
	Schema   *oaSchema `json:"schema"`
}

type oaRequestBody struct {
	Required bool               `json:"required"`
	Content  map[string]oaMedia `json:"content"`
}

type oaMedia struct {
	Schema *oaSchema `json:"schema"`
}

type oaResponse struct {
	Ref         string              `json:"$ref"`
	Description string              `json:"description"`
	Content     map[string]oaMedia  `json:"content"`
	Headers     map[string]oaHeader `json:"headers"`
}

type oaHeader struct {
	Description string    `json:"description"`
	Schema      *oaSchema `json:"schema"`
}

type oaSchema struct {
	Ref        string               `json:"$ref"`
	Type       string               `json:"type"`
	Format     string               `json:"format"`
	Nullable   bool                 `json:"nullable"`
	Properties map[string]*oaSchema `json:"properties"`
	Required   []string             `json:"required"`
	Items      *oaSchema            `json:"items"`
	// AdditionalProperties is false, true or a schema.
	AdditionalProperties json.RawMessage `json:"additionalProperties"`
	Minimum              *float64        `json:"minimum"`
	Maximum              *float64        `json:"maximum"`
	MaxLength            *int            `json:"maxLength"`
	// AnyOf: the value fits at least one of them as well (a request
	// with "text" or with "template_id").
	AnyOf []*oaSchema `json:"anyOf"`
}

// loadSpec parses the embedded description and checks its own shape:
// OpenAPI 3, every $ref resolves, every operation has an operationId and
// a 2xx, every error response is the Error schema.
func loadSpec(t *testing.T) *oaSpec {
	t.Helper()
	var spec oaSpec
	if err := json.Unmarshal(web.OpenAPIJSON(), &spec); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Fatalf("openapi.json is OpenAPI %q, want 3.x", spec.OpenAPI)
	}
	if spec.Info["title"] == nil || spec.Info["version"] == nil {
		t.Errorf("openapi.json: info has no title or version")
	}
	if _, ok := spec.Components.SecuritySchemes["bearerAuth"]; !ok {
		t.Errorf("openapi.json: no bearerAuth security scheme")
	}
	// Every $ref in the file resolves.
	for _, m := range regexp.MustCompile(`"\$ref":\s*"([^"]+)"`).FindAllStringSubmatch(string(web.OpenAPIJSON()), -1) {
		name, ok := strings.CutPrefix(m[1], "#/components/schemas/")
		if ok {
			if spec.Components.Schemas[name] == nil {
				t.Errorf("openapi.json: $ref %s resolves to nothing", m[1])
			}
			continue
		}
		name, ok = strings.CutPrefix(m[1], "#/components/responses/")
		if !ok || spec.Components.Responses[name] == nil {
			t.Errorf("openapi.json: $ref %s resolves to nothing", m[1])
		}
	}
	ids := map[string]bool{}
	for p, ops := range spec.Paths {
		for method, op := range ops {
			what := strings.ToUpper(method) + " " + p
			if op.OperationID == "" || ids[op.OperationID] {
				t.Errorf("%s: operationId %q missing or not unique", what, op.OperationID)
			}
			ids[op.OperationID] = true
			has2xx := false
			for status := range op.Responses {
				r := spec.response(t, op, status)
				if status[0] == '2' {
					has2xx = true
				}
				if status[0] >= '4' {
					if s := r.Content["application/json"].Schema; s == nil || s.Ref != "#/components/schemas/Error" {
						t.Errorf("%s: the %s response is not the Error schema", what, status)
					}
				}
				if r.Description == "" {
					t.Errorf("%s: the %s response has no description", what, status)
				}
			}
			if !has2xx {
				t.Errorf("%s: no success response", what)
			}
		}
	}
	return &spec
}

// response is op's response for status, its $ref resolved.
func (s *oaSpec) response(t *testing.T, op *oaOperation, status string) *oaResponse {
	t.Helper()
	r := op.Responses[status]
	if r == nil {
		return nil
	}
	if name, ok := strings.CutPrefix(r.Ref, "#/components/responses/"); ok {
		r = s.Components.Responses[name]
		if r == nil {
			t.Fatalf("response $ref %s resolves to nothing", op.Responses[status].Ref)
		}
	}
	return r
}

// schema resolves a schema's $ref.
func (s *oaSpec) schema(sc *oaSchema) *oaSchema {
	for sc != nil && sc.Ref != "" {
		sc = s.Components.Schemas[strings.TrimPrefix(sc.Ref, "#/components/schemas/")]
	}
	return sc
}

// validate checks v (a decoded JSON value) against sc and returns what does
// not fit, each problem with its place (body.entries[0].id). An object
// whose schema lists properties may have no others unless
// additionalProperties allows them: the description names every field the
// handlers send.
func (s *oaSpec) validate(v any, sc *oaSchema, at string) []string {
	sc = s.schema(sc)
	if sc == nil {
		return []string{at + ": no schema"}
	}
	if v == nil {
		if sc.Nullable {
			return nil
		}
		return []string{at + ": null, and the schema is not nullable"}
	}
	var out []string
	bad := func(format string, args ...any) { out = append(out, at+": "+fmt.Sprintf(format, args...)) }
	if len(sc.AnyOf) > 0 {
		fits := false
		for _, alt := range sc.AnyOf {
			if len(s.validate(v, alt, at)) == 0 {
				fits = true
			}
		}
		if !fits {
			bad("fits none of the schema's anyOf alternatives")
		}
	}
	switch sc.Type {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			bad("%T, want an object", v)
			return out
		}
		for _, k := range sc.Required {
			if _, ok := m[k]; !ok {
				bad("the required property %q is missing", k)
			}
		}
		var extra *oaSchema
		allowExtra := len(sc.Properties) == 0
		switch a := strings.TrimSpace(string(sc.AdditionalProperties)); a {
		case "":
		case "true":
			allowExtra = true
		case "false":
			allowExtra = false
		default:
			extra = &oaSchema{}
			if err := json.Unmarshal(sc.AdditionalProperties, extra); err != nil {
				bad("additionalProperties does not parse: %v", err)
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch p := sc.Properties[k]; {
			case p != nil:
				out = append(out, s.validate(m[k], p, at+"."+k)...)
			case extra != nil:
				out = append(out, s.validate(m[k], extra, at+"."+k)...)
			case !allowExtra:
				bad("the property %q is not in the description", k)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			bad("%T, want an array", v)
			return out
		}
		for i, e := range a {
			out = append(out, s.validate(e, sc.Items, fmt.Sprintf("%s[%d]", at, i))...)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			bad("%T, want a string", v)
			return out
		}
		if sc.Format == "date-time" {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				bad("%q is not a date-time (RFC 3339)", str)
			}
		}
		if sc.MaxLength != nil && len(str) > *sc.MaxLength {
			bad("longer than %d", *sc.MaxLength)
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) {
			bad("%v, want an integer", v)
			return out
		}
		if sc.Minimum != nil && f < *sc.Minimum || sc.Maximum != nil && f > *sc.Maximum {
			bad("%v is out of its range", f)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("%T, want a boolean", v)
		}
	default:
		bad("the schema's type %q is not one the test knows", sc.Type)
	}
	return out
}

// opFor finds the spec's path template and operation for a request path.
func (s *oaSpec) opFor(method, path string) (string, *oaOperation) {
	path, _, _ = strings.Cut(path, "?")
	for tmpl, ops := range s.Paths {
		re := "^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), `[^/]+`) + "$"
		if regexp.MustCompile(re).MatchString(path) {
			return tmpl, ops[strings.ToLower(method)]
		}
	}
	return "", nil
}

// TestOpenAPIRoutes: the description and the mux name the same routes,
// and the mux serves nothing else under /api/v1: a method the description
// does not list is 405, a path it does not list is 404.
func TestOpenAPIRoutes(t *testing.T) {
	spec := loadSpec(t)
	var inSpec []string
	for p, ops := range spec.Paths {
		if !strings.HasPrefix(p, "/api/v1/") {
			t.Errorf("openapi.json: path %s is not under /api/v1/", p)
		}
		for method := range ops {
			inSpec = append(inSpec, strings.ToUpper(method)+" "+p)
		}
	}
	served := web.APIRoutes()
	slices.Sort(inSpec)
	slices.Sort(served)
	if !slices.Equal(inSpec, served) {
		t.Errorf("the description's routes:\n  %s\nthe mux's:\n  %s", strings.Join(inSpec, "\n  "), strings.Join(served, "\n  "))
	}

	svc := openService(t)
	s := apiSite(t, svc, nil)
	in := s.integration(makeToken(t, svc, "pms"))
	for p, ops := range spec.Paths {
		concrete := strings.ReplaceAll(p, "{id}", "1")
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if ops[strings.ToLower(m)] != nil {
				continue
			}
			a := in.request(m, concrete, "", nil)
			wantError(t, m+" "+concrete, a, http.StatusMethodNotAllowed, "method_not_allowed")
			var allow []string
			for om := range ops {
				allow = append(allow, strings.ToUpper(om))
			}
			slices.Sort(allow)
			if got := strings.Split(strings.ReplaceAll(a.header.Get("Allow"), " ", ""), ","); !slices.Equal(slices.Sorted(slices.Values(got)), allow) {
				t.Errorf("%s %s: Allow %q, want %v", m, concrete, a.header.Get("Allow"), allow)
			}
		}
	}
	for _, p := range []string{"/api/v1/", "/api/v1/message", "/api/v1/messages/1/text", "/api/v1/tokens", "/api/v1/openapi.yaml", "/api/v1/inbox/1"} {
		wantError(t, "GET "+p, in.get(p), http.StatusNotFound, ops.CodeNotFound)
	}
}

// TestOpenAPIResponses makes real requests to the real handlers, for every
// route of the description and every response it documents but a 500,
// and holds each answer to it: the status is one the route documents, the
// body has the documented content type, required properties and types,
// and no property the description leaves out; documented headers are
// sent. A documented status no case reaches fails the test.
func TestOpenAPIResponses(t *testing.T) {
	spec := loadSpec(t)
	svc := openService(t)
	ctx := context.Background()
	if _, err := svc.Store().AddInbound(ctx, queue.Inbound{From: "+15551230301", Text: "C"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Store().AddInbound(ctx, queue.Inbound{From: "+15551230302", Text: "STOP", SentAt: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.OptOuts(ctx, root, ops.OptOutRequest{Action: ops.OptOutAdd, Number: "+15551230399", Reason: "asked at the desk"}); err != nil {
		t.Fatal(err)
	}
	s := apiSite(t, svc, nil)
	pms := s.integration(makeToken(t, svc, "pms"))
	sent := pms.post("/api/v1/messages", `{"to": "+15551230300", "text": "Seed"}`, "seed")
	if sent.status != http.StatusCreated {
		t.Fatalf("seed message: %d %s", sent.status, sent.body)
	}
	msg := fmt.Sprintf("/api/v1/messages/%d", sent.id())
	// A site whose clock stands still, with a token that has spent its
	// burst: every call of it is 429.
	frozen := time.Now()
	limitedSite := apiSite(t, svc, func() time.Time { return frozen })
	limited := limitedSite.integration(makeToken(t, svc, "burst"))
	for range 20 {
		limited.get("/api/v1/status?spend=1")
	}
	// A locked appliance: everything but the description is 503.
	lockedSite := apiSite(t, lockedService(t, "the clinic's long passphrase"), nil)
	locked := lockedSite.integration("smsd_whatever")
	locked.allow5xx = map[int]bool{http.StatusServiceUnavailable: true}
	anon := s.integration("")
	later := time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)

	type tc struct {
		in           *integration
		method, path string
		body, key    string
		hdr          map[string]string
		status       int
	}
	cases := []tc{
		{in: pms, method: "POST", path: "/api/v1/messages", body: `{"to": "+15551230310", "text": "Reminder"}`, key: "a1", status: 201},
		{in: pms, method: "POST", path: "/api/v1/messages", body: `{"to": "+15551230310", "text": "Reminder"}`, key: "a1", status: 200},
		{in: pms, method: "POST", path: "/api/v1/messages", body: `{"to": "+15551230311", "text": "Later", "send_at": "` + later + `"}`, key: "a2", status: 201},
		{in: pms, method: "POST", path: "/api/v1/messages", body: `{"to": "+15551230310", "text": "Other"}`, key: "a1", status: 409},
		{in: pms, method: "POST", path: "/api/v1/messages", body: `{"to": "+15551230399", "text": "Opted out"}`, status: 409},
		{in: pms, method: "POST", path: "/api/v1/messages", body: `{"to": 1}`, status: 400},
		{in: pms, method: "POST", path: "/api/v1/messages", body: `{"to": "+15551230312", "template_id": 987654, "fields": {"name": "Ana"}}`, status: 404},
		{in: pms, method: "POST", path: "/api/v1/messages", body: `{"to": "+15551230310", "text": "` + strings.Repeat("x", 70<<10) + `"}`, status: 413},
		{in: pms, method: "POST", path: "/api/v1/messages", body: `{}`, hdr: map[string]string{"Content-Type": "text/plain"}, status: 415},
		{in: anon, method: "POST", path: "/api/v1/messages", body: `{}`, status: 401},
		{in: limited, method: "POST", path: "/api/v1/messages", body: `{}`, status: 429},
		{in: locked, method: "POST", path: "/api/v1/messages", body: `{}`, status: 503},

		{in: pms, method: "GET", path: msg, status: 200},
		{in: pms, method: "GET", path: "/api/v1/messages/x", status: 400},
		{in: pms, method: "GET", path: "/api/v1/messages/987654", status: 404},
		{in: anon, method: "GET", path: msg, status: 401},
		{in: limited, method: "GET", path: msg, status: 429},
		{in: locked, method: "GET", path: msg, status: 503},

		{in: pms, method: "GET", path: "/api/v1/inbox", status: 200},
		{in: pms, method: "GET", path: "/api/v1/inbox?since=1&limit=10", status: 200},
		{in: pms, method: "GET", path: "/api/v1/inbox?since=1000", status: 200},
		{in: pms, method: "GET", path: "/api/v1/inbox?since=no", status: 400},
		{in: anon, method: "GET", path: "/api/v1/inbox", status: 401},
		{in: limited, method: "GET", path: "/api/v1/inbox", status: 429},
		{in: locked, method: "GET", path: "/api/v1/inbox", status: 503},

		{in: pms, method: "GET", path: "/api/v1/status", status: 200},
		{in: pms, method: "GET", path: "/api/v1/status?x=1", status: 400},
		{in: anon, method: "GET", path: "/api/v1/status", status: 401},
		{in: limited, method: "GET", path: "/api/v1/status", status: 429},
		{in: locked, method: "GET", path: "/api/v1/status", status: 503},

		{in: anon, method: "GET", path: "/api/v1/openapi.json", status: 200},
		{in: locked, method: "GET", path: "/api/v1/openapi.json", status: 200},
		{in: anon, method: "GET", path: "/api/v1/openapi.json?x=1", status: 400},
	}
	reached := map[string]bool{}
	for _, c := range cases {
		what := fmt.Sprintf("%s %s (want %d)", c.method, c.path, c.status)
		hdr := map[string]string{}
		for k, v := range c.hdr {
			hdr[k] = v
		}
		if c.key != "" {
			hdr["Idempotency-Key"] = c.key
		}
		a := c.in.request(c.method, c.path, c.body, hdr)
		if a.status != c.status {
			t.Errorf("%s: %d %s", what, a.status, a.body)
			continue
		}
		tmpl, op := spec.opFor(c.method, c.path)
		if op == nil {
			t.Errorf("%s: not in the description", what)
			continue
		}
		status := fmt.Sprint(a.status)
		reached[c.method+" "+tmpl+" "+status] = true
		r := spec.response(t, op, status)
		if r == nil {
			t.Errorf("%s: the description does not document %d for %s %s", what, a.status, c.method, tmpl)
			continue
		}
		media, ok := r.Content[a.header.Get("Content-Type")]
		if !ok {
			t.Errorf("%s: Content-Type %q is not documented", what, a.header.Get("Content-Type"))
			continue
		}
		for _, p := range spec.validate(a.json, media.Schema, "body") {
			t.Errorf("%s: %s\n  %s", what, p, a.body)
		}
		for name := range r.Headers {
			if a.header.Get(name) == "" {
				t.Errorf("%s: the documented header %s is not sent", what, name)
			}
		}
	}
	// Every documented response but a 500 was reached.
	for p, ops := range spec.Paths {
		for method, op := range ops {
			for status := range op.Responses {
				key := strings.ToUpper(method) + " " + p + " " + status
				if status != "500" && !reached[key] {
					t.Errorf("no case reaches the documented response %s", key)
				}
			}
		}
	}
}

// TestOpenAPIRequestExamples: the request bodies the tests send as good
// ones fit the documented request schema (so the description does not
// promise what the handler refuses), and the refused ones do not.
func TestOpenAPIRequestExamples(t *testing.T) {
	spec := loadSpec(t)
	op := spec.Paths["/api/v1/messages"]["post"]
	if op == nil || op.RequestBody == nil || !op.RequestBody.Required {
		t.Fatal("POST /api/v1/messages documents no required request body")
	}
	sc := op.RequestBody.Content["application/json"].Schema
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{sendJSON, true},
		{`{"to": "+15551230101", "text": "hi", "send_at": "2030-01-02T09:30:00+01:00"}`, true},
		{`{"to": "+15551230101"}`, false},
		{`{"to": 1, "text": "hi"}`, false},
		{`{"to": "+15551230101", "text": "hi", "priority": 1}`, false},
		{`{"to": "+15551230101", "text": "hi", "send_at": "tomorrow"}`, false},
		{`{"to": "+15551230101", "template_id": 1, "fields": {"name": "Ana", "time": "9:30"}}`, true},
		{`{"to": "+15551230101", "template_id": "1"}`, false},
		{`{"to": "+15551230101", "fields": {"name": "Ana"}}`, false},
		{`{"to": "+15551230101", "template_id": 1, "fields": {"name": 1}}`, false},
		{`{"to": "+15551230101", "template": "reminder"}`, false},
	} {
		var v any
		if err := json.Unmarshal([]byte(tc.body), &v); err != nil {
			t.Fatal(err)
		}
		problems := spec.validate(v, sc, "request")
		if (len(problems) == 0) != tc.ok {
			t.Errorf("%s: fits the request schema %v, want %v (%v)", tc.body, len(problems) == 0, tc.ok, problems)
		}
	}
	var params []string
	for _, p := range op.Parameters {
		params = append(params, p.In+":"+p.Name)
	}
	if !slices.Contains(params, "header:Idempotency-Key") {
		t.Errorf("POST /api/v1/messages does not document the Idempotency-Key header: %v", params)
	}
	if got := spec.Paths["/api/v1/openapi.json"]["get"].Security; got == nil || len(*got) != 0 {
		t.Errorf("GET /api/v1/openapi.json should say it needs no token (security: [])")
	}
	if len(spec.Security) != 1 || spec.Security[0]["bearerAuth"] == nil {
		t.Errorf("the document's security is %v, want bearerAuth", spec.Security)
	}
}
