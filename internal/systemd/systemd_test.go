package systemd

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listen makes a unixgram socket like systemd's notify socket and points
// NOTIFY_SOCKET at it.
func listen(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotifications(t *testing.T) {
	c := listen(t)
	n := New(nil)
	if !n.Enabled() {
		t.Fatal("Enabled false with NOTIFY_SOCKET set")
	}
	n.Ready()
	if got := read(t, c); got != "READY=1" {
		t.Errorf("Ready sent %q", got)
	}
	n.Status("modem1: idle (ready); queue: empty")
	n.Status("modem1: idle (ready); queue: empty") // unchanged: not sent again
	n.Status("line\nbreak")
	if got := read(t, c); got != "STATUS=modem1: idle (ready); queue: empty" {
		t.Errorf("Status sent %q", got)
	}
	if got := read(t, c); got != "STATUS=line break" {
		t.Errorf("second Status sent %q (a repeated status must be skipped, newlines flattened)", got)
	}
	n.Stopping()
	if got := read(t, c); got != "STOPPING=1" {
		t.Errorf("Stopping sent %q", got)
	}
}

func TestNoSocketIsNoOp(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := New(nil)
	if n.Enabled() {
		t.Fatal("Enabled true without NOTIFY_SOCKET")
	}
	n.Ready()
	n.Status("x")
	n.Watchdog()
	n.Stopping()
}

func TestWatchdogInterval(t *testing.T) {
	t.Setenv("WATCHDOG_PID", "")
	t.Setenv("WATCHDOG_USEC", "")
	if d := WatchdogInterval(); d != 0 {
		t.Errorf("no WATCHDOG_USEC: interval %v, want 0", d)
	}
	t.Setenv("WATCHDOG_USEC", "30000000")
	if d := WatchdogInterval(); d != 15*time.Second {
		t.Errorf("WatchdogSec=30s: interval %v, want 15s", d)
	}
	t.Setenv("WATCHDOG_PID", "1") // another process's watchdog
	if d := WatchdogInterval(); d != 0 {
		t.Errorf("WATCHDOG_PID of another process: interval %v, want 0", d)
	}
}

// TestWatchdogOnlyWhileAlive: pings stop while alive() is false and resume after.
func TestWatchdogOnlyWhileAlive(t *testing.T) {
	c := listen(t)
	n := New(nil)
	var alive atomic.Bool
	alive.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.RunWatchdog(ctx, 20*time.Millisecond, alive.Load); close(done) }()
	if got := read(t, c); got != "WATCHDOG=1" {
		t.Fatalf("got %q, want WATCHDOG=1", got)
	}
	alive.Store(false)
	time.Sleep(50 * time.Millisecond)
	// Drain what was sent before the switch, then expect silence.
	buf := make([]byte, 64)
	for {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if k, err := c.Read(buf); err == nil {
		t.Fatalf("watchdog pinged %q while not alive", buf[:k])
	}
	alive.Store(true)
	if got := read(t, c); !strings.HasPrefix(got, "WATCHDOG=1") {
		t.Fatalf("after recovery got %q, want WATCHDOG=1", got)
	}
	cancel()
	<-done
}
