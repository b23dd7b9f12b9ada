package web_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/ops"
)

// TestConcurrentSignIns: many people signing in at once each get a
// session that the next page finds (none is lost to a concurrent write).
func TestConcurrentSignIns(t *testing.T) {
	const n = 12
	// Slots for all: this test is about the sessions, not the bound on
	// password checks (which TestLoginConcurrency in daemon covers).
	svc := openServiceWith(t, func(c *config.Config) { c.LoginConcurrency = n })
	for i := range n {
		addUser(t, svc, fmt.Sprintf("user%02d", i), ops.RoleStaff)
	}
	s := newSite(t, svc, siteOptions{})
	var wg sync.WaitGroup
	for i := range n {
		b := s.browser()
		wg.Go(func() {
			b.signIn(fmt.Sprintf("user%02d", i), "/")
			for range 5 {
				if a := b.get("/"); a.status != http.StatusOK {
					t.Errorf("user%02d: GET / after signing in: %d to %q, want 200", i, a.status, a.location)
					return
				}
			}
		})
	}
	wg.Wait()
}
