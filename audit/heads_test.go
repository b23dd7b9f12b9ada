package audit_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/clinicsms/smsd/audit"
)

// newKey makes a minisign key pair as the store does (crypto/rand).
func newKey(t testing.TB) (minisign.PublicKey, minisign.PrivateKey) {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// signHead signs the log's current head in a transaction of its own, as
// the store's SignAuditHead does, and returns it.
func signHead(t testing.TB, db *sql.DB, key minisign.PrivateKey, at time.Time) audit.SignedHead {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	head, err := audit.LastHead(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := audit.SignHead(ctx, tx, key, head, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return sh
}

// SignHead keeps what it signed; Heads lists the heads oldest first, as
// they were signed (time to the millisecond, UTC); each verifies under the
// key that signed it and under no other; any change to what was signed
// (sequence, hash, time) or to the signature fails it.
func TestSignedHeads(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	pub, key := newKey(t)
	otherPub, _ := newKey(t)

	empty := signHead(t, db, key, t0.Add(123456789*time.Nanosecond))
	if empty.Head != (audit.Head{}) || !empty.At.Equal(t0.Add(123*time.Millisecond)) {
		t.Errorf("head of the empty log: %v at %v", empty.Head, empty.At)
	}
	rows := appendAll(t, db, someEvents(4)...)
	second := signHead(t, db, key, t0.Add(time.Hour).In(time.FixedZone("CET", 3600)))
	if second.Head != (audit.Head{Seq: 4, Hash: rows[3].Hash}) {
		t.Errorf("signed head %v, want row 4's", second.Head)
	}
	if !strings.Contains(second.Signature, "trusted comment: smsd audit head "+second.Head.String()+" at 2026-03-01T10:00:00.000Z") {
		t.Errorf("the signature's trusted comment does not show the head:\n%s", second.Signature)
	}

	heads, err := audit.Heads(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) != 2 || heads[0] != empty || heads[1] != second || heads[1].At.Location() != time.UTC {
		t.Fatalf("Heads = %+v\nwant [%+v %+v]", heads, empty, second)
	}

	for _, tc := range []struct {
		name string
		edit func(*audit.SignedHead)
		keys []minisign.PublicKey
		want bool
	}{
		{"as signed", func(*audit.SignedHead) {}, []minisign.PublicKey{pub}, true},
		{"among other keys", func(*audit.SignedHead) {}, []minisign.PublicKey{otherPub, pub}, true},
		{"an unknown key", func(*audit.SignedHead) {}, []minisign.PublicKey{otherPub}, false},
		{"no keys", func(*audit.SignedHead) {}, nil, false},
		{"another sequence", func(sh *audit.SignedHead) { sh.Seq = 3 }, []minisign.PublicKey{pub}, false},
		{"another hash", func(sh *audit.SignedHead) { sh.Hash[0] ^= 1 }, []minisign.PublicKey{pub}, false},
		{"another time", func(sh *audit.SignedHead) { sh.At = sh.At.Add(time.Millisecond) }, []minisign.PublicKey{pub}, false},
		{"garbage signature", func(sh *audit.SignedHead) { sh.Signature = "not a signature" }, []minisign.PublicKey{pub}, false},
		{"another head's signature", func(sh *audit.SignedHead) { sh.Signature = empty.Signature }, []minisign.PublicKey{pub}, false},
	} {
		sh := second
		tc.edit(&sh)
		if got := audit.VerifyHead(sh, tc.keys); got != tc.want {
			t.Errorf("%s: VerifyHead = %v, want %v", tc.name, got, tc.want)
		}
	}

	head, n, err := audit.CheckHeads(ctx, db, []minisign.PublicKey{pub})
	if err != nil || n != 2 || head.Seq != 4 {
		t.Errorf("CheckHeads = %v, %d, %v; want row 4, 2 heads", head, n, err)
	}
	// A head from outside the box counts as one more.
	if _, n, err := audit.CheckHeads(ctx, db, []minisign.PublicKey{pub}, second); err != nil || n != 3 {
		t.Errorf("CheckHeads with a head from outside = %d, %v", n, err)
	}
}

// CheckHeads refuses a head that the audit keys did not sign: one signed by
// an unknown key, kept in the store or brought from outside, and an
// outside head whose signature is for another head.
func TestCheckHeadsRefusesUnknownSigner(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(db *sql.DB, pub minisign.PublicKey, key, stranger minisign.PrivateKey) error
		want string
	}{
		{"kept in the store", func(db *sql.DB, pub minisign.PublicKey, key, stranger minisign.PrivateKey) error {
			signHead(t, db, stranger, t0.Add(time.Hour))
			_, _, err := audit.CheckHeads(ctx, db, []minisign.PublicKey{pub})
			return err
		}, "the head of row 3 signed at 2026-03-01T10:00:00.000Z has no valid signature by the audit keys"},
		{"from outside", func(db *sql.DB, pub minisign.PublicKey, key, stranger minisign.PrivateKey) error {
			sh := signHead(t, db, stranger, t0.Add(2*time.Hour))
			tamper(t, db, "DROP TRIGGER audit_heads_no_delete", "DELETE FROM audit_heads")
			_, _, err := audit.CheckHeads(ctx, db, []minisign.PublicKey{pub}, sh)
			return err
		}, "the head of row 3 signed at 2026-03-01T11:00:00.000Z has no valid signature"},
		{"from outside, another head's signature", func(db *sql.DB, pub minisign.PublicKey, key, stranger minisign.PrivateKey) error {
			sh := signHead(t, db, key, t0.Add(time.Hour))
			sh.Seq = 2
			_, _, err := audit.CheckHeads(ctx, db, []minisign.PublicKey{pub}, sh)
			return err
		}, "the head of row 2 signed at 2026-03-01T10:00:00.000Z has no valid signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			appendAll(t, db, someEvents(3)...)
			pub, key := newKey(t)
			_, stranger := newKey(t)
			err := tc.run(db, pub, key, stranger)
			if !errors.Is(err, audit.ErrHeadMismatch) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckHeads = %v; want ErrHeadMismatch saying %q", err, tc.want)
			}
		})
	}
}

// After a key rotation the heads the old key signed still verify as long
// as its public key stays listed (the store keeps every public key it had),
// and not once it is dropped.
func TestRotatedKeyStillVerifiesOldHeads(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	oldPub, oldKey := newKey(t)
	newPub, newKey := newKey(t)
	appendAll(t, db, someEvents(3)...)
	old := signHead(t, db, oldKey, t0.Add(time.Hour))
	appendAll(t, db, someEvents(2)...)
	fresh := signHead(t, db, newKey, t0.Add(2*time.Hour))

	if !audit.VerifyHead(old, []minisign.PublicKey{oldPub, newPub}) || !audit.VerifyHead(fresh, []minisign.PublicKey{oldPub, newPub}) {
		t.Fatal("a head does not verify under the listed keys")
	}
	if audit.VerifyHead(old, []minisign.PublicKey{newPub}) {
		t.Fatal("the old head verifies under the new key alone")
	}
	if head, n, err := audit.CheckHeads(ctx, db, []minisign.PublicKey{oldPub, newPub}); err != nil || n != 2 || head.Seq != 5 {
		t.Fatalf("CheckHeads with both keys listed = %v, %d, %v", head, n, err)
	}
	if _, _, err := audit.CheckHeads(ctx, db, []minisign.PublicKey{newPub}); !errors.Is(err, audit.ErrHeadMismatch) || !strings.Contains(err.Error(), "row 3") {
		t.Fatalf("CheckHeads with the old key dropped = %v; want its head of row 3 refused", err)
	}
}
