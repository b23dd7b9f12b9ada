package modem

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clinicsms/smsd/modem/emulator"
)

// commandsSince returns the command lines the emulator received after the
// first n, upper-cased.
func commandsSince(emu *emulator.Emulator, n int) []string {
	var out []string
	for _, c := range emu.Commands()[n:] {
		out = append(out, strings.ToUpper(c))
	}
	return out
}

// TestDirectRoutingAcknowledged: with a PartStore and a modem that takes
// AT+CSMS=1 (27.005 §3.2.1), new messages come as +CMT and status reports
// as +CDS (AT+CNMI=2,2,0,1,0), each answered with AT+CNMA (§3.4.4) once
// handed on or its part saved; nothing is stored on the SIM.
func TestDirectRoutingAcknowledged(t *testing.T) {
	parts := newMemParts()
	r := startRig(t, func(c *Config) { c.Parts = parts; c.StatusReports = true })
	init := commandsSince(r.emu, 0)
	if !slices.Contains(init, "AT+CSMS=1") || !slices.Contains(init, "AT+CNMI=2,2,0,1,0") {
		t.Fatalf("initialisation did not ask for acknowledged direct routing: %q", init)
	}
	if err := r.emu.Inject("+15552000001", "STOP"); err != nil {
		t.Fatal(err)
	}
	injectPart(t, r, "+15552000002", "Running ", 3, 2, 1)
	injectPart(t, r, "+15552000002", "late", 3, 2, 2)
	r.sink.wait(t, "both messages handed on", func() bool { return len(r.sink.inbound) == 2 })
	texts := []string{r.sink.inbound[0].Text, r.sink.inbound[1].Text}
	slices.Sort(texts)
	if !slices.Equal(texts, []string{"Running late", "STOP"}) {
		t.Errorf("handed on %q", texts)
	}
	if _, err := send(t, r.m, Outgoing{To: to, Text: "report me"}); err != nil {
		t.Fatal(err)
	}
	r.sink.wait(t, "the status report", func() bool { return len(r.sink.reports) == 1 })
	waitFor(t, "four acknowledgements", func() bool { return countCommands(r.emu, "AT+CNMA") >= 1+4 }) // AT+CNMA=? at init
	if n := countCommands(r.emu, "AT+CNMA=2"); n != 0 {
		t.Errorf("%d refusals (AT+CNMA=2), want none", n)
	}
	if n := countCommands(r.emu, "AT+CMGR") + countCommands(r.emu, "AT+CMGD"); n != 0 || r.emu.Stored() != 0 {
		t.Errorf("the SIM was used: %d reads or deletions, %d stored", n, r.emu.Stored())
	}
	if parts.len() != 0 {
		t.Errorf("%d parts left in the store", parts.len())
	}
}

// TestDirectRoutingRefusedUntilStored: a message routed directly that the
// handler could not store, and a part the PartStore could not save, are
// refused (AT+CNMA=2, RP-ERROR) so that the network keeps them and
// delivers them again; each is handed on once, nothing is lost.
func TestDirectRoutingRefusedUntilStored(t *testing.T) {
	parts := newMemParts()
	parts.failNew = 1
	r := startRig(t, func(c *Config) { c.Parts = parts })
	r.sink.mu.Lock()
	r.sink.failNext = 1
	r.sink.mu.Unlock()
	if err := r.emu.Inject("+15552000001", "STOP"); err != nil {
		t.Fatal(err)
	}
	r.sink.wait(t, "the STOP handed on", func() bool { return len(r.sink.inbound) == 1 })
	if in := r.sink.inbound[0]; in.Text != "STOP" {
		t.Errorf("handed on %+v", in)
	}
	// After a refusal new messages go to the SIM until the next health
	// check routes them directly again.
	n0 := countCommands(r.emu, "AT+CNMI=2,2,0,1,0")
	waitFor(t, "direct routing set again", func() bool { return countCommands(r.emu, "AT+CNMI=2,2,0,1,0") > n0 })
	injectPart(t, r, "+15552000002", "Cancel my ", 4, 2, 1)
	injectPart(t, r, "+15552000002", "visit", 4, 2, 2)
	r.sink.wait(t, "the two-part message handed on", func() bool { return len(r.sink.inbound) == 2 })
	if in := r.sink.inbound[1]; in.Text != "Cancel my visit" || len(in.Missing) != 0 {
		t.Errorf("handed on %+v", in)
	}
	if n := countCommands(r.emu, "AT+CNMA=2"); n < 2 {
		t.Errorf("%d refusals (AT+CNMA=2), want one for the handler and one for the part", n)
	}
	waitFor(t, "SIM and store emptied", func() bool { return r.emu.Stored() == 0 && r.emu.Held() == 0 && parts.len() == 0 })
	r.sink.mu.Lock()
	defer r.sink.mu.Unlock()
	if len(r.sink.inbound) != 2 {
		t.Errorf("%d messages handed on, want 2", len(r.sink.inbound))
	}
}

// TestDirectRoutingSetAgainAfterMissedAck: the handler takes longer than
// the modem waits for AT+CNMA; the modem switches routing off (AT+CNMI
// <mt> 0, 27.005 §3.4.4) and the network puts the message on the SIM. The
// next health check sets AT+CNMI again: the next message comes as +CMT
// and is acknowledged, and the copy on the SIM is swept up.
func TestDirectRoutingSetAgainAfterMissedAck(t *testing.T) {
	parts := newMemParts()
	var (
		mu    sync.Mutex
		texts []string
		r     *rig
	)
	r = newRigEmu(t, func(e *emulator.Config) { e.AckTimeout = 200 * time.Millisecond }, func(c *Config) {
		c.Parts = parts
		c.OnInbound = func(ctx context.Context, in Inbound) error {
			if in.Text == "first" && r.emu.Stored() == 0 {
				// Slower than the modem's patience: wait until it gave up
				// and the network stored the message on the SIM.
				for r.emu.Stored() == 0 {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			texts = append(texts, in.Text)
			return nil
		}
	})
	r.run(t)
	r.ready(t)
	if err := r.emu.Inject("+15552000001", "first"); err != nil {
		t.Fatal(err)
	}
	got := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(texts)
	}
	waitFor(t, "the first message handed on", func() bool { return len(got()) >= 1 })
	n0 := countCommands(r.emu, "AT+CNMI=2,2,0,1,0")
	waitFor(t, "direct routing set again and the SIM copy swept up", func() bool {
		return countCommands(r.emu, "AT+CNMI=2,2,0,1,0") > n0 && r.emu.Stored() == 0
	})
	before := len(r.emu.Commands())
	if err := r.emu.Inject("+15552000001", "second"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second message handed on", func() bool { return slices.Contains(got(), "second") })
	waitFor(t, "the second message acknowledged (routed directly)", func() bool {
		return slices.Contains(commandsSince(r.emu, before), "AT+CNMA")
	})
	if all := got(); !slices.Contains(all, "first") {
		t.Errorf("handed on %q", all)
	}
}

// TestDirectRoutingFallsBack: a modem that refuses AT+CSMS=1 or AT+CNMA,
// or a modem without a PartStore, gets today's routing: new messages on
// the SIM with +CMTI (AT+CNMI=2,1,0,1,0), read, handed on, deleted.
func TestDirectRoutingFallsBack(t *testing.T) {
	cases := []struct {
		name   string
		refuse []string
		store  bool
	}{
		{"CSMS refused", []string{"+CSMS"}, true},
		{"CNMA refused", []string{"+CNMA"}, true},
		{"no PartStore", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, func(cfg *Config) {
				if c.store {
					cfg.Parts = newMemParts()
				}
			})
			r.emu.Refuse(c.refuse...)
			r.run(t)
			r.ready(t)
			if err := r.emu.Inject("+15552000001", "STOP"); err != nil {
				t.Fatal(err)
			}
			r.sink.wait(t, "the STOP handed on", func() bool { return len(r.sink.inbound) == 1 })
			waitFor(t, "the SIM emptied", func() bool { return r.emu.Stored() == 0 })
			cmds := commandsSince(r.emu, 0)
			if !slices.Contains(cmds, "AT+CNMI=2,1,0,1,0") || slices.Contains(cmds, "AT+CNMI=2,2,0,1,0") {
				t.Errorf("routing not stored with +CMTI: %q", cmds)
			}
			if countCommands(r.emu, "AT+CMGD") == 0 {
				t.Errorf("the STOP was not deleted from the SIM: %q", cmds)
			}
			if n := countCommands(r.emu, "AT+CNMA") - countCommands(r.emu, "AT+CNMA=?"); n != 0 {
				t.Errorf("%d acknowledgements sent without AT+CSMS=1", n)
			}
		})
	}
}

// TestDirectRoutingAckRefusedLater: a modem that took AT+CSMS=1 and then
// refuses AT+CNMA itself is set back to stored routing; the message it
// showed was handed on, and the next ones come with +CMTI.
func TestDirectRoutingAckRefusedLater(t *testing.T) {
	r := startRig(t, func(c *Config) { c.Parts = newMemParts() })
	r.emu.Refuse("+CNMA")
	if err := r.emu.Inject("+15552000001", "one"); err != nil {
		t.Fatal(err)
	}
	r.sink.wait(t, "the first message handed on", func() bool { return len(r.sink.inbound) >= 1 })
	waitFor(t, "stored routing set", func() bool {
		return countCommands(r.emu, "AT+CSMS=0") >= 1 && countCommands(r.emu, "AT+CNMI=2,1,0,1,0") >= 1
	})
	before := countCommands(r.emu, "AT+CMGD")
	if err := r.emu.Inject("+15552000001", "two"); err != nil {
		t.Fatal(err)
	}
	r.sink.wait(t, "the second message handed on", func() bool {
		return slices.ContainsFunc(r.sink.inbound, func(in Inbound) bool { return in.Text == "two" })
	})
	waitFor(t, "the second message deleted from the SIM (stored, not routed)", func() bool { return countCommands(r.emu, "AT+CMGD") > before })
}

// TestParseCSMS: <mt> of "+CSMS: <mt>,<mo>,<bm>" (27.005 §3.2.1).
func TestParseCSMS(t *testing.T) {
	for _, c := range []struct {
		lines []string
		mt    int
		ok    bool
	}{
		{[]string{"+CSMS: 1,1,1"}, 1, true},
		{[]string{"+CSMS: 0,1,1"}, 0, true},
		{[]string{"+CSMS: x,1,1"}, 0, false},
		{nil, 0, false},
	} {
		mt, err := ParseCSMS(c.lines)
		if mt != c.mt || (err == nil) != c.ok {
			t.Errorf("ParseCSMS(%q) = %d, %v", c.lines, mt, err)
		}
	}
}
