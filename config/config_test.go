package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smsd.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.RateLimit.Duration != 3*time.Second || c.Modem != "auto" || c.DataDir != "/var/lib/smsd" || !c.StatusReports {
		t.Errorf("unexpected defaults: %+v", c)
	}
	if c.KeyFilePath() != "/var/lib/smsd/smsd.key" || c.SocketPath() != PackagedSocket || c.DBPath() != "/var/lib/smsd/smsd.db" {
		t.Errorf("paths: %s %s %s", c.KeyFilePath(), c.SocketPath(), c.DBPath())
	}
}

func TestLoad(t *testing.T) {
	t.Run("empty_file_gives_defaults", func(t *testing.T) {
		c, err := Load("/dev/null")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, Default()) {
			t.Errorf("got %+v, want defaults", c)
		}
	})
	t.Run("explicit_missing_file_is_an_error", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("settings_override_defaults", func(t *testing.T) {
		p := write(t, `
data_dir = "/srv/smsd"
modem = "/dev/ttyUSB2"
sim_pin = "1234"
rate_limit = "0s"
daily_cap = 200
log_level = "debug"
quiet_hours = "21:00-08:00"
timezone = "America/New_York"
validity = "48h"
help_text = "Call 555"
`)
		c, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if c.DataDir != "/srv/smsd" || c.Modem != "/dev/ttyUSB2" || c.SIMPIN != "1234" || c.RateLimit.Duration != 0 ||
			c.DailyCap != 200 || c.LogLevel != "debug" || c.QuietHours != "21:00-08:00" || c.Validity.Duration != 48*time.Hour || c.HelpText != "Call 555" {
			t.Errorf("got %+v", c)
		}
		if c.MaxParts != 6 || c.Listen != ":8443" {
			t.Errorf("unset settings lost their defaults: %+v", c)
		}
		specs := c.ModemSpecs()
		if len(specs) != 1 || specs[0] != (ModemSpec{ID: "modem1", Path: "/dev/ttyUSB2", PIN: "1234", RateLimit: 0, DailyCap: 200}) {
			t.Errorf("specs %+v", specs)
		}
	})
	t.Run("pool", func(t *testing.T) {
		p := write(t, `
sim_pin = "1111"
rate_limit = "5s"
[[modems]]
id = "a"
path = "/dev/ttyUSB2"
[[modems]]
id = "b"
path = "auto"
sim_pin = ""
rate_limit = "1s"
daily_cap = 10
`)
		c, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		want := []ModemSpec{
			{ID: "a", Path: "/dev/ttyUSB2", PIN: "1111", RateLimit: 5 * time.Second},
			{ID: "b", Path: "auto", PIN: "", RateLimit: time.Second, DailyCap: 10},
		}
		if got := c.ModemSpecs(); !reflect.DeepEqual(got, want) {
			t.Errorf("specs %+v, want %+v", got, want)
		}
	})
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"unknown_key", `rate_limt = "1s"`, "unknown setting rate_limt"},
		{"syntax", "modem = /dev/ttyUSB0", "line 1"},
		{"integer_duration", "rate_limit = 3", `has no unit: write durations as strings like "3s"`},
		{"bad_duration", `send_timeout = "soon"`, `"soon" is not a duration`},
		{"negative_rate", `rate_limit = "-1s"`, "rate_limit: must not be negative"},
		{"level", `log_level = "loud"`, `log_level: "loud" is not one of debug, info, warn, error`},
		{"key_source", `key_source = "tpm"`, `key_source: "tpm" is not one of file, credential, passphrase`},
		{"quiet", `quiet_hours = "9pm"`, "quiet_hours:"},
		{"timezone", `timezone = "Mars/Olympus"`, "timezone:"},
		{"region", `default_region = "USA"`, "default_region:"},
		{"empty_modem", `modem = ""`, "modem: must not be empty"},
		{"pool_dup", "[[modems]]\nid = \"a\"\npath = \"x\"\n[[modems]]\nid = \"a\"\npath = \"y\"\n", `modems[2].id: "a" is used twice`},
		{"pool_no_path", "[[modems]]\nid = \"a\"\n", "modems[1].path: missing"},
		{"wrong_type", `daily_cap = "ten"`, "check the value's type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(t, tc.text))
			if err == nil {
				t.Fatalf("no error for %q", tc.text)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// tomlKeys lists every TOML key of Config and Modem.
func tomlKeys() []string {
	var keys []string
	for _, typ := range []reflect.Type{reflect.TypeOf(Config{}), reflect.TypeOf(Modem{})} {
		for i := range typ.NumField() {
			if k := typ.Field(i).Tag.Get("toml"); k != "" {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// TestEveryKeyDocumented: the README's configuration reference names every key.
func TestEveryKeyDocumented(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range tomlKeys() {
		if !strings.Contains(string(b), "`"+k+"`") {
			t.Errorf("key %s is not in README.md's configuration reference", k)
		}
	}
}

// TestPackagedConfig: the commented-out settings of the packaged
// /etc/smsd/smsd.toml, uncommented, parse and equal the defaults (the file
// promises "Every setting is commented out and shows its default").
func TestPackagedConfig(t *testing.T) {
	b, err := os.ReadFile("../packaging/smsd.toml")
	if os.IsNotExist(err) {
		t.Skip("packaging/smsd.toml not in this tree")
	}
	if err != nil {
		t.Fatal(err)
	}
	if i := strings.Index(string(b), "# [[modems]]"); i >= 0 {
		b = b[:i] // the pool example is not a default
	}
	re := regexp.MustCompile(`(?m)^# ?([a-z_]+ = .*)$`)
	var lines []string
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		lines = append(lines, m[1])
	}
	if len(lines) == 0 {
		t.Fatal("no commented-out settings found")
	}
	c := Default()
	if err := Parse(&c, []byte(strings.Join(lines, "\n"))); err != nil {
		t.Fatalf("packaged settings do not parse: %v\n%s", err, strings.Join(lines, "\n"))
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("packaged settings differ from the defaults:\n got %+v\nwant %+v", c, Default())
	}
}

// TestSocketPath: the packaged data directory puts the control socket in
// /run/smsd (where admin_group may enter), any other data directory keeps
// it inside, and control_socket wins over both.
func TestSocketPath(t *testing.T) {
	for _, tc := range []struct{ dataDir, socket, want string }{
		{"/var/lib/smsd", "", PackagedSocket},
		{"/var/lib/smsd/", "", PackagedSocket},
		{"/srv/smsd", "", "/srv/smsd/control.sock"},
		{"/var/lib/smsd", "/run/other/c.sock", "/run/other/c.sock"},
		{"/srv/smsd", "/run/x.sock", "/run/x.sock"},
	} {
		c := Default()
		c.DataDir, c.ControlSocket = tc.dataDir, tc.socket
		if got := c.SocketPath(); got != tc.want {
			t.Errorf("data_dir %q control_socket %q: %s, want %s", tc.dataDir, tc.socket, got, tc.want)
		}
	}
}

// TestSecuritySettings: control_socket, admin_group and log_numbers take
// only what they can use, and say what is wrong otherwise.
func TestSecuritySettings(t *testing.T) {
	for _, tc := range []struct{ toml, err string }{
		{`control_socket = "/run/smsd/control.sock"`, ""},
		{`control_socket = "control.sock"`, "control_socket: \"control.sock\" must be an absolute path"},
		{`admin_group = ""`, ""},
		{`admin_group = "clinic-admins"`, ""},
		{`admin_group = "smsd admin"`, "admin_group: \"smsd admin\" is not a group name"},
		{`admin_group = "a:b"`, "is not a group name"},
		{`log_numbers = "masked"`, ""},
		{`log_numbers = "pseudonym"`, ""},
		{`log_numbers = "plain"`, "log_numbers: \"plain\" is not one of pseudonym"},
	} {
		c := Default()
		err := Parse(&c, []byte(tc.toml))
		if (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.toml, err, tc.err)
		}
	}
}
