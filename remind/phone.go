package remind

import (
	"errors"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// normalizeNumber is queue.NormalizeRecipient's rule (remind does not
// import the store), so an imported number is the number the queue will
// accept and that opt-outs and replies match: digits and + - ( ) . / and
// spaces only, parsed with region for numbers without a country code,
// possible for its country (length) rather than currently assigned, and
// not only locally (a US number without its area code is refused), E.164
// of at most 15 digits that parses back to itself. Spreadsheet guards
// around a number (a leading apostrophe, ="...") are removed first.
// The error says what is wrong without the number.
func normalizeNumber(number, region string) (string, error) {
	n := strings.TrimSpace(number)
	if strings.HasPrefix(n, `="`) && strings.HasSuffix(n, `"`) && len(n) >= 3 {
		n = n[2 : len(n)-1]
	}
	n = strings.TrimSpace(strings.TrimPrefix(n, "'"))
	if n == "" {
		return "", errors.New("the number is empty")
	}
	if len(n) > 40 {
		return "", errors.New("the number is too long")
	}
	for _, r := range n {
		if !(r >= '0' && r <= '9') && !strings.ContainsRune("+-(). /", r) {
			return "", errors.New("a number may have only digits, spaces and + - ( ) . /; an extension or a note cannot be texted")
		}
	}
	pn, err := phonenumbers.Parse(n, region)
	if err != nil {
		return "", errors.New("the number cannot be read (write it with its country code, e.g. +1 555 123 4567)")
	}
	switch phonenumbers.IsPossibleNumberWithReason(pn) {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return "", errors.New("the number has no area code; write it in full, e.g. +1 555 123 4567")
	default:
		return "", errors.New("the number has the wrong length for its country (region " + region + " is assumed when it has no +country code)")
	}
	e := phonenumbers.Format(pn, phonenumbers.E164)
	if len(e) > 16 {
		return "", errors.New("the number has more than the 15 digits an international number can have")
	}
	if e == n {
		return e, nil
	}
	if back, err := phonenumbers.Parse(e, "ZZ"); err != nil || phonenumbers.Format(back, phonenumbers.E164) != e {
		return "", errors.New("the number is ambiguous; write it in international form, e.g. +1 555 123 4567")
	}
	return e, nil
}
