package pdu

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// modemMaxParts is the modem's default part cap (modem.Config.MaxParts).
const modemMaxParts = 6

// randomText draws a text from a mix of the alphabets a clinic's messages
// use: GSM-7 basic and extension characters, Latin accents outside GSM-7,
// CJK, emoji outside the BMP, and any other valid code point. Some texts are
// pure GSM-7 so that both encodings and their split rules get exercised.
func randomText(r *rand.Rand, maxRunes int) string {
	n := r.IntN(maxRunes + 1)
	gsmOnly := r.IntN(2) == 0
	var sb strings.Builder
	for i := 0; i < n; i++ {
		var c rune
		switch k := r.IntN(10); {
		case k < 5:
			c = gsm7Basic[r.IntN(128)]
			if c == gsm7Escape {
				c = ' '
			}
		case k < 7:
			c = []rune("€[]{}^~\\|\f")[r.IntN(10)]
		case gsmOnly:
			c = 'a' + rune(r.IntN(26))
		case k == 7:
			c = []rune("çêâîôûëïÀÈ漢字予約😀👍🏽❤️🦷")[r.IntN(18)]
		case k == 8:
			c = 0x1F300 + rune(r.IntN(0x300)) // emoji: surrogate pairs in UTF-16
		default:
			for {
				c = rune(r.IntN(0x110000))
				if utf8.ValidRune(c) {
					break
				}
			}
		}
		sb.WriteRune(c)
	}
	return sb.String()
}

// Encode then decode is the identity, for random Unicode texts of every
// length up to (and a little beyond) the modem's part cap, with 8- and
// 16-bit references; CountText agrees with what EncodeSubmit produced; and
// beyond the cap EncodeSubmit refuses with ErrTooManyParts.
func TestRoundTripSubmitProperty(t *testing.T) {
	iterations := 3000
	if testing.Short() {
		iterations = 500
	}
	r := rand.New(rand.NewPCG(20261124, 2))
	// atCap counts messages of exactly modemMaxParts parts per encoding,
	// refused those beyond it: the property must hold up to the cap, so
	// the draw has to reach it.
	atCap := map[Encoding]int{}
	refused := 0
	defer func() {
		t.Logf("%d texts: %d GSM-7 and %d UCS-2 at exactly %d parts, %d refused beyond the cap", iterations, atCap[GSM7], atCap[UCS2], modemMaxParts, refused)
		if atCap[GSM7] == 0 || atCap[UCS2] == 0 || refused == 0 {
			t.Errorf("the random texts never reached the part cap in both encodings, or never exceeded it")
		}
	}()
	for i := 0; i < iterations; i++ {
		// Up to 6 parts of GSM-7 is 918 septets; texts up to ~1000 runes
		// also exceed the cap in UCS-2, which tests the refusal.
		text := randomText(r, 1000)
		opt := SubmitOptions{MaxParts: modemMaxParts, Reference: uint16(r.IntN(65536)), Ref16: r.IntN(2) == 0, MR: byte(i)}
		parts, err := EncodeSubmit("+15551234567", text, opt)
		c := CountText(text)
		if errors.Is(err, ErrTooManyParts) {
			if c.Parts <= modemMaxParts && !opt.Ref16 {
				t.Fatalf("#%d: ErrTooManyParts but CountText says %d parts", i, c.Parts)
			}
			refused++
			continue
		}
		if err != nil {
			t.Fatalf("#%d: EncodeSubmit: %v", i, err)
		}
		if !opt.Ref16 && (c.Parts != len(parts) || c.Encoding != encodingOf(t, parts[0])) {
			t.Fatalf("#%d: CountText = %+v, EncodeSubmit made %d parts", i, c, len(parts))
		}
		var joined strings.Builder
		for j, p := range parts {
			if len(p.TPDU) > 176 { // 140 octets of user data plus the largest header
				t.Fatalf("#%d part %d: TPDU of %d octets", i, j+1, len(p.TPDU))
			}
			s, err := DecodeSubmit(p.TPDU)
			if err != nil {
				t.Fatalf("#%d part %d: DecodeSubmit: %v", i, j+1, err)
			}
			if len(parts) > 1 {
				wantRef := opt.Reference
				if !opt.Ref16 {
					wantRef &= 0xFF
				}
				if s.Concat == nil || s.Concat.Seq != j+1 || s.Concat.Total != len(parts) || s.Concat.Ref != wantRef {
					t.Fatalf("#%d part %d: Concat = %+v", i, j+1, s.Concat)
				}
			} else if s.Concat != nil {
				t.Fatalf("#%d: single part has Concat %+v", i, *s.Concat)
			}
			// Each part decodes on its own to whole characters: a split
			// inside an escape or a surrogate pair would show up as a
			// space/U+FFFD here and break the join below.
			joined.WriteString(s.Text)
		}
		if joined.String() != text {
			t.Fatalf("#%d: round trip (ref16=%v)\n got %q\nwant %q", i, opt.Ref16, joined.String(), text)
		}
		if len(parts) == modemMaxParts {
			atCap[encodingOf(t, parts[0])]++
		}
	}
}

func encodingOf(t *testing.T, p Part) Encoding {
	s, err := DecodeSubmit(p.TPDU)
	if err != nil {
		t.Fatal(err)
	}
	return s.Encoding
}

// The network direction: EncodeDeliverParts → DecodeDeliver → Reassembler
// (parts shuffled, some duplicated) gives back the text.
func TestRoundTripDeliverProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	ts := time.Date(2026, 11, 24, 9, 0, 0, 0, time.FixedZone("", -5*3600))
	senders := []string{"+15551234567", "0612345678", "CLINIC", "Clinic@Home", "Dr. Who?"}
	var re Reassembler
	for i := 0; i < 500; i++ {
		text := randomText(r, 700)
		from := senders[i%len(senders)]
		tpdus, err := EncodeDeliverParts(from, text, ts, uint16(r.IntN(65536)))
		if err != nil {
			t.Fatalf("#%d: EncodeDeliverParts: %v", i, err)
		}
		order := r.Perm(len(tpdus))
		if len(tpdus) > 1 {
			order = append(order, order[0]) // a duplicate, as modems sometimes deliver
		}
		var got *Assembled
		for k, idx := range order {
			d, err := DecodeDeliver(tpdus[idx])
			if err != nil {
				t.Fatalf("#%d part %d: %v", i, idx+1, err)
			}
			if d.From.Number != from || !d.Timestamp.Equal(ts) {
				t.Fatalf("#%d: From %q ts %v", i, d.From.Number, d.Timestamp)
			}
			a, done := re.Add(d, idx, ts)
			if done {
				if got != nil {
					t.Fatalf("#%d: completed twice", i)
				}
				got = a
				if k != len(tpdus)-1 {
					t.Fatalf("#%d: completed after %d of %d parts", i, k+1, len(tpdus))
				}
			}
		}
		if got == nil || got.Text != text || got.Parts != len(tpdus) || len(got.Missing) != 0 {
			t.Fatalf("#%d: assembled %+v, want %q", i, got, text)
		}
		// The duplicate came after completion: dropped, its key handed out
		// for deletion, nothing left pending to surface later as a
		// spurious incomplete message.
		if disc := re.Discarded(); len(tpdus) > 1 && (len(disc) != 1 || disc[0] != order[0]) {
			t.Fatalf("#%d: Discarded = %v, want [%d]", i, disc, order[0])
		}
		if re.Pending() != 0 {
			t.Fatalf("#%d: %d messages pending after completion", i, re.Pending())
		}
	}
	if exp := re.Expire(ts.Add(48 * time.Hour)); len(exp) != 0 {
		t.Fatalf("Expire handed out %d messages, want none", len(exp))
	}
}

// Alphanumeric senders round-trip, including names with '@' (septet 0x00)
// and extension characters, and names that fill 7 octets exactly.
func TestAlphanumericAddressRoundTrip(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, name := range []string{"A", "CLINIC", "ABCDEFG", "Dr Smith", "Clinic@Home", "@clinic", "Dental{1}", "Ñandù ÄÖÜ", "Clinic-Home"} {
		b, err := EncodeDeliver(name, "x", ts, nil)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		d, err := DecodeDeliver(b)
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if d.From.Number != name || d.From.TON != TONAlphanumeric {
			t.Errorf("%q: decoded %+v", name, d.From)
		}
	}
	for _, bad := range []string{"TwelveChars!", "漢字クリニック", "€€€€€€"} {
		if _, err := EncodeDeliver(bad, "x", ts, nil); !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("%q: err = %v, want ErrInvalidAddress", bad, err)
		}
	}
}
