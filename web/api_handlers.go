package web

import (
	"cmp"
	_ "embed"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/ops"
)

// openAPIJSON is the API's OpenAPI 3 description, served at
// /api/v1/openapi.json.
//
//go:embed openapi.json
var openAPIJSON []byte

// openAPI serves the description. It needs no token: it holds no secret
// and tells an integrator what to send.
func (api *apiServer) openAPI(w http.ResponseWriter, r *http.Request, _ ops.Actor) {
	if !checkQuery(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(openAPIJSON)
}

// sendBody is POST /api/v1/messages's JSON. Pointers tell a missing field
// (nil) from an empty one.
type sendBody struct {
	To     *string `json:"to"`
	Text   *string `json:"text"`
	SendAt *string `json:"send_at"`
	// TemplateID names a saved template to fill with Fields instead of
	// Text (the service renders it and checks it as any text).
	TemplateID *int64            `json:"template_id"`
	Fields     map[string]string `json:"fields"`
}

// sendFields are sendBody's JSON names.
var sendFields = []string{"to", "text", "send_at", "template_id", "fields"}

// maxIdempotencyKey is the longest Idempotency-Key taken.
const maxIdempotencyKey = 255

// send queues one message: POST /api/v1/messages. 201 with the message and
// its Location; 200 with the same message and "existing": true when the
// Idempotency-Key was used before for the same message; 409 when it was
// used for another.
func (api *apiServer) send(w http.ResponseWriter, r *http.Request, a ops.Actor) {
	if !checkQuery(w, r) {
		return
	}
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	var b sendBody
	if !readJSON(w, r, &b, sendFields) {
		return
	}
	switch {
	case b.To == nil || strings.TrimSpace(*b.To) == "":
		badRequest(w, `the field "to" is missing: give the number with its country code, e.g. "+15551234567"; nothing was queued`)
		return
	case b.TemplateID != nil && b.Text != nil:
		badRequest(w, `give either "text" or "template_id" with "fields", not both; nothing was queued`)
		return
	case b.TemplateID != nil && *b.TemplateID <= 0:
		badRequest(w, `the field "template_id" is not a template's id: ids are whole numbers from 1; nothing was queued`)
		return
	case b.TemplateID == nil && b.Fields != nil:
		badRequest(w, `"fields" go with "template_id": name the template to fill, or send the message's own "text"; nothing was queued`)
		return
	case b.TemplateID == nil && (b.Text == nil || *b.Text == ""):
		badRequest(w, `the field "text" is missing: give the message's text (or a "template_id" and its "fields"); nothing was queued`)
		return
	}
	req := ops.SendRequest{To: *b.To}
	if b.TemplateID != nil {
		req.TemplateID, req.Fields = *b.TemplateID, b.Fields
	} else {
		req.Text = *b.Text
	}
	if b.SendAt != nil {
		t, err := time.Parse(time.RFC3339, *b.SendAt)
		if err != nil {
			badRequest(w, `the field "send_at" is not a time in RFC 3339 with its zone, such as "2026-12-03T09:30:00+01:00" or "2026-12-03T08:30:00Z"; nothing was queued`)
			return
		}
		req.SendAt = t
	}
	if key != "" {
		// Keys are the integration's own: two integrations that happen
		// to use the same key make two messages.
		req.IdempotencyKey = a.String() + " " + key
	}
	res, err := api.s.svc.Send(r.Context(), a, req)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if res.Existing && !req.SendAt.IsZero() && !sameTime(res.SendAt, req.SendAt) {
		// The queue compares the number and the text; a key is one
		// request, so another time to send is another request. (A
		// message queued to go now has the time it was queued as its
		// send_at, so a request without one is not compared.)
		apiFail(w, http.StatusConflict, ops.CodeConflict, fmt.Sprintf(
			`refused: the Idempotency-Key was used for message %d with another "send_at"; use a new key for a different message; nothing was queued`, res.ID))
		return
	}
	w.Header().Set("Location", "/api/v1/messages/"+strconv.FormatInt(res.ID, 10))
	status := http.StatusCreated
	if res.Existing {
		status = http.StatusOK
	}
	writeJSON(w, status, res)
}

// sameTime reports whether a message's send_at is the one asked for (to
// the second: the store keeps no finer).
func sameTime(stored, asked time.Time) bool {
	return stored.Truncate(time.Second).Equal(asked.Truncate(time.Second))
}

// idempotencyKey is the request's Idempotency-Key ("" for none): visible
// ASCII, at most maxIdempotencyKey bytes. It reports false when it
// answered a bad one.
func idempotencyKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	vs := r.Header.Values("Idempotency-Key")
	if len(vs) == 0 {
		return "", true
	}
	key := vs[0]
	switch {
	case len(vs) > 1:
		badRequest(w, "the Idempotency-Key header is given more than once: give one; nothing was queued")
		return "", false
	case key == "" || len(key) > maxIdempotencyKey:
		badRequest(w, fmt.Sprintf("the Idempotency-Key header must have 1 to %d characters (a UUID is good); nothing was queued", maxIdempotencyKey))
		return "", false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c > '~' {
			badRequest(w, "the Idempotency-Key header may hold only visible ASCII characters (a UUID is good); nothing was queued")
			return "", false
		}
	}
	return key, true
}

// apiMessage is a message as the API shows it: its state, times, parts
// and error, never its text or full number (the integration has both, and
// an answer may end up in its logs).
type apiMessage struct {
	ID    int64  `json:"id"`
	State string `json:"state"`
	// To is masked: +1******4567.
	To            string    `json:"to"`
	CreatedAt     time.Time `json:"created_at"`
	SendAt        time.Time `json:"send_at,omitzero"`
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	Attempts      int       `json:"attempts"`
	PartsTotal    int       `json:"parts_total"`
	PartsAccepted int       `json:"parts_accepted"`
	// Error is the last error's code or short reason, never PHI.
	Error  string `json:"error,omitempty"`
	Purged bool   `json:"purged,omitempty"`
}

// message shows one message the integration queued: GET
// /api/v1/messages/{id}. A message queued by someone else (a person at
// the front desk, another integration) is 404 as if it did not exist.
func (api *apiServer) message(w http.ResponseWriter, r *http.Request, a ops.Actor) {
	if !checkQuery(w, r) {
		return
	}
	raw := r.PathValue("id")
	id, ok := positiveID(raw)
	if !ok {
		badRequest(w, fmt.Sprintf("%q is not a message id: ids are whole numbers from 1, as POST /api/v1/messages answers them", raw))
		return
	}
	m, err := api.s.svc.Message(r.Context(), a, id)
	if ops.CodeOf(err) == ops.CodeNotFound || (err == nil && m.CreatedBy != a.String()) {
		apiFail(w, http.StatusNotFound, ops.CodeNotFound, fmt.Sprintf("no message %d was queued with this token", id))
		return
	}
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiMessage{
		ID: m.ID, State: m.State, To: mask.Number(m.To), CreatedAt: m.CreatedAt, SendAt: m.SendAt, UpdatedAt: m.UpdatedAt,
		NextAttemptAt: m.NextAttemptAt, Attempts: m.Attempts, PartsTotal: m.PartsTotal, PartsAccepted: m.PartsAccepted,
		Error: m.LastError, Purged: m.Purged,
	})
}

// positiveID parses an id of a path or query: decimal digits only (no
// sign, no spaces), 1 or more, fitting an int64.
func positiveID(s string) (int64, bool) {
	if s == "" || len(s) > 19 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// The API's inbox page size: default and most.
const (
	apiInboxLimit    = 100
	apiInboxMaxLimit = 1000
)

// apiInbox is GET /api/v1/inbox's answer: the received messages after
// ?since=, and the since= of the next call.
type apiInbox struct {
	Entries []ops.InboxEntry `json:"entries"`
	// Unhandled counts the replies nobody marked handled yet.
	Unhandled int `json:"unhandled"`
	// NextSince is the largest id here (since= when there is none): the
	// next call's since=.
	NextSince int64 `json:"next_since"`
}

// inbox lists the received messages after ?since= (an id), oldest first,
// at most ?limit= of them; without since (or since=0), the newest limit
// messages, the starting point of an integration's polling. They are PHI,
// given to the integration: the service audits the view under its token.
func (api *apiServer) inbox(w http.ResponseWriter, r *http.Request, a ops.Actor) {
	if !checkQuery(w, r, "since", "limit") {
		return
	}
	q := r.URL.Query()
	f := ops.InboxFilter{Limit: apiInboxLimit}
	if v, ok := q["since"]; ok {
		if v[0] == "0" {
			f.SinceID = 0
		} else if id, ok := positiveID(v[0]); ok {
			f.SinceID = id
		} else {
			badRequest(w, fmt.Sprintf("since=%q is not a message id: give the next_since of the last answer (or leave since out to start with the newest)", v[0]))
			return
		}
	}
	if v, ok := q["limit"]; ok {
		n, ok := positiveID(v[0])
		if !ok || n > apiInboxMaxLimit {
			badRequest(w, fmt.Sprintf("limit=%q is not a number from 1 to %d", v[0], apiInboxMaxLimit))
			return
		}
		f.Limit = int(n)
	}
	in, err := api.s.svc.InboxList(r.Context(), a, f)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	out := apiInbox{Entries: in.Entries, Unhandled: in.Unhandled, NextSince: f.SinceID}
	if out.Entries == nil {
		out.Entries = []ops.InboxEntry{}
	}
	// After an id the service lists oldest first; without one, the newest
	// first. The integration reads them in the order they came.
	slices.SortFunc(out.Entries, func(x, y ops.InboxEntry) int { return cmp.Compare(x.ID, y.ID) })
	for _, e := range out.Entries {
		out.NextSince = max(out.NextSince, e.ID)
	}
	writeJSON(w, http.StatusOK, out)
}

// apiStatus is GET /api/v1/status's answer: what an integration needs to
// know whether its reminders will go out. No PHI, and none of the box's
// own details (paths, process id, serial numbers).
type apiStatus struct {
	Version string `json:"version"`
	// Running is false when no daemon sends (the store was opened by
	// the command line).
	Running bool `json:"running"`
	// Alive is the dispatcher's own verdict.
	Alive  bool `json:"alive"`
	Locked bool `json:"locked"`
	// Queue counts messages by state.
	Queue       map[string]int `json:"queue"`
	QuietHours  string         `json:"quiet_hours,omitempty"`
	Quarantined int            `json:"quarantined"`
	Modems      []apiModem     `json:"modems"`
}

// apiModem is one modem's state for an integration.
type apiModem struct {
	ID           string    `json:"id"`
	Ready        bool      `json:"ready"`
	State        string    `json:"state"`
	Until        time.Time `json:"until,omitzero"`
	Connected    bool      `json:"connected"`
	Operator     string    `json:"operator,omitempty"`
	Registration string    `json:"registration"`
	Bars         int       `json:"bars"`
	SentToday    int       `json:"sent_today"`
	DailyCap     int       `json:"daily_cap,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
}

// status is GET /api/v1/status.
func (api *apiServer) status(w http.ResponseWriter, r *http.Request, a ops.Actor) {
	if !checkQuery(w, r) {
		return
	}
	st, err := api.s.svc.Status(r.Context(), a)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	out := apiStatus{Version: st.Version, Running: st.Running, Alive: st.Alive, Locked: st.Locked, Queue: st.Queue,
		QuietHours: st.QuietHours, Quarantined: st.Quarantined, Modems: []apiModem{}}
	if out.Queue == nil {
		out.Queue = map[string]int{}
	}
	for _, m := range st.Modems {
		out.Modems = append(out.Modems, apiModem{ID: m.ID, Ready: m.Ready, State: m.State, Until: m.Until, Connected: m.Connected,
			Operator: m.Operator, Registration: m.Registration, Bars: m.Bars, SentToday: m.SentToday, DailyCap: m.DailyCap,
			LastError: m.LastError, LastErrorAt: m.LastErrorAt})
	}
	writeJSON(w, http.StatusOK, out)
}
