// Package quiet is the clinic's quiet hours: a daily window, on the clinic's
// wall clock, in which no SMS goes out. It is a leaf: the configuration
// checks a window with it, and the dispatcher and (later) the reminder planner
// defer messages out of it.
package quiet

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Hours is a daily window in which nothing is sent (patients should not
// get a reminder at 3 a.m.). Messages due then wait until the window ends;
// they are never dropped. Start and End are offsets from local midnight; a
// window with End before Start wraps past midnight (21:00–08:00). Start ==
// End is refused (it would mean "always" or "never").
type Hours struct {
	Start, End time.Duration
	// Location is the clinic's clock; nil: the def given to Active.
	Location *time.Location
}

// Parse parses "HH:MM-HH:MM" (24-hour clock, e.g. "21:00-08:00")
// as the configuration file spells quiet hours.
func Parse(s string, loc *time.Location) (*Hours, error) {
	from, to, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return nil, fmt.Errorf("quiet hours %q: want HH:MM-HH:MM, e.g. 21:00-08:00", s)
	}
	start, err := parseClock(from)
	if err != nil {
		return nil, fmt.Errorf("quiet hours %q: start: %w", s, err)
	}
	end, err := parseClock(to)
	if err != nil {
		return nil, fmt.Errorf("quiet hours %q: end: %w", s, err)
	}
	q := &Hours{Start: start, End: end, Location: loc}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	return q, nil
}

func parseClock(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(hh) == 0 || len(hh) > 2 || len(mm) != 2 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, fmt.Errorf("%q is not a time of day between 00:00 and 23:59", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// String gives the window as "HH:MM-HH:MM".
func (q *Hours) String() string {
	f := func(d time.Duration) string {
		return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return f(q.Start) + "-" + f(q.End)
}

// Validate checks that the window is two different times of day.
func (q *Hours) Validate() error {
	day := 24 * time.Hour
	if q.Start < 0 || q.Start >= day || q.End < 0 || q.End >= day {
		return fmt.Errorf("quiet hours %s: start and end must be times of day (00:00 to 23:59)", q)
	}
	if q.Start == q.End {
		return fmt.Errorf("quiet hours %s: start equals end; remove quiet hours or give a real window", q)
	}
	return nil
}

// Active reports whether now falls in the window and, if so, when it ends.
// Clock times are taken on the local calendar day, so a DST change moves the
// window with the wall clock, as staff expect.
func (q *Hours) Active(now time.Time, def *time.Location) (time.Time, bool) {
	loc := q.Location
	if loc == nil {
		loc = def
	}
	t := now.In(loc)
	at := func(day time.Time, off time.Duration) time.Time {
		y, m, d := day.Date()
		return time.Date(y, m, d, int(off/time.Hour), int(off%time.Hour/time.Minute), 0, 0, loc)
	}
	start, end := at(t, q.Start), at(t, q.End)
	if q.Start < q.End {
		if !t.Before(start) && t.Before(end) {
			return end, true
		}
		return time.Time{}, false
	}
	// Wraps past midnight: quiet from start today until end tomorrow, or
	// from start yesterday until end today.
	if !t.Before(start) {
		return at(t.AddDate(0, 0, 1), q.End), true
	}
	if t.Before(end) {
		return end, true
	}
	return time.Time{}, false
}
