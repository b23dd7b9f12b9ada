package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/modem"
	"github.com/clinicsms/smsd/modem/pdu"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/remind"
)

// Keyword is what an inbound text asks of smsd.
type Keyword int

// Keywords recognised in inbound texts (ParseKeyword has the words): the
// universal opt-out words of the CTIA guidelines US carriers enforce (STOP,
// END, CANCEL, UNSUBSCRIBE, QUIT) and STOPALL; the opt-in words START and
// UNSTOP; HELP. The FCC's revocation rule, 47 CFR 64.1200(a)(10) (2025), also
// counts REVOKE and OPT OUT (also written OPTOUT or OPT-OUT) as a revocation.
const (
	NoKeyword Keyword = iota
	KeywordStop
	KeywordStart
	KeywordHelp
)

// String names the keyword for logs.
func (k Keyword) String() string {
	switch k {
	case KeywordStop:
		return "stop"
	case KeywordStart:
		return "start"
	case KeywordHelp:
		return "help"
	}
	return "none"
}

// ParseKeyword classifies an inbound text: the whole text, trimmed of
// spaces, punctuation and symbols around it and compared without case, must
// be one of the keywords. Phones add a full stop or an emoji on their own
// ("Stop.", "STOP!", "stop 🙏") and an opt-out must not be missed for that;
// "Stop by at 3?" is an ordinary reply, not an opt-out.
func ParseKeyword(text string) Keyword {
	word := strings.TrimFunc(text, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Cf, r)
	})
	// Runs of spaces inside count as one: "OPT  OUT" is OPT OUT.
	word = strings.Join(strings.Fields(strings.ToUpper(word)), " ")
	switch {
	case slices.Contains(stopWords, word):
		return KeywordStop
	case slices.Contains(startWords, word):
		return KeywordStart
	case word == "HELP":
		return KeywordHelp
	}
	return NoKeyword
}

// stopWords opt a patient out (see Keyword); remind.OptOutWords, which the
// template check refuses to ask for, is the same list (a test holds them
// equal). startWords opt back in.
var (
	stopWords  = []string{"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT", "OPTOUT", "OPT-OUT"}
	startWords = []string{"START", "UNSTOP"}
)

// onInbound is the modem's OnInbound: store the message (sealed, threaded by
// the store), act on keywords, and match it to the reminder it answers.
// The modem deletes the message from its own storage only when this
// returns nil, so an error here means "keep it and hand it to me again":
// opt-out and storing come first and are idempotent or harmless to repeat
// (the store finds a message handed over twice); opting in comes after
// storing, so that a message handed over again still finds the sender
// opted out and sends its one confirmation. Threading and the replies
// (HELP, the opt-in confirmation), which come last, are not retried
// through the modem: their failures are logged.
func (l *loop) onInbound(ctx context.Context, in modem.Inbound) error {
	log := l.log.With("from", mask.Log(in.From))
	if in.DecodeErr != nil {
		stored, err := l.d.store.AddInbound(ctx, queue.Inbound{
			From:        in.From,
			ReceivedAt:  l.d.now(),
			SentAt:      in.SentAt,
			Raw:         in.Raw,
			DecodeError: scrub(in.DecodeErr.Error()),
		})
		if err != nil {
			return fmt.Errorf("storing an undecodable inbound PDU: %w", err)
		}
		log.Warn("inbound PDU could not be decoded; kept raw and sealed for inspection",
			"inbound_id", stored.ID, "bytes", len(in.Raw), "err", scrub(in.DecodeErr.Error()))
		return nil
	}

	kw := NoKeyword
	if len(in.Missing) == 0 {
		kw = ParseKeyword(in.Text)
	}
	// A national-format sender counts as a number of the clinic's region
	// only when it is a valid one (queue.NormalizeSender): a STOP from a
	// foreign or short local number must not opt out another person.
	sender, isNumber := l.d.store.NormalizeSender(in.From)
	// newlyOut: this STOP opted the sender out (they were not before), so
	// it gets the one confirmation.
	newlyOut := false
	switch {
	case kw == KeywordStop && !isNumber:
		log.Warn("STOP from a sender that is no valid phone number of the region; nothing to opt out")
	case kw == KeywordStart && !isNumber:
		log.Warn("START from a sender that is no valid phone number of the region; nothing to opt in")
	case kw == KeywordStop:
		was, err := l.d.store.IsOptedOut(ctx, sender)
		if err != nil && !errors.Is(err, queue.ErrInvalidNumber) {
			return fmt.Errorf("opting out the sender of a STOP: %w", err)
		}
		// The opt-out and its audit row (actor system) commit together.
		octx := audit.NewContext(ctx, audit.NewRecord(audit.Event{Actor: "system", Action: audit.OptOutAdd, Detail: "the patient texted STOP"}))
		if err := l.d.store.OptOutFrom(octx, sender, "sms_stop"); err != nil {
			if !errors.Is(err, queue.ErrInvalidNumber) {
				return fmt.Errorf("opting out the sender of a STOP: %w", err)
			}
			log.Warn("STOP from a sender that is not a phone number; nothing to opt out")
		} else {
			newlyOut = !was
			log.Info("sender opted out", "already", was)
		}
	}

	// Joined from parts kept in the store: the message and the deletion
	// of its parts commit together.
	stored, err := l.d.store.AddInboundFromParts(ctx, queue.Inbound{
		From:       in.From,
		Text:       in.Text,
		ReceivedAt: l.d.now(),
		SentAt:     in.SentAt,
		Incomplete: len(in.Missing) > 0,
	}, in.PartIDs)
	if err != nil {
		return fmt.Errorf("storing an inbound message: %w", err)
	}
	log.Info("inbound message stored", "inbound_id", stored.ID, "reply_to", stored.ReplyTo,
		"parts", in.Parts, "missing_parts", len(in.Missing), "keyword", kw.String())

	if kw == KeywordStart && isNumber {
		if err := l.optIn(ctx, log, stored.ID, sender); err != nil {
			return err
		}
	}
	if isNumber {
		l.thread(ctx, log, stored.ID, sender, kw, in)
	}
	if newlyOut {
		l.confirmOptOut(ctx, log, stored.ID, sender)
	}

	switch {
	case kw == KeywordHelp && !isNumber:
		log.Info("HELP from a sender that is no valid phone number of the region; no reply sent")
	case kw == KeywordHelp:
		l.replyHelp(ctx, stored.ID, sender)
	}
	return nil
}

// optIn opts the sender of a START back in and, when they were opted out,
// queues the one text that confirms it. A START from a number that was not
// opted out (a second START, or one out of the blue) changes nothing and
// gets no text: one confirmation per opt-in, never more.
func (l *loop) optIn(ctx context.Context, log *slog.Logger, inboundID int64, sender string) error {
	was, err := l.d.store.IsOptedOut(ctx, sender)
	if errors.Is(err, queue.ErrInvalidNumber) {
		log.Warn("START from a sender that is not a phone number; nothing to opt in")
		return nil
	}
	if err != nil {
		return fmt.Errorf("opting in the sender of a START: %w", err)
	}
	if !was {
		log.Info("START from a number that is not opted out; nothing to change, no confirmation sent")
		return nil
	}
	octx := audit.NewContext(ctx, audit.NewRecord(audit.Event{Actor: "system", Action: audit.OptOutRemove, Detail: "the patient texted START"}))
	if err := l.d.store.OptIn(octx, sender); err != nil {
		return fmt.Errorf("opting in the sender of a START: %w", err)
	}
	log.Info("sender opted back in")
	// The idempotency key is the stored inbound's id: the same START
	// handed over again cannot queue a second confirmation.
	msg, err := l.d.store.Enqueue(ctx, queue.NewMessage{
		To:             sender,
		Text:           OptInConfirmation(l.d.clinic),
		IdempotencyKey: fmt.Sprintf("optin-confirm:%d", inboundID),
		CreatedBy:      "smsd:optin",
	})
	if err != nil {
		log.Error("queueing the opt-in confirmation failed", "inbound_id", inboundID, "err", err)
		return nil
	}
	log.Info("opt-in confirmation queued", "id", msg.ID)
	return nil
}

// confirmOptOut queues the one text that confirms an opt-out, to the
// number that just opted out (queue.NewMessage.OptOutConfirmation, the only
// message the store sends to an opted-out number, within five minutes). A
// STOP from a number already opted out gets none: one confirmation per
// opt-out, never more. The idempotency key is the stored STOP's id, so
// the same STOP handed over again queues nothing more.
func (l *loop) confirmOptOut(ctx context.Context, log *slog.Logger, inboundID int64, sender string) {
	msg, err := l.d.store.Enqueue(ctx, queue.NewMessage{
		To:                 sender,
		Text:               OptOutConfirmation(l.d.clinic),
		IdempotencyKey:     fmt.Sprintf("optout-confirm:%d", inboundID),
		OptOutConfirmation: true,
	})
	if err != nil {
		log.Error("queueing the opt-out confirmation failed (the opt-out stands)", "inbound_id", inboundID, "err", err)
		return
	}
	log.Info("opt-out confirmation queued", "id", msg.ID)
}

// OptOutConfirmation is the text a patient who opted out gets once: no
// more messages from the clinic, and how to opt back in (GSM-7, one part
// for a clinic name of up to 70 characters).
func OptOutConfirmation(clinic string) string {
	return "You are opted out of messages from " + clinic + ". No more will be sent. Reply START to opt back in."
}

// OptInConfirmation is the text a patient who texted START gets once: the
// clinic's name, and how to opt out again (GSM-7, one part for a clinic
// name of up to 80 characters).
func OptInConfirmation(clinic string) string {
	return "You will get messages from " + clinic + " again. Reply STOP to opt out."
}

// thread matches an inbound message to the reminder it answers: the latest
// reminder sent to its sender (queue.Store.ThreadReply). An opt-out word
// answers "opted out"; a whole reply that is one of the confirm or
// reschedule words answers that (remind.MatchAnswer); anything else is
// threaded without an answer, so the inbox shows it beside its
// appointment. A reply from a number no reminder went to threads to
// nothing and stays in the inbox. A message with parts missing is
// threaded but never read as an answer.
func (l *loop) thread(ctx context.Context, log *slog.Logger, inboundID int64, sender string, kw Keyword, in modem.Inbound) {
	answer := ops.AnswerNone
	switch {
	case kw == KeywordStop:
		answer = ops.AnswerOptedOut
	case kw == NoKeyword && len(in.Missing) == 0:
		answer = remind.MatchAnswer(in.Text, l.d.confirm, l.d.reschedule)
	}
	appt, err := l.d.store.ThreadReply(ctx, inboundID, sender, answer)
	switch {
	case err != nil:
		log.Error("matching the reply to its reminder failed; it stays in the inbox, unlinked", "inbound_id", inboundID, "err", err)
	case appt == 0:
		log.Debug("reply matches no reminder sent to this number", "inbound_id", inboundID)
	default:
		// appt_id: the logs' PHI check forbids the word for a visit.
		log.Info("reply matched to the reminder it answers", "inbound_id", inboundID, "appt_id", appt, "answer", answer)
	}
}

// replyHelp enqueues the configured help text to the sender of a HELP. The
// idempotency key is the stored inbound's id, so replaying the handler (the
// modem hands the message over again) cannot queue a second reply.
func (l *loop) replyHelp(ctx context.Context, inboundID int64, from string) {
	log := l.log.With("from", mask.Log(from), "inbound_id", inboundID)
	if strings.TrimSpace(l.d.help) == "" {
		log.Warn("HELP received but no help text is configured; no reply sent")
		return
	}
	msg, err := l.d.store.Enqueue(ctx, queue.NewMessage{
		To:             from,
		Text:           l.d.help,
		IdempotencyKey: fmt.Sprintf("help-reply:%d", inboundID),
		CreatedBy:      "smsd:help",
	})
	switch {
	case errors.Is(err, queue.ErrOptedOut):
		log.Info("HELP from an opted-out number; no reply sent")
	case errors.Is(err, queue.ErrInvalidNumber):
		log.Info("HELP from a sender that is not a phone number; no reply sent")
	case err != nil:
		log.Error("queueing the HELP reply failed", "err", err)
	default:
		log.Info("HELP reply queued", "id", msg.ID)
	}
}

// onStatusReport is the modem's OnStatusReport: the store matches it to the
// part with that message reference and recipient.
func (l *loop) onStatusReport(ctx context.Context, sr modem.StatusReport) error {
	delivered := sr.Outcome == pdu.Delivered
	final := sr.Outcome != pdu.Pending
	id, err := l.d.store.RecordStatusReport(ctx, sr.MR, sr.Recipient, delivered, final)
	log := l.log.With("to", mask.Log(sr.Recipient), "mr", sr.MR, "status", fmt.Sprintf("0x%02x", sr.Status))
	switch {
	case errors.Is(err, queue.ErrNotFound), errors.Is(err, queue.ErrInvalidNumber):
		// A report for a message we no longer know (purged, or sent before
		// the database was reset): nothing to update; keeping it in the
		// modem would only fill its memory.
		log.Warn("status report matches no sent message; ignored")
		return nil
	case err != nil:
		return fmt.Errorf("recording a status report: %w", err)
	}
	log.Info("status report recorded", "id", id, "delivered", delivered, "final", final)
	return nil
}

// longDigits finds digit runs long enough to be a phone number.
var longDigits = regexp.MustCompile(`\+?[0-9]{5,}`)

// scrub masks anything that looks like a phone number in an error text from
// a lower layer before it reaches a log or the store's clear columns.
func scrub(s string) string {
	return longDigits.ReplaceAllStringFunc(s, mask.Number)
}
