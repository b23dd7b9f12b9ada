package modem

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/clinicsms/smsd/modem/pdu"
)

// memParts is a PartStore in memory: the store's side of the contract
// (queue.Store's parts are tested in package queue, and end to end in e2e).
type memParts struct {
	mu      sync.Mutex
	next    int64
	parts   map[int64]SavedPart
	failNew int // SavePart fails this many times first
}

func newMemParts() *memParts { return &memParts{parts: map[int64]SavedPart{}} }

func (p *memParts) SavePart(_ context.Context, part Part) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failNew > 0 {
		p.failNew--
		return 0, errors.New("store unavailable (test)")
	}
	p.next++
	p.parts[p.next] = SavedPart{ID: p.next, TPDU: part.TPDU, ReceivedAt: part.ReceivedAt}
	return p.next, nil
}

func (p *memParts) Parts(context.Context) ([]SavedPart, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []SavedPart
	for _, sp := range p.parts {
		out = append(out, sp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (p *memParts) DeleteParts(_ context.Context, ids []int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		delete(p.parts, id)
	}
	return nil
}

func (p *memParts) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.parts)
}

// injectPart delivers part seq of total of text as a raw PDU.
func injectPart(t *testing.T, r *rig, from, text string, ref uint16, total, seq int) {
	t.Helper()
	tpdu, err := pdu.EncodeDeliver(from, text, time.Now(), &pdu.Concat{Ref: ref, Total: total, Seq: seq})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.emu.InjectPDU(append([]byte{0x00}, tpdu...)); err != nil {
		t.Fatal(err)
	}
}

// TestPartsFloodDoesNotHideStop: 30 orphan first parts (as many as the SIM
// has slots) and then a STOP. With a PartStore the parts leave the SIM as
// they come, so the STOP is handed on at once; without one the SIM stays
// full and the network holds the STOP back (the emulator models 24.011
// memory capacity exceeded) until the parts time out.
//
// Both routings: stored (+CMTI; the modem refuses AT+CSMS=1) and direct
// with acknowledgement (+CMT, AT+CNMA), where the parts never reach the
// SIM.
func TestPartsFloodDoesNotHideStop(t *testing.T) {
	for _, direct := range []bool{false, true} {
		t.Run(map[bool]string{false: "stored", true: "direct"}[direct], func(t *testing.T) {
			parts := newMemParts()
			r := newRig(t, func(c *Config) { c.Parts = parts })
			if !direct {
				r.emu.Refuse("+CSMS")
			}
			r.run(t)
			r.ready(t)
			for ref := 1; ref <= 30; ref++ {
				injectPart(t, r, "+15550009999", "orphan", uint16(ref), 2, 1)
			}
			if err := r.emu.Inject("+15552000001", "STOP"); err != nil {
				t.Fatal(err)
			}
			r.sink.wait(t, "the STOP handed on", func() bool { return len(r.sink.inbound) == 1 })
			if in := r.sink.inbound[0]; in.From != "+15552000001" || in.Text != "STOP" {
				t.Errorf("handed on %+v, want the STOP", in)
			}
			waitFor(t, "the SIM emptied and the parts stored", func() bool {
				return r.emu.Stored() == 0 && r.emu.Held() == 0 && parts.len() == 30
			})
			if n := countCommands(r.emu, "AT+CNMA"); direct != (n >= 31) {
				t.Errorf("%d acknowledgements (AT+CNMA) for 31 messages, routed directly %v", n, direct)
			}
		})
	}
}

// TestPartsSurviveRestart: a first part saved before a restart and its
// second part after it make one message; the parts leave the store once it
// is handed on. A handler that fails keeps the parts in the store, and the
// message is handed on at a later health check.
func TestPartsSurviveRestart(t *testing.T) {
	cases := []struct {
		name     string
		failNext int
	}{
		{"handler works", 0},
		{"handler fails once", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parts := newMemParts()
			r := startRig(t, func(cfg *Config) { cfg.Parts = parts })
			injectPart(t, r, "+15552000002", "Running ", 77, 2, 1)
			waitFor(t, "part 1 in the store, off the SIM", func() bool { return parts.len() == 1 && r.emu.Stored() == 0 })
			r.stop()
			waitFor(t, "the first modem stopped", func() bool { return !r.m.running.Load() })

			// A new modem (a restarted daemon) on the same SIM and store.
			r2 := newRig(t, func(cfg *Config) { cfg.Parts = parts; cfg.Path = r.m.cfg.Path })
			r2.emu = r.emu
			r2.sink.failNext = c.failNext
			r2.run(t)
			r2.ready(t)
			injectPart(t, r2, "+15552000002", "late", 77, 2, 2)
			r2.sink.wait(t, "the message handed on", func() bool { return len(r2.sink.inbound) == 1 })
			if in := r2.sink.inbound[0]; in.Text != "Running late" || in.Parts != 2 || len(in.Missing) != 0 || len(in.PartIDs) != 2 {
				t.Errorf("handed on %+v", in)
			}
			waitFor(t, "parts deleted from the store and the SIM", func() bool { return parts.len() == 0 && r.emu.Stored() == 0 })
		})
	}
}

// TestPartsSaveFailsKeepsSIM: when the store cannot take a part, it waits
// on the SIM as without a PartStore, and the message still completes. The
// modem stores new messages (+CMTI): it refuses AT+CSMS=1.
func TestPartsSaveFailsKeepsSIM(t *testing.T) {
	parts := newMemParts()
	parts.failNew = 1
	r := newRig(t, func(c *Config) { c.Parts = parts })
	r.emu.Refuse("+CSMS")
	r.run(t)
	r.ready(t)
	injectPart(t, r, "+15552000003", "a", 5, 2, 1)
	waitFor(t, "part 1 on the SIM", func() bool { return r.emu.Stored() == 1 && parts.len() == 0 })
	injectPart(t, r, "+15552000003", "b", 5, 2, 2)
	r.sink.wait(t, "the message handed on", func() bool { return len(r.sink.inbound) == 1 })
	if got := r.sink.inbound[0].Text; got != "ab" {
		t.Errorf("text %q, want %q", got, "ab")
	}
	waitFor(t, "SIM and store emptied", func() bool { return r.emu.Stored() == 0 && parts.len() == 0 })
}

// TestHandlerFailsMultipartOnSIM: the parts of a message could not be
// saved (they wait on the SIM), and the handler fails once for the whole
// message. The next sweep reads the parts again: they are the message
// again, not late duplicates of one handed on, so nothing is deleted
// before the handler took it. Without a PartStore it is the same.
func TestHandlerFailsMultipartOnSIM(t *testing.T) {
	for _, withStore := range []bool{true, false} {
		name := "without PartStore"
		if withStore {
			name = "PartStore refuses the parts"
		}
		t.Run(name, func(t *testing.T) {
			parts := newMemParts()
			parts.failNew = 2 // both parts stay on the SIM
			r := newRig(t, func(c *Config) {
				if withStore {
					c.Parts = parts
				}
			})
			r.emu.Refuse("+CSMS") // stored with +CMTI, not routed directly
			r.sink.failNext = 1
			r.run(t)
			r.ready(t)
			injectPart(t, r, "+15552000004", "Cancel my ", 6, 2, 1)
			injectPart(t, r, "+15552000004", "visit", 6, 2, 2)
			r.sink.wait(t, "the message handed on after the handler failed once", func() bool {
				return len(r.sink.inbound) == 1 && r.sink.failNext == 0
			})
			if in := r.sink.inbound[0]; in.Text != "Cancel my visit" || in.Parts != 2 || len(in.Missing) != 0 {
				t.Errorf("handed on %+v", in)
			}
			waitFor(t, "SIM and store emptied", func() bool { return r.emu.Stored() == 0 && parts.len() == 0 })
		})
	}
}
