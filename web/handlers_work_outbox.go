package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// outboxPage is how many messages the outbox shows at once.
const outboxPage = 50

// outboxData is the outbox page's: the filter as given, one page of
// messages (numbers masked, no text) and the links to the pages around it.
type outboxData struct {
	State, Since, Until, Find string
	Before                    int64
	Messages                  []ops.Message
	// Older is the link to the next page back ("" on the last page);
	// Newest is the link to the first page ("" on the first page).
	Older, Newest string
}

// dateLayout is what a date field sends.
const dateLayout = "2006-01-02"

// outbox lists outgoing messages, newest first, 50 at a time. Paging is by
// keyset (?before=<id>): the service asks for ids below the last one
// shown, which costs the same on page 1000 as on page 1, and nothing
// counts every row.
func (s *Server) outbox(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	q := r.URL.Query()
	d := outboxData{State: q.Get("state"), Since: q.Get("since"), Until: q.Get("until"), Find: strings.TrimSpace(q.Get("find"))}
	bad := func(msg string) {
		s.show(w, r, rs, http.StatusBadRequest, "outbox", pageData{Title: "Outbox", Error: msg, Data: d})
	}
	for _, vs := range q {
		for _, v := range vs {
			if !validText(v) {
				d = outboxData{}
				bad("The address holds text that is not valid (not UTF-8). Use the filter form to choose what to show.")
				return
			}
		}
	}
	f := ops.MessageFilter{State: d.State, To: d.Find, Limit: outboxPage + 1}
	if d.State != "" && !slices.Contains(messageStates, d.State) {
		d.State = ""
		bad("There is no message state like that: choose one from the list (or every state).")
		return
	}
	var ok bool
	if f.Since, ok = parseDate(d.Since, s.loc); !ok {
		bad("The first date is not a date (for example 2026-12-03).")
		return
	}
	if f.Until, ok = parseDate(d.Until, s.loc); !ok {
		bad("The last date is not a date (for example 2026-12-03).")
		return
	}
	if !f.Until.IsZero() {
		f.Until = f.Until.AddDate(0, 0, 1) // the last date is shown whole
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		bad("The first date is after the last date: swap them.")
		return
	}
	if b := q.Get("before"); b != "" {
		id, err := strconv.ParseInt(b, 10, 64)
		if err != nil || id <= 0 {
			bad("This page of the outbox does not exist (the address is not one the outbox made). Start again from the newest messages.")
			return
		}
		d.Before, f.BeforeID = id, id
	}
	ms, err := s.svc.Messages(r.Context(), rs.Actor, f)
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		s.show(w, r, rs, status, "outbox", pageData{Title: "Outbox", Error: msg, Data: d})
		return
	}
	if len(ms) > outboxPage {
		ms = ms[:outboxPage]
		d.Older = d.link(ms[len(ms)-1].ID)
	}
	if d.Before != 0 {
		d.Newest = d.link(0)
	}
	d.Messages = ms
	s.show(w, r, rs, http.StatusOK, "outbox", pageData{Title: "Outbox", Data: d})
}

// link is the outbox's address with this filter, before id (0: the
// newest page).
func (d outboxData) link(before int64) string {
	v := url.Values{}
	for k, x := range map[string]string{"state": d.State, "since": d.Since, "until": d.Until, "find": d.Find} {
		if x != "" {
			v.Set(k, x)
		}
	}
	if before > 0 {
		v.Set("before", strconv.FormatInt(before, 10))
	}
	if len(v) == 0 {
		return "/outbox"
	}
	return "/outbox?" + v.Encode()
}

// parseDate reads a date field in the clinic's zone: the zero time for
// "", false when it is not a date.
func parseDate(v string, loc *time.Location) (time.Time, bool) {
	if v == "" {
		return time.Time{}, true
	}
	t, err := time.ParseInLocation(dateLayout, v, loc)
	return t, err == nil
}

// messageData is a message's own page.
type messageData struct {
	Message ops.Message
}

// messageDone are the notices after a message's action (?done=).
var messageDone = map[string]string{
	"queued":          "Queued",
	ops.ActionCancel:  "Cancelled: it will not be sent.",
	ops.ActionResend:  "Queued again: it will be sent once more.",
	ops.ActionDismiss: "Dismissed: it counts as failed and will not be sent again.",
}

// message shows one message with its number and text: the one place they
// are shown, and each look is an audit row (the service writes it).
func (s *Server) message(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	s.showMessage(w, r, rs, http.StatusOK, "", messageDone[r.URL.Query().Get("done")])
}

// showMessage opens message {id} and shows it with an error or notice.
func (s *Server) showMessage(w http.ResponseWriter, r *http.Request, rs *reqSession, status int, errMsg, notice string) {
	id, ok := pathID(r)
	if !ok {
		s.errorPageFor(w, r, rs, http.StatusNotFound, "Not found", "There is no such message: a message's address is /messages/ and its number. Find it in the outbox.")
		return
	}
	m, err := s.svc.Message(r.Context(), rs.Actor, id)
	if err != nil {
		s.fail(w, r, rs, err)
		return
	}
	s.show(w, r, rs, status, "message", pageData{Title: "Message " + strconv.FormatInt(m.ID, 10), Error: errMsg, Notice: notice, Data: messageData{Message: m}})
}

// messageAction cancels, resends or dismisses message {id}.
func (s *Server) messageAction(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	id, ok := pathID(r)
	if !ok {
		s.errorPageFor(w, r, rs, http.StatusNotFound, "Not found", "There is no such message: a message's address is /messages/ and its number. Find it in the outbox.")
		return
	}
	f, prob := readForm(r)
	if prob != nil {
		s.showMessage(w, r, rs, prob.status, prob.msg, "")
		return
	}
	action := f.Get("action")
	switch action {
	case ops.ActionCancel, ops.ActionResend, ops.ActionDismiss:
	case "":
		s.showMessage(w, r, rs, http.StatusBadRequest, missingMsg("action"), "")
		return
	default:
		s.showMessage(w, r, rs, http.StatusBadRequest, "There is no such action: use the page's buttons (Cancel, Send again, Dismiss).", "")
		return
	}
	if _, err := s.svc.Act(r.Context(), rs.Actor, ops.MessageAction{ID: id, Action: action}); err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		if status == http.StatusNotFound {
			s.errorPageFor(w, r, rs, status, "Not found", msg)
			return
		}
		s.showMessage(w, r, rs, status, msg, "")
		return
	}
	http.Redirect(w, r, "/messages/"+strconv.FormatInt(id, 10)+"?done="+action, http.StatusSeeOther)
}
