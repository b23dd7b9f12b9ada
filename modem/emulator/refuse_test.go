package emulator

import (
	"strings"
	"testing"
)

// TestRefuse: refused commands answer +CMS ERROR: 303 (27.005 §3.2.5)
// whatever their arguments, as a modem without Phase 2+ acknowledgements
// does; the others are untouched, and Refuse() accepts them again.
func TestRefuse(t *testing.T) {
	e := start(t, Config{})
	c := dial(t, e)
	c.cmd("ATE0", "OK")
	c.cmd("AT+CMEE=1", "OK")
	e.Refuse("+CSMS", "+cnma")
	for _, cmd := range []string{"AT+CSMS=1", "AT+CSMS?", "AT+CNMA=?", "AT+CNMA"} {
		if got := c.cmd(cmd, "+CMS ERROR: 303"); !strings.Contains(got, "+CMS ERROR: 303") {
			t.Errorf("%s: %q, want +CMS ERROR: 303", cmd, got)
		}
	}
	c.cmd("AT+CNMI=2,2,0,1,0", "OK")
	e.Refuse()
	if got := c.cmd("AT+CSMS=1", "OK"); !strings.Contains(got, "+CSMS: 1,1,1") {
		t.Errorf("AT+CSMS=1 after Refuse(): %q", got)
	}
}
