package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clinicsms/smsd/ops"
)

// The JSON API under /api/v1, for practice-management systems on the LAN
// (issue 14). A request carries no cookie and has no session: it is
// authenticated by its bearer token alone (Authorization: Bearer
// <secret>), which the service turns into an actor of kind token; every
// call is audited under token:<name> by the service itself. Every answer,
// errors included, is JSON; errors are {"code": ..., "message": ...}.
// openapi.json describes all of it, and a test holds the handlers to it.

// apiPrefix is where the API lives.
const apiPrefix = "/api/v1/"

// API error codes beyond the service's own (ops.Code*), for what the API
// refuses before it asks the service.
const (
	apiCodeUnauthorized     = "unauthorized"
	apiCodeRateLimited      = "rate_limited"
	apiCodeMethodNotAllowed = "method_not_allowed"
	apiCodeUnsupportedMedia = "unsupported_media_type"
	apiCodeTooLarge         = "too_large"
)

// The rate limit of each token: a bucket of apiBurst requests that refills
// at apiRate a second. An integration queuing the day's reminders in one
// go is slowed to apiRate a second, never refused for good; a runaway loop
// cannot flood the queue or the audit trail.
const (
	apiRate  = 10
	apiBurst = 20
)

// apiHandler answers an API request of an authenticated integration.
type apiHandler func(w http.ResponseWriter, r *http.Request, a ops.Actor)

// apiRoute is one method of one path of the API.
type apiRoute struct {
	method  string
	pattern string // as the mux and openapi.json write it: /api/v1/messages/{id}
	// public routes need no token (the OpenAPI description).
	public bool
	h      apiHandler
}

// apiServer holds the API's state: its routes and each token's bucket.
type apiServer struct {
	s      *Server
	routes []apiRoute
	limits *rateLimiter
}

// apiRoutes registers the JSON API on m (each path with its methods, and
// a JSON 404 for every other path under /api/v1/) and the admins' API
// tokens page.
func (s *Server) apiRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /tokens", s.page(activeOnly, true, s.tokens))
	m.HandleFunc("POST /tokens", s.page(activeOnly, true, s.createToken))
	m.HandleFunc("POST /tokens/{name}", s.page(activeOnly, true, s.tokenAction))

	api := &apiServer{s: s, limits: newRateLimiter(apiRate, apiBurst, s.now)}
	api.routes = api.table()
	// One handler per path, which answers a method it does not take with
	// a JSON 405 (the mux's own would be plain text).
	var patterns []string
	byPattern := map[string][]apiRoute{}
	for _, rt := range api.routes {
		if _, ok := byPattern[rt.pattern]; !ok {
			patterns = append(patterns, rt.pattern)
		}
		byPattern[rt.pattern] = append(byPattern[rt.pattern], rt)
	}
	for _, p := range patterns {
		m.Handle(p, api.path(byPattern[p]))
	}
	m.HandleFunc(apiPrefix, func(w http.ResponseWriter, r *http.Request) {
		apiFail(w, http.StatusNotFound, ops.CodeNotFound, "there is no API route at "+r.URL.Path+"; see /api/v1/openapi.json")
	})
}

// table is every route of the API; openapi.json describes each, and a
// test holds the two to each other.
func (api *apiServer) table() []apiRoute {
	return []apiRoute{
		{method: http.MethodPost, pattern: "/api/v1/messages", h: api.send},
		{method: http.MethodGet, pattern: "/api/v1/messages/{id}", h: api.message},
		{method: http.MethodGet, pattern: "/api/v1/inbox", h: api.inbox},
		{method: http.MethodGet, pattern: "/api/v1/status", h: api.status},
		{method: http.MethodGet, pattern: "/api/v1/openapi.json", public: true, h: api.openAPI},
	}
}

// path dispatches a path's requests by method, authenticates them and
// applies the token's rate limit.
func (api *apiServer) path(routes []apiRoute) http.Handler {
	var allow []string
	for _, rt := range routes {
		allow = append(allow, rt.method)
	}
	allowed := strings.Join(allow, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := slices.IndexFunc(routes, func(rt apiRoute) bool { return rt.method == r.Method })
		if i < 0 {
			w.Header().Set("Allow", allowed)
			apiFail(w, http.StatusMethodNotAllowed, apiCodeMethodNotAllowed, fmt.Sprintf("%s does not take %s (it takes %s)", r.URL.Path, r.Method, allowed))
			return
		}
		rt := routes[i]
		if rt.public {
			rt.h(w, r, ops.Actor{})
			return
		}
		a, ok := api.authenticate(w, r)
		if !ok {
			return
		}
		if ok, wait := api.limits.allow(a.Name); !ok {
			secs := int((wait + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			apiFail(w, http.StatusTooManyRequests, apiCodeRateLimited,
				fmt.Sprintf("too many requests with this token: at most %d a second (bursts of %d); wait and send again", apiRate, apiBurst))
			return
		}
		rt.h(w, r, a)
	})
}

// authenticate finds the integration of the request's bearer token. When
// there is none it has answered 401 (with WWW-Authenticate, RFC 6750) and
// returns false. A cookie is never looked at: a browser's session cannot
// call the API, so a page elsewhere cannot make it act.
func (api *apiServer) authenticate(w http.ResponseWriter, r *http.Request) (ops.Actor, bool) {
	secret, problem := bearer(r.Header)
	if problem != "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="smsd"`)
		apiFail(w, http.StatusUnauthorized, apiCodeUnauthorized, problem)
		return ops.Actor{}, false
	}
	a, err := api.s.svc.TokenActor(r.Context(), secret, clientAddr(r))
	if err == nil && a.Kind != ops.ActorToken {
		// Only an integration's token calls the API; anything else the
		// service answered with would be a bug there, refused here.
		err = ops.Errorf(ops.CodeNoSession, "not an API token")
	}
	if err != nil {
		if ops.CodeOf(err) == ops.CodeNoSession {
			w.Header().Set("WWW-Authenticate", `Bearer realm="smsd", error="invalid_token"`)
			apiFail(w, http.StatusUnauthorized, apiCodeUnauthorized, "the token is unknown or revoked: ask an administrator of the appliance for a token (the API tokens page)")
			return ops.Actor{}, false
		}
		api.fail(w, r, err)
		return ops.Actor{}, false
	}
	return a, true
}

// bearer is the secret of an Authorization: Bearer header, or why there is
// none.
func bearer(h http.Header) (secret, problem string) {
	vs := h.Values("Authorization")
	switch {
	case len(vs) == 0:
		return "", "no token: send the header Authorization: Bearer <token>"
	case len(vs) > 1:
		return "", "more than one Authorization header: send one, Authorization: Bearer <token>"
	}
	scheme, secret, _ := strings.Cut(strings.TrimSpace(vs[0]), " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return "", "the Authorization header is not a bearer token: send Authorization: Bearer <token>"
	}
	for i := 0; i < len(secret); i++ {
		if c := secret[i]; c <= ' ' || c > '~' {
			return "", "the token has characters no token has: copy it again from the API tokens page"
		}
	}
	return secret, ""
}

// apiErrorBody is every error's JSON.
type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// apiFail answers with a JSON error.
func apiFail(w http.ResponseWriter, status int, code, msg string) {
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, status, apiErrorBody{Code: code, Message: msg})
}

// apiLocked is the API's answer while the store waits for its passphrase.
func apiLocked(w http.ResponseWriter) {
	apiFail(w, http.StatusServiceUnavailable, ops.CodeLocked, "the appliance is locked: an administrator must unlock it (its web page /unlock, or smsd key unlock); nothing was done")
}

// fail answers a service error with its code and the status that fits.
func (api *apiServer) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := api.s.statusOf(r, err)
	code := ops.CodeOf(err)
	var oe *ops.Error
	if errors.As(err, &oe) {
		// The service's own words, as the command line shows them (the
		// pages start them with a capital).
		msg = oe.Message
	}
	switch code {
	case "":
		code = ops.CodeInternal
	case ops.CodeOptedOut:
		// Well formed, but the number refuses messages: the state of the
		// number conflicts with the request.
		status = http.StatusConflict
	case ops.CodeNoSession:
		// The token ended while the request ran (revoked meanwhile).
		w.Header().Set("WWW-Authenticate", `Bearer realm="smsd", error="invalid_token"`)
		code = apiCodeUnauthorized
	}
	apiFail(w, status, code, msg)
}

// badRequest answers 400 invalid_request.
func badRequest(w http.ResponseWriter, msg string) {
	apiFail(w, http.StatusBadRequest, ops.CodeInvalidRequest, msg)
}

// readJSON reads a request's JSON object into v (a pointer to a struct
// whose fields are pointers, so that a missing field is nil). It refuses,
// with a message that names the field where it can: another content type
// (415), a body over the limit (413), an empty body, bytes that are not
// UTF-8 or escapes that are no character, JSON that does not parse, a
// field not in names (v's JSON names), one given twice, a value of the
// wrong type, and anything after the object (400). It reports whether v was filled; otherwise it answered.
func readJSON(w http.ResponseWriter, r *http.Request, v any, names []string) bool {
	fields := fieldList(names)
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		apiFail(w, http.StatusUnsupportedMediaType, apiCodeUnsupportedMedia, "the body must be JSON, sent with Content-Type: application/json")
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		apiFail(w, http.StatusUnsupportedMediaType, apiCodeUnsupportedMedia, "the body must be JSON in UTF-8 (Content-Type: application/json, with no charset or charset=utf-8)")
		return false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			apiFail(w, http.StatusRequestEntityTooLarge, apiCodeTooLarge, fmt.Sprintf("the body is too large: the appliance takes at most %d KiB; nothing was done", maxBody>>10))
			return false
		}
		badRequest(w, "the body could not be read whole; nothing was done")
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		badRequest(w, "the body is empty: send a JSON object with "+fields)
		return false
	}
	// encoding/json would turn bad bytes, and escapes of half a character,
	// into U+FFFD without a word: a patient would get a text with "�" in
	// it. Refuse them, naming the field.
	if off := badUTF8(body); off >= 0 {
		badRequest(w, fmt.Sprintf("%s is not valid UTF-8 (byte %d): send the text in UTF-8; nothing was done", fieldAt(body, off), off))
		return false
	}
	if off := badSurrogate(body); off >= 0 {
		badRequest(w, fmt.Sprintf("%s has an escape that is half a character (a lone UTF-16 surrogate, byte %d); nothing was done", fieldAt(body, off), off))
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		badRequest(w, jsonProblem(err, fields))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		badRequest(w, "the body has more after its JSON object: send one object; nothing was done")
		return false
	}
	if msg := checkKeys(body, names); msg != "" {
		badRequest(w, msg+"; nothing was done")
		return false
	}
	return true
}

// checkKeys holds the names of a JSON object's fields to names exactly:
// encoding/json matches them without regard to case ("To" fills "to") and
// takes the last of two alike, so either would pass unseen. It returns
// what is wrong, or "". body is an object that decodes.
func checkKeys(body []byte, names []string) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		key, _ := t.(string)
		switch {
		case !slices.Contains(names, key):
			return fmt.Sprintf("unknown field %q (the fields are %s; names are in lower case)", key, fieldList(names))
		case seen[key]:
			return fmt.Sprintf("the field %q is given twice: give it once", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return ""
		}
	}
	return ""
}

// fieldList names fields for a message: "to", "text" and "send_at".
func fieldList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " and " + q[len(q)-1]
}

// jsonProblem words a decoding error for the integration's developer.
func jsonProblem(err error, fields string) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("the body is not valid JSON (at byte %d: %s); nothing was done", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return "the body must be a JSON object with " + fields + ", not " + article(typ.Value) + "; nothing was done"
		}
		return fmt.Sprintf("the field %q must be %s, not %s; nothing was done", typ.Field, jsonKind(typ.Type.String()), article(typ.Value))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends before its JSON object does; nothing was done"
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Sprintf("unknown field %s (the fields are %s); nothing was done", name, fields)
	}
	return "the body is not a JSON object this route takes (" + fields + "); nothing was done"
}

// jsonKind names a Go type of a request field as JSON calls it.
func jsonKind(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "string":
		return "a string"
	case "int", "int64":
		return "a whole number"
	case "bool":
		return "true or false"
	case "map[string]string":
		return "an object of strings"
	}
	return "another type"
}

// article puts "a" or "an" before a JSON kind ("number", "array").
func article(kind string) string {
	if kind == "" {
		return "that"
	}
	if strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

// badUTF8 is the offset of the first byte of b that is not UTF-8, or -1.
func badUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// badSurrogate is the offset of the first \u escape in b that is half of a
// UTF-16 surrogate pair without its other half, or -1. In JSON a backslash
// is only ever inside a string, so no string tracking is needed.
func badSurrogate(b []byte) int {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		return rune(v), err == nil
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] != 'u' {
			i++ // \" \\ \n ...: skip the escaped character
			continue
		}
		r, ok := hex4(i)
		if !ok {
			i++ // not valid JSON: the decoder says so
			continue
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if lo, ok := hex4(i + 6); ok && lo >= 0xDC00 && lo < 0xE000 {
				i += 11
				continue
			}
			return i
		case r >= 0xDC00 && r < 0xE000:
			return i
		}
		i += 5
	}
	return -1
}

// fieldAt names the field of a JSON body whose value (or name) holds byte
// off: `the field "text"`, or "the body" when it cannot tell.
func fieldAt(body []byte, off int) string {
	// Tokenise up to off with the bad bytes made harmless, keeping the key
	// of each open object.
	clean := bytes.ToValidUTF8(body[:off], []byte("?"))
	dec := json.NewDecoder(bytes.NewReader(clean))
	type frame struct {
		object  bool
		key     string
		wantKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		top := len(stack) - 1
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top >= 0 && stack[top].object {
					stack[top].wantKey = true
				}
				stack = append(stack, frame{object: t == '{', wantKey: t == '{'})
			default:
				stack = stack[:top]
			}
			continue
		case string:
			if top >= 0 && stack[top].object && stack[top].wantKey {
				stack[top].key, stack[top].wantKey = t, false
				continue
			}
		}
		if top >= 0 && stack[top].object {
			stack[top].wantKey = true
		}
	}
	// The value being read when the body ended is the bad one: the key of
	// the innermost object, unless a key itself was being read.
	for i := len(stack) - 1; i >= 0; i-- {
		if f := stack[i]; f.object {
			if f.wantKey {
				return "a field's name"
			}
			return fmt.Sprintf("the field %q", f.key)
		}
	}
	return "the body"
}

// checkQuery refuses query parameters the route does not take, and any
// given twice, naming them.
func checkQuery(w http.ResponseWriter, r *http.Request, names ...string) bool {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		badRequest(w, "the query string could not be read ("+err.Error()+"); nothing was done")
		return false
	}
	for k, vs := range q {
		if !slices.Contains(names, k) {
			takes := "takes no parameters"
			if len(names) > 0 {
				takes = "takes " + strings.Join(names, ", ")
			}
			badRequest(w, fmt.Sprintf("unknown query parameter %q (this route %s)", k, takes))
			return false
		}
		if len(vs) > 1 {
			badRequest(w, fmt.Sprintf("the query parameter %q is given %d times: give it once", k, len(vs)))
			return false
		}
	}
	return true
}
