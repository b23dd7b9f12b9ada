package remind

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/clinicsms/smsd/modem/pdu"
	"github.com/clinicsms/smsd/ops"
)

func allFields() Fields {
	return Fields{"name": "Ana", "date": "Thu Dec 3", "time": "3:00 PM", "provider": "Dr Ruiz",
		"location": "Suite 2", "clinic": "Elm Clinic", "phone": "+1 555 010 0000"}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name, body string
		f          Fields
		want       string
		wantErr    string // "" for no error
	}{
		{"every_placeholder", "{name}|{date}|{time}|{provider}|{location}|{clinic}|{phone}", allFields(),
			"Ana|Thu Dec 3|3:00 PM|Dr Ruiz|Suite 2|Elm Clinic|+1 555 010 0000", ""},
		{"placeholder_case_insensitive", "Hi {Name} at {CLINIC}", allFields(), "Hi Ana at Elm Clinic", ""},
		{"literal_braces", "{{name}} is {name}, }} and {{", allFields(), "{name} is Ana, } and {", ""},
		{"triple_brace", "{{{name}}}", allFields(), "{Ana}", ""},
		{"missing_value_renders_empty", "with {provider}.", Fields{}, "with .", ""},
		{"value_not_expanded_again", "{name}", Fields{"name": "{clinic}"}, "{clinic}", ""},
		{"value_whitespace_collapsed", "[{name}]", Fields{"name": " Ana\r\n  María\t"}, "[Ana María]", ""},
		{"value_invalid_utf8_replaced", "{name}", Fields{"name": "A\xffB"}, "A\uFFFDB", ""},
		{"no_placeholders", "Plain text.", nil, "Plain text.", ""},
		{"unknown_placeholder", "Hi {nmae}", allFields(), "", "unknown placeholder {nmae}"},
		{"unknown_with_space", "Hi { name }", allFields(), "", "unknown placeholder { name }"},
		{"lone_open_brace", "Hi {name", allFields(), "", `lone "{"`},
		{"lone_close_brace", "Hi name}", allFields(), "", `lone "}"`},
		{"nested_open", "{na{name}", allFields(), "", `lone "{"`},
		{"empty_placeholder", "{}", allFields(), "", "unknown placeholder {}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.body, tt.f)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrTemplate) {
					t.Fatalf("Render(%q) = %q, %v; want an ErrTemplate saying %q", tt.body, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Render(%q) = %q, %v; want %q", tt.body, got, err, tt.want)
			}
		})
	}
}

func TestCheckOptOut(t *testing.T) {
	tests := []struct {
		name, body string
		word       string // the OptOutWord Check must report; "" = allowed
	}{
		{"reply_cancel_to_cancel", "Reply CANCEL to cancel", "CANCEL"},
		{"text_quit_to_cancel", "Text QUIT to cancel your visit.", "QUIT"},
		{"reply_stop_to_cancel_mixed_case", "reply Stop to cancel", "STOP"},
		{"reply_end_to_decline", "Reply END to decline.", "END"},
		{"revoke_to_cancel", "Reply REVOKE to cancel.", "REVOKE"},
		{"opt_out_two_words_to_cancel", "Reply OPT OUT to cancel your appointment", "OPT OUT"},
		{"unsubscribe_to_reschedule", "Reply UNSUBSCRIBE to reschedule", "UNSUBSCRIBE"},
		{"stopall_to_cancel", "Text STOPALL to cancel", "STOPALL"},
		{"optout_hyphen", "Send OPT-OUT to cancel", "OPT-OUT"},
		{"listed_after_or_caps", "Reply C to confirm or CANCEL to cancel.", "CANCEL"},
		{"listed_after_comma_lowercase", "reply c to confirm, cancel to cancel", "CANCEL"},
		{"quoted_lowercase", `Reply "cancel" if you cannot come`, "CANCEL"},
		{"with_the_word", "Reply with the word cancel to cancel", "CANCEL"},
		{"purpose_opens_sentence", "To cancel your visit, reply STOP.", "STOP"},
		{"cancel_without_purpose", "Can't come? Reply CANCEL.", "CANCEL"},
		{"quit_without_purpose", "Reply QUIT.", "QUIT"},
		{"spanish_cancelar", "Responda CANCELAR para cancelar su cita.", "CANCELAR"},
		{"spanish_stop_para_cancelar", "Responda STOP para cancelar.", "STOP"},
		{"second_sentence_bad", "Reply STOP to opt out. Text CANCEL to cancel.", "CANCEL"},

		{"standard_stop_to_opt_out", "Reply STOP to opt out", ""},
		{"stop_to_opt_out_caps", "Reply STOP to OPT OUT.", ""},
		{"stop_to_unsubscribe", "Text STOP to unsubscribe", ""},
		{"quit_to_stop_receiving_texts", "Reply QUIT to stop receiving texts", ""},
		{"stop_to_cancel_reminders", "Reply STOP to cancel reminders", ""},
		{"stop_to_end_messages", "Reply STOP to end all messages.", ""},
		{"stop_alone", "Reply C to confirm. Reply STOP.", ""},
		{"stop_listed", "Reply C to confirm or STOP to opt out.", ""},
		{"opt_out_purpose_first", "To opt out, reply QUIT.", ""},
		{"spanish_stop_para_no_recibir", "Responda STOP para no recibir mensajes.", ""},
		{"spanish_baja", "Responda BAJA para darse de baja.", ""},
		{"cancel_as_verb", "Reply C to confirm, or call us to cancel.", ""},
		{"cancel_in_prose", "If you need to cancel, please call the front desk.", ""},
		{"end_in_prose", "Parking is at the end of the street.", ""},
		{"all_caps_template", "REPLY C TO CONFIRM. CALL TO CANCEL.", ""},
		{"stop_by", "Please stop by the front desk.", ""},
		{"placeholder_between", "Hi {name}, call {clinic} to cancel. Reply STOP to opt out.", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Check(tt.body, CheckOptions{})
			if c.OptOutWord != tt.word {
				t.Fatalf("Check(%q).OptOutWord = %q, want %q (problems: %v)", tt.body, c.OptOutWord, tt.word, c.Problems)
			}
			if c.OK != (tt.word == "") {
				t.Fatalf("Check(%q).OK = %v, want %v (problems: %v)", tt.body, c.OK, tt.word == "", c.Problems)
			}
			if tt.word != "" && !strings.Contains(strings.Join(c.Problems, "\n"), tt.word+" is an opt-out word") {
				t.Fatalf("problems %q do not explain the opt-out word", c.Problems)
			}
		})
	}
}

// Every opt-out word dispatch acts on is caught when a template asks for it
// to cancel.
func TestCheckEveryOptOutWord(t *testing.T) {
	for _, w := range OptOutWords {
		for _, body := range []string{"Reply " + w + " to cancel.", "Text " + strings.ToLower(w) + " to cancel your appointment."} {
			if c := Check(body, CheckOptions{}); c.OK || c.OptOutWord != w {
				t.Errorf("Check(%q) = OK %v, word %q; want refused for %s", body, c.OK, c.OptOutWord, w)
			}
		}
	}
}

func TestCheckPlaceholdersAndClinical(t *testing.T) {
	tests := []struct {
		name, body   string
		ok           bool
		unknown      []string
		clinical     []string
		problemsWant string
	}{
		{"unknown", "Hi {nmae}, see you {date} {nmae} {dat}", false, []string{"{nmae}", "{dat}"}, nil, "unknown placeholder {nmae}"},
		{"lone_brace", "Hi {name", false, nil, nil, `lone "{"`},
		{"empty", "  ", false, nil, nil, "empty"},
		{"invalid_utf8", "Hi \xff", false, nil, nil, "UTF-8"},
		{"hiv_test", "Your HIV test is on {date}.", true, nil, []string{"HIV", "HIV test"}, "clinical detail"},
		{"chemotherapy", "Chemotherapy session {date} at {time}", true, nil, []string{"chemotherapy"}, "clinical detail"},
		{"metformin_plural_case", "Bring your METFORMIN and insulins", true, nil, []string{"metformin", "insulin"}, "clinical detail"},
		{"spanish_accent_folded", "Su cita de quimioterapia y su prueba de VIH. Cancer.", true, nil, []string{"cancer", "VIH", "cáncer", "quimioterapia", "prueba de VIH"}, "clinical detail"},
		{"not_inside_words", "Bring your chemist receipt; shiv; achieve", true, nil, nil, ""},
		{"acronyms_only_in_capitals", "Bring your hearing aids; allow prep time; hiv", true, nil, nil, ""},
		{"acronym_plural", "Your STDs panel and AIDS clinic", true, nil, []string{"AIDS", "STD"}, "clinical detail"},
		{"placeholder_value_not_checked", "Hi {name}", true, nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Check(tt.body, CheckOptions{})
			if c.OK != tt.ok {
				t.Fatalf("OK = %v, want %v (%v)", c.OK, tt.ok, c.Problems)
			}
			if strings.Join(c.Unknown, ",") != strings.Join(tt.unknown, ",") {
				t.Errorf("Unknown = %v, want %v", c.Unknown, tt.unknown)
			}
			if strings.Join(c.Clinical, ",") != strings.Join(tt.clinical, ",") {
				t.Errorf("Clinical = %v, want %v", c.Clinical, tt.clinical)
			}
			if tt.problemsWant != "" && !strings.Contains(strings.Join(c.Problems, "\n"), tt.problemsWant) {
				t.Errorf("Problems %q do not say %q", c.Problems, tt.problemsWant)
			}
			if tt.problemsWant == "" && len(c.Problems) > 0 {
				t.Errorf("Problems %q, want none", c.Problems)
			}
		})
	}
}

func TestCheckTextConfiguredList(t *testing.T) {
	o := CheckOptions{ClinicalWords: []string{"wart removal", "Botox"}}
	got := CheckText("Your botox and WART removal at 3", o)
	if strings.Join(got, ",") != "wart removal,Botox" {
		t.Fatalf("CheckText = %v", got)
	}
	if got := CheckText("HIV test", CheckOptions{ClinicalWords: []string{}}); len(got) != 0 {
		t.Fatalf("an empty configured list checks nothing, got %v", got)
	}
}

// The worst case fills each placeholder at its longest allowed value, with
// a name outside GSM-7, and counts it as the modem will send it.
func TestCheckWorstCase(t *testing.T) {
	// 150 GSM-7 characters of text around {name}.
	filler := strings.Repeat("x", 150)
	tests := []struct {
		name      string
		body      string
		o         CheckOptions
		encoding  string
		parts     int
		tooLong   bool
		wantChars int
	}{
		// Only GSM-7 placeholders: stays GSM-7.
		{"gsm_only", "On {date} at {time}.", CheckOptions{Language: "en"}, "GSM-7", 1, false, 0},
		// A name makes it UCS-2: 150 + 60 = 210 units, 67 a part → 4 parts.
		{"name_forces_ucs2", filler + "{name}", CheckOptions{}, "UCS-2", 4, false, 150 + MaxNameLen},
		{"too_long_for_max_parts_3", filler + "{name}", CheckOptions{MaxParts: 3}, "UCS-2", 4, true, 150 + MaxNameLen},
		// The configured clinic name is used as it is.
		{"configured_clinic", "{clinic}", CheckOptions{Clinic: "Elm"}, "GSM-7", 1, false, 3},
		{"worst_clinic", "{clinic}", CheckOptions{}, "GSM-7", 1, false, MaxClinicLen},
		{"every_free_field", "{name}{provider}{location}", CheckOptions{MaxParts: 2}, "UCS-2", 3, true, MaxNameLen + MaxProviderLen + MaxLocationLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Check(tt.body, tt.o)
			w := c.WorstCase
			if w.Encoding != tt.encoding || w.Parts != tt.parts || w.TooLong != tt.tooLong {
				t.Fatalf("WorstCase = %+v, want %s %d parts too long %v", w, tt.encoding, tt.parts, tt.tooLong)
			}
			if tt.wantChars != 0 && w.Chars != tt.wantChars {
				t.Errorf("Chars = %d, want %d", w.Chars, tt.wantChars)
			}
			if c.OK == tt.tooLong {
				t.Errorf("OK = %v with TooLong %v: %v", c.OK, tt.tooLong, c.Problems)
			}
			if tt.tooLong && !strings.Contains(strings.Join(c.Problems, "\n"), "max_parts") {
				t.Errorf("problems %q do not say max_parts", c.Problems)
			}
			// The count is pdu's, on the rendered worst case.
			text, err := Render(tt.body, WorstCaseFields(tt.o.Language, tt.o.Clinic, tt.o.ClinicPhone))
			if err != nil {
				t.Fatal(err)
			}
			if p := pdu.CountText(text); p.Parts != w.Parts || p.Encoding.String() != w.Encoding {
				t.Errorf("pdu.CountText = %+v, WorstCase %+v", p, w)
			}
		})
	}
}

// The worst case really is the worst: no real appointment the import
// accepts renders longer than it.
func TestWorstCaseBoundsRealFill(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	for _, tpl := range DefaultTemplates() {
		worst := Check(tpl.Body, CheckOptions{Language: tpl.Language, Clinic: "Elm Clinic", ClinicPhone: "+1 555 010 0000"}).WorstCase
		for d := 0; d < 366; d += 5 {
			a := ops.Appointment{Name: strings.Repeat("Ż", MaxNameLen), Provider: strings.Repeat("é", MaxProviderLen),
				Location: strings.Repeat("ü", MaxLocationLen), Language: tpl.Language,
				At: time.Date(2026, 1, 1, 12, 59, 0, 0, ny).AddDate(0, 0, d)}
			text, err := Render(tpl.Body, AppointmentFields(a, "Elm Clinic", "+1 555 010 0000", ny))
			if err != nil {
				t.Fatal(err)
			}
			if c := pdu.CountText(text); c.Parts > worst.Parts {
				t.Fatalf("%s on %v: %d parts, worst case says %d", tpl.Name, a.At, c.Parts, worst.Parts)
			}
		}
	}
}

func TestDefaultTemplates(t *testing.T) {
	ts := DefaultTemplates()
	reminders := map[string]bool{}
	for _, tpl := range ts {
		c := Check(tpl.Body, CheckOptions{Language: tpl.Language})
		if !c.OK || len(c.Problems) > 0 {
			t.Errorf("%s (%s): %v", tpl.Name, tpl.Language, c.Problems)
		}
		if !tpl.Check.OK {
			t.Errorf("%s: its Check is not OK", tpl.Name)
		}
		if at, r := pdu.FirstNonGSM7(tpl.Body); at >= 0 {
			t.Errorf("%s: %q is not GSM-7", tpl.Name, r)
		}
		// With an ordinary GSM-7 name and clinic, a reminder is 1-2 parts.
		text, err := Render(tpl.Body, AppointmentFields(ops.Appointment{Name: "Maria Gonzalez", Language: tpl.Language,
			At: time.Date(2026, 12, 5, 15, 0, 0, 0, time.UTC)}, "Elm Street Family Clinic", "+1 555 010 0000", time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if c := pdu.CountText(text); c.Encoding != pdu.GSM7 || c.Parts > 2 {
			t.Errorf("%s: %q is %v in %d parts", tpl.Name, text, c.Encoding, c.Parts)
		}
		if tpl.Reminder {
			reminders[tpl.Language] = true
		}
	}
	if !reminders[ops.LangEnglish] || !reminders[ops.LangSpanish] {
		t.Errorf("reminder templates for %v, want en and es", reminders)
	}
}

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("time zone %s: %v (install tzdata)", name, err)
	}
	return loc
}

func TestAppointmentFields(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	mad := mustLoc(t, "Europe/Madrid")
	at := time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC) // 15:00 in New York, 21:00 in Madrid
	tests := []struct {
		lang       string
		loc        *time.Location
		date, time string
	}{
		{"en", ny, "Thu Dec 3", "3:00 PM"},
		{"", ny, "Thu Dec 3", "3:00 PM"},
		{"es", ny, "jue 3 dic", "15:00"},
		{"es", mad, "jue 3 dic", "21:00"},
		{"fr", ny, "Thu Dec 3", "3:00 PM"},
	}
	for _, tt := range tests {
		f := AppointmentFields(ops.Appointment{Name: "Ana", Provider: "Dr Ruiz", Location: "Suite 2", Language: tt.lang, At: at}, "Elm", "+15550100000", tt.loc)
		if f["date"] != tt.date || f["time"] != tt.time {
			t.Errorf("%s in %v: %q %q, want %q %q", tt.lang, tt.loc, f["date"], f["time"], tt.date, tt.time)
		}
		if f["name"] != "Ana" || f["provider"] != "Dr Ruiz" || f["location"] != "Suite 2" || f["clinic"] != "Elm" || f["phone"] != "+15550100000" {
			t.Errorf("fields %v", f)
		}
		for _, p := range Placeholders {
			if _, ok := f[p]; !ok {
				t.Errorf("no value for {%s}", p)
			}
		}
	}
	// Saturday in Spanish stays GSM-7.
	sat := AppointmentFields(ops.Appointment{Language: "es", At: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)}, "", "", time.UTC)
	if at, _ := pdu.FirstNonGSM7(sat["date"]); at >= 0 || sat["date"] != "sab 5 dic" {
		t.Errorf("Saturday in Spanish = %q", sat["date"])
	}
}

func FuzzRender(f *testing.F) {
	for _, s := range []string{"Hi {name}", "{{name}}", "{nmae}", "{", "}", "{{{", "{date}{time}{clinic}", "Reply STOP to opt out", "\xff{name}"} {
		f.Add(s, "Ana", "{name}")
	}
	f.Fuzz(func(t *testing.T, body, v1, v2 string) {
		fields := Fields{"name": v1, "provider": v2, "location": v1, "clinic": v2, "date": "d", "time": "t", "phone": "p"}
		out, err := Render(body, fields)
		c := Check(body, CheckOptions{})
		if c.OK && err != nil {
			t.Fatalf("Check says %q is OK but Render fails: %v", body, err)
		}
		if err != nil {
			if !errors.Is(err, ErrTemplate) {
				t.Fatalf("error %v does not wrap ErrTemplate", err)
			}
			return
		}
		// No known placeholder is left, unless the body wrote it with
		// literal braces or a value carries one.
		if !strings.Contains(body, "{{") && !strings.Contains(v1+v2, "{") {
			for _, p := range Placeholders {
				if strings.Contains(out, "{"+p+"}") {
					t.Fatalf("Render(%q) = %q leaves {%s}", body, out, p)
				}
			}
		}
		if utf8.ValidString(body) && !utf8.ValidString(out) {
			t.Fatalf("Render(%q) = %q is not UTF-8", body, out)
		}
	})
}

func FuzzCheck(f *testing.F) {
	for _, tpl := range DefaultTemplates() {
		f.Add(tpl.Body, 0)
	}
	for _, s := range []string{"Reply CANCEL to cancel", "To cancel, reply STOP", "REPLY STOP TO OPT OUT", "{nmae} {", "HIV test", "Reply OPT", "OPT OUT"} {
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, body string, maxParts int) {
		c := Check(body, CheckOptions{MaxParts: maxParts})
		if c.OK {
			if _, err := Render(body, WorstCaseFields("", "", "")); err != nil {
				t.Fatalf("OK but Render fails: %v", err)
			}
			if c.OptOutWord != "" || len(c.Unknown) > 0 || c.WorstCase.TooLong {
				t.Fatalf("OK with findings: %+v", c)
			}
		} else if len(c.Problems) == 0 {
			t.Fatalf("not OK and no problem said: %+v", c)
		}
		if c.WorstCase.Parts < 1 {
			t.Fatalf("worst case %+v", c.WorstCase)
		}
	})
}
