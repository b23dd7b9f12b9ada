package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/clinicsms/smsd/ops"
)

// inboxPage is how many replies the inbox shows at once.
const inboxPage = 50

// inboxData is the inbox page's: one page of replies (opened: the
// service audits the view), the unhandled count, and a reply kept as typed
// when the service refused it.
type inboxData struct {
	Entries       []ops.InboxEntry
	Unhandled     int
	OnlyUnhandled bool
	Older, Newest string
	// ReplyID and ReplyText are a refused reply, shown again in its form.
	ReplyID   int64
	ReplyText string
}

// inboxDone are the notices after an inbox action (?done=).
var inboxDone = map[string]string{
	"handled":   "Marked handled.",
	"unhandled": "Marked not handled.",
	"reply":     "Reply queued: it is in the outbox.",
}

// inbox lists received messages, newest first, threaded to the reminder
// each answers.
func (s *Server) inbox(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	s.showInbox(w, r, rs, http.StatusOK, "", inboxDone[r.URL.Query().Get("done")], 0, "")
}

// showInbox lists the inbox (the page the request's query asks for) with
// an error or a notice, and a refused reply kept in its form.
func (s *Server) showInbox(w http.ResponseWriter, r *http.Request, rs *reqSession, status int, errMsg, notice string, replyID int64, replyText string) {
	q := r.URL.Query()
	d := inboxData{OnlyUnhandled: q.Get("unhandled") == "1", ReplyID: replyID, ReplyText: replyText}
	f := ops.InboxFilter{Unhandled: d.OnlyUnhandled, Limit: inboxPage + 1}
	if b := q.Get("before"); b != "" {
		id, err := strconv.ParseInt(b, 10, 64)
		if err != nil || id <= 0 {
			s.show(w, r, rs, http.StatusBadRequest, "inbox", pageData{Title: "Inbox",
				Error: "This page of the inbox does not exist (the address is not one the inbox made). Start again from the newest replies.", Data: d})
			return
		}
		f.Before = id
	}
	in, err := s.svc.InboxList(r.Context(), rs.Actor, f)
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		st, msg := s.statusOf(r, err)
		s.show(w, r, rs, st, "inbox", pageData{Title: "Inbox", Error: msg, Data: d})
		return
	}
	d.Entries, d.Unhandled = in.Entries, in.Unhandled
	if len(d.Entries) > inboxPage {
		d.Entries = d.Entries[:inboxPage]
		d.Older = d.link(d.Entries[len(d.Entries)-1].ID)
	}
	if f.Before != 0 {
		d.Newest = d.link(0)
	}
	s.show(w, r, rs, status, "inbox", pageData{Title: "Inbox", Error: errMsg, Notice: notice, Data: d})
}

// link is the inbox's address with this filter, before id (0: newest).
func (d inboxData) link(before int64) string {
	v := url.Values{}
	if d.OnlyUnhandled {
		v.Set("unhandled", "1")
	}
	if before > 0 {
		v.Set("before", strconv.FormatInt(before, 10))
	}
	if len(v) == 0 {
		return "/inbox"
	}
	return "/inbox?" + v.Encode()
}

// inboxAction marks reply {id} handled (action=handled) or not
// (action=unhandled).
func (s *Server) inboxAction(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	id, ok := pathID(r)
	if !ok {
		s.errorPageFor(w, r, rs, http.StatusNotFound, "Not found", "There is no such reply. Find it in the inbox.")
		return
	}
	f, prob := readForm(r)
	if prob != nil {
		s.showInbox(w, r, rs, prob.status, prob.msg, "", 0, "")
		return
	}
	var handled bool
	switch f.Get("action") {
	case "handled":
		handled = true
	case "unhandled":
	case "":
		s.showInbox(w, r, rs, http.StatusBadRequest, missingMsg("action"), "", 0, "")
		return
	default:
		s.showInbox(w, r, rs, http.StatusBadRequest, "There is no such action: use the page's buttons (Mark handled, Mark not handled).", "", 0, "")
		return
	}
	if err := s.svc.MarkHandled(r.Context(), rs.Actor, id, handled); err != nil {
		s.inboxRefused(w, r, rs, err, 0, "")
		return
	}
	http.Redirect(w, r, "/inbox?done="+f.Get("action"), http.StatusSeeOther)
}

// inboxReply queues a text to the sender of reply {id}; the number stays
// in the service.
func (s *Server) inboxReply(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	id, ok := pathID(r)
	if !ok {
		s.errorPageFor(w, r, rs, http.StatusNotFound, "Not found", "There is no such reply. Find it in the inbox.")
		return
	}
	f, prob := readForm(r)
	if prob != nil {
		s.showInbox(w, r, rs, prob.status, prob.msg, "", 0, "")
		return
	}
	text := f.Get("text")
	if strings.TrimSpace(text) == "" {
		s.showInbox(w, r, rs, http.StatusBadRequest, "The reply is empty: type a text and send it again. Nothing was queued.", "", id, text)
		return
	}
	if _, err := s.svc.Reply(r.Context(), rs.Actor, id, text); err != nil {
		s.inboxRefused(w, r, rs, err, id, text)
		return
	}
	http.Redirect(w, r, "/inbox?done=reply", http.StatusSeeOther)
}

// inboxRefused shows the inbox with the service's reason for refusing.
func (s *Server) inboxRefused(w http.ResponseWriter, r *http.Request, rs *reqSession, err error, replyID int64, replyText string) {
	if s.redirectFor(w, r, err) {
		return
	}
	status, msg := s.statusOf(r, err)
	if status == http.StatusNotFound {
		s.errorPageFor(w, r, rs, status, "Not found", msg)
		return
	}
	s.showInbox(w, r, rs, status, msg, "", replyID, replyText)
}
