package dispatch

import (
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/quiet"
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
		{"REVOKE", KeywordStop},
		{"revoke.", KeywordStop},
		{"Opt out", KeywordStop},
		{"OPT  OUT!", KeywordStop},
		{"opt-out", KeywordStop},
		{"OptOut", KeywordStop},
		{"opt out please", NoKeyword},
		{"revoked", NoKeyword},
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
		dq := &Dispatcher{loc: ny, now: d.now, quiet: &quiet.Hours{Start: 9 * time.Hour, End: 11 * time.Hour}}
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
