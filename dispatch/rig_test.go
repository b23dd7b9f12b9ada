package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/internal/testutil"
	"github.com/clinicsms/smsd/modem"
	"github.com/clinicsms/smsd/modem/emulator"
	"github.com/clinicsms/smsd/queue"
)

// rig is a dispatcher with its real parts: a queue in a temporary directory
// and one or more emulated modems on pseudo-terminals.
type rig struct {
	t     testing.TB
	dir   string
	store *queue.Store
	emus  []*emulator.Emulator
	cfg   Config
	d     *Dispatcher

	cancel context.CancelFunc
	done   chan error
}

type rigOpt func(*rigSetup)

type rigSetup struct {
	modems   int
	rate     time.Duration // per modem; <0 none
	dailyCap int
	backoff  func(int) time.Duration
	maxTries int
	help     string
	srDelay  time.Duration
	drain    time.Duration
	logger   *slog.Logger
	emuCfg   func(i int, c *emulator.Config)
}

func withModems(n int) rigOpt                { return func(s *rigSetup) { s.modems = n } }
func withRate(d time.Duration) rigOpt        { return func(s *rigSetup) { s.rate = d } }
func withDailyCap(n int) rigOpt              { return func(s *rigSetup) { s.dailyCap = n } }
func withHelp(text string) rigOpt            { return func(s *rigSetup) { s.help = text } }
func withDrain(d time.Duration) rigOpt       { return func(s *rigSetup) { s.drain = d } }
func withMaxAttempts(n int) rigOpt           { return func(s *rigSetup) { s.maxTries = n } }
func withStatusDelay(d time.Duration) rigOpt { return func(s *rigSetup) { s.srDelay = d } }

// newRig opens a fresh store and starts the emulators; the dispatcher is
// created and started by start (so tests can enqueue first).
func newRig(t testing.TB, opts ...rigOpt) *rig {
	t.Helper()
	s := rigSetup{modems: 1, rate: -1, backoff: func(int) time.Duration { return 20 * time.Millisecond }, maxTries: 5, drain: 3 * time.Second}
	for _, o := range opts {
		o(&s)
	}
	r := &rig{t: t, dir: t.TempDir()}
	// Everything logged is kept for the PHI check (and copied to stderr
	// when SMSD_TEST_LOG is set).
	sink := &testutil.Buffer{}
	logger := testutil.Logger(sink)
	// The store logs into the same sink: the PHI check covers it too.
	s.logger = logger
	r.store = openStore(t, r.dir, s)
	// The emulator plays the handset too, so its log may show texts: it
	// gets no sink (only stderr under SMSD_TEST_LOG), left out of the PHI
	// check.
	emuLogger := testutil.Logger(nil)
	for i := range s.modems {
		// A stable link, as udev's /dev/serial/by-id gives: a replugged
		// emulator gets a new pty whose number may differ.
		ec := emulator.Config{Logger: emuLogger.With("emulator", i+1), StatusReportDelay: s.srDelay,
			Link: filepath.Join(r.dir, fmt.Sprintf("ttySIM%d", i))}
		if s.emuCfg != nil {
			s.emuCfg(i, &ec)
		}
		e, err := emulator.Start(ec)
		if err != nil {
			t.Fatalf("starting emulator %d: %v", i+1, err)
		}
		t.Cleanup(func() { e.Close() })
		r.emus = append(r.emus, e)
	}
	r.cfg = Config{
		Store:        r.store,
		HelpText:     s.help,
		Logger:       logger,
		DrainTimeout: s.drain,
		StallTimeout: 10 * time.Second,
	}
	for i, e := range r.emus {
		r.cfg.Modems = append(r.cfg.Modems, ModemConfig{
			ID:        fmt.Sprintf("m%d", i+1),
			Modem:     testModemConfig(e.Path()),
			RateLimit: s.rate,
			DailyCap:  s.dailyCap,
		})
	}
	t.Cleanup(func() {
		r.stop()
		checkNoPHI(t, sink.String())
	})
	return r
}

func testModemConfig(path string) modem.Config {
	return modem.Config{
		Path:           path,
		CommandTimeout: 5 * time.Second,
		SendTimeout:    10 * time.Second,
		StatusReports:  true,
		HealthInterval: 500 * time.Millisecond,
		ReconnectMin:   20 * time.Millisecond,
		ReconnectMax:   200 * time.Millisecond,
	}
}

func openStore(t testing.TB, dir string, s rigSetup) *queue.Store {
	t.Helper()
	ctx := context.Background()
	path, keys := filepath.Join(dir, "smsd.db"), queue.KeySource{KeyFile: filepath.Join(dir, "smsd.key")}
	opt := queue.Options{DefaultRegion: "US", MaxAttempts: s.maxTries, Backoff: s.backoff, Logger: s.logger}
	if _, err := os.Stat(path); err != nil {
		if err := queue.Init(ctx, path, keys, opt); err != nil {
			t.Fatalf("creating the queue: %v", err)
		}
	}
	st, err := queue.Open(ctx, path, keys, opt)
	if err != nil {
		t.Fatalf("opening the queue: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// start creates and runs the dispatcher.
func (r *rig) start() { r.startCtx(context.Background()) }

// startCtx runs the dispatcher under parent, which a test may cancel.
func (r *rig) startCtx(parent context.Context) {
	r.t.Helper()
	d, err := New(r.cfg)
	if err != nil {
		r.t.Fatalf("dispatch.New: %v", err)
	}
	r.d = d
	ctx, cancel := context.WithCancel(parent)
	r.cancel = cancel
	r.done = make(chan error, 1)
	go func() { r.done <- d.Run(ctx) }()
}

// stop ends Run and waits for it.
func (r *rig) stop() error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		return err
	case <-time.After(20 * time.Second):
		r.t.Errorf("dispatcher did not stop within 20 s of its context ending")
		return errors.New("timeout")
	}
}

// waitReady waits until every modem of the pool is ready.
func (r *rig) waitReady() {
	r.t.Helper()
	r.eventually("all modems ready", 15*time.Second, func() bool {
		for _, m := range r.d.Status().Modems {
			if !m.Ready {
				return false
			}
		}
		return true
	})
}

// eventually polls cond until it holds or the deadline passes. The deadline
// is a hang guard, not a performance assertion.
func (r *rig) eventually(what string, within time.Duration, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out after %v waiting for: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *rig) enqueue(to, text string) queue.Message {
	r.t.Helper()
	m, err := r.store.Enqueue(context.Background(), queue.NewMessage{To: to, Text: text, CreatedBy: "test"})
	if err != nil {
		r.t.Fatalf("enqueue: %v", err)
	}
	return m
}

func (r *rig) get(id int64) queue.Message {
	r.t.Helper()
	m, err := r.store.Get(context.Background(), id)
	if err != nil {
		r.t.Fatalf("get %d: %v", id, err)
	}
	return m
}

func (r *rig) waitState(id int64, want queue.State, within time.Duration) queue.Message {
	r.t.Helper()
	var m queue.Message
	r.eventually(fmt.Sprintf("message %d in state %s", id, want), within, func() bool {
		m = r.get(id)
		return m.State == want
	})
	return m
}

// waitOut waits until the message went out: sent, or already delivered
// (the emulator's status reports come quickly).
func (r *rig) waitOut(id int64, within time.Duration) queue.Message {
	r.t.Helper()
	var m queue.Message
	r.eventually(fmt.Sprintf("message %d sent or delivered", id), within, func() bool {
		m = r.get(id)
		return m.State == queue.Sent || m.State == queue.Delivered
	})
	return m
}

// waitHandset waits for n messages on emulator i and returns them.
func (r *rig) waitHandset(i, n int, within time.Duration) []emulator.HandsetMessage {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	msgs, err := r.emus[i].WaitHandset(ctx, n)
	if err != nil {
		r.t.Fatalf("emulator %d: waiting for %d handset messages (have %d): %v", i+1, n, len(r.emus[i].Handset()), err)
	}
	return msgs
}

// allHandset is every handset message of every emulator.
func (r *rig) allHandset() []emulator.HandsetMessage {
	var all []emulator.HandsetMessage
	for _, e := range r.emus {
		all = append(all, e.Handset()...)
	}
	return all
}

type sent struct{ To, Text string }

// sameMessages checks that got holds exactly want (as a multiset): each
// message arrived once with identical text.
func sameMessages(t testing.TB, got []emulator.HandsetMessage, want []sent) {
	t.Helper()
	key := func(s sent) string { return s.To + "\x00" + s.Text }
	var g, w []string
	for _, m := range got {
		g = append(g, key(sent{m.To, m.Text}))
	}
	for _, m := range want {
		w = append(w, key(m))
	}
	sort.Strings(g)
	sort.Strings(w)
	if !slices.Equal(g, w) {
		t.Errorf("handset messages differ from what was sent:\n got  %q\n want %q", g, w)
	}
}

// checkNoPHI fails if a number or text of the tests appears in the logs.
func checkNoPHI(t testing.TB, logs string) {
	t.Helper()
	for _, s := range phiNeedles {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain PHI %q", s)
		}
	}
}

// phiNeedles are fragments of the test numbers and texts that must never be
// logged (the masked form keeps only the first and the last four digits).
var phiNeedles = []string{"5550100", "5550101", "5550102", "5550123", "Reminder", "Erinnerung", "appointment"}
