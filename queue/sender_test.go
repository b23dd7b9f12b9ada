package queue

import (
	"context"
	"testing"
)

// TestNormalizeSender: national-format senders become E.164 only when the
// result is a valid number of the region; international ones as
// NormalizeNumber makes them; anything else stays as received.
func TestNormalizeSender(t *testing.T) {
	cases := []struct {
		from, region string
		want         string
		ok           bool
	}{
		{"+15552000001", "US", "+15552000001", true},     // international: as NormalizeNumber (555 is a test range)
		{"+4917012345678", "US", "+4917012345678", true}, // international, another country
		{"2015550123", "US", "+12015550123", true},       // valid US number in national format
		{"0170123456", "US", "0170123456", false},        // a German mobile's national format: not +10170123456
		{"5551234", "US", "5551234", false},              // seven-digit local number: not +15551234
		{"01701234567", "DE", "+491701234567", true},     // the same kind of number, in its own region
		{"07700900123", "US", "07700900123", false},      // UK national format under US
		{"Clinic", "US", "Clinic", false},                // alphanumeric sender
		{"", "US", "", false},
	}
	for _, c := range cases {
		got, ok := NormalizeSender(c.from, c.region)
		if got != c.want || ok != c.ok {
			t.Errorf("NormalizeSender(%q, %s) = %q, %v; want %q, %v", c.from, c.region, got, ok, c.want, c.ok)
		}
	}
}

// TestNationalSenderStoredAsReceived: a national-format sender that is no
// valid number of the region is stored as received, not as a number of
// the region.
func TestNationalSenderStoredAsReceived(t *testing.T) {
	_, s := openEnv(t)
	ctx := context.Background()
	for _, c := range []struct{ from, stored, notOptedOut string }{
		{"0170123456", "0170123456", "+10170123456"},
		{"5551234", "5551234", "+15551234"},
	} {
		in, err := s.AddInbound(ctx, Inbound{From: c.from, Text: "STOP"})
		if err != nil {
			t.Fatal(err)
		}
		if in.From != c.stored {
			t.Errorf("inbound from %q stored as %q, want %q", c.from, in.From, c.stored)
		}
		got, err := s.GetInbound(ctx, in.ID)
		if err != nil || got.From != c.stored {
			t.Errorf("inbound %d read back from %q (%v), want %q", in.ID, got.From, err, c.stored)
		}
	}
}
