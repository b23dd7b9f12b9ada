package dispatch

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/queue"
)

// BenchmarkClickToWire measures, for single messages into an idle queue,
// the time from calling Enqueue (the "click") to the first byte of AT+CMGS
// arriving at the emulated modem (the wire).
// One op is 200 messages; p50 and p99 are reported in ms.
func BenchmarkClickToWire(b *testing.B) {
	const perOp = 200
	r := newRig(b)
	e := r.emus[0]
	wire := make(chan time.Time, 1)
	e.OnCommand(func(cmd string, at time.Time) {
		if strings.HasPrefix(strings.ToUpper(cmd), "AT+CMGS=") {
			select {
			case wire <- at:
			default:
			}
		}
	})
	r.start()
	r.waitReady()
	ctx := context.Background()
	var lat []time.Duration
	sent := 0
	b.ResetTimer()
	for range b.N {
		for i := range perOp {
			// An idle queue: the previous message is done and the loop asleep.
			r.eventually("loop idle", 10*time.Second, func() bool { return r.d.Status().Modems[0].State == StateIdle })
			t0 := time.Now()
			if _, err := r.store.Enqueue(ctx, queue.NewMessage{To: alice, Text: fmt.Sprintf("Reminder %d", i)}); err != nil {
				b.Fatal(err)
			}
			select {
			case at := <-wire:
				lat = append(lat, at.Sub(t0))
			case <-time.After(10 * time.Second):
				b.Fatal("no AT+CMGS within 10 s of the enqueue")
			}
			sent++
			r.waitHandset(0, sent, 10*time.Second)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
}

// BenchmarkDrain measures how fast a full queue drains through one modem
// with no modem latency and no rate limit: messages per second from the
// first AT+CMGS to the last message on the handset. One op is 300 messages.
func BenchmarkDrain(b *testing.B) {
	const perOp = 300
	for range b.N {
		b.StopTimer()
		r := newRig(b)
		e := r.emus[0]
		e.SetLatency(0)
		first := make(chan time.Time, 1)
		e.OnCommand(func(cmd string, at time.Time) {
			if strings.HasPrefix(strings.ToUpper(cmd), "AT+CMGS=") {
				select {
				case first <- at:
				default:
				}
			}
		})
		batch := make([]queue.NewMessage, perOp)
		for i := range batch {
			batch[i] = queue.NewMessage{To: []string{alice, bob, carol, dave}[i%4], Text: fmt.Sprintf("Reminder %d: appointment", i)}
		}
		if _, err := r.store.EnqueueBatch(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		r.start()
		msgs := r.waitHandset(0, perOp, 2*time.Minute)
		b.StopTimer()
		t0 := <-first
		secs := msgs[len(msgs)-1].At.Sub(t0).Seconds()
		b.ReportMetric(float64(perOp-1)/secs, "msgs/s")
		r.stop()
	}
}
