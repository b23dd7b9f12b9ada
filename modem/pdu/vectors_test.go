package pdu

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/internal/testutil"
)

func zone(t testing.TB, quarters int) *time.Location {
	t.Helper()
	return time.FixedZone("", quarters*15*60)
}

// Known-good SMS-DELIVER PDUs, as modems print them (SMSC field first).
// Sources: the "hellohello" example of the GSM 03.40 tutorials (dreamfabric),
// the "How are you?" example of many PDU tutorials, the concatenated Polish
// network message from gammu's own test suite (tests/sms-concat-...), and
// PDUs built field by field from 23.040 9.2.2.1. Expected values were
// checked against gammu (python3-gammu DecodePDU) where gammu agrees with
// the standard; see the comments where it does not.
func TestDecodeDeliverVectors(t *testing.T) {
	tests := []struct {
		name     string
		pdu      string
		smsc     string
		from     Address
		ts       time.Time
		enc      Encoding
		class    int
		text     string
		data     []byte
		concat   *Concat
		pid      byte
		moreMsgs bool
	}{
		{
			name: "how_are_you_gsm7",
			pdu:  "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07",
			smsc: "+31624000000",
			from: Address{Number: "+31641600986", TON: TONInternational, NPI: NPIISDN},
			// TZ octet 0x08: sign bit set, zero quarters: "-00:00" is UTC.
			ts:    time.Date(2002, 8, 26, 19, 37, 41, 0, time.UTC),
			enc:   GSM7,
			class: -1,
			text:  "How are you?",
		},
		{
			// TP-OA type 0xC8 (TON subscriber, NPI national). SCTS year "99":
			// 23.040 gives two digits only; smsd reads 2000+YY (gammu reads 2089).
			name:  "hellohello_subscriber_number",
			pdu:   "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37",
			smsc:  "+27381000015",
			from:  Address{Number: "27838890001", TON: TONSubscriber, NPI: 8},
			ts:    time.Date(2099, 3, 29, 15, 16, 59, 0, zone(t, 8)),
			enc:   GSM7,
			class: -1,
			text:  "hellohello",
		},
		{
			// Part 1 of 8 with an 8-bit reference: 6 UDH octets, then one fill
			// bit, then the septets (23.040 9.2.3.24). The text starts with a
			// space in the original message.
			name:   "gammu_concat_part1_fill_bit",
			pdu:    "07918497900000F6400B918406290000F4000002219221351140A005000363080140CCB7BCDC06A5E1F37A1B447EB3DF72D03C4D0785DB653A0B347EBBE7E531BD4CAFCB4161721A9E9E8FD3EE33A8CC4ED35D206899CD2EBBE9E579BC5E06D9D3F47019E42EC7EB6550F95C9ED3C37316C81CAE8FD3E2FA1C5496BFE7A0B49B054A87C775767A0E4AC3E7F5B60B34ADCFE16537393D9F9741E4F4D99D9ECFD36D10FC2DA7D3D3",
			smsc:   "+48790900006",
			from:   Address{Number: "+48609200004", TON: TONInternational, NPI: NPIISDN},
			ts:     time.Date(2020, 12, 29, 12, 53, 11, 0, zone(t, 4)),
			enc:    GSM7,
			class:  -1,
			text:   " Lorem ipsum dolor sit amet, consectetur adipiscing elit. Pellentesque vitae neque egestas, faucibus eros in, iaculis ipsum. Suspendisse dignissim portti",
			concat: &Concat{Ref: 0x63, Total: 8, Seq: 1},
			// First octet 0x40: TP-MMS 0 means "more messages are waiting".
			moreMsgs: true,
		},
		{
			// Alphanumeric originator (TON 101): "CLINIC" packed in GSM-7,
			// length 11 semi-octets. SCTS with a negative zone (-05:00 = -20
			// quarters, sign bit 3). UCS-2 text with a surrogate pair.
			name:  "alphanumeric_ucs2_emoji_negative_zone",
			pdu:   "00" + "04" + "0BD04366D2991C02" + "00" + "08" + "621142510000" + "0A" + "0C" + "0048006900200020D83DDE00",
			from:  Address{Number: "CLINIC", TON: TONAlphanumeric, NPI: NPIUnknown},
			ts:    time.Date(2026, 11, 24, 15, 0, 0, 0, zone(t, -20)),
			enc:   UCS2,
			class: -1,
			text:  "Hi  😀",
		},
		{
			// 7-character name that fills 7 octets exactly, with the length
			// given as 14 semi-octets the way gammu writes it: the 8th
			// "septet" is padding, not '@'.
			name:  "alphanumeric_seven_chars_octet_length",
			pdu:   "00" + "04" + "0ED041E19058341E01" + "00" + "00" + "62114251000000" + "02" + "E834",
			from:  Address{Number: "ABCDEFG", TON: TONAlphanumeric},
			ts:    time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC),
			enc:   GSM7,
			class: -1,
			text:  "hi",
		},
		{
			// DCS 0x10: general coding, class 0 (flash), GSM-7. PID 0x00.
			name:  "class0_flash",
			pdu:   "00" + "04" + "0B915155214365F7" + "00" + "10" + "62114251000000" + "02" + "E834",
			from:  Address{Number: "+15551234567", TON: TONInternational, NPI: NPIISDN},
			ts:    time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC),
			enc:   GSM7,
			class: 0,
			text:  "hi",
		},
		{
			// DCS 0xF6: data coding/message class group, 8-bit, class 2 (SIM).
			// TP-MMS 0: more messages waiting.
			name:     "class2_8bit_data",
			pdu:      "00" + "00" + "0B915155214365F7" + "7F" + "F6" + "62114251000000" + "03" + "C0FFEE",
			from:     Address{Number: "+15551234567", TON: TONInternational, NPI: NPIISDN},
			ts:       time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC),
			enc:      Bit8,
			class:    2,
			data:     []byte{0xC0, 0xFF, 0xEE},
			pid:      0x7F,
			moreMsgs: true,
		},
		{
			// 16-bit reference (IEI 0x08), preceded by an unknown element
			// (IEI 0x24, national language single shift, skipped) and
			// followed by an application port element (0x05, skipped).
			// UDHL 15: 16 octets = 128 bits, so 5 fill bits and the text
			// starts at septet 19; TP-UDL = 19 + 2 = 21.
			name: "concat16_unknown_ies_skipped",
			pdu: "00" + "44" + "0B915155214365F7" + "00" + "00" + "62114251000000" + "15" +
				"0F" + "240100" + "080412340302" + "050400000000" + "009D06",
			from:   Address{Number: "+15551234567", TON: TONInternational, NPI: NPIISDN},
			ts:     time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC),
			enc:    GSM7,
			class:  -1,
			text:   "hi",
			concat: &Concat{Ref: 0x1234, Total: 3, Seq: 2},
		},
		{
			// GSM-7 extension characters: ESC 0x65 = €, ESC 0x3C = [, and an
			// escape followed by an undefined code (0x41 'A'): 23.038 6.2.1.1
			// says show the basic-table character.
			name:  "gsm7_escapes",
			pdu:   "00" + "04" + "0B915155214365F7" + "00" + "00" + "62114251000000" + "06" + "9BF286B70902",
			from:  Address{Number: "+15551234567", TON: TONInternational, NPI: NPIISDN},
			ts:    time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC),
			enc:   GSM7,
			class: -1,
			text:  "€[A",
		},
		{
			// A concatenation element with seq 0 must be ignored (23.040
			// 9.2.3.24.1): the part is shown on its own, not lost.
			name:  "concat_seq0_ignored",
			pdu:   "00" + "44" + "0B915155214365F7" + "00" + "00" + "62114251000000" + "09" + "050003010200" + "D069",
			from:  Address{Number: "+15551234567", TON: TONInternational, NPI: NPIISDN},
			ts:    time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC),
			enc:   GSM7,
			class: -1,
			text:  "hi",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			smsc, tpdu, err := SplitSMSC(testutil.MustHex(t, tc.pdu))
			if err != nil {
				t.Fatalf("SplitSMSC: %v", err)
			}
			if smsc != tc.smsc {
				t.Errorf("SMSC = %q, want %q", smsc, tc.smsc)
			}
			d, err := DecodeDeliver(tpdu)
			if err != nil {
				t.Fatalf("DecodeDeliver: %v", err)
			}
			if d.From != tc.from {
				t.Errorf("From = %+v, want %+v", d.From, tc.from)
			}
			if !d.Timestamp.Equal(tc.ts) {
				t.Errorf("Timestamp = %v, want %v", d.Timestamp, tc.ts)
			}
			_, gotOff := d.Timestamp.Zone()
			_, wantOff := tc.ts.Zone()
			if gotOff != wantOff {
				t.Errorf("Timestamp zone offset = %d, want %d", gotOff, wantOff)
			}
			if d.Encoding != tc.enc || d.Class != tc.class || d.PID != tc.pid || d.MoreMessages != tc.moreMsgs {
				t.Errorf("enc/class/pid/mms = %v/%d/%#x/%v, want %v/%d/%#x/%v", d.Encoding, d.Class, d.PID, d.MoreMessages, tc.enc, tc.class, tc.pid, tc.moreMsgs)
			}
			if d.Text != tc.text {
				t.Errorf("Text = %q, want %q", d.Text, tc.text)
			}
			if !bytes.Equal(d.Data, tc.data) {
				t.Errorf("Data = %X, want %X", d.Data, tc.data)
			}
			switch {
			case tc.concat == nil && d.Concat != nil:
				t.Errorf("Concat = %+v, want none", *d.Concat)
			case tc.concat != nil && (d.Concat == nil || *d.Concat != *tc.concat):
				t.Errorf("Concat = %+v, want %+v", d.Concat, *tc.concat)
			}
			// Decode dispatches on TP-MTI to the same result.
			v, err := Decode(tpdu)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if dd, ok := v.(*Deliver); !ok || dd.Text != tc.text {
				t.Errorf("Decode = %T %+v", v, v)
			}
		})
	}
}

// Known SMS-SUBMIT TPDUs that EncodeSubmit must reproduce byte for byte, and
// DecodeSubmit read back.
func TestEncodeSubmitVectors(t *testing.T) {
	tests := []struct {
		name  string
		to    string
		text  string
		opt   SubmitOptions
		tpdus []string
	}{
		{
			// GSM 03.40 tutorial example: TP-VPF relative, TP-VP 0xAA = 4 days.
			name:  "hellohello_vp_4_days",
			to:    "+46708251358",
			text:  "hellohello",
			opt:   SubmitOptions{Validity: 4 * 24 * time.Hour},
			tpdus: []string{"11000B916407281553F80000AA0AE8329BFD4697D9EC37"},
		},
		{
			// warthog618/sms smsdecode test vector (TP-DA "12345", 0x91).
			name:  "hello_world",
			to:    "+12345",
			text:  "Hello world",
			tpdus: []string{"010005912143F500000BC8329BFD06DDDF723619"},
		},
		{
			// National number (TON unknown 0x81), status report requested,
			// MR 7, validity 1 h → TP-VP 11 ((11+1)*5 min).
			name:  "national_srr_vp_1h",
			to:    "0612345678",
			text:  "ok",
			opt:   SubmitOptions{MR: 7, StatusReport: true, Validity: time.Hour},
			tpdus: []string{"31070A816021436587" + "00" + "00" + "0B" + "02" + "EF35"},
		},
		{
			// Extension characters take two septets each: ESC 0x65 (€), ESC 0x28 ({).
			name:  "gsm7_euro_brace",
			to:    "+15551234567",
			text:  "€{",
			tpdus: []string{"01000B915155214365F70000" + "04" + "9BF20605"},
		},
		{
			// Not in GSM-7 (é is, but ç and 漢 are not): UCS-2.
			name:  "ucs2_cjk",
			to:    "+15551234567",
			text:  "漢ç",
			tpdus: []string{"01000B915155214365F70008" + "04" + "6F2200E7"},
		},
		{
			// National service number with the dial characters * and #
			// (23.040 9.1.2.3: semi-octets 0xA and 0xB), odd length: filler
			// 0xF in the last high nibble.
			name:  "national_star_hash",
			to:    "*100#",
			text:  "ok",
			tpdus: []string{"0100058" + "11A00FB" + "0000" + "02" + "EF35"},
		},
		{
			name:  "8bit_data",
			to:    "+15551234567",
			opt:   SubmitOptions{Data: []byte{1, 2, 0xFF}},
			tpdus: []string{"01000B915155214365F70004" + "03" + "0102FF"},
		},
		{
			// 161 GSM-7 septets: 2 parts of 153 + 8, 8-bit reference 0x42.
			// UDH 050003420201 then one fill bit; UDL = 7 + 153 = 160.
			name: "gsm7_two_parts_fill_bit",
			to:   "+15551234567",
			text: strings.Repeat("a", 161),
			opt:  SubmitOptions{Reference: 0x42},
			tpdus: []string{
				"41000B915155214365F70000A0050003420201C2" + strings.Repeat("E170381C0E87C3", 19),
				"41000B915155214365F70000" + "0F" + "050003420202C2E170381C0E8701",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts, err := EncodeSubmit(tc.to, tc.text, tc.opt)
			if err != nil {
				t.Fatalf("EncodeSubmit: %v", err)
			}
			if len(parts) != len(tc.tpdus) {
				t.Fatalf("got %d parts, want %d", len(parts), len(tc.tpdus))
			}
			var joined []byte
			for i, p := range parts {
				if got := EncodeHex(p.TPDU); got != tc.tpdus[i] {
					t.Errorf("part %d:\n got %s\nwant %s", i+1, got, tc.tpdus[i])
				}
				if p.Seq != i+1 || p.Total != len(parts) {
					t.Errorf("part %d: Seq/Total = %d/%d", i+1, p.Seq, p.Total)
				}
				s, err := DecodeSubmit(p.TPDU)
				if err != nil {
					t.Fatalf("DecodeSubmit part %d: %v", i+1, err)
				}
				if s.To.Number != tc.to {
					t.Errorf("DecodeSubmit To = %q, want %q", s.To.Number, tc.to)
				}
				if s.StatusReport != tc.opt.StatusReport || s.MR != tc.opt.MR {
					t.Errorf("DecodeSubmit SRR/MR = %v/%d", s.StatusReport, s.MR)
				}
				if tc.opt.Validity > 0 && s.Validity < tc.opt.Validity {
					t.Errorf("DecodeSubmit Validity = %v, want >= %v", s.Validity, tc.opt.Validity)
				}
				joined = append(joined, s.Text...)
				joined = append(joined, s.Data...)
			}
			want := tc.text
			if tc.opt.Data != nil {
				want = string(tc.opt.Data)
			}
			if string(joined) != want {
				t.Errorf("decoded text = %q, want %q", joined, want)
			}
		})
	}
}

// A status report from a modem (+CDS), as published in a widely read
// tutorial: MR 0, recipient +20121875612, SCTS and DT 2007-09-12 +02:00,
// TP-ST 0 (received by the SME).
func TestDecodeStatusReportVector(t *testing.T) {
	tpdu := testutil.MustHex(t, "06000B910221815716F2709021510121807090215101718000")
	sr, err := DecodeStatusReport(tpdu)
	if err != nil {
		t.Fatal(err)
	}
	want := StatusReport{
		MR:        0,
		Recipient: Address{Number: "+20121875612", TON: TONInternational, NPI: NPIISDN},
		SCTS:      time.Date(2007, 9, 12, 15, 10, 12, 0, zone(t, 8)),
		Discharge: time.Date(2007, 9, 12, 15, 10, 17, 0, zone(t, 8)),
		Status:    0,
		Outcome:   Delivered,
	}
	if sr.MR != want.MR || sr.Recipient != want.Recipient || !sr.SCTS.Equal(want.SCTS) || !sr.Discharge.Equal(want.Discharge) || sr.Status != want.Status || sr.Outcome != want.Outcome {
		t.Errorf("got %+v\nwant %+v", *sr, want)
	}
	v, err := Decode(tpdu)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.(*StatusReport); !ok {
		t.Errorf("Decode returned %T, want *StatusReport", v)
	}
}

// TP-ST → outcome, 23.040 9.2.3.15: every defined value and the edges of
// every range, including reserved and SC-specific values.
func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		st   byte
		want Outcome
		why  string
	}{
		{0x00, Delivered, "short message received by the SME"},
		{0x01, Delivered, "forwarded by the SC to the SME but the SC is unable to confirm delivery"},
		{0x02, Delivered, "short message replaced by the SC"},
		{0x03, Delivered, "reserved, transaction completed range"},
		{0x10, Delivered, "SC specific, transaction completed range"},
		{0x1F, Delivered, "SC specific, transaction completed range"},
		{0x20, Pending, "congestion"},
		{0x21, Pending, "SME busy"},
		{0x22, Pending, "no response from SME"},
		{0x23, Pending, "service rejected"},
		{0x24, Pending, "quality of service not available"},
		{0x25, Pending, "error in SME"},
		{0x26, Pending, "reserved, still trying range"},
		{0x3F, Pending, "SC specific, still trying range"},
		{0x40, Failed, "remote procedure error"},
		{0x41, Failed, "incompatible destination"},
		{0x42, Failed, "connection rejected by SME"},
		{0x43, Failed, "not obtainable"},
		{0x44, Failed, "quality of service not available"},
		{0x45, Failed, "no interworking available"},
		{0x46, Failed, "SM validity period expired"},
		{0x47, Failed, "SM deleted by originating SME"},
		{0x48, Failed, "SM deleted by SC administration"},
		{0x49, Failed, "SM does not exist"},
		{0x5F, Failed, "SC specific, permanent range"},
		{0x60, Failed, "congestion, SC gave up"},
		{0x61, Failed, "SME busy, SC gave up"},
		{0x62, Failed, "no response from SME, SC gave up"},
		{0x63, Failed, "service rejected, SC gave up"},
		{0x64, Failed, "quality of service not available, SC gave up"},
		{0x65, Failed, "error in SME, SC gave up"},
		{0x7F, Failed, "SC specific, temporary-gave-up range"},
		{0x80, Failed, "reserved (bit 7)"},
		{0xFF, Failed, "reserved (bit 7)"},
	}
	for _, tc := range tests {
		if got := OutcomeOf(tc.st); got != tc.want {
			t.Errorf("OutcomeOf(%#02x) [%s] = %v, want %v", tc.st, tc.why, got, tc.want)
		}
	}
	if Outcome(0).String() != "unknown" || Delivered.String() != "delivered" || !Failed.Final() || Pending.Final() {
		t.Error("Outcome String/Final wrong")
	}
}

// TP-DCS, 23.038 chapter 4: every coding group.
func TestParseDCS(t *testing.T) {
	tests := []struct {
		dcs   byte
		enc   Encoding
		class int
		err   error
	}{
		{0x00, GSM7, -1, nil},
		{0x04, Bit8, -1, nil},
		{0x08, UCS2, -1, nil},
		{0x0C, 0, 0, ErrUnsupported}, // reserved alphabet
		{0x10, GSM7, 0, nil},
		{0x11, GSM7, 1, nil},
		{0x16, Bit8, 2, nil},
		{0x1B, UCS2, 3, nil},
		{0x20, 0, 0, ErrUnsupported}, // compressed
		{0x38, 0, 0, ErrUnsupported}, // compressed UCS-2 class 0
		{0x40, GSM7, -1, nil},        // automatic deletion group
		{0x48, UCS2, -1, nil},
		{0x52, GSM7, 2, nil},
		{0x60, 0, 0, ErrUnsupported}, // automatic deletion, compressed
		{0x80, 0, 0, ErrUnsupported}, // reserved coding groups 1000..1011
		{0xB5, 0, 0, ErrUnsupported},
		{0xC0, GSM7, -1, nil}, // MWI discard
		{0xD8, GSM7, -1, nil}, // MWI store
		{0xE8, UCS2, -1, nil}, // MWI store UCS-2
		{0xF0, GSM7, 0, nil},
		{0xF1, GSM7, 1, nil},
		{0xF5, Bit8, 1, nil},
		{0xF7, Bit8, 3, nil},
	}
	for _, tc := range tests {
		d, err := parseDCS(tc.dcs)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("parseDCS(%#02x) err = %v, want %v", tc.dcs, err, tc.err)
			}
			continue
		}
		if err != nil || d.enc != tc.enc || d.class != tc.class {
			t.Errorf("parseDCS(%#02x) = %v/%d/%v, want %v/%d", tc.dcs, d.enc, d.class, err, tc.enc, tc.class)
		}
	}
}

// Compressed or reserved coding in a real PDU is a clear error, not garbage.
func TestDecodeDeliverUnsupportedCoding(t *testing.T) {
	for _, dcs := range []string{"20", "0C", "80", "A4"} {
		tpdu := testutil.MustHex(t, "04"+"0B915155214365F7"+"00"+dcs+"62114251000000"+"02"+"E834")
		_, err := DecodeDeliver(tpdu)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("DCS %s: err = %v, want ErrUnsupported", dcs, err)
			continue
		}
		if !strings.Contains(err.Error(), "data coding 0x"+dcs) {
			t.Errorf("DCS %s: error %q does not name the coding", dcs, err)
		}
	}
}

// Relative validity period, 23.040 9.2.3.12.1: the table's four ranges.
func TestRelativeVP(t *testing.T) {
	tests := []struct {
		vp byte
		d  time.Duration
	}{
		{0, 5 * time.Minute},
		{11, time.Hour},
		{143, 12 * time.Hour},
		{144, 12*time.Hour + 30*time.Minute},
		{167, 24 * time.Hour},
		{168, 2 * 24 * time.Hour},
		{170, 4 * 24 * time.Hour},
		{196, 30 * 24 * time.Hour},
		{197, 5 * 7 * 24 * time.Hour},
		{255, 63 * 7 * 24 * time.Hour},
	}
	for _, tc := range tests {
		if got := decodeRelativeVP(tc.vp); got != tc.d {
			t.Errorf("decodeRelativeVP(%d) = %v, want %v", tc.vp, got, tc.d)
		}
		if got := encodeRelativeVP(tc.d); got != tc.vp {
			t.Errorf("encodeRelativeVP(%v) = %d, want %d", tc.d, got, tc.vp)
		}
	}
	// Between two steps: rounded up, never shorter than asked.
	if got := encodeRelativeVP(61 * time.Minute); got != 12 {
		t.Errorf("encodeRelativeVP(61m) = %d, want 12", got)
	}
	if got := encodeRelativeVP(100 * 7 * 24 * time.Hour); got != 255 {
		t.Errorf("encodeRelativeVP(100 weeks) = %d, want 255 (cap)", got)
	}
}

// GSM-7 packing, 23.038 6.1.2.1.1: 8 septets fill 7 octets exactly.
func TestPackSeptets(t *testing.T) {
	septets := []byte{0x68, 0x65, 0x6C, 0x6C, 0x6F, 0x68, 0x65, 0x6C, 0x6C, 0x6F} // "hellohello"
	got := make([]byte, septetOctets(0, len(septets)))
	packSeptets(got, 0, septets)
	if want := testutil.MustHex(t, "E8329BFD4697D9EC37"); !bytes.Equal(got, want) {
		t.Errorf("pack = %X, want %X", got, want)
	}
	if back := unpackSeptets(got, 0, len(septets)); !bytes.Equal(back, septets) {
		t.Errorf("unpack = %X", back)
	}
	for off := 0; off < 8; off++ {
		buf := make([]byte, septetOctets(off, len(septets)))
		packSeptets(buf, off, septets)
		if back := unpackSeptets(buf, off, len(septets)); !bytes.Equal(back, septets) {
			t.Errorf("bit offset %d: unpack = %X", off, back)
		}
	}
}

// Every character of both GSM-7 tables (23.038 6.2.1, 6.2.1.1) round-trips
// and counts as 1 or 2 septets.
func TestGSM7Tables(t *testing.T) {
	var all []rune
	for i, r := range gsm7Basic {
		if i == gsm7Escape {
			continue
		}
		all = append(all, r)
		if gsm7Len(r) != 1 {
			t.Errorf("%q: gsm7Len = %d, want 1", r, gsm7Len(r))
		}
	}
	for _, r := range "€[]{}^~\\|\f" {
		all = append(all, r)
		if gsm7Len(r) != 2 {
			t.Errorf("%q: gsm7Len = %d, want 2", r, gsm7Len(r))
		}
	}
	for _, r := range "ç`\tÀ漢😀" {
		if gsm7Len(r) != 0 {
			t.Errorf("%q: gsm7Len = %d, want 0 (not GSM-7)", r, gsm7Len(r))
		}
	}
	text := string(all)
	parts, err := EncodeSubmit("+15551234567", text, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	for _, p := range parts {
		s, err := DecodeSubmit(p.TPDU)
		if err != nil {
			t.Fatal(err)
		}
		if s.Encoding != GSM7 {
			t.Fatalf("encoding %v, want GSM-7", s.Encoding)
		}
		got.WriteString(s.Text)
	}
	if got.String() != text {
		t.Errorf("round trip:\n got %q\nwant %q", got.String(), text)
	}
}

func TestSplitSMSC(t *testing.T) {
	tests := []struct {
		in, smsc, tpdu string
	}{
		{"0001", "", "01"},
		{"07917283010010F5AB", "+27381000015", "AB"},
		{"0181AB", "", "AB"},                     // gammu writes an empty SMSC this way
		{"06A1103254769800", "0123456789", "00"}, // national TON: no "+"
		{"069121436587F900", "+123456789", "00"}, // odd digit count: filler nibble
	}
	for _, tc := range tests {
		for _, in := range [][]byte{testutil.MustHex(t, tc.in), []byte(tc.in), []byte(strings.ToLower(tc.in))} {
			smsc, tpdu, err := SplitSMSC(in)
			if err != nil {
				t.Errorf("SplitSMSC(%s): %v", tc.in, err)
				continue
			}
			if smsc != tc.smsc || EncodeHex(tpdu) != tc.tpdu {
				t.Errorf("SplitSMSC(%s) = %q, %X; want %q, %s", tc.in, smsc, tpdu, tc.smsc, tc.tpdu)
			}
		}
	}
	for _, smsc := range []string{"", "+447785016005", "0123456789"} {
		f, err := EncodeSMSC(smsc)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := SplitSMSC(append(f, 0x04))
		if err != nil || got != smsc {
			t.Errorf("EncodeSMSC(%q) → SplitSMSC = %q, %v", smsc, got, err)
		}
	}
}

// TP-VP in an SMS-SUBMIT, 23.040 9.2.3.12: absolute (a timestamp) and the
// enhanced format's variants (9.2.3.12.3: none, relative octet, seconds,
// HH:MM:SS in semi-octets, reserved).
func TestDecodeSubmitValidityPeriod(t *testing.T) {
	const da = "000B915155214365F7" + "0000" // TP-MR, TP-DA, TP-PID, TP-DCS
	tests := []struct {
		name     string
		hex      string
		validity time.Duration
		until    time.Time
		err      error
	}{
		{"none", "01" + da + "02E834", 0, time.Time{}, nil},
		{"relative", "11" + da + "AA" + "02E834", 4 * 24 * time.Hour, time.Time{}, nil},
		{"absolute", "19" + da + "62114251000000" + "02E834", 0, time.Date(2026, 11, 24, 15, 0, 0, 0, time.UTC), nil},
		{"enhanced_not_specified", "09" + da + "00000000000000" + "02E834", 0, time.Time{}, nil},
		{"enhanced_relative_octet", "09" + da + "01AA0000000000" + "02E834", 4 * 24 * time.Hour, time.Time{}, nil},
		{"enhanced_seconds", "09" + da + "025A0000000000" + "02E834", 90 * time.Second, time.Time{}, nil},
		{"enhanced_hhmmss", "09" + da + "03103254000000" + "02E834", time.Hour + 23*time.Minute + 45*time.Second, time.Time{}, nil},
		{"enhanced_hhmmss_not_bcd", "09" + da + "03A03254000000" + "02E834", 0, time.Time{}, ErrMalformed},
		{"enhanced_reserved_format", "09" + da + "04000000000000" + "02E834", 0, time.Time{}, ErrUnsupported},
		{"enhanced_truncated", "09" + da + "0100", 0, time.Time{}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := DecodeSubmit(testutil.MustHex(t, tc.hex))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Validity != tc.validity || !s.ValidUntil.Equal(tc.until) || s.Text != "hi" {
				t.Errorf("Validity %v ValidUntil %v text %q, want %v %v \"hi\"", s.Validity, s.ValidUntil, s.Text, tc.validity, tc.until)
			}
		})
	}
}

// UCS-2 user data with broken surrogates (23.038 6.2.3 allows UTF-16): an
// unpaired one becomes U+FFFD and the rest of the text is kept.
func TestDecodeUCS2Surrogates(t *testing.T) {
	tests := []struct {
		name, hex, want string
	}{
		{"pair", "D83DDE00", "😀"},
		{"high_at_end", "0041D83D", "A\uFFFD"},
		{"high_then_bmp", "D83D0042", "\uFFFDB"},
		{"low_alone", "DE000043", "\uFFFDC"},
		{"two_highs_then_low", "D83DD83DDE00", "\uFFFD😀"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ud := testutil.MustHex(t, tc.hex)
			tpdu := testutil.MustHex(t, "040B915155214365F7"+"0008"+"62114251000000")
			tpdu = append(append(tpdu, byte(len(ud))), ud...)
			d, err := DecodeDeliver(tpdu)
			if err != nil {
				t.Fatal(err)
			}
			if d.Text != tc.want {
				t.Errorf("Text = %q, want %q", d.Text, tc.want)
			}
		})
	}
}

// Escape sequences that the extension table does not define, 23.038 6.2.1.1:
// an unknown code shows the basic-table character; an escape followed by
// another escape (reserved for a further table) or ending the text shows a
// space.
func TestDecodeGSM7EscapeEdges(t *testing.T) {
	tests := []struct {
		name    string
		septets []byte
		want    string
	}{
		{"euro", []byte{0x1B, 0x65}, "€"},
		{"form_feed", []byte{0x1B, 0x0A}, "\f"},
		{"undefined_code_shows_basic", []byte{0x1B, 0x41}, "A"},
		{"undefined_code_shows_basic_non_ascii", []byte{0x1B, 0x00}, "@"},
		{"escape_escape_is_space", []byte{0x1B, 0x1B, 0x41}, " A"},
		{"escape_at_end_is_space", []byte{0x41, 0x1B}, "A "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := decodeGSM7(tc.septets); got != tc.want {
				t.Errorf("unpacked: %q, want %q", got, tc.want)
			}
			// The same septets packed in a real SMS-DELIVER.
			ud := make([]byte, septetOctets(0, len(tc.septets)))
			packSeptets(ud, 0, tc.septets)
			tpdu := testutil.MustHex(t, "040B915155214365F7"+"0000"+"62114251000000")
			tpdu = append(append(tpdu, byte(len(tc.septets))), ud...)
			d, err := DecodeDeliver(tpdu)
			if err != nil {
				t.Fatal(err)
			}
			if d.Text != tc.want {
				t.Errorf("packed: %q, want %q", d.Text, tc.want)
			}
		})
	}
}

// 8-bit data on request (TP-DCS 0x04) is split like text: 134 octets per
// part after an 8-bit reference UDH, 133 after a 16-bit one (23.040
// 9.2.3.24), and comes back byte for byte.
func TestEncodeSubmit8BitMultipart(t *testing.T) {
	data := make([]byte, 300)
	for i := range data {
		data[i] = byte(i * 7)
	}
	tests := []struct {
		name  string
		data  []byte
		ref16 bool
		sizes []int
	}{
		{"single_140", data[:140], false, []int{140}},
		{"two_parts_141", data[:141], false, []int{134, 7}},
		{"three_parts_ref8", data, false, []int{134, 134, 32}},
		{"three_parts_ref16", data, true, []int{133, 133, 34}},
		{"empty", []byte{}, false, []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts, err := EncodeSubmit("+15551234567", "ignored when Data is set", SubmitOptions{Data: tc.data, Ref16: tc.ref16, Reference: 0x1234})
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != len(tc.sizes) {
				t.Fatalf("%d parts, want %d", len(parts), len(tc.sizes))
			}
			var joined []byte
			for i, p := range parts {
				s, err := DecodeSubmit(p.TPDU)
				if err != nil {
					t.Fatal(err)
				}
				if s.Encoding != Bit8 || s.Text != "" || len(s.Data) != tc.sizes[i] {
					t.Errorf("part %d: %v, text %q, %d octets, want 8-bit %d octets", i+1, s.Encoding, s.Text, len(s.Data), tc.sizes[i])
				}
				if len(parts) > 1 && (s.Concat == nil || s.Concat.Seq != i+1 || s.Concat.Total != len(parts)) {
					t.Errorf("part %d: Concat %+v", i+1, s.Concat)
				}
				joined = append(joined, s.Data...)
			}
			if !bytes.Equal(joined, tc.data) {
				t.Errorf("joined data differs")
			}
		})
	}
}

// The optional TP-PI of an SMS-STATUS-REPORT (23.040 9.2.3.27) and the
// fields it announces: bit 0 TP-PID, bit 1 TP-DCS, bit 2 TP-UDL (+ TP-UD),
// bit 7 another TP-PI octet follows. They are read and checked; the report
// itself (MR, TP-ST) is unchanged by them.
func TestDecodeStatusReportParameterIndicator(t *testing.T) {
	const base = "06070B910221815716F2709021510121807090215101718046" // MR 7, TP-ST 0x46
	tests := []struct {
		name string
		pi   string // TP-PI and what follows
		err  error
	}{
		{"no_pi", "", nil},
		{"pi_zero", "00", nil},
		{"pid_only", "01" + "00", nil},
		{"dcs_only", "02" + "08", nil},
		{"udl_gsm7_default", "04" + "02E834", nil},
		{"all_ucs2", "07" + "00" + "08" + "0400480069", nil},
		{"extension_octet", "81" + "00" + "00", nil}, // PID announced by the first octet
		{"two_extension_octets", "80" + "80" + "00", nil},
		{"extension_missing", "80", ErrMalformed},
		{"pid_missing", "01", ErrMalformed},
		{"dcs_missing", "02", ErrMalformed},
		{"dcs_reserved", "02" + "0C", ErrUnsupported},
		{"dcs_compressed_with_ud", "06" + "20" + "00", ErrUnsupported},
		{"ud_longer_than_data", "04" + "05E834", ErrMalformed},
		{"ucs2_ud_odd", "06" + "08" + "03004800", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sr, err := DecodeStatusReport(testutil.MustHex(t, base+tc.pi))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sr.MR != 7 || sr.Status != 0x46 || sr.Outcome != Failed || sr.Recipient.Number != "+20121875612" {
				t.Errorf("got %+v", *sr)
			}
		})
	}
}
