package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/modem/pdu"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/remind"
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
	if r.TemplateID != 0 || len(r.Fields) > 0 {
		text, err := s.renderTemplate(ctx, r)
		if err != nil {
			return ops.SendResult{}, err
		}
		r.Text = text
	}
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

// renderTemplate is the text of a send by template: saved template
// r.TemplateID filled with r.Fields ({clinic} and {phone} default to the
// configured clinic_name and clinic_phone). A template that does not exist
// is CodeNotFound; a field the template uses and r.Fields lacks (other
// than {provider} and {location}, which may be empty), or a field no
// template knows, is refused naming it. The audit row names the template.
func (s *Service) renderTemplate(ctx context.Context, r ops.SendRequest) (string, error) {
	if r.TemplateID <= 0 {
		return "", ops.Errorf(ops.CodeInvalidRequest, "fields were given without a template (template_id); nothing was queued")
	}
	if r.Text != "" {
		return "", ops.Errorf(ops.CodeInvalidRequest, "give either a text or a template (template_id with fields), not both; nothing was queued")
	}
	if rec := audit.FromContext(ctx); rec != nil {
		rec.AddDetail("template=" + strconv.FormatInt(r.TemplateID, 10))
	}
	st, err := s.remindStore(ctx)
	if err != nil {
		return "", withNothingQueued(err)
	}
	t, err := st.GetTemplate(ctx, r.TemplateID)
	if errors.Is(err, queue.ErrNotFound) {
		return "", ops.Errorf(ops.CodeNotFound, fmt.Sprintf("there is no template %d (see the templates page, or smsd templates); nothing was queued", r.TemplateID))
	}
	if err != nil {
		return "", storeError(err, "queued")
	}
	known := map[string]bool{}
	for _, p := range remind.Placeholders {
		known[p] = true
	}
	f := remind.Fields(s.SettingFields(ctx))
	for k, v := range r.Fields {
		k = strings.Trim(strings.ToLower(strings.TrimSpace(k)), "{}")
		if !known[k] {
			return "", ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("%q is not a placeholder (%s); nothing was queued", clipRunes(k, 30), strings.Join(remind.Placeholders, ", ")))
		}
		f[k] = v
	}
	// The placeholders the body uses, found by rendering markers.
	marks := remind.Fields{}
	for _, p := range remind.Placeholders {
		marks[p] = "\uE000" + p + "\uE001"
	}
	probe, err := remind.Render(t.Body, marks)
	if err != nil {
		return "", ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("template %d cannot be filled: %v; fix it on the templates page; nothing was queued", t.ID, err))
	}
	var missing []string
	for _, p := range remind.Placeholders {
		if p == "provider" || p == "location" {
			continue
		}
		if strings.Contains(probe, marks[p]) && strings.TrimSpace(f[p]) == "" {
			missing = append(missing, "{"+p+"}")
		}
	}
	if len(missing) > 0 {
		return "", ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("template %d needs %s: give each in fields; nothing was queued", t.ID, strings.Join(missing, ", ")))
	}
	return remind.Render(t.Body, f)
}
