package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const num = "+15551234567"

// into puts a fresh message into state st on store s (reopening e's store
// for uncertain, the one way a message gets there) and returns the store
// to use and the message id.
func into(t *testing.T, e *env, s *Store, st State) (*Store, int64) {
	t.Helper()
	ctx := context.Background()
	m := mustEnqueue(t, s, num, "Reminder: dentist Tuesday 10:00")
	claim := func() {
		c, err := s.Claim(ctx, "m1")
		if err != nil || c == nil || c.ID != m.ID {
			t.Fatalf("claim: %+v %v", c, err)
		}
	}
	switch st {
	case Queued:
	case Sending:
		claim()
	case Sent, Delivered, Undelivered:
		claim()
		if err := s.RecordPart(ctx, m.ID, 1, 1, 9); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		if st != Sent {
			if _, err := s.RecordStatusReport(ctx, 9, num, st == Delivered, true); err != nil {
				t.Fatal(err)
			}
		}
	case Failed:
		claim()
		if err := s.MarkFailed(ctx, m.ID, "cms_21"); err != nil {
			t.Fatal(err)
		}
	case Cancelled:
		if err := s.Cancel(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	case Uncertain:
		claim()
		s.Close()
		s = e.open(t)
	}
	mustState(t, s, m.ID, st)
	return s, m.ID
}

// rowDump renders every column of message id and of its parts, read
// straight from the file, so that a comparison sees any change at all.
func rowDump(t *testing.T, s *Store, id int64) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{"SELECT * FROM messages WHERE id = ?", "SELECT * FROM message_parts WHERE message_id = ? ORDER BY seq"} {
		rows, err := s.w.Query(q, id)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				t.Fatal(err)
			}
			for i, c := range cols {
				fmt.Fprintf(&b, "%s=%v ", c, vals[i])
			}
			b.WriteString("\n")
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestTransitions tries every operation from every state: the allowed ones
// reach their target, every other one is ErrInvalidTransition and changes
// nothing.
func TestTransitions(t *testing.T) {
	ctx := context.Background()
	type op struct {
		name string
		do   func(s *Store, id int64) error
		// allowed: from state → resulting state
		allowed map[State]State
	}
	ops := []op{
		{"record_part", func(s *Store, id int64) error { return s.RecordPart(ctx, id, 1, 1, 5) }, map[State]State{Sending: Sending}},
		{"mark_sent", func(s *Store, id int64) error { return s.MarkSent(ctx, id) }, map[State]State{Sending: Sent}},
		{"record_last_part", func(s *Store, id int64) error { return s.RecordLastPart(ctx, id, 1, 1, 5) }, map[State]State{Sending: Sent}},
		{"mark_retry", func(s *Store, id int64) error { return s.MarkRetry(ctx, id, "cms_38") }, map[State]State{Sending: Queued}},
		{"mark_failed", func(s *Store, id int64) error { return s.MarkFailed(ctx, id, "cms_21") }, map[State]State{Sending: Failed}},
		{"mark_uncertain", func(s *Store, id int64) error { return s.MarkUncertain(ctx, id, "maybe_sent_timeout") }, map[State]State{Sending: Uncertain}},
		{"release", func(s *Store, id int64) error { return s.Release(ctx, id) }, map[State]State{Sending: Queued}},
		{"cancel", func(s *Store, id int64) error { return s.Cancel(ctx, id) }, map[State]State{Queued: Cancelled}},
		{"resend", func(s *Store, id int64) error { return s.Resend(ctx, id) }, map[State]State{Uncertain: Queued, Failed: Queued, Undelivered: Queued}},
		{"dismiss", func(s *Store, id int64) error { return s.Dismiss(ctx, id) }, map[State]State{Uncertain: Failed}},
	}
	for _, from := range States {
		for _, o := range ops {
			t.Run(string(from)+"/"+o.name, func(t *testing.T) {
				e, s := openEnv(t)
				s, id := into(t, e, s, from)
				before := rowDump(t, s, id)
				// Move the clock, so that any write to the row (updated_at)
				// shows in the comparison below.
				e.clk.Add(time.Minute)
				err := o.do(s, id)
				to, ok := o.allowed[from]
				if ok {
					if err != nil {
						t.Fatalf("allowed transition failed: %v", err)
					}
					mustState(t, s, id, to)
					return
				}
				if !errors.Is(err, ErrInvalidTransition) {
					t.Fatalf("err = %v, want ErrInvalidTransition", err)
				}
				if !strings.Contains(err.Error(), "state "+string(from)) {
					t.Fatalf("error does not name the state: %v", err)
				}
				if after := rowDump(t, s, id); after != before {
					t.Fatalf("rejected transition changed the row:\n%s\n%s", before, after)
				}
			})
		}
		// Claim only takes queued messages.
		t.Run(string(from)+"/claim", func(t *testing.T) {
			e, s := openEnv(t)
			s, id := into(t, e, s, from)
			c, err := s.Claim(ctx, "m2")
			if err != nil {
				t.Fatal(err)
			}
			if from == Queued {
				if c == nil || c.ID != id || c.State != Sending {
					t.Fatalf("claim = %+v", c)
				}
			} else if c != nil {
				t.Fatalf("claimed a %s message", from)
			}
		})
		// Status reports change only sent messages' states.
		t.Run(string(from)+"/status_report", func(t *testing.T) {
			e, s := openEnv(t)
			s, id := into(t, e, s, from)
			got, err := s.RecordStatusReport(ctx, 9, num, true, true)
			switch from {
			case Sent:
				if err != nil || got != id {
					t.Fatal(got, err)
				}
				mustState(t, s, id, Delivered)
			case Delivered, Undelivered:
				// A duplicate report is accepted and changes nothing.
				if err != nil {
					t.Fatal(err)
				}
				mustState(t, s, id, from)
			default:
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("err = %v, want ErrNotFound (no part with that MR)", err)
				}
				mustState(t, s, id, from)
			}
		})
	}
	t.Run("unknown_id", func(t *testing.T) {
		_, s := openEnv(t)
		for _, o := range ops {
			if err := o.do(s, 999); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", o.name, err)
			}
		}
	})
}

func TestRetryBackoffAndCap(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t) // MaxAttempts 3
	m := mustEnqueue(t, s, num, "x")
	for attempt := 1; attempt <= 3; attempt++ {
		c, err := s.Claim(ctx, "m1")
		if err != nil || c == nil || c.Attempts != attempt {
			t.Fatalf("attempt %d: claim %+v %v", attempt, c, err)
		}
		if err := s.MarkRetry(ctx, m.ID, "timeout"); err != nil {
			t.Fatal(err)
		}
		if attempt == 3 {
			break
		}
		got := mustState(t, s, m.ID, Queued)
		wantNext := e.clk.Now().Add(DefaultBackoff(attempt))
		if !got.NextAttemptAt.Equal(wantNext) || got.LastError != "timeout" {
			t.Fatalf("next attempt %v, want %v; last error %q", got.NextAttemptAt, wantNext, got.LastError)
		}
		if c, _ := s.Claim(ctx, "m1"); c != nil {
			t.Fatal("claimed before its backoff elapsed")
		}
		if due, ok, _ := s.NextDue(ctx); !ok || !due.Equal(wantNext) {
			t.Fatalf("NextDue = %v %v", due, ok)
		}
		e.clk.Add(DefaultBackoff(attempt))
	}
	got := mustState(t, s, m.ID, Failed)
	if !strings.HasPrefix(got.LastError, "attempts_exhausted") {
		t.Fatalf("last error %q", got.LastError)
	}
	// Release does not count an attempt.
	m2 := mustEnqueue(t, s, num, "y")
	for range 5 {
		if c, _ := s.Claim(ctx, "m1"); c == nil || c.ID != m2.ID {
			t.Fatal("claim after release")
		}
		if err := s.Release(ctx, m2.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustState(t, s, m2.ID, Queued); got.Attempts != 0 {
		t.Fatalf("release counted attempts: %d", got.Attempts)
	}
}

func TestScheduling(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	later, err := s.Enqueue(ctx, NewMessage{To: num, Text: "later", SendAt: e.clk.Now().Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	soon, _ := s.Enqueue(ctx, NewMessage{To: num, Text: "soon", SendAt: e.clk.Now().Add(time.Hour)})
	if c, _ := s.Claim(ctx, "m1"); c != nil {
		t.Fatal("claimed a message scheduled for later")
	}
	if due, ok, _ := s.NextDue(ctx); !ok || !due.Equal(soon.SendAt) {
		t.Fatalf("NextDue %v %v, want %v", due, ok, soon.SendAt)
	}
	// Staff cancel a scheduled message before its time: it is never sent.
	dropped, _ := s.Enqueue(ctx, NewMessage{To: num, Text: "cancelled before its time", SendAt: e.clk.Now().Add(30 * time.Minute)})
	if err := s.Cancel(ctx, dropped.ID); err != nil {
		t.Fatalf("cancel a scheduled message: %v", err)
	}
	mustState(t, s, dropped.ID, Cancelled)
	e.clk.Add(90 * time.Minute)
	if c, _ := s.Claim(ctx, "m1"); c == nil || c.ID != soon.ID {
		t.Fatalf("claim = %+v", c)
	}
	if c, _ := s.Claim(ctx, "m1"); c != nil {
		t.Fatal("claimed later too early")
	}
	e.clk.Add(time.Hour)
	if c, _ := s.Claim(ctx, "m1"); c == nil || c.ID != later.ID {
		t.Fatalf("claim = %+v", c)
	}
	if _, ok, _ := s.NextDue(ctx); ok {
		t.Fatal("NextDue with nothing queued")
	}
	mustState(t, s, dropped.ID, Cancelled)
}

func TestChangedSignalled(t *testing.T) {
	_, s := openEnv(t)
	select {
	case <-s.Changed():
		t.Fatal("signalled before anything happened")
	default:
	}
	mustEnqueue(t, s, num, "x")
	select {
	case <-s.Changed():
	default:
		t.Fatal("enqueue did not signal")
	}
}

func TestOpenMarksSendingUncertain(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	a := mustEnqueue(t, s, num, "a")
	b := mustEnqueue(t, s, num, "b")
	s.Claim(ctx, "m1")
	s.RecordPart(ctx, a.ID, 1, 2, 3)
	s.Close()
	s = e.open(t)
	got := mustState(t, s, a.ID, Uncertain)
	if !strings.Contains(got.LastError, "interrupted") || len(got.PartsAccepted) != 1 {
		t.Fatalf("%+v", got)
	}
	mustState(t, s, b.ID, Queued)
	// Resend resumes: same reference, the accepted part kept.
	if err := s.Resend(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Claim(ctx, "m1")
	if c == nil || c.ID != a.ID || c.Reference != got.Reference || len(c.PartsAccepted) != 1 || c.PartsAccepted[0] != 1 {
		t.Fatalf("resumed claim %+v, want reference %d and part 1 kept", c, got.Reference)
	}
}

func TestMultipart(t *testing.T) {
	ctx := context.Background()
	_, s := openEnv(t)
	m := mustEnqueue(t, s, num, strings.Repeat("long text ", 40))
	c, _ := s.Claim(ctx, "m1")
	ref := c.Reference
	if ref == 0 {
		t.Fatal("no reference assigned")
	}
	if err := s.RecordPart(ctx, m.ID, 1, 3, 200); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordPart(ctx, m.ID, 2, 4, 201); err == nil {
		t.Fatal("changed part total accepted")
	}
	if err := s.MarkSent(ctx, m.ID); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("mark sent with 1 of 3 parts: %v", err)
	}
	// The modem went away: retry keeps the parts and the reference.
	if err := s.MarkRetry(ctx, m.ID, "port_gone"); err != nil {
		t.Fatal(err)
	}
	c, _ = s.Claim(ctx, "m1") // the test clock does not move, so push it
	if c != nil {
		t.Fatal("claimed during backoff")
	}
	s.opt.Now = func() time.Time { return newClock().Now().Add(time.Hour) }
	c, _ = s.Claim(ctx, "m2")
	if c == nil || c.Reference != ref || len(c.PartsAccepted) != 1 || c.ModemID != "m2" {
		t.Fatalf("resume claim %+v", c)
	}
	s.RecordPart(ctx, m.ID, 2, 3, 201)
	s.RecordPart(ctx, m.ID, 3, 3, 202)
	// A report for part 1 arrives before MarkSent: recorded, applied later.
	if id, err := s.RecordStatusReport(ctx, 200, "555-123-4567", true, true); err != nil || id != m.ID {
		t.Fatal(id, err)
	}
	if err := s.MarkSent(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	got := mustState(t, s, m.ID, Sent)
	if len(got.PartsAccepted) != 3 || got.PartMRs[3] != 202 {
		t.Fatalf("%+v", got)
	}
	// Pending (non-final) report: no change.
	s.RecordStatusReport(ctx, 201, num, false, false)
	mustState(t, s, m.ID, Sent)
	s.RecordStatusReport(ctx, 201, num, true, true)
	mustState(t, s, m.ID, Sent)
	s.RecordStatusReport(ctx, 202, num, true, true)
	mustState(t, s, m.ID, Delivered)
}

// TestRecordLastPart: the part that completes a message is recorded and
// the message marked sent in one write (one row version more, not two),
// with the reports its other parts already have; a part that does not
// complete it is refused with nothing written.
func TestRecordLastPart(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("long text ", 40)
	type part struct{ seq, total, mr int }
	cases := []struct {
		name    string
		text    string
		before  []part       // recorded with RecordPart first
		reports map[int]bool // status reports (delivered?) for those, by MR
		last    part
		want    State // "" = refused with ErrInvalidTransition
		wantErr string
	}{
		{name: "single part", text: "x", last: part{1, 1, 9}, want: Sent},
		{name: "third of three", text: long, before: []part{{1, 3, 10}, {2, 3, 11}}, last: part{3, 3, 12}, want: Sent},
		{name: "out of order", text: long, before: []part{{1, 3, 10}, {3, 3, 12}}, last: part{2, 3, 11}, want: Sent},
		{name: "a report that failed before", text: long, before: []part{{1, 3, 10}, {2, 3, 11}}, reports: map[int]bool{10: true, 11: false}, last: part{3, 3, 12}, want: Undelivered},
		{name: "a part still missing", text: long, before: []part{{1, 3, 10}}, last: part{3, 3, 12}, wantErr: "2 of 3"},
		{name: "nothing recorded yet", text: long, last: part{1, 3, 10}, wantErr: "not the last"},
		{name: "the total changed", text: long, before: []part{{1, 3, 10}, {2, 3, 11}}, last: part{3, 4, 12}, wantErr: "differs"},
		{name: "out of range", text: "x", last: part{2, 1, 9}, wantErr: "out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, s := openEnv(t)
			m := mustEnqueue(t, s, num, c.text)
			if cl, err := s.Claim(ctx, "m1"); err != nil || cl == nil || cl.ID != m.ID {
				t.Fatalf("claim: %+v %v", cl, err)
			}
			for _, p := range c.before {
				if err := s.RecordPart(ctx, m.ID, p.seq, p.total, p.mr); err != nil {
					t.Fatal(err)
				}
			}
			for mr, ok := range c.reports {
				if _, err := s.RecordStatusReport(ctx, mr, num, ok, true); err != nil {
					t.Fatal(err)
				}
			}
			var rv int64
			s.w.QueryRow("SELECT rv FROM messages WHERE id = ?", m.ID).Scan(&rv)
			before := rowDump(t, s, m.ID)
			e.clk.Add(time.Minute)
			err := s.RecordLastPart(ctx, m.ID, c.last.seq, c.last.total, c.last.mr)
			if c.want == "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, c.wantErr)
				}
				if after := rowDump(t, s, m.ID); after != before {
					t.Fatalf("a refused last part changed the message:\n%s\n%s", before, after)
				}
				mustState(t, s, m.ID, Sending)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := mustState(t, s, m.ID, c.want)
			if got.PartsTotal != c.last.total || len(got.PartsAccepted) != c.last.total || got.PartMRs[c.last.seq] != c.last.mr {
				t.Errorf("parts %d %v %v, want all %d with MR %d for part %d", got.PartsTotal, got.PartsAccepted, got.PartMRs, c.last.total, c.last.mr, c.last.seq)
			}
			var rvAfter int64
			s.w.QueryRow("SELECT rv FROM messages WHERE id = ?", m.ID).Scan(&rvAfter)
			if rvAfter != rv+1 {
				t.Errorf("row version %d -> %d, want one write", rv, rvAfter)
			}
			if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
				t.Errorf("integrity after the last part: %v %v", p, err)
			}
			// The part's report finds it, as after MarkSent.
			if c.last.total == 1 {
				if id, err := s.RecordStatusReport(ctx, c.last.mr, num, true, true); err != nil || id != m.ID {
					t.Fatalf("report for the last part: %d %v", id, err)
				}
				mustState(t, s, m.ID, Delivered)
			}
		})
	}
}

func TestStatusReportMatching(t *testing.T) {
	ctx := context.Background()
	_, s := openEnv(t)
	send := func(to string, mr int) int64 {
		m := mustEnqueue(t, s, to, "x")
		c, _ := s.Claim(ctx, "m1")
		if c == nil || c.ID != m.ID {
			t.Fatal("claim")
		}
		s.RecordPart(ctx, m.ID, 1, 1, mr)
		if err := s.MarkSent(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	a := send(num, 7)
	b := send("+447700900123", 7) // same MR, other recipient
	if id, err := s.RecordStatusReport(ctx, 7, "+447700900123", false, true); err != nil || id != b {
		t.Fatalf("matched %d %v, want %d", id, err, b)
	}
	mustState(t, s, b, Undelivered)
	mustState(t, s, a, Sent)
	// MR wraps around: a later message with the same MR and recipient wins.
	c := send(num, 7)
	if id, _ := s.RecordStatusReport(ctx, 7, num, true, true); id != c {
		t.Fatalf("matched %d, want the latest %d", id, c)
	}
	mustState(t, s, a, Sent)
	if _, err := s.RecordStatusReport(ctx, 8, num, true, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown MR: %v", err)
	}
	if _, err := s.RecordStatusReport(ctx, 7, "+15559999999", true, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown recipient: %v", err)
	}
}

// TestSecondStoreLeavesSendsAlone: a second opener (`smsd user add` while
// the daemon runs) must not turn the daemon's in-flight message uncertain,
// and must not claim; once the owner is gone it takes over.
func TestSecondStoreLeavesSendsAlone(t *testing.T) {
	ctx := context.Background()
	e, s1 := openEnv(t)
	m := mustEnqueue(t, s1, num, "in flight")
	if c, _ := s1.Claim(ctx, "m1"); c == nil || !s1.Primary() {
		t.Fatal("first store did not claim")
	}
	s2 := e.open(t)
	if s2.Primary() {
		t.Fatal("two primaries")
	}
	mustState(t, s2, m.ID, Sending)
	if _, err := s2.Claim(ctx, "m2"); !errors.Is(err, ErrBusy) {
		t.Fatalf("second store claimed: %v", err)
	}
	m2 := mustEnqueue(t, s2, num, "enqueued by the second process")
	if err := s1.RecordPart(ctx, m.ID, 1, 1, 4); err != nil {
		t.Fatal(err)
	}
	if err := s1.MarkSent(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	c, err := s2.Claim(ctx, "m2")
	if err != nil || c == nil || c.ID != m2.ID || !s2.Primary() {
		t.Fatalf("takeover: %+v %v", c, err)
	}
	mustState(t, s2, m.ID, Sent)
}

// TestResendKeepsOrResetsParts: a staff resend of an uncertain or failed
// message keeps the parts the SMSC accepted and the concatenation
// reference, so only the missing parts go out and join the earlier ones; a
// resend of an undelivered message starts over (the SMSC gave up on those
// parts). Either way attempts restart and the message is due at once.
func TestResendKeepsOrResetsParts(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		from      State
		keepParts bool
	}{{Uncertain, true}, {Failed, true}, {Undelivered, false}} {
		t.Run(string(tc.from), func(t *testing.T) {
			e, s := openEnv(t)
			m := mustEnqueue(t, s, num, strings.Repeat("two parts ", 20))
			c, err := s.Claim(ctx, "m1")
			if err != nil || c == nil {
				t.Fatal(c, err)
			}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(s.RecordPart(ctx, m.ID, 1, 2, 10))
			switch tc.from {
			case Uncertain:
				must(s.MarkUncertain(ctx, m.ID, "maybe_sent_timeout"))
			case Failed:
				must(s.MarkFailed(ctx, m.ID, "cms_500"))
			case Undelivered:
				must(s.RecordPart(ctx, m.ID, 2, 2, 11))
				must(s.MarkSent(ctx, m.ID))
				if _, err := s.RecordStatusReport(ctx, 10, num, false, true); err != nil {
					t.Fatal(err)
				}
			}
			mustState(t, s, m.ID, tc.from)
			e.clk.Add(time.Hour)
			must(s.Resend(ctx, m.ID))
			got := mustState(t, s, m.ID, Queued)
			if got.Attempts != 0 || got.LastError != "" || !got.NextAttemptAt.Equal(e.clk.Now()) {
				t.Fatalf("after resend: attempts %d, last error %q, next %v (now %v)", got.Attempts, got.LastError, got.NextAttemptAt, e.clk.Now())
			}
			if tc.keepParts {
				if got.Reference != c.Reference || len(got.PartsAccepted) != 1 || got.PartsAccepted[0] != 1 || got.PartsTotal != 2 {
					t.Fatalf("parts or reference lost: %+v (reference was %d)", got, c.Reference)
				}
			} else if got.Reference != 0 || len(got.PartsAccepted) != 0 || got.PartsTotal != 0 {
				t.Fatalf("undelivered resend kept old parts: %+v", got)
			}
			again, err := s.Claim(ctx, "m1")
			if err != nil || again == nil || again.ID != m.ID || again.Attempts != 1 || again.Reference == 0 {
				t.Fatalf("claim after resend: %+v %v", again, err)
			}
		})
	}
}
