package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// One appointment made by hand at the front desk (GET and POST
// /appointments/new): the service plans its reminders and refuses a bad
// or opted-out number, a time in the past and a duplicate; the form comes
// back as typed with the reason next to the field it is about.

// The new appointment form's fields, named in messages. "name", "date"
// and "language" are named already.
func init() {
	pageNames = append(pageNames, "appointment_new")
	for k, v := range map[string]string{"phone": "The mobile number", "time": "The time", "provider": "The provider", "location": "The location"} {
		if _, ok := fieldLabels[k]; !ok {
			fieldLabels[k] = v
		}
	}
}

// newAppointmentLabels name the form's required fields in its messages.
var newAppointmentLabels = map[string]string{"name": "The patient's name", "phone": "The mobile number",
	"date": "The date of the appointment", "time": "The time of the appointment"}

// newAppointmentData is the new appointment page's: the form as typed,
// the field the error is about ("" for none or the whole form) and its
// message, the clinic's zone, and the clinical words found in the
// provider or location.
type newAppointmentData struct {
	Name, Phone, Date, Time, Provider, Location, Language string
	ErrField, ErrMsg                                      string
	Zone                                                  string
	Clinical                                              []string
}

// newAppointmentInput reads the posted form, trimmed.
func newAppointmentInput(f url.Values) newAppointmentData {
	g := func(n string) string { return strings.TrimSpace(f.Get(n)) }
	return newAppointmentData{Name: g("name"), Phone: g("phone"), Date: g("date"), Time: g("time"), Provider: g("provider"),
		Location: g("location"), Language: g("language")}
}

// zoneName names the clinic's zone for the form's help.
func (s *Server) zoneName() string {
	if z := s.loc.String(); z != "Local" {
		return z
	}
	return "the appliance's time zone"
}

// newAppointmentPage shows the form as d holds it, with status.
func (s *Server) newAppointmentPage(w http.ResponseWriter, r *http.Request, rs *reqSession, status int, d newAppointmentData) {
	d.Zone = s.zoneName()
	if d.Language == "" {
		d.Language = ops.LangEnglish
	}
	if status != http.StatusOK {
		d.Clinical = s.clinical(r, rs, strings.TrimSpace(d.Provider+" "+d.Location))
	}
	s.show(w, r, rs, status, "appointment_new", pageData{Title: "New appointment", Error: d.ErrMsg, Data: d})
}

// appointmentNewForm is the empty form: GET /appointments/new, its date
// the day the list showed (?date=) or today.
func (s *Server) appointmentNewForm(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	d := newAppointmentData{Date: s.now().In(s.loc).Format(dateLayout)}
	if v := r.URL.Query().Get("date"); v != "" {
		if _, err := time.ParseInLocation(dateLayout, v, s.loc); err == nil {
			d.Date = v
		}
	}
	s.newAppointmentPage(w, r, rs, http.StatusOK, d)
}

// appointmentCreate creates the posted appointment and shows its page, or
// the form again, as typed, with the reason next to its field.
func (s *Server) appointmentCreate(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	f, prob := readForm(r)
	if prob != nil {
		s.newAppointmentPage(w, r, rs, prob.status, newAppointmentData{ErrMsg: prob.msg})
		return
	}
	d := newAppointmentInput(f)
	again := func(status int, field, msg string) {
		d.ErrField, d.ErrMsg = field, msg
		s.newAppointmentPage(w, r, rs, status, d)
	}
	for _, n := range []string{"name", "phone", "date", "time"} {
		if f.Get(n) == "" || strings.TrimSpace(f.Get(n)) == "" {
			again(http.StatusBadRequest, n, newAppointmentLabels[n]+" is missing: fill it in. Nothing was created.")
			return
		}
	}
	if _, err := time.ParseInLocation(dateLayout, d.Date, s.loc); err != nil {
		again(http.StatusBadRequest, "date", "The date is not a date (for example 2026-12-03): choose a day with the date picker. Nothing was created.")
		return
	}
	at, ok := parseDatetime(d.Date+"T"+d.Time, s.loc)
	if !ok {
		again(http.StatusBadRequest, "time", "The time is not a time of day (for example 14:30). Nothing was created.")
		return
	}
	switch d.Language {
	case ops.LangEnglish, ops.LangSpanish, "":
	default:
		again(http.StatusBadRequest, "language", "There is no such language: choose English or Spanish. Nothing was created.")
		return
	}
	a, err := s.svc.Appointment(r.Context(), rs.Actor, ops.AppointmentRequest{Action: ops.AppointmentCreate, Name: d.Name, Phone: d.Phone,
		At: at, Provider: d.Provider, Location: d.Location, Language: d.Language})
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		if status == http.StatusForbidden || status >= 500 {
			s.fail(w, r, rs, err)
			return
		}
		again(status, createErrorField(err), msg)
		return
	}
	http.Redirect(w, r, "/appointments/"+strconv.FormatInt(a.ID, 10)+"?done="+ops.AppointmentCreate, http.StatusSeeOther)
}

// createErrorField is the form field a refusal of the service is about,
// from the request field the service names (ops.FieldOf: "at" is this
// form's time); "" when it names none, and the page then shows the message
// above the form only.
func createErrorField(err error) string {
	switch f := ops.FieldOf(err); f {
	case "at":
		return "time"
	case "name", "phone", "provider", "location", "language":
		return f
	}
	return ""
}
