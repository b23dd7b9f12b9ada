package modem

import (
	"context"
	"time"

	"github.com/clinicsms/smsd/modem/pdu"
)

// PartStore keeps the parts of concatenated inbound messages (23.040
// 9.2.3.24.1) off the SIM while they wait for their siblings. A SIM holds
// some 30 messages; parts that never complete (a spoofed sender's orphan
// first parts) would hold its slots for the whole PartsTimeout, and on a
// full SIM the network holds every new message back (24.011 memory
// capacity exceeded), a patient's STOP included. With a PartStore each
// part is saved as it arrives and deleted from the SIM (AT+CMGD) only
// after SavePart returned nil; a flood costs rows, not slots.
type PartStore interface {
	// SavePart stores one part durably and returns its id.
	SavePart(ctx context.Context, p Part) (id int64, err error)
	// Parts returns the parts saved and not deleted, oldest first: the
	// modem reads them back at start (after a restart) and when a handler
	// failed, and reassembles them with the parts still to come.
	Parts(ctx context.Context) ([]SavedPart, error)
	// DeleteParts deletes parts whose message was handed on (OnInbound
	// returned nil), or that repeat a part of one already handed on.
	DeleteParts(ctx context.Context, ids []int64) error
}

// Part is one received part of a concatenated message. From, TON, Ref and
// Total group the parts of one message (23.040 9.2.3.24.1).
type Part struct {
	From       string
	TON        byte
	Ref        uint16
	Total, Seq int
	TPDU       []byte // the SMS-DELIVER, without the SMSC field
	ReceivedAt time.Time
}

// SavedPart is a part read back from the PartStore.
type SavedPart struct {
	ID         int64
	TPDU       []byte
	ReceivedAt time.Time
}

// partKey is the Reassembler key of a part kept in the PartStore; an int
// key is a SIM storage index.
type partKey int64

// keepPart saves a part of a concatenated message in the PartStore,
// deletes it from the SIM, and reassembles it. kept is false when the
// message is not such a part, no PartStore is set, or saving failed (then
// err says why): the caller then handles it as before (kept on the SIM),
// or, routed directly, refuses it so that the network delivers it again.
func (m *Modem) keepPart(ctx context.Context, at *atEngine, keys []int, d *pdu.Deliver, tpdu []byte) (kept bool, err error) {
	c := d.Concat
	if m.cfg.Parts == nil || c == nil || c.Total <= 1 || c.Seq < 1 || c.Seq > c.Total {
		return false, nil
	}
	if len(keys) == 1 && m.partsHeld[keys[0]] {
		return false, nil // held on the SIM since a save failed: seen again by a sweep
	}
	now := time.Now()
	id, err := m.cfg.Parts.SavePart(ctx, Part{From: d.From.Number, TON: d.From.TON, Ref: c.Ref, Total: c.Total, Seq: c.Seq,
		TPDU: append([]byte(nil), tpdu...), ReceivedAt: now})
	if err != nil {
		m.log.Warn("modem: saving a part of a concatenated message failed; it waits on the SIM instead, or is refused to the network when routed directly", "part", c.Seq, "parts", c.Total, "err", err)
		return false, err
	}
	m.deleteStored(ctx, at, keys)
	a, ok := m.reasm.Add(d, partKey(id), now)
	if !ok {
		m.dropDiscarded(ctx, at)
		return true, nil
	}
	m.deliverAssembled(ctx, at, a)
	return true, nil
}

// dropDiscarded deletes the late duplicates the Reassembler dropped, from
// the PartStore and from the SIM: their message was handed on already.
func (m *Modem) dropDiscarded(ctx context.Context, at *atEngine) {
	late := m.reasm.Discarded()
	if len(late) == 0 {
		return
	}
	ids, idx := splitKeys(late)
	m.log.Info("modem: late duplicate of a part already delivered; deleted", "parts", len(late))
	m.deleteParts(ctx, ids)
	m.deleteStored(ctx, at, idx)
}

// splitKeys separates PartStore ids from SIM indexes, each once.
func splitKeys(keys []any) (ids []int64, idx []int) {
	seenID, seenIdx := map[int64]bool{}, map[int]bool{}
	for _, k := range keys {
		switch v := k.(type) {
		case partKey:
			if !seenID[int64(v)] {
				seenID[int64(v)] = true
				ids = append(ids, int64(v))
			}
		case int:
			if !seenIdx[v] {
				seenIdx[v] = true
				idx = append(idx, v)
			}
		}
	}
	return ids, idx
}

func (m *Modem) deleteParts(ctx context.Context, ids []int64) {
	if len(ids) == 0 {
		return
	}
	if err := m.cfg.Parts.DeleteParts(ctx, ids); err != nil {
		// Read back at the next start, they make the same message, which
		// the handler recognises (at least once, as for the SIM).
		m.log.Warn("modem: deleting handed-on parts from the store failed; they will be handed on again after a restart", "parts", len(ids), "err", err)
	}
}

// deliverStoredParts is deliverAssembled for a message with parts in the
// PartStore: handed on, then its parts deleted from the store (and any
// from the SIM). If the handler fails, the parts stay in the store and the
// whole PartStore is reassembled again at the next health check.
func (m *Modem) deliverStoredParts(ctx context.Context, at *atEngine, a *pdu.Assembled) {
	ids, idx := splitKeys(a.Keys)
	for _, i := range idx {
		delete(m.partsHeld, i)
	}
	if m.cfg.OnInbound == nil {
		m.reasm.Reopen(a)
		m.log.Warn("modem: inbound message received but no handler configured; its parts stay in the store")
		return
	}
	in := Inbound{From: a.From.Number, Text: a.Text, SentAt: a.Timestamp, Parts: a.Parts, Missing: a.Missing, PartIDs: ids}
	if err := m.cfg.OnInbound(ctx, in); err != nil {
		// Any parts still on the SIM are read again by the next sweep, maybe
		// before the store is: they must not pass for late duplicates.
		m.reasm.Reopen(a)
		m.log.Warn("modem: inbound handler failed; the parts stay in the store and are handed on again at the next health check", "parts", a.Parts, "err", err)
		m.partsStale = true
		return
	}
	m.deleteParts(ctx, ids)
	m.deleteStored(ctx, at, idx)
}

// hasStoredParts says whether any part of a is in the PartStore.
func hasStoredParts(a *pdu.Assembled) bool {
	for _, k := range a.Keys {
		if _, ok := k.(partKey); ok {
			return true
		}
	}
	return false
}

// loadParts reads the PartStore into a fresh Reassembler: at the first
// session (parts saved before a restart), and after a handler failed
// (partsStale). Parts on the SIM are forgotten too: the sweep that follows
// reads them again.
func (m *Modem) loadParts(ctx context.Context, at *atEngine) {
	if m.cfg.Parts == nil || m.partsLoaded && !m.partsStale {
		return
	}
	saved, err := m.cfg.Parts.Parts(ctx)
	if err != nil {
		m.log.Warn("modem: reading the stored parts of concatenated messages failed; retried at the next health check", "err", err)
		return
	}
	m.reasm = &pdu.Reassembler{Timeout: m.cfg.PartsTimeout}
	m.partsHeld = map[int]bool{}
	m.partsLoaded, m.partsStale = true, false
	for _, p := range saved {
		v, err := pdu.Decode(p.TPDU)
		d, ok := v.(*pdu.Deliver)
		if err != nil || !ok {
			m.log.Warn("modem: a stored part does not decode; deleted", "err", err)
			m.deleteParts(ctx, []int64{p.ID})
			continue
		}
		if a, done := m.reasm.Add(d, partKey(p.ID), p.ReceivedAt); done {
			m.deliverAssembled(ctx, at, a)
		} else {
			m.dropDiscarded(ctx, at)
		}
	}
	if n := m.reasm.Pending(); n > 0 {
		m.log.Info("modem: concatenated messages waiting for parts, from the store", "messages", n)
	}
}
