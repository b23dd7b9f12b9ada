package dispatch

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
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
	var lat, after []time.Duration
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
			t1 := time.Now()
			select {
			case at := <-wire:
				lat = append(lat, at.Sub(t0))
				after = append(after, at.Sub(t1))
			case <-time.After(10 * time.Second):
				b.Fatal("no AT+CMGS within 10 s of the enqueue")
			}
			sent++
			r.waitHandset(0, sent, 10*time.Second)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(after)
	pct := func(d []time.Duration, p float64) float64 {
		return float64(d[int(p*float64(len(d)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(lat, 0.50), "p50-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ms")
	b.ReportMetric(pct(lat, 1), "max-ms")
	// The part after Enqueue returned (wake, claim, encode, write): what
	// dispatch adds to the store's commit.
	b.ReportMetric(pct(after, 0.50), "dispatch-p50-ms")
	b.ReportMetric(pct(after, 0.99), "dispatch-p99-ms")
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

// BenchmarkIdleCPU measures the CPU the whole process (dispatcher, modem
// health checks, emulator) uses while the queue is empty: a busy-polling
// loop would show here. Reported as CPU milliseconds per wall second over
// 3 s of idling per op, with the default health interval.
func BenchmarkIdleCPU(b *testing.B) {
	r := newRig(b)
	r.cfg.Modems[0].Modem.HealthInterval = 0 // the daemon's default
	r.start()
	r.waitReady()
	r.eventually("loop idle", 10*time.Second, func() bool { return r.d.Status().Modems[0].State == StateIdle })
	var cpu, wall time.Duration
	b.ResetTimer()
	for range b.N {
		c0, t0 := processCPU(b), time.Now()
		time.Sleep(3 * time.Second)
		cpu += processCPU(b) - c0
		wall += time.Since(t0)
	}
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/wall.Seconds(), "cpu-ms/s")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
