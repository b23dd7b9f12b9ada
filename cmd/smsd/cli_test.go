package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/crypt"
	"github.com/clinicsms/smsd/queue"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// run runs a subcommand in-process and returns stdout, stderr, exit status.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cmdEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
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

func TestGoldenCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	scrub := func(s string) string { return strings.ReplaceAll(s, dir, "$TMP") }
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		stdin string
	}{
		{"help", []string{"help"}, 0, ""},
		{"unknown_command", []string{"frobnicate"}, 2, ""},
		{"send_no_args", []string{"send", "-config", "/dev/null", "-data-dir", data}, 2, ""},
		{"send_bad_at", []string{"send", "-config", "/dev/null", "-data-dir", data, "-to", "+15551234567", "-text", "x", "-at", "tomorrowish"}, 2, ""},
		{"send_no_data_dir", []string{"send", "-config", "/dev/null", "-data-dir", data, "-to", "+15551234567", "-text", "x"}, 1, ""},
		{"init", []string{"init", "-config", "/dev/null", "-data-dir", data}, 0, ""},
		{"init_again", []string{"init", "-config", "/dev/null", "-data-dir", data}, 1, ""},
		{"send_direct", []string{"send", "-config", "/dev/null", "-data-dir", data, "-to", "+1 (555) 123-4567", "-text", "Hello {world} €"}, 0, ""},
		{"send_invalid_number", []string{"send", "-config", "/dev/null", "-data-dir", data, "-to", "555", "-text", "x"}, 1, ""},
		{"status_not_running", []string{"status", "-config", "/dev/null", "-data-dir", data}, 3, ""},
		{"inbox_empty", []string{"inbox", "-config", "/dev/null", "-data-dir", data}, 0, ""},
		{"inbox_empty_json", []string{"inbox", "-json", "-config", "/dev/null", "-data-dir", data}, 0, ""},
		{"user_add_admin", []string{"user", "add", "-config", "/dev/null", "-data-dir", data, "-role", "admin", "alice", "-name", "Alice Admin"}, 0, "a good long password\n"},
		{"user_add_short_password", []string{"user", "add", "-config", "/dev/null", "-data-dir", data, "bob"}, 1, "short\n"},
		{"user_add_no_password", []string{"user", "add", "-config", "/dev/null", "-data-dir", data, "bob"}, 1, ""},
		{"user_add_bad_role", []string{"user", "add", "-config", "/dev/null", "-data-dir", data, "-role", "boss", "bob"}, 1, "a good long password\n"},
		{"user_add_taken", []string{"user", "add", "-config", "/dev/null", "-data-dir", data, "alice"}, 1, "another long password\n"},
		{"user_add_no_name", []string{"user", "add", "-config", "/dev/null", "-data-dir", data}, 2, ""},
		{"user_passwd", []string{"user", "passwd", "-config", "/dev/null", "-data-dir", data, "alice"}, 0, "the new long password\n"},
		{"user_disable_unknown", []string{"user", "disable", "-config", "/dev/null", "-data-dir", data, "mallory"}, 1, ""},
		{"user_disable", []string{"user", "disable", "-config", "/dev/null", "-data-dir", data, "alice"}, 0, ""},
		{"user_unknown_action", []string{"user", "promote", "alice"}, 2, ""},
		{"key_usage", []string{"key", "spin"}, 2, ""},
		{"key_rotate", []string{"key", "rotate", "-config", "/dev/null", "-data-dir", data}, 0, ""},
		{"serve_bad_config", []string{"serve", "-config", filepath.Join(dir, "missing.toml")}, 1, ""},
		{"serve_no_init", []string{"serve", "-config", "/dev/null", "-data-dir", filepath.Join(dir, "empty")}, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := run(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			golden(t, "cli/"+tc.name, scrub("stdout:\n"+out+"stderr:\n"+errs))
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
