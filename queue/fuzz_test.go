package queue

import (
	"errors"
	"strings"
	"testing"
)

// FuzzNormalizeNumber: numbers come from staff forms, CSV imports, the
// command line and inbound SMS. No panic; the result is E.164 and stable;
// errors never echo the digits in clear.
func FuzzNormalizeNumber(f *testing.F) {
	for _, s := range []string{"+15551234567", "(555) 123-4567", "07700 900123", "+44 7700 900123", "0151 12345678",
		"12", "", "CLINIC", "+", "++1", "+1 (555) 123-4567 ext. 9", "0000000000", "+999999999999999", "555.123.4567", "1-800-FLOWERS"} {
		f.Add(s, "US")
	}
	f.Add("07700 900123", "GB")
	f.Add("030 123456", "DE")
	f.Add("5551234567", "ZZ")
	f.Fuzz(func(t *testing.T, in, region string) {
		e, err := NormalizeNumber(in, region)
		if err != nil {
			if !errors.Is(err, ErrInvalidNumber) {
				t.Fatalf("error not ErrInvalidNumber: %v", err)
			}
			digits := strings.Map(func(r rune) rune {
				if r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, in)
			if len(digits) >= 7 && strings.Contains(err.Error(), digits) {
				t.Fatalf("error leaks the number: %v", err)
			}
			return
		}
		if !strings.HasPrefix(e, "+") || len(e) < 3 || len(e) > 16 || strings.Trim(e[1:], "0123456789") != "" {
			t.Fatalf("%q → %q is not E.164", in, e)
		}
		again, err := NormalizeNumber(e, "US")
		if err != nil || again != e {
			t.Fatalf("not stable: %q → %q → %q %v", in, e, again, err)
		}
		// The recipient rule takes a subset, unchanged.
		if r, err := NormalizeRecipient(in, region); err == nil && r != e {
			t.Fatalf("NormalizeRecipient(%q) = %q, NormalizeNumber %q", in, r, e)
		} else if err != nil && !errors.Is(err, ErrInvalidNumber) {
			t.Fatalf("NormalizeRecipient error not ErrInvalidNumber: %v", err)
		}
	})
}
