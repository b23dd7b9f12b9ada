package remind

import (
	"fmt"
	"strings"
	"time"

	"github.com/clinicsms/smsd/quiet"
)

// MinLead is the least time before the appointment a reminder may go out:
// one that quiet hours push closer than this is skipped, since a patient
// reminded 5 minutes before a visit cannot act on it. 15 minutes keeps the
// 2-hour reminder of an 08:15 visit (due at 06:15, quiet until 08:00).
const MinLead = 15 * time.Minute

// Slot is one reminder of the plan for an appointment.
type Slot struct {
	// Before is the plan's offset (config reminder_plan), as given.
	Before time.Duration
	// At is when the reminder goes out, after quiet hours moved it; zero
	// when Skipped.
	At time.Time
	// Skipped is "" for a reminder to send, else a sentence saying why it
	// will not go out (no patient data in it: it is stored and shown).
	Skipped string
}

// ParseHours parses the configuration's reminder_hours, the daily window in
// which reminders MAY go out ("08:00-21:00", local wall clock in loc), into
// the quiet range the rest of smsd uses (21:00–08:00): Plan defers out of
// it. "" means no limit and returns nil, which Plan accepts. A window past
// midnight ("22:00-06:00") is allowed as written.
func ParseHours(allowed string, loc *time.Location) (*quiet.Hours, error) {
	if strings.TrimSpace(allowed) == "" {
		return nil, nil
	}
	w, err := quiet.Parse(allowed, loc)
	if err != nil {
		return nil, fmt.Errorf("reminder_hours %q is the window reminders may go out in, written HH:MM-HH:MM such as 08:00-21:00: %w", allowed, err)
	}
	return &quiet.Hours{Start: w.End, End: w.Start, Location: loc}, nil
}

// Plan places an appointment's reminders: one per entry of before, in that
// order. Each is due before the appointment by its offset, whole days
// counted on the wall clock (48h before a 10:00 visit is 10:00 two days
// earlier, even across a DST change) and the rest as elapsed time (2h
// before 03:30 on a spring-forward day is 00:30). A time that falls in a
// DST gap moves later by the gap (02:30 becomes 03:30). A reminder due in
// hours (the quiet range from ParseHours; nil: none) moves to the next
// opening of the window, on the local wall clock (so 08:00 stays 08:00
// across DST). A slot is Skipped when its time, so moved, is before now
// (its time passed), is later than MinLead before the appointment (quiet
// hours would push it to or past the visit, or the offset is shorter than
// MinLead), or is the time of an earlier slot (quiet hours moved both to
// the same opening; one message is enough).
//
// loc is the clinic's zone; nil uses hours' Location, then UTC.
func Plan(appt, now time.Time, before []time.Duration, hours *quiet.Hours, loc *time.Location) []Slot {
	if loc == nil {
		if hours != nil && hours.Location != nil {
			loc = hours.Location
		} else {
			loc = time.UTC
		}
	}
	latest := appt.Add(-MinLead)
	out := make([]Slot, 0, len(before))
	for _, b := range before {
		s := Slot{Before: b}
		due := dueTime(appt, b, loc)
		at, ok := deferQuiet(due, hours, loc)
		switch {
		case b < MinLead:
			s.Skipped = fmt.Sprintf("a reminder %s before the appointment is too close to it: reminders go out at least %s before", shortDuration(b), shortDuration(MinLead))
		case !ok:
			s.Skipped = "quiet hours leave no time to send it"
		case at.Before(now):
			s.Skipped = fmt.Sprintf("its time passed: the %s reminder was due before the appointment was planned", shortDuration(b))
		case at.After(latest):
			s.Skipped = fmt.Sprintf("quiet hours (reminders go out %s) would move the %s reminder to less than %s before the appointment", allowedString(hours), shortDuration(b), shortDuration(MinLead))
		}
		if s.Skipped == "" {
			for _, o := range out {
				if o.Skipped == "" && o.At.Equal(at) {
					s.Skipped = fmt.Sprintf("quiet hours move it to the same time as the %s reminder; one message is sent", shortDuration(o.Before))
					break
				}
			}
		}
		if s.Skipped == "" {
			s.At = at
		}
		out = append(out, s)
	}
	return out
}

// dueTime is appt minus b: whole days on loc's wall clock, the rest as
// elapsed time.
func dueTime(appt time.Time, b time.Duration, loc *time.Location) time.Time {
	days := int(b / (24 * time.Hour))
	rest := b % (24 * time.Hour)
	t := appt.In(loc)
	if days != 0 {
		y, m, d := t.Date()
		t, _ = wallTime(y, m, d-days, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
	}
	return t.Add(-rest)
}

// deferQuiet moves t out of hours to the window's next opening. false when
// it finds none (a window that a DST change swallows whole, which no real
// configuration has).
func deferQuiet(t time.Time, hours *quiet.Hours, loc *time.Location) (time.Time, bool) {
	if hours == nil {
		return t, true
	}
	for range 4 {
		end, q := hours.Active(t, loc)
		if !q {
			return t, true
		}
		if !end.After(t) {
			// A window end inside a DST gap can normalise to before t:
			// step past it.
			end = t.Add(time.Minute)
		}
		t = end
	}
	return t, false
}

// wallTime is the instant loc's wall clock shows y-m-d h:mi:s.ns (the date
// normalised as time.Date does). In a spring-forward gap the time does not
// exist: the result is the same time pushed later by the gap (02:30 →
// 03:30), and ok is false. In a fall-back overlap it is the first of the
// two. time.Date leaves both cases unspecified (and picks differently for
// New York and Madrid); reminders and imports need one answer.
func wallTime(y int, mo time.Month, d, h, mi, s, ns int, loc *time.Location) (time.Time, bool) {
	u := time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	want := func(t time.Time) bool {
		return t.Year() == u.Year() && t.YearDay() == u.YearDay() && t.Hour() == u.Hour() && t.Minute() == u.Minute() && t.Second() == u.Second()
	}
	var best time.Time
	found := false
	var before int
	for i, probe := range []time.Duration{-26 * time.Hour, 0, 26 * time.Hour} {
		_, off := u.Add(probe).In(loc).Zone()
		if i == 0 {
			before = off
		}
		t := u.Add(-time.Duration(off) * time.Second).In(loc)
		if want(t) && (!found || t.Before(best)) {
			best, found = t, true
		}
	}
	if found {
		return best, true
	}
	return u.Add(-time.Duration(before) * time.Second).In(loc), false
}

// allowedString is the window reminders may go out in, for a reason.
func allowedString(h *quiet.Hours) string {
	if h == nil {
		return "at any time"
	}
	return (&quiet.Hours{Start: h.End, End: h.Start}).String()
}

// shortDuration writes 48h0m0s as 48h and 1h30m0s as 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
