package emulator

import (
	"strings"
	"testing"
)

// TestFullSIMNetworkHolds: on a full SIM the modem refuses a new message
// (24.011 cause 22, memory capacity exceeded) and the network holds it,
// and every one after it, in order; when AT+CMGD frees a slot the modem
// tells the network (RP-SMMA, 24.011 §7.3.2) and the held messages come,
// one +CMTI each, as long as there is room.
func TestFullSIMNetworkHolds(t *testing.T) {
	e := start(t, Config{Capacity: 2})
	c := dial(t, e)
	c.cmd("ATE0", "OK")
	texts := []string{"one", "two", "three", "four"}
	for _, s := range texts {
		if err := e.Inject("+15557654321", s); err != nil {
			t.Fatalf("inject %q: %v (the network takes it even when the SIM is full)", s, err)
		}
	}
	c.until(`"SM",2` + "\r\n")
	steps := []struct {
		del          string
		wantStored   int
		wantHeld     int
		wantIndex    string // the +CMTI after the OK, "" none
		wantCPMSUsed string
	}{
		{"", 2, 2, "", `+CPMS: "SM",2,2`},
		{"AT+CMGD=1", 2, 1, `+CMTI: "SM",1`, `+CPMS: "SM",2,2`},
		{"AT+CMGD=2", 2, 0, `+CMTI: "SM",2`, `+CPMS: "SM",2,2`},
		{"AT+CMGD=1", 1, 0, "", `+CPMS: "SM",1,2`},
	}
	for i, s := range steps {
		switch {
		case s.del != "" && s.wantIndex != "":
			c.send(s.del + "\r")
			if got := c.until(s.wantIndex + "\r\n"); !strings.Contains(got, "OK\r\n\r\n"+s.wantIndex) {
				t.Errorf("step %d: %q, want OK then %s", i, got, s.wantIndex)
			}
		case s.del != "":
			if got := c.cmd(s.del, "OK"); strings.Contains(got, "+CMTI") {
				t.Errorf("step %d: unexpected indication %q", i, got)
			}
		}
		if e.Stored() != s.wantStored || e.Held() != s.wantHeld {
			t.Errorf("step %d: stored %d held %d, want %d and %d", i, e.Stored(), e.Held(), s.wantStored, s.wantHeld)
		}
		if got := c.cmd("AT+CPMS?", "OK"); !strings.Contains(got, s.wantCPMSUsed) {
			t.Errorf("step %d: %q, want %s", i, got, s.wantCPMSUsed)
		}
		list := c.cmd("AT+CMGL=4", "OK")
		if !strings.Contains(list, "+CMGL:") {
			t.Errorf("step %d: nothing listed: %q", i, list)
		}
	}
}
