// Package modem drives one GSM modem over a serial port with AT commands in
// PDU mode (3GPP TS 27.005 / 27.007): it opens the port (by path or by USB
// VID:PID), initialises the modem and SIM, sends messages part by part,
// receives messages and delivery status reports, watches signal and
// registration, and reconnects with backoff when the modem hangs or is
// unplugged. It knows nothing of the queue: the dispatcher calls Send and
// receives inbound messages through Config callbacks.
//
// Layers, after warthog618/modem's split: at.go runs AT commands and separates
// final results, information lines and unsolicited result codes; this file
// and sms.go hold the modem's life and the SMS logic on top; modem/pdu is the
// codec.
package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/modem/pdu"
)

// Config configures one modem. Path is required; everything else has a default.
type Config struct {
	Path           string        // device path, or "auto" (USB VID:PID enumerator)
	Baud           int           // default 115200
	PIN            string        // SIM PIN; entered when the SIM asks; never retried once refused
	CommandTimeout time.Duration // default 5s; AT+CMGS gets SendTimeout
	SendTimeout    time.Duration // default 60s
	MaxParts       int           // default 6
	StatusReports  bool          // request TP-SRR (the daemon sets true)
	Validity       time.Duration // relative TP-VP; 0 = network default
	HealthInterval time.Duration // default 30s: AT+CSQ, AT+CREG?, AT+CPMS?, and a storage sweep (AT+CMGL=4)
	ReconnectMin   time.Duration // default 500ms
	ReconnectMax   time.Duration // default 30s
	// PartsTimeout is how long the parts of a concatenated inbound message
	// wait for the missing ones before it is handed on with Missing set.
	// Default 1h.
	PartsTimeout time.Duration
	// Parts, if set, keeps those parts off the SIM while they wait (see
	// PartStore); nil leaves them on the SIM. With Parts set, new messages
	// are routed directly and acknowledged where the modem supports it
	// (routing.go); without, they are stored on the SIM.
	Parts  PartStore
	Logger *slog.Logger
	// Called from the modem's goroutine; the modem deletes the message from
	// modem storage (AT+CMGD) only after the handler returned nil, so nothing is
	// dropped if the daemon dies in between. Handlers must be quick and durable.
	// A message whose handler failed stays on the SIM and is offered again at
	// the next storage sweep (HealthInterval) or restart; routed directly
	// under AT+CSMS=1 it is acknowledged (AT+CNMA) only after the handler
	// returned nil, else refused (AT+CNMA=2) so that the network delivers it
	// again (27.005 §3.4.4): at least once.
	OnInbound      func(ctx context.Context, in Inbound) error
	OnStatusReport func(ctx context.Context, sr StatusReport) error
}

// Inbound is one received message, its parts joined.
type Inbound struct {
	From      string // "+E164" or national or alphanumeric, as received
	Text      string
	SentAt    time.Time // SCTS
	Parts     int
	Missing   []int  // parts that never came (timed out); Text has the rest
	Raw       []byte // set when the PDU could not be decoded (DecodeErr != nil)
	DecodeErr error
	// PartIDs are the PartStore ids of the parts the message was joined
	// from (23.040 9.2.3.24.1), nil when none was kept there. A handler
	// whose store holds the parts too deletes them in the transaction that
	// stores the message (queue.Store.AddInboundFromParts), so that no
	// crash leaves the message stored and its parts waiting to be handed
	// on again. The modem calls DeleteParts for them after the handler
	// returned nil all the same (ids already gone are no error).
	PartIDs []int64
}

// StatusReport is a delivery report for one sent part, matched by TP-MR.
type StatusReport struct {
	MR        int
	Recipient string
	Outcome   pdu.Outcome
	Status    byte
	Discharge time.Time
}

// Health is what the status page shows about the modem.
type Health struct {
	Connected    bool   // the port is open and the modem answers
	Ready        bool   // initialised and registered: Send can work
	Port         string // the device path in use
	Manufacturer string
	Model        string
	Revision     string
	IMEI         string // full; mask.Serial before logging it
	SIM          string // "READY", "SIM PIN", "SIM PUK", ... as +CPIN says
	SMSC         bool   // the SIM has a service centre number
	Operator     string
	Registration Registration
	SignalDBm    int // 0 when unknown
	Bars         int // 0..5
	LastError    string
	LastErrorAt  time.Time
	CheckedAt    time.Time
	Reconnects   int
	// StorageUsed and StorageTotal are the message storage's used and
	// total slots (AT+CPMS?, read at every health check); 0 when unknown.
	StorageUsed, StorageTotal int
}

// Modem is one GSM modem. Run drives it; Send may be called from other
// goroutines at any time.
type Modem struct {
	cfg   Config
	log   *slog.Logger
	reasm *pdu.Reassembler
	// partsHeld are storage indexes of parts waiting in reasm for the rest
	// of their message; only Run's goroutine touches it (and reasm).
	partsHeld map[int]bool

	mu      sync.Mutex
	at      *atEngine
	ready   bool
	fatal   error
	health  Health
	changed chan struct{} // closed and replaced on every ready/fatal change
	pinBad  bool          // the SIM refused our PIN once: never again
	// storageWarned is set while the storage is at least
	// StorageWarnPercent full and the warning was logged.
	storageWarned bool
	// partsLoaded says the PartStore was read into reasm; partsStale that
	// it must be read again (a handler failed). Only Run's goroutine
	// touches them.
	partsLoaded, partsStale bool
	// ack says the session runs under AT+CSMS=1: each +CMT and +CDS is
	// answered with AT+CNMA; cnmi is the AT+CNMI the modem took, set again
	// at each health check (routing.go). Only Run's goroutine touches them.
	ack  bool
	cnmi string

	running atomic.Bool
	closeCh chan struct{}
	closeMu sync.Once

	testHook   func(cmd string)            // for tests: called before each command
	candidates func() ([]Candidate, error) // for tests: replaces the USB enumerator
}

// New checks cfg and applies defaults. It does no I/O.
func New(cfg Config) (*Modem, error) {
	if cfg.Path == "" {
		return nil, errors.New("modem: no device path configured: set modem path (e.g. /dev/ttyUSB2, /dev/serial/by-id/..., or auto)")
	}
	if cfg.Baud == 0 {
		cfg.Baud = 115200
	}
	if cfg.Baud < 0 {
		return nil, fmt.Errorf("modem: baud rate %d is negative", cfg.Baud)
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 5 * time.Second
	}
	if cfg.SendTimeout == 0 {
		cfg.SendTimeout = 60 * time.Second
	}
	if cfg.MaxParts == 0 {
		cfg.MaxParts = 6
	}
	if cfg.MaxParts < 0 || cfg.MaxParts > 255 {
		return nil, fmt.Errorf("modem: max parts %d outside 1..255", cfg.MaxParts)
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = 30 * time.Second
	}
	if cfg.ReconnectMin == 0 {
		cfg.ReconnectMin = 500 * time.Millisecond
	}
	if cfg.ReconnectMax == 0 {
		cfg.ReconnectMax = 30 * time.Second
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		return nil, fmt.Errorf("modem: reconnect max %v below min %v", cfg.ReconnectMax, cfg.ReconnectMin)
	}
	if cfg.PartsTimeout == 0 {
		cfg.PartsTimeout = time.Hour
	}
	if cfg.CommandTimeout < 0 || cfg.SendTimeout < 0 || cfg.HealthInterval < 0 || cfg.Validity < 0 {
		return nil, errors.New("modem: negative timeout, interval or validity in config")
	}
	for _, c := range cfg.PIN {
		if c < '0' || c > '9' {
			return nil, errors.New("modem: SIM PIN must be 4 to 8 digits")
		}
	}
	if cfg.PIN != "" && (len(cfg.PIN) < 4 || len(cfg.PIN) > 8) {
		return nil, errors.New("modem: SIM PIN must be 4 to 8 digits")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Modem{
		cfg:       cfg,
		log:       cfg.Logger.With("modem", cfg.Path),
		reasm:     &pdu.Reassembler{Timeout: cfg.PartsTimeout},
		partsHeld: map[int]bool{},
		changed:   make(chan struct{}),
		closeCh:   make(chan struct{}),
		health:    Health{Port: cfg.Path},
	}, nil
}

// fatalError says whether err must stop Run: retrying would re-enter a wrong
// PIN or cannot help without a person.
func fatalError(err error) bool {
	return errors.Is(err, ErrPINWrong) || errors.Is(err, ErrPUK) || errors.Is(err, ErrPINRequired)
}

// Run opens and initialises the modem, then watches it: URCs, health checks,
// storage sweeps; it reconnects with backoff when the modem stops answering
// or disappears. It returns nil when ctx is done or Close is called, and an
// error (ErrPINWrong, ErrPUK, ErrPINRequired) when only a person can help.
func (m *Modem) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("modem: Run is already running for this modem")
	}
	defer m.running.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-m.closeCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := m.cfg.ReconnectMin
	for {
		m.mu.Lock()
		fatal := m.fatal
		m.mu.Unlock()
		if fatal != nil {
			return fatal
		}
		wasReady, err := m.session(ctx)
		m.setDown(err)
		if ctx.Err() != nil {
			return nil
		}
		if fatalError(err) {
			m.mu.Lock()
			m.fatal = err
			m.signal()
			m.mu.Unlock()
			m.log.Error("modem: stopped; needs a person", "err", err)
			return err
		}
		if wasReady {
			backoff = m.cfg.ReconnectMin
		}
		m.log.Warn("modem: connection lost; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff *= 2
		if backoff > m.cfg.ReconnectMax {
			backoff = m.cfg.ReconnectMax
		}
		m.mu.Lock()
		m.health.Reconnects++
		m.mu.Unlock()
	}
}

// signal wakes WaitReady callers; m.mu held.
func (m *Modem) signal() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *Modem) setDown(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.at = nil
	m.health.Connected = false
	if m.ready {
		m.ready = false
		m.signal()
	}
	m.health.Ready = false
	if err != nil && !errors.Is(err, context.Canceled) {
		m.noteErrorLocked(err)
	}
}

func (m *Modem) noteError(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.noteErrorLocked(err)
}

func (m *Modem) noteErrorLocked(err error) {
	m.health.LastError = err.Error()
	m.health.LastErrorAt = time.Now()
}

// setRegistration records a registration state and updates readiness.
func (m *Modem) setRegistration(r Registration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.health.Registration = r
	ready := m.at != nil && m.health.Connected && r.Registered()
	if ready != m.ready {
		m.ready = ready
		m.health.Ready = ready
		m.signal()
		if ready {
			m.log.Info("modem: ready", "registration", r.String())
		} else {
			m.log.Warn("modem: not registered on the network; sends wait", "registration", r.String())
		}
	}
}

// Ready reports whether the modem is connected, initialised and registered.
func (m *Modem) Ready() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ready
}

// WaitReady blocks until the modem is ready, ctx is done, or Run stopped for
// good (then it returns Run's error).
func (m *Modem) WaitReady(ctx context.Context) error {
	for {
		m.mu.Lock()
		ready, fatal, ch := m.ready, m.fatal, m.changed
		m.mu.Unlock()
		if ready {
			return nil
		}
		if fatal != nil {
			return fatal
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("modem %s: waiting until ready: %w", m.cfg.Path, ctx.Err())
		case <-ch:
		}
	}
}

// Health returns a snapshot for the status page.
func (m *Modem) Health() Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.health
}

// Close stops Run and closes the port.
func (m *Modem) Close() error {
	m.closeMu.Do(func() { close(m.closeCh) })
	m.mu.Lock()
	at := m.at
	m.mu.Unlock()
	if at != nil {
		at.Close()
	}
	return nil
}

// session runs one connection: open, init, serve. wasReady says whether it
// got as far as a working modem (the backoff starts over then).
func (m *Modem) session(ctx context.Context) (wasReady bool, err error) {
	port, path, err := m.open(ctx)
	if err != nil {
		return false, err
	}
	urcs := newURCQueue()
	at := newATEngine(port, m.log, urcs)
	at.onCommand = m.testHook
	defer at.Close()
	m.mu.Lock()
	m.at = at
	m.health.Port = path
	m.mu.Unlock()

	if err := m.initModem(ctx, at); err != nil {
		return false, err
	}
	m.mu.Lock()
	m.health.Connected = true
	reg := m.health.Registration
	m.mu.Unlock()
	m.setRegistration(reg)
	m.log.Info("modem: initialised", "imei", mask.Serial(m.Health().IMEI), "registration", reg.String())

	// Parts saved before a restart, then whatever arrived while nobody
	// listened: messages stored while the daemon was down, reports, parts.
	m.loadParts(ctx, at)
	if err := m.sweep(ctx, at); err != nil && at.Err() != nil {
		return true, err
	}
	health := time.NewTicker(m.cfg.HealthInterval)
	defer health.Stop()
	expireEvery := m.cfg.PartsTimeout / 4
	if expireEvery > time.Minute {
		expireEvery = time.Minute
	}
	if expireEvery < 10*time.Millisecond {
		expireEvery = 10 * time.Millisecond
	}
	expire := time.NewTicker(expireEvery)
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-at.Dead():
			return true, at.Err()
		case <-urcs.notify:
			for _, u := range urcs.drain() {
				m.handleURC(ctx, at, u)
			}
		case <-health.C:
			m.checkHealth(ctx, at)
			m.reassertRouting(ctx, at)
			m.loadParts(ctx, at)
			if err := m.sweep(ctx, at); err != nil && at.Err() != nil {
				return true, err
			}
		case <-expire.C:
			m.expire(ctx, at)
		}
	}
}
