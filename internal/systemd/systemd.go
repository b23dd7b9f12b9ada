// Package systemd tells systemd how the daemon is doing (sd_notify): READY=1
// once it serves, STATUS= lines for `systemctl status`, WATCHDOG=1 pings while
// the send loops are alive, and STOPPING=1 on the way out. Outside systemd
// (NOTIFY_SOCKET unset) every call is a no-op, so the same binary runs from a
// shell, a test or the unit.
package systemd

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify messages. The zero value is not usable; use New.
type Notifier struct {
	log *slog.Logger

	mu         sync.Mutex
	lastStatus string
	warned     bool
}

// New returns a Notifier that logs failures to log (once: a broken notify
// socket must not flood the journal).
func New(log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{log: log}
}

// Enabled reports whether the process runs under a service manager that
// listens for notifications (NOTIFY_SOCKET is set).
func (n *Notifier) Enabled() bool {
	return os.Getenv("NOTIFY_SOCKET") != ""
}

func (n *Notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.mu.Lock()
		warned := n.warned
		n.warned = true
		n.mu.Unlock()
		if !warned {
			n.log.Warn("systemd notification failed (is NOTIFY_SOCKET right?); the service manager may think smsd hangs", "err", err)
		}
	}
}

// Ready sends READY=1: the daemon serves (control socket open, store and
// dispatcher running, or waiting to be unlocked). With Type=notify, systemd
// considers the unit started only now.
func (n *Notifier) Ready() { n.send(daemon.SdNotifyReady) }

// Stopping sends STOPPING=1: the daemon got SIGTERM and is draining.
func (n *Notifier) Stopping() { n.send(daemon.SdNotifyStopping) }

// Reloading sends RELOADING=1 (SIGHUP handling starts); call Ready after.
func (n *Notifier) Reloading() { n.send(daemon.SdNotifyReloading) }

// Status sends STATUS=<s> when s differs from the last status sent. s is one
// line shown by `systemctl status`; it must carry no PHI.
func (n *Notifier) Status(s string) {
	s = strings.ReplaceAll(s, "\n", " ")
	n.mu.Lock()
	same := s == n.lastStatus
	n.lastStatus = s
	n.mu.Unlock()
	if !same {
		n.send("STATUS=" + s)
	}
}

// Watchdog sends WATCHDOG=1.
func (n *Notifier) Watchdog() { n.send(daemon.SdNotifyWatchdog) }

// WatchdogInterval returns how often to ping: half of WatchdogSec (from
// WATCHDOG_USEC, honouring WATCHDOG_PID), or 0 when no watchdog is set.
func WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}

// RunWatchdog pings the watchdog every interval while alive() reports true,
// until ctx is done. When alive() is false the ping is skipped, so that
// systemd kills and restarts a daemon whose loops hang. interval <= 0 (no
// watchdog configured) returns at once.
func (n *Notifier) RunWatchdog(ctx context.Context, interval time.Duration, alive func() bool) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	missed := false
	for {
		if alive() {
			n.Watchdog()
			if missed {
				n.log.Info("send loops alive again; watchdog pings resumed")
			}
			missed = false
		} else if !missed {
			missed = true
			n.log.Error("a send loop made no progress; withholding the watchdog ping so systemd restarts smsd")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
