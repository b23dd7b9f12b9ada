package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// The fields of the work pages' forms, named in messages.
func init() {
	for k, v := range map[string]string{
		"to": "The number", "patient": "The patient's name", "text": "The text", "send_at": "The time to send",
		"number": "The number", "reason": "The reason", "find": "The number to find", "state": "The state",
		"since": "The first date", "until": "The last date", "before": "The page",
	} {
		fieldLabels[k] = v
	}
}

// sendData is the send page's: the form as typed (kept when the service
// refuses it), the counter, and the clinic's quiet hours.
type sendData struct {
	To, Patient, Text, SendAt string
	Count                     ops.TextCount
	QuietHours                string
	// Zone names the clinic's time zone for "send at".
	Zone string
}

// datetimeLayouts are what a datetime-local field sends (with or without
// seconds).
var datetimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05"}

// nameField is where a text takes the patient's name.
const nameField = "{name}"

// composeText puts the patient's name into the text where it says {name}.
// The name is used nowhere else: it is not stored apart from the text.
func composeText(text, patient string) string {
	if patient == "" || !strings.Contains(text, nameField) {
		return text
	}
	return strings.ReplaceAll(text, nameField, strings.TrimSpace(patient))
}

// newSendData is the send page for the form as typed.
func (s *Server) newSendData(r *http.Request, rs *reqSession, to, patient, text, sendAt string) sendData {
	d := sendData{To: to, Patient: patient, Text: text, SendAt: sendAt, Zone: s.loc.String()}
	if d.Zone == "Local" {
		d.Zone = "the appliance's time zone"
	}
	d.Count = s.svc.CountText(r.Context(), composeText(text, patient))
	if st, err := s.svc.Status(r.Context(), rs.Actor); err == nil {
		d.QuietHours = st.QuietHours
	}
	return d
}

// sendForm is the send page, empty.
func (s *Server) sendForm(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	s.show(w, r, rs, http.StatusOK, "send", pageData{Title: "Send a message", Data: s.newSendData(r, rs, "", "", "", "")})
}

// send queues the form's message and shows it on its own page, or shows
// the form again, as typed, with the service's reason.
func (s *Server) send(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	f, prob := readForm(r)
	if prob != nil {
		s.show(w, r, rs, prob.status, "send", pageData{Title: "Send a message", Error: prob.msg, Data: s.newSendData(r, rs, "", "", "", "")})
		return
	}
	to, patient, text, sendAt := strings.TrimSpace(f.Get("to")), f.Get("patient"), f.Get("text"), strings.TrimSpace(f.Get("send_at"))
	again := func(status int, msg string) {
		s.show(w, r, rs, status, "send", pageData{Title: "Send a message", Error: msg, Data: s.newSendData(r, rs, to, patient, text, sendAt)})
	}
	if name := missing(url.Values{"to": {to}, "text": {text}}, "to", "text"); name != "" {
		again(http.StatusBadRequest, missingMsg(name))
		return
	}
	if strings.Contains(text, nameField) && strings.TrimSpace(patient) == "" {
		again(http.StatusBadRequest, "The text has {name} in it but the patient's name is empty: fill in the name, or take {name} out of the text. Nothing was queued.")
		return
	}
	req := ops.SendRequest{To: to, Text: composeText(text, patient)}
	if sendAt != "" {
		t, ok := parseDatetime(sendAt, s.loc)
		if !ok {
			again(http.StatusBadRequest, "The time to send is not a date and time (for example 2026-12-03T09:30). Leave it empty to send now. Nothing was queued.")
			return
		}
		req.SendAt = t
	}
	res, err := s.svc.Send(r.Context(), rs.Actor, req)
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		again(status, msg)
		return
	}
	http.Redirect(w, r, "/messages/"+strconv.FormatInt(res.ID, 10)+"?done=queued", http.StatusSeeOther)
}

// parseDatetime reads a datetime-local value in the clinic's zone.
func parseDatetime(v string, loc *time.Location) (time.Time, bool) {
	for _, layout := range datetimeLayouts {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// sendCount answers the counter's question (POST /send/count, the form's
// text and patient fields): the service's own TextCount as JSON, so the
// page counts exactly as the modem will send.
func (s *Server) sendCount(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	f, prob := readForm(r)
	if prob != nil {
		writeJSON(w, prob.status, map[string]string{"code": ops.CodeInvalidRequest, "message": prob.msg})
		return
	}
	writeJSON(w, http.StatusOK, s.svc.CountText(r.Context(), composeText(f.Get("text"), f.Get("patient"))))
}
