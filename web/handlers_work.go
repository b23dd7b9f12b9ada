package web

import (
	"html/template"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/clinicsms/smsd/ops"
)

// The front desk's work (issue "Web UI, part 2"): send, outbox, a
// message's own page, inbox, opt-outs, status and the live-update stream.
// Every rule (numbers, opt-outs, part counts, who may see what, the audit
// rows) lives in the Service; these handlers only carry forms to it and
// its answers to pages.

// workRoutes registers the front desk's pages on m. Every signed-in
// person (staff or admin) may use them; the service refuses what a role
// may not do (CodeDenied, a 403 page).
func (s *Server) workRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /send", s.page(activeOnly, false, s.sendForm))
	m.HandleFunc("POST /send", s.page(activeOnly, false, s.send))
	m.HandleFunc("POST /send/count", s.page(activeOnly, false, s.sendCount))
	m.HandleFunc("GET /outbox", s.livePage(s.outbox))
	m.HandleFunc("GET /messages/{id}", s.page(activeOnly, false, s.message))
	m.HandleFunc("POST /messages/{id}", s.page(activeOnly, false, s.messageAction))
	m.HandleFunc("GET /inbox", s.livePage(s.inbox))
	m.HandleFunc("POST /inbox/{id}", s.page(activeOnly, false, s.inboxAction))
	m.HandleFunc("POST /inbox/{id}/reply", s.page(activeOnly, false, s.inboxReply))
	m.HandleFunc("GET /optouts", s.page(activeOnly, false, s.optouts))
	m.HandleFunc("POST /optouts", s.page(activeOnly, false, s.optoutAction))
	m.HandleFunc("GET /status", s.livePage(s.status))
	m.HandleFunc("GET /events", s.events)
}

// liveHeader marks a page request made by the page's own script to
// refresh what it shows (live.js). Such a request does not extend the
// session: a screen left open must still sign out when nobody uses it.
const liveHeader = "X-Smsd-Live"

// livePage is s.page(activeOnly, false, h) for the pages the script
// refreshes by itself (outbox, inbox, status): a refresh (liveHeader set)
// finds the session without extending it. A refresh of a session that is
// not signed in all the way gets a 401 page, never another stage's page.
func (s *Server) livePage(h sessionHandler) http.HandlerFunc {
	full := s.page(activeOnly, false, h)
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(liveHeader) == "" {
			full(w, r)
			return
		}
		rs, ok := s.session(w, r, false)
		if !ok {
			return
		}
		if rs.Stage != ops.StageActive {
			s.errorPage(w, r, http.StatusUnauthorized, "Not signed in", "Sign in to see this page.")
			return
		}
		h(w, r, rs)
	}
}

// unread is the inbox's count of unhandled replies for the navigation's
// badge; false when it cannot be read (the badge is left out then, and
// the page still shows). The count opens no reply, so it is no audited
// view: every page and live refresh asks it.
func (s *Server) unread(r *http.Request, rs *reqSession) (int, bool) {
	in, err := s.svc.InboxList(r.Context(), rs.Actor, ops.InboxFilter{CountOnly: true})
	if err != nil {
		return 0, false
	}
	return in.Unhandled, true
}

// pathID is the {id} of the request's path: a positive number, or false.
func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// validText reports whether v is UTF-8 (a query of another encoding is
// refused rather than passed on as mojibake).
func validText(v string) bool { return utf8.ValidString(v) }

// messageStates are the states of an outgoing message, in life order
// (queue.States; web does not link the store), for the outbox's filter.
var messageStates = []string{"queued", "sending", "sent", "delivered", "undelivered", "failed", "uncertain", "cancelled"}

// workFuncs are the template helpers of the work pages; loc is the
// clinic's zone.
func workFuncs(now func() time.Time, loc *time.Location) template.FuncMap {
	return template.FuncMap{
		// clinic shows a time in the clinic's zone, "—" for none.
		"clinic": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(loc).Format("2 Jan 2006 15:04 MST")
		},
		// isoTime is a time for a <time datetime> attribute.
		"isoTime": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		// scheduled reports whether a queued message waits for its time.
		"scheduled": func(m ops.Message) bool { return m.State == "queued" && m.SendAt.After(now()) },
		// canCancel, canResend and canDismiss say which of a message's
		// actions apply in its state (the service checks again).
		"canCancel": func(m ops.Message) bool { return m.State == "queued" },
		"canResend": func(m ops.Message) bool {
			return m.State == "failed" || m.State == "undelivered" || m.State == "uncertain"
		},
		"canDismiss": func(m ops.Message) bool { return m.State == "uncertain" },
		// countText is the counter's words for a TextCount.
		"countText": countWords,
		// keywordLabel names a reply's keyword for its badge.
		"keywordLabel": func(k string) string {
			switch k {
			case "stop":
				return "STOP (opted out)"
			case "start":
				return "START (opted in)"
			case "help":
				return "HELP"
			case "confirm":
				return "Confirmed"
			case "reschedule":
				return "Wants to reschedule"
			}
			return k
		},
		"states": func() []string { return messageStates },
	}
}

// countWords is the counter's text: "45 characters · 1 part · GSM-7".
// live.js builds the same words from the same JSON.
func countWords(c ops.TextCount) string {
	chars, parts := "characters", "parts"
	if c.Chars == 1 {
		chars = "character"
	}
	if c.Parts == 1 {
		parts = "part"
	}
	enc := c.Encoding
	if enc == "" {
		enc = "GSM-7"
	}
	return strconv.Itoa(c.Chars) + " " + chars + " · " + strconv.Itoa(c.Parts) + " " + parts + " · " + enc
}
