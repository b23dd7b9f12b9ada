// Package config reads smsd's configuration: /etc/smsd/smsd.toml (TOML) over
// built-in defaults; the command line then overrides single settings (flag
// over file over default). Every setting, its default and its meaning is in
// Default and in README.md; unknown keys are an error, so that a
// typo never silently leaves a setting at its default.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"

	"github.com/clinicsms/smsd/quiet"
	"github.com/clinicsms/smsd/remind"
)

// DefaultPath is where the daemon looks for its configuration file.
const DefaultPath = "/etc/smsd/smsd.toml"

// DefaultDataDir is the data directory of the packaged daemon.
const DefaultDataDir = "/var/lib/smsd"

// PackagedSocket is the control socket of the packaged layout (data_dir
// DefaultDataDir, control_socket unset): in /run/smsd, the unit's
// RuntimeDirectory, which members of admin_group may enter, while the data
// directory stays the smsd user's alone.
const PackagedSocket = "/run/smsd/control.sock"

// DefaultAdminGroup is the group whose members may use the control socket
// as themselves (the postinst creates it).
const DefaultAdminGroup = "smsd-admin"

// Key sources: where the key that unlocks the database comes from.
const (
	KeyFile       = "file"       // a key file (default <data_dir>/smsd.key)
	KeyCredential = "credential" // a systemd credential ($CREDENTIALS_DIRECTORY)
	KeyPassphrase = "passphrase" // locked mode: an admin types it after boot
)

// Duration is a time.Duration written as a string in TOML ("3s", "1m30s").
// A bare integer other than 0 is refused: TOML integers would otherwise be
// nanoseconds, and `rate_limit = 3` meaning 3 ns is a trap.
type Duration struct{ time.Duration }

// UnmarshalTOML implements toml.Unmarshaler.
func (d *Duration) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		p, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a duration: write it like \"3s\", \"500ms\" or \"2m\"", v)
		}
		d.Duration = p
		return nil
	case int64:
		if v == 0 {
			d.Duration = 0
			return nil
		}
		return fmt.Errorf("%d has no unit: write durations as strings like \"%ds\"", v, v)
	default:
		return fmt.Errorf("%v is not a duration: write it like \"3s\"", v)
	}
}

// MarshalText writes the duration as Go spells it ("3s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Modem is one modem of a pool ([[modems]] in the file). Unset fields take
// the top-level value of the same name.
type Modem struct {
	ID        string    `toml:"id"`
	Path      string    `toml:"path"`
	SIMPIN    *string   `toml:"sim_pin"`
	RateLimit *Duration `toml:"rate_limit"`
	DailyCap  *int      `toml:"daily_cap"`
}

// Config is the whole configuration. Field comments name the TOML key.
type Config struct {
	DataDir  string `toml:"data_dir"`  // data directory: database, key file, control socket
	Listen   string `toml:"listen"`    // web UI address, such as ":8443" (HTTPS) or "127.0.0.1:8080"
	LogLevel string `toml:"log_level"` // debug, info, warn, error
	// LogNumbers is how log lines name a phone number: "pseudonym" (a keyed
	// pseudonym, the same for one number while the daemon runs) or
	// "masked" (+1******4567). See mask.Log.
	LogNumbers string `toml:"log_numbers"`
	// ControlSocket is the control socket's path; "" = PackagedSocket for
	// the packaged data directory, else <data_dir>/control.sock.
	ControlSocket string `toml:"control_socket"`
	// AdminGroup names the Unix group whose members may use the control
	// socket as themselves (actor unix:<login>, role admin), besides root
	// and the daemon's user; "" = nobody else.
	AdminGroup string `toml:"admin_group"`

	KeySource     string `toml:"key_source"`     // file, credential or passphrase
	KeyFile       string `toml:"key_file"`       // "" = <data_dir>/smsd.key
	KeyCredential string `toml:"key_credential"` // systemd credential name

	DefaultRegion string   `toml:"default_region"` // region for numbers without +country code
	MaxAttempts   int      `toml:"max_attempts"`   // send attempts before a message fails
	RetentionDays int      `toml:"retention_days"` // days until finished messages' content is erased; 0 keeps it
	HelpText      string   `toml:"help_text"`      // reply to an inbound HELP
	QuietHours    string   `toml:"quiet_hours"`    // "21:00-08:00"; "" = none
	Timezone      string   `toml:"timezone"`       // IANA name for quiet hours and daily caps; "" = system
	StallTimeout  Duration `toml:"stall_timeout"`  // a send loop silent this long stops the watchdog pings

	// Backups (smsd backup and the nightly smsd-backup.timer). BackupDir is
	// where they go: a mounted USB stick or share, never the data's own
	// card ("" = none configured, which smsd status reports); BackupKeep is
	// how many backups are kept there (older ones are pruned; 0 keeps all).
	BackupDir  string `toml:"backup_dir"`
	BackupKeep int    `toml:"backup_keep"`

	Modem          string   `toml:"modem"`           // device path, "auto", or "emulator"
	SIMPIN         string   `toml:"sim_pin"`         // SIM PIN; never retried when wrong
	RateLimit      Duration `toml:"rate_limit"`      // least time between two messages per modem; "0s" = none
	DailyCap       int      `toml:"daily_cap"`       // messages per modem per day; 0 = no cap
	StatusReports  bool     `toml:"status_reports"`  // ask for delivery reports
	Validity       Duration `toml:"validity"`        // how long the network keeps trying; "0s" = network default
	MaxParts       int      `toml:"max_parts"`       // longest message in parts
	Baud           int      `toml:"baud"`            // serial speed
	CommandTimeout Duration `toml:"command_timeout"` // answer time for an AT command
	SendTimeout    Duration `toml:"send_timeout"`    // answer time for one part (AT+CMGS)
	HealthInterval Duration `toml:"health_interval"` // signal/registration check and storage sweep
	ReconnectMax   Duration `toml:"reconnect_max"`   // longest wait between reconnect attempts

	Modems []Modem `toml:"modems"` // a pool; replaces modem/sim_pin when given

	// The web UI. TLSCert and TLSKey name the admin's own certificate; when
	// both are "" the UI serves HTTPS with a certificate from the box's own
	// local certificate authority (made in the data directory on first
	// start). PlainHTTP serves plain HTTP on an address that is not
	// loopback: only for a box behind a TLS proxy on the same host.
	TLSCert         string   `toml:"tls_cert"`
	TLSKey          string   `toml:"tls_key"`
	PlainHTTP       bool     `toml:"plain_http"`
	IdleTimeout     Duration `toml:"idle_timeout"`     // a web session ends after this long without a request
	SessionLifetime Duration `toml:"session_lifetime"` // and after this long in any case
	LockoutFailures int      `toml:"lockout_failures"` // failed sign-ins within lockout_window that lock an account
	LockoutWindow   Duration `toml:"lockout_window"`
	LockoutDuration Duration `toml:"lockout_duration"` // how long a lockout lasts unless an admin unlocks
	// LoginConcurrency bounds the password checks that run at once: each
	// argon2id takes 32 MiB, and a Pi has 1 to 8 GiB.
	LoginConcurrency int `toml:"login_concurrency"`

	// Reminders. ReminderPlan is how long before an appointment each
	// reminder goes out; ReminderHours is the local window reminders may be
	// sent in (a slot outside it waits for the window's next opening, never
	// past the appointment). ClinicName and ClinicPhone fill {clinic} and
	// {phone}. The word lists are matched whole and case-insensitively.
	ReminderPlan    []Duration `toml:"reminder_plan"`
	ReminderHours   string     `toml:"reminder_hours"` // "08:00-21:00"
	ClinicName      string     `toml:"clinic_name"`
	ClinicPhone     string     `toml:"clinic_phone"`
	ConfirmWords    []string   `toml:"confirm_words"`
	RescheduleWords []string   `toml:"reschedule_words"`
	// ClinicalWords warns when a template or free text looks like it
	// carries clinical detail (minimum necessary); nil = the built-in list.
	ClinicalWords []string `toml:"clinical_words"`
}

// Default returns the configuration used when the file sets nothing.
func Default() Config {
	return Config{
		DataDir:        DefaultDataDir,
		Listen:         ":8443",
		LogLevel:       "info",
		LogNumbers:     "pseudonym",
		AdminGroup:     DefaultAdminGroup,
		KeySource:      KeyFile,
		KeyCredential:  "smsd.key",
		DefaultRegion:  "US",
		MaxAttempts:    5,
		RetentionDays:  0,
		HelpText:       "Appointment reminders from your clinic. Reply STOP to opt out, START to opt back in. For questions, call the clinic.",
		StallTimeout:   Duration{2 * time.Minute}, // = dispatch.DefaultStallTimeout: config is a leaf; a daemon test holds them equal
		BackupKeep:     7,
		Modem:          "auto",
		RateLimit:      Duration{3 * time.Second}, // = dispatch.DefaultRateLimit
		StatusReports:  true,
		MaxParts:       6,
		Baud:           115200,
		CommandTimeout: Duration{5 * time.Second},
		SendTimeout:    Duration{60 * time.Second},
		HealthInterval: Duration{30 * time.Second},
		ReconnectMax:   Duration{30 * time.Second},

		IdleTimeout:      Duration{10 * time.Minute},
		SessionLifetime:  Duration{12 * time.Hour},
		LockoutFailures:  5,
		LockoutWindow:    Duration{15 * time.Minute},
		LockoutDuration:  Duration{15 * time.Minute},
		LoginConcurrency: 4,

		ReminderPlan:    []Duration{{48 * time.Hour}, {2 * time.Hour}},
		ReminderHours:   "08:00-21:00",
		ClinicName:      "your clinic",
		ConfirmWords:    []string{"C", "CONFIRM", "YES", "SI", "SÍ"},
		RescheduleWords: []string{"R", "RESCHEDULE"},
	}
}

// Load reads the file at path over the defaults. An empty path means
// DefaultPath, which may be missing (then the defaults apply); a path given
// explicitly must exist. The result is validated.
func Load(path string) (Config, error) {
	c := Default()
	explicit := path != ""
	if !explicit {
		path = DefaultPath
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		return c, c.Validate()
	case errors.Is(err, fs.ErrNotExist):
		return c, fmt.Errorf("config file %s does not exist (give another -config, or omit -config to use %s)", path, DefaultPath)
	case errors.Is(err, fs.ErrPermission):
		return c, fmt.Errorf("config file %s: %w (it is readable by root and group smsd only: run as the smsd user, e.g. sudo -u smsd smsd ...)", path, fs.ErrPermission)
	default:
		return c, fmt.Errorf("config file %s: %w", path, err)
	}
	if err := Parse(&c, b); err != nil {
		return c, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes TOML text over c (fields it does not mention keep their
// value) and validates the result.
func Parse(c *Config, text []byte) error {
	md, err := toml.Decode(string(text), c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("line %d: %s (fix the TOML syntax)", pe.Position.Line, pe.Message)
		}
		return fmt.Errorf("%w (check the value's type: strings need quotes, durations look like \"3s\")", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return fmt.Errorf("unknown setting %s (check the spelling; every setting is listed in the README's configuration reference)", strings.Join(keys, ", "))
	}
	return c.Validate()
}

// Validate checks every setting and says what is wrong with the first bad one.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty (default %s)", DefaultDataDir)
	} else if !filepath.IsAbs(c.DataDir) {
		if abs, err := filepath.Abs(c.DataDir); err == nil {
			c.DataDir = abs
		}
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		bad("log_level", "%v", err)
	}
	if c.ControlSocket != "" && !filepath.IsAbs(c.ControlSocket) {
		bad("control_socket", "%q must be an absolute path such as %s (or \"\" for the default)", c.ControlSocket, PackagedSocket)
	}
	if c.AdminGroup != "" && strings.ContainsFunc(c.AdminGroup, func(r rune) bool { return r == ':' || r <= ' ' || r == 0x7f }) {
		bad("admin_group", "%q is not a group name (such as %s); \"\" lets only root and the smsd user control smsd", c.AdminGroup, DefaultAdminGroup)
	}
	switch c.LogNumbers {
	case "pseudonym", "masked":
	default:
		bad("log_numbers", "%q is not one of pseudonym (the default: logs name a number by a keyed pseudonym) or masked (+1******4567)", c.LogNumbers)
	}
	switch c.KeySource {
	case KeyFile, KeyCredential, KeyPassphrase:
	default:
		bad("key_source", "%q is not one of file, credential, passphrase", c.KeySource)
	}
	if c.KeySource == KeyCredential && (c.KeyCredential == "" || strings.ContainsAny(c.KeyCredential, "/\x00")) {
		bad("key_credential", "%q must be a plain credential name such as smsd.key", c.KeyCredential)
	}
	if len(c.DefaultRegion) != 2 {
		bad("default_region", "%q is not a two-letter region code such as US or GB", c.DefaultRegion)
	}
	if c.MaxAttempts < 1 {
		bad("max_attempts", "%d must be at least 1", c.MaxAttempts)
	}
	if c.RetentionDays < 0 {
		bad("retention_days", "%d is negative (use 0 to keep content until deleted)", c.RetentionDays)
	}
	if c.BackupKeep < 0 {
		bad("backup_keep", "%d is negative (use 0 to keep every backup)", c.BackupKeep)
	}
	if c.BackupDir != "" && !filepath.IsAbs(c.BackupDir) {
		bad("backup_dir", "%q is not an absolute path (e.g. /media/smsd-backup, where the USB stick is mounted)", c.BackupDir)
	}
	loc, err := c.Location()
	if err != nil {
		bad("timezone", "%v", err)
	}
	if c.QuietHours != "" {
		if _, err := quiet.Parse(c.QuietHours, loc); err != nil {
			bad("quiet_hours", "%v", err)
		}
	}
	if c.StallTimeout.Duration < 0 {
		bad("stall_timeout", "must not be negative")
	}
	if c.RateLimit.Duration < 0 {
		bad("rate_limit", "must not be negative (use \"0s\" for no limit)")
	}
	if c.DailyCap < 0 {
		bad("daily_cap", "%d is negative (use 0 for no cap)", c.DailyCap)
	}
	if c.MaxParts < 1 || c.MaxParts > 255 {
		bad("max_parts", "%d must be between 1 and 255", c.MaxParts)
	}
	if c.Baud <= 0 {
		bad("baud", "%d must be positive (115200 suits USB modems)", c.Baud)
	}
	for _, d := range []struct {
		key string
		d   Duration
	}{{"command_timeout", c.CommandTimeout}, {"send_timeout", c.SendTimeout}, {"health_interval", c.HealthInterval}, {"reconnect_max", c.ReconnectMax}} {
		if d.d.Duration <= 0 {
			bad(d.key, "must be positive, like \"5s\"")
		}
	}
	if c.Validity.Duration < 0 {
		bad("validity", "must not be negative")
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			bad("listen", "%q is not an address such as \":8443\" or \"192.168.1.10:8443\" (\"\" turns the web UI off)", c.Listen)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("tls_cert", "tls_cert and tls_key go together: give both (your own certificate) or neither (the box's local CA)")
	}
	if c.IdleTimeout.Duration <= 0 || c.SessionLifetime.Duration <= 0 {
		bad("idle_timeout", "idle_timeout and session_lifetime must be positive, like \"10m\" and \"12h\"")
	} else if c.IdleTimeout.Duration > c.SessionLifetime.Duration {
		bad("idle_timeout", "%v is longer than session_lifetime %v", c.IdleTimeout.Duration, c.SessionLifetime.Duration)
	}
	if c.LockoutFailures < 1 {
		bad("lockout_failures", "%d must be at least 1 (5 is usual)", c.LockoutFailures)
	}
	if c.LockoutWindow.Duration <= 0 || c.LockoutDuration.Duration <= 0 {
		bad("lockout_window", "lockout_window and lockout_duration must be positive, like \"15m\"")
	}
	if c.LoginConcurrency < 1 {
		bad("login_concurrency", "%d must be at least 1 (each takes 32 MiB while it runs)", c.LoginConcurrency)
	}
	if len(c.Modems) == 0 && c.Modem == "" {
		bad("modem", "must not be empty: a device path, \"auto\" or \"emulator\"")
	}
	c.validateReminders(loc, bad)
	seen := map[string]bool{}
	for i, m := range c.Modems {
		key := fmt.Sprintf("modems[%d]", i+1)
		if m.ID == "" {
			bad(key+".id", "missing: give every modem a unique id such as \"modem1\"")
		} else if seen[m.ID] {
			bad(key+".id", "%q is used twice", m.ID)
		}
		seen[m.ID] = true
		if m.Path == "" {
			bad(key+".path", "missing: a device path or \"auto\"")
		}
		if m.RateLimit != nil && m.RateLimit.Duration < 0 {
			bad(key+".rate_limit", "must not be negative")
		}
		if m.DailyCap != nil && *m.DailyCap < 0 {
			bad(key+".daily_cap", "must not be negative")
		}
	}
	return errors.Join(errs...)
}

// validateReminders checks the reminder keys: a plan of positive offsets,
// an allowed window remind.ParseHours takes, and reply words that can
// never be mistaken for a keyword smsd acts on itself. An opt-out word
// (STOP, CANCEL, ...) always opts the patient out (the FCC's revocation
// rule, 47 CFR 64.1200(a)(10)), so a confirm word "CANCEL" would confirm
// nobody and opt out the patient who meant to cancel the visit; START,
// UNSTOP and HELP are answered by smsd itself.
func (c *Config) validateReminders(loc *time.Location, bad func(key, format string, args ...any)) {
	for i, d := range c.ReminderPlan {
		if d.Duration <= 0 {
			bad("reminder_plan", "entry %d (%v) must be a positive duration before the appointment, like \"48h\" or \"2h\"", i+1, d.Duration)
		}
	}
	if loc != nil {
		if _, err := remind.ParseHours(c.ReminderHours, loc); err != nil {
			bad("reminder_hours", "%v", err)
		}
	}
	reserved := map[string]string{"START": "an opt-in word", "UNSTOP": "an opt-in word", "HELP": "the help keyword"}
	for _, w := range remind.OptOutWords {
		reserved[replyWord(w)] = "an opt-out word"
	}
	seen := map[string]string{}
	for _, list := range []struct {
		key   string
		words []string
	}{{"confirm_words", c.ConfirmWords}, {"reschedule_words", c.RescheduleWords}} {
		if len(list.words) == 0 {
			bad(list.key, "must name at least one word (default %s)", strings.Join(defaultWords(list.key), ", "))
			continue
		}
		for _, w := range list.words {
			n := replyWord(w)
			switch {
			case n == "":
				bad(list.key, "%q is not a word: every entry must be a word or two a patient can text, like \"C\" or \"CONFIRM\"", w)
			case reserved[n] != "":
				bad(list.key, "%q is %s: smsd acts on it before any reminder answer (an opt-out word always opts the patient out, as the FCC's revocation rule requires), so it cannot be a reply to a reminder; choose another word, like %s", w, reserved[n], strings.Join(defaultWords(list.key), " or "))
			case seen[n] != "" && seen[n] != list.key:
				bad(list.key, "%q is in %s too: a reply must mean one thing", w, seen[n])
			default:
				seen[n] = list.key
			}
		}
	}
	if len(c.ClinicalWords) == 0 {
		// clinical_words = [] is the built-in list, as a missing key is.
		c.ClinicalWords = nil
	}
	for _, w := range c.ClinicalWords {
		if strings.TrimSpace(w) == "" {
			bad("clinical_words", "has an empty entry: list words such as \"diabetes\" (or leave the key out for the built-in list)")
			break
		}
	}
}

// replyWord is a reply word as matching sees it: trimmed of spaces,
// punctuation and symbols around it, inner spaces made one, upper case.
func replyWord(w string) string {
	w = strings.TrimFunc(w, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)
	})
	return strings.Join(strings.Fields(strings.ToUpper(w)), " ")
}

// defaultWords are the default reply words of key.
func defaultWords(key string) []string {
	if key == "confirm_words" {
		return remind.DefaultConfirmWords()
	}
	return remind.DefaultRescheduleWords()
}

// ParseLevel parses a log level name.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}

// Location is the clinic's time zone.
func (c *Config) Location() (*time.Location, error) {
	if c.Timezone == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return time.Local, fmt.Errorf("%q is not a known time zone (use an IANA name such as America/New_York)", c.Timezone)
	}
	return loc, nil
}

// DBPath is the database file.
func (c *Config) DBPath() string { return filepath.Join(c.DataDir, "smsd.db") }

// KeyFilePath is the key file (key_file, or smsd.key in the data directory).
func (c *Config) KeyFilePath() string {
	if c.KeyFile != "" {
		return c.KeyFile
	}
	return filepath.Join(c.DataDir, "smsd.key")
}

// SocketPath is the control socket: control_socket, else PackagedSocket
// when the data directory is the packaged one, else control.sock in the
// data directory.
func (c *Config) SocketPath() string {
	switch {
	case c.ControlSocket != "":
		return c.ControlSocket
	case filepath.Clean(c.DataDir) == DefaultDataDir:
		return PackagedSocket
	}
	return filepath.Join(c.DataDir, "control.sock")
}

// LockPath is the file `smsd serve` holds locked while it runs, so that the
// command-line tools know whether to talk to it or to the store.
func (c *Config) LockPath() string { return filepath.Join(c.DataDir, "serve.lock") }

// ModemSpec is one resolved modem: the pool entry with the top-level
// defaults filled in.
type ModemSpec struct {
	ID        string
	Path      string
	PIN       string
	RateLimit time.Duration // 0 = no limit
	DailyCap  int
}

// ModemSpecs resolves the modem pool: [[modems]] if given, else one modem
// "modem1" from the top-level modem setting.
func (c *Config) ModemSpecs() []ModemSpec {
	if len(c.Modems) == 0 {
		return []ModemSpec{{ID: "modem1", Path: c.Modem, PIN: c.SIMPIN, RateLimit: c.RateLimit.Duration, DailyCap: c.DailyCap}}
	}
	out := make([]ModemSpec, 0, len(c.Modems))
	for _, m := range c.Modems {
		s := ModemSpec{ID: m.ID, Path: m.Path, PIN: c.SIMPIN, RateLimit: c.RateLimit.Duration, DailyCap: c.DailyCap}
		if m.SIMPIN != nil {
			s.PIN = *m.SIMPIN
		}
		if m.RateLimit != nil {
			s.RateLimit = m.RateLimit.Duration
		}
		if m.DailyCap != nil {
			s.DailyCap = *m.DailyCap
		}
		out = append(out, s)
	}
	return out
}
