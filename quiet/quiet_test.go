package quiet

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	good := []struct {
		in         string
		start, end time.Duration
	}{
		{"21:00-08:00", 21 * time.Hour, 8 * time.Hour},
		{" 7:30 - 19:05 ", 7*time.Hour + 30*time.Minute, 19*time.Hour + 5*time.Minute},
		{"00:00-23:59", 0, 23*time.Hour + 59*time.Minute},
	}
	for _, tt := range good {
		q, err := Parse(tt.in, time.UTC)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if q.Start != tt.start || q.End != tt.end {
			t.Errorf("Parse(%q) = %v..%v, want %v..%v", tt.in, q.Start, q.End, tt.start, tt.end)
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
		_, err := Parse(tt.in, time.UTC)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Parse(%q) error = %v, want it to say %q", tt.in, err, tt.wantErr)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"21:00-08:00", "7:30-19:05", "08:00-08:00", "-", "1:1-2:2", "99:99-00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s, time.UTC)
		if err != nil {
			return
		}
		// What parses prints back and parses to the same window.
		q2, err := Parse(q.String(), time.UTC)
		if err != nil || q2.Start != q.Start || q2.End != q.End {
			t.Fatalf("%q → %s does not round-trip: %v", s, q, err)
		}
	})
}

func TestActive(t *testing.T) {
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
	overnight := &Hours{Start: 21 * time.Hour, End: 8 * time.Hour}
	lunch := &Hours{Start: 12 * time.Hour, End: 13 * time.Hour}
	tests := []struct {
		name    string
		q       *Hours
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
			end, quiet := tt.q.Active(at(tt.now), ny)
			if quiet != tt.quiet {
				t.Fatalf("quiet = %v, want %v", quiet, tt.quiet)
			}
			if quiet && !end.Equal(at(tt.wantEnd)) {
				t.Fatalf("ends %v, want %v", end, at(tt.wantEnd))
			}
		})
	}
}
