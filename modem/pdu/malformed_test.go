package pdu

import (
	"errors"
	"strings"
	"testing"

	"github.com/clinicsms/smsd/internal/testutil"
)

// validTPDUs are well-formed TPDUs of every type (no SMSC field); their
// prefixes are truncated PDUs.
var validTPDUs = []string{
	// SMS-DELIVER: GSM-7, concatenated with fill bit.
	"400B918406290000F4000002219221351140A005000363080140CCB7BCDC06A5E1F37A1B447EB3DF72D03C4D0785DB653A0B347EBBE7E531BD4CAFCB4161721A9E9E8FD3EE33A8CC4ED35D206899CD2EBBE9E579BC5E06D9D3F47019E42EC7EB6550F95C9ED3C37316C81CAE8FD3E2FA1C5496BFE7A0B49B054A87C775767A0E4AC3E7F5B60B34ADCFE16537393D9F9741E4F4D99D9ECFD36D10FC2DA7D3D3",
	// SMS-DELIVER: alphanumeric sender, UCS-2.
	"040BD04366D2991C020008621142510000" + "0A" + "0C0048006900200020D83DDE00",
	// SMS-SUBMIT with relative VP.
	"11000B916407281553F80000AA0AE8329BFD4697D9EC37",
	// SMS-STATUS-REPORT.
	"06000B910221815716F2709021510121807090215101718000",
}

// Every strict prefix of a valid TPDU is an error wrapping ErrMalformed
// (never a panic, never a partial message).
func TestTruncatedIsError(t *testing.T) {
	for _, h := range validTPDUs {
		full := testutil.MustHex(t, h)
		if _, err := Decode(full); err != nil {
			if _, err2 := DecodeSubmit(full); err2 != nil {
				t.Fatalf("vector %s does not decode: %v / %v", h, err, err2)
			}
		}
		for n := 0; n < len(full); n++ {
			b := full[:n]
			for name, dec := range decoders {
				_, err := dec(b)
				if err == nil {
					t.Errorf("%s of %d-octet prefix of %s...: no error", name, n, h[:12])
					continue
				}
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
					t.Errorf("%s of %d-octet prefix: error %v wraps neither ErrMalformed nor ErrUnsupported", name, n, err)
				}
			}
		}
	}
}

var decoders = map[string]func([]byte) (any, error){
	"Decode":             Decode,
	"DecodeDeliver":      func(b []byte) (any, error) { return DecodeDeliver(b) },
	"DecodeSubmit":       func(b []byte) (any, error) { return DecodeSubmit(b) },
	"DecodeStatusReport": func(b []byte) (any, error) { return DecodeStatusReport(b) },
}

// Lengths that lie, fields out of range, bad hex: each a clear error.
func TestMalformed(t *testing.T) {
	const oa = "0B915155214365F7"
	const scts = "62114251000000"
	tests := []struct {
		name   string
		decode string // which decoder
		hex    string
		want   error
		msg    string // part of the error text
	}{
		{"empty", "Decode", "", ErrMalformed, "empty"},
		{"udl_longer_than_data", "DecodeDeliver", "04" + oa + "0000" + scts + "0AE834", ErrMalformed, "truncated user data"},
		{"udl_shorter_than_data", "DecodeDeliver", "04" + oa + "0000" + scts + "01E83400", ErrMalformed, "TP-UDL says"},
		{"udl_over_160_septets", "DecodeDeliver", "04" + oa + "0000" + scts + "A1" + strings.Repeat("00", 141), ErrMalformed, "exceeds 160"},
		{"udl_over_140_octets", "DecodeDeliver", "04" + oa + "0008" + scts + "8E" + strings.Repeat("00", 142), ErrMalformed, "exceeds 140"},
		{"address_length_over_20", "DecodeDeliver", "04" + "1591" + strings.Repeat("11", 11) + "0000" + scts + "00", ErrMalformed, "exceeds 20"},
		{"address_filler_in_middle", "DecodeDeliver", "04" + "0B9151F5214365F7" + "0000" + scts + "00", ErrMalformed, "filler"},
		{"udhl_beyond_ud", "DecodeDeliver", "44" + oa + "0004" + scts + "02" + "0500", ErrMalformed, "UDH length"},
		{"udh_ie_beyond_udhl", "DecodeDeliver", "44" + oa + "0004" + scts + "04" + "03000500", ErrMalformed, "UDH element"},
		{"udh_ie_header_cut", "DecodeDeliver", "44" + oa + "0004" + scts + "02" + "0100", ErrMalformed, "truncated"},
		{"udh_concat_wrong_length", "DecodeDeliver", "44" + oa + "0004" + scts + "05" + "0400020102", ErrMalformed, "concatenation element"},
		{"udhi_but_empty_ud", "DecodeDeliver", "44" + oa + "0004" + scts + "00", ErrMalformed, "empty"},
		{"udh_longer_than_udl_gsm7", "DecodeDeliver", "44" + oa + "0000" + scts + "02" + "0500", ErrMalformed, "UDH length"},
		{"ucs2_odd_length", "DecodeDeliver", "04" + oa + "0008" + scts + "03004800", ErrMalformed, "odd number"},
		{"compressed", "DecodeDeliver", "04" + oa + "0020" + scts + "00", ErrUnsupported, "compressed"},
		{"reserved_group", "DecodeDeliver", "04" + oa + "0090" + scts + "00", ErrUnsupported, "reserved coding group"},
		{"deliver_given_submit", "DecodeDeliver", "01000B915155214365F7000000", ErrUnsupported, "not SMS-DELIVER"},
		{"submit_given_deliver", "DecodeSubmit", "04" + oa + "0000" + scts + "00", ErrUnsupported, "not SMS-SUBMIT"},
		{"status_given_deliver", "DecodeStatusReport", "04" + oa + "0000" + scts + "00", ErrUnsupported, "not SMS-STATUS-REPORT"},
		{"decode_submit_report", "Decode", "01000B915155214365F7000000", ErrUnsupported, "TP-MTI 1"},
		{"decode_reserved_mti", "Decode", "03", ErrUnsupported, "TP-MTI 3"},
		{"submit_enhanced_vp_reserved", "DecodeSubmit", "09000B915155214365F70000" + "07000000000000" + "00", ErrUnsupported, "enhanced TP-VP"},
		{"submit_absolute_vp_bad", "DecodeSubmit", "19000B915155214365F70000" + "FF000000000000" + "00", ErrMalformed, "TP-VP"},
		{"status_trailing_junk", "DecodeStatusReport", "06000B910221815716F2709021510121807090215101718000" + "00" + "AB", ErrMalformed, "after the last field"},
		{"status_pi_announces_missing_ud", "DecodeStatusReport", "06000B910221815716F2709021510121807090215101718000" + "04", ErrMalformed, "TP-UDL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := testutil.MustHex(t, tc.hex)
			_, err := decoders[tc.decode](b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			// Errors are logged: they must not carry the phone number.
			if strings.Contains(err.Error(), "5551234567") {
				t.Errorf("error %q contains the phone number", err)
			}
		})
	}
}

func TestBadHex(t *testing.T) {
	for _, s := range []string{"0", "0G", "07 91", "zz", "0791447758100650\x00"} {
		if _, err := DecodeHex(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeHex(%q) err = %v, want ErrMalformed", s, err)
		}
		if _, _, err := SplitSMSC([]byte(s)); err == nil {
			t.Errorf("SplitSMSC(%q): no error", s)
		}
	}
	if b, err := DecodeHex("  0a0B\n"); err != nil || len(b) != 2 {
		t.Errorf("DecodeHex with spaces and mixed case = %X, %v", b, err)
	}
	for _, h := range []string{"0C91", "0791447758", "FF"} {
		if _, _, err := SplitSMSC(testutil.MustHex(t, h)); !errors.Is(err, ErrMalformed) {
			t.Errorf("SplitSMSC(%s) err = %v, want ErrMalformed", h, err)
		}
	}
	if _, _, err := SplitSMSC(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("SplitSMSC(nil) err = %v", err)
	}
}

// Encoder input errors name the problem and never echo number or text.
func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name, to, text string
		opt            SubmitOptions
		want           error
		msg            string
	}{
		{"empty_number", "", "hi", SubmitOptions{}, ErrInvalidAddress, "empty phone number"},
		{"plus_only", "+", "hi", SubmitOptions{}, ErrInvalidAddress, "empty phone number"},
		{"dash", "+1555-123-4567", "hi", SubmitOptions{}, ErrInvalidAddress, "position 5"},
		{"space", "555 1234", "hi", SubmitOptions{}, ErrInvalidAddress, "not a digit"},
		{"letters", "+1555CLINIC", "hi", SubmitOptions{}, ErrInvalidAddress, "not a digit"},
		{"too_long", "+123456789012345678901", "hi", SubmitOptions{}, ErrInvalidAddress, "21 digits"},
		{"bad_utf8", "+15551234567", "caf\xe9", SubmitOptions{}, ErrInvalidText, "UTF-8"},
		{"too_many_parts", "+15551234567", strings.Repeat("x", 154*6), SubmitOptions{MaxParts: 6}, ErrTooManyParts, "7 parts needed, at most 6"},
		{"over_255_parts", "+15551234567", strings.Repeat("漢", 67*256), SubmitOptions{}, ErrTooManyParts, "at most 255"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := EncodeSubmit(tc.to, tc.text, tc.opt)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v saying %q", err, tc.want, tc.msg)
			}
			if len(tc.to) > 1 && strings.Contains(err.Error(), strings.TrimPrefix(tc.to, "+")) {
				t.Errorf("error %q echoes the number", err)
			}
		})
	}
	// Exactly at the cap is fine.
	if parts, err := EncodeSubmit("+15551234567", strings.Repeat("x", 153*6), SubmitOptions{MaxParts: 6}); err != nil || len(parts) != 6 {
		t.Errorf("918 septets with MaxParts 6: %d parts, %v", len(parts), err)
	}
}
