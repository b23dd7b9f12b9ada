package modem

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/modem/pdu"
)

// Outgoing is one message to send. Reference is the concatenation reference
// (the queue assigns it, so that a resumed send joins the earlier parts);
// Skip lists parts (1-based) accepted before, which are not sent again.
type Outgoing struct {
	To, Text  string
	Reference uint16
	Skip      []int
}

// Send sends one message, part by part. Parts listed in out.Skip were
// accepted before (resume) and are not sent again; the same out.Reference
// makes the resumed parts join the earlier ones. After EACH accepted part,
// accepted(seq, total, mr) is called with the TP-MR the modem gave it (-1 if
// the modem said OK without one); if it returns an error, Send stops and
// returns it. Errors are *Error: IsTransient tells whether to retry.
func (m *Modem) Send(ctx context.Context, out Outgoing, accepted func(seq, total, mr int) error) error {
	parts, err := pdu.EncodeSubmit(out.To, out.Text, pdu.SubmitOptions{
		StatusReport: m.cfg.StatusReports,
		Validity:     m.cfg.Validity,
		Reference:    out.Reference,
		MaxParts:     m.cfg.MaxParts,
	})
	if err != nil {
		if errors.Is(err, pdu.ErrTooManyParts) {
			c := pdu.CountText(out.Text)
			return &Error{Op: "encode", CMS: -1, CME: -1,
				Err: fmt.Errorf("%w: %d parts of %s, maximum %d", ErrTooManyParts, c.Parts, c.Encoding, m.cfg.MaxParts)}
		}
		if errors.Is(err, pdu.ErrInvalidAddress) {
			return &Error{Op: "encode", CMS: -1, CME: -1,
				Err: fmt.Errorf("%w %s: %v (fix the number)", ErrInvalidNumber, mask.Number(out.To), err)}
		}
		return &Error{Op: "encode", CMS: -1, CME: -1, Err: fmt.Errorf("cannot encode the text: %w", err)}
	}
	skip := make(map[int]bool, len(out.Skip))
	for _, s := range out.Skip {
		skip[s] = true
	}
	for _, p := range parts {
		if skip[p.Seq] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return &Error{Op: "send", CMS: -1, CME: -1, Transient: true, Err: err}
		}
		m.mu.Lock()
		at, ready := m.at, m.ready
		m.mu.Unlock()
		if at == nil || !ready {
			return &Error{Op: "send", CMS: -1, CME: -1, Transient: true, Err: ErrNotReady}
		}
		// "00": no SMSC in the PDU, the modem uses the SIM's (27.005 §3.5.1:
		// <length> counts the TPDU only).
		lines, err := at.SMSCommand(ctx, fmt.Sprintf("AT+CMGS=%d", len(p.TPDU)), "00"+hexUpper(p.TPDU), m.cfg.SendTimeout)
		if err != nil {
			var me *Error
			if errors.As(err, &me) {
				e := *me
				e.Op = fmt.Sprintf("AT+CMGS (part %d/%d)", p.Seq, p.Total)
				err = &e
			}
			m.noteError(err)
			return err
		}
		mr, perr := ParseCMGS(lines)
		if perr != nil {
			// The modem said OK: the part is out. Without a TP-MR its status
			// report cannot be matched; report it, never send it again.
			m.log.Warn("modem: part accepted without a message reference", "part", p.Seq, "err", perr)
			mr = -1
		}
		if err := accepted(p.Seq, p.Total, mr); err != nil {
			return err
		}
	}
	return nil
}

// handleURC acts on one unsolicited result code.
func (m *Modem) handleURC(ctx context.Context, at *atEngine, u URC) {
	switch {
	case strings.HasPrefix(u.Line, "+CMTI:"), strings.HasPrefix(u.Line, "+CDSI:"):
		_, idx, err := ParseIndication(u.Line)
		if err != nil {
			m.log.Warn("modem: bad new-message indication; the storage sweep will find the message", "err", err)
			return
		}
		m.readStored(ctx, at, idx)
	case strings.HasPrefix(u.Line, "+CMT:"), strings.HasPrefix(u.Line, "+CDS:"):
		b, withSMSC, err := ParseDirectPDU(u)
		var tpdu []byte
		if err == nil {
			tpdu = b
			if withSMSC {
				_, tpdu, err = pdu.SplitSMSC(b)
			}
		}
		if err != nil {
			// Routed directly, not stored: hand on what we have, undecoded.
			taken := m.deliverRaw(ctx, at, nil, []byte(u.PDU), fmt.Errorf("%s: %w", strings.SplitN(u.Line, ":", 2)[0], err))
			m.acknowledge(ctx, at, taken)
			return
		}
		m.acknowledge(ctx, at, m.handleTPDU(ctx, at, nil, b, tpdu))
	case strings.HasPrefix(u.Line, "+CREG:"):
		if r, err := ParseCREG(u.Line, false); err == nil {
			m.setRegistration(r)
		}
	default:
		m.log.Debug("modem: unsolicited line ignored", "code", strings.SplitN(u.Line, ":", 2)[0])
	}
}

// readStored reads and handles the message at a storage index.
func (m *Modem) readStored(ctx context.Context, at *atEngine, idx int) {
	lines, err := at.Command(ctx, fmt.Sprintf("AT+CMGR=%d", idx), m.cfg.CommandTimeout)
	if err != nil {
		var me *Error
		if errors.As(err, &me) && (me.CMS == 321 || me.CME == 21 || me.CME == 22) {
			// Empty slot: a sweep already handled and deleted it.
			m.log.Debug("modem: indicated message already handled", "index", idx)
			return
		}
		m.log.Warn("modem: reading a stored message failed; the storage sweep will retry", "index", idx, "err", err)
		return
	}
	sm, err := ParseCMGR(lines)
	if err != nil {
		if len(lines) == 0 {
			return // already gone (read by an earlier sweep)
		}
		m.deliverRaw(ctx, at, []int{idx}, []byte(strings.Join(lines, "\n")), err)
		return
	}
	m.handleStoredMessage(ctx, at, idx, sm)
}

// sweep lists everything in storage (AT+CMGL=4) and handles it: what came
// while the daemon was down, and anything whose indication was lost.
func (m *Modem) sweep(ctx context.Context, at *atEngine) error {
	lines, err := at.Command(ctx, "AT+CMGL=4", m.cfg.CommandTimeout)
	if err != nil {
		m.log.Warn("modem: listing stored messages failed", "err", err)
		return err
	}
	msgs, bad := ParseCMGL(lines)
	for _, b := range bad {
		m.log.Warn("modem: a stored message could not be parsed", "err", b)
	}
	for _, sm := range msgs {
		if sm.PDU == nil {
			m.deliverRaw(ctx, at, []int{sm.Index}, nil, fmt.Errorf("stored message %d: unreadable PDU line", sm.Index))
			continue
		}
		m.handleStoredMessage(ctx, at, sm.Index, sm)
	}
	return nil
}

func (m *Modem) handleStoredMessage(ctx context.Context, at *atEngine, idx int, sm StoredMessage) {
	if sm.Stat == 2 || sm.Stat == 3 {
		return // our own stored outgoing messages (none from smsd): leave them
	}
	tpdu := sm.PDU
	var err error
	if len(sm.PDU) > sm.Length {
		_, tpdu, err = pdu.SplitSMSC(sm.PDU)
	}
	if err != nil {
		m.deliverRaw(ctx, at, []int{idx}, sm.PDU, err)
		return
	}
	m.handleTPDU(ctx, at, []int{idx}, sm.PDU, tpdu)
}

// handleTPDU decodes a mobile-terminated TPDU and hands it on. keys are the
// storage indexes to delete once the handler took it (nil: not stored,
// routed directly). It returns whether the message was taken: handed on,
// its part saved in the PartStore (or, without one, held in memory), or
// recognised as a copy of one handed on. A message routed directly that
// was not taken is refused (AT+CNMA=2) where acknowledged, so that the
// network delivers it again.
func (m *Modem) handleTPDU(ctx context.Context, at *atEngine, keys []int, raw, tpdu []byte) bool {
	msg, err := pdu.Decode(tpdu)
	if err != nil {
		return m.deliverRaw(ctx, at, keys, raw, err)
	}
	switch v := msg.(type) {
	case *pdu.Deliver:
		var key any
		if len(keys) == 1 {
			key = keys[0]
		}
		if key != nil && m.partsHeld[key.(int)] {
			return true // already waiting for its other parts (seen again by a sweep)
		}
		switch kept, err := m.keepPart(ctx, at, keys, v, tpdu); {
		case kept:
			return true // saved in the PartStore and deleted from the SIM
		case err != nil && keys == nil:
			// Routed directly: no copy on the SIM to wait on. Refused,
			// the network keeps it and delivers it again.
			return false
		}
		a, ok := m.reasm.Add(v, key, time.Now())
		if !ok {
			if late := m.reasm.Discarded(); len(late) > 0 {
				// A network repeating a part of a message already handed on:
				// the copy would hold its storage slot for ever.
				var idx []int
				for _, k := range late {
					if i, ok := k.(int); ok {
						idx = append(idx, i)
					}
				}
				m.log.Info("modem: late duplicate of a part already delivered; deleted from the SIM", "parts", len(idx))
				m.deleteStored(ctx, at, idx)
				return true
			}
			if key != nil {
				m.partsHeld[key.(int)] = true
			}
			return true
		}
		return m.deliverAssembled(ctx, at, a)
	case *pdu.StatusReport:
		if m.cfg.OnStatusReport == nil {
			m.deleteStored(ctx, at, keys)
			return true
		}
		sr := StatusReport{MR: int(v.MR), Recipient: v.Recipient.Number, Outcome: v.Outcome, Status: v.Status, Discharge: v.Discharge}
		if err := m.cfg.OnStatusReport(ctx, sr); err != nil {
			switch {
			case keys == nil && m.ack:
				m.log.Warn("modem: status report handler failed; refused (AT+CNMA=2), the network delivers it again", "mr", sr.MR, "err", err)
			case keys == nil:
				// +CDS is routed, not stored (27.005 §3.4.1): there is no copy left.
				m.log.Error("modem: status report handler failed; the report was routed directly and is lost", "mr", sr.MR, "err", err)
			default:
				m.log.Warn("modem: status report handler failed; kept on the SIM for the next sweep", "mr", sr.MR, "err", err)
			}
			return false
		}
		m.deleteStored(ctx, at, keys)
		return true
	default:
		return m.deliverRaw(ctx, at, keys, raw, fmt.Errorf("unexpected message type %T", msg))
	}
}

// deliverAssembled hands a complete (or expired) inbound message on, then
// deletes its parts from storage. It returns whether the message was
// taken (see handleTPDU): a message with parts in the PartStore always
// is, those parts being stored.
func (m *Modem) deliverAssembled(ctx context.Context, at *atEngine, a *pdu.Assembled) bool {
	if hasStoredParts(a) {
		m.deliverStoredParts(ctx, at, a)
		return true
	}
	// Keys can repeat (a part seen twice); delete each index once, since a
	// second AT+CMGD could hit a new message stored there meanwhile.
	var keys []int
	seen := map[int]bool{}
	for _, k := range a.Keys {
		if i, ok := k.(int); ok && !seen[i] {
			seen[i] = true
			keys = append(keys, i)
			delete(m.partsHeld, i)
		}
	}
	if m.cfg.OnInbound == nil {
		m.reasm.Reopen(a)
		m.log.Warn("modem: inbound message received but no handler configured; left on the SIM")
		return false
	}
	in := Inbound{From: a.From.Number, Text: a.Text, SentAt: a.Timestamp, Parts: a.Parts, Missing: a.Missing}
	if err := m.cfg.OnInbound(ctx, in); err != nil {
		m.reasm.Reopen(a)
		if len(keys) == 0 && m.ack {
			m.log.Warn("modem: inbound handler failed; refused (AT+CNMA=2), the network delivers it again", "from", mask.Log(in.From), "err", err)
			return false
		}
		if len(keys) == 0 {
			m.log.Error("modem: inbound handler failed for a message routed directly (+CMT); it is lost", "from", mask.Log(in.From), "err", err)
			return false
		}
		// The sweep reads the parts again: they must make the message
		// again, not pass for late duplicates of one handed on (which
		// would be deleted from the SIM unread): hence Reopen above.
		m.log.Warn("modem: inbound handler failed; kept on the SIM for the next sweep", "from", mask.Log(in.From), "err", err)
		return false
	}
	m.deleteStored(ctx, at, keys)
	return true
}

// deliverRaw hands on a message that could not be decoded, so that nothing
// is dropped silently, then deletes it from storage. It returns whether
// the handler took it.
func (m *Modem) deliverRaw(ctx context.Context, at *atEngine, keys []int, raw []byte, derr error) bool {
	m.log.Warn("modem: inbound PDU could not be decoded; handed on raw", "err", derr, "bytes", len(raw))
	if m.cfg.OnInbound == nil {
		return false
	}
	if err := m.cfg.OnInbound(ctx, Inbound{Raw: raw, DecodeErr: derr}); err != nil {
		m.log.Warn("modem: inbound handler failed for a raw PDU; kept on the SIM, or refused to the network when routed directly", "err", err)
		return false
	}
	m.deleteStored(ctx, at, keys)
	return true
}

func (m *Modem) deleteStored(ctx context.Context, at *atEngine, keys []int) {
	for _, k := range keys {
		if _, err := at.Command(ctx, fmt.Sprintf("AT+CMGD=%d", k), m.cfg.CommandTimeout); err != nil {
			m.log.Warn("modem: deleting a handled message from the SIM failed; it may be offered again", "index", k, "err", err)
		}
	}
}

// expire hands on concatenated messages whose missing parts never came.
func (m *Modem) expire(ctx context.Context, at *atEngine) {
	for _, a := range m.reasm.Expire(time.Now()) {
		m.log.Warn("modem: concatenated message incomplete; handed on with parts missing", "missing", len(a.Missing), "parts", a.Parts)
		m.deliverAssembled(ctx, at, a)
	}
}
