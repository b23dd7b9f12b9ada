package queue

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/clinicsms/smsd/crypt"
)

// TestIntegrityTamper: each change made with SQL on a closed store (no
// key) is refused where it would decide something, and only there.
func TestIntegrityTamper(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		attack string
		// check runs on the reopened store.
		check func(t *testing.T, s *Store)
	}{{
		name:   "message row put back from an older copy: nothing is sent",
		attack: "DELETE FROM messages WHERE id = 1; INSERT INTO messages SELECT * FROM old_msg",
		check: func(t *testing.T, s *Store) {
			if m, err := s.Claim(ctx, "m"); !errors.Is(err, ErrIntegrity) || m != nil {
				t.Fatalf("claim after a row rollback: %v %v", m, err)
			}
			p, err := s.CheckIntegrity(ctx)
			if err != nil || len(p) != 1 || p[0].Table != "messages" || p[0].ID != 0 {
				t.Fatalf("doctor findings: %+v %v", p, err)
			}
		},
	}, {
		name:   "garbage sealed text: quarantined, the next message goes",
		attack: "UPDATE messages SET text_sealed = randomblob(60) WHERE id = 2",
		check: func(t *testing.T, s *Store) {
			m, err := s.Claim(ctx, "m")
			if err != nil || m == nil || m.ID != 3 {
				t.Fatalf("claim: %+v %v", m, err)
			}
			if n, _ := s.Quarantined(ctx); n != 1 {
				t.Fatalf("%d quarantined", n)
			}
			p, _ := s.CheckIntegrity(ctx)
			if len(p) != 1 || p[0].ID != 2 || !p[0].Quarantined {
				t.Fatalf("findings %+v", p)
			}
			if err := s.Resend(ctx, 2); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("resend of a quarantined message: %v", err)
			}
			if err := s.DismissQuarantined(ctx, 2); err != nil {
				t.Fatal(err)
			}
			if p, _ := s.CheckIntegrity(ctx); len(p) != 0 {
				t.Fatalf("findings after dismiss %+v", p)
			}
			if err := s.DismissQuarantined(ctx, 3); !errors.Is(err, ErrInvalidTransition) {
				t.Fatalf("dismiss of a sound message: %v", err)
			}
		},
	}, {
		name:   "rotation with a bad cell finishes and lists it",
		attack: "UPDATE messages SET to_sealed = (SELECT to_sealed FROM messages WHERE id = 3) WHERE id = 2",
		check: func(t *testing.T, s *Store) {
			st, err := s.RotateDataKey(ctx, 1)
			if err != nil || len(st.Skipped) != 1 || st.Skipped[0] != "messages 2" {
				t.Fatalf("rotation: %+v %v", st, err)
			}
			if m, err := s.Claim(ctx, "m"); err != nil || m == nil || m.ID != 3 {
				t.Fatalf("claim after rotation: %+v %v", m, err)
			}
		},
	}, {
		name:   "opt-out deleted: nothing is queued or sent",
		attack: "DELETE FROM optouts",
		check: func(t *testing.T, s *Store) {
			if _, err := s.Enqueue(ctx, NewMessage{To: "+15559990000", Text: "x"}); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("enqueue: %v", err)
			}
			if _, err := s.Claim(ctx, "m"); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("claim: %v", err)
			}
			if err := s.AcceptDigest(ctx, "optouts"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Enqueue(ctx, NewMessage{To: "+15559990001", Text: "x"}); err != nil {
				t.Fatalf("enqueue after an admin accepted the list: %v", err)
			}
		},
	}, {
		name:   "staff made admin",
		attack: "UPDATE users SET role = 'admin' WHERE username = 'u'",
		check: func(t *testing.T, s *Store) {
			if _, err := s.UserByName(ctx, "u"); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("user: %v", err)
			}
			us, err := s.Users(ctx)
			if err != nil || len(us) != 1 || !us[0].Tampered || us[0].Role != "" || !us[0].Disabled {
				t.Fatalf("users: %+v %v", us, err)
			}
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, s := openEnv(t)
			hash := testHash(t)
			if _, err := s.CreateUser(ctx, User{Username: "u", Role: RoleStaff, PasswordHash: hash}); err != nil {
				t.Fatal(err)
			}
			s.OptOut(ctx, "+15559990000")
			for i := range 3 {
				if _, err := s.Enqueue(ctx, NewMessage{To: "+1555123456" + string(rune('0'+i)), Text: "m"}); err != nil {
					t.Fatal(err)
				}
			}
			db := raw(t, e.db)
			if _, err := db.Exec("CREATE TABLE old_msg AS SELECT * FROM messages WHERE id = 1"); err != nil {
				t.Fatal(err)
			}
			m, err := s.Claim(ctx, "m")
			if err != nil || m.ID != 1 {
				t.Fatal(m, err)
			}
			if err := s.MarkSent(ctx, 1); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if _, err := db.Exec(c.attack); err != nil {
				t.Fatal(err)
			}
			db.Close()
			c.check(t, e.open(t))
		})
	}
}

func testHash(t *testing.T) string {
	t.Helper()
	h, err := crypt.HashPassword("a test password")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestIntegrityDigestCache: the store keeps the digests its own writes
// left in memory, but a change another connection commits while it is open
// is seen at the next write: an opt-out deleted with SQL stops Enqueue and
// Claim, another store's enqueue is counted (no false alarm), and a part
// deleted from a message fails the message's tag.
func TestIntegrityDigestCache(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	if err := s.OptOut(ctx, "+15559990000"); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, s, "+15551234560", "one")
	// A second store on the same file (the CLI while no daemon claims).
	s2, err := Open(ctx, e.db, e.keys, e.opt)
	if err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, s2, "+15551234561", "two")
	if err := s2.OptOut(ctx, "+15559990001"); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	m := mustEnqueue(t, s, "+15551234562", "three")
	if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
		t.Fatalf("after writes from two stores: %+v %v", p, err)
	}
	c, err := s.Claim(ctx, "m")
	if err != nil || c == nil {
		t.Fatal(c, err)
	}
	if err := s.RecordPart(ctx, c.ID, 1, 1, 7); err != nil {
		t.Fatal(err)
	}
	db := raw(t, e.db)
	defer db.Close()
	if _, err := db.Exec("DELETE FROM message_parts WHERE message_id = ?", c.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSent(ctx, c.ID); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("mark sent after a part was deleted: %v", err)
	}
	if _, err := db.Exec("DELETE FROM optouts WHERE id = (SELECT MIN(id) FROM optouts)"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(ctx, NewMessage{To: "+15559990000", Text: "x"}); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("enqueue after an opt-out was deleted while open: %v", err)
	}
	if _, err := s.Claim(ctx, "m"); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("claim after an opt-out was deleted while open: %v", err)
	}
	if err := s.Cancel(ctx, m.ID); err != nil {
		t.Fatalf("cancel (no opt-out check): %v", err)
	}
}

// TestSealedLengthPadded: two texts (and two numbers) of different lengths
// within one crypt.PadStep are stored as cells of equal length, so the file
// does not tell a STOP from a reminder; a text sealed unpadded, as before
// padding, still reads, and its message is still sent.
func TestSealedLengthPadded(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	a := mustEnqueue(t, s, "+15551234567", "STOP")
	b := mustEnqueue(t, s, "+447700900123", "Your appt is Tue 9:30") // 20 bytes, a longer number
	db := raw(t, e.db)
	length := func(id int64, col string) int {
		var n int
		if err := db.QueryRow("SELECT length("+col+") FROM messages WHERE id = ?", id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, col := range []string{"text_sealed", "to_sealed"} {
		if la, lb := length(a.ID, col), length(b.ID, col); la != lb {
			t.Errorf("%s: %d and %d bytes", col, la, lb)
		}
	}
	// An unpadded value from before: sealed with Seal and tagged as the
	// store would have, by the store itself (Enqueue before padding).
	c := mustEnqueue(t, s, "+15551234568", "an old text")
	old := s.current().Seal([]byte("an old text"), crypt.AD{Table: "messages", Column: "text_sealed", RowID: c.ID})
	if err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec("UPDATE messages SET text_sealed = ? WHERE id = ?", old, c.ID); err != nil {
			return err
		}
		return s.retag(ctx, tx, "messages", c.ID)
	}); err != nil {
		t.Fatal(err)
	}
	if length(c.ID, "text_sealed") == length(a.ID, "text_sealed") {
		t.Fatal("the old value should be unpadded (the test would prove nothing)")
	}
	got, err := s.Get(ctx, c.ID)
	if err != nil || got.Text != "an old text" {
		t.Fatalf("old unpadded text: %q %v", got.Text, err)
	}
	if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
		t.Fatalf("findings: %+v %v", p, err)
	}
}
