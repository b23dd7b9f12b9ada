package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

var admin = ops.Actor{Kind: ops.ActorUnix, Name: "alice", Role: ops.RoleAdmin}

// TestRequestsWaitForTheStoreToOpen: the control socket answers before the
// store is open. A key-file daemon that is still opening it must make a
// send wait (and say "still opening" if it cannot), never answer that the
// store is locked with a passphrase; status says starting, not locked.
func TestRequestsWaitForTheStoreToOpen(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if err := queue.Init(context.Background(), cfg.DBPath(), KeySource(&cfg, nil), queue.Options{}); err != nil {
		t.Fatal(err)
	}
	d := New(cfg, nil, nil)

	st, err := d.Status(context.Background(), admin)
	if err != nil || st.Locked || !st.Starting {
		t.Fatalf("status while opening: %+v %v; want starting, not locked", st, err)
	}

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = d.Send(short, admin, ops.SendRequest{To: "+15551234567", Text: "x"})
	if ops.CodeOf(err) != ops.CodeLocked || !strings.Contains(err.Error(), "still opening") {
		t.Fatalf("send while opening, given up: %v; want a 'still opening' error", err)
	}

	// A send that arrives while the store opens goes through once it is open.
	res := make(chan error, 1)
	go func() {
		_, err := d.Send(context.Background(), admin, ops.SendRequest{To: "+15551234567", Text: "waited"})
		res <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it block (if it does not, the check below still holds)
	s, err := queue.Open(context.Background(), cfg.DBPath(), KeySource(&cfg, nil), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d.mu.Lock()
	d.store = s
	d.mu.Unlock()
	close(d.unlocked)
	if err := <-res; err != nil {
		t.Fatalf("send that waited for the store: %v", err)
	}
	msgs, err := s.List(context.Background(), queue.ListFilter{Limit: 10})
	if err != nil || len(msgs) != 1 || msgs[0].Text != "waited" || msgs[0].CreatedBy != "unix:alice" {
		t.Fatalf("store after the waiting send: %+v %v", msgs, err)
	}
}
