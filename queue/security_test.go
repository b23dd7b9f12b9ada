package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/clinicsms/smsd/crypt"
)

// fileSums hashes the database and its -wal/-shm (absent files hash as "-").
func fileSums(t *testing.T, db string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, suf := range []string{"", "-wal", "-shm", "-journal"} {
		b, err := os.ReadFile(db + suf)
		if errors.Is(err, os.ErrNotExist) {
			out[suf] = "-"
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		// An empty -wal/-shm left by a reader changes nothing.
		if len(b) == 0 && suf != "" {
			out[suf] = "-"
			continue
		}
		out[suf] = fmt.Sprintf("%x", sha256.Sum256(b))
	}
	return out
}

func TestWrongKeyLeavesDBUntouched(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	mustEnqueue(t, s, num, "x")
	s.Claim(ctx, "m1") // a sending message: a successful open would change it
	s.Close()
	before := fileSums(t, e.db)
	otherKey := filepath.Join(e.dir, "other.key")
	if _, err := crypt.CreateKeyFile(otherKey); err != nil {
		t.Fatal(err)
	}
	for name, ks := range map[string]KeySource{
		"other_key_file": {KeyFile: otherKey},
		"passphrase":     {Passphrase: []byte("not the key file")},
	} {
		_, err := Open(ctx, e.db, ks, e.opt)
		if !errors.Is(err, ErrWrongKey) {
			t.Fatalf("%s: %v, want ErrWrongKey", name, err)
		}
		if !strings.Contains(err.Error(), "was not changed") && !strings.Contains(err.Error(), "wrapped for a keyfile") {
			t.Fatalf("%s: unclear error: %v", name, err)
		}
		if after := fileSums(t, e.db); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("%s: files changed by a failed open:\n%v\n%v", name, before, after)
		}
	}
	// And the right key still opens it, and does the sending→uncertain step.
	s = e.open(t)
	if c, _ := s.Counts(ctx); c[Uncertain] != 1 {
		t.Fatal(c)
	}
}

func TestKeySources(t *testing.T) {
	cheapPassphrase(t)
	ctx := context.Background()
	t.Run("passphrase_locked_mode", func(t *testing.T) {
		dir := t.TempDir()
		db := filepath.Join(dir, "smsd.db")
		pass := KeySource{Passphrase: []byte("correct horse battery")}
		if err := Init(ctx, db, pass, Options{}); err != nil {
			t.Fatal(err)
		}
		if m, err := KeyMethod(ctx, db, Options{}); err != nil || m != crypt.MethodPassphrase {
			t.Fatalf("KeyMethod = %q, %v", m, err)
		}
		if _, err := Open(ctx, db, KeySource{}, Options{}); !errors.Is(err, ErrLocked) {
			t.Fatalf("no key: %v, want ErrLocked", err)
		}
		if _, err := Open(ctx, db, KeySource{KeyFile: filepath.Join(dir, "k")}, Options{}); !errors.Is(err, ErrLocked) {
			t.Fatalf("key file for a passphrase DB: %v", err)
		}
		if _, err := Open(ctx, db, KeySource{Passphrase: []byte("correct horse battery!")}, Options{}); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("wrong passphrase: %v", err)
		}
		s, err := Open(ctx, db, pass, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	})
	t.Run("credential", func(t *testing.T) {
		dir := t.TempDir()
		creds := filepath.Join(dir, "creds")
		os.Mkdir(creds, 0o700)
		k, _ := crypt.NewKEK()
		os.WriteFile(filepath.Join(creds, "smsd.key"), k[:], 0o400)
		t.Setenv("CREDENTIALS_DIRECTORY", creds)
		db := filepath.Join(dir, "smsd.db")
		ks := KeySource{Credential: "smsd.key"}
		if err := Init(ctx, db, ks, Options{}); err != nil {
			t.Fatal(err)
		}
		s, err := Open(ctx, db, ks, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		k[0] ^= 1
		os.WriteFile(filepath.Join(creds, "smsd.key"), k[:], 0o400)
		if _, err := Open(ctx, db, ks, Options{}); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("changed credential: %v", err)
		}
	})
	t.Run("init_never_overwrites", func(t *testing.T) {
		e := newEnv(t)
		before := fileSums(t, e.db)
		if err := Init(ctx, e.db, e.keys, e.opt); !errors.Is(err, ErrExists) {
			t.Fatalf("second init: %v", err)
		}
		if fmt.Sprint(fileSums(t, e.db)) != fmt.Sprint(before) {
			t.Fatal("init changed an existing DB")
		}
	})
	t.Run("not_initialised", func(t *testing.T) {
		if _, err := Open(ctx, filepath.Join(t.TempDir(), "none.db"), KeySource{KeyFile: "x"}, Options{}); !errors.Is(err, ErrNotInitialized) || !strings.Contains(err.Error(), "smsd init") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("key_file_world_readable", func(t *testing.T) {
		e := newEnv(t)
		os.Chmod(e.keys.KeyFile, 0o644)
		if _, err := Open(ctx, e.db, e.keys, e.opt); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("ambiguous", func(t *testing.T) {
		e := newEnv(t)
		if _, err := Open(ctx, e.db, KeySource{KeyFile: e.keys.KeyFile, Credential: "x"}, e.opt); err == nil || !strings.Contains(err.Error(), "only one") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("db_mode_0600", func(t *testing.T) {
		e := newEnv(t)
		if st, _ := os.Stat(e.db); st.Mode().Perm() != 0o600 {
			t.Fatalf("db mode %o", st.Mode().Perm())
		}
	})
}

// raw opens the database file directly, bypassing the store, as an attacker
// with the SD card would.
func raw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestTamperDetected(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	a := mustEnqueue(t, s, num, "text of a")
	b := mustEnqueue(t, s, "+15557654321", "text of b")
	c := mustEnqueue(t, s, "+15550000001", "text of c")
	s.Close()
	db := raw(t, e.db)
	// Flip one byte in the middle of a's text ciphertext.
	var blob []byte
	db.QueryRow("SELECT text_sealed FROM messages WHERE id = ?", a.ID).Scan(&blob)
	blob[len(blob)/2] ^= 0x40
	db.Exec("UPDATE messages SET text_sealed = ? WHERE id = ?", blob, a.ID)
	// Swap b's and c's number ciphertexts.
	var tb, tc []byte
	db.QueryRow("SELECT to_sealed FROM messages WHERE id = ?", b.ID).Scan(&tb)
	db.QueryRow("SELECT to_sealed FROM messages WHERE id = ?", c.ID).Scan(&tc)
	db.Exec("UPDATE messages SET to_sealed = ? WHERE id = ?", tc, b.ID)
	db.Exec("UPDATE messages SET to_sealed = ? WHERE id = ?", tb, c.ID)
	db.Close()
	s = e.open(t)
	for _, tc := range []struct {
		id     int64
		column string
	}{{a.ID, "text_sealed"}, {b.ID, "to_sealed"}, {c.ID, "to_sealed"}} {
		m, err := s.Get(ctx, tc.id)
		if !errors.Is(err, ErrTampered) {
			t.Fatalf("message %d: %+v %v, want ErrTampered", tc.id, m, err)
		}
		want := fmt.Sprintf("messages %d: %s", tc.id, tc.column)
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %q", err, want)
		}
		if strings.Contains(err.Error(), "text of") || strings.Contains(err.Error(), "555") {
			t.Fatalf("error leaks content: %v", err)
		}
	}
	if _, err := s.List(ctx, ListFilter{}); !errors.Is(err, ErrTampered) {
		t.Fatalf("list over tampered rows: %v", err)
	}
	// Without content, listing still works (statistics survive tampering).
	if l, err := s.List(ctx, ListFilter{NoContent: true}); err != nil || len(l) != 3 {
		t.Fatal(l, err)
	}
}

// canaries are PHI that must never be found on disk in clear.
var canaries = []string{
	"+15551234567", "5551234567", "555-123-4567", // a number in its forms
	"Zebedee Quartermaine",           // a patient name inside a text
	"appointment with Dr Okonkwo",    // a message text
	"yes Zebedee will come",          // a reply text
	"JBSWY3DPEHPK3PXPCANARY",         // a TOTP secret
	"idem-Zebedee-0001",              // an idempotency key
	"Quartermaine Family Practice",   // a setting
	"Xanthippe Staffname",            // a staff display name
	"Template for Zebedee reminders", // a template body
}

func encodings(s string) map[string][]byte {
	u := utf16.Encode([]rune(s))
	le, be := make([]byte, 2*len(u)), make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(le[2*i:], c)
		binary.BigEndian.PutUint16(be[2*i:], c)
	}
	return map[string][]byte{"utf8": []byte(s), "utf16le": le, "utf16be": be}
}

// findCanaries returns every canary found in the file at path, in any of
// the encodings.
func findCanaries(t *testing.T, path string) (hits []string, size int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range canaries {
		for enc, pat := range encodings(c) {
			if bytes.Contains(b, pat) {
				hits = append(hits, fmt.Sprintf("%q as %s", c, enc))
			}
		}
	}
	return hits, len(b)
}

func scanCanaries(t *testing.T, db string, stage string) {
	t.Helper()
	scanned := 0
	for _, suf := range []string{"", "-wal", "-shm", "-journal"} {
		hits, n := findCanaries(t, db+suf)
		scanned += n
		for _, h := range hits {
			t.Errorf("%s: canary %s found in %s%s", stage, h, filepath.Base(db), suf)
		}
	}
	t.Logf("%s: scanned %d bytes", stage, scanned)
}

func TestNoPlaintextOnDisk(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	m, err := s.Enqueue(ctx, NewMessage{To: "555-123-4567", Text: "Zebedee Quartermaine: your appointment with Dr Okonkwo is at 9", IdempotencyKey: "idem-Zebedee-0001"})
	if err != nil {
		t.Fatal(err)
	}
	s.Claim(ctx, "m1")
	s.RecordPart(ctx, m.ID, 1, 1, 1)
	s.MarkSent(ctx, m.ID)
	s.AddInbound(ctx, Inbound{From: "+15551234567", Text: "yes Zebedee will come"})
	s.OptOut(ctx, "+15551234567")
	s.SetSetting(ctx, "clinic_name", "Quartermaine Family Practice")
	phc, _ := crypt.HashPassword("pw")
	s.CreateUser(ctx, User{Username: "xs", Name: "Xanthippe Staffname", Role: RoleStaff, PasswordHash: phc, TOTPSecret: "JBSWY3DPEHPK3PXPCANARY"})
	s.SaveTemplate(ctx, Template{Name: "t", Body: "Template for Zebedee reminders"})
	// The audit signing key is stored sealed too: its text form is a canary.
	sk, err := s.SigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	skText, _ := sk.MarshalText()
	defer func(n int) { canaries = canaries[:n] }(len(canaries))
	for _, line := range strings.Split(string(skText), "\n") {
		if len(line) > 40 && !strings.Contains(line, "comment") {
			canaries = append(canaries, line)
		}
	}
	if len(canaries) == 0 || !strings.HasPrefix(canaries[len(canaries)-1], "RW") {
		t.Fatalf("signing key text not understood: %d canaries", len(canaries))
	}
	// The WAL holds the recent writes: it must be among the files scanned.
	if st, _ := os.Stat(e.db + "-wal"); st == nil || st.Size() == 0 {
		t.Fatal("expected a non-empty WAL while the store is open")
	}
	scanCanaries(t, e.db, "open")
	if _, err := s.RotateDataKey(ctx, 2); err != nil {
		t.Fatal(err)
	}
	scanCanaries(t, e.db, "after rotation")
	s.Close()
	scanCanaries(t, e.db, "closed")
	// The scanner itself works: it finds a canary in each encoding.
	for enc := range encodings("x") {
		probe := filepath.Join(e.dir, "probe-"+enc)
		os.WriteFile(probe, append([]byte("xx"), encodings("Zebedee Quartermaine")[enc]...), 0o600)
		if hits, _ := findCanaries(t, probe); len(hits) == 0 {
			t.Fatalf("scanner self-check failed for %s", enc)
		}
	}
}

// TestCorruptFileRefused: a damaged database file is refused at open with
// a clear error, not used.
func TestCorruptFileRefused(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	for i := range 300 {
		mustEnqueue(t, s, fmt.Sprintf("+1555000%04d", i), strings.Repeat("padding ", 30))
	}
	s.Close()
	b, _ := os.ReadFile(e.db)
	// Scribble over a page in the middle (not the header, not data_keys).
	page := 4096
	mid := (len(b) / page / 2) * page
	for i := mid + 8; i < mid+page; i++ {
		b[i] = 0x5A
	}
	os.WriteFile(e.db, b, 0o600)
	_, err := Open(ctx, e.db, e.keys, e.opt)
	if err == nil {
		t.Fatal("opened a corrupt database")
	}
	t.Logf("error seen: %v", err)
	if !strings.Contains(err.Error(), "integrity check") && !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("unclear error: %v", err)
	}
}
