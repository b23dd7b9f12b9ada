package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/dispatch"
	"github.com/clinicsms/smsd/modem/pdu"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// The front desk's work for the web UI and the JSON API: the send page's
// counter, the inbox (handled marks, replies), and the wake-up of live
// pages. API tokens are in tokens.go.

// defaultMaxParts is the longest message when the configuration says
// nothing (config.Default has the same).
const defaultMaxParts = 6

// maxParts is the configured longest message, in parts.
func (s *Service) maxParts() int {
	if s.cfg.MaxParts <= 0 {
		return defaultMaxParts
	}
	return s.cfg.MaxParts
}

// SettingFields are the placeholders that come from the settings
// (clinic_name, clinic_phone): what Send fills a template's {clinic} and
// {phone} with, for the send page's preview.
func (s *Service) SettingFields(ctx context.Context) map[string]string {
	return map[string]string{"clinic": s.cfg.ClinicName, "phone": s.cfg.ClinicPhone}
}

// CountText is what a text costs as the modem will send it: pdu.CountText,
// the rule EncodeSubmit applies, so the counter and the modem agree; TooLong
// is Send's own limit (checkText), and UCS2At the character that forces
// UCS-2 (pdu.FirstNonGSM7, which EncodeSubmit's choice of encoding uses).
func (s *Service) CountText(ctx context.Context, text string) ops.TextCount {
	c := pdu.CountText(text)
	at, r := pdu.FirstNonGSM7(text)
	tc := ops.TextCount{Encoding: c.Encoding.String(), Chars: c.Chars, Parts: c.Parts, Remaining: c.Remaining,
		MaxParts: s.maxParts(), UCS2At: at}
	tc.TooLong = c.Parts > tc.MaxParts || len(text) > queue.MaxTextBytes
	if at >= 0 {
		tc.UCS2Char = string(r)
	}
	return tc
}

// Changes returns a channel that is closed at the next change the pages
// show (a message's state, a reply, an opt-out: queue.Store.Updates); any
// number of listeners may wait on it. A listener calls Changes again after
// each wake-up, for the channel of the change after. While the store is
// still locked or opening, it is the channel closed once the store opens,
// so a page open during locked mode refreshes when it unlocks; once the
// Service is closed, nil (nothing will change any more).
func (s *Service) Changes() <-chan struct{} {
	s.mu.Lock()
	st := s.store
	s.mu.Unlock()
	if st != nil {
		return st.Updates()
	}
	select {
	case <-s.unlocked:
		return nil // opened once, and closed since
	default:
		return s.unlocked
	}
}

// refuseToken refuses to an API token what only people may do: the JSON
// API sends, reads one message, lists the inbox and shows the status.
func refuseToken(a ops.Actor, what string) error {
	if a.Kind == ops.ActorToken {
		return ops.Errorf(ops.CodeDenied, "permission denied: an API token may not "+what+" (it may send, read a message, list the inbox and see the status); ask a person at the clinic")
	}
	return nil
}

// InboxList lists received messages, opened (an audited view: the row
// names the ids shown), newest first; with SinceID oldest first, so that a
// client that asks again with the largest id it has seen misses none. It
// gives each message's keyword and handled mark, and the count of the
// messages nobody marked handled.
func (s *Service) InboxList(ctx context.Context, a ops.Actor, f ops.InboxFilter) (_ ops.Inbox, err error) {
	if f.CountOnly {
		// Every page's badge asks this: it opens nothing, so it writes no
		// audit row (a row per page view would bury the real views).
		st, err := s.ready(ctx)
		if err != nil {
			return ops.Inbox{}, err
		}
		_, unhandled, err := st.InboxPage(ctx, queue.InboxQuery{BeforeID: 1, Unhandled: true, Limit: 1})
		return ops.Inbox{Unhandled: unhandled}, err
	}
	ctx, rec := begin(ctx, a, audit.InboxView, "inbound", "")
	defer func() { err = s.finish(ctx, rec, err) }()
	if f.SinceID < 0 || f.Before < 0 || f.Limit < 0 {
		return ops.Inbox{}, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("since_id, before and limit must not be negative (got %d, %d, %d)", f.SinceID, f.Before, f.Limit))
	}
	if f.Limit > 1000 {
		return ops.Inbox{}, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("limit %d is more than 1000; page with before= instead", f.Limit))
	}
	st, err := s.ready(ctx)
	if err != nil {
		return ops.Inbox{}, err
	}
	ins, unhandled, err := st.InboxPage(ctx, queue.InboxQuery{SinceID: f.SinceID, BeforeID: f.Before, Unhandled: f.Unhandled, Limit: f.Limit})
	if err != nil {
		return ops.Inbox{}, err
	}
	if len(ins) > 0 {
		lo, hi := ins[0].ID, ins[len(ins)-1].ID
		rec.SetObject("inbound", fmt.Sprintf("%d-%d", min(lo, hi), max(lo, hi)))
	}
	rec.AddDetail(fmt.Sprintf("shown=%d unhandled=%d", len(ins), unhandled))
	ids := make([]int64, len(ins))
	for i, in := range ins {
		ids[i] = in.ID
	}
	// Replies threaded to an appointment (queue.ThreadReply).
	appts, err := st.InboundAppointments(ctx, ids)
	if err != nil {
		return ops.Inbox{}, err
	}
	out := ops.Inbox{Entries: make([]ops.InboxEntry, 0, len(ins)), Unhandled: unhandled}
	for _, in := range ins {
		e := ops.InboxEntry{InboxItem: inboxItem(in), Handled: !in.HandledAt.IsZero(), HandledBy: in.HandledBy, HandledAt: utc(in.HandledAt),
			AppointmentID: appts[in.ID]}
		if in.DecodeError == "" && !in.Incomplete && !in.Purged {
			e.Keyword = keywordOf(in.Text)
		}
		out.Entries = append(out.Entries, e)
	}
	return out, nil
}

// inboxItem is a received message as the inbox shows it, opened.
func inboxItem(in queue.Inbound) ops.InboxItem {
	it := ops.InboxItem{ID: in.ID, From: in.From, Text: in.Text, ReceivedAt: utc(in.ReceivedAt), SentAt: utc(in.SentAt),
		DecodeError: in.DecodeError, Incomplete: in.Incomplete, Damaged: in.Damaged}
	if in.ReplyTo != 0 {
		r := in.ReplyTo
		it.ReplyTo = &r
	}
	return it
}

// keywordOf is what a reply meant to smsd, as the inbox shows it: "stop",
// "start" and "help" as the dispatcher acted on them (dispatch.ParseKeyword,
// the one rule), and "confirm" (C, CONFIRM, YES, SI) or "reschedule" (R,
// RESCHEDULE) for a reminder's answer; "" for anything else. The dispatcher
// does nothing with the last two, so they are classified here, with the same
// trimming: "Yes!" and "c." count, "Yes, but later" does not.
func keywordOf(text string) string {
	switch dispatch.ParseKeyword(text) {
	case dispatch.KeywordStop:
		return "stop"
	case dispatch.KeywordStart:
		return "start"
	case dispatch.KeywordHelp:
		return "help"
	}
	word := strings.TrimFunc(text, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Cf, r)
	})
	switch strings.ToUpper(word) {
	case "C", "CONFIRM", "YES", "SI", "SÍ":
		return "confirm"
	case "R", "RESCHEDULE":
		return "reschedule"
	}
	return ""
}

// MarkHandled marks received message id handled by the actor (or, with
// handled false, not handled again). Any signed-in person may; an API token
// may not. It is audited (inbox_handle).
func (s *Service) MarkHandled(ctx context.Context, a ops.Actor, id int64, handled bool) (err error) {
	ctx, rec := begin(ctx, a, audit.InboxHandle, "inbound", strconv.FormatInt(id, 10))
	if handled {
		rec.AddDetail("handled")
	} else {
		rec.AddDetail("not handled")
	}
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := refuseToken(a, "mark a reply handled"); err != nil {
		return err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return err
	}
	if err := st.MarkHandled(ctx, id, handled, a.String()); err != nil {
		return inboundError(id, err)
	}
	return nil
}

// inboundError turns the store's not-found into one a person can act on.
func inboundError(id int64, err error) error {
	if errors.Is(err, queue.ErrNotFound) {
		return ops.Errorf(ops.CodeNotFound, fmt.Sprintf("no received message %d (see the inbox)", id))
	}
	return err
}

// Reply queues text to the sender of received message id, under Send's
// rules (text checked, an opted-out number refused) and its audit row
// (message_create, "reply to inbound N"). The number never leaves the
// service: the answer masks it, as Send's does.
func (s *Service) Reply(ctx context.Context, a ops.Actor, id int64, text string) (_ ops.SendResult, err error) {
	ctx, rec := begin(ctx, a, audit.MessageCreate, "message", "")
	rec.AddDetail("reply to inbound " + strconv.FormatInt(id, 10))
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := refuseToken(a, "reply to a received message"); err != nil {
		return ops.SendResult{}, err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return ops.SendResult{}, withNothingQueued(err)
	}
	in, err := st.GetInbound(ctx, id)
	if err != nil {
		return ops.SendResult{}, inboundError(id, err)
	}
	if in.Purged || in.From == "" {
		return ops.SendResult{}, ops.Errorf(ops.CodeWrongState, fmt.Sprintf("received message %d was purged by the retention policy, so its sender is no longer known; nothing was queued", id))
	}
	to, err := queue.NormalizeNumber(in.From, s.cfg.DefaultRegion)
	if err != nil {
		return ops.SendResult{}, ops.Errorf(ops.CodeInvalidNumber, fmt.Sprintf("received message %d came from a sender that is not a phone number (a name or a short code), which cannot be answered by SMS; nothing was queued", id))
	}
	return s.send(ctx, a, ops.SendRequest{To: to, Text: text})
}
