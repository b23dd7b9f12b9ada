package pdu

import (
	"strings"
	"testing"
	"time"
)

// A 3-part GSM-7 reminder (350 septets, with extension characters) and a
// 3-part UCS-2 one (150 UTF-16 units, with emoji).
var (
	benchGSM7 = strings.Repeat("Reminder: Dr Lee {room 4} tomorrow 10:30, copay 20€. ", 7)[:350]
	benchUCS2 = strings.Repeat("予約のお知らせ😀明日", 15)
)

func benchEncode(b *testing.B, text string) {
	parts, _ := EncodeSubmit("+15551234567", text, SubmitOptions{Reference: 7})
	if len(parts) != 3 {
		b.Fatalf("%d parts, want 3", len(parts))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeSubmit("+15551234567", text, SubmitOptions{Reference: 7, StatusReport: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, text string) {
	tpdus, err := EncodeDeliverParts("+15551234567", text, time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), 7)
	if err != nil || len(tpdus) != 3 {
		b.Fatalf("%d parts, %v", len(tpdus), err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range tpdus {
			if _, err := DecodeDeliver(p); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchDecodeJoin is the receive path of the modem: decode the 3 parts,
// arriving out of order, and join them in the Reassembler.
func benchDecodeJoin(b *testing.B, text string) {
	ts := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	tpdus, err := EncodeDeliverParts("+15551234567", text, ts, 7)
	if err != nil || len(tpdus) != 3 {
		b.Fatalf("%d parts, %v", len(tpdus), err)
	}
	order := []int{2, 0, 1}
	b.ReportAllocs()
	for b.Loop() {
		var r Reassembler
		var got *Assembled
		for _, i := range order {
			d, err := DecodeDeliver(tpdus[i])
			if err != nil {
				b.Fatal(err)
			}
			if a, ok := r.Add(d, i, ts); ok {
				got = a
			}
		}
		if got == nil || got.Text != text {
			b.Fatal("not reassembled")
		}
	}
}

func BenchmarkEncodeSubmit3PartsGSM7(b *testing.B)  { benchEncode(b, benchGSM7) }
func BenchmarkEncodeSubmit3PartsUCS2(b *testing.B)  { benchEncode(b, benchUCS2) }
func BenchmarkDecodeDeliver3PartsGSM7(b *testing.B) { benchDecode(b, benchGSM7) }
func BenchmarkDecodeDeliver3PartsUCS2(b *testing.B) { benchDecode(b, benchUCS2) }
func BenchmarkDecodeJoin3PartsGSM7(b *testing.B)    { benchDecodeJoin(b, benchGSM7) }
func BenchmarkDecodeJoin3PartsUCS2(b *testing.B)    { benchDecodeJoin(b, benchUCS2) }

func BenchmarkCountText3PartsGSM7(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		CountText(benchGSM7)
	}
}
