// Package emulator is a GSM modem on a pseudo-terminal. It answers AT commands
// the way a real USB modem does (echo until ATE0, the "> " prompt of AT+CMGS,
// +CMS/+CME errors as AT+CMEE asks, SMS storage, +CMTI, +CMT and +CDS
// indications, the AT+CNMA acknowledgements AT+CSMS=1 asks for) so that the
// real serial code of package modem, and third-party clients such as gammu
// and warthog618/modem, can be tested against it. Every submitted PDU is
// decoded into a handset log: what the recipient's phone would show. Faults
// can be injected: send errors, latency, a slow wire, a hang, unplugging and
// replugging, a SIM that wants its PIN, no network.
package emulator

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Config configures an emulator. The zero value works.
type Config struct {
	// Link, if set, is a symlink to the pty slave (like /dev/serial/by-id/...).
	// It is replaced if it already is a symlink; any other file there is an error.
	Link   string
	Logger *slog.Logger
	// StatusReportDelay is how long after an accepted submit with TP-SRR the
	// +CDS status report comes. Default 50ms.
	StatusReportDelay time.Duration
	// SMSC is the service centre number on the "SIM". Default "+15550000000".
	SMSC string
	// Identity answers for AT+CGMI/CGMM/CGMR/CGSN/CIMI.
	Manufacturer, Model, Revision, IMEI, IMSI string
	Operator                                  string
	// Capacity of the SIM's message storage. Default 30.
	Capacity int
	// OnHandset, if set, is called (from the emulator's goroutine) with every
	// message as the handset completes it.
	OnHandset func(HandsetMessage)
	// Now is the clock for timestamps. Default time.Now.
	Now func() time.Time
	// AckTimeout is how long, after AT+CSMS=1, the modem waits for the
	// AT+CNMA of a +CMT or +CDS before it gives up (3GPP TS 27.005
	// §3.4.4): it then sets <mt> and <ds> of AT+CNMI to 0, and the
	// network, which got no RP-ACK, delivers the message again, which
	// the emulator models by storing it on the SIM without an indication.
	// Default 17s, the network timeout a Telit manual gives; 27.005
	// leaves the figure to the network.
	AckTimeout time.Duration
}

// HandsetMessage is one message as the recipient's phone shows it, its parts
// reassembled.
type HandsetMessage struct {
	To        string
	Text      string
	Encoding  string // "GSM-7", "UCS-2", "8-bit"
	Parts     int
	Reference uint16 // concatenation reference (0 for single-part)
	MRs       []int  // TP-MR the modem assigned to each part, in part order
	SRR       bool   // a status report was requested
	At        time.Time
}

// conn is one plugged-in life of the modem: a pty pair.
type conn struct {
	ptmx   *os.File // master, pollable so Close interrupts Read
	tty    *os.File // slave, held open so the master never sees EIO between clients
	wmu    sync.Mutex
	closed chan struct{}
	done   chan struct{} // reader finished
}

// Emulator is a running emulated modem.
type Emulator struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	c        *conn
	path     string // slave path of the current pty
	closed   bool
	st       modemState
	sim      simState
	faults   faults
	store    storage
	handset  handset
	mr       byte
	ref      uint16
	commands []string
	hook     func(cmd string, at time.Time)
	timers   map[*time.Timer]struct{}
	cond     *sync.Cond // broadcast when the handset log grows
	ack      ackState
	// held are messages the network keeps because the SIM was full
	// when they came, oldest first; releasing is set while they are
	// delivered again.
	held      []mtItem
	releasing bool
	// afterAnswer is what a command made due after its final result
	// code, such as the next +CMT once AT+CNMA acknowledged the last.
	afterAnswer string
}

// mtItem is a message or status report from the network, SMSC field first.
type mtItem struct {
	full    []byte
	tpduLen int
	report  bool // an SMS-STATUS-REPORT, not an SMS-DELIVER
}

// ackState is the acknowledgement protocol of AT+CSMS=1 (3GPP TS 27.005
// §3.4.4): each +CMT or +CDS waits for AT+CNMA, and until it comes the
// modem shows no other.
type ackState struct {
	waiting *mtItem  // shown with +CMT/+CDS, not yet acknowledged
	queue   []mtItem // held back until then, oldest first
	gen     int      // bumped when a wait ends, so its timer does nothing
}

// modemState is what a power cycle resets.
type modemState struct {
	echo     bool
	cmee     int
	cmgf     int
	cnmi     [5]int
	creg     int // URC mode of +CREG
	csms     int // AT+CSMS <service>: 1 wants AT+CNMA for each +CMT and +CDS
	cscs     string
	sessions int // times ATE0 or ATZ was seen: one per client initialisation
}

type simState struct {
	pin         string // "" = no PIN
	unlocked    bool
	attempts    int // AT+CPIN=<pin> attempts, right or wrong
	left        int // tries left before PUK
	puk         bool
	reg         int // +CREG <stat>
	csq         int
	smsc        string
	deliverStat byte // TP-ST of status reports
	absent      bool // no SIM card in the slot
}

type faults struct {
	failSends    int
	failCode     int
	latency      time.Duration
	baud         int
	hang         bool
	injectOnCMGS []pendingInject
	injectPrompt []pendingInject
	hangOnSubmit bool            // take the next PDU, then hang without answering
	unplugOnSend bool            // unplug when the next AT+CMGS arrives
	forceMT      int             // >= 0: route new messages this way whatever AT+CNMI said
	forceDS      int             // >= 0: route status reports this way whatever AT+CNMI said
	refused      map[string]bool // commands ("+CSMS") answered +CMS ERROR: 303
}

type pendingInject struct{ from, text string }

func defaults(cfg *Config) {
	if cfg.StatusReportDelay == 0 {
		cfg.StatusReportDelay = 50 * time.Millisecond
	}
	if cfg.SMSC == "" {
		cfg.SMSC = "+15550000000"
	}
	if cfg.Manufacturer == "" {
		cfg.Manufacturer = "smsd"
	}
	if cfg.Model == "" {
		cfg.Model = "Emulated GSM modem"
	}
	if cfg.Revision == "" {
		cfg.Revision = "EMU-1.0"
	}
	if cfg.IMEI == "" {
		cfg.IMEI = "356938035643809"
	}
	if cfg.IMSI == "" {
		cfg.IMSI = "001010123456789"
	}
	if cfg.Operator == "" {
		cfg.Operator = "Emulated Net"
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = 30
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = 17 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
}

// Start creates the pty, links it and starts answering.
func Start(cfg Config) (*Emulator, error) {
	e := newEmulator(cfg)
	if err := e.plug(); err != nil {
		return nil, err
	}
	return e, nil
}

// newEmulator is a powered-on emulator with no pty plugged in yet.
func newEmulator(cfg Config) *Emulator {
	defaults(&cfg)
	e := &Emulator{
		cfg:    cfg,
		log:    cfg.Logger,
		timers: map[*time.Timer]struct{}{},
		sim:    simState{reg: 1, csq: 20, smsc: cfg.SMSC, left: 3, unlocked: true},
		faults: faults{forceMT: -1, forceDS: -1},
		store:  storage{capacity: cfg.Capacity, msgs: map[int]stored{}},
		mr:     0,
		ref:    0x00F0, // crosses 255 soon: both 8- and 16-bit references get used
	}
	e.cond = sync.NewCond(&e.mu)
	e.handset.parts = map[handsetKey]*partial{}
	e.powerOn()
	return e
}

// powerOn resets what a real modem forgets when it loses power.
func (e *Emulator) powerOn() {
	e.st = modemState{echo: true, cmee: 0, cmgf: 0, cnmi: [5]int{2, 1, 0, 0, 0}, cscs: "IRA", sessions: e.st.sessions}
	if e.sim.pin != "" && !e.sim.puk {
		e.sim.unlocked = false
	}
	// Nobody is plugged in to be told: what was waiting for an AT+CNMA
	// ends up on the SIM.
	e.rerouteLocked()
}

// plug creates a new pty pair, links it and starts its reader.
func (e *Emulator) plug() error {
	p, t, err := pty.Open()
	if err != nil {
		return fmt.Errorf("emulator: create pseudo-terminal: %w", err)
	}
	// creack/pty's ioctls put the master in blocking mode; a blocking read
	// cannot be interrupted by Close. Re-wrap a non-blocking duplicate so
	// the runtime poller handles it.
	fd, err := unix.Dup(int(p.Fd()))
	p.Close()
	if err != nil {
		t.Close()
		return fmt.Errorf("emulator: dup pty master: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		t.Close()
		return fmt.Errorf("emulator: pty master non-blocking: %w", err)
	}
	ptmx := os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := makeRaw(t); err != nil {
		ptmx.Close()
		t.Close()
		return fmt.Errorf("emulator: raw mode on %s: %w", t.Name(), err)
	}
	if e.cfg.Link != "" {
		if err := relink(t.Name(), e.cfg.Link); err != nil {
			ptmx.Close()
			t.Close()
			return err
		}
	}
	c := &conn{ptmx: ptmx, tty: t, closed: make(chan struct{}), done: make(chan struct{})}
	e.mu.Lock()
	e.c = c
	e.path = t.Name()
	e.mu.Unlock()
	go e.readLoop(c)
	return nil
}

// relink points link at target, replacing an old symlink but nothing else.
func relink(target, link string) error {
	if fi, err := os.Lstat(link); err == nil {
		if fi.Mode()&fs.ModeSymlink == 0 {
			return fmt.Errorf("emulator: %s exists and is not a symlink; remove it or choose another -link path", link)
		}
		if err := os.Remove(link); err != nil {
			return fmt.Errorf("emulator: replace link %s: %w", link, err)
		}
	}
	if err := os.Symlink(target, link); err != nil {
		return fmt.Errorf("emulator: link %s → %s: %w", link, target, err)
	}
	return nil
}

// makeRaw sets the slave like a serial port in raw mode (cfmakeraw), so that
// nothing is echoed or translated before a client opens it.
func makeRaw(t *os.File) error {
	fd := int(t.Fd())
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	tio.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	tio.Oflag &^= unix.OPOST
	tio.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	tio.Cflag &^= unix.CSIZE | unix.PARENB
	tio.Cflag |= unix.CS8
	tio.Cc[unix.VMIN] = 1
	tio.Cc[unix.VTIME] = 0
	return unix.IoctlSetTermios(fd, unix.TCSETS, tio)
}

// Path is what modem.Config.Path takes: the link if one was asked for, else
// the slave of the current pty (which changes on Replug).
func (e *Emulator) Path() string {
	if e.cfg.Link != "" {
		return e.cfg.Link
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.path
}

// Close unplugs the modem for good and removes the link.
func (e *Emulator) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	for t := range e.timers {
		t.Stop()
	}
	e.mu.Unlock()
	e.unplug()
	e.mu.Lock()
	e.cond.Broadcast()
	e.mu.Unlock()
	return nil
}

// Unplug closes the pty, as pulling the USB stick does: the client's port
// fails. Messages stay on the SIM.
func (e *Emulator) Unplug() { e.unplug() }

func (e *Emulator) unplug() {
	e.mu.Lock()
	c := e.c
	e.c = nil
	e.mu.Unlock()
	if c == nil {
		return
	}
	// The link goes first: once the pty is closed its /dev/pts number can be
	// handed to another process, and a client reopening a stale link would
	// talk to (and steal the bytes of) someone else's terminal.
	if e.cfg.Link != "" {
		if target, err := os.Readlink(e.cfg.Link); err == nil && target == c.tty.Name() {
			os.Remove(e.cfg.Link)
		}
	}
	close(c.closed)
	c.ptmx.Close()
	c.tty.Close()
	<-c.done
}

// Replug plugs the modem back in: a new pty, linked at the same path, and a
// modem that has forgotten its settings (echo on again, PIN needed again).
func (e *Emulator) Replug() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return errors.New("emulator: closed")
	}
	plugged := e.c != nil
	e.mu.Unlock()
	if plugged {
		e.unplug()
	}
	e.mu.Lock()
	e.powerOn()
	e.mu.Unlock()
	return e.plug()
}

// FailSends makes the next n AT+CMGS answer "+CMS ERROR: <cms>".
func (e *Emulator) FailSends(n, cms int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.failSends, e.faults.failCode = n, cms
}

// Refuse makes the modem answer the named commands ("+CSMS", "+CNMA"),
// whatever their arguments, with +CMS ERROR: 303 (operation not supported,
// 27.005 §3.2.5), as a modem without Phase 2+ acknowledgements does;
// Refuse() with no names accepts them all again.
func (e *Emulator) Refuse(commands ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.refused = map[string]bool{}
	for _, c := range commands {
		e.faults.refused[upperASCII(c)] = true
	}
}

// SetLatency delays every answer by d.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.latency = d
}

// SetBaud paces output as a serial wire at b baud (10 bits a byte) would;
// 0 = no pacing.
func (e *Emulator) SetBaud(b int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.baud = b
}

// Hang makes the modem stop answering anything (input is swallowed, no URCs)
// until Unhang or Replug.
func (e *Emulator) Hang() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.hang = true
}

// HangOnNextSubmit makes the modem take the next submitted PDU (the
// handset gets it) and then hang without answering: the case where nobody
// knows whether the message went out.
func (e *Emulator) HangOnNextSubmit() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.hangOnSubmit = true
}

// UnplugOnNextSend unplugs the modem (as Unplug) the moment the next
// AT+CMGS command line arrives, before any prompt: the USB stick pulled out
// in the middle of a send. Replug brings it back.
func (e *Emulator) UnplugOnNextSend() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.unplugOnSend = true
}

// Unhang makes a hung modem answer again.
func (e *Emulator) Unhang() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.hang = false
}

// RequirePIN makes the SIM locked with pin (now and at every power-up); ""
// removes the PIN. Three wrong tries PUK-lock the SIM.
func (e *Emulator) RequirePIN(pin string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sim.pin = pin
	e.sim.unlocked = pin == ""
	e.sim.left = 3
	e.sim.puk = false
}

// SetSIMAbsent takes the SIM out of the modem (true) or puts it back.
func (e *Emulator) SetSIMAbsent(absent bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sim.absent = absent
}

// SetPUKLocked PUK-locks the SIM.
func (e *Emulator) SetPUKLocked() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sim.puk = true
	e.sim.unlocked = false
}

// PINAttempts counts AT+CPIN=<pin> commands received, right or wrong.
func (e *Emulator) PINAttempts() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sim.attempts
}

// SetRegistered sets the +CREG <stat> (0 not registered, 1 home, 2
// searching, 3 denied, 5 roaming) and prints the +CREG URC if enabled.
func (e *Emulator) SetRegistered(stat int) {
	e.mu.Lock()
	e.sim.reg = stat
	mode := e.st.creg
	e.mu.Unlock()
	if mode > 0 {
		e.urc(fmt.Sprintf("+CREG: %d", stat))
	}
}

// SetSignal sets the +CSQ rssi (0..31, 99 unknown).
func (e *Emulator) SetSignal(rssi int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sim.csq = rssi
}

// SetSMSC sets the service centre number on the SIM ("" = none).
func (e *Emulator) SetSMSC(n string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sim.smsc = n
}

// SetDeliveryOutcome sets the TP-Status of the status reports sent from now
// on: 0x00 delivered, 0x20..0x2F still trying, 0x40..0x6F failed (23.040 §9.2.3.15).
func (e *Emulator) SetDeliveryOutcome(status byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sim.deliverStat = status
}

// ForceIndications makes the modem route new messages (mt: 1 stored with
// +CMTI, 2 directly with +CMT) and status reports (ds: 1 directly with +CDS,
// 2 stored with +CDSI) this way whatever AT+CNMI asked, as some firmwares
// do; -1 follows AT+CNMI again.
func (e *Emulator) ForceIndications(mt, ds int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.forceMT, e.faults.forceDS = mt, ds
}

// cnmi returns the effective mt and ds; e.mu held.
func (e *Emulator) cnmi() (mt, ds int) {
	mt, ds = e.st.cnmi[1], e.st.cnmi[3]
	if e.faults.forceMT >= 0 {
		mt = e.faults.forceMT
	}
	if e.faults.forceDS >= 0 {
		ds = e.faults.forceDS
	}
	return mt, ds
}

// OnCommand sets a hook called with every AT command line the modem receives
// and the time its first byte arrived. It is called from the emulator's
// reader before the command is answered; it must not block for long.
func (e *Emulator) OnCommand(f func(cmd string, at time.Time)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hook = f
}

// Commands returns the command lines received so far, oldest first (PINs
// included: this is a test device). Past 100,000 lines the oldest half is
// forgotten, so that a long-running emulator does not grow without end.
func (e *Emulator) Commands() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.commands...)
}

// Sessions counts client initialisations seen (ATE0 or ATZ received).
func (e *Emulator) Sessions() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st.sessions
}

// Handset returns every complete message the phone has received, in order.
func (e *Emulator) Handset() []HandsetMessage {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]HandsetMessage(nil), e.handset.done...)
}

// WaitHandset waits until the handset has at least n messages and returns them.
func (e *Emulator) WaitHandset(ctx context.Context, n int) ([]HandsetMessage, error) {
	stop := context.AfterFunc(ctx, func() {
		e.mu.Lock()
		e.cond.Broadcast()
		e.mu.Unlock()
	})
	defer stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	for len(e.handset.done) < n {
		if err := ctx.Err(); err != nil {
			return append([]HandsetMessage(nil), e.handset.done...), fmt.Errorf("emulator: handset has %d of %d messages: %w", len(e.handset.done), n, err)
		}
		if e.closed {
			return nil, errors.New("emulator: closed")
		}
		e.cond.Wait()
	}
	return append([]HandsetMessage(nil), e.handset.done...), nil
}

// Stored returns the number of messages in the SIM storage.
func (e *Emulator) Stored() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.store.msgs)
}

// afterFunc runs f after d unless the emulator is closed first.
func (e *Emulator) afterFunc(d time.Duration, f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.afterFuncLocked(d, f)
}

// afterFuncLocked is afterFunc with e.mu held.
func (e *Emulator) afterFuncLocked(d time.Duration, f func()) {
	if e.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		e.mu.Lock()
		delete(e.timers, t)
		closed := e.closed
		e.mu.Unlock()
		if !closed {
			f()
		}
	})
	e.timers[t] = struct{}{}
}

// write sends raw bytes to the client of conn c, paced at the configured baud
// rate. Output to a client that does not read is dropped after a while, as
// a real modem's output is lost when nobody listens.
func (e *Emulator) write(c *conn, s string) {
	if c == nil || s == "" {
		return
	}
	e.mu.Lock()
	baud, hang := e.faults.baud, e.faults.hang
	e.mu.Unlock()
	if hang {
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := []byte(s)
	for len(b) > 0 {
		chunk := b
		if baud > 0 && len(chunk) > 16 {
			chunk = chunk[:16]
		}
		c.ptmx.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.ptmx.Write(chunk); err != nil {
			return
		}
		if baud > 0 {
			select {
			case <-time.After(time.Duration(len(chunk)) * 10 * time.Second / time.Duration(baud)):
			case <-c.closed:
				return
			}
		}
		b = b[len(chunk):]
	}
}

// urc prints an unsolicited result code on the current connection.
func (e *Emulator) urc(line string) {
	e.mu.Lock()
	c := e.c
	e.mu.Unlock()
	e.write(c, "\r\n"+line+"\r\n")
}
