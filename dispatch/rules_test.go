package dispatch

import (
	"strings"
	"testing"
	"time"
)

func TestParseKeyword(t *testing.T) {
	tests := []struct {
		text string
		want Keyword
	}{
		{"STOP", KeywordStop},
		{"stop", KeywordStop},
		{"  Stop \n", KeywordStop},
		{"STOPALL", KeywordStop},
		{"unsubscribe", KeywordStop},
		{"Cancel", KeywordStop},
		{"END", KeywordStop},
		{"quit", KeywordStop},
		{"START", KeywordStart},
		{"unstop", KeywordStart},
		{"help", KeywordHelp},
		{" HELP\t", KeywordHelp},
		{"Stop.", KeywordStop},
		{"STOP!!", KeywordStop},
		{"\"stop\"", KeywordStop},
		{"stop 🙏", KeywordStop},
		{"🛑 STOP", KeywordStop},
		{"stop\u200d", KeywordStop},
		{"Start.", KeywordStart},
		{"Help?", KeywordHelp},
		{"...", NoKeyword},
		{"Stop by at 3?", NoKeyword},
		{"Don't stop", NoKeyword},
		{"C", NoKeyword},
		{"", NoKeyword},
		{"STOP STOP", NoKeyword},
		{"please stop", NoKeyword},
		{"HELPFUL", NoKeyword},
	}
	for _, tt := range tests {
		if got := ParseKeyword(tt.text); got != tt.want {
			t.Errorf("ParseKeyword(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

func FuzzParseKeyword(f *testing.F) {
	for _, s := range []string{"STOP", " stop ", "Help", "unstop", "Stop by at 3?", "ſtop", "STOP\u00a0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := ParseKeyword(s)
		// A keyword is the whole trimmed text: adding a word in front
		// always makes it an ordinary reply.
		if ParseKeyword("x "+s) != NoKeyword {
			t.Fatalf("%q with a word in front parsed as a keyword", s)
		}
		if k != ParseKeyword(strings.ToLower(s)) && k != ParseKeyword(strings.ToUpper(s)) {
			t.Fatalf("%q: keyword depends on case", s)
		}
	})
}

func TestParseQuietHours(t *testing.T) {
	good := []struct {
		in         string
		start, end time.Duration
	}{
		{"21:00-08:00", 21 * time.Hour, 8 * time.Hour},
		{" 7:30 - 19:05 ", 7*time.Hour + 30*time.Minute, 19*time.Hour + 5*time.Minute},
		{"00:00-23:59", 0, 23*time.Hour + 59*time.Minute},
	}
	for _, tt := range good {
		q, err := ParseQuietHours(tt.in, time.UTC)
		if err != nil {
			t.Errorf("ParseQuietHours(%q): %v", tt.in, err)
			continue
		}
		if q.Start != tt.start || q.End != tt.end {
			t.Errorf("ParseQuietHours(%q) = %v..%v, want %v..%v", tt.in, q.Start, q.End, tt.start, tt.end)
		}
	}
	bad := []struct{ in, wantErr string }{
		{"21:00", "want HH:MM-HH:MM"},
		{"24:00-08:00", "between 00:00 and 23:59"},
		{"21:60-08:00", "between 00:00 and 23:59"},
		{"9-17", "not HH:MM"},
		{"08:00-08:00", "start equals end"},
		{"ab:cd-08:00", "between 00:00 and 23:59"},
	}
	for _, tt := range bad {
		_, err := ParseQuietHours(tt.in, time.UTC)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseQuietHours(%q) error = %v, want it to say %q", tt.in, err, tt.wantErr)
		}
	}
}

func FuzzParseQuietHours(f *testing.F) {
	for _, s := range []string{"21:00-08:00", "7:30-19:05", "08:00-08:00", "-", "1:1-2:2", "99:99-00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuietHours(s, time.UTC)
		if err != nil {
			return
		}
		// What parses prints back and parses to the same window.
		q2, err := ParseQuietHours(q.String(), time.UTC)
		if err != nil || q2.Start != q.Start || q2.End != q.End {
			t.Fatalf("%q → %s does not round-trip: %v", s, q, err)
		}
	})
}

func TestQuietHoursActive(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, ny)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	overnight := &QuietHours{Start: 21 * time.Hour, End: 8 * time.Hour}
	lunch := &QuietHours{Start: 12 * time.Hour, End: 13 * time.Hour}
	tests := []struct {
		name    string
		q       *QuietHours
		now     string
		quiet   bool
		wantEnd string
	}{
		{"overnight_evening", overnight, "2026-03-02 22:15", true, "2026-03-03 08:00"},
		{"overnight_early_morning", overnight, "2026-03-03 03:00", true, "2026-03-03 08:00"},
		{"overnight_at_start", overnight, "2026-03-02 21:00", true, "2026-03-03 08:00"},
		{"overnight_at_end", overnight, "2026-03-03 08:00", false, ""},
		{"overnight_daytime", overnight, "2026-03-03 14:00", false, ""},
		// DST starts 2026-03-08 02:00 in New York: the window still ends at
		// 08:00 on the wall clock.
		{"overnight_across_dst", overnight, "2026-03-07 23:00", true, "2026-03-08 08:00"},
		{"lunch_inside", lunch, "2026-03-03 12:30", true, "2026-03-03 13:00"},
		{"lunch_before", lunch, "2026-03-03 11:59", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			end, quiet := tt.q.active(at(tt.now), ny)
			if quiet != tt.quiet {
				t.Fatalf("quiet = %v, want %v", quiet, tt.quiet)
			}
			if quiet && !end.Equal(at(tt.wantEnd)) {
				t.Fatalf("ends %v, want %v", end, at(tt.wantEnd))
			}
		})
	}
}

func TestDeferral(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, ny)
	d := &Dispatcher{loc: ny, now: func() time.Time { return now }}

	t.Run("rate_limit", func(t *testing.T) {
		l := &loop{d: d, rate: 3 * time.Second}
		if until, _ := l.deferral(now); !until.IsZero() {
			t.Fatalf("first message deferred until %v", until)
		}
		l.countStart(now)
		until, why := l.deferral(now.Add(time.Second))
		if why != StateRateLimited || !until.Equal(now.Add(3*time.Second)) {
			t.Fatalf("deferral = %v %q, want %v rate limited", until, why, now.Add(3*time.Second))
		}
		if until, _ := l.deferral(now.Add(3 * time.Second)); !until.IsZero() {
			t.Fatalf("still deferred after the interval: %v", until)
		}
	})
	t.Run("no_rate_limit", func(t *testing.T) {
		l := &loop{d: d}
		l.countStart(now)
		if until, _ := l.deferral(now); !until.IsZero() {
			t.Fatalf("deferred without a limit: %v", until)
		}
	})
	t.Run("daily_cap_resets_at_midnight", func(t *testing.T) {
		l := &loop{d: d, cap: 2}
		l.countStart(now)
		l.countStart(now)
		until, why := l.deferral(now)
		if why != StateDailyCap || !until.Equal(time.Date(2026, 6, 2, 0, 0, 0, 0, ny)) {
			t.Fatalf("deferral = %v %q, want next midnight, daily cap", until, why)
		}
		if until, _ := l.deferral(time.Date(2026, 6, 2, 0, 0, 1, 0, ny)); !until.IsZero() {
			t.Fatalf("cap not reset the next day: %v", until)
		}
	})
	t.Run("quiet_hours_first", func(t *testing.T) {
		dq := &Dispatcher{loc: ny, now: d.now, quiet: &QuietHours{Start: 9 * time.Hour, End: 11 * time.Hour}}
		l := &loop{d: dq}
		until, why := l.deferral(now)
		if why != StateQuietHours || !until.Equal(time.Date(2026, 6, 1, 11, 0, 0, 0, ny)) {
			t.Fatalf("deferral = %v %q, want 11:00 quiet hours", until, why)
		}
	})
}

func TestScrub(t *testing.T) {
	got := scrub("pdu: bad address +15551234567 at offset 12")
	if strings.Contains(got, "5551234567") || !strings.Contains(got, "+1******4567") || !strings.Contains(got, "offset 12") {
		t.Fatalf("scrub = %q", got)
	}
}
