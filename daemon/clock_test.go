package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/config"
)

// TestClockOffset: SMSD_TEST_CLOCK_OFFSET is read as a Go duration (unset:
// the real clock; not a duration: an error naming the variable), and
// SetClockOffset moves the service's clock by it.
func TestClockOffset(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want time.Duration
		err  bool
	}{{"", 0, false}, {"47h", 47 * time.Hour, false}, {"-30m", -30 * time.Minute, false}, {"two days", 0, true}, {"48", 0, true}} {
		got, err := ClockOffset(func(k string) string {
			if k == ClockOffsetEnv {
				return tc.v
			}
			return ""
		})
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s=%q: %v, %v; want %v, error %v", ClockOffsetEnv, tc.v, got, err, tc.want, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), ClockOffsetEnv) {
			t.Errorf("the error %q does not name %s", err, ClockOffsetEnv)
		}
	}
	s := New(config.Default(), nil, nil)
	s.SetClockOffset(48 * time.Hour)
	if ahead := s.now().Sub(time.Now()); ahead < 47*time.Hour || ahead > 49*time.Hour {
		t.Errorf("the service's clock is %v ahead, want 48h", ahead)
	}
}
