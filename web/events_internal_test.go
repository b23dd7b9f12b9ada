package web

import (
	"sync"
	"testing"
	"time"
)

// closingSource is a change signal as daemon gives it: a channel closed,
// and replaced by a new one, at each change.
type closingSource struct {
	mu sync.Mutex
	ch chan struct{}
}

func (c *closingSource) changes() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

func (c *closingSource) change() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
	}
	c.ch = make(chan struct{})
}

// TestHubLosesNoChange: a change made right after another (while the
// streams are told of the first, or in the gap after it) still reaches
// every stream: the live page's last refresh comes after the last change.
func TestHubLosesNoChange(t *testing.T) {
	src := &closingSource{}
	h := &streamHub{changes: src.changes, subs: map[chan struct{}]struct{}{}, closed: make(chan struct{})}
	defer h.shutdown()
	a, ok := h.subscribe()
	b, ok2 := h.subscribe()
	if !ok || !ok2 {
		t.Fatal("subscribe refused")
	}
	defer h.unsubscribe(a)
	defer h.unsubscribe(b)
	wait := func(c chan struct{}, what string) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(30 * time.Second):
			t.Fatalf("no signal %s", what)
		}
	}
	for range 5 {
		// Let the watcher take its channel, then change: a burst of
		// three, the last while the first is being told.
		for src.changesTaken() == 0 {
			time.Sleep(time.Millisecond)
		}
		src.change()
		wait(a, "for the first change")
		src.change()
		src.change()
		wait(a, "for the changes after the first")
		wait(b, "for the second stream")
	}
}

// changesTaken reports whether a channel is out (1) or not yet (0).
func (c *closingSource) changesTaken() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		return 0
	}
	return 1
}
