package config

import (
	"strings"
	"testing"
)

// TestValidateReminders: the reminder keys as an admin writes them in
// smsd.toml, each refused with a sentence that names the key and what to
// write instead, or accepted.
func TestValidateReminders(t *testing.T) {
	for _, tc := range []struct {
		name, toml string
		want       []string // substrings of the error; none: valid
	}{
		{"defaults", ``, nil},
		{"plan and window", "reminder_plan = [\"72h\", \"24h\", \"90m\"]\nreminder_hours = \"09:00-19:30\"", nil},
		{"no window", `reminder_hours = ""`, nil},
		{"window past midnight", `reminder_hours = "22:00-06:00"`, nil},
		{"empty plan", `reminder_plan = []`, nil},
		{"own words", "confirm_words = [\"OK\", \"Sí\"]\nreschedule_words = [\"CHANGE\"]", nil},
		{"zero offset", `reminder_plan = ["48h", "0s"]`, []string{"reminder_plan", "entry 2", "positive"}},
		{"negative offset", `reminder_plan = ["-2h"]`, []string{"reminder_plan", "entry 1", "positive"}},
		{"bad window", `reminder_hours = "8 to 9"`, []string{"reminder_hours", "08:00-21:00"}},
		{"window without length", `reminder_hours = "08:00-08:00"`, []string{"reminder_hours"}},
		{"hour out of range", `reminder_hours = "08:00-25:00"`, []string{"reminder_hours"}},
		{"confirm CANCEL", `confirm_words = ["C", "CANCEL"]`, []string{"confirm_words", `"CANCEL" is an opt-out word`, "FCC"}},
		{"confirm stop with punctuation", `confirm_words = ["Stop!"]`, []string{"confirm_words", "opt-out word"}},
		{"reschedule opt out", `reschedule_words = ["opt  out"]`, []string{"reschedule_words", "opt-out word"}},
		{"reschedule END", `reschedule_words = ["end"]`, []string{"reschedule_words", "opt-out word"}},
		{"confirm REVOKE", `confirm_words = ["REVOKE"]`, []string{"opt-out word"}},
		{"confirm QUIT", `confirm_words = ["Quit."]`, []string{"opt-out word"}},
		{"confirm UNSUBSCRIBE", `confirm_words = ["unsubscribe"]`, []string{"opt-out word"}},
		{"confirm START", `confirm_words = ["START"]`, []string{"confirm_words", "opt-in word"}},
		{"reschedule HELP", `reschedule_words = ["HELP"]`, []string{"reschedule_words", "help keyword"}},
		{"no confirm words", `confirm_words = []`, []string{"confirm_words", "at least one word", "CONFIRM"}},
		{"empty word", `reschedule_words = ["R", " "]`, []string{"reschedule_words", "not a word"}},
		{"word in both", "confirm_words = [\"C\", \"OK\"]\nreschedule_words = [\"ok\"]", []string{"reschedule_words", `"ok" is in confirm_words too`}},
		{"empty clinical word", `clinical_words = ["diabetes", ""]`, []string{"clinical_words", "empty entry"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			err := Parse(&c, []byte(tc.toml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
