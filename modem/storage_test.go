package modem

import (
	"fmt"
	"strings"
	"testing"

	"github.com/clinicsms/smsd/internal/testutil"
)

// TestParseCPMS: the used and total slots of the storage where received
// messages go (<mem3>, 27.005 §3.2.2), or of the only one given.
func TestParseCPMS(t *testing.T) {
	cases := []struct {
		lines       []string
		used, total int
		bad         bool
	}{
		{[]string{`+CPMS: "SM",3,30,"SM",3,30,"SM",3,30`}, 3, 30, false},
		{[]string{`+CPMS: "ME",0,100,"ME",0,100,"SM",29,30`}, 29, 30, false},
		{[]string{`+CPMS: "SM",5,20`}, 5, 20, false},
		{[]string{"", `+CPMS:"SM",0,10,"SM",0,10,"SM",0,10`}, 0, 10, false},
		{[]string{`+CPMS: "SM",31,30,"SM",31,30,"SM",31,30`}, 0, 0, true},
		{[]string{`+CPMS: "SM",x,30`}, 0, 0, true},
		{[]string{`+CPMS: "SM",3`}, 0, 0, true},
		{[]string{"OK"}, 0, 0, true},
	}
	for _, c := range cases {
		used, total, err := ParseCPMS(c.lines)
		if (err != nil) != c.bad || used != c.used || total != c.total {
			t.Errorf("ParseCPMS(%q) = %d, %d, %v; want %d, %d, error %v", c.lines, used, total, err, c.used, c.total, c.bad)
		}
	}
}

// TestStorageInHealth: the health check reads AT+CPMS? and Health shows
// the SIM's used and total slots; at 80 % full it warns in the log, once
// however many checks follow. Messages stay on the SIM here because the
// handler fails (as when the store is unavailable).
func TestStorageInHealth(t *testing.T) {
	cases := []struct {
		stored int
		warn   bool
	}{
		{23, false}, // 76 % of 30
		{24, true},  // 80 %
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.stored), func(t *testing.T) {
			logs := &testutil.Buffer{}
			r := newRig(t, func(cfg *Config) { cfg.Logger = testutil.Logger(logs) })
			r.sink.failNext = 1 << 30
			r.run(t)
			r.ready(t)
			for i := range c.stored {
				if err := r.emu.Inject(fmt.Sprintf("+1555100%04d", i), "hello"); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "storage use in Health", func() bool {
				h := r.m.Health()
				return h.StorageUsed == c.stored && h.StorageTotal == 30
			})
			// Three more health checks after the count was seen.
			n := countCommands(r.emu, "AT+CPMS?")
			waitFor(t, "three more health checks", func() bool { return countCommands(r.emu, "AT+CPMS?") >= n+3 })
			want := 0
			if c.warn {
				want = 1
			}
			if got := strings.Count(logs.String(), "message storage nearly full"); got != want {
				t.Errorf("%d warnings with %d of 30 slots used, want %d", got, c.stored, want)
			}
		})
	}
}
