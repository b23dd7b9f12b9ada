package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the AT layer: it writes commands, splits what the modem sends
// back into lines, and tells apart the three kinds of line a modem prints
// (3GPP TS 27.007 §5, ITU-T V.250 §5.7): the final result code that ends a
// command (OK, ERROR, +CME ERROR, +CMS ERROR), information lines that belong
// to the command, and unsolicited result codes (URCs) that the modem may
// print at any time — including between a command's echo and its answer.
// URCs go to an unbounded queue, so none is lost while a command is running.

// lineKind is how the AT layer files one line of modem output.
type lineKind int

const (
	kindInfo   lineKind = iota // belongs to the running command
	kindOK                     // final result: success
	kindError                  // final result: failure (ERROR, +CME ERROR, +CMS ERROR, NO CARRIER, ...)
	kindURC                    // unsolicited, complete on one line
	kindURCTwo                 // unsolicited, the next line is its PDU (+CMT, +CDS, +CBM)
	kindEcho                   // the modem echoing the command back (echo still on)
	kindStray                  // no command is running and it is no URC: a late answer or noise
)

// String names the kind for test failures and debug logs.
func (k lineKind) String() string {
	return [...]string{"info", "ok", "error", "urc", "urc2", "echo", "stray"}[k]
}

// urcPrefixes are the unsolicited result codes we recognise. A line that
// starts with one of them is an information line only when the running
// command has the same name (AT+CREG? answers "+CREG: 0,1"; on its own
// "+CREG: 1" is a registration change).
var urcPrefixes = []string{
	"+CMTI:", "+CDSI:", "+CBMI:", "+CREG:", "+CGREG:", "+CEREG:", "+CUSD:", "+CRING:",
	"+CLIP:", "+CCWA:", "+CIEV:", "+CPIN:", "+CFUN:", "+QIND:", "+CMTE:", "+CTZV:", "+CTZE:",
	"^RSSI:", "^BOOT:", "^MODE:", "^SRVST:", "^SIMST:", "^HCSQ:", "^RSSILVL:",
}

// urcTwoLine are the unsolicited codes in PDU mode whose PDU follows on the next
// line (3GPP TS 27.005 §3.4.1: "+CMT: [<alpha>],<length><CR><LF><pdu>").
var urcTwoLine = []string{"+CMT:", "+CDS:", "+CBM:"}

// urcBare are unsolicited lines without a colon.
var urcBare = []string{"RING", "RDY", "SMS Ready", "Call Ready", "PB DONE", "NO CARRIER"}

// commandName returns the name a command's information lines start with:
// "AT+CREG?" → "+CREG", "AT+CPMS=\"SM\"" → "+CPMS", "ATE0" → "".
func commandName(cmd string) string {
	c := strings.ToUpper(strings.TrimSpace(cmd))
	if !strings.HasPrefix(c, "AT") {
		return ""
	}
	c = c[2:]
	if len(c) == 0 || (c[0] != '+' && c[0] != '^' && c[0] != '$' && c[0] != '#') {
		return ""
	}
	end := strings.IndexAny(c, "=?")
	if end < 0 {
		end = len(c)
	}
	return c[:end]
}

// classify files one line of modem output. cmd is the running command as it
// was written (without the CR), or "" when none is running.
func classify(line, cmd string) lineKind {
	switch line {
	case "OK":
		return kindOK
	case "ERROR", "NO DIALTONE", "BUSY", "NO ANSWER", "COMMAND NOT SUPPORT", "TOO MANY PARAMETERS":
		return kindError
	}
	if strings.HasPrefix(line, "+CME ERROR:") || strings.HasPrefix(line, "+CMS ERROR:") {
		return kindError
	}
	if cmd != "" && strings.EqualFold(strings.TrimSpace(line), strings.TrimSpace(cmd)) {
		return kindEcho
	}
	name := commandName(cmd)
	for _, p := range urcTwoLine {
		if strings.HasPrefix(line, p) && !(name != "" && name+":" == p) {
			return kindURCTwo
		}
	}
	for _, p := range urcPrefixes {
		if strings.HasPrefix(line, p) && !(name != "" && name+":" == p) {
			return kindURC
		}
	}
	for _, p := range urcBare {
		if line == p {
			if p == "NO CARRIER" && cmd != "" {
				return kindError
			}
			return kindURC
		}
	}
	if cmd == "" {
		return kindStray
	}
	return kindInfo
}

// URC is one unsolicited result code. For +CMT and +CDS in PDU mode, PDU is
// the hex line that followed the header.
type URC struct {
	Line string
	PDU  string
}

// urcQueue is an unbounded FIFO of URCs: the reader never blocks on a slow
// consumer and never drops one.
type urcQueue struct {
	mu     sync.Mutex
	items  []URC
	notify chan struct{}
}

func newURCQueue() *urcQueue { return &urcQueue{notify: make(chan struct{}, 1)} }

func (q *urcQueue) push(u URC) {
	q.mu.Lock()
	q.items = append(q.items, u)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// drain returns every queued URC in arrival order.
func (q *urcQueue) drain() []URC {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// pending is the command the reader is collecting lines for.
type pending struct {
	cmd    string
	info   []string
	final  string
	isErr  bool
	done   chan struct{} // closed with the final result
	prompt chan struct{} // signalled on "> "
}

// ErrTimeout is wrapped by errors of commands that got no final result in time.
var ErrTimeout = errors.New("no answer from the modem in time")

// ErrPortClosed is wrapped by errors of commands on a port that was closed or
// unplugged.
var ErrPortClosed = errors.New("serial port closed (modem unplugged or reset)")

// atEngine runs AT commands over one open port. It is used by one modem
// session; when the port fails or a command times out it closes itself and
// the session reconnects with a fresh engine.
type atEngine struct {
	rw   io.ReadWriteCloser
	log  *slog.Logger
	urcs *urcQueue

	// cmdSem holds one token per command on the wire: one at a time. A
	// channel rather than a mutex so that a caller whose context ends while
	// another command runs (a send behind a slow storage sweep) gives up
	// at once instead of waiting for that command's timeout.
	cmdSem chan struct{}

	mu         sync.Mutex // guards cur, urcWaiting
	cur        *pending
	urcWaiting *URC // two-line URC waiting for its PDU line
	wantPrompt atomic.Bool
	dead       chan struct{} // closed when the reader stops
	deadErr    error
	closeOnce  sync.Once
	onCommand  func(cmd string) // test hook, may be nil
}

func newATEngine(rw io.ReadWriteCloser, log *slog.Logger, urcs *urcQueue) *atEngine {
	a := &atEngine{rw: rw, log: log, urcs: urcs, dead: make(chan struct{}), cmdSem: make(chan struct{}, 1)}
	go a.readLoop()
	return a
}

// Dead is closed when the engine can no longer run commands.
func (a *atEngine) Dead() <-chan struct{} { return a.dead }

// Err says why the engine failed or died (nil while it works). It is set as
// soon as the port is being closed, before Dead is closed.
func (a *atEngine) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.deadErr
}

func (a *atEngine) failed() error { return a.Err() }

// fail closes the port; the reader stops with err as the reason.
func (a *atEngine) fail(err error) {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		if a.deadErr == nil {
			a.deadErr = err
		}
		a.mu.Unlock()
		a.rw.Close()
	})
}

// Close closes the port and waits for the reader to stop.
func (a *atEngine) Close() error {
	a.fail(ErrPortClosed)
	<-a.dead
	return nil
}

func (a *atEngine) readLoop() {
	buf := make([]byte, 512)
	var line []byte
	skipSpace := false
	var readErr error
	for {
		n, err := a.rw.Read(buf)
		for _, b := range buf[:n] {
			if skipSpace {
				skipSpace = false
				if b == ' ' {
					continue
				}
			}
			switch b {
			case '\r', '\n':
				if len(line) > 0 {
					a.handleLine(string(line))
					line = line[:0]
				}
			default:
				line = append(line, b)
				// The "> " prompt of AT+CMGS has no line end (27.005 §3.5.1).
				if len(line) == 1 && b == '>' && a.wantPrompt.Load() {
					a.handlePrompt()
					line = line[:0]
					skipSpace = true
				}
				if len(line) > 4096 {
					// A modem that never ends its line: keep memory bounded.
					a.handleLine(string(line))
					line = line[:0]
				}
			}
		}
		if err != nil {
			readErr = err
			break
		}
		if n == 0 {
			readErr = io.EOF
			break
		}
	}
	a.mu.Lock()
	if a.deadErr == nil {
		a.deadErr = fmt.Errorf("%w: %v", ErrPortClosed, readErr)
	}
	// A two-line URC cut off by the port going away is still handed on.
	if a.urcWaiting != nil {
		a.urcs.push(*a.urcWaiting)
		a.urcWaiting = nil
	}
	a.mu.Unlock()
	a.closeOnce.Do(func() { a.rw.Close() })
	close(a.dead)
}

func (a *atEngine) handlePrompt() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur != nil {
		select {
		case a.cur.prompt <- struct{}{}:
		default:
		}
	}
}

func (a *atEngine) handleLine(line string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cmd := ""
	if a.cur != nil {
		cmd = a.cur.cmd
	}
	kind := classify(line, cmd)
	if a.urcWaiting != nil {
		u := a.urcWaiting
		a.urcWaiting = nil
		if kind == kindInfo || kind == kindStray {
			// The PDU line of a two-line URC.
			u.PDU = line
			a.urcs.push(*u)
			return
		}
		// The header came without its PDU: hand it on as it is; the
		// consumer reports it as undecodable rather than dropping it.
		a.urcs.push(*u)
	}
	switch kind {
	case kindURC:
		a.urcs.push(URC{Line: line})
	case kindURCTwo:
		a.urcWaiting = &URC{Line: line}
	case kindEcho:
	case kindStray:
		a.log.Debug("modem: ignoring line outside a command", "len", len(line))
	case kindInfo:
		a.cur.info = append(a.cur.info, line)
	case kindOK, kindError:
		if a.cur == nil {
			a.log.Debug("modem: ignoring late final result", "result", safeFinal(line))
			return
		}
		a.cur.final = line
		a.cur.isErr = kind == kindError
		close(a.cur.done)
		a.cur = nil
	}
}

// safeFinal keeps final result codes for logs; they carry no PHI.
func safeFinal(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

// Command runs one AT command (without the trailing CR) and returns its
// information lines. A final error becomes an *Error with the +CME/+CMS code;
// no final result within timeout closes the port (the modem is in an unknown
// state) and returns an error wrapping ErrTimeout.
func (a *atEngine) Command(ctx context.Context, cmd string, timeout time.Duration) ([]string, error) {
	return a.run(ctx, cmd, nil, timeout)
}

// SMSCommand runs a command that takes a PDU after the "> " prompt
// (AT+CMGS=<len>): it waits for the prompt, writes the hex PDU and Ctrl-Z,
// then waits for the final result.
func (a *atEngine) SMSCommand(ctx context.Context, cmd, pduHex string, timeout time.Duration) ([]string, error) {
	return a.run(ctx, cmd, []byte(pduHex), timeout)
}

func (a *atEngine) run(ctx context.Context, cmd string, body []byte, timeout time.Duration) ([]string, error) {
	op := commandOp(cmd)
	select {
	case a.cmdSem <- struct{}{}:
	case <-ctx.Done():
		// Nothing was written: the command never started.
		return nil, &Error{Op: op, CMS: -1, CME: -1, Transient: true, Err: fmt.Errorf("waiting for the previous command to finish: %w", ctx.Err())}
	case <-a.dead:
		return nil, &Error{Op: op, CMS: -1, CME: -1, Transient: true, Err: a.Err()}
	}
	defer func() { <-a.cmdSem }()
	if err := a.failed(); err != nil {
		return nil, &Error{Op: op, CMS: -1, CME: -1, Transient: true, Err: err}
	}
	p := &pending{cmd: cmd, done: make(chan struct{}), prompt: make(chan struct{}, 1)}
	a.mu.Lock()
	a.cur = p
	a.mu.Unlock()
	if body != nil {
		a.wantPrompt.Store(true)
		defer a.wantPrompt.Store(false)
	}
	if a.onCommand != nil {
		a.onCommand(cmd)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	abandon := func(err error) ([]string, error) {
		a.mu.Lock()
		if a.cur == p {
			a.cur = nil
		}
		a.mu.Unlock()
		return nil, err
	}
	if err := a.write(append([]byte(cmd), '\r'), timer.C); err != nil {
		return abandon(&Error{Op: op, CMS: -1, CME: -1, Transient: true, Err: err})
	}
	if body != nil {
		select {
		case <-p.prompt:
			msg := make([]byte, 0, len(body)+1)
			msg = append(msg, body...)
			msg = append(msg, 0x1A) // Ctrl-Z: submit
			if err := a.write(msg, timer.C); err != nil {
				return abandon(&Error{Op: op, CMS: -1, CME: -1, Transient: true, Err: err})
			}
		case <-p.done:
			// An error instead of the prompt.
		case <-timer.C:
			// ESC cancels the prompt; a modem that answers nothing at all is
			// reset by the reconnect anyway.
			a.rw.Write([]byte{0x1B})
			a.fail(fmt.Errorf("%w (no \"> \" prompt)", ErrTimeout))
			return abandon(&Error{Op: op, CMS: -1, CME: -1, Transient: true, Err: fmt.Errorf("%w: no \"> \" prompt after %v; the port is reopened", ErrTimeout, timeout)})
		case <-ctx.Done():
			a.rw.Write([]byte{0x1B})
			a.fail(ctx.Err())
			return abandon(&Error{Op: op, CMS: -1, CME: -1, Transient: true, Err: ctx.Err()})
		case <-a.dead:
			return abandon(&Error{Op: op, CMS: -1, CME: -1, Transient: true, Err: a.Err()})
		}
	}
	// Once a PDU went out, a missing answer means nobody knows whether the
	// network took it.
	uncertain := body != nil
	select {
	case <-p.done:
	case <-timer.C:
		a.fail(ErrTimeout)
		return abandon(&Error{Op: op, CMS: -1, CME: -1, Transient: true, Uncertain: uncertain, Err: fmt.Errorf("%w (%v); the port is closed and reopened", ErrTimeout, timeout)})
	case <-ctx.Done():
		// The modem may still answer; the command's state is unknown, so the
		// port is reset like after a timeout.
		a.fail(ctx.Err())
		return abandon(&Error{Op: op, CMS: -1, CME: -1, Transient: true, Uncertain: uncertain, Err: ctx.Err()})
	case <-a.dead:
		return abandon(&Error{Op: op, CMS: -1, CME: -1, Transient: true, Uncertain: uncertain, Err: a.Err()})
	}
	if p.isErr {
		return p.info, finalError(op, p.final)
	}
	return p.info, nil
}

// write writes b, giving up (and closing the port) if the write blocks past
// the command's deadline: a serial write blocks when the modem stops reading.
func (a *atEngine) write(b []byte, deadline <-chan time.Time) error {
	done := make(chan error, 1)
	go func() {
		_, err := a.rw.Write(b)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			if why := a.failed(); why != nil {
				return why // closed under us, e.g. after another command's timeout
			}
			a.fail(fmt.Errorf("%w: write: %v", ErrPortClosed, err))
			return fmt.Errorf("%w: write: %v", ErrPortClosed, err)
		}
		return nil
	case <-deadline:
		a.fail(ErrTimeout)
		return fmt.Errorf("%w: write blocked", ErrTimeout)
	case <-a.dead:
		return a.Err()
	}
}

// commandOp is the part of a command that may go into errors and logs: the
// command name without arguments, which can be a PIN or a phone number.
func commandOp(cmd string) string {
	c := strings.TrimSpace(cmd)
	if i := strings.IndexAny(c, "=?"); i >= 0 {
		if strings.HasPrefix(strings.ToUpper(c), "AT+CMGS=") || strings.HasPrefix(strings.ToUpper(c), "AT+CMGR=") ||
			strings.HasPrefix(strings.ToUpper(c), "AT+CMGD=") || strings.HasPrefix(strings.ToUpper(c), "AT+CMGL=") ||
			strings.HasPrefix(strings.ToUpper(c), "AT+CMEE=") || strings.HasPrefix(strings.ToUpper(c), "AT+CMGF=") ||
			strings.HasPrefix(strings.ToUpper(c), "AT+CNMI=") {
			return c // numeric arguments only: useful and harmless
		}
		return c[:i+1]
	}
	return c
}

// hexUpper encodes b as upper-case hex, as modems expect PDUs.
func hexUpper(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i] = digits[c>>4]
		out[2*i+1] = digits[c&15]
	}
	return string(out)
}
