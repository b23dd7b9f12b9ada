package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinicsms/smsd/crypt"
)

func schemaOf(t *testing.T, path string) string {
	t.Helper()
	db := raw(t, path)
	defer db.Close()
	rows, err := db.Query("SELECT type, name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, sqlText string
		rows.Scan(&typ, &name, &sqlText)
		fmt.Fprintf(&b, "%s %s %s\n", typ, name, strings.Join(strings.Fields(sqlText), " "))
	}
	return b.String()
}

// populate writes rows the way the smsd of schema version v did, straight
// into the file, sealed with the database's own key.
func populate(t *testing.T, path string, keys KeySource, v int) {
	t.Helper()
	db := raw(t, path)
	defer db.Close()
	var blob []byte
	if err := db.QueryRow("SELECT wrapped FROM data_keys WHERE gen = 1").Scan(&blob); err != nil {
		t.Fatal(err)
	}
	var w crypt.WrappedKey
	w.UnmarshalBinary(blob)
	kek, _ := crypt.LoadKeyFile(keys.KeyFile)
	dk, err := crypt.Unwrap(w, kek)
	if err != nil {
		t.Fatal(err)
	}
	s := crypt.NewSealer(dk)
	exec := func(q string, args ...any) {
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("v%d: %s: %v", v, q, err)
		}
	}
	seal := func(p, table, col string, id int64) []byte {
		return s.Seal([]byte(p), crypt.AD{Table: table, Column: col, RowID: id})
	}
	if v >= 1 {
		exec(`INSERT INTO messages (id, state, to_sealed, to_index, text_sealed, created_at, send_at, next_attempt_at, due_at, updated_at, attempts, reference, parts_total)
			VALUES (1, 'sending', ?, ?, ?, 1, 1, 1, 1, 1, 1, 77, 2)`, seal(num, "messages", "to_sealed", 1), s.BlindIndex(num), seal("old text", "messages", "text_sealed", 1))
		exec(`INSERT INTO message_parts (message_id, seq, total, mr, accepted_at) VALUES (1, 1, 2, 12, 1)`)
		exec(`INSERT INTO settings (id, key, value_sealed, updated_at) VALUES (1, 'help', ?, 1)`, seal("Call us", "settings", "value_sealed", 1))
	}
	if v >= 2 {
		exec(`INSERT INTO inbound (id, from_sealed, from_index, text_sealed, received_at, sent_at, reply_to) VALUES (1, ?, ?, ?, 2, 2, 1)`,
			seal(num, "inbound", "from_sealed", 1), s.BlindIndex(num), seal("C", "inbound", "text_sealed", 1))
		exec(`INSERT INTO optouts (id, number_index, number_sealed, created_at) VALUES (1, ?, ?, 3)`, s.BlindIndex("+15550001111"), seal("+15550001111", "optouts", "number_sealed", 1))
	}
	if v >= 3 {
		phc, err := crypt.HashPassword("old pw")
		if err != nil {
			t.Fatal(err)
		}
		exec(`INSERT INTO users (id, username, name_sealed, role, password_sealed, created_at, updated_at) VALUES (1, 'olduser', ?, 'admin', ?, 4, 4)`,
			seal("Old Name", "users", "name_sealed", 1), seal(phc, "users", "password_sealed", 1))
		exec(`INSERT INTO templates (id, name, body_sealed, created_at, updated_at) VALUES (1, 'old', ?, 4, 4)`, seal("Old body", "templates", "body_sealed", 1))
	}
}

// TestMigrationsFromEveryVersion builds a database at every earlier schema
// version, with data, and opens it with this build: it must migrate to the
// current schema (identical to a fresh one) and keep every row readable.
func TestMigrationsFromEveryVersion(t *testing.T) {
	ctx := context.Background()
	fresh := newEnv(t)
	want := schemaOf(t, fresh.db)
	for v := 1; v < SchemaVersion; v++ {
		t.Run(fmt.Sprintf("from_v%d", v), func(t *testing.T) {
			dir := t.TempDir()
			path, keys := filepath.Join(dir, "smsd.db"), KeySource{KeyFile: filepath.Join(dir, "smsd.key")}
			if err := initVersion(ctx, path, keys, Options{}, v); err != nil {
				t.Fatal(err)
			}
			populate(t, path, keys, v)
			s, err := Open(ctx, path, keys, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var uv int
			s.w.QueryRow("PRAGMA user_version").Scan(&uv)
			if uv != SchemaVersion {
				t.Fatalf("user_version %d", uv)
			}
			if got := schemaOf(t, path); got != want {
				t.Fatalf("schema after migration differs from a fresh one:\n%s\nwant:\n%s", got, want)
			}
			// Every row got its tag at the first open, and every digest matches.
			if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
				t.Fatalf("integrity after migrating from v%d: %+v %v", v, p, err)
			}
			m, err := s.Get(ctx, 1)
			if err != nil || m.Text != "old text" || m.State != Uncertain || m.Reference != 77 || len(m.PartsAccepted) != 1 {
				t.Fatalf("%+v %v", m, err)
			}
			if v, _ := s.Setting(ctx, "help"); v != "Call us" {
				t.Fatal(v)
			}
			if v >= 2 {
				box, err := s.Inbox(ctx, 5)
				if err != nil || len(box) != 1 || box[0].ReplyTo != 1 {
					t.Fatal(box, err)
				}
				if ok, _ := s.IsOptedOut(ctx, "+15550001111"); !ok {
					t.Fatal("opt-out lost")
				}
			}
			if v >= 3 {
				u, err := s.UserByName(ctx, "olduser")
				if err != nil || u.Name != "Old Name" {
					t.Fatalf("user written at v%d: %+v %v", v, u, err)
				}
				if ok, _ := crypt.VerifyPassword(u.PasswordHash, "old pw"); !ok {
					t.Fatal("password hash written at v3 does not verify")
				}
				ts, err := s.Templates(ctx)
				if err != nil || len(ts) != 1 || ts[0].Body != "Old body" {
					t.Fatalf("templates written at v%d: %+v %v", v, ts, err)
				}
			}
			// Inbound de-duplication (v4) works on a migrated database.
			first, err := s.AddInbound(ctx, Inbound{From: num, Text: "after migration"})
			if err != nil {
				t.Fatal(err)
			}
			if again, err := s.AddInbound(ctx, Inbound{From: num, Text: "after migration", ReceivedAt: first.ReceivedAt}); err != nil || again.ID != first.ID {
				t.Fatalf("duplicate inbound after migration stored as %d (first %d): %v", again.ID, first.ID, err)
			}
			// The new tables work.
			phc, _ := crypt.HashPassword("pw")
			if _, err := s.CreateUser(ctx, User{Username: "newuser", Role: RoleAdmin, PasswordHash: phc}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMigrationFailureRollsBack: a step that fails half-way leaves the
// database at the previous version with nothing of the step applied.
func TestMigrationFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	saved := migrations
	defer func() { migrations, SchemaVersion = saved, len(saved) }()
	migrations = append(append([]string{}, saved...), `CREATE TABLE half (a); INSERT INTO no_such_table VALUES (1);`)
	SchemaVersion = len(migrations)
	_, err := Open(ctx, e.db, e.keys, e.opt)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("from version %d", len(saved))) {
		t.Fatalf("%v", err)
	}
	db := raw(t, e.db)
	var uv, n int
	db.QueryRow("PRAGMA user_version").Scan(&uv)
	db.QueryRow("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'").Scan(&n)
	if uv != len(saved) || n != 0 {
		t.Fatalf("user_version %d, half-applied table present: %v", uv, n == 1)
	}
}

func TestTooNewSchemaRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	db := raw(t, e.db)
	db.Exec("PRAGMA user_version = 99")
	db.Close()
	before := fileSums(t, e.db)
	_, err := Open(ctx, e.db, e.keys, e.opt)
	if !errors.Is(err, ErrTooNew) || !strings.Contains(err.Error(), "99") {
		t.Fatalf("%v", err)
	}
	if fmt.Sprint(fileSums(t, e.db)) != fmt.Sprint(before) {
		t.Fatal("files changed")
	}
}

var _ = sql.ErrNoRows
