package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
	_ "github.com/mattn/go-sqlite3"

	"github.com/clinicsms/smsd/audit"
)

// The tests of this package run against a real SQLite file opened as the
// store opens it (WAL, BEGIN IMMEDIATE), with the tables made by
// audit.Schema itself, so the triggers, the column types and the ordering
// they rely on are SQLite's and not a fake's. Package queue is not
// imported: its integration has tests of its own.

// openDB opens a fresh store file in t.TempDir() and applies audit.Schema.
func openDB(t testing.TB) *sql.DB {
	t.Helper()
	return openDBAt(t, filepath.Join(t.TempDir(), "smsd.db"))
}

func openDBAt(t testing.TB, path string) *sql.DB {
	t.Helper()
	db := openDBNoSchemaAt(t, path)
	if _, err := db.Exec(audit.Schema); err != nil {
		t.Fatalf("apply audit.Schema: %v", err)
	}
	return db
}

// openDBNoSchema opens a fresh store file without the log's tables.
func openDBNoSchema(t testing.TB) *sql.DB {
	t.Helper()
	return openDBNoSchemaAt(t, filepath.Join(t.TempDir(), "smsd.db"))
}

func openDBNoSchemaAt(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_txlock=immediate&_foreign_keys=on&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// t0 is the fixed time the tests' events start at, so that hashes, exports
// and golden files are reproducible.
var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// appendAll appends events in one transaction, as the store would for one
// action each, and returns the rows Append made.
func appendAll(t testing.TB, db *sql.DB, events ...audit.Event) []audit.Row {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var rows []audit.Row
	for _, e := range events {
		r, err := audit.Append(ctx, tx, e)
		if err != nil {
			t.Fatalf("Append(%+v): %v", e, err)
		}
		rows = append(rows, r)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// someEvents returns n plausible events, a minute apart from t0.
func someEvents(n int) []audit.Event {
	actions := []string{audit.LoginOK, audit.MessageCreate, audit.MessageView, audit.OptOutAdd, audit.MessageCancel, audit.Logout}
	var es []audit.Event
	for i := range n {
		es = append(es, audit.Event{
			Time:       t0.Add(time.Duration(i) * time.Minute),
			Actor:      fmt.Sprintf("web:user%d", i%3),
			Role:       "staff",
			Client:     "192.0.2.7",
			Action:     actions[i%len(actions)],
			ObjectType: "message",
			ObjectID:   fmt.Sprint(100 + i),
			Detail:     fmt.Sprintf("event %d to +44 77** ***%03d", i+1, i),
		})
	}
	return es
}

// readAll reads the whole log back with Scan.
func readAll(t testing.TB, q audit.Querier) []audit.Row {
	t.Helper()
	var rows []audit.Row
	if err := audit.Scan(context.Background(), q, time.Time{}, time.Time{}, func(r audit.Row) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}

// tamper does to the file what an attacker holding the box would: drop the
// append-only triggers and run SQL.
func tamper(t testing.TB, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range append([]string{"DROP TRIGGER IF EXISTS audit_log_no_update", "DROP TRIGGER IF EXISTS audit_log_no_delete"}, stmts...) {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("tamper: %s: %v", s, err)
		}
	}
}

// Append chains the rows: sequence numbers from 1, each previous hash the
// row before's hash (zero for the first), each hash HashRow of the row as
// stored; the rows read back are the rows Append returned.
func TestAppendChains(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	if h, err := audit.LastHead(ctx, db); err != nil || h != (audit.Head{}) {
		t.Fatalf("LastHead of an empty log = %v, %v; want the zero Head", h, err)
	}
	written := appendAll(t, db, someEvents(5)...)
	got := readAll(t, db)
	if len(got) != 5 {
		t.Fatalf("%d rows read back, want 5", len(got))
	}
	var prev [32]byte
	for i, r := range got {
		if r.Seq != int64(i+1) {
			t.Errorf("row %d: seq %d", i+1, r.Seq)
		}
		if r.PrevHash != prev {
			t.Errorf("row %d: prev_hash %x, want the previous row's hash %x", r.Seq, r.PrevHash, prev)
		}
		if h := audit.HashRow(r.Seq, r.Event, r.PrevHash); h != r.Hash {
			t.Errorf("row %d: stored hash %x, HashRow recomputes %x", r.Seq, r.Hash, h)
		}
		if r != written[i] {
			t.Errorf("row %d read back as %+v, Append returned %+v", r.Seq, r, written[i])
		}
		prev = r.Hash
	}
	h, err := audit.LastHead(ctx, db)
	if err != nil || h != (audit.Head{Seq: 5, Hash: got[4].Hash}) {
		t.Errorf("LastHead = %v, %v; want row 5's", h, err)
	}
	if h, err := audit.Check(ctx, db); err != nil || h.Seq != 5 || h.Hash != got[4].Hash {
		t.Errorf("Check = %v, %v; want row 5's head", h, err)
	}
}

// Append fills in what an event may leave out (a zero time is now, a zero
// outcome is OK), keeps times in UTC to the millisecond as HashRow hashes
// them, and refuses an event without an action.
func TestAppendDefaults(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	paris := time.FixedZone("CET", 3600)
	before := time.Now().Truncate(time.Millisecond)
	rows := appendAll(t, db,
		audit.Event{Action: audit.Start},
		audit.Event{Action: audit.LoginFail, Outcome: audit.Denied, Time: time.Date(2026, 3, 1, 10, 0, 0, 123456789, paris)},
	)
	after := time.Now()
	if r := rows[0]; r.Time.Before(before) || r.Time.After(after) || r.Outcome != audit.OK {
		t.Errorf("zero time and outcome: got time %v (want between %v and %v), outcome %q (want %q)", r.Time, before, after, r.Outcome, audit.OK)
	}
	want := time.Date(2026, 3, 1, 9, 0, 0, 123000000, time.UTC)
	got := readAll(t, db)
	if !got[1].Time.Equal(want) || got[1].Time.Location() != time.UTC || got[1].Outcome != audit.Denied {
		t.Errorf("stored time %v (%v), outcome %q; want %v UTC, %q", got[1].Time, got[1].Time.Location(), got[1].Outcome, want, audit.Denied)
	}
	if got[1] != rows[1] {
		t.Errorf("row read back %+v differs from Append's %+v", got[1], rows[1])
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := audit.Append(ctx, tx, audit.Event{Actor: "system"}); err == nil {
		t.Error("Append of an event without an action succeeded")
	}
}

// HashRow covers every field and its boundaries: the length prefixes make
// moving a byte from one field to the next change the hash.
func TestHashRowCoversEveryField(t *testing.T) {
	base := audit.Event{Time: t0, Actor: "web:ab", Role: "c", Client: "pid 1", Action: audit.MessageView,
		ObjectType: "message", ObjectID: "7", Outcome: audit.OK, Detail: "d"}
	var prev [32]byte
	ref := audit.HashRow(3, base, prev)
	for _, tc := range []struct {
		name string
		seq  int64
		edit func(*audit.Event)
		prev [32]byte
	}{
		{"seq", 4, func(*audit.Event) {}, prev},
		{"time by a millisecond", 3, func(e *audit.Event) { e.Time = e.Time.Add(time.Millisecond) }, prev},
		{"actor", 3, func(e *audit.Event) { e.Actor = "web:ax" }, prev},
		{"byte moved from actor to role", 3, func(e *audit.Event) { e.Actor, e.Role = "web:a", "bc" }, prev},
		{"role", 3, func(e *audit.Event) { e.Role = "admin" }, prev},
		{"client", 3, func(e *audit.Event) { e.Client = "pid 2" }, prev},
		{"action", 3, func(e *audit.Event) { e.Action = audit.MessageList }, prev},
		{"object type", 3, func(e *audit.Event) { e.ObjectType = "user" }, prev},
		{"object id", 3, func(e *audit.Event) { e.ObjectID = "8" }, prev},
		{"outcome", 3, func(e *audit.Event) { e.Outcome = audit.Failed }, prev},
		{"detail", 3, func(e *audit.Event) { e.Detail = "D" }, prev},
		{"previous hash", 3, func(*audit.Event) {}, [32]byte{31: 1}},
	} {
		e := base
		tc.edit(&e)
		if audit.HashRow(tc.seq, e, tc.prev) == ref {
			t.Errorf("%s changed, the hash did not", tc.name)
		}
	}
	// What HashRow cannot see does not change it: the time's zone and
	// anything below a millisecond (the log keeps neither).
	e := base
	e.Time = t0.In(time.FixedZone("X", -5*3600)).Add(999 * time.Microsecond)
	if audit.HashRow(3, e, prev) != ref {
		t.Error("the same millisecond in another zone hashes differently")
	}
}

// The triggers of audit.Schema refuse to change or delete a row of the log
// or a signed head, and the row stays as it was.
func TestTriggersRefuseUpdateAndDelete(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	appendAll(t, db, someEvents(3)...)
	_, key := newKey(t)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	head, _ := audit.LastHead(ctx, tx)
	if _, err := audit.SignHead(ctx, tx, key, head, t0); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	before := readAll(t, db)
	headsBefore, _ := audit.Heads(ctx, db)
	for _, tc := range []struct{ stmt, want string }{
		{"UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 2", "append-only: rows cannot be changed"},
		{"UPDATE audit_log SET seq = 10 WHERE seq = 3", "append-only: rows cannot be changed"},
		{"DELETE FROM audit_log WHERE seq = 3", "append-only: rows cannot be deleted"},
		{"DELETE FROM audit_log", "append-only: rows cannot be deleted"},
		// REPLACE deletes the old row without firing the DELETE trigger.
		{"INSERT OR REPLACE INTO audit_log SELECT * FROM audit_log WHERE seq = 1", "append-only: rows cannot be replaced"},
		{"REPLACE INTO audit_log (seq, at, actor, role, client, action, object_type, object_id, outcome, detail, prev_hash, hash) " +
			"SELECT seq, at, actor, role, client, action, object_type, object_id, outcome, 'nothing happened', prev_hash, hash FROM audit_log WHERE seq = 2", "append-only: rows cannot be replaced"},
		{"INSERT INTO audit_log SELECT * FROM audit_log WHERE seq = 1 ON CONFLICT (seq) DO UPDATE SET detail = 'x'", "append-only: rows cannot be"},
		{"UPDATE audit_heads SET seq = 1", "signed audit heads cannot be changed"},
		{"DELETE FROM audit_heads", "signed audit heads cannot be deleted"},
		{"INSERT OR REPLACE INTO audit_heads SELECT id, 0, hash, signed_at, signature FROM audit_heads", "signed audit heads cannot be replaced"},
	} {
		_, err := db.Exec(tc.stmt)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.stmt, err, tc.want)
		}
	}
	after := readAll(t, db)
	headsAfter, _ := audit.Heads(ctx, db)
	if fmt.Sprint(before) != fmt.Sprint(after) || fmt.Sprint(headsBefore) != fmt.Sprint(headsAfter) || len(headsAfter) != 1 {
		t.Errorf("the log or its heads changed:\n%v\n%v\n%v\n%v", before, after, headsBefore, headsAfter)
	}
}

// Control characters (C0, DEL, C1) and bytes that are not UTF-8 are stored
// as \xNN, one escape per byte, in every text field; printable text of any
// script is stored as it is. The stored value is what is hashed.
func TestAppendEscapesControls(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "sent to +44 77** ***123", "sent to +44 77** ***123"},
		{"line feed", "a\nb", `a\x0ab`},
		{"carriage return and line feed", "a\r\nb", `a\x0d\x0ab`},
		{"leading carriage return", "\r=1+1", `\x0d=1+1`},
		{"tab", "\tcol", `\x09col`},
		{"escape sequence", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"NUL", "a\x00b", `a\x00b`},
		{"DEL", "a\x7f", `a\x7f`},
		{"C1 next line U+0085", "a\u0085b", `a\xc2\x85b`},
		{"invalid byte", "a\xffb", `a\xffb`},
		{"truncated UTF-8 sequence", "caf\xc3", `caf\xc3`},
		{"surrogate half encoded", "\xed\xa0\x80", `\xed\xa0\x80`},
		{"non-ASCII kept", "café naïve Ünïcödé", "café naïve Ünïcödé"},
		{"emoji kept", "sent 📱✅", "sent 📱✅"},
		{"backslash kept as is", `C:\x41`, `C:\x41`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			e := audit.Event{Time: t0, Actor: tc.in, Role: tc.in, Client: tc.in, Action: tc.in,
				ObjectType: tc.in, ObjectID: tc.in, Outcome: tc.in, Detail: tc.in}
			r := appendAll(t, db, e)[0]
			var stored [8]string
			if err := db.QueryRow("SELECT actor, role, client, action, object_type, object_id, outcome, detail FROM audit_log WHERE seq = 1").
				Scan(&stored[0], &stored[1], &stored[2], &stored[3], &stored[4], &stored[5], &stored[6], &stored[7]); err != nil {
				t.Fatal(err)
			}
			for i, s := range stored {
				if s != tc.want {
					t.Errorf("column %d stored %q, want %q", i, s, tc.want)
				}
			}
			if r.Detail != tc.want || r.Actor != tc.want {
				t.Errorf("Append returned detail %q actor %q, want %q", r.Detail, r.Actor, tc.want)
			}
			if _, err := audit.Check(context.Background(), db); err != nil {
				t.Errorf("Check: %v", err)
			}
		})
	}
}

// Check names the first row at which the chain breaks for each way an
// attacker with the file (and SQL, after DROP TRIGGER) may change it, and
// a head signed before the change disagrees with the log in every case:
// also when the chain itself still holds (the tail cut off).
func TestCheckFindsTampering(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB)
		// wantBreak is the row Check names; 0: the chain holds, ending at
		// wantHead.
		wantBreak  int64
		wantReason string
		wantHead   int64
		// wantHeads is what CheckHeads says with the head signed before.
		wantHeads string
	}{
		{
			name: "a row's detail edited",
			tamper: func(t *testing.T, db *sql.DB) {
				tamper(t, db, "UPDATE audit_log SET detail = 'nothing to see' WHERE seq = 3")
			},
			wantBreak:  3,
			wantReason: "its content does not match its hash",
		},
		{
			name:       "a row's time edited",
			tamper:     func(t *testing.T, db *sql.DB) { tamper(t, db, "UPDATE audit_log SET at = at + 1 WHERE seq = 5") },
			wantBreak:  5,
			wantReason: "its content does not match its hash",
		},
		{
			name:       "a row deleted in the middle",
			tamper:     func(t *testing.T, db *sql.DB) { tamper(t, db, "DELETE FROM audit_log WHERE seq = 3") },
			wantBreak:  4,
			wantReason: "it follows row 2",
		},
		{
			name: "two rows reordered (their seq swapped)",
			tamper: func(t *testing.T, db *sql.DB) {
				tamper(t, db, "UPDATE audit_log SET seq = -2 WHERE seq = 2", "UPDATE audit_log SET seq = 2 WHERE seq = 4", "UPDATE audit_log SET seq = 4 WHERE seq = -2")
			},
			wantBreak:  2,
			wantReason: "its previous hash is not row 1's hash",
		},
		{
			name: "a row's seq moved to close the gap of a deleted row",
			tamper: func(t *testing.T, db *sql.DB) {
				tamper(t, db, "DELETE FROM audit_log WHERE seq = 3", "UPDATE audit_log SET seq = 3 WHERE seq = 4")
			},
			wantBreak:  3,
			wantReason: "its previous hash is not row 2's hash",
		},
		{
			name:       "the first row deleted",
			tamper:     func(t *testing.T, db *sql.DB) { tamper(t, db, "DELETE FROM audit_log WHERE seq = 1") },
			wantBreak:  2,
			wantReason: "the log starts at row 2: rows 1 to 1 are missing",
		},
		{
			name: "the first row replaced by one that claims a previous row",
			tamper: func(t *testing.T, db *sql.DB) {
				tamper(t, db, "UPDATE audit_log SET prev_hash = (SELECT hash FROM audit_log WHERE seq = 6) WHERE seq = 1")
			},
			wantBreak:  1,
			wantReason: "the first row does not start the chain",
		},
		{
			name: "an edited row's hash recomputed (no key needed)",
			tamper: func(t *testing.T, db *sql.DB) {
				r := readAll(t, db)[2]
				r.Detail = "nothing to see"
				h := audit.HashRow(r.Seq, r.Event, r.PrevHash)
				tamper(t, db)
				if _, err := db.Exec("UPDATE audit_log SET detail = ?, hash = ? WHERE seq = 3", r.Detail, h[:]); err != nil {
					t.Fatal(err)
				}
			},
			wantBreak:  4,
			wantReason: "its previous hash is not row 3's hash",
		},
		{
			name: "the tail truncated",
			tamper: func(t *testing.T, db *sql.DB) {
				tamper(t, db, "DELETE FROM audit_log WHERE seq > 4")
			},
			wantHead:  4,
			wantHeads: "names row 6, but the log ends at row 4: it was cut short",
		},
		{
			name: "the whole chain rewritten from row 3 (every hash recomputed)",
			tamper: func(t *testing.T, db *sql.DB) {
				rows := readAll(t, db)
				tamper(t, db)
				prev := rows[1].Hash
				for _, r := range rows[2:] {
					r.Detail += " (edited)"
					r.PrevHash = prev
					r.Hash = audit.HashRow(r.Seq, r.Event, r.PrevHash)
					if _, err := db.Exec("UPDATE audit_log SET detail = ?, prev_hash = ?, hash = ? WHERE seq = ?", r.Detail, r.PrevHash[:], r.Hash[:], r.Seq); err != nil {
						t.Fatal(err)
					}
					prev = r.Hash
				}
			},
			wantHead:  6,
			wantHeads: "row 6 is not the row signed at",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			appendAll(t, db, someEvents(6)...)
			pub, key := newKey(t)
			signed := signHead(t, db, key, t0.Add(time.Hour))
			if _, n, err := audit.CheckHeads(ctx, db, []minisign.PublicKey{pub}); err != nil || n != 1 {
				t.Fatalf("before tampering: CheckHeads = %d heads, %v", n, err)
			}

			tc.tamper(t, db)

			head, err := audit.Check(ctx, db)
			var be *audit.BreakError
			switch {
			case tc.wantBreak == 0 && err != nil:
				t.Fatalf("Check: %v; want the chain to hold", err)
			case tc.wantBreak == 0 && head.Seq != tc.wantHead:
				t.Fatalf("Check's head is row %d, want %d", head.Seq, tc.wantHead)
			case tc.wantBreak != 0 && !errors.As(err, &be):
				t.Fatalf("Check = %v, %v; want a *BreakError at row %d", head, err, tc.wantBreak)
			case tc.wantBreak != 0 && (be.Seq != tc.wantBreak || !strings.Contains(be.Reason, tc.wantReason)):
				t.Fatalf("Check breaks at row %d (%s); want row %d (%s)", be.Seq, be.Reason, tc.wantBreak, tc.wantReason)
			}

			_, _, err = audit.CheckHeads(ctx, db, []minisign.PublicKey{pub})
			if tc.wantBreak != 0 {
				if !errors.As(err, &be) || be.Seq != tc.wantBreak {
					t.Errorf("CheckHeads = %v; want Check's break at row %d", err, tc.wantBreak)
				}
				return
			}
			if !errors.Is(err, audit.ErrHeadMismatch) || !strings.Contains(err.Error(), tc.wantHeads) {
				t.Errorf("CheckHeads = %v; want ErrHeadMismatch saying %q", err, tc.wantHeads)
			}
			// The same head from outside the box (the journal) says the
			// same, even when the copy kept in the store is gone.
			tamper(t, db, "DROP TRIGGER audit_heads_no_delete", "DELETE FROM audit_heads")
			if _, _, err := audit.CheckHeads(ctx, db, []minisign.PublicKey{pub}); err != nil {
				t.Fatalf("with the kept heads deleted: %v", err)
			}
			if _, _, err := audit.CheckHeads(ctx, db, []minisign.PublicKey{pub}, signed); !errors.Is(err, audit.ErrHeadMismatch) || !strings.Contains(err.Error(), tc.wantHeads) {
				t.Errorf("CheckHeads with the head from outside = %v; want ErrHeadMismatch saying %q", err, tc.wantHeads)
			}
		})
	}
}

// Check finds a break however far down the log it is, and an empty log
// holds with the zero head.
func TestCheckEmptyAndLongLog(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	if h, err := audit.Check(ctx, db); err != nil || h != (audit.Head{}) {
		t.Fatalf("Check of an empty log = %v, %v", h, err)
	}
	appendAll(t, db, someEvents(300)...)
	tamper(t, db, "UPDATE audit_log SET outcome = 'denied' WHERE seq = 297")
	var be *audit.BreakError
	if _, err := audit.Check(ctx, db); !errors.As(err, &be) || be.Seq != 297 {
		t.Fatalf("Check = %v; want a break at row 297", err)
	}
	if !strings.Contains(be.Error(), "the audit chain breaks at row 297") {
		t.Errorf("BreakError says %q", be.Error())
	}
}

// Head's String is what exports and the journal show; ParseHead reads it
// back and refuses what is not one.
func TestHeadStringParse(t *testing.T) {
	h := audit.Head{Seq: 42, Hash: [32]byte{0: 0xab, 31: 0x01}}
	s := h.String()
	if want := "42:ab" + strings.Repeat("00", 30) + "01"; s != want {
		t.Fatalf("String = %q, want %q", s, want)
	}
	if got, err := audit.ParseHead(s); err != nil || got != h {
		t.Fatalf("ParseHead(%q) = %v, %v", s, got, err)
	}
	if got, err := audit.ParseHead(audit.Head{}.String()); err != nil || got != (audit.Head{}) {
		t.Fatalf("ParseHead of the zero head = %v, %v", got, err)
	}
	for _, bad := range []string{"", "42", "42:", "-1:" + strings.Repeat("00", 32), "x:" + strings.Repeat("00", 32),
		"42:" + strings.Repeat("00", 31), "42:" + strings.Repeat("zz", 32), "42:" + strings.Repeat("00", 33)} {
		if _, err := audit.ParseHead(bad); err == nil {
			t.Errorf("ParseHead(%q) succeeded", bad)
		}
	}
}

// Scan reads the rows with from <= time < to in sequence order; a zero
// bound is no bound.
func TestScanRange(t *testing.T) {
	db := openDB(t)
	appendAll(t, db, someEvents(10)...)
	min := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	for _, tc := range []struct {
		from, to    time.Time
		first, last int64
	}{
		{time.Time{}, time.Time{}, 1, 10},
		{min(3), time.Time{}, 4, 10},
		{time.Time{}, min(3), 1, 3},
		{min(3), min(6), 4, 6},
		{min(3), min(3), 0, 0},
		{min(3).Add(time.Millisecond), min(4).Add(time.Millisecond), 5, 5},
	} {
		var seqs []int64
		if err := audit.Scan(context.Background(), db, tc.from, tc.to, func(r audit.Row) error {
			seqs = append(seqs, r.Seq)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var want []int64
		for s := tc.first; s != 0 && s <= tc.last; s++ {
			want = append(want, s)
		}
		if fmt.Sprint(seqs) != fmt.Sprint(want) {
			t.Errorf("Scan [%v, %v) = %v, want %v", tc.from, tc.to, seqs, want)
		}
	}
	// An error from fn stops the scan and is returned as it is.
	stop := errors.New("stop")
	n := 0
	if err := audit.Scan(context.Background(), db, time.Time{}, time.Time{}, func(audit.Row) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Scan with fn failing = %v after %d rows", err, n)
	}
}
