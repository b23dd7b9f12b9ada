package audit_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/clinicsms/smsd/audit"
)

// countRows is how many rows the log holds.
func countRows(t testing.TB, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM audit_log").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// NewContext carries a record, FromContext finds it, Without hides it from
// the store's other transactions (and gives back a context without one as
// it is).
func TestRecordContext(t *testing.T) {
	bg := context.Background()
	if audit.FromContext(bg) != nil {
		t.Fatal("a bare context carries a record")
	}
	if audit.Without(bg) != bg {
		t.Error("Without of a context without a record is not that context")
	}
	rec := audit.NewRecord(audit.Event{Action: audit.MessageCreate})
	ctx := audit.NewContext(bg, rec)
	if audit.FromContext(ctx) != rec {
		t.Fatal("FromContext does not give back the record NewContext put")
	}
	type k struct{}
	child := context.WithValue(ctx, k{}, 1)
	if audit.FromContext(child) != rec {
		t.Error("a context derived from it lost the record")
	}
	without := audit.Without(child)
	if audit.FromContext(without) != nil {
		t.Error("Without still carries the record")
	}
	if without.Value(k{}) != 1 {
		t.Error("Without dropped the context's other values")
	}
	if audit.FromContext(audit.NewContext(without, rec)) != rec {
		t.Error("a record put back under Without is not found")
	}
}

// A record's row is appended inside the action's transaction and counts as
// written only once that transaction committed: a rolled-back transaction
// leaves no row and no written record, and the record can then be written
// by a later transaction; a written record is not appended twice.
func TestRecordCommitAndRollback(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	now := t0.Add(5 * time.Minute)
	rec := audit.NewRecord(audit.Event{Actor: "unix:alice", Role: "admin", Client: "pid 4242", Action: audit.UserCreate})
	ctx = audit.NewContext(ctx, rec)
	rec.SetObject("user", "17")
	rec.AddDetail("role=staff")
	rec.AddDetail("totp=required")
	if e := rec.Event(); e.ObjectType != "user" || e.ObjectID != "17" || e.Detail != "role=staff; totp=required" {
		t.Fatalf("Event = %+v", e)
	}

	// The action's transaction rolls back: nothing is written.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.FromContext(ctx).AppendIn(ctx, tx, now); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.Written(); ok {
		t.Error("written before the transaction ended")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	rec.RolledBack()
	rec.Committed() // a stray Committed after RolledBack writes nothing
	if _, ok := rec.Written(); ok {
		t.Error("written after its transaction rolled back")
	}
	if n := countRows(t, db); n != 0 {
		t.Fatalf("%d rows after a rollback, want 0", n)
	}

	// It runs again and commits: one row, seq 1, the store's clock.
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.AppendIn(ctx, tx, now); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.Written(); ok {
		t.Error("written before Committed")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rec.Committed()
	row, ok := rec.Written()
	if !ok {
		t.Fatal("not written after Committed")
	}
	stored := readAll(t, db)
	if len(stored) != 1 || stored[0] != row {
		t.Fatalf("log holds %+v, Written says %+v", stored, row)
	}
	if row.Seq != 1 || !row.Time.Equal(now) || row.ObjectID != "17" || row.Detail != "role=staff; totp=required" || row.Outcome != audit.OK {
		t.Errorf("written row %+v", row)
	}

	// A later transaction under the same context does not append it again,
	// and a later RolledBack does not unwrite it.
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.AppendIn(ctx, tx, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rec.RolledBack()
	if n := countRows(t, db); n != 1 {
		t.Errorf("%d rows after a second transaction, want 1", n)
	}
	if again, ok := rec.Written(); !ok || again != row {
		t.Errorf("Written after a later transaction = %+v, %v", again, ok)
	}
}

// A record with its own time keeps it; an append that fails (no action)
// leaves nothing pending, so Committed writes nothing.
func TestRecordTimeAndFailure(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	at := t0.Add(3 * time.Second)
	rec := audit.NewRecord(audit.Event{Time: at, Action: audit.MessageView})
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.AppendIn(ctx, tx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rec.Committed()
	if row, ok := rec.Written(); !ok || !row.Time.Equal(at) {
		t.Errorf("Written = %+v, %v; want the event's own time %v", row, ok, at)
	}

	bad := audit.NewRecord(audit.Event{Actor: "system"})
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.AppendIn(ctx, tx, t0); err == nil {
		t.Error("AppendIn of an event without an action succeeded")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	bad.Committed()
	if _, ok := bad.Written(); ok {
		t.Error("a failed append counts as written")
	}
}

// A record is safe to fill from several goroutines (a service's handlers)
// while the store reads it: the race detector watches this test.
func TestRecordConcurrentUse(t *testing.T) {
	rec := audit.NewRecord(audit.Event{Action: audit.ImportCommit})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec.AddDetail("x")
			rec.SetObject("import", "batch")
			_ = rec.Event()
			_, _ = rec.Written()
		}()
	}
	wg.Wait()
	if d := rec.Event().Detail; d != "x; x; x; x; x; x; x; x" {
		t.Errorf("detail after 8 concurrent AddDetail = %q", d)
	}
}
