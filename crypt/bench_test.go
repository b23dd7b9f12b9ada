package crypt

import "testing"

// BenchmarkHashPassword measures PasswordParams (the figure behind the
// "about 0.25 s on a Pi 4" choice).
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPassphraseKEK measures PassphraseParams (unlock), the figure
// behind its doc comment: go test ./crypt -run - -bench PassphraseKEK
// -benchtime 4x, and again with -tags purego for the code a Pi runs.
func BenchmarkPassphraseKEK(b *testing.B) {
	salt, _ := NewSalt()
	for b.Loop() {
		KEKFromPassphrase([]byte("correct horse battery staple"), salt, PassphraseParams)
	}
}

func BenchmarkSeal160(b *testing.B) {
	dk, _ := NewDataKey()
	s := NewSealer(dk)
	p := make([]byte, 160)
	b.SetBytes(160)
	for b.Loop() {
		s.Seal(p, AD{"messages", "text_sealed", 1})
	}
}
