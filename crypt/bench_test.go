package crypt

import (
	"syscall"
	"testing"
	"time"
)

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
//
// It also reports the process's CPU time per derivation (cpu-ns/op), which
// a busy shared machine inflates far less than the wall time: the four
// lanes' work, which a Pi 4 spreads over its four cores.
func BenchmarkPassphraseKEK(b *testing.B) {
	salt, _ := NewSalt()
	cpu0 := cpuTime()
	for b.Loop() {
		KEKFromPassphrase([]byte("correct horse battery staple"), salt, PassphraseParams)
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
