package queue

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestListByNumberAndBeforeID: To finds a number's messages through the
// blind index; BeforeID pages by id, newest first, together with the other
// filters.
func TestListByNumberAndBeforeID(t *testing.T) {
	ctx := context.Background()
	_, s := openEnv(t)
	var ids []int64
	for i := range 12 {
		to := "+15551230001"
		if i%3 == 0 {
			to = "+15551230002"
		}
		m, err := s.Enqueue(ctx, NewMessage{To: to, Text: fmt.Sprint("text ", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	if err := s.Cancel(ctx, ids[5]); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    ListFilter
		want []int64
	}{
		{"all", ListFilter{}, []int64{12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"before", ListFilter{BeforeID: 5, Limit: 3}, []int64{4, 3, 2}},
		{"before_the_first", ListFilter{BeforeID: 1}, nil},
		{"to", ListFilter{To: "+15551230002"}, []int64{10, 7, 4, 1}},
		{"to_before", ListFilter{To: "+15551230002", BeforeID: 7}, []int64{4, 1}},
		{"to_nobody", ListFilter{To: "+15559999999"}, nil},
		{"to_state", ListFilter{To: "+15551230001", State: Cancelled}, []int64{6}},
		{"state_before", ListFilter{State: Queued, BeforeID: 8, Limit: 2}, []int64{7, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := s.List(ctx, ListFilter{To: tc.f.To, BeforeID: tc.f.BeforeID, Limit: tc.f.Limit, State: tc.f.State, NoContent: true})
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, m := range ms {
				got = append(got, m.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("ids %v, want %v", got, tc.want)
			}
		})
	}
}

// TestInboxPageAndHandled: paging both ways, the unhandled filter and
// count, marks and unmarks, an unknown id.
func TestInboxPageAndHandled(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	for i := range 6 {
		if _, err := s.AddInbound(ctx, Inbound{From: "+15551230001", Text: fmt.Sprint("reply ", i), SentAt: e.clk.Now().Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MarkHandled(ctx, 2, true, "web:bob"); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Minute)
	// Marking again keeps the first mark.
	if err := s.MarkHandled(ctx, 2, true, "web:carol"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkHandled(ctx, 4, true, "web:bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkHandled(ctx, 4, false, "web:bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkHandled(ctx, 99, true, "web:bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	ids := func(ins []Inbound) (out []int64) {
		for _, in := range ins {
			out = append(out, in.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    InboxQuery
		want []int64
	}{
		{"all", InboxQuery{}, []int64{6, 5, 4, 3, 2, 1}},
		{"before", InboxQuery{BeforeID: 4, Limit: 2}, []int64{3, 2}},
		{"since_oldest_first", InboxQuery{SinceID: 3}, []int64{4, 5, 6}},
		{"since_limit", InboxQuery{SinceID: 1, Limit: 2}, []int64{2, 3}},
		{"unhandled", InboxQuery{Unhandled: true}, []int64{6, 5, 4, 3, 1}},
		{"since_and_before", InboxQuery{SinceID: 2, BeforeID: 5}, []int64{3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ins, unhandled, err := s.InboxPage(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(ids(ins)) != fmt.Sprint(tc.want) || unhandled != 5 {
				t.Fatalf("ids %v unhandled %d, want %v and 5", ids(ins), unhandled, tc.want)
			}
		})
	}
	in, err := s.GetInbound(ctx, 2)
	if err != nil || in.HandledBy != "web:bob" || !in.HandledAt.Equal(newClock().Now()) || in.Text != "reply 1" {
		t.Fatalf("handled message %+v %v", in, err)
	}
	if in, _ := s.GetInbound(ctx, 4); !in.HandledAt.IsZero() || in.HandledBy != "" {
		t.Fatalf("unmarked message %+v", in)
	}
}

// TestUpdatesBroadcast: every listener sees a change; the next change
// closes a new channel; Changed, the dispatcher's signal, is still sent.
func TestUpdatesBroadcast(t *testing.T) {
	ctx := context.Background()
	_, s := openEnv(t)
	select {
	case <-s.Changed():
	default:
	}
	a, b := s.Updates(), s.Updates()
	if a != b {
		t.Fatal("two listeners before a change get two channels")
	}
	select {
	case <-a:
		t.Fatal("closed before any change")
	default:
	}
	if _, err := s.Enqueue(ctx, NewMessage{To: "+15551230001", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan struct{}{a, b} {
		select {
		case <-ch:
		default:
			t.Fatal("a listener missed the change")
		}
	}
	select {
	case <-s.Changed():
	default:
		t.Fatal("the dispatcher's Changed was not signalled")
	}
	c := s.Updates()
	select {
	case <-c:
		t.Fatal("the channel after a change is closed already")
	default:
	}
	// A read or an audit row alone is no change.
	if _, err := s.List(ctx, ListFilter{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c:
		t.Fatal("a read woke the listeners")
	default:
	}
}

// TestAPITokenLastUsed: a use is written at most once a minute; a revoked
// token's use is not written.
func TestAPITokenLastUsed(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	tok, secret, err := s.CreateAPIToken(ctx, "pms", "web:alice")
	if err != nil {
		t.Fatal(err)
	}
	start := e.clk.Now()
	if !tok.LastUsed.IsZero() || !tok.CreatedAt.Equal(start) {
		t.Fatalf("new token %+v", tok)
	}
	for _, tc := range []struct {
		after time.Duration
		want  time.Duration // last use, from start
	}{
		{0, 0},
		{30 * time.Second, 0},
		{59 * time.Second, 0},
		{60 * time.Second, 60 * time.Second},
		{90 * time.Second, 60 * time.Second},
		{200 * time.Second, 200 * time.Second},
	} {
		e.clk.t = start.Add(tc.after)
		if _, err := s.APITokenBySecret(ctx, secret); err != nil {
			t.Fatal(err)
		}
		ts, err := s.APITokens(ctx)
		if err != nil || len(ts) != 1 {
			t.Fatal(ts, err)
		}
		if !ts[0].LastUsed.Equal(start.Add(tc.want)) {
			t.Fatalf("used at +%v: last use +%v, want +%v", tc.after, ts[0].LastUsed.Sub(start), tc.want)
		}
	}
	if _, err := s.RevokeAPIToken(ctx, "pms"); err != nil {
		t.Fatal(err)
	}
	e.clk.t = start.Add(time.Hour)
	if tok, err := s.APITokenBySecret(ctx, secret); err != nil || !tok.Revoked() || !tok.LastUsed.Equal(start.Add(200*time.Second)) {
		t.Fatalf("revoked token %+v %v", tok, err)
	}
	if _, err := s.APITokenBySecret(ctx, "smsd_unknown"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown secret: %v", err)
	}
	if _, _, err := s.CreateAPIToken(ctx, "pms", "web:alice"); !errors.Is(err, ErrTokenExists) {
		t.Fatalf("the name again: %v", err)
	}
	if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
		t.Fatalf("integrity: %+v %v", p, err)
	}
}

// BenchmarkList100k: the outbox page of 100 on 100,000 messages, at its top
// and deep down, by keyset (BeforeID) against OFFSET, by state, and by
// number. The store is filled once (10 batches of 10,000; 1 in 1000
// cancelled, so one state is rare). Each page opens its 100 rows (number
// and text) as the outbox's list does.
func BenchmarkList100k(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	const n = 100000
	batch := make([]NewMessage, 10000)
	for round := range n / len(batch) {
		for i := range batch {
			k := round*len(batch) + i
			batch[i] = NewMessage{To: fmt.Sprintf("+1555%07d", k%5000), Text: "Reminder: your appointment is tomorrow at 9:30. Reply C to confirm."}
		}
		if _, err := s.EnqueueBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	for id := int64(1); id <= n; id += 1000 {
		if err := s.Cancel(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		f    ListFilter
		want int
	}{
		{"page1", ListFilter{Limit: 100}, 100},
		{"deep_keyset_page1000", ListFilter{Limit: 100, BeforeID: 101}, 100},
		{"deep_offset_page1000", ListFilter{Limit: 100, Offset: n - 100}, 100},
		{"state_queued_page1", ListFilter{Limit: 100, State: Queued}, 100},
		{"state_queued_deep_keyset", ListFilter{Limit: 100, State: Queued, BeforeID: 200}, 100},
		{"state_cancelled_rare", ListFilter{Limit: 100, State: Cancelled}, 100},
		{"by_number", ListFilter{Limit: 100, To: "+15550000042"}, 20},
	} {
		b.Run(bc.name, func(b *testing.B) {
			// cpu-us/op follows the work of a page where ns/op follows
			// whatever else the machine runs.
			cost := startCost(b)
			defer cost.report()
			for b.Loop() {
				ms, err := s.List(ctx, bc.f)
				if err != nil {
					b.Fatal(err)
				}
				if len(ms) != bc.want {
					b.Fatalf("%d messages, want %d", len(ms), bc.want)
				}
			}
		})
	}
}
