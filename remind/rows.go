package remind

import (
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/clinicsms/smsd/ops"
)

// Row is one data row of an import as understood, with what is wrong with
// it. A row without Problems can become an appointment; the daemon adds
// the problems only the store knows (ops.ProblemOptedOut, ops.ProblemDuplicate).
type Row struct {
	Line int // the row's first line in the file, from 1
	// Name, Provider and Location are the cells with white space runs made
	// one space. Phone is E.164 when valid, else the cell as written.
	// Language is "en" or "es" ("en" when the cell is empty or wrong).
	Name, Phone, Provider, Location, Language string
	// At is the appointment in the clinic's zone; zero when the date or
	// time is missing or wrong.
	At       time.Time
	Problems []ops.ImportProblem
}

// OK reports whether the row has no problem.
func (r Row) OK() bool { return len(r.Problems) == 0 }

// mdyRegions write numeric dates month first (12/03/2026 is December 3):
// the United States and the territories that follow its usage, Canada
// (whose practice systems mostly do, in English), the Philippines. Every
// other region reads day first (12/03/2026 is 12 March). A dotted date
// (03.12.2026) is always day first, as only day-first countries write it.
var mdyRegions = map[string]bool{"US": true, "PR": true, "VI": true, "GU": true, "AS": true, "MP": true, "UM": true,
	"CA": true, "PH": true, "FM": true, "MH": true, "PW": true}

// ParseRows reads t's records with the columns Columns found: for each, the
// patient's name, the number normalised to E.164 (region for numbers
// without a country code, by queue's rule), the appointment time in loc
// (nil: UTC), provider, location and language, and the problems a person
// must fix: missing_field, bad_number, bad_date, bad_time (also a time the
// clocks skip on a spring-forward day), in_the_past (before now),
// bad_language, too_long, duplicate_row (the same number and time as an
// earlier row). Problem messages name the field and what to write, never a
// cell's content (they may be logged).
//
// Dates: 2026-12-03, 12/03/2026 and 12-03-2026 in the region's order
// (mdyRegions: month first in the US), 12/3/26, 03.12.2026 (day first),
// "Dec 3, 2026", "3 December 2026", "Thursday, December 3, 2026", "3 dic
// 2026", "3 de diciembre de 2026". Times: 15:00, 15.00, 15h00, 15:00:00,
// 1500, 3:00 PM, 3:00pm, 3 PM, 3 p. m. A time the clocks show twice (the
// fall-back hour) is the first of the two.
func ParseRows(t Table, cols map[string]int, loc *time.Location, region string, now time.Time) []Row {
	if loc == nil {
		loc = time.UTC
	}
	mdy := mdyRegions[strings.ToUpper(region)]
	rows := make([]Row, len(t.Records))
	// Rows are independent but for duplicates, and normalising a number
	// (phonenumbers' regular expressions) is most of the work: spread a
	// long list over the cores (a Pi has four), then look for duplicates
	// in file order.
	workers := min(runtime.GOMAXPROCS(0), len(rows)/parallelRows)
	if workers < 2 {
		for i, rec := range t.Records {
			rows[i] = parseRecord(t, cols, rec, loc, region, mdy, now)
		}
	} else {
		var wg sync.WaitGroup
		chunk := (len(rows) + workers - 1) / workers
		for start := 0; start < len(rows); start += chunk {
			end := min(start+chunk, len(rows))
			wg.Go(func() {
				for i := start; i < end; i++ {
					rows[i] = parseRecord(t, cols, t.Records[i], loc, region, mdy, now)
				}
			})
		}
		wg.Wait()
	}
	type key struct {
		phone string
		at    int64
	}
	seen := map[key]int{}
	for i := range rows {
		r := &rows[i]
		if r.Phone == "" || r.At.IsZero() || hasProblem(r.Problems, ops.ProblemBadNumber) {
			continue
		}
		k := key{r.Phone, r.At.Unix()}
		if first, dup := seen[k]; dup {
			r.Problems = append(r.Problems, ops.ImportProblem{Code: ops.ProblemDuplicateRow,
				Message: fmt.Sprintf("the same number and time as line %d: the patient would get every reminder twice; delete one of the rows", first)})
		} else {
			seen[k] = r.Line
		}
	}
	return rows
}

// parallelRows is the fewest rows per core worth a goroutine.
const parallelRows = 500

func hasProblem(ps []ops.ImportProblem, code string) bool {
	for _, p := range ps {
		if p.Code == code {
			return true
		}
	}
	return false
}

// parseRecord is ParseRows for one record, without the duplicate check.
func parseRecord(t Table, cols map[string]int, rec Record, loc *time.Location, region string, mdy bool, now time.Time) Row {
	get := func(field string) string {
		i, ok := cols[field]
		if !ok || i < 0 || i >= len(rec.Fields) {
			return ""
		}
		return strings.TrimSpace(rec.Fields[i])
	}
	r := Row{Line: rec.Line, Language: ops.LangEnglish}
	problem := func(code, field, format string, a ...any) {
		r.Problems = append(r.Problems, ops.ImportProblem{Code: code, Field: field, Message: fmt.Sprintf(format, a...)})
	}
	missing := func(field, what string) {
		problem(ops.ProblemMissingField, field, "the %s is missing: fill in the %s column", what, columnName(t, cols, field))
	}
	tooLong := func(field, v string, limit int) {
		if n := utf8.RuneCountInString(v); n > limit {
			problem(ops.ProblemTooLong, field, "the %s has %d characters; at most %d fit a reminder: shorten it", field, n, limit)
		}
	}

	// Name.
	if _, ok := cols["name"]; ok {
		r.Name = cleanValue(get("name"))
	} else {
		r.Name = strings.TrimSpace(cleanValue(get("first_name")) + " " + cleanValue(get("last_name")))
	}
	if r.Name == "" {
		missing("name", "patient's name")
	}
	tooLong("name", r.Name, MaxNameLen)

	// Phone.
	if raw := get("phone"); raw == "" {
		missing("phone", "phone number")
	} else if e, err := normalizeNumber(raw, region); err != nil {
		r.Phone = cleanValue(raw)
		problem(ops.ProblemBadNumber, "phone", "%v", err)
	} else {
		r.Phone = e
	}

	// Date and time.
	var (
		y, d, h, mi      int
		m                time.Month
		dateOK, clockOK  bool
		dateCol, timeCol = "date", "time"
	)
	if _, ok := cols["datetime"]; ok {
		dateCol, timeCol = "datetime", "datetime"
		v := get("datetime")
		if v == "" {
			missing("datetime", "appointment's date and time")
		} else {
			var hasDate bool
			y, m, d, h, mi, hasDate, dateOK, clockOK = parseDateTime(v, mdy)
			switch {
			case !hasDate:
				problem(ops.ProblemBadDate, "datetime", "the date and time are not written in a way smsd reads: write e.g. %s 3:00 PM or 2026-12-03 15:00", exampleDate(mdy))
			case !dateOK:
				problem(ops.ProblemBadDate, "datetime", "%s", badDateMessage(mdy))
			case !clockOK:
				problem(ops.ProblemBadTime, "datetime", "the cell has a date but no time smsd reads: add the time, e.g. 3:00 PM or 15:00")
			}
		}
	} else {
		if v := get("date"); v == "" {
			missing("date", "appointment date")
		} else if y, m, d, dateOK = parseDate(v, mdy); !dateOK {
			problem(ops.ProblemBadDate, "date", "%s", badDateMessage(mdy))
		}
		if v := get("time"); v == "" {
			missing("time", "appointment time")
		} else if h, mi, clockOK = parseClock(v); !clockOK {
			problem(ops.ProblemBadTime, "time", "the time is not a time of day smsd reads: write it as 15:00 or 3:00 PM")
		}
	}
	if dateOK && clockOK {
		at, exact := wallTime(y, m, d, h, mi, 0, 0, loc)
		switch {
		case !exact:
			problem(ops.ProblemBadTime, timeCol, "that time does not exist on that day: the clocks go forward then (daylight saving time); check the time")
		case at.Before(now):
			problem(ops.ProblemPast, dateCol, "the appointment is in the past")
			r.At = at
		default:
			r.At = at
		}
	}

	// Optional fields.
	r.Provider = cleanValue(get("provider"))
	tooLong("provider", r.Provider, MaxProviderLen)
	r.Location = cleanValue(get("location"))
	tooLong("location", r.Location, MaxLocationLen)
	if lang, ok := parseLanguage(get("language")); ok {
		r.Language = lang
	} else {
		problem(ops.ProblemBadLanguage, "language", "the language is not one smsd has templates in: write en or es (English, Spanish), or leave it empty for English")
	}

	return r
}

// columnName is the header a field is read from, for a problem's message
// ("the Last Name column"); first and last names are named together.
func columnName(t Table, cols map[string]int, field string) string {
	name := func(f string) string {
		if i, ok := cols[f]; ok && i >= 0 && i < len(t.Header) && t.Header[i] != "" {
			return strings.ToValidUTF8(t.Header[i], "?")
		}
		return ""
	}
	if field == "name" && name("name") == "" {
		f, l := name("first_name"), name("last_name")
		switch {
		case f != "" && l != "":
			return f + " or " + l
		case f != "":
			return f
		case l != "":
			return l
		}
	}
	if n := name(field); n != "" {
		return n
	}
	return field
}

func exampleDate(mdy bool) string {
	if mdy {
		return "12/03/2026"
	}
	return "03/12/2026"
}

func badDateMessage(mdy bool) string {
	if mdy {
		return "the date is not a date smsd reads: write it as 2026-12-03 or 12/03/2026 (month/day/year)"
	}
	return "the date is not a date smsd reads: write it as 2026-12-03 or 03/12/2026 (day/month/year)"
}

var (
	reISODate = regexp.MustCompile(`^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$`)
	reNumDate = regexp.MustCompile(`^(\d{1,2})([-/.])(\d{1,2})[-/.](\d{4}|\d{2})$`)
	reClock24 = regexp.MustCompile(`^(\d{1,2})[:.hH](\d{2})(?::(\d{2}))?$`)
	reClock4  = regexp.MustCompile(`^([01]\d|2[0-3])([0-5]\d)$`)
	reClock12 = regexp.MustCompile(`(?i)^(\d{1,2})(?:[:.](\d{2}))?(?::(\d{2}))?\s*([ap])\.?\s*m\.?$`)
	reISODT   = regexp.MustCompile(`^(\d{4}-\d{1,2}-\d{1,2})[T ](.+)$`)
	reOrdinal = regexp.MustCompile(`^(\d{1,2})(st|nd|rd|th|o|a)$`)
)

// monthNames are English and Spanish month names and abbreviations, folded
// to lower case without accents.
var monthNames = func() map[string]time.Month {
	m := map[string]time.Month{}
	en := []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}
	es := []string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"}
	for i := range en {
		mo := time.Month(i + 1)
		m[en[i]], m[en[i][:3]], m[es[i]], m[es[i][:3]] = mo, mo, mo, mo
	}
	m["sept"], m["setiembre"], m["set"] = time.September, time.September, time.September
	return m
}()

// dateNoise are words a written-out date carries besides day, month and
// year: weekdays (not "mar", which is also March) and joining words.
var dateNoise = setOf("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
	"mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun",
	"lunes", "martes", "miercoles", "jueves", "viernes", "sabado", "domingo", "lun", "mie", "jue", "vie", "sab", "dom",
	"de", "del", "the", "of")

// parseDate reads a calendar date (see ParseRows); mdy reads 12/03/2026 as
// December 3.
func parseDate(s string, mdy bool) (int, time.Month, int, bool) {
	s = strings.TrimSpace(s)
	var y, m, d int
	if g := reISODate.FindStringSubmatch(s); g != nil {
		y, m, d = atoi(g[1]), atoi(g[2]), atoi(g[3])
	} else if g := reNumDate.FindStringSubmatch(s); g != nil {
		a, b := atoi(g[1]), atoi(g[3])
		if mdy && g[2] != "." {
			m, d = a, b
		} else {
			d, m = a, b
		}
		y = atoi(g[4])
		if len(g[4]) == 2 {
			y += 2000
		}
	} else if yy, mm, dd, ok := parseNamedDate(s); ok {
		y, m, d = yy, mm, dd
	} else {
		return 0, 0, 0, false
	}
	if y < 1900 || y > 2199 || m < 1 || m > 12 || d < 1 || d > 31 {
		return 0, 0, 0, false
	}
	if time.Date(y, time.Month(m), d, 12, 0, 0, 0, time.UTC).Day() != d {
		return 0, 0, 0, false // 31 April, 29 February of a common year
	}
	return y, time.Month(m), d, true
}

// parseNamedDate reads "Dec 3, 2026", "3 December 2026", "jueves 3 de
// diciembre de 2026": one month name, a day and a year in any order, day
// before year.
func parseNamedDate(s string) (y, m, d int, ok bool) {
	f := strings.Fields(strings.Map(func(r rune) rune {
		if strings.ContainsRune(",./-", r) {
			return ' '
		}
		return r
	}, strings.ToLower(foldString(s))))
	var nums []string
	for _, w := range f {
		w = strings.ToLower(w)
		if dateNoise[w] {
			continue
		}
		if mo, isMonth := monthNames[w]; isMonth {
			if m != 0 {
				return 0, 0, 0, false
			}
			m = int(mo)
			continue
		}
		if g := reOrdinal.FindStringSubmatch(w); g != nil {
			w = g[1]
		}
		if _, err := strconv.Atoi(w); err != nil || len(w) > 4 {
			return 0, 0, 0, false
		}
		nums = append(nums, w)
	}
	if m == 0 || len(nums) != 2 || len(nums[0]) > 2 {
		return 0, 0, 0, false
	}
	d, y = atoi(nums[0]), atoi(nums[1])
	switch len(nums[1]) {
	case 2:
		y += 2000
	case 4:
	default:
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// parseClock reads a time of day (see ParseRows).
func parseClock(s string) (h, m int, ok bool) {
	s = strings.TrimSpace(s)
	if g := reClock24.FindStringSubmatch(s); g != nil {
		h, m = atoi(g[1]), atoi(g[2])
		if h > 23 || m > 59 || (g[3] != "" && atoi(g[3]) > 59) {
			return 0, 0, false
		}
		return h, m, true
	}
	if g := reClock4.FindStringSubmatch(s); g != nil {
		return atoi(g[1]), atoi(g[2]), true
	}
	if g := reClock12.FindStringSubmatch(s); g != nil {
		h = atoi(g[1])
		if g[2] != "" {
			m = atoi(g[2])
		}
		if h < 1 || h > 12 || m > 59 || (g[3] != "" && atoi(g[3]) > 59) {
			return 0, 0, false
		}
		h %= 12
		if strings.EqualFold(g[4], "p") {
			h += 12
		}
		return h, m, true
	}
	return 0, 0, false
}

// parseDateTime reads a date and a time from one cell ("12/03/2026 3:00
// PM", "2026-12-03T15:00:00", "Dec 3, 2026 3 PM"). hasDate is false when
// no date is found at all.
func parseDateTime(s string, mdy bool) (y int, m time.Month, d, h, mi int, hasDate, dateOK, clockOK bool) {
	s = strings.TrimSpace(s)
	if g := reISODT.FindStringSubmatch(s); g != nil {
		y, m, d, dateOK = parseDate(g[1], mdy)
		h, mi, clockOK = parseClock(g[2])
		return y, m, d, h, mi, true, dateOK, clockOK
	}
	// Try every split between a date on the left and a time on the right.
	for i := len(s) - 1; i > 0; i-- {
		if s[i] != ' ' {
			continue
		}
		yy, mm, dd, dok := parseDate(strings.TrimRight(strings.TrimSpace(s[:i]), ","), mdy)
		if !dok {
			continue
		}
		if hh, mn, cok := parseClock(s[i+1:]); cok {
			return yy, mm, dd, hh, mn, true, true, true
		}
	}
	if yy, mm, dd, dok := parseDate(s, mdy); dok {
		return yy, mm, dd, 0, 0, true, true, false
	}
	// A date that fails on its own (31/31/2026 3:00 PM) still counts as a
	// date when a time follows it.
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		if _, _, cok := parseClock(s[i+1:]); cok {
			return 0, 0, 0, 0, 0, true, false, true
		}
	}
	return 0, 0, 0, 0, 0, false, false, false
}

// parseLanguage reads a language cell: "" and English are en, Spanish is
// es ("es", "spa", "Spanish", "Español", "castellano", "es-MX").
func parseLanguage(s string) (string, bool) {
	v := strings.ToLower(foldString(strings.TrimSpace(s)))
	if i := strings.IndexAny(v, "-_"); i > 0 {
		v = v[:i]
	}
	switch v {
	case "", "en", "eng", "english", "ingles":
		return ops.LangEnglish, true
	case "es", "spa", "spanish", "espanol", "castellano":
		return ops.LangSpanish, true
	}
	return "", false
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
