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

	"github.com/clinicsms/smsd/modem"
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

// TestMultipartResumeAfterCrash: smsd stops while part 2 of 3 is in flight:
// the modem took the PDU (the network has it) but never answered, and the
// shutdown deadline cuts the command off, as a crash would. Part 1 is
// recorded; the message is `uncertain` (part 2 may have gone out), also after
// a restart. Staff resend it: parts 2 and 3 go out with the reference of
// part 1, and the phone shows the text once (its reassembly drops the
// second copy of part 2).
func TestMultipartResumeAfterCrash(t *testing.T) {
	if pdu.CountText(threePart).Parts != 3 {
		t.Fatalf("test text has %d parts, want 3", pdu.CountText(threePart).Parts)
	}
	// The drain deadline (1 s after the stop) comes long after the PDU of
	// part 2 reached the modem, and cuts the unanswered command off.
	r := newRig(t, withDrain(time.Second))
	e := r.emus[0]
	cmgs := cmgsCounter(e, 2, func() { e.HangOnNextSubmit() })
	m := r.enqueue(alice, threePart)
	r.start()
	r.eventually("second part submitted", 10*time.Second, func() bool { return cmgs.Load() >= 2 })
	r.stop()

	before := r.get(m.ID)
	if before.State != queue.Uncertain || !slices.Equal(before.PartsAccepted, []int{1}) || before.Reference == 0 {
		t.Fatalf("after the crash: state %s, parts %v, reference %d; want uncertain, [1], a reference",
			before.State, before.PartsAccepted, before.Reference)
	}
	// Restart with a new store handle.
	r.store.Close()
	r.store = openStore(t, r.dir, rigSetup{maxTries: 5, backoff: func(int) time.Duration { return 0 }})
	r.cfg.Store = r.store
	if u := r.get(m.ID); u.State != queue.Uncertain {
		t.Fatalf("after reopening: state %s, want uncertain", u.State)
	}
	if n := len(e.Handset()); n != 0 {
		t.Fatalf("handset shows %d messages with part 3 never sent", n)
	}
	if err := r.store.Resend(context.Background(), m.ID); err != nil {
		t.Fatalf("resend: %v", err)
	}
	e.Unhang()
	r.start()
	got := r.waitHandset(0, 1, 20*time.Second)
	after := r.waitOut(m.ID, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	sameMessages(t, e.Handset(), []sent{{alice, threePart}})
	if !sameRef(got[0].Reference, before.Reference) || after.Reference != before.Reference {
		t.Errorf("handset reference %d, stored %d; want the first attempt's %d", got[0].Reference, after.Reference, before.Reference)
	}
	if !slices.Equal(after.PartsAccepted, []int{1, 2, 3}) {
		t.Errorf("parts accepted %v, want [1 2 3]", after.PartsAccepted)
	}
	if c := cmgs.Load(); c != 4 {
		t.Errorf("%d AT+CMGS in all, want 4 (part 1 once)", c)
	}
}

// TestShutdownCutsUnansweredPrompt: smsd stops while the modem does not
// even give the "> " prompt for part 2: the PDU was never written, so the
// message goes back to the queue (not uncertain) with part 1 recorded, and
// the restart sends parts 2 and 3.
func TestShutdownCutsUnansweredPrompt(t *testing.T) {
	r := newRig(t, withDrain(200*time.Millisecond))
	e := r.emus[0]
	cmgs := cmgsCounter(e, 2, func() { e.Hang() })
	m := r.enqueue(alice, threePart)
	r.start()
	r.eventually("second part started", 10*time.Second, func() bool { return cmgs.Load() >= 2 })
	r.stop()
	mid := r.get(m.ID)
	if mid.State != queue.Queued || !slices.Equal(mid.PartsAccepted, []int{1}) {
		t.Fatalf("after stop: state %s parts %v; want queued, [1]", mid.State, mid.PartsAccepted)
	}
	e.Unhang()
	r.start()
	got := r.waitHandset(0, 1, 20*time.Second)
	r.waitOut(m.ID, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	sameMessages(t, e.Handset(), []sent{{alice, threePart}})
	if !sameRef(got[0].Reference, mid.Reference) {
		t.Errorf("handset reference %d, want %d", got[0].Reference, mid.Reference)
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
	done := r.waitOut(m.ID, 5*time.Second)
	if c := cmgs.Load(); c != 3 {
		t.Errorf("%d AT+CMGS in all, want 3 (no part sent twice)", c)
	}
	if got[0].Text != threePart || !sameRef(got[0].Reference, mid.Reference) || done.Reference != mid.Reference {
		t.Errorf("handset text ok=%v reference %d; want the text with reference %d", got[0].Text == threePart, got[0].Reference, mid.Reference)
	}
}

// TestMultipartResumeAfterModemHang: the modem stops answering when part 2
// of 3 is due (no "> " prompt, so part 2 never left). The message goes back
// to the queue with part 1 recorded; when the modem answers again, parts 2
// and 3 go out with the same reference.
func TestMultipartResumeAfterModemHang(t *testing.T) {
	r := newRig(t)
	// Long enough for part 1 on a loaded machine, short for the test.
	r.cfg.Modems[0].Modem.SendTimeout = 1500 * time.Millisecond
	e := r.emus[0]
	cmgs := cmgsCounter(e, 2, func() { e.Hang() })
	m := r.enqueue(alice, threePart)
	r.start()
	var first queue.Message
	r.eventually("part 1 recorded and the message back in the queue", 15*time.Second, func() bool {
		first = r.get(m.ID)
		return slices.Equal(first.PartsAccepted, []int{1}) && first.State == queue.Queued
	})
	if n := len(e.Handset()); n != 0 {
		t.Fatalf("handset shows %d messages with one part of three sent", n)
	}
	e.Unhang()
	r.waitHandset(0, 1, 20*time.Second)
	done := r.waitOut(m.ID, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	h := e.Handset()
	sameMessages(t, h, []sent{{alice, threePart}})
	if len(h) == 1 && !sameRef(h[0].Reference, first.Reference) || done.Reference != first.Reference {
		t.Errorf("reference changed across the resume: first %d, now %d", first.Reference, done.Reference)
	}
	// Part 1 once, the hung part 2, then parts 2 and 3 again.
	if c := cmgs.Load(); c != 4 {
		t.Errorf("%d AT+CMGS in all, want 4", c)
	}
}

// sameRef: the store keeps a 16-bit reference; on the wire the modem uses
// the 8-bit concatenation IE (its low byte) unless it chose the 16-bit one.
func sameRef(wire, stored uint16) bool { return wire == stored || wire == stored&0xFF }

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
	if counts[queue.Sent]+counts[queue.Delivered] != 6 {
		t.Errorf("counts %v, want 6 sent or delivered", counts)
	}
	if n := len(r.emus[1].Handset()); n != 0 {
		t.Errorf("the unplugged modem's handset shows %d messages", n)
	}
	if st := r.d.Status().Modems[1]; st.Ready || st.State != StateWaitModem || st.Sent != 0 {
		t.Errorf("unplugged modem: ready %v state %q sent %d; want not ready, waiting, nothing sent", st.Ready, st.State, st.Sent)
	}
}

// TestPoolClaimedWorkGoesBack: a modem of the pool hangs with a message
// claimed (no "> " prompt: nothing went out). The message goes back to the
// queue and the other modem sends it.
func TestPoolClaimedWorkGoesBack(t *testing.T) {
	r := newRig(t, withModems(2))
	// Only the modem that hangs gets a short timeout: on a loaded machine
	// the healthy one must not time out after submitting (that would make
	// its message uncertain, correctly, and this test about nothing).
	r.cfg.Modems[1].Modem.SendTimeout = 500 * time.Millisecond
	hung := r.emus[1]
	tries := cmgsCounter(hung, 1, func() { hung.Hang() })
	r.emus[0].SetLatency(30 * time.Millisecond) // so that m2 gets to claim
	r.start()
	r.waitReady()
	var want []sent
	var ids []int64
	for i := range 6 {
		text := fmt.Sprintf("Reminder %d", i)
		ids = append(ids, r.enqueue(carol, text).ID)
		want = append(want, sent{carol, text})
	}
	r.waitHandset(0, len(want), 30*time.Second)
	time.Sleep(100 * time.Millisecond)
	sameMessages(t, r.emus[0].Handset(), want)
	if n := len(hung.Handset()); n != 0 {
		t.Errorf("hung modem's handset shows %d messages", n)
	}
	if tries.Load() == 0 {
		t.Fatal("the second modem never claimed a message; the test proves nothing")
	}
	for _, id := range ids {
		if m := r.waitOut(id, 5*time.Second); m.ModemID != "m1" {
			t.Errorf("message %d went out through %q, want m1", id, m.ModemID)
		}
	}
	if st := r.d.Status().Modems[1]; st.LastError == "" {
		t.Errorf("hung modem shows no error in its status (%+v)", st)
	}
}

// TestUnplugReplugMidRun unplugs the modem five times while 20 messages
// (some of two parts) go out: right after a part was accepted but before
// the modem's answer was read (the worst moment), and at other moments.
// Every sent message reaches the handset exactly once. A message whose
// answer was lost in the unplug is not retried (that could send it twice):
// it becomes `uncertain` for staff to resend or dismiss, and it is on the
// handset at most once.
func TestUnplugReplugMidRun(t *testing.T) {
	r := newRig(t)
	e := r.emus[0]
	e.SetLatency(5 * time.Millisecond)
	var want []sent
	var ids []int64
	for i := range 20 {
		to := []string{alice, bob, carol}[i%3]
		text := fmt.Sprintf("Reminder %d: appointment", i)
		if i%5 == 0 {
			text += " " + strings.Repeat("long ", 40) // two parts
		}
		ids = append(ids, r.enqueue(to, text).ID)
		want = append(want, sent{to, text})
	}
	r.start()
	pause := []time.Duration{0, 7 * time.Millisecond, 0, 13 * time.Millisecond, 3 * time.Millisecond}
	for round, p := range pause {
		r.waitHandset(0, 3*(round+1), 20*time.Second)
		time.Sleep(p)
		e.Unplug()
		time.Sleep(100 * time.Millisecond)
		if err := e.Replug(); err != nil {
			t.Fatal(err)
		}
	}
	r.eventually("every message out or left uncertain", 30*time.Second, func() bool {
		counts, err := r.store.Counts(context.Background())
		return err == nil && counts[queue.Sent]+counts[queue.Delivered]+counts[queue.Uncertain] == len(want) &&
			counts[queue.Uncertain] == r.d.Status().Modems[0].Uncertain
	})
	time.Sleep(200 * time.Millisecond)
	// Each message that is sent is on the handset exactly once; an
	// uncertain one at most once; nothing twice.
	onHandset := map[sent]int{}
	for _, h := range e.Handset() {
		onHandset[sent{h.To, h.Text}]++
	}
	uncertain, uncertainOut := 0, 0
	for i, id := range ids {
		m := r.get(id)
		n := onHandset[want[i]]
		switch {
		case m.State == queue.Uncertain:
			uncertain++
			uncertainOut += n
			if n > 1 {
				t.Errorf("uncertain message %d is on the handset %d times", i, n)
			}
		case n != 1:
			t.Errorf("message %d is %s and on the handset %d times, want once", i, m.State, n)
		}
		delete(onHandset, want[i])
	}
	if len(onHandset) != 0 {
		t.Errorf("handset has messages nobody sent: %d", len(onHandset))
	}
	// Only a part whose PDU was written when the port died is uncertain:
	// at most one per unplug. The others went back and out after the replug.
	if uncertain > len(pause) {
		t.Errorf("%d messages uncertain after %d unplugs: at most one each", uncertain, len(pause))
	}
	t.Logf("%d of %d unplugs hit a part in flight (left uncertain, never retried); %d of those had in fact reached the handset",
		uncertain, len(pause), uncertainOut)
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
	r.waitOut(out.ID, 10*time.Second)
	if err := r.emus[0].Inject(alice, "  Stop. "); err != nil {
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
	if in[0].Text != "  Stop. " || in[0].ReplyTo != out.ID || in[0].From != alice {
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
	r.waitOut(m.ID, 10*time.Second)
	if !r.d.Alive() {
		t.Error("not alive after an undecodable PDU")
	}
	r.eventually("the undecodable PDU deleted from the SIM once stored", 10*time.Second, func() bool { return r.emus[0].Stored() == 0 })
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

// TestAliveFalseWhileLoopStuck: a send loop blocked past StallTimeout (here
// in a modem command that gets no answer) makes Alive false, so the daemon
// stops pinging the systemd watchdog; once the loop moves again, Alive is
// true again.
func TestAliveFalseWhileLoopStuck(t *testing.T) {
	r := newRig(t)
	r.cfg.StallTimeout = 300 * time.Millisecond
	r.cfg.Modems[0].Modem.SendTimeout = 3 * time.Second
	e := r.emus[0]
	cmgsCounter(e, 1, func() { e.Hang() })
	r.start()
	r.waitReady()
	r.eventually("alive", 5*time.Second, r.d.Alive)
	m := r.enqueue(alice, "Reminder: stuck")
	r.eventually("not alive while the send hangs", 5*time.Second, func() bool { return !r.d.Alive() })
	e.Unhang()
	r.eventually("alive again", 15*time.Second, r.d.Alive)
	r.waitOut(m.ID, 15*time.Second)
	sameMessages(t, e.Handset(), []sent{{alice, "Reminder: stuck"}})
}

// TestAllPartsAcceptedBeforeCrashNotResent: smsd died after the last part
// was accepted and recorded but before MarkSent. After the restart staff
// resend the uncertain message; nothing goes out again and it becomes sent.
func TestAllPartsAcceptedBeforeCrashNotResent(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	m := r.enqueue(alice, "Reminder: already out")
	c, err := r.store.Claim(ctx, "m1")
	if err != nil || c == nil || c.ID != m.ID {
		t.Fatalf("claim: %v %v", c, err)
	}
	if err := r.store.RecordPart(ctx, m.ID, 1, 1, 7); err != nil {
		t.Fatal(err)
	}
	r.store.Close()
	r.store = openStore(t, r.dir, rigSetup{maxTries: 5, backoff: func(int) time.Duration { return 0 }})
	r.cfg.Store = r.store
	if err := r.store.Resend(ctx, m.ID); err != nil {
		t.Fatalf("resend: %v", err)
	}
	cmgs := cmgsCounter(r.emus[0], 0, nil)
	r.start()
	r.waitOut(m.ID, 10*time.Second)
	if n := cmgs.Load(); n != 0 {
		t.Errorf("%d AT+CMGS sent for a message whose only part was already accepted", n)
	}
}

// TestInboundHandedOverTwice: the modem hands a message over again when
// smsd died before deleting it from the SIM. The store keeps one copy and
// the HELP reply is queued once.
func TestInboundHandedOverTwice(t *testing.T) {
	r := newRig(t, withHelp("Example Clinic reminders. Reply STOP to opt out."))
	d, err := New(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := d.loops[0]
	ctx := context.Background()
	in := modem.Inbound{From: carol, Text: "Help", SentAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Parts: 1}
	for range 2 {
		if err := l.onInbound(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.waitInbox(1); len(got) != 1 {
		t.Errorf("inbox has %d messages, want 1", len(got))
	}
	counts, _ := r.store.Counts(ctx)
	if counts[queue.Queued] != 1 {
		t.Errorf("%d replies queued, want 1", counts[queue.Queued])
	}
}

// TestInboundIncompleteNoKeyword: a concatenated reply whose other parts
// never came is stored (marked incomplete) but not read as a keyword: the
// part that came may say STOP while the whole said something else.
func TestInboundIncompleteNoKeyword(t *testing.T) {
	r := newRig(t)
	d, err := New(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in := modem.Inbound{From: bob, Text: "STOP", Parts: 2, Missing: []int{1}, SentAt: time.Now()}
	if err := d.loops[0].onInbound(ctx, in); err != nil {
		t.Fatal(err)
	}
	got := r.waitInbox(1)
	if !got[0].Incomplete {
		t.Error("stored without the incomplete mark")
	}
	if o, _ := r.store.IsOptedOut(ctx, bob); o {
		t.Error("an incomplete message opted its sender out")
	}
}

// TestTransientMidMessageKeepsProgress: part 2 of 3 meets network
// congestion (+CMS ERROR: 42). The retry keeps part 1 and sends parts 2
// and 3 with the same reference; the phone shows the text once.
func TestTransientMidMessageKeepsProgress(t *testing.T) {
	r := newRig(t)
	e := r.emus[0]
	cmgs := cmgsCounter(e, 2, func() { e.FailSends(1, 42) })
	m := r.enqueue(alice, threePart)
	r.start()
	got := r.waitHandset(0, 1, 15*time.Second)
	done := r.waitOut(m.ID, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	sameMessages(t, e.Handset(), []sent{{alice, threePart}})
	if done.Attempts != 2 || !slices.Equal(done.PartsAccepted, []int{1, 2, 3}) {
		t.Errorf("attempts %d parts %v; want 2 attempts, [1 2 3]", done.Attempts, done.PartsAccepted)
	}
	// Part 1, the refused part 2, then parts 2 and 3: part 1 never twice.
	if c := cmgs.Load(); c != 4 {
		t.Errorf("%d AT+CMGS in all, want 4", c)
	}
	if !sameRef(got[0].Reference, done.Reference) {
		t.Errorf("handset reference %d, stored %d", got[0].Reference, done.Reference)
	}
}

// TestInboundStopWithBrokenTimestamp: a STOP whose network timestamp is
// malformed still opts the sender out (the time is stored as unknown).
func TestInboundStopWithBrokenTimestamp(t *testing.T) {
	r := newRig(t)
	r.start()
	r.waitReady()
	tpdu, err := pdu.EncodeDeliver(alice, "STOP", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// TP-SCTS follows the first octet, TP-OA (8 octets for a +1 number),
	// TP-PID and TP-DCS; month 13 and a time zone that is not BCD.
	copy(tpdu[1+8+2:], []byte{0x62, 0x31, 0x42, 0x51, 0x00, 0x00, 0xF0})
	if err := r.emus[0].InjectPDU(append([]byte{0x00}, tpdu...)); err != nil {
		t.Fatal(err)
	}
	r.eventually("sender opted out", 10*time.Second, func() bool {
		o, err := r.store.IsOptedOut(context.Background(), alice)
		return err == nil && o
	})
	in := r.waitInbox(1)
	if in[0].Text != "STOP" || in[0].DecodeError != "" || in[0].From != alice {
		t.Errorf("inbox: %q from %s, decode error %q; want STOP from %s, decoded", in[0].Text, in[0].From, in[0].DecodeError, alice)
	}
}
