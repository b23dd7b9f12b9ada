package web

import (
	"net/http"
	"strings"

	"github.com/clinicsms/smsd/ops"
)

// optoutsData is the opt-outs page's: the list (numbers masked) and the
// add form as typed when the service refused it.
type optoutsData struct {
	OptOuts        []ops.OptOut
	Number, Reason string
}

// optoutsDone are the notices after an opt-out action (?done=).
var optoutsDone = map[string]string{
	ops.OptOutAdd:    "Opt-out added: that number gets no more messages.",
	ops.OptOutRemove: "Opt-out removed: that number gets messages again.",
}

// optouts lists the numbers that get no messages.
func (s *Server) optouts(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	s.showOptOuts(w, r, rs, http.StatusOK, "", optoutsDone[r.URL.Query().Get("done")], "", "")
}

// showOptOuts lists the opt-outs with an error or a notice, and the add
// form's number and reason as typed.
func (s *Server) showOptOuts(w http.ResponseWriter, r *http.Request, rs *reqSession, status int, errMsg, notice, number, reason string) {
	list, err := s.svc.OptOuts(r.Context(), rs.Actor, ops.OptOutRequest{Action: ops.OptOutList})
	if err != nil {
		s.fail(w, r, rs, err)
		return
	}
	s.show(w, r, rs, status, "optouts", pageData{Title: "Opt-outs", Error: errMsg, Notice: notice,
		Data: optoutsData{OptOuts: list, Number: number, Reason: reason}})
}

// optoutAction adds (action=add) or removes (action=remove, with a
// reason: the service requires one) the opt-out of a number.
func (s *Server) optoutAction(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	f, prob := readForm(r)
	if prob != nil {
		s.showOptOuts(w, r, rs, prob.status, prob.msg, "", "", "")
		return
	}
	action, number, reason := f.Get("action"), strings.TrimSpace(f.Get("number")), strings.TrimSpace(f.Get("reason"))
	// The add form keeps what was typed; a row's remove form is one line
	// and is typed again.
	keepNumber, keepReason := "", ""
	if action == ops.OptOutAdd {
		keepNumber, keepReason = number, reason
	}
	switch {
	case action != ops.OptOutAdd && action != ops.OptOutRemove:
		s.showOptOuts(w, r, rs, http.StatusBadRequest, "There is no such action: use the page's buttons (Add, Remove).", "", "", "")
		return
	case number == "":
		s.showOptOuts(w, r, rs, http.StatusBadRequest, missingMsg("number")+" Nothing was changed.", "", keepNumber, keepReason)
		return
	case action == ops.OptOutRemove && reason == "":
		s.showOptOuts(w, r, rs, http.StatusBadRequest, "Say why the opt-out is removed (for example: the patient asked at the desk). Nothing was changed.", "", "", "")
		return
	}
	if _, err := s.svc.OptOuts(r.Context(), rs.Actor, ops.OptOutRequest{Action: action, Number: number, Reason: reason}); err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		s.showOptOuts(w, r, rs, status, msg, "", keepNumber, keepReason)
		return
	}
	http.Redirect(w, r, "/optouts?done="+action, http.StatusSeeOther)
}

// status shows the appliance's state: each modem's health, the queue by
// state, locked or not. It carries no PHI.
func (s *Server) status(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	st, err := s.svc.Status(r.Context(), rs.Actor)
	if err != nil {
		s.fail(w, r, rs, err)
		return
	}
	s.show(w, r, rs, http.StatusOK, "status", pageData{Title: "Status", Data: statusData{Status: st, States: messageStates}})
}

// statusData is the status page's: the service's status and every state
// of a message (the queue table has a row for each, 0 included).
type statusData struct {
	Status ops.Status
	States []string
}
