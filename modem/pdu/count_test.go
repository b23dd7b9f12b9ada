package pdu

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/internal/testutil"
)

func TestCountText(t *testing.T) {
	tests := []struct {
		name string
		text string
		want Count
	}{
		{"empty", "", Count{GSM7, 0, 1, 160}},
		{"hello", "hello", Count{GSM7, 5, 1, 155}},
		{"gsm7_160", strings.Repeat("a", 160), Count{GSM7, 160, 1, 0}},
		{"gsm7_161", strings.Repeat("a", 161), Count{GSM7, 161, 2, 145}},
		{"gsm7_306", strings.Repeat("a", 306), Count{GSM7, 306, 2, 0}},
		{"gsm7_307", strings.Repeat("a", 307), Count{GSM7, 307, 3, 152}},
		{"euro_counts_two", "€", Count{GSM7, 2, 1, 158}},
		{"euro_80_fits", strings.Repeat("€", 80), Count{GSM7, 160, 1, 0}},
		// 81 € = 162 septets: part 1 holds 76 (152 septets; a 77th pair
		// would straddle septet 153), part 2 the other 5 (10 septets).
		{"euro_81_no_split_escape", strings.Repeat("€", 81), Count{GSM7, 162, 2, 143}},
		{"accent_in_gsm7", "é", Count{GSM7, 1, 1, 159}},
		{"accent_not_in_gsm7", "ç", Count{UCS2, 1, 1, 69}},
		{"ucs2_70", strings.Repeat("漢", 70), Count{UCS2, 70, 1, 0}},
		{"ucs2_71", strings.Repeat("漢", 71), Count{UCS2, 71, 2, 63}},
		{"emoji_counts_two", "😀", Count{UCS2, 2, 1, 68}},
		{"emoji_35_fits", strings.Repeat("😀", 35), Count{UCS2, 70, 1, 0}},
		// 36 emoji = 72 units: part 1 holds 33 (66 units; a 34th pair would
		// straddle unit 67), part 2 the other 3 (6 units).
		{"emoji_36_no_split_pair", strings.Repeat("😀", 36), Count{UCS2, 72, 2, 61}},
		{"one_emoji_makes_all_ucs2", strings.Repeat("a", 100) + "😀", Count{UCS2, 102, 2, 32}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CountText(tc.text)
			if got != tc.want {
				t.Errorf("CountText = %+v, want %+v", got, tc.want)
			}
			parts, err := EncodeSubmit("+15551234567", tc.text, SubmitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != got.Parts {
				t.Errorf("EncodeSubmit made %d parts, CountText says %d", len(parts), got.Parts)
			}
		})
	}
}

// A split never breaks an escape sequence or a surrogate pair, wherever the
// boundary falls (every offset around the first part's end), with 8- and
// 16-bit references.
func TestSplitKeepsCharactersWhole(t *testing.T) {
	for _, ref16 := range []bool{false, true} {
		for pad := 140; pad < 160; pad++ {
			for _, tail := range []string{"€", "[]", "^x{", "😀", "a😀b😀"} {
				text := strings.Repeat("x", pad) + strings.Repeat(tail, 20)
				if strings.Contains(tail, "😀") {
					text = strings.Repeat("漢", pad/2) + strings.Repeat(tail, 20)
				}
				parts, err := EncodeSubmit("+15551234567", text, SubmitOptions{Ref16: ref16})
				if err != nil {
					t.Fatal(err)
				}
				var joined strings.Builder
				for _, p := range parts {
					s, err := DecodeSubmit(p.TPDU)
					if err != nil {
						t.Fatal(err)
					}
					if strings.ContainsRune(s.Text, '\uFFFD') || strings.HasSuffix(s.Text, " ") {
						t.Errorf("pad %d tail %q ref16 %v: part %d/%d ends in a broken character: %q", pad, tail, ref16, p.Seq, p.Total, s.Text[max(0, len(s.Text)-8):])
					}
					joined.WriteString(s.Text)
				}
				if joined.String() != text {
					t.Errorf("pad %d tail %q ref16 %v: join differs", pad, tail, ref16)
				}
			}
		}
	}
}

func TestEncodeDeliver(t *testing.T) {
	ts := time.Date(2026, 11, 24, 23, 59, 58, 0, time.FixedZone("", 5*3600+45*60)) // Nepal, +05:45
	b, err := EncodeDeliver("+15551234567", "Hello", ts, &Concat{Ref: 0x1234, Total: 2, Seq: 2})
	if err != nil {
		t.Fatal(err)
	}
	d, err := DecodeDeliver(b)
	if err != nil {
		t.Fatal(err)
	}
	if d.Text != "Hello" || d.Concat == nil || *d.Concat != (Concat{Ref: 0x1234, Total: 2, Seq: 2}) || !d.Timestamp.Equal(ts) {
		t.Errorf("decoded %+v", d)
	}
	if _, off := d.Timestamp.Zone(); off != 5*3600+45*60 {
		t.Errorf("zone offset %d, want +05:45", off)
	}
	if _, err := EncodeDeliver("+15551234567", strings.Repeat("a", 161), ts, nil); !errors.Is(err, ErrInvalidText) {
		t.Errorf("161 septets in one DELIVER: err = %v", err)
	}
	if _, err := EncodeDeliver("+15551234567", "a", ts, &Concat{Total: 2, Seq: 3}); !errors.Is(err, ErrInvalidText) {
		t.Errorf("seq > total: err = %v", err)
	}
	if _, err := EncodeDeliver("+15551234567", "a", time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), nil); err == nil {
		t.Error("year 1999: no error")
	}
	// A zone that is not whole quarter hours is rounded; the instant is kept.
	odd := time.Date(2026, 1, 1, 12, 0, 0, 0, time.FixedZone("", 7*60))
	b, _ = EncodeDeliver("+1", "a", odd, nil)
	if d, err := DecodeDeliver(b); err != nil || !d.Timestamp.Equal(odd) {
		t.Errorf("odd zone: %v, %v", d.Timestamp, err)
	}
}

func TestStatusReportRoundTrip(t *testing.T) {
	scts := time.Date(2026, 11, 24, 10, 0, 0, 0, time.FixedZone("", -3*3600-30*60))
	for _, tc := range []struct {
		sr     StatusReport
		status byte
		out    Outcome
	}{
		{StatusReport{MR: 1, Status: 0x00}, 0x00, Delivered},
		{StatusReport{MR: 2, Status: 0x22}, 0x22, Pending},
		{StatusReport{MR: 255, Status: 0x46}, 0x46, Failed},
		{StatusReport{MR: 3, Outcome: Pending}, 0x20, Pending},
		{StatusReport{MR: 4, Outcome: Failed}, 0x40, Failed},
	} {
		sr := tc.sr
		sr.Recipient = Address{Number: "+15551234567"}
		sr.SCTS, sr.Discharge = scts, scts.Add(90*time.Second)
		b, err := EncodeStatusReport(sr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeStatusReport(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.MR != sr.MR || got.Status != tc.status || got.Outcome != tc.out || got.Recipient.Number != "+15551234567" || !got.SCTS.Equal(sr.SCTS) || !got.Discharge.Equal(sr.Discharge) {
			t.Errorf("round trip of %+v: %+v", sr, got)
		}
	}
	// Optional TP-PI with PID, DCS and user data is read (and checked).
	b := testutil.MustHex(t, "06000B910221815716F2709021510121807090215101718000"+"07"+"00"+"00"+"02"+"E834")
	if sr, err := DecodeStatusReport(b); err != nil || sr.Outcome != Delivered {
		t.Errorf("with TP-PI: %+v, %v", sr, err)
	}
}
