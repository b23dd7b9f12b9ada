// Package mask hides protected health information in text meant for logs,
// the journal and error messages. It is the one place that decides how much
// of a phone number or device identifier may be shown.
package mask

import "strings"

// Number masks a phone number for logs: the leading "+", the first digit and
// the last four digits stay, every other digit becomes '*'
// ("+15551234567" → "+1******4567"). Numbers of five digits or fewer are
// masked whole, because their last four digits would identify them. Anything
// that is not a digit (an alphanumeric sender ID) is masked whole too.
func Number(n string) string {
	n = strings.TrimSpace(n)
	if n == "" {
		return ""
	}
	plus := strings.HasPrefix(n, "+")
	digits := strings.TrimPrefix(n, "+")
	for _, r := range digits {
		if r < '0' || r > '9' {
			return strings.Repeat("*", len([]rune(n)))
		}
	}
	var b strings.Builder
	if plus {
		b.WriteByte('+')
	}
	if len(digits) <= 5 {
		b.WriteString(strings.Repeat("*", len(digits)))
		return b.String()
	}
	b.WriteByte(digits[0])
	b.WriteString(strings.Repeat("*", len(digits)-5))
	b.WriteString(digits[len(digits)-4:])
	return b.String()
}

// Serial masks a device serial number such as an IMEI or ICCID: only its last
// four characters stay, so two devices can still be told apart in a log.
func Serial(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= 4 {
		return strings.Repeat("*", len(s))
	}
	return strings.Repeat("*", len(s)-4) + s[len(s)-4:]
}
