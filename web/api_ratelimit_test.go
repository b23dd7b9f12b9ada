package web

import (
	"testing"
	"time"
)

// TestAPIRateLimiter: the token bucket on a clock the test moves: a burst
// at once, then one request per 1/rate, a full bucket after a long pause
// and never more; each key has its own bucket; the wait it tells is the
// time until the next request is allowed.
func TestAPIRateLimiter(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	l := newRateLimiter(10, 20, func() time.Time { return now })
	for i := range 20 {
		if ok, _ := l.allow("pms"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow("pms")
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("the 21st request: allowed %v, wait %v; want refused, 100ms", ok, wait)
	}
	if ok, _ := l.allow("lab"); !ok {
		t.Error("another key was refused by pms's bucket")
	}
	for _, step := range []struct {
		advance time.Duration
		allowed int // requests allowed after the advance, at once
	}{
		{50 * time.Millisecond, 0},
		{50 * time.Millisecond, 1},
		{time.Second, 10},
		{250 * time.Millisecond, 2}, // 2.5 requests' worth: the half stays
		{50 * time.Millisecond, 1},
		{time.Hour, 20}, // never more than the burst
		{-time.Minute, 0},
	} {
		now = now.Add(step.advance)
		n := 0
		for {
			ok, wait := l.allow("pms")
			if !ok {
				if wait <= 0 || wait > 100*time.Millisecond {
					t.Errorf("after %v: wait %v, want within (0, 100ms]", step.advance, wait)
				}
				break
			}
			n++
		}
		if n != step.allowed {
			t.Errorf("after %v: %d requests allowed, want %d", step.advance, n, step.allowed)
		}
	}
}
