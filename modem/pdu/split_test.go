package pdu

import (
	"testing"
	"time"
)

// gsm7Part is a raw SMS-DELIVER TPDU part seq of total with GSM-7 septets
// packed after an 8-bit concatenation header (23.040 9.2.3.24.1), as a
// sender that cuts without looking at escapes makes it.
func gsm7Part(t *testing.T, ref, total, seq byte, septets []byte) []byte {
	t.Helper()
	udh := []byte{5, ieiConcat8, 3, ref, total, seq}
	b := []byte{mtiDeliver | bitMMS | bitUDHI, 11, 0x91, 0x51, 0x55, 0x02, 0x00, 0x10, 0xF1, 0x00, 0x00}
	b, err := appendTimestamp(b, time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return appendUserData(b, GSM7, udh, septets)
}

// TestReassembleSplitEscape: a GSM-7 escape sequence cut between two parts
// (the escape ends one, the extension code starts the next) arrives as its
// character; an escape that does not dangle, or whose next part never
// came, is decoded as before (23.038 6.2.1 and 6.2.1.1).
func TestReassembleSplitEscape(t *testing.T) {
	ascii := func(s string) []byte { return []byte(s) } // letters, digits, space are their own septets
	cat := func(a ...[]byte) []byte {
		var out []byte
		for _, b := range a {
			out = append(out, b...)
		}
		return out
	}
	cases := []struct {
		name    string
		parts   [][]byte // septets of parts 1.. (nil: the part never came)
		want    string
		missing bool
	}{
		{"euro cut after its escape", [][]byte{cat(ascii("Price 10"), []byte{0x1B}), cat([]byte{0x65}, ascii(" ok"))}, "Price 10€ ok", false},
		{"bracket cut after its escape, three parts", [][]byte{ascii("a"), cat(ascii("b"), []byte{0x1B}), cat([]byte{0x3C}, ascii("c"), []byte{0x1B, 0x3E})}, "ab[c]", false},
		{"two escapes at the end of a part: the second escapes to a space", [][]byte{cat(ascii("x"), []byte{0x1B, 0x1B}), ascii("y")}, "x y", false},
		{"escaped escape then a dangling one", [][]byte{cat(ascii("x"), []byte{0x1B, 0x1B, 0x1B}), cat([]byte{0x65}, ascii("y"))}, "x €y", false},
		{"escape before a code outside the extension table: the basic character", [][]byte{cat(ascii("x"), []byte{0x1B}), ascii("Ay")}, "xAy", false},
		{"no split: parts joined as decoded", [][]byte{ascii("12 "), []byte{0x1B, 0x65}}, "12 €", false},
		{"the part after the escape never came: a space", [][]byte{cat(ascii("x"), []byte{0x1B}), nil}, "x ", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Reassembler{Timeout: time.Hour}
			t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
			var got *Assembled
			for i, s := range c.parts {
				if s == nil {
					continue
				}
				d, err := DecodeDeliver(gsm7Part(t, 42, byte(len(c.parts)), byte(i+1), s))
				if err != nil {
					t.Fatal(err)
				}
				if a, ok := r.Add(d, i, t0); ok {
					got = a
				}
			}
			if c.missing {
				exp := r.Expire(t0.Add(time.Hour))
				if len(exp) != 1 {
					t.Fatalf("expired %d messages, want 1", len(exp))
				}
				got = exp[0]
			}
			if got == nil {
				t.Fatal("message not complete")
			}
			if got.Text != c.want {
				t.Errorf("text %q, want %q", got.Text, c.want)
			}
		})
	}
}
