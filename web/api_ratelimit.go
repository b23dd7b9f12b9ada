package web

import (
	"sync"
	"time"
)

// rateLimiter is a token bucket per key (an API token's name), in memory:
// each bucket holds at most burst requests and refills at rate a second.
// A restart forgets the buckets, which only ever lets a client through
// sooner. golang.org/x/time/rate would do the same; these few lines spare
// a dependency.
type rateLimiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

// bucket is one key's requests left, as of last.
type bucket struct {
	tokens float64
	last   time.Time
}

// newRateLimiter makes a limiter of rate requests a second, bursts of
// burst, on the clock now.
func newRateLimiter(rate, burst int, now func() time.Time) *rateLimiter {
	return &rateLimiter{rate: float64(rate), burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// allow takes one request from key's bucket. When the bucket is empty it
// reports false and how long until a request is allowed again.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}
