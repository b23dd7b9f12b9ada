package crypt

import (
	"bytes"
	"errors"
	"testing"
)

// TestSealPadded: texts of different lengths within one PadStep seal to
// ciphertexts of equal length, and one byte more than a step to a longer
// one; every value opens to exactly what was sealed; values sealed before
// (unpadded, version 1) still open; the version byte, the padding and the
// length cannot be changed.
func TestSealPadded(t *testing.T) {
	dk, err := NewDataKey()
	if err != nil {
		t.Fatal(err)
	}
	s := NewSealer(dk)
	ad := AD{Table: "messages", Column: "text_sealed", RowID: 7}
	stop := s.SealPadded([]byte("STOP"), ad)
	reminder := s.SealPadded([]byte("Reminder: appt Tue 9:30"), ad) // 23 bytes: same step as STOP
	if len(stop) != len(reminder) {
		t.Fatalf("STOP sealed to %d bytes, a 23-byte reminder to %d", len(stop), len(reminder))
	}
	if len(s.Seal([]byte("STOP"), ad)) == len(s.Seal([]byte("Reminder: appt Tue 9:30"), ad)) {
		t.Fatal("unpadded seals of different lengths should differ (the test would prove nothing)")
	}
	long := s.SealPadded(bytes.Repeat([]byte("x"), PadStep-4+1), ad) // one byte past the first step
	if len(long) != len(stop)+PadStep {
		t.Fatalf("a value one byte past a step sealed to %d bytes, want %d", len(long), len(stop)+PadStep)
	}
	for _, v := range []string{"", "STOP", "Reminder: appt Tue 9:30", string(bytes.Repeat([]byte("y"), 28)), string(bytes.Repeat([]byte("z"), 29)), "+15551234567\x00"} {
		c := s.SealPadded([]byte(v), ad)
		if (len(c)-Overhead)%PadStep != 0 {
			t.Errorf("%q: %d plaintext bytes sealed, not a multiple of %d", v, len(c)-Overhead, PadStep)
		}
		got, err := s.Open(c, ad)
		if err != nil || string(got) != v {
			t.Errorf("%q opened to %q, %v", v, got, err)
		}
	}
	// A value sealed before padding (version 1) still opens.
	old := s.Seal([]byte("an old unpadded text"), ad)
	if got, err := s.Open(old, ad); err != nil || string(got) != "an old unpadded text" {
		t.Fatalf("old value: %q %v", got, err)
	}
	// The version byte is authenticated: neither way can it be switched.
	for _, c := range [][]byte{old, stop} {
		c = bytes.Clone(c)
		c[0] ^= 3 // 1 <-> 2
		if _, err := s.Open(c, ad); !errors.Is(err, ErrTampered) {
			t.Fatalf("switched version opened: %v", err)
		}
	}
	// Any flipped byte (header, nonce, padding, length) is refused.
	for i := range stop {
		c := bytes.Clone(stop)
		c[i] ^= 0x40
		if _, err := s.Open(c, ad); !errors.Is(err, ErrTampered) {
			t.Fatalf("byte %d flipped: opened (%v)", i, err)
		}
	}
	if Generation(stop) != s.Gen() {
		t.Fatalf("generation of a padded value: %d", Generation(stop))
	}
}

// TestOpenPaddedBadLength: a version 2 value whose authenticated length
// does not fit its plaintext (only a bug could seal one) is refused.
func TestOpenPaddedBadLength(t *testing.T) {
	dk, _ := NewDataKey()
	s := NewSealer(dk)
	ad := AD{Table: "t", Column: "c", RowID: 1}
	pt := make([]byte, PadStep)
	pt[3] = PadStep // says PadStep bytes follow, only PadStep-4 do
	if _, err := s.Open(s.sealHdr(pt, ad, sealVersionPadded), ad); !errors.Is(err, ErrTampered) {
		t.Fatalf("bad length opened: %v", err)
	}
	if _, err := s.Open(s.sealHdr(pt[:PadStep-1], ad, sealVersionPadded), ad); !errors.Is(err, ErrTampered) {
		t.Fatalf("unpadded plaintext under version 2 opened: %v", err)
	}
}
