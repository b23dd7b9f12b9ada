package emulator

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clinicsms/smsd/modem/pdu"
)

// stored is one message in the SIM storage, PDU with SMSC field.
type stored struct {
	stat    int // 0 REC UNREAD, 1 REC READ, 2 STO UNSENT, 3 STO SENT
	pdu     []byte
	tpduLen int
}

type storage struct {
	capacity int
	msgs     map[int]stored
}

// add stores a message at the lowest free index (1-based, like SIMs).
func (s *storage) add(m stored) (int, bool) {
	for i := 1; i <= s.capacity; i++ {
		if _, used := s.msgs[i]; !used {
			s.msgs[i] = m
			return i, true
		}
	}
	return 0, false
}

func (s *storage) indexes() []int {
	idx := make([]int, 0, len(s.msgs))
	for i := range s.msgs {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	return idx
}

func (e *Emulator) cpms(arg string) ([]string, string) {
	used, total := len(e.store.msgs), e.store.capacity
	switch arg {
	case "?":
		return []string{fmt.Sprintf(`+CPMS: "SM",%d,%d,"SM",%d,%d,"SM",%d,%d`, used, total, used, total, used, total)}, "OK"
	case "=?":
		return []string{`+CPMS: ("SM","ME","MT"),("SM","ME","MT"),("SM","ME","MT")`}, "OK"
	}
	for _, m := range strings.Split(strings.TrimPrefix(arg, "="), ",") {
		switch upperASCII(strings.Trim(m, `" `)) {
		case "SM", "ME", "MT": // one storage behind every name
		default:
			return nil, e.cmsError(302)
		}
	}
	n := len(strings.Split(arg, ","))
	out := fmt.Sprintf("+CPMS: %d,%d", used, total)
	for i := 1; i < n && i < 3; i++ {
		out += fmt.Sprintf(",%d,%d", used, total)
	}
	return []string{out}, "OK"
}

func (e *Emulator) cmgl(arg string) ([]string, string) {
	if arg == "=?" {
		return []string{"+CMGL: (0-4)"}, "OK"
	}
	want := 0 // default: received unread
	if arg != "" {
		n, ok := intArg(arg)
		if !ok || n < 0 || n > 4 {
			return nil, e.cmsError(303)
		}
		want = n
	}
	var out []string
	for _, i := range e.store.indexes() {
		m := e.store.msgs[i]
		if want != 4 && m.stat != want {
			continue
		}
		out = append(out, fmt.Sprintf("+CMGL: %d,%d,,%d", i, m.stat, m.tpduLen), strings.ToUpper(hex.EncodeToString(m.pdu)))
		if m.stat == 0 {
			m.stat = 1
			e.store.msgs[i] = m
		}
	}
	return out, "OK"
}

func (e *Emulator) cmgr(arg string) ([]string, string) {
	if arg == "=?" {
		return nil, "OK"
	}
	i, ok := intArg(arg)
	if !ok {
		return nil, e.cmsError(321)
	}
	m, found := e.store.msgs[i]
	if !found {
		// Real modems answer an empty slot with a bare OK or +CMS ERROR: 321.
		return nil, e.cmsError(321)
	}
	line := fmt.Sprintf("+CMGR: %d,,%d", m.stat, m.tpduLen)
	if m.stat == 0 {
		m.stat = 1
		e.store.msgs[i] = m
	}
	return []string{line, strings.ToUpper(hex.EncodeToString(m.pdu))}, "OK"
}

func (e *Emulator) cmgd(arg string) ([]string, string) {
	if arg == "=?" {
		return []string{"+CMGD: (1-" + strconv.Itoa(e.store.capacity) + "),(0-4)"}, "OK"
	}
	f := strings.Split(strings.TrimPrefix(arg, "="), ",")
	i, err := strconv.Atoi(strings.TrimSpace(f[0]))
	if err != nil || !strings.HasPrefix(arg, "=") {
		return nil, e.cmsError(321)
	}
	flag := 0
	if len(f) > 1 {
		flag, _ = strconv.Atoi(strings.TrimSpace(f[1]))
	}
	switch flag {
	case 0:
		if _, ok := e.store.msgs[i]; !ok {
			if i < 1 || i > e.store.capacity {
				return nil, e.cmsError(321)
			}
		}
		delete(e.store.msgs, i)
	case 1, 2, 3, 4: // delete read / read+sent / read+sent+unsent / all
		for j, m := range e.store.msgs {
			if flag == 4 || m.stat == 1 || (flag >= 2 && m.stat == 3) || (flag >= 3 && m.stat == 2) {
				delete(e.store.msgs, j)
			}
		}
	default:
		return nil, e.cmsError(303)
	}
	// A slot is free again: the modem tells the network (RP-SMMA), which
	// delivers what it held; the indications follow the OK.
	e.afterAnswer += e.releaseHeldLocked()
	return nil, "OK"
}

// releaseHeldLocked delivers the messages the network held while the SIM
// was full, oldest first, as long as there is room (24.011 §7.3.2: the
// network retries after RP-SMMA). It returns the result codes due; e.mu
// held.
func (e *Emulator) releaseHeldLocked() string {
	var out strings.Builder
	e.releasing = true
	defer func() { e.releasing = false }()
	for len(e.held) > 0 && len(e.store.msgs) < e.store.capacity {
		it := e.held[0]
		e.held = e.held[1:]
		s, err := e.routeLocked(it)
		if err != nil {
			e.log.Warn("emulator: held message lost", "err", err)
		}
		out.WriteString(s)
	}
	return out.String()
}

// Held returns the number of messages the network holds because the SIM
// was full when they came; they are delivered as soon as a slot is free.
func (e *Emulator) Held() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.held)
}

// cmgsStart checks AT+CMGS=<length> before the prompt; with e.mu held.
func (e *Emulator) cmgsStart(cmd string) (int, string) {
	n, ok := intArg(cmd[len("+CMGS"):])
	if !ok || n < 7 || n > 164 {
		return 0, e.cmsError(304)
	}
	if !e.sim.unlocked || e.sim.puk || e.sim.absent {
		return 0, e.simCMSError()
	}
	return n, ""
}

// smscField encodes the SMSC address as modems print it before a TPDU
// (3GPP TS 24.011 §8.2.5.1: length octet, TON/NPI, BCD semi-octets).
func smscField(number string) []byte {
	if number == "" {
		return []byte{0}
	}
	toa := byte(0x81)
	if strings.HasPrefix(number, "+") {
		toa = 0x91
		number = number[1:]
	}
	digits := []byte(number)
	out := []byte{byte(1 + (len(digits)+1)/2), toa}
	for i := 0; i < len(digits); i += 2 {
		lo := digits[i] - '0'
		hi := byte(0xF)
		if i+1 < len(digits) {
			hi = digits[i+1] - '0'
		}
		out = append(out, hi<<4|lo)
	}
	return out
}

// submit handles the PDU typed after the prompt.
func (e *Emulator) submit(c *conn, n int, hexPDU string) {
	e.delay()
	e.mu.Lock()
	raw, err := hex.DecodeString(strings.TrimSpace(hexPDU))
	if err != nil || len(raw) < 1 || int(raw[0])+1 > len(raw) {
		msg := e.cmsError(304)
		e.mu.Unlock()
		e.answer(c, nil, msg)
		return
	}
	tpdu := raw[1+int(raw[0]):]
	if len(tpdu) != n {
		msg := e.cmsError(304)
		e.mu.Unlock()
		e.answer(c, nil, msg)
		return
	}
	if e.sim.smsc == "" && raw[0] == 0 {
		msg := e.cmsError(330)
		e.mu.Unlock()
		e.answer(c, nil, msg)
		return
	}
	if e.sim.reg != 1 && e.sim.reg != 5 {
		msg := e.cmsError(331)
		e.mu.Unlock()
		e.answer(c, nil, msg)
		return
	}
	if e.faults.failSends > 0 {
		e.faults.failSends--
		msg := e.cmsError(e.faults.failCode)
		e.mu.Unlock()
		e.answer(c, nil, msg)
		return
	}
	sub, err := pdu.DecodeSubmit(tpdu)
	if err != nil {
		e.log.Warn("emulator: submitted PDU does not decode", "err", err)
		msg := e.cmsError(304)
		e.mu.Unlock()
		e.answer(c, nil, msg)
		return
	}
	e.mr++
	mr := int(e.mr)
	now := e.cfg.Now()
	done := e.handset.add(sub, mr, now)
	_, ds := e.cnmi()
	inject := e.faults.injectOnCMGS
	e.faults.injectOnCMGS = nil
	onHandset := e.cfg.OnHandset
	if done != nil {
		e.cond.Broadcast()
	}
	if e.faults.hangOnSubmit {
		e.faults.hangOnSubmit = false
		e.faults.hang = true
	}
	e.mu.Unlock()
	if done != nil && onHandset != nil {
		onHandset(*done)
	}

	// "+CMGS: <mr>", then any URC queued to arrive in the middle of this
	// command's answer, then OK: the worst place for a parser.
	e.write(c, fmt.Sprintf("\r\n+CMGS: %d\r\n", mr))
	for _, in := range inject {
		if err := e.Inject(in.from, in.text); err != nil {
			e.log.Warn("emulator: inject during send failed", "err", err)
		}
	}
	e.write(c, "\r\nOK\r\n")

	if sub.StatusReport && ds > 0 {
		to := sub.To
		e.afterFunc(e.cfg.StatusReportDelay, func() { e.statusReport(mr, to, now) })
	}
}

// statusReport delivers the SMS-STATUS-REPORT for a submitted part: directly
// as "+CDS: <len>" (AT+CNMI ds=1) or stored with "+CDSI" (ds=2).
func (e *Emulator) statusReport(mr int, to pdu.Address, submitted time.Time) {
	e.mu.Lock()
	st := e.sim.deliverStat
	smsc := e.sim.smsc
	e.mu.Unlock()
	sr := pdu.StatusReport{MR: byte(mr), Recipient: to, SCTS: submitted, Discharge: e.cfg.Now(), Status: st}
	tpdu, err := pdu.EncodeStatusReport(sr)
	if err != nil {
		e.log.Warn("emulator: encode status report", "err", err)
		return
	}
	e.mu.Lock()
	// A report the SIM has no room for is lost, as on a real modem.
	out, _ := e.routeLocked(mtItem{full: append(smscField(smsc), tpdu...), tpduLen: len(tpdu), report: true})
	c := e.c
	e.mu.Unlock()
	e.write(c, out)
}

// routeLocked delivers a message or status report from the network as
// AT+CNMI asks (27.005 §3.4.1) and returns the result code to show, if
// any; e.mu held. Shown directly (+CMT, +CDS) under AT+CSMS=1, it must be
// acknowledged with AT+CNMA before the next is shown (27.005 §3.4.4): until
// then the next waits in the queue, as the network holds it back.
func (e *Emulator) routeLocked(it mtItem) (string, error) {
	mt, ds := e.cnmi()
	plugged := e.c != nil
	if plugged && (it.report && ds == 1 || !it.report && mt == 2) {
		if e.st.csms == 1 {
			if e.ack.waiting != nil {
				e.ack.queue = append(e.ack.queue, it)
				return "", nil
			}
			w := it
			e.ack.waiting = &w
			gen := e.ack.gen
			e.afterFuncLocked(e.cfg.AckTimeout, func() { e.ackTimeout(gen) })
		}
		header := fmt.Sprintf("+CMT: ,%d", it.tpduLen)
		if it.report {
			header = fmt.Sprintf("+CDS: %d", it.tpduLen)
		}
		return "\r\n" + header + "\r\n" + strings.ToUpper(hex.EncodeToString(it.full)) + "\r\n", nil
	}
	if it.report {
		if ds != 2 {
			return "", nil // AT+CNMI ds=0: no status reports
		}
		i, ok := e.store.add(stored{stat: 0, pdu: it.full, tpduLen: it.tpduLen})
		if !ok {
			return "", fmt.Errorf("emulator: SIM storage full (%d messages); status report lost", e.cfg.Capacity)
		}
		return fmt.Sprintf("\r\n+CDSI: \"SM\",%d\r\n", i), nil
	}
	if len(e.held) > 0 && !e.releasing {
		// The network holds everything after the first message the
		// full SIM refused, until the SIM has room again.
		e.held = append(e.held, it)
		return "", nil
	}
	i, ok := e.store.add(stored{stat: 0, pdu: it.full, tpduLen: it.tpduLen})
	if !ok {
		// 24.011 §8.2.5.4 cause 22, memory capacity exceeded: the modem
		// refuses the message (RP-ERROR) and the network keeps it and
		// notes that the SIM is full (23.040 §10.1, MNRF); it delivers
		// it again once the modem says it has room (RP-SMMA, 24.011
		// §7.3.2), which releaseHeldLocked models.
		e.held = append(e.held, it)
		return "", nil
	}
	if mt == 1 || mt == 3 {
		return fmt.Sprintf("\r\n+CMTI: \"SM\",%d\r\n", i), nil
	}
	return "", nil
}

// acknowledgeLocked ends the wait for AT+CNMA: ok is RP-ACK; otherwise
// (RP-ERROR) the network keeps the message and offers it again after the
// ones it held back. It returns the result codes now due, the next +CMT
// or +CDS among them; e.mu held.
func (e *Emulator) acknowledgeLocked(ok bool) string {
	it := *e.ack.waiting
	e.ack.waiting = nil
	e.ack.gen++
	if !ok {
		e.ack.queue = append(e.ack.queue, it)
	}
	var out strings.Builder
	for e.ack.waiting == nil && len(e.ack.queue) > 0 {
		next := e.ack.queue[0]
		e.ack.queue = e.ack.queue[1:]
		s, err := e.routeLocked(next)
		if err != nil {
			e.log.Warn("emulator: message held for AT+CNMA lost", "err", err)
		}
		out.WriteString(s)
	}
	return out.String()
}

// rerouteLocked delivers again, with the current settings, the message
// waiting for its AT+CNMA and those held back behind it: what the network
// does when the modem never acknowledged them. It returns the result codes
// due; e.mu held.
func (e *Emulator) rerouteLocked() string {
	items := e.ack.queue
	if e.ack.waiting != nil {
		items = append([]mtItem{*e.ack.waiting}, items...)
	}
	e.ack.waiting, e.ack.queue = nil, nil
	e.ack.gen++
	var out strings.Builder
	for _, it := range items {
		s, err := e.routeLocked(it)
		if err != nil {
			e.log.Warn("emulator: message held for AT+CNMA lost", "err", err)
		}
		out.WriteString(s)
	}
	return out.String()
}

// ackTimeout gives up on the AT+CNMA of wait gen (27.005 §3.4.4): routing
// to the client is switched off (AT+CNMI <mt> and <ds> 0), and the
// network, with no RP-ACK, delivers the messages again: onto the SIM.
func (e *Emulator) ackTimeout(gen int) {
	e.mu.Lock()
	if e.ack.gen != gen || e.ack.waiting == nil {
		e.mu.Unlock()
		return
	}
	e.st.cnmi[1], e.st.cnmi[3] = 0, 0
	out := e.rerouteLocked()
	c := e.c
	e.mu.Unlock()
	e.write(c, out)
}

// Inject delivers an inbound message from `from`: encoded as SMS-DELIVER PDUs
// (concatenated when long), stored on the SIM and announced with +CMTI as
// AT+CNMI asks. While unplugged it is stored without an announcement, as a
// real modem would find it on the SIM later. When the SIM is full the
// network holds it (see Held) and delivers it once a slot is free.
func (e *Emulator) Inject(from, text string) error {
	e.mu.Lock()
	e.ref++
	ref := e.ref
	now := e.cfg.Now()
	e.mu.Unlock()
	parts, err := pdu.EncodeDeliverParts(from, text, now, ref)
	if err != nil {
		return fmt.Errorf("emulator: encode inbound message: %w", err)
	}
	for _, tpdu := range parts {
		if err := e.deliver(tpdu); err != nil {
			return err
		}
	}
	return nil
}

// InjectPDU delivers a raw PDU as modems print it (SMSC field first).
func (e *Emulator) InjectPDU(raw []byte) error {
	if len(raw) < 1 || int(raw[0])+1 > len(raw) {
		return fmt.Errorf("emulator: PDU needs a leading SMSC field (use 00 for none)")
	}
	return e.store1(raw, len(raw)-1-int(raw[0]))
}

func (e *Emulator) deliver(tpdu []byte) error {
	e.mu.Lock()
	smsc := e.sim.smsc
	e.mu.Unlock()
	full := append(smscField(smsc), tpdu...)
	return e.store1(full, len(tpdu))
}

func (e *Emulator) store1(full []byte, tpduLen int) error {
	e.mu.Lock()
	out, err := e.routeLocked(mtItem{full: append([]byte(nil), full...), tpduLen: tpduLen})
	c := e.c
	e.mu.Unlock()
	e.write(c, out)
	return err
}

// InjectDuringNextSend makes the next AT+CMGS deliver an inbound message
// between its "+CMGS: <mr>" line and its OK, as a URC racing a command.
func (e *Emulator) InjectDuringNextSend(from, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.injectOnCMGS = append(e.faults.injectOnCMGS, pendingInject{from, text})
}

// InjectBeforeNextPrompt makes the next AT+CMGS deliver an inbound message
// after the command line and before its "> " prompt.
func (e *Emulator) InjectBeforeNextPrompt(from, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.injectPrompt = append(e.faults.injectPrompt, pendingInject{from, text})
}

// handsetKey groups the parts of one concatenated message.
type handsetKey struct {
	to    string
	ref   uint16
	total int
}

type partial struct {
	parts map[int]*pdu.Submit
	mrs   map[int]int
	srr   bool
}

type handset struct {
	parts map[handsetKey]*partial
	done  []HandsetMessage
}

// add files a submitted part; it returns the message when it is complete.
func (h *handset) add(s *pdu.Submit, mr int, now time.Time) *HandsetMessage {
	if s.Concat == nil || s.Concat.Total <= 1 {
		m := HandsetMessage{To: s.To.Number, Text: s.Text, Encoding: s.Encoding.String(), Parts: 1, MRs: []int{mr}, SRR: s.StatusReport, At: now}
		h.done = append(h.done, m)
		return &h.done[len(h.done)-1]
	}
	k := handsetKey{to: s.To.Number, ref: s.Concat.Ref, total: s.Concat.Total}
	p := h.parts[k]
	if p == nil {
		p = &partial{parts: map[int]*pdu.Submit{}, mrs: map[int]int{}}
		h.parts[k] = p
	}
	p.parts[s.Concat.Seq] = s
	p.mrs[s.Concat.Seq] = mr
	p.srr = p.srr || s.StatusReport
	if len(p.parts) < k.total {
		return nil
	}
	var text strings.Builder
	m := HandsetMessage{To: k.to, Parts: k.total, Reference: k.ref, SRR: p.srr, At: now}
	for i := 1; i <= k.total; i++ {
		part, ok := p.parts[i]
		if !ok {
			return nil // a seq outside 1..total: wait for the real one
		}
		text.WriteString(part.Text)
		m.MRs = append(m.MRs, p.mrs[i])
		if m.Encoding == "" {
			m.Encoding = part.Encoding.String()
		}
	}
	m.Text = text.String()
	delete(h.parts, k)
	h.done = append(h.done, m)
	return &h.done[len(h.done)-1]
}
