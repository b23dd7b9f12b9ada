package dispatch

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/modem"
	"github.com/clinicsms/smsd/queue"
)

// Status is a snapshot for `smsd status` and systemd's STATUS= line. It
// carries no PHI: the IMEI is masked (mask.Serial), loop errors are codes.
type Status struct {
	Running bool           `json:"running"`
	Alive   bool           `json:"alive"`
	Modems  []ModemStatus  `json:"modems"`
	Queue   map[string]int `json:"queue"`
	// QueueError is set when the queue counts could not be read.
	QueueError string `json:"queue_error,omitempty"`
	QuietHours string `json:"quiet_hours,omitempty"`
}

// ModemStatus is one modem's health and its send loop's state.
type ModemStatus struct {
	ID     string       `json:"id"`
	Ready  bool         `json:"ready"`
	Health modem.Health `json:"health"`
	// State is one of the State* constants; Until is when a deferral
	// (rate limit, daily cap, quiet hours) ends.
	State      string    `json:"state"`
	Until      time.Time `json:"until,omitzero"`
	LastBeat   time.Time `json:"last_beat,omitzero"`
	StartedDay int       `json:"started_today"`
	DailyCap   int       `json:"daily_cap,omitempty"`
	RateLimit  string    `json:"rate_limit"`
	Sent       int       `json:"sent"`
	Failed     int       `json:"failed"`
	Retried    int       `json:"retried"`
	// Uncertain counts messages marked uncertain because the part in
	// flight may have gone out unconfirmed (staff resend or dismiss).
	Uncertain int    `json:"uncertain"`
	LastError string `json:"last_error,omitempty"`
}

// Alive reports whether Run is running and every send loop (of a modem that
// has not stopped for good) showed progress within StallTimeout. The daemon
// sends WATCHDOG=1 only while this is true, so a hung loop gets the daemon
// restarted by systemd. Waiting for a modem or for due work counts as
// progress; being stuck in a store call or a modem command past its timeout
// does not.
func (d *Dispatcher) Alive() bool {
	if !d.running.Load() {
		return false
	}
	now := d.now()
	live := 0
	for _, l := range d.loops {
		l.mu.Lock()
		stopped := l.stopped
		l.mu.Unlock()
		if stopped {
			continue
		}
		live++
		if now.Sub(time.Unix(0, l.lastBeat.Load())) > d.stall {
			return false
		}
	}
	return live > 0
}

// Status returns the dispatcher's state. It reads the queue counts with a
// short timeout of its own.
func (d *Dispatcher) Status() Status {
	st := Status{Running: d.running.Load(), Alive: d.Alive(), Queue: map[string]int{}}
	if d.quiet != nil {
		st.QuietHours = d.quiet.String()
	}
	for _, l := range d.loops {
		ms := ModemStatus{ID: l.id, Ready: l.m.Ready(), Health: l.m.Health(), DailyCap: l.cap, RateLimit: "none"}
		ms.Health.IMEI = mask.Serial(ms.Health.IMEI)
		if l.rate > 0 {
			ms.RateLimit = l.rate.String()
		}
		if b := l.lastBeat.Load(); b != 0 {
			ms.LastBeat = time.Unix(0, b)
		}
		l.mu.Lock()
		ms.State, ms.Until = l.state, l.until
		if ms.State == "" {
			ms.State = StateStarting
		}
		if l.day == d.now().In(d.loc).Format(time.DateOnly) {
			ms.StartedDay = l.startedDay
		}
		ms.Sent, ms.Failed, ms.Retried, ms.Uncertain, ms.LastError = l.sent, l.failed, l.retried, l.uncertain, l.lastErr
		l.mu.Unlock()
		st.Modems = append(st.Modems, ms)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := d.store.Counts(ctx)
	if err != nil {
		st.QueueError = err.Error()
	}
	for k, v := range counts {
		st.Queue[string(k)] = v
	}
	return st
}

// Summary is a one-line form of Status for systemd's STATUS=, e.g.
// "modem1: idle (ready, -71 dBm); queue: queued 3, sent 120".
func (s Status) Summary() string {
	var b strings.Builder
	for i, m := range s.Modems {
		if i > 0 {
			b.WriteString(", ")
		}
		ready := "not ready"
		if m.Ready {
			ready = "ready"
		}
		fmt.Fprintf(&b, "%s: %s (%s)", m.ID, m.State, ready)
	}
	b.WriteString("; queue:")
	keys := make([]string, 0, len(s.Queue))
	for k, v := range s.Queue {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		b.WriteString(" empty")
	}
	for i, k := range keys {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s %d", k, s.Queue[k])
	}
	return b.String()
}

// startedSince counts the messages modemID got out (wholly or in part)
// since t, for the daily cap after a restart. It reads clear columns only.
func (d *Dispatcher) startedSince(ctx context.Context, modemID string, t time.Time) (int, error) {
	n := 0
	for _, st := range []queue.State{queue.Sent, queue.Delivered, queue.Undelivered, queue.Uncertain} {
		msgs, err := d.store.List(ctx, queue.ListFilter{State: st, Since: t.Add(-7 * 24 * time.Hour), Limit: 10000, NoContent: true})
		if err != nil {
			return 0, err
		}
		for _, m := range msgs {
			if m.ModemID == modemID && !m.UpdatedAt.Before(t) {
				n++
			}
		}
	}
	return n, nil
}
