package queue

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestChecksSeeOneSnapshot: reading sessions (their row, tag and the
// table's digest) and checking the opt-out list while other sessions are
// touched and opt-outs added never reports a broken table. Each check
// reads several statements; on the readers' pool each could see another
// commit, which once ended every session of a busy clinic.
func TestChecksSeeOneSnapshot(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	now := e.clk.Now()
	const n = 6
	ids := make([]int64, n)
	tokens := make([]string, n)
	for i := range n {
		_, x, token := newAccount(t, s, fmt.Sprintf("user%d", i), now)
		ids[i], tokens[i] = x.ID, token
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { // writers: every request touches its session
			for k := 0; !stop.Load(); k++ {
				if _, err := s.TouchSession(ctx, ids[i], now, 10*time.Minute); err != nil {
					t.Errorf("touch session %d: %v", ids[i], err)
					return
				}
				if k%10 == 0 {
					if err := s.OptOut(ctx, fmt.Sprintf("+1555%07d", i*100000+k)); err != nil {
						t.Errorf("add an opt-out: %v", err)
						return
					}
				}
			}
		})
	}
	readers := make(chan error, n)
	for i := range n {
		go func() { // readers: every request finds its session
			for range 150 {
				if _, err := s.SessionByToken(ctx, tokens[i]); err != nil {
					readers <- fmt.Errorf("session %d: %w", ids[i], err)
					return
				}
				if err := s.checkOptOuts(ctx, s.r); err != nil {
					readers <- fmt.Errorf("opt-out list: %w", err)
					return
				}
			}
			readers <- nil
		}()
	}
	for range n {
		if err := <-readers; err != nil {
			t.Error(err)
		}
	}
	stop.Store(true)
	wg.Wait()
}
