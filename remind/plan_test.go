package remind

import (
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/quiet"
)

const wallLayout = "2006-01-02 15:04 MST"

func TestParseHours(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	h, err := ParseHours("08:00-21:00", ny)
	if err != nil {
		t.Fatal(err)
	}
	// The allowed window becomes the quiet range 21:00-08:00.
	if h.Start != 21*time.Hour || h.End != 8*time.Hour || h.Location != ny {
		t.Fatalf("ParseHours = %+v", h)
	}
	if h, err := ParseHours(" ", ny); h != nil || err != nil {
		t.Fatalf("empty = %v, %v; want no limit", h, err)
	}
	if h, err := ParseHours("22:00-06:00", ny); err != nil || h.Start != 6*time.Hour || h.End != 22*time.Hour {
		t.Fatalf("overnight window = %+v, %v", h, err)
	}
	for _, bad := range []string{"8-21", "08:00-08:00", "08:00", "25:00-21:00"} {
		if _, err := ParseHours(bad, ny); err == nil || !strings.Contains(err.Error(), "reminder_hours") {
			t.Errorf("ParseHours(%q) error = %v, want one naming reminder_hours", bad, err)
		}
	}
}

func TestPlan(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	mad := mustLoc(t, "Europe/Madrid")
	std := []time.Duration{48 * time.Hour, 2 * time.Hour}
	type want struct {
		at   string // wall clock in the zone, wallLayout; "" when skipped
		skip string // a word the reason must contain
	}
	tests := []struct {
		name     string
		loc      *time.Location
		allowed  string // reminder_hours; "" no limit
		appt     string // wall clock, "2006-01-02 15:04"
		now      string // "" a week before appt
		before   []time.Duration
		want     []want
		apptZone string // the zone abbreviation appt must have (guards the test's own times)
	}{
		// New York, spring forward 2026-03-08 02:00 EST -> 03:00 EDT.
		{name: "ny_48h_across_spring_forward_keeps_wall_clock", loc: ny, allowed: "08:00-21:00",
			appt: "2026-03-09 10:00", before: std, apptZone: "EDT",
			want: []want{{at: "2026-03-07 10:00 EST"}, {at: "2026-03-09 08:00 EDT"}}},
		{name: "ny_2h_on_spring_forward_day", loc: ny, allowed: "08:00-21:00",
			appt: "2026-03-08 11:00", before: std, apptZone: "EDT",
			want: []want{{at: "2026-03-06 11:00 EST"}, {at: "2026-03-08 09:00 EDT"}}},
		{name: "ny_2h_quiet_on_spring_forward_day_opens_at_8_local", loc: ny, allowed: "08:00-21:00",
			appt: "2026-03-08 09:00", before: std, apptZone: "EDT",
			want: []want{{at: "2026-03-06 09:00 EST"}, {at: "2026-03-08 08:00 EDT"}}},
		{name: "ny_2h_across_the_jump_is_elapsed_time", loc: ny, allowed: "",
			appt: "2026-03-08 03:30", before: []time.Duration{2 * time.Hour}, apptZone: "EDT",
			want: []want{{at: "2026-03-08 00:30 EST"}}},
		{name: "ny_48h_lands_in_dst_gap_moves_later", loc: ny, allowed: "",
			appt: "2026-03-10 02:30", before: []time.Duration{48 * time.Hour}, apptZone: "EDT",
			want: []want{{at: "2026-03-08 03:30 EDT"}}},
		{name: "ny_48h_in_dst_gap_and_quiet", loc: ny, allowed: "08:00-21:00",
			appt: "2026-03-10 02:30", before: []time.Duration{48 * time.Hour}, apptZone: "EDT",
			want: []want{{at: "2026-03-08 08:00 EDT"}}},
		// New York, fall back 2026-11-01 02:00 EDT -> 01:00 EST.
		{name: "ny_48h_across_fall_back_keeps_wall_clock", loc: ny, allowed: "08:00-21:00",
			appt: "2026-11-02 10:00", before: std, apptZone: "EST",
			want: []want{{at: "2026-10-31 10:00 EDT"}, {at: "2026-11-02 08:00 EST"}}},
		{name: "ny_2h_on_fall_back_day", loc: ny, allowed: "08:00-21:00",
			appt: "2026-11-01 09:00", before: std, apptZone: "EST",
			want: []want{{at: "2026-10-30 09:00 EDT"}, {at: "2026-11-01 08:00 EST"}}},
		{name: "ny_2h_across_fall_back_is_elapsed_time", loc: ny, allowed: "",
			appt: "2026-11-01 02:30", before: []time.Duration{2 * time.Hour}, apptZone: "EST",
			want: []want{{at: "2026-11-01 01:30 EDT"}}},
		{name: "ny_48h_lands_in_repeated_hour_takes_the_first", loc: ny, allowed: "",
			appt: "2026-11-03 01:30", before: []time.Duration{48 * time.Hour}, apptZone: "EST",
			want: []want{{at: "2026-11-01 01:30 EDT"}}},
		// Madrid, spring forward 2026-03-29 02:00 CET -> 03:00 CEST; fall
		// back 2026-10-25 03:00 CEST -> 02:00 CET.
		{name: "madrid_48h_across_spring_forward", loc: mad, allowed: "08:00-21:00",
			appt: "2026-03-30 10:00", before: std, apptZone: "CEST",
			want: []want{{at: "2026-03-28 10:00 CET"}, {at: "2026-03-30 08:00 CEST"}}},
		{name: "madrid_2h_quiet_on_spring_forward_day", loc: mad, allowed: "08:00-21:00",
			appt: "2026-03-29 09:00", before: std, apptZone: "CEST",
			want: []want{{at: "2026-03-27 09:00 CET"}, {at: "2026-03-29 08:00 CEST"}}},
		{name: "madrid_48h_in_dst_gap_moves_later", loc: mad, allowed: "",
			appt: "2026-03-31 02:30", before: []time.Duration{48 * time.Hour}, apptZone: "CEST",
			want: []want{{at: "2026-03-29 03:30 CEST"}}},
		{name: "madrid_48h_across_fall_back", loc: mad, allowed: "08:00-21:00",
			appt: "2026-10-26 09:30", before: std, apptZone: "CET",
			want: []want{{at: "2026-10-24 09:30 CEST"}, {at: "2026-10-26 08:00 CET"}}},
		{name: "madrid_2h_on_fall_back_day", loc: mad, allowed: "08:00-21:00",
			appt: "2026-10-25 11:00", before: std, apptZone: "CET",
			want: []want{{at: "2026-10-23 11:00 CEST"}, {at: "2026-10-25 09:00 CET"}}},
		// Quiet hours.
		{name: "quiet_2h_at_7_moves_to_8", loc: ny, allowed: "08:00-21:00",
			appt: "2026-06-10 09:00", before: std,
			want: []want{{at: "2026-06-08 09:00 EDT"}, {at: "2026-06-10 08:00 EDT"}}},
		{name: "quiet_48h_at_2230_moves_to_8_next_day", loc: ny, allowed: "08:00-21:00",
			appt: "2026-06-12 22:30", before: std,
			want: []want{{at: "2026-06-11 08:00 EDT"}, {at: "2026-06-12 20:30 EDT"}}},
		{name: "quiet_2h_of_0815_moves_to_8", loc: ny, allowed: "08:00-21:00",
			appt: "2026-06-10 08:15", before: std,
			want: []want{{at: "2026-06-08 08:15 EDT"}, {at: "2026-06-10 08:00 EDT"}}},
		{name: "quiet_2h_of_0810_too_close_skipped", loc: ny, allowed: "08:00-21:00",
			appt: "2026-06-10 08:10", before: std,
			want: []want{{at: "2026-06-08 08:10 EDT"}, {skip: "quiet hours"}}},
		{name: "quiet_2h_of_0730_would_be_after_appt_skipped", loc: ny, allowed: "08:00-21:00",
			appt: "2026-06-10 07:30", before: std,
			want: []want{{at: "2026-06-08 08:00 EDT"}, {skip: "less than 15m before"}}},
		{name: "overnight_window", loc: ny, allowed: "22:00-06:00",
			appt: "2026-06-10 12:00", before: std,
			want: []want{{at: "2026-06-08 22:00 EDT"}, {skip: "quiet hours"}}},
		{name: "two_slots_same_opening_one_kept", loc: ny, allowed: "08:00-21:00",
			appt: "2026-06-10 08:30", before: []time.Duration{2 * time.Hour, time.Hour},
			want: []want{{at: "2026-06-10 08:00 EDT"}, {skip: "same time as the 2h reminder"}}},
		{name: "offset_shorter_than_min_lead", loc: ny, allowed: "",
			appt: "2026-06-10 12:00", before: []time.Duration{10 * time.Minute, -time.Hour},
			want: []want{{skip: "too close"}, {skip: "too close"}}},
		// Time passed.
		{name: "48h_passed_2h_kept", loc: ny, allowed: "08:00-21:00",
			appt: "2026-06-10 15:00", now: "2026-06-09 16:00", before: std,
			want: []want{{skip: "its time passed"}, {at: "2026-06-10 13:00 EDT"}}},
		{name: "both_passed", loc: ny, allowed: "08:00-21:00",
			appt: "2026-06-10 15:00", now: "2026-06-10 14:00", before: std,
			want: []want{{skip: "its time passed"}, {skip: "its time passed"}}},
		{name: "due_exactly_now_kept", loc: ny, allowed: "08:00-21:00",
			appt: "2026-06-10 15:00", now: "2026-06-10 13:00", before: std,
			want: []want{{skip: "its time passed"}, {at: "2026-06-10 13:00 EDT"}}},
		{name: "nominal_passed_but_deferred_still_ahead", loc: ny, allowed: "08:00-21:00",
			appt: "2026-06-12 22:30", now: "2026-06-10 23:00", before: std,
			want: []want{{at: "2026-06-11 08:00 EDT"}, {at: "2026-06-12 20:30 EDT"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := func(s string) time.Time {
				v, err := time.ParseInLocation("2006-01-02 15:04", s, tt.loc)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			appt := at(tt.appt)
			if z, _ := appt.Zone(); tt.apptZone != "" && z != tt.apptZone {
				t.Fatalf("test setup: appointment %v is not in %s", appt, tt.apptZone)
			}
			now := appt.Add(-7 * 24 * time.Hour)
			if tt.now != "" {
				now = at(tt.now)
			}
			hours, err := ParseHours(tt.allowed, tt.loc)
			if err != nil {
				t.Fatal(err)
			}
			got := Plan(appt, now, tt.before, hours, tt.loc)
			if len(got) != len(tt.want) {
				t.Fatalf("%d slots, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				s := got[i]
				if s.Before != tt.before[i] {
					t.Errorf("slot %d Before = %v, want %v", i, s.Before, tt.before[i])
				}
				if w.at == "" {
					if s.Skipped == "" || !s.At.IsZero() || !strings.Contains(s.Skipped, w.skip) {
						t.Errorf("slot %d (%v) = at %v skipped %q; want skipped saying %q", i, s.Before, s.At, s.Skipped, w.skip)
					}
					continue
				}
				if s.Skipped != "" || s.At.In(tt.loc).Format(wallLayout) != w.at {
					t.Errorf("slot %d (%v) = %s skipped %q; want %s", i, s.Before, s.At.In(tt.loc).Format(wallLayout), s.Skipped, w.at)
				}
			}
		})
	}
}

func TestWallTime(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	mad := mustLoc(t, "Europe/Madrid")
	tests := []struct {
		loc   *time.Location
		y     int
		m     time.Month
		d, h  int
		want  string
		exact bool
	}{
		{ny, 2026, 3, 8, 2, "2026-03-08 03:30 EDT", false},
		{mad, 2026, 3, 29, 2, "2026-03-29 03:30 CEST", false},
		{ny, 2026, 11, 1, 1, "2026-11-01 01:30 EDT", true},
		{mad, 2026, 10, 25, 2, "2026-10-25 02:30 CEST", true},
		{ny, 2026, 7, 1, 12, "2026-07-01 12:30 EDT", true},
		{ny, 2026, 12, 32, 12, "2027-01-01 12:30 EST", true}, // normalised like time.Date
	}
	for _, tt := range tests {
		got, ok := wallTime(tt.y, tt.m, tt.d, tt.h, 30, 0, 0, tt.loc)
		if got.Format(wallLayout) != tt.want || ok != tt.exact {
			t.Errorf("wallTime(%d-%d-%d %d:30 %v) = %s %v, want %s %v", tt.y, tt.m, tt.d, tt.h, tt.loc, got.Format(wallLayout), ok, tt.want, tt.exact)
		}
	}
}

var fuzzZones = []string{"America/New_York", "Europe/Madrid", "UTC", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata"}

func FuzzPlan(f *testing.F) {
	base := time.Date(2026, 3, 9, 14, 0, 0, 0, time.UTC).Unix()
	f.Add(base, int64(-7*24*3600), int64(48*3600), int64(2*3600), uint16(8*60), uint16(21*60), uint8(0))
	f.Add(base+int64(235*24*3600), int64(-3600), int64(48*3600), int64(2*3600), uint16(8*60), uint16(21*60), uint8(1))
	f.Add(base, int64(-100), int64(10*60), int64(-5), uint16(22*60), uint16(6*60), uint8(3))
	f.Add(base, int64(-1000000), int64(30*3600), int64(3600), uint16(0), uint16(1), uint8(4))
	zones := make([]*time.Location, len(fuzzZones))
	for i, z := range fuzzZones {
		zones[i] = mustLoc(f, z)
	}
	f.Fuzz(func(t *testing.T, apptUnix, nowOffset, b1, b2 int64, startMin, endMin uint16, zone uint8) {
		// Keep to times a clinic meets: years 1970 to 2200, offsets within
		// a year.
		if apptUnix < 0 || apptUnix > 7258118400 {
			return
		}
		const year = 366 * 24 * 3600
		if nowOffset < -year || nowOffset > year || b1 < -year || b1 > year || b2 < -year || b2 > year {
			return
		}
		loc := zones[int(zone)%len(zones)]
		appt := time.Unix(apptUnix, 0)
		now := appt.Add(time.Duration(nowOffset) * time.Second)
		before := []time.Duration{time.Duration(b1) * time.Second, time.Duration(b2) * time.Second}
		start, end := time.Duration(startMin%1440)*time.Minute, time.Duration(endMin%1440)*time.Minute
		var hours *quiet.Hours
		if start != end {
			hours = &quiet.Hours{Start: start, End: end, Location: loc}
		}
		slots := Plan(appt, now, before, hours, loc)
		if len(slots) != len(before) {
			t.Fatalf("%d slots for %d offsets", len(slots), len(before))
		}
		for _, s := range slots {
			if s.Skipped != "" {
				if !s.At.IsZero() {
					t.Fatalf("skipped slot with a time: %+v", s)
				}
				continue
			}
			if s.At.After(appt.Add(-MinLead)) {
				t.Fatalf("slot %v at %v is after the appointment %v less %v", s.Before, s.At, appt, MinLead)
			}
			if s.At.Before(now) {
				t.Fatalf("slot %v at %v is before now %v", s.Before, s.At, now)
			}
			if hours != nil {
				if _, q := hours.Active(s.At, loc); q {
					t.Fatalf("slot %v at %v is in quiet hours %s (%v)", s.Before, s.At.In(loc), hours, loc)
				}
			}
		}
		if slots[0].Skipped == "" && slots[1].Skipped == "" && slots[0].At.Equal(slots[1].At) {
			t.Fatalf("two slots at the same time: %+v", slots)
		}
	})
}
