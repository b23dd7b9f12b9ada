package queue

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestQueuePlans: the dispatcher's and the outbox's lookups by state use
// the index meant for them. messages_due holds queued messages only
// (schema step 12), so that a claim or a mark-sent does not move an entry
// in it; a query that no longer matches its partial WHERE would scan every
// message on each claim instead, or sort a whole state for an outbox page.
func TestQueuePlans(t *testing.T) {
	_, s := openEnv(t)
	ctx := context.Background()
	var idx string
	if err := s.r.QueryRowContext(ctx, "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'messages_due'").Scan(&idx); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(idx, "WHERE state = 'queued'") {
		t.Errorf("messages_due is %q, want it to hold queued messages only", idx)
	}
	cases := []struct {
		name, query string
		args        []any
		want        string // the index the plan searches
	}{
		{"claim", "SELECT id FROM messages WHERE " + claimNext, []any{int64(1)}, "USING COVERING INDEX messages_due (state=? AND due_at<?)"},
		{"next due", nextDueQuery, nil, "USING COVERING INDEX messages_due"},
		{"outbox page by state", "SELECT id FROM messages WHERE id < ? AND state = ? ORDER BY id DESC LIMIT ? OFFSET ?", []any{int64(100), "sent", 50, 0}, "USING COVERING INDEX messages_state (state=? AND rowid<?)"},
		{"outbox first page by state", "SELECT id FROM messages WHERE state = ? ORDER BY id DESC LIMIT ? OFFSET ?", []any{"failed", 50, 0}, "USING COVERING INDEX messages_state (state=?)"},
		{"stuck sending at open", "SELECT id FROM messages WHERE state = 'sending'", nil, "USING COVERING INDEX messages_state (state=?)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+c.query, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(plan, "; ")
			if !strings.Contains(got, c.want) || strings.Contains(got, "TEMP B-TREE") {
				t.Errorf("plan %q, want it to search %q without a sort", got, c.want)
			}
		})
	}
}

// TestClaimReturnsRowAsStored: Claim builds the message it returns from
// the row it read and the values it wrote, without reading the row again;
// it must be what a later read finds, parts included (a resend, whose
// earlier attempt recorded a part, and a fresh message).
func TestClaimReturnsRowAsStored(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	first, err := s.Enqueue(ctx, NewMessage{To: "+15550001111", Text: "first", CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(ctx, "m1")
	if err != nil || c == nil || c.ID != first.ID {
		t.Fatalf("claim: %v %v", c, err)
	}
	if err := s.RecordPart(ctx, c.ID, 1, 2, 7); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRetry(ctx, c.ID, "timeout"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, NewMessage{To: "+15550002222", Text: "second"}); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(24 * time.Hour) // past the retry's backoff
	for range 2 {
		e.clk.Add(time.Second)
		c, err := s.Claim(ctx, "m2")
		if err != nil || c == nil {
			t.Fatalf("claim: %v %v", c, err)
		}
		got, err := s.Get(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*c, got) {
			t.Errorf("claim returned\n%+v\nthe row reads\n%+v", *c, got)
		}
		if c.State != Sending || c.ModemID != "m2" || c.Attempts == 0 || c.Reference == 0 {
			t.Errorf("claimed message %+v: want sending on m2, an attempt counted and a reference", *c)
		}
		if c.ID == first.ID && (c.Attempts != 2 || len(c.PartsAccepted) != 1 || c.PartMRs[1] != 7 || c.PartsTotal != 2 || c.LastError != "timeout") {
			t.Errorf("resumed message %+v: want its second attempt, part 1 with MR 7 of 2, last error kept", *c)
		}
	}
}
