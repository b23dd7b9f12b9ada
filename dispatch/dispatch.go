// Package dispatch is the loop between the queue and the modems: it claims
// due messages, sends them through a modem, records every accepted part and
// the outcome, retries what failed for a passing reason, and handles what
// comes back (replies, STOP/START/HELP keywords, delivery reports).
//
// One send loop runs per modem; several modems serve one queue (a pool). A
// loop claims only while its modem is ready, outside quiet hours, within its
// rate limit and its daily cap, so work it cannot send stays in the queue for
// another modem or for later: limits defer, they never drop.
//
// Nothing is sent twice silently. Every part the modem accepts is recorded
// before the next one is sent, so a resumed message sends only the missing
// parts, with the same concatenation reference. A failure is retried only
// when the part in flight never left (the modem refused it with +CMS ERROR,
// gave no "> " prompt, or was not ready); when the PDU was written and the
// answer was lost (modem.Error.Uncertain: a timeout, the port dying, the
// shutdown deadline) the message is marked `uncertain` and staff decide
// whether to resend it.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/modem"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/quiet"
)

// DefaultRateLimit is the per-modem pause between two messages when
// ModemConfig.RateLimit is 0: one message per 3 s keeps a consumer SIM clear
// of operators' spam heuristics.
const DefaultRateLimit = 3 * time.Second

// Defaults for the Config durations left at zero.
const (
	DefaultDrainTimeout = 8 * time.Second
	DefaultStallTimeout = 2 * time.Minute
)

// ModemConfig is one modem of the pool and the limits of its send loop.
type ModemConfig struct {
	// ID names the modem in logs, in the store (the claim owner) and in
	// Status. Must be unique in the pool and must not be empty.
	ID string
	// Modem is passed to modem.New. Its OnInbound and OnStatusReport are
	// replaced by the dispatcher's handlers (whatever is set there is
	// ignored).
	Modem modem.Config
	// RateLimit is the least time between the starts of two messages on this
	// modem: 0 means DefaultRateLimit, a negative value means no limit.
	RateLimit time.Duration
	// DailyCap is the most messages this modem starts per local calendar day
	// (Config.Location); 0 means no cap. At the cap the loop stops claiming
	// until midnight and the queue keeps the rest.
	DailyCap int
}

// Config configures a Dispatcher. Store and at least one modem are required.
type Config struct {
	Store *queue.Store
	// Modems: dispatch creates the modems (modem.New) and runs them.
	Modems []ModemConfig
	// HelpText is sent as a reply to an inbound HELP; empty: HELP is stored
	// like any reply and answered with nothing (logged).
	HelpText string
	// QuietHours, if set, holds every loop from claiming during those hours.
	QuietHours *quiet.Hours
	// Location is the clock for daily caps (and quiet hours without a
	// location of their own); default time.Local.
	Location *time.Location
	// DrainTimeout bounds how long Run waits, once its context is done, for
	// the part in flight to be accepted; default DefaultDrainTimeout (the
	// daemon must exit within 10 s of SIGTERM).
	DrainTimeout time.Duration
	// StallTimeout: a loop that has not shown progress for this long makes
	// Alive false; default DefaultStallTimeout (longer than one part's send
	// timeout, so a slow modem is not mistaken for a hung daemon).
	StallTimeout time.Duration
	Logger       *slog.Logger
	// ConfirmWords and RescheduleWords are the replies that answer a
	// reminder (remind.MatchAnswer; nil = its defaults): a reply is matched
	// to the latest reminder sent to its sender (queue.Store.ThreadReply).
	ConfirmWords, RescheduleWords []string
	// ClinicName names the clinic in the text that confirms an opt-in
	// ("" = "your clinic").
	ClinicName string
	// Now is the clock; default time.Now. The daemon's test clock
	// (SMSD_TEST_CLOCK_OFFSET) moves it.
	Now func() time.Time
}

// Dispatcher runs the send loops of a pool of modems over one queue.
type Dispatcher struct {
	store     *queue.Store
	help      string
	quiet     *quiet.Hours
	loc       *time.Location
	drain     time.Duration
	stall     time.Duration
	beatEvery time.Duration
	log       *slog.Logger
	loops     []*loop
	running   atomic.Bool
	started   atomic.Bool
	now       func() time.Time
	// confirm and reschedule are the reply words (Config).
	confirm, reschedule []string
	clinic              string
}

// New checks cfg and creates the modems (no I/O yet; Run opens them).
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Store == nil {
		return nil, errors.New("dispatch: no store given (open the queue first and pass it as Config.Store)")
	}
	if len(cfg.Modems) == 0 {
		return nil, errors.New("dispatch: no modem configured (add at least one modem to the configuration)")
	}
	d := &Dispatcher{
		store: cfg.Store,
		help:  cfg.HelpText,
		quiet: cfg.QuietHours,
		loc:   cfg.Location,
		drain: cfg.DrainTimeout,
		stall: cfg.StallTimeout,
		log:   cfg.Logger,
		now:   cfg.Now,

		confirm:    cfg.ConfirmWords,
		reschedule: cfg.RescheduleWords,
		clinic:     cfg.ClinicName,
	}
	if d.now == nil {
		d.now = time.Now
	}
	if strings.TrimSpace(d.clinic) == "" {
		d.clinic = "your clinic"
	}
	if d.loc == nil {
		d.loc = time.Local
	}
	if d.drain <= 0 {
		d.drain = DefaultDrainTimeout
	}
	if d.stall <= 0 {
		d.stall = DefaultStallTimeout
	}
	d.beatEvery = min(d.stall/4, 10*time.Second)
	if d.log == nil {
		d.log = slog.Default()
	}
	d.log = d.log.With("component", "dispatch")
	if d.quiet != nil {
		if err := d.quiet.Validate(); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for i, mc := range cfg.Modems {
		if mc.ID == "" {
			return nil, fmt.Errorf("dispatch: modem %d has no ID (give every modem a unique id)", i+1)
		}
		if seen[mc.ID] {
			return nil, fmt.Errorf("dispatch: modem id %q is used twice (give every modem a unique id)", mc.ID)
		}
		seen[mc.ID] = true
		if mc.DailyCap < 0 {
			return nil, fmt.Errorf("dispatch: modem %q: daily cap %d is negative (use 0 for no cap)", mc.ID, mc.DailyCap)
		}
		l := &loop{
			d:    d,
			id:   mc.ID,
			cap:  mc.DailyCap,
			wake: make(chan struct{}, 1),
			log:  d.log.With("modem_id", mc.ID),
		}
		switch {
		case mc.RateLimit == 0:
			l.rate = DefaultRateLimit
		case mc.RateLimit > 0:
			l.rate = mc.RateLimit
		}
		mcfg := mc.Modem
		if mcfg.Logger == nil {
			mcfg.Logger = cfg.Logger
		}
		if mcfg.Logger != nil {
			mcfg.Logger = mcfg.Logger.With("modem_id", mc.ID)
		}
		mcfg.OnInbound = l.onInbound
		mcfg.OnStatusReport = l.onStatusReport
		mcfg.Parts = storeParts{store: cfg.Store, modemID: mc.ID}
		m, err := modem.New(mcfg)
		if err != nil {
			return nil, fmt.Errorf("dispatch: modem %q: %w", mc.ID, err)
		}
		l.m = m
		d.loops = append(d.loops, l)
	}
	return d, nil
}

// Run runs every modem and its send loop until ctx is done. On ctx done it
// stops claiming, lets the part in flight finish (bounded by DrainTimeout),
// closes the modems and returns nil. It returns an error early only when
// every modem has stopped for good (for example a wrong SIM PIN, which must
// not be retried) — then nothing could be sent any more. Run may be called
// once.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("dispatch: Run called twice (create a new Dispatcher)")
	}
	// claimCtx ends when ctx does or when every modem has stopped: the loops
	// stop claiming then.
	claimCtx, stopClaiming := context.WithCancel(ctx)
	defer stopClaiming()
	// The modems outlive the send loops: a loop draining the part in flight
	// still needs its modem after ctx is done.
	modemCtx, stopModems := context.WithCancel(context.WithoutCancel(ctx))
	defer stopModems()
	// sendCtx is what an in-flight Send sees: cancelled DrainTimeout after
	// claiming stopped, so shutdown is bounded even if a modem hangs.
	sendCtx, stopSends := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSends()
	go func() {
		select {
		case <-claimCtx.Done():
		case <-sendCtx.Done():
			return
		}
		t := time.NewTimer(d.drain)
		defer t.Stop()
		select {
		case <-t.C:
			stopSends()
		case <-sendCtx.Done():
		}
	}()

	now := d.now()
	for _, l := range d.loops {
		l.beat(now)
		l.loadToday(ctx)
	}
	d.running.Store(true)
	defer d.running.Store(false)

	// Fan the store's single wake-up channel out to every loop, so that in a
	// pool the idle modems all look at the queue, not just one of them.
	fanDone := make(chan struct{})
	go func() {
		defer close(fanDone)
		for {
			select {
			case <-claimCtx.Done():
				return
			case <-d.store.Changed():
				d.wakeAll(nil)
			}
		}
	}()

	var (
		modems, loops sync.WaitGroup
		fatalMu       sync.Mutex
		fatalErr      []error
	)
	for _, l := range d.loops {
		loopCtx, stopLoop := context.WithCancel(claimCtx)
		modems.Add(1)
		go func() {
			defer modems.Done()
			err := l.m.Run(modemCtx)
			if err != nil && modemCtx.Err() == nil {
				// The modem gave up for good (it retries by itself whatever
				// is worth retrying, e.g. an unplugged port).
				l.log.Error("modem stopped; its send loop stops too", "err", err)
				l.d.recordModemEvent(modemCtx, l.id, audit.Failed, modemStopDetail(err))
				l.setStopped(err)
				stopLoop()
				fatalMu.Lock()
				fatalErr = append(fatalErr, fmt.Errorf("modem %q: %w", l.id, err))
				if len(fatalErr) == len(d.loops) {
					stopClaiming()
				}
				fatalMu.Unlock()
			}
		}()
		modems.Add(1)
		go func() {
			defer modems.Done()
			l.watchModem(modemCtx)
		}()
		loops.Add(1)
		go func() {
			defer loops.Done()
			defer stopLoop()
			l.run(loopCtx, sendCtx)
		}()
	}

	<-claimCtx.Done()
	loops.Wait()
	stopModems()
	modems.Wait()
	<-fanDone
	for _, l := range d.loops {
		if err := l.m.Close(); err != nil {
			l.log.Debug("closing modem", "err", err)
		}
	}
	fatalMu.Lock()
	defer fatalMu.Unlock()
	if ctx.Err() == nil && len(fatalErr) == len(d.loops) {
		return fmt.Errorf("dispatch: every modem stopped, nothing can be sent: %w", errors.Join(fatalErr...))
	}
	return nil
}

// wakeAll makes every loop except skip look at the queue again.
func (d *Dispatcher) wakeAll(skip *loop) {
	for _, l := range d.loops {
		if l != skip {
			l.poke()
		}
	}
}
