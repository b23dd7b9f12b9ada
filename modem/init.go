package modem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"syscall"
	"time"

	"go.bug.st/serial"
	"go.bug.st/serial/enumerator"
)

// knownVendors are USB vendor IDs of GSM modem makers (lower-case hex).
var knownVendors = map[string]string{
	"12d1": "Huawei",
	"1e0e": "SIMCom",
	"2c7c": "Quectel",
	"19d2": "ZTE",
	"1199": "Sierra Wireless",
	"1546": "u-blox",
	"1bc7": "Telit",
	"05c6": "Qualcomm (SIMCom/Quectel in some firmwares)",
	"2cb7": "Fibocom",
	"1410": "Novatel",
}

// KnownModem says whether a USB VID:PID belongs to a GSM modem maker we know.
func KnownModem(vid, pid string) (vendor string, ok bool) {
	vendor, ok = knownVendors[strings.ToLower(strings.TrimPrefix(vid, "0x"))]
	return vendor, ok
}

// Candidate is a serial port that may be a modem.
type Candidate struct {
	Path   string `json:"path"`
	VID    string `json:"vid"`
	PID    string `json:"pid"`
	Vendor string `json:"vendor"`
}

// Candidates lists the USB serial ports of known modem makers, in name order
// (a modem usually exposes several ttys; the AT port is often not the first).
func Candidates() ([]Candidate, error) {
	ports, err := enumerator.GetDetailedPortsList()
	if err != nil {
		return nil, fmt.Errorf("list serial ports: %w", err)
	}
	return modemPorts(ports), nil
}

// modemPorts keeps the USB ports of known modem makers, sorted by path. It
// is Candidates without the enumerator, so that the filter can be tested on
// a machine without USB modems.
func modemPorts(ports []*enumerator.PortDetails) []Candidate {
	var out []Candidate
	for _, p := range ports {
		if p == nil || !p.IsUSB {
			continue
		}
		if v, ok := KnownModem(p.VID, p.PID); ok {
			out = append(out, Candidate{Path: p.Name, VID: p.VID, PID: p.PID, Vendor: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// openPort opens a serial port for AT use.
func (m *Modem) openPort(path string) (serial.Port, error) {
	p, err := serial.Open(path, &serial.Mode{BaudRate: m.cfg.Baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, &Error{Op: "open " + path, CMS: -1, CME: -1, Transient: true,
			Err: fmt.Errorf("%w (is the modem plugged in? may this user open it? the package's udev rule gives known modems to group smsd-modem, the service's group; others stay in dialout)", err)}
	}
	// Some modems only talk with DTR up. A pty has no modem lines
	// ("inappropriate ioctl for device"): that is "not supported here".
	if err := p.SetDTR(true); err != nil && !errors.Is(err, syscall.ENOTTY) {
		m.log.Debug("modem: set DTR failed; continuing", "err", err)
	}
	// Drop what an earlier session left unread, so that no stale OK answers
	// our first command.
	if err := p.ResetInputBuffer(); err != nil {
		m.log.Debug("modem: flush input failed; continuing", "err", err)
	}
	return p, nil
}

// open opens the configured port, or finds one for "auto".
func (m *Modem) open(ctx context.Context) (io.ReadWriteCloser, string, error) {
	if m.cfg.Path != "auto" {
		p, err := m.openPort(m.cfg.Path)
		return p, m.cfg.Path, err
	}
	list := Candidates
	if m.candidates != nil {
		list = m.candidates
	}
	cands, err := list()
	if err != nil {
		return nil, "", &Error{Op: "detect", CMS: -1, CME: -1, Transient: true, Err: err}
	}
	for _, c := range cands {
		p, err := m.openPort(c.Path)
		if err != nil {
			continue
		}
		if m.probe(ctx, p) {
			m.log.Info("modem: found", "port", c.Path, "vendor", c.Vendor, "vid", c.VID, "pid", c.PID)
			p2, err := m.openPort(c.Path)
			return p2, c.Path, err
		}
	}
	return nil, "", &Error{Op: "detect", CMS: -1, CME: -1, Transient: true,
		Err: fmt.Errorf("no USB modem answered AT among %d candidate ports (plug the modem in, or set the modem path explicitly)", len(cands))}
}

// probe says whether an open port answers AT; it closes the port. A port
// that echoes or answers anything but OK is not the AT port.
func (m *Modem) probe(ctx context.Context, p io.ReadWriteCloser) bool {
	at := newATEngine(p, m.log, newURCQueue())
	defer at.Close()
	// The same patience as any command: a busy modem (or machine) is not
	// a port that never answers.
	_, err := at.Command(ctx, "AT", m.cfg.CommandTimeout)
	return err == nil
}

// initModem brings an opened modem to a known state: out of a stale "> "
// prompt, echo off (ITU-T V.250 ATE0), +CME ERROR codes (3GPP TS 27.007
// AT+CMEE=1), the SIM PIN entered at most once (AT+CPIN, see unlockSIM), PDU
// mode, a service centre check, one message storage for everything, and
// the routing of new messages and status reports (3GPP TS 27.005 AT+CMGF=0,
// AT+CSCA?, AT+CPMS, AT+CSMS, AT+CNMI; see initRouting); then the modem's
// identity and a first health check.
func (m *Modem) initModem(ctx context.Context, at *atEngine) error {
	t := m.cfg.CommandTimeout
	// A previous life may have died in the "> " prompt: ESC leaves it. Let
	// whatever the modem answers to that drain before the first command, so
	// that no stale OK is taken for the answer to AT.
	at.rw.Write([]byte{0x1B, '\r'})
	select {
	case <-time.After(100 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	if _, err := at.Command(ctx, "AT", t); err != nil {
		return err
	}
	if _, err := at.Command(ctx, "ATE0", t); err != nil {
		return err
	}
	if _, err := at.Command(ctx, "AT+CMEE=1", t); err != nil {
		m.log.Warn("modem: verbose errors (AT+CMEE=1) refused; error codes will be missing", "err", err)
	}
	if err := m.unlockSIM(ctx, at); err != nil {
		return err
	}
	if _, err := at.Command(ctx, "AT+CMGF=0", t); err != nil {
		return fmt.Errorf("modem refuses PDU mode (AT+CMGF=0), which smsd needs: %w", err)
	}
	lines, err := at.Command(ctx, "AT+CSCA?", t)
	smsc := ""
	if err == nil {
		smsc, _ = ParseCSCA(lines)
	}
	if at.Err() != nil {
		return at.Err()
	}
	m.mu.Lock()
	m.health.SMSC = smsc != ""
	m.mu.Unlock()
	if smsc == "" {
		e := errors.New("the SIM has no SMS service centre number (AT+CSCA?): sends will fail; set it with the operator's number (AT+CSCA) or use another SIM")
		m.log.Warn("modem: " + e.Error())
		m.noteError(e)
	}
	// One storage for everything, so +CMTI/+CDSI indexes and AT+CMGL agree.
	if _, err := at.Command(ctx, `AT+CPMS="SM","SM","SM"`, t); err != nil && at.Err() == nil {
		m.log.Debug("modem: AT+CPMS=SM refused; using the modem's default storage", "err", err)
	}
	// New messages routed directly and acknowledged (AT+CSMS=1, +CMT,
	// AT+CNMA) where the modem can, else stored with +CMTI; status reports
	// routed directly (+CDS). See routing.go.
	if err := m.initRouting(ctx, at); err != nil {
		return err
	}
	m.identify(ctx, at)
	m.checkHealth(ctx, at)
	return at.Err()
}

// unlockSIM checks the SIM and enters the PIN once if it asks for one.
func (m *Modem) unlockSIM(ctx context.Context, at *atEngine) error {
	t := m.cfg.CommandTimeout
	state, err := m.simState(ctx, at)
	if err != nil {
		return err
	}
	switch state {
	case "READY":
		return nil
	case "SIM PIN":
		m.mu.Lock()
		bad := m.pinBad
		m.mu.Unlock()
		if bad {
			return &Error{Op: "AT+CPIN=", CMS: -1, CME: -1, Err: ErrPINWrong}
		}
		if m.cfg.PIN == "" {
			return &Error{Op: "AT+CPIN?", CMS: -1, CME: -1, Err: ErrPINRequired}
		}
		// pinBad lives only as long as this process; systemd restarts a
		// daemon that stopped. The SIM's own counter survives restarts: if
		// a try was used up since the last right PIN, it was ours (or a
		// person's) and was wrong, so entering the PIN again could lock it.
		if left, def, ok := m.pinTriesLeft(ctx, at); ok && left < def {
			m.mu.Lock()
			m.pinBad = true
			m.mu.Unlock()
			return &Error{Op: "AT+CPINR", CMS: -1, CME: -1,
				Err: fmt.Errorf("%w; the SIM has %d of %d PIN tries left, so an earlier entry (perhaps before a restart) was refused; entering the right PIN once in a phone resets the count", ErrPINWrong, left, def)}
		}
		if at.Err() != nil {
			return at.Err()
		}
		_, err := at.Command(ctx, `AT+CPIN="`+m.cfg.PIN+`"`, t)
		if err != nil {
			var me *Error
			if errors.As(err, &me) && (me.CME >= 0 || me.CMS >= 0 || me.Err != nil && me.Err.Error() == "ERROR") {
				// The SIM answered and said no: never again (three wrong PINs lock it).
				m.mu.Lock()
				m.pinBad = true
				m.mu.Unlock()
				return &Error{Op: "AT+CPIN=", CMS: me.CMS, CME: me.CME, Err: ErrPINWrong}
			}
			return err
		}
		// The SIM takes a moment after the PIN.
		for i := 0; i < 20; i++ {
			state, err = m.simState(ctx, at)
			if err != nil {
				return err
			}
			if state == "READY" {
				m.log.Info("modem: SIM unlocked with the configured PIN")
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		return &Error{Op: "AT+CPIN?", CMS: -1, CME: -1, Transient: true, Err: fmt.Errorf("SIM still %q after the PIN was accepted", state)}
	case "SIM PUK":
		return &Error{Op: "AT+CPIN?", CMS: -1, CME: -1, Err: ErrPUK}
	}
	return &Error{Op: "AT+CPIN?", CMS: -1, CME: -1, Transient: true, Err: fmt.Errorf("SIM asks for %q, which smsd cannot give: check the SIM in a phone", state)}
}

// pinTriesLeft asks the SIM how many PIN tries are left: AT+CPINR (3GPP TS
// 27.007 §8.65), else Quectel's AT+QPINC. ok is false when the modem knows
// neither; then only this process's memory of a refused PIN protects the SIM.
func (m *Modem) pinTriesLeft(ctx context.Context, at *atEngine) (left, def int, ok bool) {
	t := m.cfg.CommandTimeout
	if lines, err := at.Command(ctx, `AT+CPINR="SIM PIN"`, t); err == nil {
		if left, def, err := ParseCPINR(lines); err == nil {
			return left, def, true
		}
	}
	if at.Err() != nil {
		return 0, 0, false
	}
	if lines, err := at.Command(ctx, `AT+QPINC="SC"`, t); err == nil {
		if left, err := ParseQPINC(lines); err == nil {
			return left, 3, true // 3GPP TS 31.102: three PIN tries
		}
	}
	return 0, 0, false
}

// simState asks AT+CPIN? and records the answer.
func (m *Modem) simState(ctx context.Context, at *atEngine) (string, error) {
	lines, err := at.Command(ctx, "AT+CPIN?", m.cfg.CommandTimeout)
	state := ""
	if err == nil {
		state, err = ParseCPIN(lines)
	} else {
		var me *Error
		if errors.As(err, &me) && (me.CME == 10 || me.CME == 13 || me.CMS == 310 || me.CMS == 313) {
			state = "absent"
			err = &Error{Op: "AT+CPIN?", CMS: me.CMS, CME: me.CME, Transient: true, Err: ErrNoSIM}
		}
	}
	m.mu.Lock()
	m.health.SIM = state
	m.mu.Unlock()
	return state, err
}

// identify reads manufacturer, model, revision and IMEI (best effort).
func (m *Modem) identify(ctx context.Context, at *atEngine) {
	t := m.cfg.CommandTimeout
	get := func(cmd, prefix string) string {
		lines, err := at.Command(ctx, cmd, t)
		if err != nil {
			return ""
		}
		return firstPlain(lines, prefix)
	}
	manu := get("AT+CGMI", "+CGMI:")
	model := get("AT+CGMM", "+CGMM:")
	rev := get("AT+CGMR", "+CGMR:")
	imei := get("AT+CGSN", "+CGSN:")
	m.mu.Lock()
	m.health.Manufacturer, m.health.Model, m.health.Revision, m.health.IMEI = manu, model, rev, imei
	m.mu.Unlock()
}

// checkHealth asks signal, registration, operator and storage use.
func (m *Modem) checkHealth(ctx context.Context, at *atEngine) {
	t := m.cfg.CommandTimeout
	var sig Signal
	if lines, err := at.Command(ctx, "AT+CSQ", t); err == nil {
		for _, l := range lines {
			if s, err := ParseCSQ(l); err == nil {
				sig = s
			}
		}
	}
	reg := Registration(-1)
	if lines, err := at.Command(ctx, "AT+CREG?", t); err == nil {
		for _, l := range lines {
			if r, err := ParseCREG(l, true); err == nil {
				reg = r
			}
		}
	}
	op := ""
	if lines, err := at.Command(ctx, "AT+COPS?", t); err == nil {
		op, _ = ParseCOPS(lines)
	}
	m.checkStorage(ctx, at)
	if at.Err() != nil {
		return
	}
	m.mu.Lock()
	m.health.SignalDBm, m.health.Bars = sig.DBm, sig.Bars
	m.health.Operator = op
	m.health.CheckedAt = time.Now()
	m.mu.Unlock()
	if reg >= 0 {
		m.setRegistration(reg)
	}
}
