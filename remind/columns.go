package remind

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Mapping maps a field to the header of the column that holds it, for a
// practice system whose export names columns its own way. Fields: name,
// phone, date, time, provider, location, language, and instead of some of
// them datetime (date and time in one cell), first_name and last_name.
type Mapping map[string]string

// ErrColumns is wrapped by Columns' errors: a field has no column.
var ErrColumns = errors.New("the file's columns do not give every field")

// Fields a column can hold, in the order Columns looks for them.
var columnFields = []string{"name", "first_name", "last_name", "phone", "datetime", "date", "time", "provider", "location", "language"}

// headerSynonyms are the usual headers of each field, as normHeader writes
// them (lower case, no accents, words separated by one space).
var headerSynonyms = map[string][]string{
	"name": {"name", "patient", "patient name", "patients name", "patient full name", "full name", "patientname",
		"client", "client name", "pt name", "nombre", "paciente", "nombre del paciente", "nombre completo"},
	"first_name": {"first name", "first", "given name", "firstname", "fname", "forename", "patient first name", "nombre de pila"},
	"last_name":  {"last name", "last", "surname", "family name", "lastname", "lname", "patient last name", "apellido", "apellidos"},
	"phone": {"phone", "phone number", "phone no", "mobile", "mobile phone", "mobile number", "mobile no", "cell", "cell phone",
		"cellphone", "cell number", "telephone", "tel", "sms", "sms number", "number", "patient phone", "home phone",
		"telefono", "movil", "celular", "numero", "telefono movil"},
	"datetime": {"datetime", "date time", "date and time", "appointment", "appt", "appointment datetime", "appointment date time",
		"appt date time", "start datetime", "start date time", "when", "fecha y hora", "cita"},
	"date": {"date", "appt date", "appointment date", "visit date", "day", "fecha", "fecha cita", "fecha de la cita", "dia"},
	"time": {"time", "appt time", "appointment time", "visit time", "start time", "start", "hora", "hora cita", "hora de la cita"},
	"provider": {"provider", "doctor", "dr", "physician", "clinician", "practitioner", "resource", "provider name", "seen by",
		"medico", "profesional", "proveedor"},
	"location": {"location", "site", "office", "clinic", "room", "department", "place", "facility", "ubicacion", "sede", "lugar", "consultorio"},
	"language": {"language", "lang", "preferred language", "idioma", "lengua", "idioma preferido"},
}

// normHeader folds a header for comparison: case and accents ignored,
// apostrophes dropped, anything not a letter or digit a space ("Phone #"
// is "phone", "Patient's Name" is "patients name").
func normHeader(h string) string {
	h = strings.NewReplacer("'", "", "’", "").Replace(h)
	f := strings.Map(func(r rune) rune {
		r = unicode.ToLower(fold(r))
		if isWordRune(r) {
			return r
		}
		return ' '
	}, h)
	return strings.Join(strings.Fields(f), " ")
}

// Columns finds the column of each field: first those m maps (by header,
// compared as normHeader does), then the rest by their usual headers
// (headerSynonyms: "Patient Name", "Mobile", "Appt Date", "Doctor", "Site",
// "Idioma", ...). Name may come from first_name and last_name columns, date
// and time from one datetime column; a file with a date column and no time
// column reads the time from the date cell. It is an error wrapping
// ErrColumns when m names an unknown field or a header the file lacks, or
// when name, phone, date or time have no column; the error lists the
// file's headers, unless the first row looks like data (then it asks for a
// header row, and shows no cell: it would be a patient's).
func (t Table) Columns(m Mapping) (map[string]int, error) {
	norm := make([]string, len(t.Header))
	for i, h := range t.Header {
		norm[i] = normHeader(h)
	}
	cols := map[string]int{}
	used := map[int]string{}
	for field, header := range m {
		if !knownField(field) {
			return nil, fmt.Errorf("%w: the mapping names %q, which is not a field; the fields are %s", ErrColumns, field, strings.Join(columnFields, ", "))
		}
		if strings.TrimSpace(header) == "" {
			continue
		}
		i := indexOf(norm, normHeader(header))
		if i < 0 {
			return nil, fmt.Errorf("%w: the mapping reads %s from a column %q, which this file does not have; %s", ErrColumns, field, header, t.headersFound())
		}
		if other, ok := used[i]; ok {
			return nil, fmt.Errorf("%w: the mapping reads both %s and %s from column %q; give each its own column", ErrColumns, other, field, header)
		}
		cols[field] = i
		used[i] = field
	}
	for _, field := range columnFields {
		if _, ok := cols[field]; ok {
			continue
		}
		for _, syn := range headerSynonyms[field] {
			i := indexOf(norm, syn)
			if _, taken := used[i]; i >= 0 && !taken {
				cols[field] = i
				used[i] = field
				break
			}
		}
	}
	// A full name column wins over first and last names.
	if _, ok := cols["name"]; ok {
		delete(cols, "first_name")
		delete(cols, "last_name")
	}
	// One datetime column, or a date and a time; a date column alone may
	// carry both.
	if _, ok := cols["datetime"]; ok {
		_, d := cols["date"]
		_, tm := cols["time"]
		if d && tm {
			delete(cols, "datetime")
		} else {
			delete(cols, "date")
			delete(cols, "time")
		}
	} else if d, ok := cols["date"]; ok {
		if _, ok := cols["time"]; !ok {
			cols["datetime"] = d
			delete(cols, "date")
		}
	}
	var missing []string
	if _, ok := cols["name"]; !ok {
		_, f := cols["first_name"]
		_, l := cols["last_name"]
		if !f && !l {
			missing = append(missing, "name (patient, patient name, or first name and last name)")
		}
	}
	if _, ok := cols["phone"]; !ok {
		missing = append(missing, "phone (phone, mobile, cell)")
	}
	if _, ok := cols["datetime"]; !ok {
		if _, ok := cols["date"]; !ok {
			missing = append(missing, "date (date, appointment date)")
		}
		if _, ok := cols["time"]; !ok {
			missing = append(missing, "time (time, appointment time)")
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: no column for %s; name the columns so, or map them; %s", ErrColumns, strings.Join(missing, ", "), t.headersFound())
	}
	return cols, nil
}

func knownField(f string) bool {
	for _, k := range columnFields {
		if k == f {
			return true
		}
	}
	return false
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// headersFound lists the header cells for an error, or, when the first row
// looks like a patient's row (a cell with several digits: a number, a
// date), asks for a header row without showing it.
func (t Table) headersFound() string {
	for _, h := range t.Header {
		digits := 0
		for _, r := range h {
			if unicode.IsDigit(r) {
				digits++
			}
		}
		if digits >= 3 {
			return "the first row looks like data, not column names: add a header row such as name,phone,date,time"
		}
	}
	shown := make([]string, 0, len(t.Header))
	for i, h := range t.Header {
		if i == 20 {
			shown = append(shown, "…")
			break
		}
		if r := []rune(h); len(r) > 40 {
			h = string(r[:40]) + "…"
		}
		shown = append(shown, fmt.Sprintf("%q", h))
	}
	return "the file's columns are " + strings.Join(shown, ", ")
}
