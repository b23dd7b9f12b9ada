package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/remind"
)

// The fields of the work pages' forms, named in messages.
func init() {
	for k, v := range map[string]string{
		"to": "The number", "patient": "The patient's name", "text": "The text", "send_at": "The time to send",
		"number": "The number", "reason": "The reason", "find": "The number to find", "state": "The state",
		"since": "The first date", "until": "The last date", "before": "The page",
		"f_date": "The date", "f_time": "The time", "f_provider": "The provider", "f_location": "The location",
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
	// Templates are the saved templates to choose from; TemplateID is
	// the one chosen (0: free text) and Fields its placeholders' values
	// as typed (the name is Patient).
	Templates  []ops.Template
	TemplateID int64
	Fields     map[string]string
	// Preview is the chosen template filled with the fields; Clinical
	// lists the words of the minimum-necessary list found in the text.
	Preview  string
	Clinical []string
}

// sendFieldNames are the template placeholders the send form asks for
// (besides the patient's name); {clinic} and {phone} come from the
// appliance's settings.
var sendFieldNames = []string{"date", "time", "provider", "location"}

// sendInput is the send form as posted.
type sendInput struct {
	To, Patient, Text, SendAt string
	TemplateID                int64
	Fields                    map[string]string
	badTemplate               bool
}

// readSendInput takes the send form's fields (and the counter's).
func readSendInput(f url.Values) sendInput {
	in := sendInput{To: strings.TrimSpace(f.Get("to")), Patient: f.Get("patient"), Text: f.Get("text"), SendAt: strings.TrimSpace(f.Get("send_at")),
		Fields: map[string]string{}}
	if v := f.Get("template_id"); v != "" && v != "0" {
		id, ok := positiveID(v)
		in.TemplateID, in.badTemplate = id, !ok
	}
	for _, n := range sendFieldNames {
		if v := strings.TrimSpace(f.Get("f_" + n)); v != "" {
			in.Fields[n] = v
		}
	}
	return in
}

// templateFields are the values the service fills a template with.
func (in sendInput) templateFields() map[string]string {
	out := map[string]string{}
	for k, v := range in.Fields {
		out[k] = v
	}
	if p := strings.TrimSpace(in.Patient); p != "" {
		out["name"] = p
	}
	return out
}

// composed is the text the form would send: the chosen template filled
// with the fields and the settings' {clinic} and {phone} (rendered as the
// service renders it, so that the counter counts the text that goes out),
// or the free text with the name put in. ok is false when the template is
// unknown or does not render.
func (s *Server) composed(ctx context.Context, in sendInput, ts []ops.Template) (text string, isTemplate, ok bool) {
	if in.TemplateID == 0 {
		return composeText(in.Text, in.Patient), false, true
	}
	i := slices.IndexFunc(ts, func(t ops.Template) bool { return t.ID == in.TemplateID })
	if i < 0 {
		return "", true, false
	}
	f := remind.Fields(s.svc.SettingFields(ctx))
	for k, v := range in.templateFields() {
		f[k] = v
	}
	out, err := remind.Render(ts[i].Body, f)
	return out, true, err == nil
}

// sendTemplates are the templates to choose from ("" when the service
// has none or cannot list them: the page then offers free text only).
func (s *Server) sendTemplates(r *http.Request, rs *reqSession) []ops.Template {
	ts, err := s.svc.Templates(r.Context(), rs.Actor, ops.TemplateRequest{Action: ops.TemplateList})
	if err != nil {
		return nil
	}
	return ts
}

// clinical lists the minimum-necessary words the service's check finds in
// a free text (nil when it finds none or cannot check).
func (s *Server) clinical(r *http.Request, rs *reqSession, text string) []string {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	ts, err := s.svc.Templates(r.Context(), rs.Actor, ops.TemplateRequest{Action: ops.TemplateValidate, Body: text})
	if err != nil || len(ts) == 0 {
		return nil
	}
	return ts[0].Check.Clinical
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
func (s *Server) newSendData(r *http.Request, rs *reqSession, in sendInput) sendData {
	d := sendData{To: in.To, Patient: in.Patient, Text: in.Text, SendAt: in.SendAt, Zone: s.loc.String(),
		TemplateID: in.TemplateID, Fields: in.Fields}
	if d.Fields == nil {
		d.Fields = map[string]string{}
	}
	if d.Zone == "Local" {
		d.Zone = "the appliance's time zone"
	}
	d.Templates = s.sendTemplates(r, rs)
	text, isTemplate, _ := s.composed(r.Context(), in, d.Templates)
	if isTemplate {
		d.Preview = text
	}
	d.Count = s.svc.CountText(r.Context(), text)
	d.Clinical = s.clinical(r, rs, text)
	if st, err := s.svc.Status(r.Context(), rs.Actor); err == nil {
		d.QuietHours = st.QuietHours
	}
	return d
}

// sendForm is the send page, empty.
func (s *Server) sendForm(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	s.show(w, r, rs, http.StatusOK, "send", pageData{Title: "Send a message", Data: s.newSendData(r, rs, sendInput{})})
}

// send queues the form's message and shows it on its own page, or shows
// the form again, as typed, with the service's reason.
func (s *Server) send(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	f, prob := readForm(r)
	if prob != nil {
		s.show(w, r, rs, prob.status, "send", pageData{Title: "Send a message", Error: prob.msg, Data: s.newSendData(r, rs, sendInput{})})
		return
	}
	in := readSendInput(f)
	again := func(status int, msg string) {
		s.show(w, r, rs, status, "send", pageData{Title: "Send a message", Error: msg, Data: s.newSendData(r, rs, in)})
	}
	if in.badTemplate {
		in.TemplateID = 0
		again(http.StatusBadRequest, "There is no such template: choose one from the list, or free text. Nothing was queued.")
		return
	}
	var req ops.SendRequest
	if in.TemplateID != 0 {
		// The service fills the template; the text box is not used.
		if in.To == "" {
			again(http.StatusBadRequest, missingMsg("to"))
			return
		}
		req = ops.SendRequest{To: in.To, TemplateID: in.TemplateID, Fields: in.templateFields()}
	} else {
		if name := missing(url.Values{"to": {in.To}, "text": {in.Text}}, "to", "text"); name != "" {
			again(http.StatusBadRequest, missingMsg(name))
			return
		}
		if strings.Contains(in.Text, nameField) && strings.TrimSpace(in.Patient) == "" {
			again(http.StatusBadRequest, "The text has {name} in it but the patient's name is empty: fill in the name, or take {name} out of the text. Nothing was queued.")
			return
		}
		req = ops.SendRequest{To: in.To, Text: composeText(in.Text, in.Patient)}
	}
	if sendAt := in.SendAt; sendAt != "" {
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
	in := readSendInput(f)
	if in.badTemplate {
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": ops.CodeInvalidRequest, "message": "there is no such template"})
		return
	}
	var ts []ops.Template
	if in.TemplateID != 0 {
		ts = s.sendTemplates(r, rs)
	}
	text, isTemplate, ok := s.composed(r.Context(), in, ts)
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"code": ops.CodeInvalidRequest, "message": "the template is not there any more or does not fill: choose another"})
		return
	}
	out := countJSON{TextCount: s.svc.CountText(r.Context(), text), Clinical: s.clinical(r, rs, text)}
	if isTemplate {
		out.Preview = text
	}
	writeJSON(w, http.StatusOK, out)
}

// countJSON is the counter's answer: the service's TextCount, the filled
// template's text when one is chosen, and the clinical words found.
type countJSON struct {
	ops.TextCount
	Preview  string   `json:"preview,omitempty"`
	Clinical []string `json:"clinical,omitempty"`
}
