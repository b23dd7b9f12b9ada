package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// Messages lists outgoing messages, newest first: numbers masked, no texts
// (a list is not a reason to open every patient's message).
func (s *Service) Messages(ctx context.Context, a ops.Actor, f ops.MessageFilter) (_ []ops.Message, err error) {
	ctx, rec := begin(ctx, a, audit.MessageList, "message", "")
	rec.AddDetail(fmt.Sprintf("state=%q since=%s until=%s limit=%d offset=%d before_id=%d", f.State, timeOrDash(f.Since), timeOrDash(f.Until), f.Limit, f.Offset, f.BeforeID))
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := refuseToken(a, "list messages"); err != nil {
		return nil, err
	}
	var to string
	if f.To != "" {
		// Normalised as Enqueue does, so that any way of writing the
		// number finds it; the audit row keeps it masked.
		if to, err = queue.NormalizeNumber(f.To, s.cfg.DefaultRegion); err != nil {
			return nil, ops.Errorf(ops.CodeInvalidNumber, fmt.Sprintf("cannot search for that number: %v; write it with its country code, e.g. +15551234567", err))
		}
		rec.AddDetail("to=" + mask.Number(to))
	}
	if f.BeforeID < 0 {
		return nil, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("before_id must not be negative (got %d)", f.BeforeID))
	}
	st, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	if f.State != "" && !knownState(f.State) {
		return nil, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("no message state %q (states: %s)", f.State, stateList()))
	}
	ms, err := st.List(ctx, queue.ListFilter{State: queue.State(f.State), Since: f.Since, Until: f.Until, Limit: f.Limit, Offset: f.Offset,
		To: to, BeforeID: f.BeforeID})
	if err != nil {
		return nil, err
	}
	out := make([]ops.Message, 0, len(ms))
	for _, m := range ms {
		out = append(out, listView(m))
	}
	return out, nil
}

// Message shows one message with its full number and text: a deliberate
// look at PHI by the actor.
func (s *Service) Message(ctx context.Context, a ops.Actor, id int64) (_ ops.Message, err error) {
	ctx, rec := begin(ctx, a, audit.MessageView, "message", strconv.FormatInt(id, 10))
	// The row is written before the text and number leave (finish), and
	// if it cannot be written they do not.
	defer func() { err = s.finish(ctx, rec, err) }()
	st, err := s.ready(ctx)
	if err != nil {
		return ops.Message{}, err
	}
	m, err := st.Get(ctx, id)
	if err != nil {
		return ops.Message{}, messageError(id, err)
	}
	return messageView(m), nil
}

// Act carries out a person's decision about one message: cancel it while
// queued, resend it when uncertain, failed or undelivered, dismiss it when
// uncertain. It returns the message as it is now (number masked, no text).
func (s *Service) Act(ctx context.Context, a ops.Actor, r ops.MessageAction) (_ ops.Message, err error) {
	action := map[string]string{ops.ActionCancel: audit.MessageCancel, ops.ActionResend: audit.MessageResend, ops.ActionDismiss: audit.MessageDismiss}[r.Action]
	if action == "" {
		action = "message_" + r.Action
	}
	ctx, rec := begin(ctx, a, action, "message", strconv.FormatInt(r.ID, 10))
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := refuseToken(a, "cancel, resend or dismiss a message"); err != nil {
		return ops.Message{}, err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return ops.Message{}, err
	}
	var do func(context.Context, int64) error
	switch r.Action {
	case ops.ActionCancel:
		do = st.Cancel
	case ops.ActionResend:
		do = st.Resend
	case ops.ActionDismiss:
		do = st.Dismiss
	default:
		return ops.Message{}, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("unknown action %q (cancel, resend, dismiss)", r.Action))
	}
	if err := do(ctx, r.ID); err != nil {
		return ops.Message{}, actionError(r, err)
	}
	m, err := st.Get(ctx, r.ID)
	if err != nil {
		return ops.Message{}, messageError(r.ID, err)
	}
	s.log.Info("message decision", "id", r.ID, "action", r.Action, "actor", a.String())
	return listView(m), nil
}

// allowedFrom says in which states each action may be taken, for errors.
var allowedFrom = map[string]string{
	ops.ActionCancel:  "queued (also scheduled)",
	ops.ActionResend:  "uncertain, failed or undelivered",
	ops.ActionDismiss: "uncertain",
}

func actionError(r ops.MessageAction, err error) error {
	var te *queue.TransitionError
	switch {
	case errors.As(err, &te):
		return ops.Errorf(ops.CodeWrongState, fmt.Sprintf("message %d is %s: %s is only for a message that is %s; nothing was changed", r.ID, te.From, r.Action, allowedFrom[r.Action]))
	case errors.Is(err, queue.ErrInvalidTransition):
		return ops.Errorf(ops.CodeWrongState, err.Error()+"; nothing was changed")
	}
	return messageError(r.ID, err)
}

func messageError(id int64, err error) error {
	if errors.Is(err, queue.ErrNotFound) {
		return ops.Errorf(ops.CodeNotFound, fmt.Sprintf("no message %d (see smsd messages)", id))
	}
	if errors.Is(err, queue.ErrTampered) || errors.Is(err, queue.ErrIntegrity) {
		return ops.Errorf(ops.CodeIntegrity, fmt.Sprintf("message %d failed its integrity check (changed without the key, or damaged on disk), so its number and text are not shown; an admin runs smsd doctor (%v)", id, err))
	}
	return err
}

func messageView(m queue.Message) ops.Message {
	return ops.Message{ID: m.ID, State: string(m.State), To: m.To, Text: m.Text, CreatedAt: utc(m.CreatedAt), SendAt: utc(m.SendAt),
		UpdatedAt: utc(m.UpdatedAt), NextAttemptAt: utc(m.NextAttemptAt), Attempts: m.Attempts, LastError: m.LastError,
		PartsTotal: m.PartsTotal, PartsAccepted: len(m.PartsAccepted), ModemID: m.ModemID, CreatedBy: m.CreatedBy, Purged: m.Purged,
		Damaged: m.Damaged}
}

// listView is a message as lists and decisions show it: the number
// masked, no text.
func listView(m queue.Message) ops.Message {
	v := messageView(m)
	v.To, v.Text = mask.Number(m.To), ""
	return v
}

func knownState(state string) bool {
	for _, st := range queue.States {
		if string(st) == state {
			return true
		}
	}
	return false
}

func stateList() string {
	out := ""
	for i, st := range queue.States {
		if i > 0 {
			out += ", "
		}
		out += string(st)
	}
	return out
}

// Inbox lists received messages, newest first, opened for the actor.
func (s *Service) Inbox(ctx context.Context, a ops.Actor, limit int) (_ []ops.InboxItem, err error) {
	ctx, rec := begin(ctx, a, audit.InboxView, "inbound", "")
	defer func() { err = s.finish(ctx, rec, err) }()
	st, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 50
	}
	ins, err := st.Inbox(ctx, limit)
	if err != nil {
		return nil, err
	}
	if len(ins) > 0 {
		rec.SetObject("inbound", fmt.Sprintf("%d-%d", ins[len(ins)-1].ID, ins[0].ID))
	}
	rec.AddDetail(fmt.Sprintf("shown=%d", len(ins)))
	out := make([]ops.InboxItem, 0, len(ins))
	for _, in := range ins {
		out = append(out, inboxItem(in))
	}
	return out, nil
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
