package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clinicsms/smsd/audit"
)

// TestAuditRowCommitsWithItsAction: a change made under an audit record
// writes its row in the same transaction; a refused change writes none; the
// retention purge, which erases old messages, never touches the log.
func TestAuditRowCommitsWithItsAction(t *testing.T) {
	e, s := openEnv(t)
	defer s.Close()
	ctx := context.Background()
	rows := func() []audit.Row {
		t.Helper()
		var out []audit.Row
		if err := audit.Scan(ctx, s.r, time.Time{}, time.Time{}, func(r audit.Row) error { out = append(out, r); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	rec := audit.NewRecord(audit.Event{Actor: "unix:alice", Role: "admin", Action: audit.MessageCreate})
	m, err := s.Enqueue(audit.NewContext(ctx, rec), NewMessage{To: "+15551234567", Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	row, ok := rec.Written()
	got := rows()
	if !ok || len(got) != 1 || got[0].ObjectID != "1" || got[0].ObjectType != "message" || got[0].Detail != "to=+1******4567" || row.Seq != 1 || m.ID != 1 {
		t.Fatalf("row after enqueue: %+v (written %v) %+v", got, ok, row)
	}

	// Refused inside the transaction (opted out): no message, no row.
	if err := s.OptOut(ctx, "+15550000001"); err != nil {
		t.Fatal(err)
	}
	rec = audit.NewRecord(audit.Event{Actor: "unix:alice", Action: audit.MessageCreate})
	if _, err := s.Enqueue(audit.NewContext(ctx, rec), NewMessage{To: "+15550000001", Text: "x"}); !errors.Is(err, ErrOptedOut) {
		t.Fatalf("enqueue to an opted-out number: %v", err)
	}
	if _, ok := rec.Written(); ok || len(rows()) != 1 {
		t.Fatalf("a refused enqueue wrote a row: %v", rows())
	}

	// A cancel's row is its own transition's.
	rec = audit.NewRecord(audit.Event{Actor: "unix:alice", Action: audit.MessageCancel, ObjectType: "message", ObjectID: "1"})
	if err := s.Cancel(audit.NewContext(ctx, rec), 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.Written(); !ok || len(rows()) != 2 {
		t.Fatalf("cancel: %v", rows())
	}

	// Years later the purge erases the message's content, not the log.
	e.clk.Add(7 * 365 * 24 * time.Hour)
	s.opt.RetentionDays = 30
	if n, err := s.PurgeExpired(ctx); err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if got := rows(); len(got) != 2 {
		t.Fatalf("the purge touched the audit log: %d rows", len(got))
	}
	if _, err := audit.Check(ctx, s.r); err != nil {
		t.Fatalf("chain after the purge: %v", err)
	}
}

// TestAuditSurvivesRotation: the log holds no sealed value, so a data key
// rotation leaves it as it was, and the rotation's own row is written by
// its last step only.
func TestAuditSurvivesRotation(t *testing.T) {
	_, s := openEnv(t)
	defer s.Close()
	ctx := context.Background()
	for range 3 {
		mustEnqueue(t, s, "+15551234567", "x")
	}
	if _, err := s.Audit(ctx, audit.Event{Actor: "system", Action: audit.Start}); err != nil {
		t.Fatal(err)
	}
	before, err := audit.LastHead(ctx, s.r)
	if err != nil {
		t.Fatal(err)
	}
	rec := audit.NewRecord(audit.Event{Actor: "unix:alice", Action: audit.KeyRotate})
	if _, err := s.RotateDataKey(audit.NewContext(ctx, rec), 1); err != nil {
		t.Fatal(err)
	}
	row, ok := rec.Written()
	if !ok || row.Seq != before.Seq+1 || row.ObjectID != "data_key:2" {
		t.Fatalf("rotation row %+v (written %v); want one row after %d", row, ok, before.Seq)
	}
	if head, err := audit.Check(ctx, s.r); err != nil || head.Seq != before.Seq+1 {
		t.Fatalf("chain after rotation: %v %v", head, err)
	}
}
