package modem

import (
	"context"
	"errors"
)

// How new messages reach smsd (27.005 §3.4.1 AT+CNMI=<mode>,<mt>,<bm>,<ds>,<bfr>):
//
//   - direct with acknowledgement, where the modem supports it: AT+CSMS=1
//     (§3.2.1, Phase 2+) and AT+CNMI=2,2,0,1,0: each message comes as +CMT
//     and each status report as +CDS, and neither is taken from the network
//     until smsd answered AT+CNMA (§3.4.4, RP-ACK), which it does only
//     after the handler stored it (or the PartStore its part). When storing
//     fails it answers AT+CNMA=2 (RP-ERROR): the network keeps the message
//     and delivers it again. Nothing touches the SIM, so no flood can fill
//     it. A modem that waited in vain for the acknowledgement sets <mt> and
//     <ds> to 0 (§3.4.4); each health check sets AT+CNMI again.
//   - stored, as before: AT+CNMI=2,1,0,1,0, new messages on the SIM with
//     +CMTI, read and deleted (AT+CMGD) once handed on; status reports as
//     +CDS without acknowledgement. Used when the modem refuses AT+CSMS=1,
//     its <mt> or AT+CNMA, or when no PartStore is set: the part of a
//     concatenated message could then be acknowledged only from memory.
const (
	cnmiDirect = "AT+CNMI=2,2,0,1,0"
	cnmiStored = "AT+CNMI=2,1,0,1,0"
)

// initRouting chooses the routing at initialisation: direct with
// acknowledgement when the modem takes AT+CSMS=1 with <mt> 1, AT+CNMA=?
// and cnmiDirect; else stored.
func (m *Modem) initRouting(ctx context.Context, at *atEngine) error {
	t := m.cfg.CommandTimeout
	m.ack, m.cnmi = false, ""
	if m.cfg.Parts != nil {
		if m.phase2Plus(ctx, at) {
			_, err := at.Command(ctx, cnmiDirect, t)
			if err == nil {
				m.ack, m.cnmi = true, cnmiDirect
				m.log.Info("modem: new messages routed directly and acknowledged after storing (AT+CSMS=1, +CMT, AT+CNMA)")
				return nil
			}
			if at.Err() != nil {
				return at.Err()
			}
			m.log.Info("modem: direct routing (AT+CNMI=2,2) refused; new messages go to the SIM with +CMTI")
		}
		if at.Err() != nil {
			return at.Err()
		}
		// Back to Phase 2 (or never left): nothing waits for AT+CNMA.
		at.Command(ctx, "AT+CSMS=0", t)
		if at.Err() != nil {
			return at.Err()
		}
	}
	return m.storedRouting(ctx, at)
}

// phase2Plus asks for acknowledged routing: AT+CSMS=1 answered with <mt>
// 1, and AT+CNMA known (its test command, 27.005 §3.4.4).
func (m *Modem) phase2Plus(ctx context.Context, at *atEngine) bool {
	t := m.cfg.CommandTimeout
	lines, err := at.Command(ctx, "AT+CSMS=1", t)
	if err != nil {
		m.log.Info("modem: acknowledged routing (AT+CSMS=1) refused; new messages go to the SIM with +CMTI", "err", err)
		return false
	}
	if mt, err := ParseCSMS(lines); err != nil || mt != 1 {
		m.log.Info("modem: AT+CSMS=1 without mobile-terminated support; new messages go to the SIM with +CMTI", "mt", mt, "err", err)
		return false
	}
	if _, err := at.Command(ctx, "AT+CNMA=?", t); err != nil {
		m.log.Info("modem: AT+CNMA refused; new messages go to the SIM with +CMTI", "err", err)
		return false
	}
	return true
}

// storedRouting sets today's indications: new messages stored with +CMTI,
// status reports routed (+CDS); 1,1,0,1,0 for modems refusing <mode> 2.
func (m *Modem) storedRouting(ctx context.Context, at *atEngine) error {
	t := m.cfg.CommandTimeout
	m.cnmi = ""
	for _, cmd := range []string{cnmiStored, "AT+CNMI=1,1,0,1,0"} {
		_, err := at.Command(ctx, cmd, t)
		if at.Err() != nil {
			return at.Err()
		}
		if err == nil {
			m.cnmi = cmd
			return nil
		}
		if cmd != cnmiStored {
			m.log.Warn("modem: new-message indications (AT+CNMI) refused; relying on the storage sweep every health interval", "err", err)
		}
	}
	return nil
}

// reassertRouting sets AT+CNMI again at a health check: a modem that
// waited in vain for an AT+CNMA switched routing off (27.005 §3.4.4),
// also one that had just left AT+CSMS=1 (see acknowledge), and one that
// refused a message was set to store them (see acknowledge) until now.
func (m *Modem) reassertRouting(ctx context.Context, at *atEngine) {
	if m.cnmi == "" {
		return
	}
	if _, err := at.Command(ctx, m.cnmi, m.cfg.CommandTimeout); err != nil && at.Err() == nil {
		m.log.Warn("modem: setting the routing of new messages again (AT+CNMI) failed; they wait for the storage sweep", "err", err)
	}
}

// acknowledge answers a +CMT or +CDS shown under AT+CSMS=1 (27.005
// §3.4.4): AT+CNMA (RP-ACK) when it was stored, AT+CNMA=2 (RP-ERROR) when
// not, so that the network keeps it and delivers it again. After a
// refusal new messages go to the SIM (+CMTI, where the sweep retries them)
// until the next health check, so that a store that keeps failing does not
// make the network and smsd pass one message back and forth. A modem that
// refuses AT+CNMA itself is set to stored routing for good.
func (m *Modem) acknowledge(ctx context.Context, at *atEngine, stored bool) {
	if !m.ack {
		return
	}
	t := m.cfg.CommandTimeout
	cmd := "AT+CNMA"
	if !stored {
		cmd = "AT+CNMA=2"
	}
	_, err := at.Command(ctx, cmd, t)
	if at.Err() != nil {
		return
	}
	var me *Error
	switch {
	case err == nil:
	case errors.As(err, &me) && me.CMS == 340:
		// No acknowledgement expected: the modem gave up waiting (its
		// timer ran out) and the network delivers the message again; the
		// handler recognises a message it stored.
		m.log.Warn("modem: acknowledgement came too late; the network delivers the message again, routing is set again at the next health check")
		return
	default:
		m.log.Warn("modem: acknowledgement (AT+CNMA) refused; new messages go to the SIM with +CMTI from now on", "err", err)
		m.ack = false
		at.Command(ctx, "AT+CSMS=0", t)
		if at.Err() == nil {
			m.storedRouting(ctx, at)
		}
		return
	}
	if !stored {
		if _, err := at.Command(ctx, cnmiStored, t); err != nil && at.Err() == nil {
			m.log.Warn("modem: routing new messages to the SIM after a refusal failed", "err", err)
		}
	}
}
