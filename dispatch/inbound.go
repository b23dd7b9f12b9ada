package dispatch

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/modem"
	"github.com/clinicsms/smsd/modem/pdu"
	"github.com/clinicsms/smsd/queue"
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
	switch strings.Join(strings.Fields(strings.ToUpper(word)), " ") {
	case "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPT OUT", "OPTOUT", "OPT-OUT":
		return KeywordStop
	case "START", "UNSTOP":
		return KeywordStart
	case "HELP":
		return KeywordHelp
	}
	return NoKeyword
}

// onInbound is the modem's OnInbound: store the message (sealed, threaded by
// the store), act on keywords. The modem deletes the message from its own
// storage only when this returns nil, so an error here means "keep it and
// hand it to me again": opt-out and storing come first and are idempotent
// or harmless to repeat; only the HELP reply, which comes last, is not
// retried through the modem.
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
	switch {
	case kw == KeywordStop && !isNumber:
		log.Warn("STOP from a sender that is no valid phone number of the region; nothing to opt out")
	case kw == KeywordStart && !isNumber:
		log.Warn("START from a sender that is no valid phone number of the region; nothing to opt in")
	case kw == KeywordStop:
		// The opt-out and its audit row (actor system) commit together.
		octx := audit.NewContext(ctx, audit.NewRecord(audit.Event{Actor: "system", Action: audit.OptOutAdd, Detail: "the patient texted STOP"}))
		if err := l.d.store.OptOutFrom(octx, sender, "sms_stop"); err != nil {
			if !errors.Is(err, queue.ErrInvalidNumber) {
				return fmt.Errorf("opting out the sender of a STOP: %w", err)
			}
			log.Warn("STOP from a sender that is not a phone number; nothing to opt out")
		} else {
			log.Info("sender opted out")
		}
	case kw == KeywordStart:
		octx := audit.NewContext(ctx, audit.NewRecord(audit.Event{Actor: "system", Action: audit.OptOutRemove, Detail: "the patient texted START"}))
		if err := l.d.store.OptIn(octx, sender); err != nil {
			if !errors.Is(err, queue.ErrInvalidNumber) {
				return fmt.Errorf("opting in the sender of a START: %w", err)
			}
			log.Warn("START from a sender that is not a phone number; nothing to opt in")
		} else {
			log.Info("sender opted back in")
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

	switch {
	case kw == KeywordHelp && !isNumber:
		log.Info("HELP from a sender that is no valid phone number of the region; no reply sent")
	case kw == KeywordHelp:
		l.replyHelp(ctx, stored.ID, sender)
	}
	return nil
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
