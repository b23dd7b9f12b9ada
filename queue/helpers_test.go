package queue

import (
	"context"
	"github.com/clinicsms/smsd/crypt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	dir, db string
	keys    KeySource
	clk     *clock
	opt     Options
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{dir: dir, db: filepath.Join(dir, "smsd.db"), keys: KeySource{KeyFile: filepath.Join(dir, "smsd.key")}, clk: newClock()}
	e.opt = Options{DefaultRegion: "US", Now: e.clk.Now, MaxAttempts: 3}
	if err := Init(context.Background(), e.db, e.keys, e.opt); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), e.db, e.keys, e.opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openEnv(t testing.TB) (*env, *Store) {
	e := newEnv(t)
	return e, e.open(t)
}

func mustEnqueue(t testing.TB, s *Store, to, text string) Message {
	t.Helper()
	m, err := s.Enqueue(context.Background(), NewMessage{To: to, Text: text})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustState(t testing.TB, s *Store, id int64, want State) Message {
	t.Helper()
	m, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != want {
		t.Fatalf("message %d: state %s, want %s", id, m.State, want)
	}
	return m
}

// cheapPassphrase lowers the argon2id cost of passphrase unlock for one
// test (the parameters are stored with the wrapped key, so this is safe).
func cheapPassphrase(t *testing.T) {
	saved := crypt.PassphraseParams
	crypt.PassphraseParams = crypt.Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}
	t.Cleanup(func() { crypt.PassphraseParams = saved })
}
