package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/crypt"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/queue"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// run runs a subcommand in-process and returns stdout, stderr, exit status.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	return runEnv(t, nil, stdin, args...)
}

// runEnv is run with environment variables.
func runEnv(t *testing.T, vars map[string]string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cmdEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	code := runMain(context.Background(), env, args)
	return out.String(), errb.String(), code
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update to accept):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

// Times in outputs change from run to run; goldens show where they are.
var (
	localTimes = regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?`)
	jsonTimes  = regexp.MustCompile(`"\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:\d{2})"`)
	pubKeys    = regexp.MustCompile(`RW[A-Za-z0-9+/]{50,}={0,2}`)
	hashes     = regexp.MustCompile(`[0-9a-f]{64}`)
	// fingerprints are certificate fingerprints as openssl shows them.
	fingerprints = regexp.MustCompile(`([0-9A-F]{2}:){31}[0-9A-F]{2}`)
	// setupCodes are the web UI's one-time setup codes smsd init prints.
	setupCodes = regexp.MustCompile(`\b[A-Z2-7]{4}(-[A-Z2-7]{4}){3}\b`)
	// recoveryCodes are the recovery codes smsd init and smsd key recovery print.
	recoveryCodes = regexp.MustCompile(`\b[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){6}\b`)
)

// TestGoldenCLI runs each command as a person would, in order on one data
// directory, and compares what it printed and its exit status with
// testdata/cli/<command>/<case>: the good paths, and every kind of bad
// input each command must refuse with a clear message.
func TestGoldenCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	scrub := func(s string) string {
		s = strings.ReplaceAll(s, dir, "$TMP")
		s = strings.ReplaceAll(s, daemon.Shell().String(), "unix:$USER")
		s = jsonTimes.ReplaceAllString(s, `"$$TIME"`)
		s = pubKeys.ReplaceAllString(s, "$$PUBKEY")
		s = hashes.ReplaceAllString(s, "$$HASH")
		s = fingerprints.ReplaceAllString(s, "$$FINGERPRINT")
		s = setupCodes.ReplaceAllString(s, "$$SETUPCODE")
		s = recoveryCodes.ReplaceAllString(s, "$$RECOVERYCODE")
		return localTimes.ReplaceAllString(s, "$$TIME")
	}
	d := []string{"-config", "/dev/null", "-data-dir", data}
	with := func(args ...string) []string { return append(args, d...) }
	long := strings.Repeat("Your appointment is confirmed. ", 30)[:919] // 919 GSM-7 characters: 7 parts
	var newKey string                                                   // the audit key smsd audit newkey made
	for _, tc := range []struct {
		cmd, name string
		args      []string
		code      int
		stdin     string
		env       map[string]string
	}{
		{"smsd", "help", []string{"help"}, 0, "", nil},
		{"smsd", "no_command", []string{}, 2, "", nil},
		{"smsd", "unknown_command", []string{"frobnicate"}, 2, "", nil},
		{"smsd", "help_send", []string{"help", "send"}, 0, "", nil},
		{"smsd", "help_unknown", []string{"help", "frobnicate"}, 2, "", nil},
		{"send", "no_args", with("send"), 2, "", nil},
		{"send", "only_to", with("send", "-to", "+15551234567"), 2, "text\n", nil},
		{"send", "stdin_no_text", with("send"), 2, "+15551234567\n", nil},
		{"send", "stdin_no_number", with("send"), 2, "\nSee you at 9\n", nil},
		{"send", "stray_argument", with("send", "+15551234567"), 2, "", nil},
		{"send", "help", []string{"send", "-h"}, 0, "", nil},
		{"send", "unknown_flag", with("send", "-frobnicate"), 2, "", nil},
		{"send", "bad_at", with("send", "-at", "tomorrowish"), 2, "+15551234567\nx\n", nil},
		{"send", "no_data_dir", with("send"), 1, "+15551234567\nx\n", nil},
		{"init", "init", with("init"), 0, "", nil},
		{"init", "again", with("init"), 1, "", nil},
		{"init", "stray_argument", with("init", "now"), 2, "", nil},
		{"send", "direct", with("send"), 0, "+1 (555) 123-4567\nHello {world} €\n", nil},
		{"send", "multiline_crlf", with("send"), 0, "+15551234567\r\nSee you at 9.\r\nReply C to confirm.\r\n", nil},
		{"send", "argv_warning", with("send", "-to", "+15551234567", "-text", "See you at 9"), 0, "", nil},
		{"send", "invalid_number", with("send"), 1, "555\nx\n", nil},
		{"send", "too_long", with("send"), 1, "+15551234567\n" + long, nil},
		{"send", "not_utf8", with("send"), 1, "+15551234567\ncaf\xe9 at 9\n", nil},
		{"send", "at_in_the_past", with("send", "-at", "2020-11-25T09:00"), 1, "+15551234567\nx\n", nil},
		{"send", "negative_delay", with("send", "-at", "-2h"), 2, "+15551234567\nx\n", nil},
		{"status", "not_running", with("status"), 3, "", nil},
		{"status", "data_dir_from_env", []string{"status", "-config", "/dev/null"}, 3, "", map[string]string{"SMSD_DATA_DIR": data}},
		{"status", "stray_argument", with("status", "now"), 2, "", nil},
		{"inbox", "empty", with("inbox"), 0, "", nil},
		{"inbox", "empty_json", with("inbox", "-json"), 0, "", nil},
		{"messages", "list", with("messages"), 0, "", nil},
		{"messages", "json", with("messages", "-json"), 0, "", nil},
		{"messages", "bad_state", with("messages", "-state", "lost"), 1, "", nil},
		{"messages", "bad_since", with("messages", "-since", "last week"), 2, "", nil},
		{"message", "no_action", with("message"), 2, "", nil},
		{"message", "help", []string{"message", "-h"}, 0, "", nil},
		{"message", "show_help", []string{"message", "show", "-h"}, 0, "", nil},
		{"message", "bad_id", with("message", "show", "first"), 2, "", nil},
		{"message", "missing_id", with("message", "cancel"), 2, "", nil},
		{"message", "show", with("message", "show", "1"), 0, "", nil},
		{"message", "show_unknown", with("message", "show", "99"), 1, "", nil},
		{"message", "dismiss_queued", with("message", "dismiss", "1"), 1, "", nil},
		{"message", "cancel", with("message", "cancel", "1"), 0, "", nil},
		{"message", "cancel_again", with("message", "cancel", "1"), 1, "", nil},
		{"message", "resend_cancelled", with("message", "resend", "1"), 1, "", nil},
		{"optouts", "list_empty", with("optouts", "list"), 0, "", nil},
		{"optouts", "add", with("optouts", "add", "-"), 0, "+15551234567\n", nil},
		{"optouts", "add_argv_warning", with("optouts", "add", "+15557654321"), 0, "", nil},
		{"optouts", "add_stdin_empty", with("optouts", "add", "-"), 2, "", nil},
		{"optouts", "add_bad_number", with("optouts", "add", "-"), 1, "555\n", nil},
		{"optouts", "list", with("optouts", "list"), 0, "", nil},
		{"optouts", "list_json", with("optouts", "list", "-json"), 0, "", nil},
		{"send", "opted_out", with("send"), 1, "+15551234567\nx\n", nil},
		{"optouts", "remove_without_reason", with("optouts", "remove", "-"), 1, "+15551234567\n", nil},
		{"optouts", "remove", with("optouts", "remove", "-", "-reason", "patient asked at the desk"), 0, "+15551234567\n", nil},
		{"optouts", "remove_help", []string{"optouts", "remove", "-h"}, 0, "", nil},
		{"user", "add_admin", with("user", "add", "-role", "admin", "alice", "-name", "Alice Admin"), 0, "a good long password\n", nil},
		{"user", "add_short_password", with("user", "add", "bob"), 1, "short\n", nil},
		{"user", "add_no_password", with("user", "add", "bob"), 1, "", nil},
		{"user", "add_bad_role", with("user", "add", "-role", "boss", "bob"), 1, "a good long password\n", nil},
		{"user", "add_taken", with("user", "add", "alice"), 1, "another long password\n", nil},
		{"user", "add_taken_other_case", with("user", "add", "ALICE"), 1, "another long password\n", nil},
		{"user", "add_bad_username", with("user", "add", "eve;rm -rf"), 1, "another long password\n", nil},
		{"user", "add_name_control", with("user", "add", "-name", "Eve\x1b[2J\nroot", "eve"), 1, "another long password\n", nil},
		{"user", "add_no_name", with("user", "add"), 2, "", nil},
		{"user", "add_help", []string{"user", "add", "-h"}, 0, "", nil},
		{"user", "list_help", []string{"user", "list", "-h"}, 0, "", nil},
		{"user", "help", []string{"user", "-h"}, 0, "", nil},
		{"user", "passwd", with("user", "passwd", "alice"), 0, "the new long password\n", nil},
		{"user", "disable_unknown", with("user", "disable", "mallory"), 1, "", nil},
		{"user", "disable", with("user", "disable", "alice"), 0, "", nil},
		{"user", "role", with("user", "role", "alice", "staff"), 0, "", nil},
		{"user", "role_unknown", with("user", "role", "alice", "boss"), 1, "", nil},
		{"user", "role_back", with("user", "role", "alice", "admin"), 0, "", nil},
		{"user", "role_missing", with("user", "role", "alice"), 2, "", nil},
		{"user", "unknown_action", []string{"user", "promote", "alice"}, 2, "", nil},
		{"user", "unknown_flag", with("user", "list", "-frobnicate"), 2, "", nil},
		{"key", "usage", []string{"key", "spin"}, 2, "", nil},
		{"key", "rotate", with("key", "rotate"), 0, "", nil},
		{"key", "unlock_not_running", with("key", "unlock"), 1, "secret\n", nil},
		{"key", "move_no_target", with("key", "move"), 2, "", nil},
		{"key", "move_bad_target", with("key", "move", "-to", "usb"), 2, "", nil},
		{"key", "move_relative_file", with("key", "move", "-to", "file:smsd.key"), 2, "", nil},
		{"key", "move_weak_passphrase", with("key", "move", "-to", "passphrase"), 1, "password\n", nil},
		{"key", "move_credential_outside_systemd", with("key", "move", "-to", "credential"), 1, "", map[string]string{"CREDENTIALS_DIRECTORY": ""}},
		{"key", "recovery", with("key", "recovery"), 0, "", nil},
		{"key", "wait_present", with("key", "wait"), 0, "", nil},
		{"serve", "bad_config", []string{"serve", "-config", filepath.Join(dir, "missing.toml")}, 1, "", nil},
		{"serve", "no_init", []string{"serve", "-config", "/dev/null", "-data-dir", filepath.Join(dir, "empty")}, 1, "", nil},
		{"serve", "bad_rate_limit", with("serve", "-rate-limit", "fast"), 2, "", nil},
		{"modem", "no_action", []string{"modem"}, 2, "", nil},
		{"modem", "probe_emulator", with("modem", "probe", "-device", "emulator"), 1, "", nil},
		{"version", "stray_argument", []string{"version", "now"}, 2, "", nil},
		{"doctor", "check", with("doctor"), 0, "", nil},
		{"doctor", "check_json", with("doctor", "check", "-json"), 0, "", nil},
		{"doctor", "dismiss_sound_message", with("doctor", "dismiss", "1"), 1, "", nil},
		{"doctor", "dismiss_bad_id", with("doctor", "dismiss", "first"), 2, "", nil},
		{"doctor", "accept_unknown_table", with("doctor", "accept", "patients"), 1, "", nil},
		{"doctor", "help", []string{"doctor", "-h"}, 0, "", nil},
		{"audit", "help", []string{"audit", "-h"}, 0, "", nil},
		{"audit", "export_no_out", with("audit", "export"), 2, "", nil},
		{"audit", "export", with("audit", "export", "-out", filepath.Join(dir, "audit.csv")), 0, "", nil},
		{"audit", "export_exists", with("audit", "export", "-out", filepath.Join(dir, "audit.csv")), 1, "", nil},
		{"audit", "verify", with("audit", "verify", filepath.Join(dir, "audit.csv")), 0, "", nil},
		{"audit", "verify_no_file", with("audit", "verify", filepath.Join(dir, "nothing.csv")), 1, "", nil},
		{"audit", "verify_bad_pubkey", with("audit", "verify", "-pubkey", "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3", filepath.Join(dir, "audit.csv")), 1, "", nil},
		{"audit", "check", with("audit", "check"), 0, "", nil},
		{"audit", "check_bad_head", with("audit", "check", "-head", "12:zz"), 1, "", nil},
		{"audit", "pubkey", with("audit", "pubkey"), 0, "", nil},
		{"audit", "newkey", with("audit", "newkey"), 0, "", nil},
		{"audit", "verify_after_newkey", with("audit", "verify", filepath.Join(dir, "audit.csv")), 0, "", nil},
		{"audit", "verify_only_new_key", with("audit", "verify", "-pubkey", "$NEWKEY", filepath.Join(dir, "audit.csv")), 1, "", nil},
		{"audit", "pubkey_all", with("audit", "pubkey", "-all"), 0, "", nil},
	} {
		t.Run(tc.cmd+"/"+tc.name, func(t *testing.T) {
			for i, a := range tc.args {
				if a == "$NEWKEY" {
					tc.args[i] = newKey
				}
			}
			out, errs, code := runEnv(t, tc.env, tc.stdin, tc.args...)
			if tc.cmd == "audit" && tc.name == "newkey" {
				newKey = pubKeys.FindString(out)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			if code == 2 && strings.Count(errs, "\n") > 0 && strings.Count(errs, strings.SplitN(errs, "\n", 2)[0]+"\n") > 1 {
				t.Errorf("the usage error is printed twice:\n%s", errs)
			}
			golden(t, "cli/"+tc.cmd+"/"+tc.name, scrub(fmt.Sprintf("exit %d\nstdout:\n%sstderr:\n%s", code, out, errs)))
		})
	}
	// The accounts the user commands left: alice, admin, disabled, with the
	// password from passwd (argon2id, never the text itself).
	s, err := queue.Open(context.Background(), filepath.Join(data, "smsd.db"), queue.KeySource{KeyFile: filepath.Join(data, "smsd.key")}, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	users, err := s.Users(context.Background())
	s.Close()
	if err != nil || len(users) != 1 {
		t.Fatalf("users after the user commands: %+v %v (want alice only)", users, err)
	}
	alice := users[0]
	if alice.Username != "alice" || alice.Role != queue.RoleAdmin || alice.Name != "Alice Admin" || !alice.Disabled {
		t.Errorf("alice is %+v, want admin, named, disabled", alice)
	}
	for pw, want := range map[string]bool{"the new long password": true, "a good long password": false} {
		if ok, err := crypt.VerifyPassword(alice.PasswordHash, pw); err != nil || ok != want {
			t.Errorf("password %q verifies %v (%v), want %v", pw, ok, err, want)
		}
	}
	out, _, code := run(t, "", "user", "list", "-json", "-config", "/dev/null", "-data-dir", data)
	if code != 0 || !strings.Contains(out, `"username": "alice"`) || !strings.Contains(out, `"disabled": true`) || strings.Contains(out, "argon2") {
		t.Errorf("user list -json: exit %d\n%s", code, out)
	}

	// init's promises: data dir 0700, key file and database 0600.
	for p, want := range map[string]os.FileMode{data: 0o700, filepath.Join(data, "smsd.key"): 0o600, filepath.Join(data, "smsd.db"): 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
	}
}

func TestParseAt(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.Local)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", time.Time{}, false},
		{"2h", now.Add(2 * time.Hour), false},
		{"-1h", time.Time{}, true},
		{"2026-11-25T09:00", time.Date(2026, 11, 25, 9, 0, 0, 0, time.Local), false},
		{"2026-11-25 09:00", time.Date(2026, 11, 25, 9, 0, 0, 0, time.Local), false},
		{"2026-11-25T09:00:00Z", time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC), false},
		{"next tuesday", time.Time{}, true},
	} {
		got, err := parseAt(tc.in, now)
		if (err != nil) != tc.err || !got.Equal(tc.want) {
			t.Errorf("parseAt(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
