package dispatch

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clinicsms/smsd/modem/emulator"
	"github.com/clinicsms/smsd/modem/pdu"
	"github.com/clinicsms/smsd/queue"
)

// threePart is a GSM-7 text of exactly three parts.
var threePart = strings.Repeat("Reminder: your appointment is on Monday at 9:30, please arrive early. ", 5)

// cmgsCounter counts AT+CMGS commands at the emulator and runs act (in its
// own goroutine) when the n-th one arrives.
func cmgsCounter(e *emulator.Emulator, n int, act func()) *atomic.Int32 {
	var count atomic.Int32
	e.OnCommand(func(cmd string, _ time.Time) {
		if strings.HasPrefix(strings.ToUpper(cmd), "AT+CMGS=") {
			if int(count.Add(1)) == n && act != nil {
				act()
			}
		}
	})
	return &count
}

// TestMultipartResumeAfterCrash: the daemon dies while part 2 of 3 is in
// flight and the modem never answers it. Part 1 is recorded, the message is
// `uncertain` after the restart; staff resend it and only parts 2 and 3 go
// out, with the reference of part 1, so the phone shows the text once.
func TestMultipartResumeAfterCrash(t *testing.T) {
	if pdu.CountText(threePart).Parts != 3 {
		t.Fatalf("test text has %d parts, want 3", pdu.CountText(threePart).Parts)
	}
	r := newRig(t, withDrain(200*time.Millisecond))
	e := r.emus[0]
	cmgs := cmgsCounter(e, 2, func() { e.Hang() })
	m := r.enqueue(alice, threePart)
	r.start()
	r.eventually("second part submitted", 10*time.Second, func() bool { return cmgs.Load() >= 2 })
	r.stop() // the drain deadline cuts the hung part off, as a crash would

	before := r.get(m.ID)
	if before.State != queue.Sending || !slices.Equal(before.PartsAccepted, []int{1}) || before.Reference == 0 {
		t.Fatalf("after the crash: state %s, parts %v, reference %d; want sending, [1], a reference",
			before.State, before.PartsAccepted, before.Reference)
	}
	// Restart: a new store handle (open turns `sending` into `uncertain`).
	r.store.Close()
	r.store = openStore(t, r.dir, rigSetup{maxTries: 5, backoff: func(int) time.Duration { return 0 }})
	r.cfg.Store = r.store
	u := r.get(m.ID)
	if u.State != queue.Uncertain {
		t.Fatalf("after reopening: state %s, want uncertain", u.State)
	}
	if err := r.store.Resend(context.Background(), m.ID); err != nil {
		t.Fatalf("resend: %v", err)
	}
	e.Unhang()
	e.OnCommand(nil)
	r.start()
	got := r.waitHandset(0, 1, 20*time.Second)
	after := r.waitState(m.ID, queue.Sent, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	sameMessages(t, e.Handset(), []sent{{alice, threePart}})
	if got[0].Reference != before.Reference || after.Reference != before.Reference {
		t.Errorf("handset reference %d, stored %d; want the first attempt's %d", got[0].Reference, after.Reference, before.Reference)
	}
	if !slices.Equal(after.PartsAccepted, []int{1, 2, 3}) {
		t.Errorf("parts accepted %v, want [1 2 3]", after.PartsAccepted)
	}
}

// TestStopBetweenPartsResumes: SIGTERM while part 2 is in flight: part 2
// finishes, part 3 waits for the restart, with the same reference.
func TestStopBetweenPartsResumes(t *testing.T) {
	r := newRig(t)
	e := r.emus[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	cmgs := cmgsCounter(e, 2, func() { once.Do(cancel) })
	m := r.enqueue(alice, threePart)
	r.startCtx(ctx)
	if err := r.wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mid := r.get(m.ID)
	if mid.State != queue.Queued || !slices.Equal(mid.PartsAccepted, []int{1, 2}) {
		t.Fatalf("after stop: state %s parts %v; want queued, [1 2]", mid.State, mid.PartsAccepted)
	}
	if n := len(e.Handset()); n != 0 {
		t.Fatalf("handset shows %d messages before the last part", n)
	}
	r.start()
	got := r.waitHandset(0, 1, 15*time.Second)
	done := r.waitState(m.ID, queue.Sent, 5*time.Second)
	if c := cmgs.Load(); c != 3 {
		t.Errorf("%d AT+CMGS in all, want 3 (no part sent twice)", c)
	}
	if got[0].Text != threePart || got[0].Reference != mid.Reference || done.Reference != mid.Reference {
		t.Errorf("handset text ok=%v reference %d; want the text with reference %d", got[0].Text == threePart, got[0].Reference, mid.Reference)
	}
}

// TestMultipartResumeAfterModemLoss: the modem is unplugged after part 1 of
// 3; the message keeps its progress and the replugged modem sends parts 2
// and 3 with the same reference.
func TestMultipartResumeAfterModemLoss(t *testing.T) {
	r := newRig(t)
	e := r.emus[0]
	cmgsCounter(e, 2, func() { go e.Unplug() })
	m := r.enqueue(alice, threePart)
	r.start()
	r.eventually("part 1 recorded and the modem gone", 10*time.Second, func() bool {
		got := r.get(m.ID)
		return len(got.PartsAccepted) == 1 && got.State == queue.Queued
	})
	first := r.get(m.ID)
	e.OnCommand(nil)
	if err := e.Replug(); err != nil {
		t.Fatal(err)
	}
	r.waitHandset(0, 1, 20*time.Second)
	done := r.waitState(m.ID, queue.Sent, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	h := e.Handset()
	sameMessages(t, h, []sent{{alice, threePart}})
	if len(h) == 1 && h[0].Reference != first.Reference || done.Reference != first.Reference {
		t.Errorf("reference changed across the resume: first %d, now %d", first.Reference, done.Reference)
	}
}

func TestPoolOfTwo(t *testing.T) {
	r := newRig(t, withModems(2))
	for _, e := range r.emus {
		e.SetLatency(20 * time.Millisecond)
	}
	r.start()
	r.waitReady()
	var want []sent
	for i := range 16 {
		to := []string{alice, bob, carol, dave}[i%4]
		text := fmt.Sprintf("Reminder %d: appointment", i)
		r.enqueue(to, text)
		want = append(want, sent{to, text})
	}
	r.eventually("all 16 on the handsets", 30*time.Second, func() bool { return len(r.allHandset()) >= len(want) })
	time.Sleep(200 * time.Millisecond)
	sameMessages(t, r.allHandset(), want)
	n1, n2 := len(r.emus[0].Handset()), len(r.emus[1].Handset())
	if n1 == 0 || n2 == 0 {
		t.Errorf("one modem did all the work (%d / %d): the pool does not share", n1, n2)
	}
	msgs, err := r.store.List(context.Background(), queue.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]int{}
	for _, m := range msgs {
		by[m.ModemID]++
	}
	if by["m1"] != n1 || by["m2"] != n2 {
		t.Errorf("store says m1 sent %d, m2 %d; handsets say %d, %d", by["m1"], by["m2"], n1, n2)
	}
}

// TestPoolModemDiesOtherTakesOver: one modem of two is unplugged for good;
// everything goes out through the other.
func TestPoolModemDiesOtherTakesOver(t *testing.T) {
	r := newRig(t, withModems(2))
	r.start()
	r.waitReady()
	r.emus[1].Unplug()
	var want []sent
	for i := range 6 {
		text := fmt.Sprintf("Reminder %d", i)
		r.enqueue(bob, text)
		want = append(want, sent{bob, text})
	}
	r.eventually("all 6 on the handsets", 30*time.Second, func() bool { return len(r.allHandset()) >= len(want) })
	time.Sleep(100 * time.Millisecond)
	sameMessages(t, r.allHandset(), want)
	counts, _ := r.store.Counts(context.Background())
	if counts[queue.Sent] != 6 {
		t.Errorf("counts %v, want 6 sent", counts)
	}
}

func TestUnplugReplugMidRun(t *testing.T) {
	r := newRig(t)
	e := r.emus[0]
	e.SetLatency(5 * time.Millisecond)
	var want []sent
	for i := range 20 {
		text := fmt.Sprintf("Reminder %d: appointment", i)
		if i%5 == 0 {
			text += " " + strings.Repeat("long ", 40) // two parts
		}
		r.enqueue([]string{alice, bob, carol}[i%3], text)
		want = append(want, sent{[]string{alice, bob, carol}[i%3], text})
	}
	r.start()
	for round := range 3 {
		r.waitHandset(0, 4*(round+1), 20*time.Second)
		e.Unplug()
		time.Sleep(150 * time.Millisecond)
		if err := e.Replug(); err != nil {
			t.Fatal(err)
		}
	}
	r.waitHandset(0, len(want), 30*time.Second)
	time.Sleep(200 * time.Millisecond)
	sameMessages(t, e.Handset(), want)
	counts, _ := r.store.Counts(context.Background())
	if counts[queue.Sent]+counts[queue.Delivered] != len(want) {
		t.Errorf("counts %v, want all %d sent or delivered", counts, len(want))
	}
}

func TestDeliveryReports(t *testing.T) {
	r := newRig(t, withStatusDelay(20*time.Millisecond))
	single := r.enqueue(alice, "Reminder: delivered")
	multi := r.enqueue(bob, threePart)
	r.start()
	r.waitState(single.ID, queue.Delivered, 15*time.Second)
	r.waitState(multi.ID, queue.Delivered, 15*time.Second)

	// A permanent failure report makes the message undelivered.
	r.emus[0].SetDeliveryOutcome(0x41) // incompatible destination
	bad := r.enqueue(carol, "Reminder: undeliverable")
	r.waitState(bad.ID, queue.Undelivered, 15*time.Second)
}

func TestInboundStopOptsOut(t *testing.T) {
	r := newRig(t)
	out := r.enqueue(alice, "Reminder: reply C to confirm")
	r.start()
	r.waitState(out.ID, queue.Sent, 10*time.Second)
	if err := r.emus[0].Inject(alice, "  Stop "); err != nil {
		t.Fatal(err)
	}
	r.eventually("sender opted out", 10*time.Second, func() bool {
		o, err := r.store.IsOptedOut(context.Background(), alice)
		return err == nil && o
	})
	_, err := r.store.Enqueue(context.Background(), queue.NewMessage{To: alice, Text: "Reminder: again"})
	if err == nil || !strings.Contains(err.Error(), "opted out") {
		t.Fatalf("enqueue after STOP: %v, want an opted-out error", err)
	}
	in := r.waitInbox(1)
	if in[0].Text != "  Stop " || in[0].ReplyTo != out.ID || in[0].From != alice {
		t.Errorf("inbox: from %s text %q reply_to %d; want from %s, the text, reply_to %d", in[0].From, in[0].Text, in[0].ReplyTo, alice, out.ID)
	}
	// START opts back in.
	if err := r.emus[0].Inject(alice, "start"); err != nil {
		t.Fatal(err)
	}
	r.eventually("sender opted back in", 10*time.Second, func() bool {
		o, err := r.store.IsOptedOut(context.Background(), alice)
		return err == nil && !o
	})
	// An ordinary reply opts nobody out.
	if err := r.emus[0].Inject(bob, "Stop by at 3?"); err != nil {
		t.Fatal(err)
	}
	r.waitInbox(3)
	if o, _ := r.store.IsOptedOut(context.Background(), bob); o {
		t.Error("a sentence starting with Stop opted the sender out")
	}
}

func TestInboundHelpReply(t *testing.T) {
	const help = "Reminder service of Example Clinic. Call 555-0199. Reply STOP to opt out."
	r := newRig(t, withHelp(help))
	r.start()
	r.waitReady()
	if err := r.emus[0].Inject(carol, "help"); err != nil {
		t.Fatal(err)
	}
	got := r.waitHandset(0, 1, 15*time.Second)
	if got[0].To != carol || got[0].Text != help {
		t.Fatalf("reply to %s %q, want the help text to %s", got[0].To, got[0].Text, carol)
	}
	r.waitInbox(1)
}

func TestInboundUndecodableKept(t *testing.T) {
	r := newRig(t)
	r.start()
	r.waitReady()
	// SMSC field "00", then an SMS-DELIVER header whose user data length
	// claims far more than follows.
	raw := []byte{0x00, 0x04, 0x0B, 0x91, 0x21, 0x20, 0x55, 0x05, 0x10, 0xF0, 0x00, 0x00, 0x62, 0x11, 0x42, 0x10, 0x00, 0x00, 0x00, 0xA0, 0x41}
	if err := r.emus[0].InjectPDU(raw); err != nil {
		t.Fatal(err)
	}
	in := r.waitInbox(1)
	if len(in[0].Raw) == 0 || in[0].DecodeError == "" {
		t.Fatalf("undecodable PDU stored as raw %x, decode error %q; want both kept", in[0].Raw, in[0].DecodeError)
	}
	// Not fatal: the daemon still sends.
	m := r.enqueue(alice, "Reminder: still working")
	r.waitState(m.ID, queue.Sent, 10*time.Second)
	if !r.d.Alive() {
		t.Error("not alive after an undecodable PDU")
	}
	if r.emus[0].Stored() != 0 {
		t.Errorf("%d messages left on the SIM, want the stored one deleted", r.emus[0].Stored())
	}
}

// waitInbox waits until the store holds at least n inbound messages and
// returns them oldest first.
func (r *rig) waitInbox(n int) []queue.Inbound {
	r.t.Helper()
	var in []queue.Inbound
	r.eventually(fmt.Sprintf("%d inbound messages", n), 15*time.Second, func() bool {
		var err error
		in, err = r.store.Inbox(context.Background(), 100)
		return err == nil && len(in) >= n
	})
	slices.SortFunc(in, func(a, b queue.Inbound) int { return int(a.ID - b.ID) })
	return in
}

// wait waits for Run to return after cancelOnly.
func (r *rig) wait() error {
	select {
	case err := <-r.done:
		r.cancel = nil
		return err
	case <-time.After(20 * time.Second):
		r.t.Fatal("Run did not return")
		return nil
	}
}
