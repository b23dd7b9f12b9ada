package modem

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clinicsms/smsd/internal/testutil"
	"github.com/clinicsms/smsd/modem/emulator"
	"github.com/clinicsms/smsd/modem/pdu"
	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

// These tests drive the real modem code (go.bug.st/serial on a pty) against
// the emulator in modem/emulator: no Go interface fakes.

const to = "+15551234567"

// sink records what the modem hands on.
type sink struct {
	mu       sync.Mutex
	inbound  []Inbound
	reports  []StatusReport
	failNext int // OnInbound fails this many times first
	ch       chan struct{}
}

func newSink() *sink { return &sink{ch: make(chan struct{}, 100)} }

func (s *sink) onInbound(_ context.Context, in Inbound) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return errors.New("store unavailable (test)")
	}
	s.inbound = append(s.inbound, in)
	s.ch <- struct{}{}
	return nil
}

func (s *sink) onReport(_ context.Context, sr StatusReport) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, sr)
	s.ch <- struct{}{}
	return nil
}

// wait polls until cond holds (checked under the sink's lock).
func (s *sink) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.ch:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

type rig struct {
	emu  *emulator.Emulator
	m    *Modem
	sink *sink
	done chan error
	stop context.CancelFunc
}

// newRig starts an emulator linked at a temp path and a modem on it; adjust
// changes the config before New; the modem is not run (call run).
func newRig(t testing.TB, adjust func(*Config)) *rig {
	t.Helper()
	return newRigEmu(t, nil, adjust)
}

// newRigEmu is newRig with adjustEmu changing the emulator's config.
func newRigEmu(t testing.TB, adjustEmu func(*emulator.Config), adjust func(*Config)) *rig {
	t.Helper()
	link := filepath.Join(t.TempDir(), "ttySIM0")
	ecfg := emulator.Config{Link: link, Logger: testutil.Logger(nil), StatusReportDelay: 10 * time.Millisecond}
	if adjustEmu != nil {
		adjustEmu(&ecfg)
	}
	emu, err := emulator.Start(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	s := newSink()
	cfg := Config{
		Path: link,
		// Generous: the machine running the tests may be busy; the tests
		// about timeouts set short ones themselves.
		CommandTimeout: 2 * time.Second,
		SendTimeout:    5 * time.Second,
		HealthInterval: 200 * time.Millisecond,
		ReconnectMin:   50 * time.Millisecond,
		ReconnectMax:   200 * time.Millisecond,
		Logger:         testutil.Logger(nil),
		OnInbound:      s.onInbound,
		OnStatusReport: s.onReport,
	}
	if adjust != nil {
		adjust(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{emu: emu, m: m, sink: s}
}

func (r *rig) run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	r.done = make(chan error, 1)
	go func() { r.done <- r.m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func (r *rig) ready(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.m.WaitReady(ctx); err != nil {
		t.Fatalf("modem not ready: %v (health %+v)", err, r.m.Health())
	}
}

func startRig(t testing.TB, adjust func(*Config)) *rig {
	r := newRig(t, adjust)
	r.run(t)
	r.ready(t)
	return r
}

type acceptedPart struct{ seq, total, mr int }

func send(t testing.TB, m *Modem, out Outgoing) ([]acceptedPart, error) {
	t.Helper()
	var got []acceptedPart
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := m.Send(ctx, out, func(seq, total, mr int) error {
		got = append(got, acceptedPart{seq, total, mr})
		return nil
	})
	return got, err
}

func handset(t testing.TB, emu *emulator.Emulator, n int) []emulator.HandsetMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msgs, err := emu.WaitHandset(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func countCommands(emu *emulator.Emulator, prefix string) int {
	n := 0
	for _, c := range emu.Commands() {
		if strings.HasPrefix(strings.ToUpper(c), prefix) {
			n++
		}
	}
	return n
}

func TestSendEncodings(t *testing.T) {
	r := startRig(t, nil)
	cases := []struct {
		name, text, enc string
	}{
		{"gsm7_plain", "Reminder: appointment tomorrow 9:30 at Elm St clinic. Reply C to confirm.", "GSM-7"},
		{"gsm7_extension", "Price {10€} [room 3] ~ a|b \\ ^", "GSM-7"},
		{"ucs2_accents", "Łódź: wizyta jutro o 9:30", "UCS-2"},
		{"ucs2_cjk", "明日の予約は午前9時30分です", "UCS-2"},
		{"ucs2_emoji_surrogates", "See you tomorrow 😀👍", "UCS-2"},
		{"gsm7_two_parts", strings.Repeat("Long reminder text. ", 10), "GSM-7"},
		{"ucs2_emoji_three_parts", strings.Repeat("😀 ok ", 30), "UCS-2"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ref := uint16(10 + i)
			parts, err := send(t, r.m, Outgoing{To: to, Text: c.text, Reference: ref})
			if err != nil {
				t.Fatal(err)
			}
			want := pdu.CountText(c.text).Parts
			if len(parts) != want {
				t.Fatalf("accepted %d parts, CountText says %d", len(parts), want)
			}
			msgs := handset(t, r.emu, i+1)
			h := msgs[i]
			if h.To != to || h.Text != c.text || h.Encoding != c.enc || h.Parts != want || h.SRR || h.At.IsZero() {
				t.Fatalf("handset shows %+v", h)
			}
			for j, p := range parts {
				if p.seq != j+1 || p.total != want || p.mr != h.MRs[j] {
					t.Fatalf("part %d: accepted %+v, handset MRs %v", j+1, p, h.MRs)
				}
			}
			if want > 1 && h.Reference != ref {
				t.Fatalf("reference %d, want %d", h.Reference, ref)
			}
		})
	}
}

func TestTooManyParts(t *testing.T) {
	r := startRig(t, func(c *Config) { c.MaxParts = 2 })
	_, err := send(t, r.m, Outgoing{To: to, Text: strings.Repeat("x", 161*3)})
	if !errors.Is(err, ErrTooManyParts) || IsTransient(err) {
		t.Fatalf("want permanent ErrTooManyParts, got %v", err)
	}
	if n := countCommands(r.emu, "AT+CMGS="); n != 0 {
		t.Fatalf("%d parts went out", n)
	}
}

// The default cap is 6 parts: a text of exactly 6 goes out, one of 7 is
// refused before anything is sent, with the counts in the error.
func TestDefaultPartsCapIsSix(t *testing.T) {
	r := startRig(t, nil)
	six := strings.Repeat("x", 153*6)
	seven := six + "y"
	if n := pdu.CountText(six).Parts; n != 6 {
		t.Fatalf("six-part text has %d parts", n)
	}
	parts, err := send(t, r.m, Outgoing{To: to, Text: six, Reference: 600})
	if err != nil || len(parts) != 6 {
		t.Fatalf("6 parts: %d accepted, %v", len(parts), err)
	}
	before := countCommands(r.emu, "AT+CMGS=")
	_, err = send(t, r.m, Outgoing{To: to, Text: seven, Reference: 700})
	if !errors.Is(err, ErrTooManyParts) || IsTransient(err) || !strings.Contains(err.Error(), "7 parts") || !strings.Contains(err.Error(), "maximum 6") {
		t.Fatalf("7 parts: %v", err)
	}
	if n := countCommands(r.emu, "AT+CMGS=") - before; n != 0 {
		t.Fatalf("%d parts of the refused text went out", n)
	}
}

func TestInvalidNumberPermanent(t *testing.T) {
	r := startRig(t, nil)
	_, err := send(t, r.m, Outgoing{To: "+1555abc", Text: "hi"})
	if err == nil || IsTransient(err) || !errors.Is(err, ErrInvalidNumber) {
		t.Fatalf("want permanent invalid number, got %v", err)
	}
	if strings.Contains(err.Error(), "1555abc") {
		t.Fatalf("error leaks the number: %v", err)
	}
}

// Send errors are typed per 3GPP TS 27.005 §3.2.5 so the dispatcher can act.
func TestSendErrorTyped(t *testing.T) {
	r := startRig(t, nil)
	for _, c := range []struct {
		cms       int
		transient bool
	}{{38, true}, {41, true}, {42, true}, {47, true}, {331, true}, {332, true},
		{1, false}, {21, false}, {28, false}, {96, false}} {
		r.emu.FailSends(1, c.cms)
		_, err := send(t, r.m, Outgoing{To: to, Text: "x"})
		var me *Error
		if !errors.As(err, &me) || me.CMS != c.cms || IsTransient(err) != c.transient {
			t.Errorf("+CMS %d: got %v, transient want %v", c.cms, err, c.transient)
		}
	}
	// The modem stays usable after errors.
	if _, err := send(t, r.m, Outgoing{To: to, Text: "after errors"}); err != nil {
		t.Fatal(err)
	}
}

// A multipart send fails half-way; the resume sends only the missing parts
// with the same reference, and the handset shows one whole message.
func TestMultipartResumeWithSkip(t *testing.T) {
	r := startRig(t, nil)
	text := strings.Repeat("Part of a long message. ", 18) // 3 parts of GSM-7
	if n := pdu.CountText(text).Parts; n != 3 {
		t.Fatalf("test text has %d parts", n)
	}
	var accepted []int
	ctx := context.Background()
	err := r.m.Send(ctx, Outgoing{To: to, Text: text, Reference: 77}, func(seq, total, mr int) error {
		accepted = append(accepted, seq)
		if seq == 1 {
			r.emu.FailSends(1, 42) // congestion on part 2
		}
		return nil
	})
	var me *Error
	if !errors.As(err, &me) || me.CMS != 42 || !IsTransient(err) || !strings.Contains(me.Op, "part 2/3") {
		t.Fatalf("want transient +CMS 42 on part 2, got %v", err)
	}
	if !slices.Equal(accepted, []int{1}) {
		t.Fatalf("accepted %v", accepted)
	}
	if len(r.emu.Handset()) != 0 {
		t.Fatal("handset shows an incomplete message")
	}
	parts, err := send(t, r.m, Outgoing{To: to, Text: text, Reference: 77, Skip: accepted})
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 2 || parts[0].seq != 2 || parts[1].seq != 3 {
		t.Fatalf("resume sent %+v", parts)
	}
	h := handset(t, r.emu, 1)
	if len(h) != 1 || h[0].Text != text || h[0].Parts != 3 || h[0].Reference != 77 {
		t.Fatalf("handset %+v", h)
	}
	if n := countCommands(r.emu, "AT+CMGS="); n != 4 { // 1 ok, 1 refused, 2 ok
		t.Fatalf("%d AT+CMGS, want 4", n)
	}
	// accepted returning an error stops the send there.
	stop := errors.New("store failed")
	calls := 0
	err = r.m.Send(ctx, Outgoing{To: to, Text: text, Reference: 78}, func(seq, total, mr int) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("want stop after part 1, got %v after %d", err, calls)
	}
}

// A +CMTI arriving in the middle of AT+CMGS's answer neither breaks the send
// nor gets lost.
func TestCMTIDuringSend(t *testing.T) {
	r := startRig(t, nil)
	r.emu.InjectDuringNextSend("+15557654321", "C")
	parts, err := send(t, r.m, Outgoing{To: to, Text: "Reminder"})
	if err != nil || len(parts) != 1 || parts[0].mr <= 0 {
		t.Fatalf("send: %+v %v", parts, err)
	}
	r.sink.wait(t, "inbound during send", func() bool { return len(r.sink.inbound) == 1 })
	in := r.sink.inbound[0]
	if in.From != "+15557654321" || in.Text != "C" || in.Parts != 1 || in.DecodeErr != nil {
		t.Fatalf("inbound %+v", in)
	}
	waitFor(t, "message deleted from the SIM", func() bool { return r.emu.Stored() == 0 })

	// And one arriving between AT+CMGS and its "> " prompt, during a
	// multipart send.
	r.emu.InjectBeforeNextPrompt("+15550001111", "STOP")
	parts, err = send(t, r.m, Outgoing{To: to, Text: strings.Repeat("two parts ", 20), Reference: 3})
	if err != nil || len(parts) != 2 {
		t.Fatalf("send: %+v %v", parts, err)
	}
	r.sink.wait(t, "inbound before prompt", func() bool { return len(r.sink.inbound) == 2 })
	if in := r.sink.inbound[1]; in.Text != "STOP" || in.From != "+15550001111" {
		t.Fatalf("inbound %+v", in)
	}
	if h := handset(t, r.emu, 2); h[1].Parts != 2 {
		t.Fatalf("handset %+v", h[1])
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInboundMultipartAnyOrder(t *testing.T) {
	r := startRig(t, nil)
	text := strings.Repeat("Yes I will come, thank you! ", 12)
	tpdus, err := pdu.EncodeDeliverParts("+15557654321", text, time.Now(), 0x1234)
	if err != nil || len(tpdus) < 3 {
		t.Fatalf("%d parts, %v", len(tpdus), err)
	}
	order := []int{2, 0, 1}
	for _, i := range order {
		if err := r.emu.InjectPDU(append([]byte{0}, tpdus[i]...)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 3; i < len(tpdus); i++ {
		r.emu.InjectPDU(append([]byte{0}, tpdus[i]...))
	}
	r.sink.wait(t, "reassembled inbound", func() bool { return len(r.sink.inbound) == 1 })
	in := r.sink.inbound[0]
	if in.Text != text || in.Parts != len(tpdus) || len(in.Missing) != 0 {
		t.Fatalf("inbound %d parts, missing %v, text ok %v", in.Parts, in.Missing, in.Text == text)
	}
	waitFor(t, "parts deleted from the SIM", func() bool { return r.emu.Stored() == 0 })
	// The network repeats a part after the message was handed on: it is
	// not a new message, and it does not keep its SIM slot.
	if err := r.emu.InjectPDU(append([]byte{0}, tpdus[1]...)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "late duplicate deleted from the SIM", func() bool { return r.emu.Stored() == 0 })
	// Inject splits long texts itself.
	if err := r.emu.Inject("+15550001111", text); err != nil {
		t.Fatal(err)
	}
	r.sink.wait(t, "second inbound", func() bool { return len(r.sink.inbound) >= 2 })
	if got := r.sink.inbound[1]; got.Text != text || got.From != "+15550001111" {
		t.Fatalf("inbound %+v (the late duplicate must not count as a message)", got)
	}
}

// A missing part times out: the rest is handed on with Missing set.
func TestInboundMissingPartTimesOut(t *testing.T) {
	r := startRig(t, func(c *Config) { c.PartsTimeout = 300 * time.Millisecond })
	text := strings.Repeat("abcdefghij", 40)
	tpdus, err := pdu.EncodeDeliverParts("+15557654321", text, time.Now(), 9)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range tpdus {
		if i == 1 {
			continue
		}
		r.emu.InjectPDU(append([]byte{0}, p...))
	}
	r.sink.wait(t, "expired inbound", func() bool { return len(r.sink.inbound) == 1 })
	in := r.sink.inbound[0]
	if !slices.Equal(in.Missing, []int{2}) || in.Parts != len(tpdus) {
		t.Fatalf("inbound parts %d missing %v", in.Parts, in.Missing)
	}
	waitFor(t, "present parts deleted", func() bool { return r.emu.Stored() == 0 })
}

// Messages that arrived while the daemon was down are on the SIM: init
// picks them up.
func TestInboundStoredWhileDown(t *testing.T) {
	r := newRig(t, nil)
	r.emu.Inject("+15557654321", "STOP")
	r.emu.Inject("+15550001111", "C")
	if r.emu.Stored() != 2 {
		t.Fatalf("stored %d", r.emu.Stored())
	}
	r.run(t)
	r.sink.wait(t, "stored messages", func() bool { return len(r.sink.inbound) == 2 })
	texts := []string{r.sink.inbound[0].Text, r.sink.inbound[1].Text}
	slices.Sort(texts)
	if !slices.Equal(texts, []string{"C", "STOP"}) {
		t.Fatalf("texts %q", texts)
	}
	waitFor(t, "SIM emptied", func() bool { return r.emu.Stored() == 0 })
}

// A handler that fails leaves the message on the SIM; the next sweep
// offers it again.
func TestInboundHandlerFailureKeepsMessage(t *testing.T) {
	r := startRig(t, nil)
	r.sink.mu.Lock()
	r.sink.failNext = 1
	r.sink.mu.Unlock()
	r.emu.Inject("+15557654321", "C")
	r.sink.wait(t, "redelivery", func() bool { return len(r.sink.inbound) == 1 })
	waitFor(t, "SIM emptied", func() bool { return r.emu.Stored() == 0 })
}

func TestInboundUndecodable(t *testing.T) {
	r := startRig(t, nil)
	junk := []byte{0x00, 0x04, 0x0B, 0x91, 0x51, 0x55} // DELIVER cut off in its address
	if err := r.emu.InjectPDU(junk); err != nil {
		t.Fatal(err)
	}
	r.sink.wait(t, "raw inbound", func() bool { return len(r.sink.inbound) == 1 })
	in := r.sink.inbound[0]
	if in.DecodeErr == nil || len(in.Raw) == 0 {
		t.Fatalf("inbound %+v", in)
	}
	waitFor(t, "SIM emptied", func() bool { return r.emu.Stored() == 0 })
}

// Status reports come back with the TP-MR each part was accepted with.
func TestStatusReportsMatchedByMR(t *testing.T) {
	r := startRig(t, func(c *Config) { c.StatusReports = true })
	text := strings.Repeat("Two parts please. ", 10)
	parts, err := send(t, r.m, Outgoing{To: to, Text: text, Reference: 5})
	if err != nil || len(parts) != 2 {
		t.Fatalf("%+v %v", parts, err)
	}
	if h := handset(t, r.emu, 1); !h[0].SRR {
		t.Fatalf("no status report requested: %+v", h[0])
	}
	r.sink.wait(t, "two reports", func() bool { return len(r.sink.reports) == 2 })
	got := []int{r.sink.reports[0].MR, r.sink.reports[1].MR}
	slices.Sort(got)
	want := []int{parts[0].mr, parts[1].mr}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("report MRs %v, part MRs %v", got, want)
	}
	for _, sr := range r.sink.reports {
		if sr.Recipient != to || sr.Outcome != pdu.Delivered {
			t.Fatalf("report %+v", sr)
		}
	}
	r.emu.SetDeliveryOutcome(0x41) // permanent: incompatible destination
	parts, err = send(t, r.m, Outgoing{To: to, Text: "fails"})
	if err != nil {
		t.Fatal(err)
	}
	r.sink.wait(t, "failed report", func() bool { return len(r.sink.reports) == 3 })
	if sr := r.sink.reports[2]; sr.MR != parts[0].mr || sr.Outcome != pdu.Failed || sr.Status != 0x41 {
		t.Fatalf("report %+v for mr %d", sr, parts[0].mr)
	}
}

// A modem that stops answering: the command times out, the port is closed
// and reopened with backoff, and once it answers again it is initialised.
func TestHangTimeoutReopen(t *testing.T) {
	// No health checks: the send is the command that meets the hang.
	r := startRig(t, func(c *Config) { c.HealthInterval = time.Hour; c.CommandTimeout = 500 * time.Millisecond })
	sessions := r.emu.Sessions()
	r.emu.Hang()
	_, err := send(t, r.m, Outgoing{To: to, Text: "into the void"})
	if !errors.Is(err, ErrTimeout) || !IsTransient(err) || IsUncertain(err) {
		t.Fatalf("want transient timeout before the prompt, got %v", err)
	}
	waitFor(t, "not ready", func() bool { return !r.m.Ready() })
	time.Sleep(700 * time.Millisecond) // a reopen or two against the hung modem
	if r.emu.Sessions() != sessions {
		t.Fatal("hung modem initialised?")
	}
	r.emu.Unhang()
	r.ready(t)
	if r.emu.Sessions() <= sessions {
		t.Fatal("no new initialisation after the hang")
	}
	if h := r.m.Health(); h.Reconnects == 0 || !strings.Contains(h.LastError, "no answer") {
		t.Fatalf("health %+v", h)
	}
	if _, err := send(t, r.m, Outgoing{To: to, Text: "back"}); err != nil {
		t.Fatal(err)
	}
	if msgs := r.emu.Handset(); len(msgs) != 1 || msgs[0].Text != "back" {
		t.Fatalf("handset %+v", msgs)
	}
}

// Unplug: the port goes, sends wait (ErrNotReady, transient); replug at the
// same path: the modem is found again and initialised from scratch.
func TestUnplugReplug(t *testing.T) {
	r := startRig(t, nil)
	sessions := r.emu.Sessions()
	r.emu.Unplug()
	waitFor(t, "not ready", func() bool { return !r.m.Ready() })
	_, err := send(t, r.m, Outgoing{To: to, Text: "while unplugged"})
	if !errors.Is(err, ErrNotReady) || !IsTransient(err) {
		t.Fatalf("want transient not ready, got %v", err)
	}
	r.emu.Inject("+15557654321", "sent while unplugged")
	time.Sleep(300 * time.Millisecond)
	if err := r.emu.Replug(); err != nil {
		t.Fatal(err)
	}
	r.ready(t)
	if r.emu.Sessions() <= sessions {
		t.Fatal("not initialised again")
	}
	if _, err := send(t, r.m, Outgoing{To: to, Text: "after replug"}); err != nil {
		t.Fatal(err)
	}
	r.sink.wait(t, "inbound stored while unplugged", func() bool { return len(r.sink.inbound) == 1 })
	if h := r.m.Health(); !h.Connected || h.Reconnects == 0 {
		t.Fatalf("health %+v", h)
	}
}

// The modem is pulled out in the middle of a send (after AT+CMGS, before
// the prompt): a transient error that wraps ErrPortClosed and says nothing
// went out; after the replug the modem is initialised again and sends.
func TestUnplugDuringSend(t *testing.T) {
	r := startRig(t, func(c *Config) { c.HealthInterval = time.Hour })
	sessions := r.emu.Sessions()
	r.emu.UnplugOnNextSend()
	_, err := send(t, r.m, Outgoing{To: to, Text: "pulled out"})
	var me *Error
	if !errors.As(err, &me) || !errors.Is(err, ErrPortClosed) || !IsTransient(err) || IsUncertain(err) || !strings.Contains(me.Op, "AT+CMGS") {
		t.Fatalf("want transient port-closed error on AT+CMGS, nothing sent; got %v", err)
	}
	waitFor(t, "not ready", func() bool { return !r.m.Ready() })
	if len(r.emu.Handset()) != 0 {
		t.Fatal("handset got a message from a send cut off before its PDU")
	}
	if err := r.emu.Replug(); err != nil {
		t.Fatal(err)
	}
	r.ready(t)
	if r.emu.Sessions() <= sessions {
		t.Fatal("not initialised again after the replug")
	}
	if _, err := send(t, r.m, Outgoing{To: to, Text: "after replug"}); err != nil {
		t.Fatal(err)
	}
	if h := r.emu.Handset(); len(h) != 1 || h[0].Text != "after replug" {
		t.Fatalf("handset %+v", h)
	}
}

// A wrong PIN is entered once and never again: Run stops with ErrPINWrong.
func TestWrongPINNotRetried(t *testing.T) {
	r := newRig(t, func(c *Config) { c.PIN = "4321" })
	r.emu.RequirePIN("1234")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.m.Run(ctx)
	if !errors.Is(err, ErrPINWrong) || IsTransient(err) {
		t.Fatalf("Run: %v", err)
	}
	if strings.Contains(err.Error(), "4321") {
		t.Fatalf("error leaks the PIN: %v", err)
	}
	// Running again must not try the PIN again.
	if err := r.m.Run(ctx); !errors.Is(err, ErrPINWrong) {
		t.Fatalf("second Run: %v", err)
	}
	if n := r.emu.PINAttempts(); n != 1 {
		t.Fatalf("%d PIN attempts, want 1", n)
	}
	if err := r.m.WaitReady(ctx); !errors.Is(err, ErrPINWrong) {
		t.Fatalf("WaitReady: %v", err)
	}
}

// A wrong PIN is not entered again by a restarted daemon either (a new
// Modem: nothing in memory): the SIM's try counter (AT+CPINR) shows that a
// try was used up, so the PIN is not entered and the SIM keeps its last tries.
func TestWrongPINNotRetriedAfterRestart(t *testing.T) {
	r := newRig(t, func(c *Config) { c.PIN = "4321" })
	r.emu.RequirePIN("1234")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.m.Run(ctx); !errors.Is(err, ErrPINWrong) {
		t.Fatalf("first daemon: %v", err)
	}
	for restart := 1; restart <= 3; restart++ {
		m, err := New(Config{Path: r.emu.Path(), PIN: "4321", CommandTimeout: 2 * time.Second, Logger: testutil.Logger(nil)})
		if err != nil {
			t.Fatal(err)
		}
		err = m.Run(ctx)
		if !errors.Is(err, ErrPINWrong) || IsTransient(err) || !strings.Contains(err.Error(), "2 of 3 PIN tries left") {
			t.Fatalf("restart %d: %v", restart, err)
		}
		if strings.Contains(err.Error(), "4321") {
			t.Fatalf("error leaks the PIN: %v", err)
		}
	}
	if n := r.emu.PINAttempts(); n != 1 {
		t.Fatalf("%d PIN attempts over 4 daemon lives, want 1", n)
	}
	// The SIM is not PUK-locked, but the right PIN is not entered either
	// while a try is used up (nobody can tell which PIN is the right one);
	// a person resets the count by entering it in a phone.
	m, err := New(Config{Path: r.emu.Path(), PIN: "1234", CommandTimeout: 2 * time.Second, Logger: testutil.Logger(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Run(ctx); !errors.Is(err, ErrPINWrong) {
		t.Fatalf("right PIN with a used try: %v", err)
	}
	r.emu.RequirePIN("1234") // the person entered it in a phone: 3 tries again
	m2, err := New(Config{Path: r.emu.Path(), PIN: "1234", CommandTimeout: 2 * time.Second, Logger: testutil.Logger(nil)})
	if err != nil {
		t.Fatal(err)
	}
	r2 := &rig{emu: r.emu, m: m2, sink: r.sink}
	r2.run(t)
	r2.ready(t)
	if n := r.emu.PINAttempts(); n != 2 {
		t.Fatalf("%d PIN attempts, want 2", n)
	}
}

// The right PIN is entered when the SIM asks, again after a power cycle.
func TestPINEnteredAfterEachPowerUp(t *testing.T) {
	r := newRig(t, func(c *Config) { c.PIN = "1234" })
	r.emu.RequirePIN("1234")
	r.run(t)
	r.ready(t)
	if n := r.emu.PINAttempts(); n != 1 {
		t.Fatalf("%d PIN attempts", n)
	}
	r.emu.Replug()
	waitFor(t, "second PIN entry", func() bool { return r.emu.PINAttempts() == 2 })
	r.ready(t)
	if h := r.m.Health(); h.SIM != "READY" {
		t.Fatalf("SIM %q", h.SIM)
	}
}

func TestPINRequiredAndPUK(t *testing.T) {
	r := newRig(t, nil)
	r.emu.RequirePIN("1234")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.m.Run(ctx); !errors.Is(err, ErrPINRequired) {
		t.Fatalf("no PIN configured: %v", err)
	}
	r2 := newRig(t, func(c *Config) { c.PIN = "1234" })
	r2.emu.SetPUKLocked()
	if err := r2.m.Run(ctx); !errors.Is(err, ErrPUK) {
		t.Fatalf("PUK: %v", err)
	}
	if r.emu.PINAttempts()+r2.emu.PINAttempts() != 0 {
		t.Fatal("PIN entered where it must not be")
	}
}

// Not registered: connected but not ready; sends wait; registration makes
// it ready.
func TestNotRegistered(t *testing.T) {
	r := newRig(t, nil)
	r.emu.SetRegistered(2) // searching
	r.run(t)
	waitFor(t, "connected", func() bool { return r.m.Health().Connected })
	if r.m.Ready() {
		t.Fatal("ready while searching")
	}
	if h := r.m.Health(); h.Registration != RegSearching {
		t.Fatalf("registration %v", h.Registration)
	}
	if _, err := send(t, r.m, Outgoing{To: to, Text: "x"}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("send: %v", err)
	}
	r.emu.SetRegistered(5)
	r.ready(t)
	if h := r.m.Health(); h.Registration != RegRoaming {
		t.Fatalf("registration %v", h.Registration)
	}
}

// Each registration state as AT+CREG? reports it at init: ready (Send
// works) only at home or roaming; otherwise connected, not ready, and a send
// waits with a transient ErrNotReady.
func TestRegistrationStatesAtInit(t *testing.T) {
	for _, c := range []struct {
		name  string
		stat  int
		want  Registration
		ready bool
	}{
		{"home", 1, RegHome, true},
		{"roaming", 5, RegRoaming, true},
		{"searching", 2, RegSearching, false},
		{"denied", 3, RegDenied, false},
		{"not_searching", 0, RegNotSearching, false},
		{"unknown", 4, RegUnknown, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.emu.SetRegistered(c.stat)
			r.run(t)
			if c.ready {
				r.ready(t)
			} else {
				// Registration is read during init, before Connected is set.
				waitFor(t, "connected", func() bool { return r.m.Health().Connected })
			}
			h := r.m.Health()
			if h.Registration != c.want || h.Ready != c.ready || r.m.Ready() != c.ready {
				t.Fatalf("registration %v ready %v (Ready() %v), want %v ready %v", h.Registration, h.Ready, r.m.Ready(), c.want, c.ready)
			}
			_, err := send(t, r.m, Outgoing{To: to, Text: "x"})
			if c.ready && err != nil {
				t.Fatalf("send: %v", err)
			}
			if !c.ready && (!errors.Is(err, ErrNotReady) || !IsTransient(err)) {
				t.Fatalf("send while %v: %v", c.want, err)
			}
		})
	}
}

// Signal as dBm and bars, from +CSQ rssi (27.007 §8.5: -113 + 2·rssi dBm).
func TestParseCSQBars(t *testing.T) {
	for _, c := range []struct {
		line      string
		dbm, bars int
		known     bool
	}{
		{"+CSQ: 0,99", -113, 0, true},
		{"+CSQ: 3,0", -107, 1, true},
		{"+CSQ: 6,99", -101, 2, true},
		{"+CSQ: 9,99", -95, 3, true},
		{"+CSQ: 12,99", -89, 4, true},
		{"+CSQ: 15,99", -83, 5, true},
		{"+CSQ: 31,99", -51, 5, true},
		{"+CSQ: 99,99", 0, 0, false},
	} {
		s, err := ParseCSQ(c.line)
		if err != nil || s.DBm != c.dbm || s.Bars != c.bars || s.Known != c.known {
			t.Errorf("%q: %+v %v, want %d dBm %d bars", c.line, s, err, c.dbm, c.bars)
		}
	}
	for _, bad := range []string{"+CSQ: 32,99", "+CSQ: -1,0", "+CSQ: 20", "+CSQ: a,b", "+CREG: 1"} {
		if _, err := ParseCSQ(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestHealth(t *testing.T) {
	r := startRig(t, nil)
	r.emu.SetSignal(20)
	waitFor(t, "signal", func() bool { return r.m.Health().SignalDBm == -73 })
	h := r.m.Health()
	if h.Manufacturer != "smsd" || h.Model == "" || h.IMEI != "356938035643809" || h.SIM != "READY" ||
		!h.SMSC || h.Operator != "Emulated Net" || h.Registration != RegHome || h.Bars != 5 || !h.Ready {
		t.Fatalf("health %+v", h)
	}
	r.emu.SetSignal(5)
	waitFor(t, "weak signal", func() bool { return r.m.Health().Bars == 1 })
}

func TestNoSMSCReported(t *testing.T) {
	r := newRig(t, nil)
	r.emu.SetSMSC("")
	r.run(t)
	r.ready(t)
	if h := r.m.Health(); h.SMSC || !strings.Contains(h.LastError, "service centre") {
		t.Fatalf("health %+v", h)
	}
}

// A slow wire and a slow modem still work, only slower.
func TestSlowWireAndLatency(t *testing.T) {
	r := startRig(t, func(c *Config) { c.Baud = 9600 }) // the configured rate is what the port is opened with
	r.emu.SetBaud(9600)
	r.emu.SetLatency(30 * time.Millisecond)
	if _, err := send(t, r.m, Outgoing{To: to, Text: strings.Repeat("slow ", 40)}); err != nil {
		t.Fatal(err)
	}
	if h := r.emu.Handset(); len(h) != 1 || h[0].Parts != 2 {
		t.Fatalf("handset %+v", h)
	}
}

func TestNewValidates(t *testing.T) {
	for _, c := range []Config{{}, {Path: "/dev/x", PIN: "12a4"}, {Path: "/dev/x", PIN: "12"}, {Path: "/dev/x", MaxParts: 300},
		{Path: "/dev/x", ReconnectMin: time.Second, ReconnectMax: time.Millisecond}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

// The port does not exist (yet): Run waits and retries, and never gives up.
func TestMissingPortWaited(t *testing.T) {
	link := filepath.Join(t.TempDir(), "later")
	m, err := New(Config{Path: link, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 50 * time.Millisecond, CommandTimeout: 500 * time.Millisecond, Logger: testutil.Logger(nil)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	waitFor(t, "the missing port reported", func() bool { return strings.Contains(m.Health().LastError, "plugged in") })
	if h := m.Health(); h.Connected || h.Ready {
		t.Fatalf("health %+v", h)
	}
	emu, err := emulator.Start(emulator.Config{Link: link})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := m.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}

// The enumerator's list is cut down to USB ports of known modem makers, in
// path order (the "auto" candidates; which one answers AT is
// TestAutoPicksPortThatAnswers, on real ptys).
func TestModemPortsFiltersEnumeratorList(t *testing.T) {
	ports := []*enumerator.PortDetails{
		{Name: "/dev/ttyUSB2", IsUSB: true, VID: "2C7C", PID: "0125"}, // Quectel EC25, upper-case hex
		{Name: "/dev/ttyS0", IsUSB: false},                            // on-board UART
		{Name: "/dev/ttyUSB0", IsUSB: true, VID: "0403", PID: "6001"}, // FTDI cable: not a modem
		{Name: "/dev/ttyUSB1", IsUSB: true, VID: "2c7c", PID: "0125"},
		{Name: "/dev/ttyACM0", IsUSB: true, VID: "1e0e", PID: "9001"}, // SIMCom SIM7600
		nil,
		{Name: "/dev/ttyUSB9", IsUSB: true, VID: "12d1", PID: "1506"}, // Huawei E3372 stick mode
	}
	got := modemPorts(ports)
	var paths []string
	for _, c := range got {
		paths = append(paths, c.Path+"="+c.Vendor)
	}
	want := []string{"/dev/ttyACM0=SIMCom", "/dev/ttyUSB1=Quectel", "/dev/ttyUSB2=Quectel", "/dev/ttyUSB9=Huawei"}
	if !slices.Equal(paths, want) {
		t.Fatalf("candidates %q, want %q", paths, want)
	}
	// The real enumerator on this machine: whatever it finds, only USB
	// ports of known makers come out.
	real, err := Candidates()
	if err != nil {
		t.Logf("enumerator: %v (no serial ports listed here)", err)
	}
	for _, c := range real {
		if _, ok := KnownModem(c.VID, c.PID); !ok {
			t.Errorf("candidate %+v is not a known modem", c)
		}
	}
}

// "auto" with no candidate that answers: a transient detect error that
// says how many ports were tried and what to do.
func TestAutoNoPortAnswers(t *testing.T) {
	silent, err := emulator.Start(emulator.Config{Link: filepath.Join(t.TempDir(), "ttyUSB3")})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.Hang()
	m, err := New(Config{Path: "auto", CommandTimeout: 300 * time.Millisecond, Logger: testutil.Logger(nil)})
	if err != nil {
		t.Fatal(err)
	}
	m.candidates = func() ([]Candidate, error) {
		return []Candidate{{Path: silent.Path(), VID: "12d1", PID: "1506", Vendor: "Huawei"}}, nil
	}
	_, _, err = m.open(context.Background())
	var me *Error
	if !errors.As(err, &me) || me.Op != "detect" || !IsTransient(err) || !strings.Contains(err.Error(), "among 1 candidate ports") || !strings.Contains(err.Error(), "set the modem path") {
		t.Fatalf("auto, one silent port: %v", err)
	}
}

func TestKnownModem(t *testing.T) {
	for _, c := range []struct {
		vid string
		ok  bool
	}{{"12d1", true}, {"2C7C", true}, {"1e0e", true}, {"0403", false}, {"", false}} {
		if _, ok := KnownModem(c.vid, "0001"); ok != c.ok {
			t.Errorf("KnownModem(%q) = %v", c.vid, ok)
		}
	}
}

// BenchmarkSend measures one single-part send through the pty and the
// emulator with zero latency: messages/s and allocations of the modem side
// (the emulator runs in the same process, so its allocations count too).
func BenchmarkSend(b *testing.B) {
	r := startRig(b, func(c *Config) { c.HealthInterval = time.Hour })
	ctx := context.Background()
	out := Outgoing{To: to, Text: "Reminder: appointment tomorrow at 9:30. Reply C to confirm."}
	nop := func(seq, total, mr int) error { return nil }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.m.Send(ctx, out, nop); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSendThreeParts: a concatenated UCS-2 message of three parts
// (three AT+CMGS round trips), the emulator reassembling it on the handset.
func BenchmarkSendThreeParts(b *testing.B) {
	r := startRig(b, func(c *Config) { c.HealthInterval = time.Hour })
	ctx := context.Background()
	out := Outgoing{To: to, Text: strings.Repeat("Łódź: wizyta jutro o 9:30. ", 5)}
	if n := pdu.CountText(out.Text).Parts; n != 3 {
		b.Fatalf("text has %d parts", n)
	}
	nop := func(seq, total, mr int) error { return nil }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out.Reference = uint16(i)
		if err := r.m.Send(ctx, out, nop); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// Firmware that routes new messages directly (+CMT, nothing stored) and
// stores status reports (+CDSI): both paths work.
func TestDirectDeliveryAndStoredReports(t *testing.T) {
	r := startRig(t, func(c *Config) { c.StatusReports = true })
	r.emu.ForceIndications(2, 2)
	if err := r.emu.Inject("+15557654321", "direct"); err != nil {
		t.Fatal(err)
	}
	r.sink.wait(t, "+CMT message", func() bool { return len(r.sink.inbound) == 1 })
	if in := r.sink.inbound[0]; in.Text != "direct" || in.From != "+15557654321" {
		t.Fatalf("inbound %+v", in)
	}
	parts, err := send(t, r.m, Outgoing{To: to, Text: "report me"})
	if err != nil {
		t.Fatal(err)
	}
	r.sink.wait(t, "+CDSI report", func() bool { return len(r.sink.reports) == 1 })
	if sr := r.sink.reports[0]; sr.MR != parts[0].mr || sr.Outcome != pdu.Delivered {
		t.Fatalf("report %+v", sr)
	}
	waitFor(t, "stored report deleted", func() bool { return r.emu.Stored() == 0 })
}

// A send cancelled while the modem does not answer returns a transient
// error, and the modem recovers (the port is reset: its state was unknown).
// The modem is hung rather than slow, so that no prompt can race the
// cancellation on a busy machine.
func TestSendCancelled(t *testing.T) {
	r := startRig(t, func(c *Config) { c.HealthInterval = time.Hour })
	r.emu.Hang()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := r.m.Send(ctx, Outgoing{To: to, Text: "x"}, func(int, int, int) error { return nil })
	if !IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) || IsUncertain(err) {
		t.Fatalf("got %v (cancelled before the prompt: nothing went out)", err)
	}
	r.emu.Unhang()
	r.ready(t)
	waitFor(t, "send after recovery", func() bool {
		_, err := send(t, r.m, Outgoing{To: to, Text: "y"})
		return err == nil
	})
}

// A send whose context ends while another command holds the wire (here the
// storage sweep after init, held in the test hook) gives up at once, before
// writing anything, instead of waiting for that command to finish.
func TestSendCancelledWhileAnotherCommandRuns(t *testing.T) {
	holding, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	r := newRig(t, func(c *Config) { c.HealthInterval = time.Hour })
	r.m.testHook = func(cmd string) {
		if cmd == "AT+CMGL=4" {
			once.Do(func() {
				close(holding)
				<-release // the sweep holds the wire until the send gave up
			})
		}
	}
	r.run(t)
	r.ready(t)
	<-holding
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := r.m.Send(ctx, Outgoing{To: to, Text: "x"}, func(int, int, int) error { return nil })
	close(release)
	if !errors.Is(err, context.DeadlineExceeded) || !IsTransient(err) || IsUncertain(err) || !strings.Contains(err.Error(), "waiting for the previous command") {
		t.Fatalf("got %v", err)
	}
	if n := countCommands(r.emu, "AT+CMGS="); n != 0 {
		t.Fatalf("%d AT+CMGS reached the modem", n)
	}
	// The engine is not hurt: nothing was written, the next send works.
	if _, err := send(t, r.m, Outgoing{To: to, Text: "after"}); err != nil {
		t.Fatal(err)
	}
	if h := r.m.Health(); h.Reconnects != 0 {
		t.Fatalf("%d reconnects", h.Reconnects)
	}
}

// The modem hangs after the PDU went out: the error says the part may have
// been sent, so the dispatcher does not resend it blindly.
func TestHangAfterPDUIsUncertain(t *testing.T) {
	r := startRig(t, func(c *Config) {
		c.HealthInterval = time.Hour
		c.SendTimeout = 500 * time.Millisecond
		c.CommandTimeout = 500 * time.Millisecond
	})
	r.emu.HangOnNextSubmit()
	_, err := send(t, r.m, Outgoing{To: to, Text: "maybe"})
	if !errors.Is(err, ErrTimeout) || !IsTransient(err) || !IsUncertain(err) {
		t.Fatalf("want uncertain timeout, got %v", err)
	}
	r.emu.Unhang()
	r.ready(t)
	if h := r.emu.Handset(); len(h) != 1 {
		t.Fatalf("the emulator took the PDU (the case being modelled); handset %+v", h)
	}
}

// "auto": among the candidate ports, the one that answers AT is used (a
// modem exposes several ttys; some never answer).
func TestAutoPicksPortThatAnswers(t *testing.T) {
	dir := t.TempDir()
	silent, err := emulator.Start(emulator.Config{Link: filepath.Join(dir, "ttyUSB0")})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.Hang() // a diagnostics port: never answers AT
	good, err := emulator.Start(emulator.Config{Link: filepath.Join(dir, "ttyUSB2")})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	m, err := New(Config{Path: "auto", CommandTimeout: 500 * time.Millisecond, Logger: testutil.Logger(nil)})
	if err != nil {
		t.Fatal(err)
	}
	m.candidates = func() ([]Candidate, error) {
		return []Candidate{
			{Path: filepath.Join(dir, "ttyUSB-missing"), VID: "2c7c", PID: "0125", Vendor: "Quectel"},
			{Path: silent.Path(), VID: "2c7c", PID: "0125", Vendor: "Quectel"},
			{Path: good.Path(), VID: "2c7c", PID: "0125", Vendor: "Quectel"},
		}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	if err := m.WaitReady(wctx); err != nil {
		t.Fatal(err)
	}
	if p := m.Health().Port; p != good.Path() {
		t.Fatalf("using %s", p)
	}
	cancel()
	<-done
}

// The daemon died inside the "> " prompt: the next start leaves it with ESC
// before anything else, and nothing half-typed goes out.
func TestInitLeavesStalePrompt(t *testing.T) {
	r := newRig(t, nil)
	p, err := serial.Open(r.emu.Path(), &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatal(err)
	}
	p.Write([]byte("ATE0\rAT+CMGS=20\r"))
	// Read the earlier life's answers up to the prompt, so that none is
	// still on its way when the modem opens the port: what is tested is the
	// prompt left open, not a race with stale answers.
	p.SetReadTimeout(100 * time.Millisecond)
	var got []byte
	buf := make([]byte, 64)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasSuffix(string(got), "> ") {
		if time.Now().After(deadline) {
			t.Fatalf("no prompt; got %q", got)
		}
		n, _ := p.Read(buf)
		got = append(got, buf[:n]...)
	}
	p.Write([]byte("0001000B915155")) // half a PDU, then the process "dies"
	p.Close()
	r.run(t)
	r.ready(t)
	if n := r.m.Health().Reconnects; n != 0 {
		t.Fatalf("first initialisation failed (%d reconnects)", n)
	}
	if _, err := send(t, r.m, Outgoing{To: to, Text: "clean"}); err != nil {
		t.Fatal(err)
	}
	if h := r.emu.Handset(); len(h) != 1 || h[0].Text != "clean" {
		t.Fatalf("handset %+v", h)
	}
}

// Inbound messages arriving all through a run of sends: every send goes out
// once, every message comes in once.
func TestInboundAndSendsInterleaved(t *testing.T) {
	r := startRig(t, nil)
	const nIn, nOut = 20, 10
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < nIn; i++ {
			if err := r.emu.Inject("+15557654321", "reply "+strconv.Itoa(i)); err != nil {
				t.Error(err)
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	for i := 0; i < nOut; i++ {
		if _, err := send(t, r.m, Outgoing{To: to, Text: "reminder " + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	r.sink.wait(t, "all inbound", func() bool { return len(r.sink.inbound) >= nIn })
	time.Sleep(300 * time.Millisecond) // a sweep or two: nothing comes twice
	r.sink.mu.Lock()
	seen := map[string]int{}
	for _, in := range r.sink.inbound {
		seen[in.Text]++
	}
	r.sink.mu.Unlock()
	for i := 0; i < nIn; i++ {
		if n := seen["reply "+strconv.Itoa(i)]; n != 1 {
			t.Errorf("reply %d handed on %d times", i, n)
		}
	}
	if h := r.emu.Handset(); len(h) != nOut {
		t.Fatalf("handset has %d messages, want %d", len(h), nOut)
	}
	waitFor(t, "SIM emptied", func() bool { return r.emu.Stored() == 0 })
}

func TestProbe(t *testing.T) {
	r := newRig(t, nil)
	h, err := Probe(context.Background(), Config{Path: r.emu.Path(), CommandTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !h.Connected || !h.Ready || h.IMEI != "356938035643809" || h.SIM != "READY" || h.Port != r.emu.Path() {
		t.Fatalf("health %+v", h)
	}
	r.emu.SetRegistered(3)
	h, err = Probe(context.Background(), Config{Path: r.emu.Path(), CommandTimeout: 2 * time.Second})
	if err == nil || h.Registration != RegDenied || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("denied: %+v %v", h, err)
	}
	r.emu.RequirePIN("1234")
	if _, err := Probe(context.Background(), Config{Path: r.emu.Path(), CommandTimeout: 2 * time.Second}); !errors.Is(err, ErrPINRequired) {
		t.Fatalf("PIN: %v", err)
	}
	if _, err := Probe(context.Background(), Config{Path: filepath.Join(t.TempDir(), "none")}); err == nil || !strings.Contains(err.Error(), "plugged in") {
		t.Fatalf("missing port: %v", err)
	}
}

// No SIM: reported plainly, retried with backoff (someone may insert one),
// and the modem comes up once the SIM is there.
func TestNoSIMWaited(t *testing.T) {
	r := newRig(t, nil)
	r.emu.SetSIMAbsent(true)
	r.run(t)
	waitFor(t, "SIM absent reported", func() bool {
		h := r.m.Health()
		return h.SIM == "absent" && strings.Contains(h.LastError, "no usable SIM")
	})
	if r.m.Ready() {
		t.Fatal("ready without a SIM")
	}
	r.emu.SetSIMAbsent(false)
	r.ready(t)
	if h := r.m.Health(); h.SIM != "READY" {
		t.Fatalf("health %+v", h)
	}
}

// Logs, at debug level, carry no PHI through a run that does everything
// that logs: PIN entry, sends (accepted, refused, to an invalid number),
// inbound messages (handler failing once, undecodable), status reports, a
// hang and the reconnect. The IMEI appears only masked.
func TestLogsCarryNoPHI(t *testing.T) {
	var logs testutil.Buffer // written by the modem's goroutines
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		// Timestamps could hold any digits; they are not what is checked.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	const (
		pin      = "8642"
		patient  = "+15553219876"
		outText  = "Dr Okafor confirms your colonoscopy Tuesday"
		fromNum  = "+15557770123"
		replyTxt = "Cancel please my HIV clinic visit"
	)
	r := newRig(t, func(c *Config) {
		c.PIN = pin
		c.Logger = logger
		c.StatusReports = true
	})
	r.emu.RequirePIN(pin)
	r.run(t)
	r.ready(t)
	if _, err := send(t, r.m, Outgoing{To: patient, Text: outText}); err != nil {
		t.Fatal(err)
	}
	if _, err := send(t, r.m, Outgoing{To: patient, Text: strings.Repeat(outText+" ", 5), Reference: 9}); err != nil {
		t.Fatal(err)
	}
	r.emu.FailSends(1, 21)
	if _, err := send(t, r.m, Outgoing{To: patient, Text: outText}); err == nil {
		t.Fatal("refused send succeeded")
	}
	if _, err := send(t, r.m, Outgoing{To: "+1555x3219876", Text: outText}); err == nil {
		t.Fatal("invalid number accepted")
	}
	r.sink.mu.Lock()
	r.sink.failNext = 1
	r.sink.mu.Unlock()
	r.emu.Inject(fromNum, replyTxt)
	r.emu.InjectPDU([]byte{0x00, 0x04, 0x0B, 0x91, 0x51, 0x55, 0x77})
	r.sink.wait(t, "inbound and reports", func() bool {
		return len(r.sink.inbound) == 2 && len(r.sink.reports) >= 3
	})
	r.emu.Hang()
	waitFor(t, "hang noticed", func() bool { return !r.m.Ready() })
	r.emu.Unhang()
	r.ready(t)

	out := logs.String()
	for _, secret := range []string{
		pin, outText, replyTxt, "colonoscopy", "HIV",
		"5553219876", "553219", "5557770123", "555777",
		"356938035643809", "35693803", "001010123456789",
	} {
		if strings.Contains(out, secret) {
			i := strings.Index(out, secret)
			t.Errorf("log holds %q: …%s…", secret, out[max(0, i-120):min(len(out), i+60)])
		}
	}
	// Not vacuous: the run did log, the IMEI among it (masked).
	for _, want := range []string{"imei=", "level=WARN", "modem: ready", "reconnecting"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q; the scenario did not run as meant:\n%s", want, out)
		}
	}
}
