package crypt

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/clinicsms/smsd/internal/testutil"
	"golang.org/x/crypto/hkdf"
)

// Golden values in this package's v1 formats (generated once, then frozen): a
// database sealed today must open with every later smsd, so the sealed
// layout, the wrapped-key record and the derived subkeys must not drift.
// Inputs: data key 00 01 .. 1f, KEK 42 × 32.
const (
	goldenSealed  = "0100000001e6e4984bdd9bc1ca611b64f8450ca883181c866bcb505fc558dfcf7821bb63f5166a7f9a7cd4111bd4430958c5ec082726e1e9656013a34a921437eb57f85cacd7"
	goldenPlain   = "Zebedee: appointment 9:30"
	goldenIndex   = "b0357fe89ede64f462dfd4ec967077ae693358a51554d1d4992615682e4dc5a4"
	goldenIdem    = "7356bf60143519e41eeaf5b34cd1cc6eb07caf2bbab5d184104358db554cf1a5"
	goldenWrapped = "534d5344574b3100076b657966696c650000000000000000000083ffec47176ca589b8c9aad0a8eabb576387aefdeaabede830c8ca8b6f211b383210867bba591485c6f1d488a77b00be29d9c68666f8884cc3f6f7a152dd5a40aeb1694101991856f0"
)

func goldenKeys() (DataKey, KEK) {
	var dk DataKey
	for i := range dk {
		dk[i] = byte(i)
	}
	var kek KEK
	for i := range kek {
		kek[i] = 0x42
	}
	return dk, kek
}

func TestStoredFormatsStable(t *testing.T) {
	dk, kek := goldenKeys()
	s := NewSealer(dk)
	t.Run("sealed_value_opens", func(t *testing.T) {
		pt, err := s.Open(testutil.MustHex(t, goldenSealed), AD{"messages", "text_sealed", 42})
		if err != nil || string(pt) != goldenPlain {
			t.Fatalf("golden sealed value: %q %v", pt, err)
		}
		if _, err := s.Open(testutil.MustHex(t, goldenSealed), AD{"messages", "text_sealed", 43}); !errors.Is(err, ErrTampered) {
			t.Fatalf("golden value opened under another row: %v", err)
		}
	})
	t.Run("wrapped_key_unwraps", func(t *testing.T) {
		var w WrappedKey
		if err := w.UnmarshalBinary(testutil.MustHex(t, goldenWrapped)); err != nil {
			t.Fatal(err)
		}
		got, err := Unwrap(w, kek)
		if err != nil || got != dk {
			t.Fatalf("golden wrapped key: %v", err)
		}
	})
	t.Run("indexes", func(t *testing.T) {
		if got := hex.EncodeToString(s.BlindIndex("+15551234567")); got != goldenIndex {
			t.Fatalf("blind index changed: %s", got)
		}
		if got := hex.EncodeToString(s.IdempotencyIndex("form-42")); got != goldenIdem {
			t.Fatalf("idempotency index changed: %s", got)
		}
	})
}

// TestBlindIndexConstruction recomputes the blind index from its
// definition: HMAC-SHA256 of the E.164 string under a key derived from the
// data key with HKDF-SHA256 ("smsd blind index v1"), never under the data
// key itself.
func TestBlindIndexConstruction(t *testing.T) {
	dk, _ := goldenKeys()
	sub := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, dk[:], nil, []byte("smsd blind index v1")), sub); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"+15551234567", "+447700900123", "+4915112345678"} {
		m := hmac.New(sha256.New, sub)
		m.Write([]byte(n))
		want := m.Sum(nil)
		if got := NewSealer(dk).BlindIndex(n); !bytes.Equal(got, want) {
			t.Fatalf("%s: index %x, want HMAC-SHA256(HKDF(dk), e164) %x", n, got, want)
		}
		direct := hmac.New(sha256.New, dk[:])
		direct.Write([]byte(n))
		if bytes.Equal(direct.Sum(nil), want) {
			t.Fatal("blind index keyed with the data key itself")
		}
	}
}

// TestVerifyPasswordReferenceVectors: PHC strings made by the argon2
// reference implementation (P-H-C/phc-winner-argon2, src/test.c) verify,
// so hashes are interchangeable with other argon2id tools.
func TestVerifyPasswordReferenceVectors(t *testing.T) {
	for _, tc := range []struct {
		name, phc string
	}{
		{"m65536_t2_p1", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
		{"m256_t2_p1", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ok, err := VerifyPassword(tc.phc, "password"); !ok || err != nil {
				t.Fatalf("reference vector refused: %v", err)
			}
			if ok, err := VerifyPassword(tc.phc, "passwore"); ok || err != nil {
				t.Fatalf("reference vector accepted a wrong password: %v", err)
			}
		})
	}
}
