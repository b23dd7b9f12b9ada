package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// TestUnlockAfterMoveToKeyFile: the store was moved to a key file but the
// config still says passphrase (the daemon waits in locked mode): no
// passphrase opens it, and the unlock says which setting to change
// instead of "wrong passphrase".
func TestUnlockAfterMoveToKeyFile(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if err := queue.Init(ctx, cfg.DBPath(), KeySource(&cfg, nil), StoreOptions(&cfg, nil)); err != nil {
		t.Fatal(err)
	}
	cfg.KeySource = config.KeyPassphrase
	s := New(cfg, nil, nil)
	t.Cleanup(func() { s.Close() })
	err := s.Unlock(ctx, admin, []byte("blue tractor quietly sings"))
	if ops.CodeOf(err) != ops.CodeWrongKey || !strings.Contains(err.Error(), `key_source = "file"`) {
		t.Fatalf("unlock of a key-file store: %v", err)
	}
	if !s.Locked() {
		t.Fatal("unlocked")
	}
}
