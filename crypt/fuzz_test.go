package crypt

import (
	"bytes"
	"errors"
	"testing"

	"github.com/clinicsms/smsd/internal/testutil"
)

// FuzzWrappedKey: the wrapped-key record is read from the database file,
// which an attacker with the SD card can edit. Decoding must never panic,
// and whatever decodes must re-encode to the same bytes.
func FuzzWrappedKey(f *testing.F) {
	dk, _ := NewDataKey()
	kek, _ := NewKEK()
	for _, m := range []string{MethodKeyFile, MethodCredential} {
		w, _ := Wrap(dk, kek, m, nil, Argon2Params{})
		b, _ := w.MarshalBinary()
		f.Add(b)
	}
	salt, _ := NewSalt()
	w, _ := Wrap(dk, kek, MethodPassphrase, salt, Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1})
	b, _ := w.MarshalBinary()
	f.Add(b)
	f.Add([]byte("SMSDWK1\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var w WrappedKey
		if err := w.UnmarshalBinary(in); err != nil {
			return
		}
		out, err := w.MarshalBinary()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("round trip: %v\n%x\n%x", err, in, out)
		}
		if _, err := Unwrap(w, kek); err != nil && err != ErrWrongKey {
			t.Fatalf("unwrap of a decoded record: %v", err)
		}
	})
}

// FuzzParsePHC: password hashes come from the database. No panic, bounded
// parameters, and what parses re-verifies without error.
func FuzzParsePHC(f *testing.F) {
	phc, _ := hashPassword("pw", Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1})
	f.Add(phc)
	f.Add("$argon2id$v=19$m=32768,t=2,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2i$v=19$m=1,t=1,p=1$$")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePHC(s)
		if err != nil {
			return
		}
		if p.Params.MemoryKiB > maxArgonMemory || p.Params.Time > maxArgonTime || p.Params.Threads > maxArgonThread {
			t.Fatalf("unbounded parameters accepted: %+v", p.Params)
		}
		if p.Params.MemoryKiB <= 4096 && p.Params.Time <= 4 {
			if _, err := VerifyPassword(s, "pw"); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzParseKey: key files and credentials are outside input.
func FuzzParseKey(f *testing.F) {
	f.Add([]byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"))
	f.Add(bytes.Repeat([]byte{1}, 32))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, in []byte) {
		k, err := ParseKey(in)
		if err != nil {
			return
		}
		if len(in) != 32 && len(bytes.TrimSpace(in)) != 64 {
			t.Fatalf("accepted %d bytes", len(in))
		}
		_ = k
	})
}

// FuzzOpen: sealed values are read from the database file, which whoever
// holds the SD card can edit. Open must never panic, and must accept
// nothing but the one value Seal made for that place (the golden value;
// seeds must be fixed bytes, because fuzzing workers are separate processes
// and a freshly sealed value has a random nonce): anything else is
// ErrTampered, never garbage plaintext.
func FuzzOpen(f *testing.F) {
	dk, _ := goldenKeys()
	s := NewSealer(dk)
	golden := testutil.MustHex(f, goldenSealed)
	f.Add(golden, int64(42))
	f.Add(golden[:Overhead], int64(42))
	f.Add([]byte{1, 0, 0, 0, 1}, int64(42))
	f.Add([]byte{}, int64(0))
	f.Fuzz(func(t *testing.T, in []byte, row int64) {
		pt, err := s.Open(in, AD{Table: "messages", Column: "text_sealed", RowID: row})
		if err != nil {
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("error is not ErrTampered: %v", err)
			}
			return
		}
		if !bytes.Equal(in, golden) || row != 42 || string(pt) != goldenPlain {
			t.Fatalf("opened a value Seal never made for row %d: %x → %q", row, in, pt)
		}
	})
}
