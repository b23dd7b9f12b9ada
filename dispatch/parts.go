package dispatch

import (
	"context"

	"github.com/clinicsms/smsd/modem"
	"github.com/clinicsms/smsd/queue"
)

// storeParts is the modem's PartStore on the queue: the parts of
// concatenated inbound messages wait in the sealed store, filed under the
// modem that received them, instead of on its SIM.
type storeParts struct {
	store   *queue.Store
	modemID string
}

// SavePart stores one part under the blind index of its message.
func (p storeParts) SavePart(ctx context.Context, part modem.Part) (int64, error) {
	group := p.store.PartGroup(part.From, part.TON, part.Ref, part.Total)
	return p.store.AddPart(ctx, p.modemID, group, part.TPDU, part.ReceivedAt)
}

// Parts returns this modem's waiting parts, oldest first.
func (p storeParts) Parts(ctx context.Context) ([]modem.SavedPart, error) {
	parts, err := p.store.Parts(ctx, p.modemID)
	if err != nil {
		return nil, err
	}
	out := make([]modem.SavedPart, len(parts))
	for i, sp := range parts {
		out[i] = modem.SavedPart{ID: sp.ID, TPDU: sp.TPDU, ReceivedAt: sp.ReceivedAt}
	}
	return out, nil
}

// DeleteParts deletes parts whose message was handed on.
func (p storeParts) DeleteParts(ctx context.Context, ids []int64) error {
	return p.store.DeleteParts(ctx, ids)
}
