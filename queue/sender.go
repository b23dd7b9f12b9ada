package queue

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// NormalizeSender is NormalizeNumber for the sender of a received SMS
// (TP-OA, 23.040 9.1.2.5), which the network gives in whatever format the
// sender's side chose. A number in international format ("+...", TON
// international) is normalised as NormalizeNumber does. A number without a
// country code (TON national or unknown) becomes E.164 with region only
// when the result is a valid number (phonenumbers.IsValidNumber): a foreign
// number in its own national format ("0170123456", a German mobile) or a
// short local one ("5551234") would otherwise turn into a number of the
// clinic's country that the sender does not have, and a STOP from it would
// opt out that number. Anything else (invalid, alphanumeric) is returned as
// received with ok false: it is no number smsd sends to.
//
// For every valid number the result is NormalizeNumber's, so opt-outs
// recorded from a sender match the numbers reminders go to.
func NormalizeSender(from, region string) (sender string, ok bool) {
	n := strings.TrimSpace(from)
	e, err := NormalizeNumber(n, region)
	if err != nil {
		return from, false
	}
	if strings.HasPrefix(n, "+") {
		return e, true
	}
	pn, err := phonenumbers.Parse(n, region)
	if err != nil || !phonenumbers.IsValidNumber(pn) {
		return from, false
	}
	return e, true
}

// NormalizeSender is the package's NormalizeSender with the store's
// default region: what AddInbound stores as the sender of in.From, and the
// number (ok true) that a STOP or START from it opts out or in.
func (s *Store) NormalizeSender(from string) (sender string, ok bool) {
	return NormalizeSender(from, s.opt.DefaultRegion)
}
