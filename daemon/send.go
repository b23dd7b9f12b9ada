package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/modem/pdu"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// pastSlack is how far in the past a send_at may lie and still mean "now":
// the clock of the client and a form filled a moment ago.
const pastSlack = time.Minute

// Per-part capacity of a concatenated SMS (3GPP TS 23.040 §9.2.3.24.1: the
// 6-octet concatenation header leaves 153 septets or 67 UCS-2 characters),
// and of a single one.
const (
	gsm7Single, gsm7Part = 160, 153
	ucs2Single, ucs2Part = 70, 67
)

// capacity is how many units (septets or UTF-16 code units) parts SMS hold.
func capacity(enc pdu.Encoding, parts int) int {
	single, part := gsm7Single, gsm7Part
	if enc == pdu.UCS2 {
		single, part = ucs2Single, ucs2Part
	}
	if parts <= 1 {
		return single
	}
	return part * parts
}

// checkText refuses what the modem would refuse later, when it is too late
// to tell the person who asked: a text that is empty, not UTF-8, or longer
// than the parts a message may have.
func (s *Service) checkText(text string) (pdu.Count, error) {
	if !utf8.ValidString(text) {
		return pdu.Count{}, ops.ErrTextNotUTF8
	}
	if text == "" {
		return pdu.Count{}, ops.Errorf(ops.CodeInvalidText, "the text is empty; nothing was queued")
	}
	c := pdu.CountText(text)
	maxParts := s.maxParts()
	if c.Parts > maxParts || len(text) > queue.MaxTextBytes {
		return c, ops.Errorf(ops.CodeTooLong, fmt.Sprintf(
			"the text is too long: %d characters make %d parts in %s, and a message may have at most %d parts: %d characters in GSM-7 (€ [ ] { } ^ ~ \\ | count 2), or %d when it needs UCS-2 (an emoji or a letter outside GSM-7 counts 1 or 2); shorten it; nothing was queued",
			utf8.RuneCountInString(text), c.Parts, c.Encoding, maxParts, capacity(pdu.GSM7, maxParts), capacity(pdu.UCS2, maxParts)))
	}
	return c, nil
}

// Send queues one message for the actor: the number normalised (refused
// when invalid or opted out), the text checked, send_at not in the past.
func (s *Service) Send(ctx context.Context, a ops.Actor, r ops.SendRequest) (res ops.SendResult, err error) {
	ctx, rec := begin(ctx, a, audit.MessageCreate, "message", "")
	defer func() { err = s.finish(ctx, rec, err) }()
	return s.send(ctx, a, r)
}

// send is Send in the audit record ctx carries (Send's, or Reply's).
func (s *Service) send(ctx context.Context, a ops.Actor, r ops.SendRequest) (ops.SendResult, error) {
	c, err := s.checkText(r.Text)
	if err != nil {
		return ops.SendResult{}, err
	}
	if !r.SendAt.IsZero() && r.SendAt.Before(s.now().Add(-pastSlack)) {
		return ops.SendResult{}, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf(
			"the time to send, %s, is in the past (check the date and the year; leave it out to send now); nothing was queued", r.SendAt.Format(time.RFC3339)))
	}
	st, err := s.ready(ctx)
	if err != nil {
		return ops.SendResult{}, withNothingQueued(err)
	}
	m, err := st.Enqueue(ctx, queue.NewMessage{To: r.To, Text: r.Text, SendAt: r.SendAt, IdempotencyKey: r.IdempotencyKey, CreatedBy: a.String()})
	switch {
	case err == nil:
	case errors.Is(err, queue.ErrOptedOut):
		return ops.SendResult{}, ops.Errorf(ops.CodeOptedOut, "refused: the recipient has opted out (replied STOP); nothing was queued. They can opt back in by texting START")
	case errors.Is(err, queue.ErrInvalidNumber):
		return ops.SendResult{}, ops.Errorf(ops.CodeInvalidNumber, fmt.Sprintf("refused: %v; nothing was queued. Write the number with its country code, e.g. +15551234567", err))
	case errors.Is(err, queue.ErrIdempotencyConflict):
		return ops.SendResult{}, ops.Errorf(ops.CodeConflict, fmt.Sprintf("refused: %v; use a new idempotency key for a different message", err))
	default:
		return ops.SendResult{}, err
	}
	return ops.SendResult{ID: m.ID, State: string(m.State), To: mask.Number(m.To), Parts: c.Parts, Encoding: c.Encoding.String(),
		SendAt: utc(m.SendAt), Existing: m.Existing}, nil
}

// withNothingQueued says, on a locked store's refusal, that nothing was
// queued.
func withNothingQueued(err error) error {
	if ops.CodeOf(err) == ops.CodeLocked {
		return ops.Errorf(ops.CodeLocked, err.Error()+"; nothing was queued")
	}
	return err
}

// utc gives t in UTC, the zero time as it is (JSON leaves it out).
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}
