package web

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// Reminders (issue "Reminders"): the day's appointments with their
// reminders and answers, one appointment's own page, the CSV import
// (handlers_remind_import.go), the templates (handlers_remind_templates.go)
// and the daily report (handlers_remind_report.go). As with the rest of
// the UI, every rule and audit row lives in the Service.

// The pages of reminders, parsed with the layout like the others.
func init() {
	pageNames = append(pageNames, "appointments", "appointment", "import", "importjob", "templates", "report")
	for k, v := range map[string]string{
		"date": "The date", "at": "The new time", "file": "The file", "mapping_name": "The saved mapping",
		"save_mapping_as": "The name to save the mapping as", "body": "The template's text", "language": "The language",
		"template_id": "The template", "id": "The template",
	} {
		fieldLabels[k] = v
	}
}

// remindRoutes registers the reminder pages on m. Staff and admins use
// them; the service refuses what a role may not do (saving a template is
// for admins: a 403 page).
func (s *Server) remindRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /appointments", s.livePage(s.appointments))
	// More specific than /appointments/{id}: the new appointment's form.
	m.HandleFunc("GET /appointments/new", s.page(activeOnly, false, s.appointmentNewForm))
	m.HandleFunc("POST /appointments/new", s.page(activeOnly, false, s.appointmentCreate))
	// Not live: each look at one appointment opens its number (an audit row).
	m.HandleFunc("GET /appointments/{id}", s.page(activeOnly, false, s.appointment))
	m.HandleFunc("POST /appointments/{id}", s.page(activeOnly, false, s.appointmentAction))
	m.HandleFunc("GET /import", s.page(activeOnly, false, s.importForm))
	m.HandleFunc("POST /import", s.page(activeOnly, false, s.importPreview))
	m.HandleFunc("POST /import/{upload}/commit", s.page(activeOnly, false, s.importCommit))
	m.HandleFunc("GET /import/jobs/{job}", s.page(activeOnly, false, s.importJob))
	m.HandleFunc("GET /import/jobs/{job}/progress", s.importProgress)
	m.HandleFunc("GET /templates", s.page(activeOnly, false, s.templates))
	m.HandleFunc("POST /templates", s.page(activeOnly, false, s.templateAction))
	m.HandleFunc("GET /report", s.page(activeOnly, false, s.report))
}

// livePaths are the pages live.js refreshes when the store changes.
var livePaths = []string{"/outbox", "/inbox", "/status", "/appointments"}

// remindFuncs are the template helpers of the reminder pages; loc is the
// clinic's zone.
func remindFuncs(now func() time.Time, loc *time.Location) template.FuncMap {
	return template.FuncMap{
		// clinicTime is a time of day in the clinic's zone ("15:04").
		"clinicTime": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(loc).Format("15:04")
		},
		// clinicDay is a day in the clinic's zone ("Thu 3 Dec 2026").
		"clinicDay": func(t time.Time) string { return t.In(loc).Format("Mon 2 Jan 2006") },
		// clinicDate is a day in the clinic's zone as a date field's value.
		"clinicDate": func(t time.Time) string { return t.In(loc).Format(dateLayout) },
		// clinicInput is a time as a datetime-local field's value.
		"clinicInput": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(loc).Format("2006-01-02T15:04")
		},
		"answerLabel": answerLabel,
		"beforeLabel": beforeLabel,
		"langLabel":   langLabel,
		// live reports whether live.js refreshes the page at path.
		"live": func(path string) bool {
			for _, p := range livePaths {
				if path == p {
					return true
				}
			}
			return false
		},
		"hasPrefix": strings.HasPrefix,
		"formID":    formID,
		// sendFields are the send form's template fields; fieldLabel
		// names one.
		"sendFields": func() []string { return sendFieldNames },
		"fieldLabel": func(n string) string {
			switch n {
			case "date":
				return "Date of the appointment"
			case "time":
				return "Time of the appointment"
			case "provider":
				return "Provider"
			case "location":
				return "Location"
			}
			return n
		},
		// dict makes a map for a sub-template from key, value pairs.
		"dict": func(kv ...any) map[string]any {
			m := make(map[string]any, len(kv)/2)
			for i := 0; i+1 < len(kv); i += 2 {
				k, _ := kv[i].(string)
				m[k] = kv[i+1]
			}
			return m
		},
		// problemText joins a row's problems for the preview table.
		"problemText": func(ps []ops.ImportProblem) string {
			var out []string
			for _, p := range ps {
				out = append(out, p.Message)
			}
			return strings.Join(out, "; ")
		},
		// problemCodes lists a row's problem codes, for tests and scripts.
		"problemCodes": func(ps []ops.ImportProblem) string {
			var out []string
			for _, p := range ps {
				out = append(out, p.Code)
			}
			return strings.Join(out, " ")
		},
		// placeholder writes {name} for a placeholder's name.
		"placeholder": func(n string) string { return "{" + n + "}" },
	}
}

// answerLabel names a patient's answer.
func answerLabel(a string) string {
	switch a {
	case ops.AnswerConfirmed:
		return "Confirmed"
	case ops.AnswerReschedule:
		return "Wants a new time"
	case ops.AnswerOptedOut:
		return "Opted out"
	case "":
		return "No answer yet"
	}
	return a
}

// beforeLabel says a plan's offset ("48h0m0s") in words: "2 days before".
func beforeLabel(before string) string {
	d, err := time.ParseDuration(before)
	if err != nil || d <= 0 {
		return before
	}
	n, unit := int64(d/time.Minute), "minute"
	switch {
	case d%(24*time.Hour) == 0:
		n, unit = int64(d/(24*time.Hour)), "day"
	case d%time.Hour == 0:
		n, unit = int64(d/time.Hour), "hour"
	}
	if n != 1 {
		unit += "s"
	}
	return strconv.FormatInt(n, 10) + " " + unit + " before"
}

// langLabel names a language code.
func langLabel(code string) string {
	switch code {
	case ops.LangEnglish, "":
		return "English"
	case ops.LangSpanish:
		return "Spanish"
	}
	return code
}

// appointmentsData is the appointments page's: the day shown, the days
// around it, and its appointments (numbers masked).
type appointmentsData struct {
	Date, Prev, Next, Today string
	All                     bool
	ImportID                int64
	Appointments            []ops.Appointment
}

// appointmentDone are the notices after an appointment's action (?done=).
var appointmentDone = map[string]string{
	ops.AppointmentCreate: "Created: its reminders are planned as listed below.",
	ops.AppointmentCancel: "Cancelled: its reminders that were still queued will not be sent.",
	ops.AppointmentMove:   "Moved: its reminders were planned again for the new time.",
}

// appointments lists a day's appointments: GET /appointments?date=.
func (s *Server) appointments(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	q := r.URL.Query()
	today := s.now().In(s.loc).Format(dateLayout)
	d := appointmentsData{Date: q.Get("date"), All: q.Get("all") == "1", Today: today}
	bad := func(msg string) {
		d.Date = today
		s.show(w, r, rs, http.StatusBadRequest, "appointments", pageData{Title: "Appointments", Error: msg, Data: d})
	}
	for _, vs := range q {
		for _, v := range vs {
			if !validText(v) {
				bad("The address holds text that is not valid (not UTF-8). Use the date picker to choose a day.")
				return
			}
		}
	}
	if d.Date == "" {
		d.Date = today
	}
	day, err := time.ParseInLocation(dateLayout, d.Date, s.loc)
	if err != nil {
		bad("The date is not a date (for example 2026-12-03): choose a day with the date picker.")
		return
	}
	if v := q.Get("import"); v != "" {
		id, ok := positiveID(v)
		if !ok {
			bad("There is no such import: the address is not one the import page made.")
			return
		}
		d.ImportID = id
	}
	d.Prev = day.AddDate(0, 0, -1).Format(dateLayout)
	d.Next = day.AddDate(0, 0, 1).Format(dateLayout)
	f := ops.AppointmentFilter{Date: d.Date, All: d.All, ImportID: d.ImportID}
	if d.ImportID != 0 {
		f.Date = ""
	}
	as, err := s.svc.Appointments(r.Context(), rs.Actor, f)
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		s.show(w, r, rs, status, "appointments", pageData{Title: "Appointments", Error: msg, Data: d})
		return
	}
	d.Appointments = as
	s.show(w, r, rs, http.StatusOK, "appointments", pageData{Title: "Appointments", Notice: appointmentDone[q.Get("done")], Data: d})
}

// link is the appointments page of date, with this page's other choices.
func (d appointmentsData) link(date string) string {
	v := url.Values{"date": {date}}
	if d.All {
		v.Set("all", "1")
	}
	return "/appointments?" + v.Encode()
}

// appointmentData is one appointment's own page.
type appointmentData struct {
	Appointment ops.Appointment
}

// appointment shows one appointment with the patient's full number: an
// audited view (the service writes the row).
func (s *Server) appointment(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	s.showAppointment(w, r, rs, http.StatusOK, "", appointmentDone[r.URL.Query().Get("done")])
}

// noAppointment is the 404 page of an address that names no appointment.
func (s *Server) noAppointment(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	s.errorPageFor(w, r, rs, http.StatusNotFound, "Not found", "There is no such appointment: an appointment's address is /appointments/ and its number. Find it on the appointments page.")
}

// showAppointment opens appointment {id} and shows it with an error or a
// notice.
func (s *Server) showAppointment(w http.ResponseWriter, r *http.Request, rs *reqSession, status int, errMsg, notice string) {
	id, ok := pathID(r)
	if !ok {
		s.noAppointment(w, r, rs)
		return
	}
	a, err := s.svc.Appointment(r.Context(), rs.Actor, ops.AppointmentRequest{Action: ops.AppointmentShow, ID: id})
	if err != nil {
		s.fail(w, r, rs, err)
		return
	}
	if r.URL.Query().Get("done") == ops.AppointmentCreate && notice != "" {
		// The clinical-word warning of the form, once the appointment is
		// made: the provider and location go into every reminder.
		if words := s.clinical(r, rs, strings.TrimSpace(a.Provider+" "+a.Location)); len(words) > 0 {
			notice += " The provider or location looks like it carries clinical detail (" + strings.Join(words, ", ") +
				"); reminders carry them, so keep them to the minimum necessary (to change them, cancel this appointment and create it again)."
		}
	}
	s.show(w, r, rs, status, "appointment", pageData{Title: "Appointment " + strconv.FormatInt(a.ID, 10), Error: errMsg, Notice: notice,
		Data: appointmentData{Appointment: a}})
}

// appointmentAction cancels or moves appointment {id}, then goes back to
// the page the form was on (the day's list or the appointment's own).
func (s *Server) appointmentAction(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	id, ok := pathID(r)
	if !ok {
		s.noAppointment(w, r, rs)
		return
	}
	f, prob := readForm(r)
	if prob != nil {
		s.showAppointment(w, r, rs, prob.status, prob.msg, "")
		return
	}
	req := ops.AppointmentRequest{ID: id, Action: f.Get("action")}
	switch req.Action {
	case ops.AppointmentCancel:
	case ops.AppointmentMove:
		v := strings.TrimSpace(f.Get("at"))
		if v == "" {
			s.showAppointment(w, r, rs, http.StatusBadRequest, missingMsg("at"), "")
			return
		}
		t, ok := parseDatetime(v, s.loc)
		if !ok {
			s.showAppointment(w, r, rs, http.StatusBadRequest, "The new time is not a date and time (for example 2026-12-03T09:30). Nothing was changed.", "")
			return
		}
		req.At = t
	case "":
		s.showAppointment(w, r, rs, http.StatusBadRequest, missingMsg("action"), "")
		return
	default:
		s.showAppointment(w, r, rs, http.StatusBadRequest, "There is no such action: use the page's buttons (Cancel, Move).", "")
		return
	}
	a, err := s.svc.Appointment(r.Context(), rs.Actor, req)
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		if status == http.StatusNotFound {
			s.errorPageFor(w, r, rs, status, "Not found", msg)
			return
		}
		s.showAppointment(w, r, rs, status, msg, "")
		return
	}
	if f.Get("back") == "list" {
		at := a.At
		if at.IsZero() {
			at = s.now()
		}
		http.Redirect(w, r, appointmentsData{}.link(at.In(s.loc).Format(dateLayout))+"&done="+req.Action, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/appointments/"+strconv.FormatInt(id, 10)+"?done="+req.Action, http.StatusSeeOther)
}
