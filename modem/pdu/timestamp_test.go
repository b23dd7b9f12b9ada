package pdu

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/internal/testutil"
)

// TestBadServiceTimestampStillDecodes: a network that stamps a message with
// a broken SCTS or TP-DT must not turn a patient's STOP into an undecodable
// PDU, nor a delivery report into nothing: the message decodes, the time is
// unknown (zero), and TimestampErr says what was wrong.
func TestBadServiceTimestampStillDecodes(t *testing.T) {
	when := time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, scts, msg string
	}{
		{"not_bcd", "6A114251000000", "not BCD"},
		{"feb_30", "62200351000000", "not a valid date"},
		{"month_13", "62314251000000", "not a valid date"},
		{"zone_out_of_range", "62114251000097", "time zone"},
		{"zone_not_bcd", "621142510000F0", "time zone is not BCD"},
	} {
		t.Run("deliver_"+tc.name, func(t *testing.T) {
			b, err := EncodeDeliver("+15551234567", "STOP", when, nil)
			if err != nil {
				t.Fatal(err)
			}
			// first octet, TP-OA (length, type, 6 octets of digits), PID, DCS
			copy(b[1+8+2:], testutil.MustHex(t, tc.scts))
			d, err := DecodeDeliver(b)
			if err != nil {
				t.Fatalf("a bad SCTS made the message undecodable: %v", err)
			}
			if d.Text != "STOP" || d.From.Number != "+15551234567" {
				t.Errorf("decoded %q from %q, want STOP from +15551234567", d.Text, d.From.Number)
			}
			if !d.Timestamp.IsZero() {
				t.Errorf("timestamp %v from a broken field, want the zero time", d.Timestamp)
			}
			if !errors.Is(d.TimestampErr, ErrMalformed) || !strings.Contains(d.TimestampErr.Error(), tc.msg) {
				t.Errorf("TimestampErr = %v, want ErrMalformed saying %q", d.TimestampErr, tc.msg)
			}
		})
		t.Run("status_report_"+tc.name, func(t *testing.T) {
			b, err := EncodeStatusReport(StatusReport{MR: 42, Recipient: Address{Number: "+15551234567"}, SCTS: when, Discharge: when, Status: 0})
			if err != nil {
				t.Fatal(err)
			}
			// first octet, TP-MR, TP-RA (8 octets), TP-SCTS, then TP-DT
			copy(b[2+8+7:], testutil.MustHex(t, tc.scts))
			sr, err := DecodeStatusReport(b)
			if err != nil {
				t.Fatalf("a bad TP-DT made the report undecodable: %v", err)
			}
			if sr.MR != 42 || sr.Outcome != Delivered || !sr.SCTS.Equal(when) || !sr.Discharge.IsZero() {
				t.Errorf("report %+v: want MR 42 delivered, SCTS kept, TP-DT zero", sr)
			}
			if !errors.Is(sr.TimestampErr, ErrMalformed) || !strings.Contains(sr.TimestampErr.Error(), "TP-DT") {
				t.Errorf("TimestampErr = %v, want ErrMalformed naming TP-DT", sr.TimestampErr)
			}
		})
	}
	// A good timestamp leaves no error behind.
	b, _ := EncodeDeliver("+15551234567", "C", when, nil)
	if d, err := DecodeDeliver(b); err != nil || d.TimestampErr != nil || !d.Timestamp.Equal(when) {
		t.Errorf("good SCTS: %v %v %v", d.Timestamp, d.TimestampErr, err)
	}
	// A timestamp cut short is still a malformed PDU.
	if _, err := DecodeDeliver(b[:1+8+2+4]); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated SCTS: %v, want ErrMalformed", err)
	}
}
