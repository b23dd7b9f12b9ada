package daemon

import (
	"fmt"
	"time"
)

// ClockOffsetEnv names the environment variable that moves the daemon's
// clock: a testing aid (README, "Testing with a moved clock"), never for a
// clinic's box. Its value is a Go duration ("47h", "-30m").
const ClockOffsetEnv = "SMSD_TEST_CLOCK_OFFSET"

// ClockOffset reads ClockOffsetEnv through getenv: 0 when it is not set.
func ClockOffset(getenv func(string) string) (time.Duration, error) {
	v := getenv(ClockOffsetEnv)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a duration such as 47h or -30m (unset it to run on the real clock)", ClockOffsetEnv, v)
	}
	return d, nil
}

// SetClockOffset runs every clock of the Service d ahead of the real one
// (behind, when negative): the service's own (validation, planning,
// sessions), the store's (created, due and received times, retention) and
// the dispatcher's (what is due, quiet hours, daily caps), so that a test
// sees reminders planned for the day after tomorrow go out now. It logs a
// warning that says so, since every time the box then records is off by
// d. Call it before Run.
func (s *Service) SetClockOffset(d time.Duration) {
	if d == 0 {
		return
	}
	s.clockOffset = d
	s.now = func() time.Time { return time.Now().Add(d) }
	s.log.Warn("TEST CLOCK: every time smsd uses and records is moved by "+ClockOffsetEnv+"; this is a testing aid, never for a clinic's box: unset it and restart",
		"offset", d.String(), "clock_now", s.now().Format(time.RFC3339))
}

// movedClock is the clock to hand the store and the dispatcher: the
// service's when the test clock moved it, else nil (their own default,
// time.Now; tests that move s.now alone keep the store on the real clock).
func (s *Service) movedClock() func() time.Time {
	if s.clockOffset == 0 {
		return nil
	}
	return s.now
}

// MovedClock is the clock other parts of the appliance (the web UI's
// countdown and its "today") must use: the test clock when
// SetClockOffset moved it, else nil (their default, time.Now).
func (s *Service) MovedClock() func() time.Time { return s.movedClock() }
