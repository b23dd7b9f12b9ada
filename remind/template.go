package remind

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clinicsms/smsd/modem/pdu"
	"github.com/clinicsms/smsd/ops"
)

// Placeholders are the names a template may use, each written in braces:
// {name} is the patient's name, {date} and {time} the appointment's (in
// the clinic's zone, formatted for the template's language), {provider}
// and {location} the appointment's optional fields, {clinic} and {phone}
// the clinic's name and phone number from the configuration.
var Placeholders = []string{"name", "date", "time", "provider", "location", "clinic", "phone"}

// Fields are the values of a template's placeholders: placeholder name
// (without braces) -> value. A placeholder without a value renders empty.
type Fields map[string]string

// Longest values an appointment's free-text fields may have. The CSV import
// refuses longer ones (ProblemTooLong) and Check fills a template's worst
// case with them, so a template that passes Check fits every appointment
// the import accepts.
const (
	MaxNameLen     = 60 // runes
	MaxProviderLen = 60
	MaxLocationLen = 60
	// MaxClinicLen and MaxPhoneLen are the worst case Check assumes for
	// {clinic} and {phone} when CheckOptions does not say the configured
	// values.
	MaxClinicLen = 40
	MaxPhoneLen  = 20
)

// DefaultMaxParts is the max_parts Check assumes when CheckOptions leaves
// it 0: the configuration's default.
const DefaultMaxParts = 6

// maxTextBytes is queue.MaxTextBytes (remind does not import the store): the
// longest text the queue accepts.
const maxTextBytes = 4096

// ErrTemplate is wrapped by every error Render returns: the body is not a
// valid template (an unknown placeholder, a lone brace).
var ErrTemplate = errors.New("invalid template")

// piece is a literal run of a template, or a placeholder (ph != "").
type piece struct {
	lit, ph string
}

// templateFault is one thing wrong with a body: an unknown placeholder
// ({nmae}) or a lone brace, with its rune position.
type templateFault struct {
	unknown string // "{nmae}", or "" for a lone brace
	brace   string
	at      int
}

func (f templateFault) String() string {
	if f.unknown != "" {
		return fmt.Sprintf("unknown placeholder %s: the known ones are %s", f.unknown, knownList())
	}
	double := strings.Repeat(f.brace, 2)
	return fmt.Sprintf("a lone %q at character %d: write %s for a literal brace, or close the placeholder (e.g. {name})", f.brace, f.at+1, double)
}

func knownList() string {
	s := make([]string, len(Placeholders))
	for i, p := range Placeholders {
		s[i] = "{" + p + "}"
	}
	return strings.Join(s, ", ")
}

func isPlaceholder(name string) bool {
	for _, p := range Placeholders {
		if p == name {
			return true
		}
	}
	return false
}

// parseTemplate splits body into literal text and placeholders. "{{" and
// "}}" are literal braces; "{word}" is a placeholder, its name compared
// without case ({Name} is {name}); anything else with a brace is a fault.
// Render and Check share it, so a body Check passes always renders.
func parseTemplate(body string) ([]piece, []templateFault) {
	var (
		out    []piece
		faults []templateFault
		lit    strings.Builder
	)
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, piece{lit: lit.String()})
			lit.Reset()
		}
	}
	runeAt := func(i int) int { return utf8.RuneCountInString(body[:i]) }
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '{' && strings.HasPrefix(body[i:], "{{"):
			lit.WriteByte('{')
			i += 2
		case c == '}' && strings.HasPrefix(body[i:], "}}"):
			lit.WriteByte('}')
			i += 2
		case c == '}':
			faults = append(faults, templateFault{brace: "}", at: runeAt(i)})
			i++
		case c == '{':
			end := strings.IndexByte(body[i+1:], '}')
			open := strings.IndexByte(body[i+1:], '{')
			if end < 0 || (open >= 0 && open < end) {
				faults = append(faults, templateFault{brace: "{", at: runeAt(i)})
				i++
				continue
			}
			name := body[i+1 : i+1+end]
			if key := strings.ToLower(name); isPlaceholder(key) {
				flush()
				out = append(out, piece{ph: key})
			} else {
				shown := name
				if utf8.RuneCountInString(shown) > 30 {
					shown = string([]rune(shown)[:30]) + "…"
				}
				faults = append(faults, templateFault{unknown: "{" + strings.ToValidUTF8(shown, "?") + "}", at: runeAt(i)})
			}
			i += end + 2
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return out, faults
}

// Render fills body's placeholders from f. "{{" and "}}" give literal
// braces. A placeholder missing from f renders empty (provider and location
// are optional); values are put in as they are, never expanded again, with
// runs of white space (a line break inside a CSV cell) made one space and
// invalid UTF-8 replaced, so a value cannot add lines or break the text.
// An unknown placeholder or a lone brace is an error wrapping ErrTemplate
// that names it; nothing is rendered then.
func Render(body string, f Fields) (string, error) {
	pieces, faults := parseTemplate(body)
	if len(faults) > 0 {
		return "", fmt.Errorf("%w: %s", ErrTemplate, faults[0])
	}
	var b strings.Builder
	for _, p := range pieces {
		if p.ph == "" {
			b.WriteString(p.lit)
			continue
		}
		b.WriteString(cleanValue(f[p.ph]))
	}
	return b.String(), nil
}

// cleanValue is a field value as it goes into a text: valid UTF-8, white
// space runs (tabs, line breaks) one space, trimmed.
func cleanValue(v string) string {
	return strings.Join(strings.Fields(strings.ToValidUTF8(v, "\uFFFD")), " ")
}

// CheckOptions tunes Check and CheckText.
type CheckOptions struct {
	// ClinicalWords is the minimum-necessary word list (config
	// clinical_words); nil means DefaultClinicalWords(), an empty list
	// checks nothing.
	ClinicalWords []string
	// MaxParts is the configuration's max_parts; 0 means DefaultMaxParts.
	MaxParts int
	// Language is the template's language: the worst case uses its longest
	// {date} and {time}. "" takes the longest of every language.
	Language string
	// Clinic and ClinicPhone are the configured clinic_name and
	// clinic_phone that {clinic} and {phone} will carry; "" assumes the
	// worst case (MaxClinicLen, MaxPhoneLen characters).
	Clinic, ClinicPhone string
}

func (o CheckOptions) maxParts() int {
	if o.MaxParts <= 0 {
		return DefaultMaxParts
	}
	return o.MaxParts
}

func (o CheckOptions) clinicalWords() []string {
	if o.ClinicalWords == nil {
		return DefaultClinicalWords()
	}
	return o.ClinicalWords
}

// Check says what is wrong with a template body before it is saved. It is
// not OK (the service refuses the save) when the body is empty or not
// UTF-8, has an unknown placeholder or a lone brace, asks the patient to
// text an opt-out word for anything but opting out (see OptOutWords and
// the package doc), or is too long in its worst case: every placeholder at
// its longest allowed value and {name}, {provider} and {location} written
// in letters outside GSM-7, which makes the whole text UCS-2. Clinical
// words are a warning only (Clinical, and a sentence in Problems).
func Check(body string, o CheckOptions) ops.TemplateCheck {
	var c ops.TemplateCheck
	problem := func(format string, a ...any) { c.Problems = append(c.Problems, fmt.Sprintf(format, a...)) }
	if !utf8.ValidString(body) {
		problem("the template is not valid UTF-8 text; type it again or paste it as plain text")
		c.WorstCase = worstCount(body, o)
		return c
	}
	if strings.TrimSpace(body) == "" {
		problem("the template is empty; write the reminder's text")
	}
	pieces, faults := parseTemplate(body)
	seen := map[string]bool{}
	for _, f := range faults {
		if f.unknown != "" {
			if seen[f.unknown] {
				continue
			}
			seen[f.unknown] = true
			c.Unknown = append(c.Unknown, f.unknown)
		}
		problem("%s", f)
	}
	// The opt-out and clinical checks read the literal text only: a
	// placeholder stands for a value nobody writes into the template.
	var plain strings.Builder
	for _, p := range pieces {
		if p.ph != "" {
			plain.WriteString(" placeholder ") // a neutral word, no boundary
			continue
		}
		plain.WriteString(p.lit)
	}
	for _, a := range askedOptOuts(plain.String()) {
		if c.OptOutWord == "" {
			c.OptOutWord = a.word
		}
		problem("%s", a)
	}
	c.Clinical = CheckText(plain.String(), o)
	for _, w := range c.Clinical {
		problem("%q looks like clinical detail (a diagnosis, a test or a drug): a reminder should carry the minimum necessary, the date, time and place; this is a warning, the template can still be saved", w)
	}
	if at, r := pdu.FirstNonGSM7(plain.String()); at >= 0 {
		problem("the template's own text needs UCS-2 because of %q, so every reminder costs about twice the parts of one in GSM-7; write it without that character if it can be", string(r))
	}
	c.WorstCase = worstCount(body, o)
	if c.WorstCase.TooLong {
		problem("in the worst case (every placeholder at its longest allowed value, a name outside GSM-7) the text takes %d parts in %s, more than max_parts %d; shorten the template or raise max_parts",
			c.WorstCase.Parts, c.WorstCase.Encoding, c.WorstCase.MaxParts)
	}
	c.OK = utf8.ValidString(body) && strings.TrimSpace(body) != "" && len(faults) == 0 && c.OptOutWord == "" && !c.WorstCase.TooLong
	return c
}

// WorstCaseFields are the values Check fills a template with: each
// placeholder at its longest allowed value, the free-text ones (name,
// provider, location) in a letter outside GSM-7 so the text is UCS-2, and
// the longest {date} and {time} of lang ("" : of every language).
func WorstCaseFields(lang, clinic, phone string) Fields {
	nonGSM := func(n int) string { return strings.Repeat("Ł", n) }
	if clinic == "" {
		clinic = strings.Repeat("W", MaxClinicLen)
	}
	if phone == "" {
		phone = strings.Repeat("8", MaxPhoneLen)
	}
	date, tm := longestDateTime(lang)
	return Fields{
		"name":     nonGSM(MaxNameLen),
		"provider": nonGSM(MaxProviderLen),
		"location": nonGSM(MaxLocationLen),
		"clinic":   clinic,
		"phone":    phone,
		"date":     date,
		"time":     tm,
	}
}

// worstCount is the cost of body with WorstCaseFields, as the service's
// CountText reports a text (pdu.CountText: the modem's own rule).
func worstCount(body string, o CheckOptions) ops.TextCount {
	text, err := Render(body, WorstCaseFields(o.Language, o.Clinic, o.ClinicPhone))
	if err != nil {
		// Count what can be counted: the body as written.
		text = body
	}
	c := pdu.CountText(text)
	at, r := pdu.FirstNonGSM7(text)
	tc := ops.TextCount{Encoding: c.Encoding.String(), Chars: c.Chars, Parts: c.Parts, Remaining: c.Remaining,
		MaxParts: o.maxParts(), UCS2At: at}
	tc.TooLong = c.Parts > tc.MaxParts || len(text) > maxTextBytes
	if at >= 0 {
		tc.UCS2Char = string(r)
	}
	return tc
}

// longestDateTime is the longest {date} and {time} AppointmentFields gives
// in lang over a whole year (every weekday and month name), "" for every
// language.
func longestDateTime(lang string) (string, string) {
	if lang != ops.LangSpanish && lang != "" {
		lang = ops.LangEnglish // AppointmentFields formats any other language as English
	}
	v := longestDates()[lang]
	return v[0], v[1]
}

// longestDates is longestDateTime for "", "en" and "es", computed once.
var longestDates = sync.OnceValue(func() map[string][2]string {
	m := map[string][2]string{}
	for _, l := range []string{"", ops.LangEnglish, ops.LangSpanish} {
		d, t := computeLongestDateTime(l)
		m[l] = [2]string{d, t}
	}
	return m
})

func computeLongestDateTime(lang string) (string, string) {
	langs := []string{lang}
	if lang == "" {
		langs = []string{ops.LangEnglish, ops.LangSpanish}
	}
	var date, tm string
	longer := func(a, b string) bool { return utf8.RuneCountInString(a) > utf8.RuneCountInString(b) }
	for _, l := range langs {
		for d := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() == 2026; d = d.Add(37 * time.Hour) {
			ds, ts := formatDate(d, l), formatTime(d, l)
			if longer(ds, date) {
				date = ds
			}
			if longer(ts, tm) {
				tm = ts
			}
		}
	}
	return date, tm
}

// CheckText returns the clinical words (of o.ClinicalWords, or the
// default list) that text contains, each as the list spells it, in the
// list's order. A word matches as a whole word or phrase, also with a
// plural s or es, without case or accents ("cáncer" matches "Cancer"),
// except a word the list writes with capitals after its first letter (an
// acronym such as AIDS or PrEP), which matches only as written, so that
// "hearing aids" or "prep time" raise nothing. The send page shows them as
// a warning for free text.
func CheckText(text string, o CheckOptions) []string {
	tw := words(text)
	folded := make([]string, len(tw))
	for i, w := range tw {
		folded[i] = foldString(w)
	}
	var found []string
	for _, w := range o.clinicalWords() {
		ww := words(w)
		if len(ww) == 0 {
			continue
		}
		exact := false
		for _, r := range []rune(w)[1:] {
			exact = exact || unicode.IsUpper(r)
		}
		if exact && containsPhrase(tw, ww) || !exact && containsPhrase(folded, foldAll(ww)) {
			found = append(found, w)
		}
	}
	return found
}

func foldAll(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = foldString(w)
	}
	return out
}

// containsPhrase reports whether the word sequence phrase occurs in tw; the
// last word may carry a plural s or es.
func containsPhrase(tw, phrase []string) bool {
	for i := 0; i+len(phrase) <= len(tw); i++ {
		ok := true
		for j, p := range phrase {
			w := tw[i+j]
			if w == p {
				continue
			}
			if j == len(phrase)-1 && len(w) > len(p) && w[:len(p)] == p {
				if suffix := strings.ToLower(w[len(p):]); suffix == "s" || suffix == "es" {
					continue
				}
			}
			ok = false
			break
		}
		if ok {
			return true
		}
	}
	return false
}

// DefaultClinicalWords is the built-in minimum-necessary list, in English
// and Spanish: diagnoses, tests and drugs whose mention in a text a phone's
// lock screen would show to anyone nearby. A fresh copy each call.
func DefaultClinicalWords() []string {
	return []string{
		// Conditions and diagnoses.
		"HIV", "AIDS", "STD", "STI", "chlamydia", "gonorrhea", "syphilis", "herpes", "HPV", "hepatitis",
		"cancer", "tumor", "tumour", "oncology", "leukemia", "lymphoma", "diabetes", "diabetic",
		"depression", "anxiety", "bipolar", "schizophrenia", "psychiatric", "psychiatry", "mental health",
		"dementia", "Alzheimer", "addiction", "substance use", "overdose", "pregnancy", "pregnant",
		"miscarriage", "abortion", "infertility", "IVF", "dialysis", "tuberculosis", "epilepsy",
		// Tests and procedures.
		"HIV test", "biopsy", "pap smear", "mammogram", "colonoscopy", "chemotherapy", "chemo",
		"radiation therapy", "radiotherapy", "ultrasound", "MRI", "blood test", "lab results",
		"test results", "STD test", "pregnancy test", "vasectomy",
		// Drugs.
		"metformin", "insulin", "methadone", "suboxone", "buprenorphine", "naloxone", "naltrexone",
		"opioid", "PrEP", "antiretroviral", "antidepressant", "lithium", "oxycodone", "fentanyl",
		"testosterone", "estrogen",
		// Spanish.
		"VIH", "SIDA", "ETS", "cáncer", "quimioterapia", "radioterapia", "biopsia",
		"embarazo", "embarazada", "aborto", "diálisis", "depresión", "ansiedad", "salud mental",
		"metformina", "insulina", "metadona", "prueba de VIH", "mamografía", "colonoscopia",
		"resultados de laboratorio", "análisis de sangre",
	}
}

// OptOutWords are the words that, as a whole reply, opt a patient out: the
// CTIA list US carriers enforce (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END,
// QUIT) and what the FCC's revocation rule, 47 CFR 64.1200(a)(10) (2025),
// adds (REVOKE, OPT OUT, also written OPTOUT or OPT-OUT). It is the list
// dispatch.ParseKeyword acts on; a test compares the two.
var OptOutWords = []string{"STOP", "QUIT", "END", "REVOKE", "OPT OUT", "OPTOUT", "OPT-OUT", "CANCEL", "UNSUBSCRIBE", "STOPALL"}

// spanishOptOut are Spanish replies a patient could fairly mean as "stop"
// (the FCC rule honours "any reasonable means"): dispatch does not act on
// them, but a template must not ask for one either, say to cancel a visit.
var spanishOptOut = []string{"CANCELAR", "PARAR", "ALTO", "BAJA", "DETENER"}

// plainOptOut are the words whose plain meaning is "no more messages", so
// asking for one without saying what for ("Reply STOP.") is fine; CANCEL,
// QUIT, END and the Spanish ones could be read as "cancel my visit" and must
// say "to opt out".
var plainOptOut = map[string]bool{"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "REVOKE": true,
	"OPT OUT": true, "OPTOUT": true, "OPT-OUT": true, "BAJA": true}

// replyVerbs ask the patient to send something back.
var replyVerbs = setOf("REPLY", "RESPOND", "TEXT", "TXT", "SEND", "ANSWER", "TYPE", "WRITE", "ENTER", "SMS",
	"RESPONDA", "RESPONDE", "RESPONDER", "CONTESTE", "CONTESTA", "ENVIE", "ENVIA", "ENVIAR", "ESCRIBA", "ESCRIBE", "MANDE", "MANDA")

// verbFillers may stand between a reply verb and the word asked for:
// "reply with the word STOP", "text us STOP", "responda con la palabra BAJA".
var verbFillers = setOf("WITH", "THE", "WORD", "KEYWORD", "BACK", "JUST", "SIMPLY", "ONLY", "US", "CON", "LA", "PALABRA", "SOLO", "NOS")

// messageWords end an opt-out purpose: "to stop (receiving) messages",
// "para no recibir mensajes".
var messageWords = setOf("MESSAGES", "MESSAGE", "TEXTS", "TEXT", "REMINDERS", "REMINDER", "SMS", "ALERTS", "NOTIFICATIONS",
	"SUBSCRIPTION", "MENSAJES", "MENSAJE", "RECORDATORIOS", "TEXTOS", "ALERTAS", "SUSCRIPCION", "NOTIFICACIONES")

// purposeFillers may stand before a message word: "to stop all future
// messages", "para cancelar la suscripcion".
var purposeFillers = setOf("ALL", "THESE", "THE", "OUR", "FUTURE", "MORE", "RECEIVING", "GETTING", "ANY", "OF", "FROM", "US",
	"LOS", "LAS", "LA", "EL", "ESTOS", "ESTAS", "MAS", "RECIBIR", "FUTUROS", "DE", "NUESTROS")

func setOf(ws ...string) map[string]bool {
	m := make(map[string]bool, len(ws))
	for _, w := range ws {
		m[w] = true
	}
	return m
}

// token is a word of a template's text for the opt-out check, or a
// sentence boundary (end).
type token struct {
	w      string // folded
	caps   bool   // written in capitals, two letters or more
	quoted bool   // a quote mark right before it
	comma  bool   // a comma right before it
	end    bool
}

func isQuote(r rune) bool { return strings.ContainsRune("\"'“”‘’«»`", r) }

func tokenize(s string) []token {
	var out []token
	rs := []rune(s)
	var quoted, comma bool
	for i := 0; i < len(rs); {
		r := rs[i]
		if !isWordRune(r) {
			switch {
			case strings.ContainsRune(".!?;:\n", r):
				out = append(out, token{end: true})
				quoted, comma = false, false
			case isQuote(r):
				quoted = true
			case r == ',':
				comma = true
			case !unicode.IsSpace(r):
				quoted = false
			}
			i++
			continue
		}
		j := i
		for j < len(rs) && (isWordRune(rs[j]) || ((rs[j] == '-' || rs[j] == '\'') && j+1 < len(rs) && isWordRune(rs[j+1]))) {
			j++
		}
		w := string(rs[i:j])
		letters, upper := 0, 0
		for _, c := range w {
			if unicode.IsLetter(c) {
				letters++
				if unicode.IsUpper(c) {
					upper++
				}
			}
		}
		out = append(out, token{w: foldString(w), caps: letters >= 2 && upper == letters, quoted: quoted, comma: comma})
		quoted, comma = false, false
		i = j
	}
	return out
}

// askedOptOut is an opt-out word a template asks the patient to text for a
// purpose other than opting out.
type askedOptOut struct {
	word    string // as in OptOutWords
	purpose string // the folded purpose ("TO CANCEL"), "" when none was said
}

func (a askedOptOut) String() string {
	what := "without saying it opts out"
	if a.purpose != "" {
		what = strings.ToLower(a.purpose)
	}
	return fmt.Sprintf("it asks the patient to text %s %s, but %s is an opt-out word (47 CFR 64.1200(a)(10)): that reply opts the patient out of every message; ask for another reply for the visit (e.g. \"Reply R to reschedule\") and keep %s for \"Reply STOP to opt out\"",
		a.word, what, a.word, "STOP")
}

// askedOptOuts finds each opt-out word the text asks the patient to send
// (after a reply verb, in capitals, in quotes, or listed as "..., CANCEL to
// ...") for anything but opting out. See the package doc for the rule.
func askedOptOuts(text string) []askedOptOut {
	toks := tokenize(text)
	// A template written all in capitals gives no signal by its capitals.
	letters, upper := 0, 0
	for _, r := range text {
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	capsSignal := upper*2 < letters
	var out []askedOptOut
	for i := 0; i < len(toks); i++ {
		word, n := optOutAt(toks, i)
		if word == "" {
			continue
		}
		t := toks[i]
		afterVerb := precededByVerb(toks, i)
		listed := (t.comma || (i > 0 && (toks[i-1].w == "OR" || toks[i-1].w == "O" || toks[i-1].w == "AND" || toks[i-1].w == "Y"))) &&
			isTo(toks, i+n) && verbEarlier(toks, i)
		if !afterVerb && !(capsSignal && t.caps) && !t.quoted && !listed {
			continue
		}
		kind, purpose, m := purposeAfter(toks, i+n)
		if kind == purposeNone {
			kind, purpose = purposeBefore(toks, i)
		}
		switch {
		case kind == purposeOptOut:
			i += n - 1 + m
			continue
		case kind == purposeNone && plainOptOut[word]:
			i += n - 1
			continue
		}
		out = append(out, askedOptOut{word: word, purpose: purpose})
		i += n - 1 + m
	}
	return out
}

// optOutAt is the opt-out word starting at toks[i] ("OPT OUT" takes two
// tokens), or "".
func optOutAt(toks []token, i int) (string, int) {
	t := toks[i]
	if t.end {
		return "", 0
	}
	if t.w == "OPT" && i+1 < len(toks) && toks[i+1].w == "OUT" {
		return "OPT OUT", 2
	}
	for _, w := range OptOutWords {
		if t.w == w {
			return w, 1
		}
	}
	for _, w := range spanishOptOut {
		if t.w == w {
			return w, 1
		}
	}
	return "", 0
}

func precededByVerb(toks []token, i int) bool {
	for j := i - 1; j >= 0; j-- {
		switch {
		case toks[j].end:
			return false
		case replyVerbs[toks[j].w]:
			return true
		case verbFillers[toks[j].w]:
			continue
		}
		return false
	}
	return false
}

func verbEarlier(toks []token, i int) bool {
	for j := i - 1; j >= 0 && !toks[j].end; j-- {
		if replyVerbs[toks[j].w] {
			return true
		}
	}
	return false
}

func isTo(toks []token, i int) bool {
	return i < len(toks) && !toks[i].end && (toks[i].w == "TO" || toks[i].w == "PARA")
}

const (
	purposeNone = iota
	purposeOptOut
	purposeOther
)

// purposeAfter reads "to ..." / "para ..." at toks[i]: its kind, the folded
// words, and how many tokens it spans.
func purposeAfter(toks []token, i int) (int, string, int) {
	if !isTo(toks, i) {
		return purposeNone, "", 0
	}
	j := i + 1
	var clause []string
	for ; j < len(toks) && !toks[j].end && len(clause) < 6; j++ {
		clause = append(clause, toks[j].w)
	}
	return classifyPurpose(clause), strings.Join(append([]string{toks[i].w}, clause...), " "), j - i
}

// purposeLead may open a sentence before its purpose: "If you want to ...",
// "Si desea ...".
var purposeLead = setOf("IF", "YOU", "WANT", "WISH", "NEED", "WOULD", "LIKE", "SI", "DESEA", "QUIERE", "NECESITA", "USTED")

// purposeBefore reads a purpose that opens the sentence of toks[i]: "To
// cancel your visit, reply CANCEL", "If you want to opt out, text QUIT".
func purposeBefore(toks []token, i int) (int, string) {
	s := i
	for s > 0 && !toks[s-1].end {
		s--
	}
	for s < i && purposeLead[toks[s].w] {
		s++
	}
	if s >= i || !isTo(toks, s) {
		return purposeNone, ""
	}
	var clause []string
	for j := s + 1; j < i && len(clause) < 6; j++ {
		if replyVerbs[toks[j].w] {
			break
		}
		clause = append(clause, toks[j].w)
	}
	return classifyPurpose(clause), strings.Join(append([]string{toks[s].w}, clause...), " ")
}

// classifyPurpose says whether a "to ..." clause means opting out of
// messages ("opt out", "unsubscribe", "stop receiving texts", "darse de
// baja", "cancelar la suscripcion") or something else ("cancel", "cancel
// your appointment", "decline").
func classifyPurpose(c []string) int {
	if len(c) == 0 {
		return purposeOther
	}
	has := func(ws ...string) bool {
		if len(c) < len(ws) {
			return false
		}
		for k, w := range ws {
			if c[k] != w {
				return false
			}
		}
		return true
	}
	switch {
	case has("OPT", "OUT"), has("OPT-OUT"), has("OPTOUT"), has("UNSUBSCRIBE"), has("UNSUB"), has("REVOKE"),
		has("WITHDRAW", "CONSENT"), has("BE", "REMOVED"), has("NO", "LONGER", "RECEIVE"), has("NOT", "RECEIVE"),
		has("DARSE", "DE", "BAJA"), has("DARTE", "DE", "BAJA"), has("DAR", "DE", "BAJA"), has("BAJA"),
		has("NO", "RECIBIR"), has("DEJAR", "DE", "RECIBIR"):
		return purposeOptOut
	}
	// "to stop", "to stop receiving these texts", "para cancelar la
	// suscripcion": a stopping verb, alone or about the messages. "to
	// cancel" alone reads as cancelling the visit.
	switch c[0] {
	case "STOP", "QUIT", "END", "CANCEL", "CANCELAR", "PARAR", "DETENER":
		rest := c[1:]
		for len(rest) > 0 && purposeFillers[rest[0]] {
			rest = rest[1:]
		}
		if len(rest) > 0 && messageWords[rest[0]] {
			return purposeOptOut
		}
		if len(c) == 1 && c[0] != "CANCEL" && c[0] != "CANCELAR" {
			return purposeOptOut
		}
	}
	return purposeOther
}

// AppointmentFields are the placeholders' values for an appointment's
// reminder: {date} and {time} in loc (nil: UTC) and a.Language (en:
// "Thu Dec 3", "3:00 PM"; es: "jue 3 dic", "15:00"; anything else is
// English), {clinic} and {phone} as configured.
func AppointmentFields(a ops.Appointment, clinic, phone string, loc *time.Location) Fields {
	if loc == nil {
		loc = time.UTC
	}
	at := a.At.In(loc)
	return Fields{
		"name":     a.Name,
		"date":     formatDate(at, a.Language),
		"time":     formatTime(at, a.Language),
		"provider": a.Provider,
		"location": a.Location,
		"clinic":   clinic,
		"phone":    phone,
	}
}

// Spanish abbreviations as Spanish calendars write them, except sábado:
// "sab" without its accent, because á is not in GSM-7 and would make every
// Saturday reminder UCS-2 (twice the parts). é (mié) is in GSM-7.
var (
	esDays   = [...]string{"dom", "lun", "mar", "mié", "jue", "vie", "sab"}
	esMonths = [...]string{"ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"}
)

func formatDate(t time.Time, lang string) string {
	if lang == ops.LangSpanish {
		return fmt.Sprintf("%s %d %s", esDays[t.Weekday()], t.Day(), esMonths[t.Month()-1])
	}
	return t.Format("Mon Jan 2")
}

func formatTime(t time.Time, lang string) string {
	if lang == ops.LangSpanish {
		return t.Format("15:04")
	}
	return t.Format("3:04 PM")
}

// DefaultTemplates are the templates a new store starts with: a reminder in
// English and in Spanish (Reminder true, used by the plan), and a "call us
// to reschedule" answer in each. Their text is GSM-7 (a GSM-7 name keeps a
// reminder at 1–2 parts; the worst case with a UCS-2 name of MaxNameLen is
// within DefaultMaxParts), asks for C or R, and says how to opt out with
// STOP, never CANCEL.
func DefaultTemplates() []ops.Template {
	ts := []ops.Template{
		{Name: "Reminder", Language: ops.LangEnglish, Reminder: true,
			Body: "Hi {name}, a reminder of your appointment at {clinic} on {date} at {time}. Reply C to confirm or R to reschedule. Reply STOP to opt out."},
		{Name: "Recordatorio", Language: ops.LangSpanish, Reminder: true,
			Body: "Hola {name}, le recordamos su cita en {clinic} el {date} a las {time}. Responda C para confirmar o R para cambiar la cita. Responda STOP para no recibir mensajes."},
		{Name: "Call to reschedule", Language: ops.LangEnglish,
			Body: "Thank you, {name}. Please call {clinic} at {phone} to choose a new time."},
		{Name: "Llamar para cambiar la cita", Language: ops.LangSpanish,
			Body: "Gracias, {name}. Llame a {clinic} al {phone} para elegir otra fecha."},
	}
	for i := range ts {
		ts[i].Check = Check(ts[i].Body, CheckOptions{Language: ts[i].Language})
	}
	return ts
}
