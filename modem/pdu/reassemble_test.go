package pdu

import (
	"slices"
	"testing"
	"time"
)

func TestReassembler(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	part := func(from string, ref uint16, total, seq int, text string) *Deliver {
		return &Deliver{From: Address{Number: from, TON: TONInternational}, Timestamp: t0.Add(time.Duration(seq) * time.Second), Text: text, Concat: &Concat{Ref: ref, Total: total, Seq: seq}}
	}
	var r Reassembler
	// Single message: immediately.
	if a, ok := r.Add(&Deliver{From: Address{Number: "+1"}, Text: "solo"}, "k0", t0); !ok || a.Text != "solo" || a.Parts != 1 || len(a.Keys) != 1 {
		t.Fatalf("single: %+v %v", a, ok)
	}
	// Out of order, with a duplicate, interleaved with another sender
	// using the same reference.
	steps := []struct {
		d    *Deliver
		done bool
	}{
		{part("+1", 7, 3, 3, "c"), false},
		{part("+2", 7, 3, 1, "X"), false},
		{part("+1", 7, 3, 1, "a"), false},
		{part("+1", 7, 3, 1, "a"), false}, // duplicate
		{part("+1", 7, 3, 2, "b"), true},
	}
	var got *Assembled
	for i, s := range steps {
		a, ok := r.Add(s.d, i, t0)
		if ok != s.done {
			t.Fatalf("step %d: done = %v", i, ok)
		}
		if ok {
			got = a
		}
	}
	if got.Text != "abc" || got.Parts != 3 || len(got.Missing) != 0 || got.From.Number != "+1" || len(got.Keys) != 4 || !got.Timestamp.Equal(t0.Add(time.Second)) {
		t.Errorf("assembled %+v", got)
	}
	if r.Pending() != 1 {
		t.Errorf("Pending = %d, want 1 (+2's message)", r.Pending())
	}
	// Not yet expired at Timeout-1s; expired with Missing at Timeout.
	r.Timeout = time.Hour
	if exp := r.Expire(t0.Add(time.Hour - time.Second)); len(exp) != 0 {
		t.Errorf("expired early: %+v", exp)
	}
	exp := r.Expire(t0.Add(time.Hour))
	if len(exp) != 1 || exp[0].Text != "X" || exp[0].Parts != 3 || len(exp[0].Missing) != 2 || exp[0].Missing[0] != 2 || exp[0].Missing[1] != 3 {
		t.Errorf("expired %+v", exp)
	}
	if r.Pending() != 0 {
		t.Errorf("Pending after expire = %d", r.Pending())
	}
	var zero Reassembler
	if zero.timeout() != DefaultReassemblyTimeout {
		t.Error("zero Timeout is not the default")
	}
}

func TestReassemblerBadConcatShownAlone(t *testing.T) {
	var r Reassembler
	for _, c := range []*Concat{{Ref: 1, Total: 3, Seq: 0}, {Ref: 1, Total: 3, Seq: 4}, {Ref: 1, Total: 1, Seq: 1}} {
		a, ok := r.Add(&Deliver{Text: "t", Concat: c}, nil, time.Now())
		if !ok || a.Text != "t" || a.Parts != 1 {
			t.Errorf("concat %+v: %+v %v", *c, a, ok)
		}
	}
}

// Duplicates are ignored also after completion: a repeated delivery must
// not come back after Timeout as a second, incomplete message. A new
// message that reuses the reference is still assembled, and completed
// messages are forgotten after Timeout.
func TestReassemblerLateDuplicates(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	part := func(seq int, text string, ts time.Time) *Deliver {
		return &Deliver{From: Address{Number: "+15551234567", TON: TONInternational}, Timestamp: ts, Text: text, Concat: &Concat{Ref: 9, Total: 2, Seq: seq}}
	}
	type step struct {
		d         *Deliver
		key       int
		at        time.Duration // after t0
		done      string        // text of the message this step completes, "" if none
		discarded []any         // what Discarded returns after this step
	}
	tests := []struct {
		name    string
		steps   []step
		pending int // after the last step
		expired int // messages Expire hands out 2*Timeout later
	}{
		{"late_duplicate_of_each_part_dropped", []step{
			{d: part(2, "b", t0), key: 1},
			{d: part(1, "a", t0), key: 2, done: "ab"},
			{d: part(1, "a", t0), key: 3, at: time.Minute, discarded: []any{3}},
			{d: part(2, "b", t0), key: 4, at: 59 * time.Minute, discarded: []any{4}},
		}, 0, 0},
		{"same_reference_new_text_is_a_new_message", []step{
			{d: part(1, "a", t0), key: 1},
			{d: part(2, "b", t0), key: 2, done: "ab"},
			{d: part(2, "y", t0.Add(time.Minute)), key: 3, at: time.Minute},
			{d: part(1, "x", t0.Add(time.Minute)), key: 4, at: time.Minute, done: "xy"},
		}, 0, 0},
		{"same_text_new_scts_is_a_new_message", []step{
			{d: part(1, "a", t0), key: 1},
			{d: part(2, "b", t0), key: 2, done: "ab"},
			{d: part(1, "a", t0.Add(time.Hour)), key: 3, at: time.Hour},
		}, 1, 1},
		{"duplicate_after_timeout_is_new", []step{
			{d: part(1, "a", t0), key: 1},
			{d: part(2, "b", t0), key: 2, done: "ab"},
			{d: part(1, "a", t0), key: 3, at: 2 * time.Hour},
		}, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Reassembler{Timeout: time.Hour}
			for i, s := range tc.steps {
				a, ok := r.Add(s.d, s.key, t0.Add(s.at))
				switch {
				case s.done == "" && ok:
					t.Fatalf("step %d: completed %q, want still waiting", i, a.Text)
				case s.done != "" && (!ok || a.Text != s.done):
					t.Fatalf("step %d: got %+v %v, want %q completed", i, a, ok, s.done)
				}
				if got := r.Discarded(); !slices.Equal(got, s.discarded) {
					t.Fatalf("step %d: Discarded = %v, want %v", i, got, s.discarded)
				}
			}
			if r.Pending() != tc.pending {
				t.Errorf("Pending = %d, want %d", r.Pending(), tc.pending)
			}
			last := tc.steps[len(tc.steps)-1].at
			if exp := r.Expire(t0.Add(last + 2*time.Hour)); len(exp) != tc.expired {
				t.Errorf("Expire handed out %d messages, want %d", len(exp), tc.expired)
			}
			if len(r.done) != 0 {
				t.Errorf("%d completed messages still remembered after Timeout", len(r.done))
			}
		})
	}
}

// TestReassemblerReopen: a message whose handler failed is reopened; its
// parts offered again make it again instead of going to Discarded.
func TestReassemblerReopen(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	part := func(seq int, text string) *Deliver {
		return &Deliver{From: Address{Number: "+15551234567", TON: TONInternational}, Timestamp: t0, Text: text, Concat: &Concat{Ref: 9, Total: 2, Seq: seq}}
	}
	for _, reopen := range []bool{false, true} {
		r := Reassembler{Timeout: time.Hour}
		r.Add(part(1, "a"), 1, t0)
		a, ok := r.Add(part(2, "b"), 2, t0)
		if !ok || a.Text != "ab" {
			t.Fatalf("first assembly: %+v %v", a, ok)
		}
		if reopen {
			r.Reopen(a)
		}
		r.Add(part(1, "a"), 1, t0.Add(time.Minute))
		again, ok := r.Add(part(2, "b"), 2, t0.Add(time.Minute))
		discarded := r.Discarded()
		if reopen && (!ok || again.Text != "ab" || !slices.Equal(again.Keys, []any{1, 2}) || len(discarded) != 0) {
			t.Errorf("reopened: got %+v %v, discarded %v; want \"ab\" again", again, ok, discarded)
		}
		if !reopen && (ok || !slices.Equal(discarded, []any{1, 2})) {
			t.Errorf("not reopened: got %+v %v, discarded %v; want both parts discarded", again, ok, discarded)
		}
	}
}
