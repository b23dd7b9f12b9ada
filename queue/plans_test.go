package queue

import (
	"context"
	"strings"
	"testing"
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
