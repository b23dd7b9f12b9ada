package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/clinicsms/smsd/daemon"
)

// TestGoldenRemindCLI runs the reminder commands as a person would, in
// order on one data directory (no daemon: the commands open the store
// directly), and compares what each printed and its exit status with
// testdata/cli/<command>/<case>: the import preview table, the commit with
// its skipped rows, the same file again, the day's appointments, one
// appointment moved and cancelled, the templates and their check, the
// report; and every kind of bad input refused with a sentence. The
// appointments are in 2099 (always in the future) on a UTC clock, so the
// tables are stable.
func TestGoldenRemindCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	conf := filepath.Join(dir, "smsd.toml")
	if err := os.WriteFile(conf, []byte("timezone = \"UTC\"\nclinic_name = \"Example Clinic\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	day := write("day.csv", "Patient;Mobile;Date;Time;Doctor;Language\r\n"+
		"Ana López;(202) 555-0141;03/10/2099;10:00 AM;Dr. Kim;es\r\n"+
		"Ben Ode;202-555-0142;2099-03-10;11:30;Dr. Kim;en\r\n"+
		"Cy Bad;555;2099-03-10;09:00;;\r\n"+
		"Ed Past;202-555-0145;2020-01-02;09:00;;\r\n")
	other := write("other.csv", "Name,Cell Number,Visit Date,Visit Time\r\nGus Ray,202 555 0147,2099-03-10,14:00\r\n")
	empty := write("empty.csv", "")
	big := write("big.csv", "name,phone,date,time\r\n"+strings.Repeat("x", 10<<20))
	scrub := func(s string) string {
		s = strings.ReplaceAll(s, dir, "$TMP")
		s = strings.ReplaceAll(s, daemon.Shell().String(), "unix:$USER")
		// Only the times smsd records (created) change from run to run.
		return createdTimes.ReplaceAllString(s, "created:     $$TIME")
	}
	d := []string{"-config", conf, "-data-dir", data}
	with := func(args ...string) []string { return append(args, d...) }
	if _, errs, code := run(t, "", with("init")...); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	for _, tc := range []struct {
		cmd, name string
		args      []string
		code      int
		stdin     string
	}{
		{"import", "help", []string{"import", "-h"}, 0, ""},
		{"import", "no_file", with("import"), 2, ""},
		{"import", "two_files", with("import", day, other), 2, ""},
		{"import", "missing_file", with("import", filepath.Join(dir, "nothing.csv")), 1, ""},
		{"import", "empty_file", with("import", empty), 1, ""},
		{"import", "too_large", with("import", big), 1, ""},
		{"import", "bad_map", with("import", "-map", "phone", day), 2, ""},
		{"import", "map_unknown_field", with("import", "-map", "email=E-mail", day), 2, ""},
		{"import", "save_without_map", with("import", "-save-mapping", "pms", day), 2, ""},
		{"import", "preview", with("import", day), 0, ""},
		{"import", "unknown_columns", with("import", "-map", "phone=Handy", day), 1, ""},
		{"import", "commit", with("import", "-commit", day), 0, ""},
		{"import", "again", with("import", "-commit", day), 0, ""},
		{"import", "stdin_mapped", with("import", "-map", "phone=Cell Number", "-map", "date=Visit Date", "-map", "time=Visit Time", "-save-mapping", "pms", "-"), 0, "Name,Cell Number,Visit Date,Visit Time\r\nHal Roe,202 555 0148,2099-03-10,15:00\r\n"},
		{"import", "saved_mapping_commit", with("import", "-mapping", "pms", "-commit", other), 0, ""},
		{"appointments", "day", with("appointments", "-date", "2099-03-10"), 0, ""},
		{"appointments", "none", with("appointments", "-date", "2099-03-11"), 0, ""},
		{"appointments", "none_json", with("appointments", "-date", "2099-03-11", "-json"), 0, ""},
		{"appointments", "bad_date", with("appointments", "-date", "10/03/2099"), 2, ""},
		{"appointment", "help", []string{"appointment", "-h"}, 0, ""},
		{"appointment", "show", with("appointment", "show", "1"), 0, ""},
		{"appointment", "bad_id", with("appointment", "show", "first"), 2, ""},
		{"appointment", "unknown", with("appointment", "show", "99"), 1, ""},
		{"appointment", "move_without_at", with("appointment", "move", "2"), 2, ""},
		{"appointment", "move", with("appointment", "move", "2", "-at", "2099-03-12T09:30"), 0, ""},
		{"appointment", "cancel", with("appointment", "cancel", "2"), 0, ""},
		{"appointment", "cancel_again", with("appointment", "cancel", "2"), 1, ""},
		{"templates", "list", with("templates", "list"), 0, ""},
		{"templates", "check_ok", with("templates", "check"), 0, "Hi {name}, see you {date} at {time}. Reply C to confirm, STOP to opt out.\n"},
		{"templates", "check_cancel", with("templates", "check"), 1, "Reply CANCEL to cancel your visit on {date}.\n"},
		{"templates", "check_unknown", with("templates", "check", "-lang", "es"), 1, "Hola {nombre}\n"},
		{"templates", "check_empty", with("templates", "check"), 2, ""},
		{"templates", "save_without_name", with("templates", "save"), 2, "Hi {name}\n"},
		{"templates", "save", with("templates", "save", "-name", "Short", "-lang", "en"), 0, "Hi {name}, see you {date} at {time}. Reply C to confirm.\n"},
		{"templates", "save_refused", with("templates", "save", "-name", "Bad"), 1, "Text CANCEL to cancel.\n"},
		{"report", "day", with("report", "-date", "2099-03-08", "-days", "3"), 0, ""},
		{"report", "bad_days", with("report", "-days", "0"), 2, ""},
	} {
		t.Run(tc.cmd+"/"+tc.name, func(t *testing.T) {
			out, errs, code := run(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			golden(t, "cli/"+tc.cmd+"/"+tc.name, scrub(fmt.Sprintf("exit %d\nstdout:\n%sstderr:\n%s", code, out, errs)))
		})
	}
}

// createdTimes is the line of smsd appointment show that says when the
// appointment was made.
var createdTimes = regexp.MustCompile(`created:\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}`)
