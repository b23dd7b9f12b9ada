package queue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/clinicsms/smsd/crypt"
)

func TestRewrapKEK(t *testing.T) {
	cheapPassphrase(t)
	ctx := context.Background()
	e, s := openEnv(t)
	m := mustEnqueue(t, s, num, "kept across rewrap")
	newKeys := KeySource{KeyFile: filepath.Join(e.dir, "smsd.key.new")}
	if err := s.RewrapKEK(ctx, newKeys); err != nil {
		t.Fatal(err)
	}
	// The live store keeps working, and a later rotation uses the new KEK.
	mustEnqueue(t, s, num, "after rewrap")
	s.Close()
	if _, err := Open(ctx, e.db, e.keys, e.opt); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old key still opens: %v", err)
	}
	e.keys = newKeys
	s = e.open(t)
	if got, _ := s.Get(ctx, m.ID); got.Text != "kept across rewrap" {
		t.Fatal(got)
	}
	// Key file → passphrase (locked mode).
	pass := KeySource{Passphrase: []byte("a long passphrase for tests")}
	if err := s.RewrapKEK(ctx, pass); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, e.db, e.keys, e.opt); !errors.Is(err, ErrLocked) {
		t.Fatalf("key file opens a passphrase DB: %v", err)
	}
	e.keys = pass
	s = e.open(t)
	if got, _ := s.Get(ctx, m.ID); got.Text != "kept across rewrap" {
		t.Fatal(got)
	}
}

// TestRotateDataKeyResumable interrupts a data key rotation after its first
// batch, reopens the store (mixed generations must all read, and blind
// index lookups must still match), resumes, and checks that no value under
// the old key remains and the old key is gone.
func TestRotateDataKeyResumable(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	var batch []NewMessage
	for i := range 40 {
		batch = append(batch, NewMessage{To: fmt.Sprintf("+1555000%04d", i), Text: fmt.Sprint("text ", i)})
	}
	if _, err := s.EnqueueBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Claim(ctx, "m1")
	s.RecordPart(ctx, c.ID, 1, 1, 33)
	s.MarkSent(ctx, c.ID)
	s.AddInbound(ctx, Inbound{From: c.To, Text: "reply"})
	s.OptOut(ctx, "+15559990000")
	s.SetSetting(ctx, "k", "v")
	phc, _ := crypt.HashPassword("pw")
	s.CreateUser(ctx, User{Username: "u", Role: RoleStaff, PasswordHash: phc, TOTPSecret: "S"})
	s.SaveTemplate(ctx, Template{Name: "t", Body: "b"})

	cctx, cancel := context.WithCancel(ctx)
	rotateBatchHook = func(int) { cancel() }
	defer func() { rotateBatchHook = nil }()
	if _, err := s.RotateDataKey(cctx, 10); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted rotation: %v", err)
	}
	rotateBatchHook = nil
	s.Close()
	s = e.open(t)
	db := raw(t, e.db)
	var gens, oldMsgs int
	db.QueryRow("SELECT COUNT(*) FROM data_keys").Scan(&gens)
	db.QueryRow("SELECT COUNT(*) FROM messages WHERE substr(text_sealed, 2, 4) = x'00000001'").Scan(&oldMsgs)
	if gens != 2 || oldMsgs == 0 || oldMsgs == 40 {
		t.Fatalf("after interruption: %d generations, %d of 40 messages still under the old key (want a mix)", gens, oldMsgs)
	}
	// Mixed state: everything reads, lookups match under either key.
	if l, err := s.List(ctx, ListFilter{Limit: 100}); err != nil || len(l) != 40 {
		t.Fatal(len(l), err)
	}
	if ok, _ := s.IsOptedOut(ctx, "+15559990000"); !ok {
		t.Fatal("opt-out lookup lost mid-rotation")
	}
	// Mid-rotation, rows carry old- and new-generation tags: all verify.
	if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
		t.Fatalf("integrity after a crash mid-rotation: %+v %v", p, err)
	}
	if id, err := s.RecordStatusReport(ctx, 33, c.To, true, true); err != nil || id != c.ID {
		t.Fatal(id, err)
	}
	st, err := s.RotateDataKey(ctx, 10)
	if err != nil || !st.Resumed || st.Gen != 2 {
		t.Fatalf("%+v %v", st, err)
	}
	db.QueryRow("SELECT COUNT(*) FROM data_keys").Scan(&gens)
	if gens != 1 {
		t.Fatalf("%d data keys left", gens)
	}
	for _, tc := range sealedColumns {
		for _, col := range tc.columns {
			var n int
			db.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM %s WHERE %s IS NOT NULL AND substr(%s, 2, 4) != x'00000002'", tc.table, col, col)).Scan(&n)
			if n != 0 {
				t.Errorf("%s.%s: %d values not under the new key", tc.table, col, n)
			}
		}
	}
	s.Close()
	s = e.open(t)
	if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
		t.Fatalf("integrity after the rotation finished: %+v %v", p, err)
	}
	var oldTags int
	db.QueryRow("SELECT (SELECT COUNT(*) FROM messages WHERE substr(tag, 1, 4) != x'00000002') + (SELECT COUNT(*) FROM users WHERE substr(tag, 1, 4) != x'00000002')").Scan(&oldTags)
	if oldTags != 0 {
		t.Fatalf("%d rows still tagged under the retired key", oldTags)
	}
	if l, err := s.List(ctx, ListFilter{Limit: 100}); err != nil || len(l) != 40 {
		t.Fatal(len(l), err)
	}
	if ok, _ := s.IsOptedOut(ctx, "+15559990000"); !ok {
		t.Fatal("opt-out lookup lost after rotation")
	}
	if _, err := s.Enqueue(ctx, NewMessage{To: "+15559990000", Text: "x"}); !errors.Is(err, ErrOptedOut) {
		t.Fatal(err)
	}
	if in, _ := s.AddInbound(ctx, Inbound{From: c.To, Text: "again"}); in.ReplyTo != c.ID {
		t.Fatal("threading lost after rotation")
	}
	u, err := s.UserByName(ctx, "u")
	if err != nil || u.TOTPSecret != "S" {
		t.Fatal(u, err)
	}
	// A second, complete rotation in one go.
	if st, err := s.RotateDataKey(ctx, 0); err != nil || st.Resumed || st.Gen != 3 {
		t.Fatalf("%+v %v", st, err)
	}
}

// TestRewrapKEKMidRotationAndFailure: a KEK change while a data key
// rotation is cut half-way rewraps both generations (the next open needs
// only the new KEK and resumes the rotation); a rewrap that cannot create
// its new key changes nothing.
func TestRewrapKEKMidRotationAndFailure(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	for i := range 30 {
		mustEnqueue(t, s, fmt.Sprintf("+1555000%04d", i), fmt.Sprint("text ", i))
	}
	wrapped := func() string {
		var w []byte
		if err := s.w.QueryRow("SELECT group_concat(hex(wrapped)) FROM data_keys").Scan(&w); err != nil {
			t.Fatal(err)
		}
		return string(w)
	}
	before := wrapped()
	if err := s.RewrapKEK(ctx, KeySource{KeyFile: filepath.Join(e.dir, "no-such-dir", "smsd.key")}); err == nil {
		t.Fatal("rewrap to an uncreatable key file succeeded")
	}
	if wrapped() != before {
		t.Fatal("a failed rewrap changed the stored data key")
	}
	cctx, cancel := context.WithCancel(ctx)
	rotateBatchHook = func(int) { cancel() }
	_, err := s.RotateDataKey(cctx, 10)
	rotateBatchHook = nil
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted rotation: %v", err)
	}
	newKeys := KeySource{KeyFile: filepath.Join(e.dir, "smsd.key.new")}
	if err := s.RewrapKEK(ctx, newKeys); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, e.db, e.keys, e.opt); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old KEK after rewrap: %v", err)
	}
	e.keys = newKeys
	s = e.open(t)
	if l, err := s.List(ctx, ListFilter{Limit: 100}); err != nil || len(l) != 30 {
		t.Fatalf("mixed generations after rewrap: %d %v", len(l), err)
	}
	st, err := s.RotateDataKey(ctx, 10)
	if err != nil || !st.Resumed {
		t.Fatalf("resume after rewrap: %+v %v", st, err)
	}
	if l, err := s.List(ctx, ListFilter{Limit: 100}); err != nil || len(l) != 30 || l[0].Text != "text 29" {
		t.Fatalf("after rotation: %d %v", len(l), err)
	}
}
