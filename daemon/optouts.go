package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// OptOuts lists (numbers masked), adds or removes opt-outs. An opt-out the
// actor adds carries the actor as its source; adding one twice, or removing
// one that is not there, changes nothing and is not an error. It returns
// the list for list, else the entry the action touched.
func (s *Service) OptOuts(ctx context.Context, a ops.Actor, r ops.OptOutRequest) (_ []ops.OptOut, err error) {
	action := map[string]string{ops.OptOutList: audit.OptOutList, ops.OptOutAdd: audit.OptOutAdd, ops.OptOutRemove: audit.OptOutRemove}[r.Action]
	if action == "" {
		action = "optout_" + r.Action
	}
	ctx, rec := begin(ctx, a, action, "number", "")
	if r.Action == ops.OptOutRemove && strings.TrimSpace(r.Reason) != "" {
		// The reason is the staff's own words, asked to carry no health
		// detail; the log keeps it short.
		rec.AddDetail("reason=" + strconv.Quote(clipRunes(strings.TrimSpace(r.Reason), 120)))
	}
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := refuseToken(a, "list or change opt-outs"); err != nil {
		return nil, err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	switch r.Action {
	case ops.OptOutList:
		es, err := st.OptOuts(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]ops.OptOut, 0, len(es))
		for _, e := range es {
			out = append(out, ops.OptOut{ID: e.ID, Number: mask.Number(e.Number), CreatedAt: utc(e.CreatedAt), Source: e.Source, Damaged: e.Damaged})
		}
		return out, nil
	case ops.OptOutAdd:
	case ops.OptOutRemove:
		// Removing an opt-out sends messages to someone who asked for none
		// again: the record must say why.
		if strings.TrimSpace(r.Reason) == "" {
			return nil, ops.Errorf(ops.CodeInvalidRequest, "say why the opt-out is removed (e.g. -reason \"patient asked at the desk\"); nothing was changed")
		}
	default:
		return nil, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("unknown opt-out action %q (list, add, remove)", r.Action))
	}
	normalize := queue.NormalizeNumber
	if r.Action == ops.OptOutAdd {
		// An opt-out added at the desk must be the patient's real number;
		// a removal finds whatever was stored.
		normalize = queue.NormalizeRecipient
	}
	number, err := normalize(r.Number, s.cfg.DefaultRegion)
	if err != nil {
		return nil, ops.Errorf(ops.CodeInvalidNumber, fmt.Sprintf("%v; nothing was changed. Write the number with its country code, e.g. +15551234567", err))
	}
	if r.Action == ops.OptOutAdd {
		err = st.OptOutFrom(ctx, number, a.String())
	} else {
		err = st.OptIn(ctx, number)
	}
	if errors.Is(err, queue.ErrInvalidNumber) {
		return nil, ops.Errorf(ops.CodeInvalidNumber, err.Error())
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("opt-out changed by staff", "action", r.Action, "actor", a.String())
	return []ops.OptOut{{Number: mask.Number(number), Source: a.String()}}, nil
}

// clipRunes cuts s to at most n characters.
func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
