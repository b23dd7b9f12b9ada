package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/ops"
)

// TestGoldenAppointmentAdd runs smsd appointment add as a person would (no
// daemon: the command opens the store directly), on a UTC clinic clock
// with appointments in 2099, and compares what each case printed and its
// exit status with testdata/cli/appointment/add_*: the appointment with
// its two planned reminders and the number masked, the JSON form, and
// every kind of bad input refused with a sentence and nothing created.
// Then the day's list holds exactly the appointments added, with what the
// flags and standard input said.
func TestGoldenAppointmentAdd(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	conf := filepath.Join(dir, "smsd.toml")
	if err := os.WriteFile(conf, []byte("timezone = \"UTC\"\nclinic_name = \"Example Clinic\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	scrub := func(s string) string {
		s = strings.ReplaceAll(s, dir, "$TMP")
		s = strings.ReplaceAll(s, daemon.Shell().String(), "unix:$USER")
		s = createdTimes.ReplaceAllString(s, "created:     $$TIME")
		return jsonCreated.ReplaceAllString(s, `"created_at": "$$TIME"`)
	}
	d := []string{"-config", conf, "-data-dir", data}
	with := func(args ...string) []string { return append(append([]string{"appointment", "add"}, args...), d...) }
	if _, errs, code := run(t, "", "init", "-config", conf, "-data-dir", data); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	const ida, ivo = "Ida Núñez", "Ivo Quill"
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		stdin string
	}{
		{"add_help", []string{"appointment", "add", "-h"}, 0, ""},
		{"add_without_at", with(), 2, "+12025550150\n" + ida + "\n"},
		{"add_bad_at", with("-at", "tomorrow"), 2, "+12025550150\n" + ida + "\n"},
		{"add_no_stdin", with("-at", "2099-03-10T15:00"), 2, ""},
		{"add_no_name", with("-at", "2099-03-10T15:00"), 2, "+12025550150\n"},
		{"add_empty_number", with("-at", "2099-03-10T15:00"), 2, "\n" + ida + "\n"},
		{"add_two_patients", with("-at", "2099-03-10T15:00"), 2, "+12025550150\n" + ida + "\n+12025550151\n" + ivo + "\n"},
		{"add_number_on_command_line", with("-at", "2099-03-10T15:00", "+12025550150"), 2, ""},
		{"add_bad_number", with("-at", "2099-03-10T15:00"), 1, "555\n" + ida + "\n"},
		{"add_past", with("-at", "2020-01-02T09:00"), 1, "+12025550150\n" + ida + "\n"},
		{"add_bad_language", with("-at", "2099-03-10T15:00", "-language", "fr"), 1, "+12025550150\n" + ida + "\n"},
		{"add", with("-at", "2099-03-10T15:00", "-provider", "Dr. Kim", "-location", "Main St", "-language", "es"), 0, "(202) 555-0150\r\n" + ida + "\r\n"},
		{"add_json", with("-at", "2099-03-10T16:30:00+01:00", "-json"), 0, "+12025550151\n  " + ivo + "  \n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := run(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			for _, phi := range []string{"2025550150", "2025550151"} {
				if strings.Contains(out+errs, phi) {
					t.Errorf("the full number %s is printed:\n%s%s", phi, out, errs)
				}
			}
			if tc.code != 0 && strings.Contains(out+errs, "Ida") {
				t.Errorf("a refusal repeats the patient's name:\n%s%s", out, errs)
			}
			golden(t, "cli/appointment/"+tc.name, scrub(fmt.Sprintf("exit %d\nstdout:\n%sstderr:\n%s", code, out, errs)))
		})
	}
	// What was created, read back through another command: the two good
	// ones, each with its own fields, nothing of the refused ones.
	out, errs, code := run(t, "", "appointments", "-date", "2099-03-10", "-json", "-config", conf, "-data-dir", data)
	if code != 0 {
		t.Fatalf("appointments: %d %s", code, errs)
	}
	var as []ops.Appointment
	if err := json.Unmarshal([]byte(out), &as); err != nil {
		t.Fatalf("appointments -json: %v\n%s", err, out)
	}
	if len(as) != 2 {
		t.Fatalf("%d appointments on 2099-03-10, want the 2 added: %s", len(as), out)
	}
	want := []struct {
		name, provider, location, lang string
		at                             time.Time
	}{
		{ida, "Dr. Kim", "Main St", ops.LangSpanish, time.Date(2099, 3, 10, 15, 0, 0, 0, time.UTC)},
		{ivo, "", "", ops.LangEnglish, time.Date(2099, 3, 10, 15, 30, 0, 0, time.UTC)},
	}
	for i, w := range want {
		a := as[i]
		if a.Name != w.name || a.Provider != w.provider || a.Location != w.location || a.Language != w.lang || !a.At.Equal(w.at) {
			t.Errorf("appointment %d: %+v, want %+v", i+1, a, w)
		}
		if len(a.Reminders) != 2 || a.Reminders[0].Skipped != "" || a.Reminders[1].Skipped != "" {
			t.Errorf("appointment %d: reminders %+v, want two planned", i+1, a.Reminders)
		}
	}
}

// TestReadPatient: the number on the first line, the name on the second,
// whatever the line ends; anything else refused with what to do.
func TestReadPatient(t *testing.T) {
	for _, tc := range []struct {
		in, number, name, err string
	}{
		{"+15551234567\nAna Lopez\n", "+15551234567", "Ana Lopez", ""},
		{"+15551234567\r\nAna Lopez\r\n", "+15551234567", "Ana Lopez", ""},
		{" +15551234567 \n  Ana Lopez  ", "+15551234567", "Ana Lopez", ""},
		{"+15551234567\nAna Lopez\n\n\n", "+15551234567", "Ana Lopez", ""},
		{"", "", "", "no patient"},
		{"\n\n", "", "", "no patient"},
		{"+15551234567\n", "", "", "no name"},
		{"+15551234567\n \nAna\n", "", "", "no name"},
		{"\nAna Lopez\n", "", "", "first line of standard input is empty"},
		{"+15551234567\nAna\n+15551234568\nBen\n", "", "", "has 4 lines"},
		{strings.Repeat("x", maxPatientInput+1), "", "", "more than 4 KiB"},
	} {
		number, name, err := readPatient(strings.NewReader(tc.in))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("readPatient(%q): %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("readPatient(%q): error %v, want one saying %q", tc.in, err, tc.err)
		case number != tc.number || name != tc.name:
			t.Errorf("readPatient(%q) = %q, %q; want %q, %q", tc.in, number, name, tc.number, tc.name)
		}
	}
}

// FuzzReadPatient: whatever standard input holds, readPatient refuses it
// or gives a number and a name that are each one trimmed, non-empty line
// of it, and never echoes the input in its error (it may be PHI).
func FuzzReadPatient(f *testing.F) {
	for _, s := range []string{"+15551234567\nAna Lopez\n", "\r\n\r\n", "+1\r\nA\r\nB", "\xff\nÉ\n", "a\rb\nc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		number, name, err := readPatient(strings.NewReader(in))
		if err != nil {
			if number != "" || name != "" {
				t.Fatalf("an error and a patient: %q %q %v", number, name, err)
			}
			if len(in) > 8 && strings.Contains(err.Error(), in) {
				t.Fatalf("the error repeats the input: %v", err)
			}
			return
		}
		for _, v := range []string{number, name} {
			if v == "" || v != strings.TrimSpace(v) || strings.ContainsAny(v, "\n") {
				t.Fatalf("readPatient(%q) = %q, %q", in, number, name)
			}
		}
		if !strings.Contains(in, number) || !strings.Contains(in, name) {
			t.Fatalf("readPatient(%q) = %q, %q: not from the input", in, number, name)
		}
	})
}

// TestParseWhen: an appointment's -at on the clinic's clock, in RFC 3339,
// or as a delay from now; a delay that is not ahead is refused.
func TestParseWhen(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{"2026-12-03T15:00", time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC), ""},
		{"2026-12-03 15:00", time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC), ""},
		{"2026-12-03T15:00:00-08:00", time.Date(2026, 12, 3, 23, 0, 0, 0, time.UTC), ""},
		{"2h", now.Add(2 * time.Hour), ""},
		{"90m", now.Add(90 * time.Minute), ""},
		{"-2h", time.Time{}, "not in the future"},
		{"0s", time.Time{}, "not in the future"},
		{"", time.Time{}, "-at is required"},
		{"03/12/2026", time.Time{}, "is not a time"},
	} {
		got, err := parseWhen(tc.in, ny, now)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("parseWhen(%q): %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseWhen(%q): error %v, want one saying %q", tc.in, err, tc.err)
		case tc.err == "" && !got.Equal(tc.want):
			t.Errorf("parseWhen(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// jsonCreated is when -json says the appointment was made.
var jsonCreated = regexp.MustCompile(`"created_at": "[^"]*"`)
