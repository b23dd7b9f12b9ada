package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/clinicsms/smsd/crypt"
	"github.com/clinicsms/smsd/internal/testutil"
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

// dirState lists every file in dir with its size, mode and content hash:
// a failed open must not even create an empty -wal or -shm. With
// shmContent false the -shm's bytes are left out (see
// TestWrongKeyLeavesDBUntouched).
func dirState(t *testing.T, dir string, shmContent bool) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := "dir"
		if strings.HasSuffix(e.Name(), "-shm") && !shmContent {
			sum = "(wal-index not compared)"
		} else if st.Mode().IsRegular() {
			c, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			sum = fmt.Sprintf("%x", sha256.Sum256(c))
		}
		fmt.Fprintf(&b, "%s %d %v %s\n", e.Name(), st.Size(), st.Mode(), sum)
	}
	return b.String()
}

// copyFiles copies the database, -wal and -shm of src (a store that is
// open: what a power cut leaves) into dir.
func copyFiles(t *testing.T, src, dir string) string {
	t.Helper()
	dst := filepath.Join(dir, filepath.Base(src))
	for _, suf := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(src + suf)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+suf, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestWrongKeyLeavesDBUntouched: a wrong key file or passphrase is a clear
// ErrWrongKey at open, and the database is byte for byte as before. For a
// cleanly closed database that holds for the whole directory (the key check
// opens it immutable: not even an -shm appears). For one left by a power
// cut (a WAL with unmerged commits and a message left sending, which a
// successful open would change) the database and its WAL are unchanged;
// the -shm is SQLite's wal-index, a cache of where pages sit in the WAL
// that any reader rebuilds from the WAL, so only its presence and size are
// compared.
func TestWrongKeyLeavesDBUntouched(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	mustEnqueue(t, s, num, "x")
	s.Claim(ctx, "m1") // a sending message: a successful open would change it
	crashedDir := t.TempDir()
	crashed := copyFiles(t, e.db, crashedDir)
	s.Close()
	otherKey := filepath.Join(t.TempDir(), "other.key")
	if _, err := crypt.CreateKeyFile(otherKey); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		db         string
		keys       KeySource
		shmContent bool
	}{
		{"closed/other_key_file", e.db, KeySource{KeyFile: otherKey}, true},
		{"closed/passphrase", e.db, KeySource{Passphrase: []byte("not the key file")}, true},
		{"power_cut/other_key_file", crashed, KeySource{KeyFile: otherKey}, false},
		{"power_cut/passphrase", crashed, KeySource{Passphrase: []byte("not the key file")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Dir(tc.db)
			before := dirState(t, dir, tc.shmContent)
			_, err := Open(ctx, tc.db, tc.keys, e.opt)
			if !errors.Is(err, ErrWrongKey) {
				t.Fatalf("%v, want ErrWrongKey", err)
			}
			if !strings.Contains(err.Error(), "was not changed") && !strings.Contains(err.Error(), "wrapped for a keyfile") {
				t.Fatalf("unclear error: %v", err)
			}
			if after := dirState(t, dir, tc.shmContent); after != before {
				t.Fatalf("files changed by a failed open:\n%s\n%s", before, after)
			}
		})
	}
	// And the right key still opens both, and does the sending→uncertain step.
	for _, db := range []string{e.db, crashed} {
		s, err := Open(ctx, db, e.keys, e.opt)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := s.Counts(ctx); c[Uncertain] != 1 {
			t.Fatalf("%s: counts %v", db, c)
		}
		s.Close()
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
		// The argon2id parameters are stored with the wrapped key: a build
		// with other defaults still derives the same KEK.
		saved := crypt.PassphraseParams
		crypt.PassphraseParams = crypt.Argon2Params{Time: 2, MemoryKiB: 2048, Threads: 2}
		defer func() { crypt.PassphraseParams = saved }()
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

// TestTamperDetected edits sealed values in the file, as someone with the
// SD card could, and checks that reading the row is an error wrapping
// ErrTampered that names the table, row and column — never garbage, and
// never the content.
func TestTamperDetected(t *testing.T) {
	ctx := context.Background()
	type ids struct{ a, b, c, in, user int64 }
	blob := func(t *testing.T, db *sql.DB, q string, args ...any) []byte {
		t.Helper()
		var b []byte
		if err := db.QueryRow(q, args...).Scan(&b); err != nil || b == nil {
			t.Fatalf("%s: %v", q, err)
		}
		return b
	}
	exec := func(t *testing.T, db *sql.DB, q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	getMsg := func(id int64) func(*Store) error {
		return func(s *Store) error { _, err := s.Get(ctx, id); return err }
	}
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB, x ids)
		// read and want: which reads must fail, naming what.
		reads func(x ids) map[string]func(*Store) error
	}{
		{"flipped_byte_in_text", func(t *testing.T, db *sql.DB, x ids) {
			b := blob(t, db, "SELECT text_sealed FROM messages WHERE id = ?", x.a)
			b[len(b)/2] ^= 0x40
			exec(t, db, "UPDATE messages SET text_sealed = ? WHERE id = ?", b, x.a)
		}, func(x ids) map[string]func(*Store) error {
			return map[string]func(*Store) error{fmt.Sprintf("messages %d: text_sealed", x.a): getMsg(x.a)}
		}},
		{"flipped_byte_in_tag", func(t *testing.T, db *sql.DB, x ids) {
			b := blob(t, db, "SELECT to_sealed FROM messages WHERE id = ?", x.a)
			b[len(b)-1] ^= 0x01
			exec(t, db, "UPDATE messages SET to_sealed = ? WHERE id = ?", b, x.a)
		}, func(x ids) map[string]func(*Store) error {
			return map[string]func(*Store) error{fmt.Sprintf("messages %d: to_sealed", x.a): getMsg(x.a)}
		}},
		{"flipped_byte_in_key_generation", func(t *testing.T, db *sql.DB, x ids) {
			b := blob(t, db, "SELECT text_sealed FROM messages WHERE id = ?", x.b)
			b[4] ^= 0x02
			exec(t, db, "UPDATE messages SET text_sealed = ? WHERE id = ?", b, x.b)
		}, func(x ids) map[string]func(*Store) error {
			return map[string]func(*Store) error{fmt.Sprintf("messages %d: text_sealed", x.b): getMsg(x.b)}
		}},
		{"two_rows_swapped", func(t *testing.T, db *sql.DB, x ids) {
			tb := blob(t, db, "SELECT to_sealed FROM messages WHERE id = ?", x.b)
			tc := blob(t, db, "SELECT to_sealed FROM messages WHERE id = ?", x.c)
			exec(t, db, "UPDATE messages SET to_sealed = ? WHERE id = ?", tc, x.b)
			exec(t, db, "UPDATE messages SET to_sealed = ? WHERE id = ?", tb, x.c)
		}, func(x ids) map[string]func(*Store) error {
			return map[string]func(*Store) error{
				fmt.Sprintf("messages %d: to_sealed", x.b): getMsg(x.b),
				fmt.Sprintf("messages %d: to_sealed", x.c): getMsg(x.c),
			}
		}},
		{"two_columns_swapped", func(t *testing.T, db *sql.DB, x ids) {
			exec(t, db, "UPDATE messages SET to_sealed = text_sealed, text_sealed = to_sealed WHERE id = ?", x.a)
		}, func(x ids) map[string]func(*Store) error {
			return map[string]func(*Store) error{fmt.Sprintf("messages %d: to_sealed", x.a): getMsg(x.a)}
		}},
		{"moved_to_another_table", func(t *testing.T, db *sql.DB, x ids) {
			exec(t, db, "UPDATE inbound SET text_sealed = (SELECT text_sealed FROM messages WHERE id = ?) WHERE id = ?", x.in, x.in)
		}, func(x ids) map[string]func(*Store) error {
			return map[string]func(*Store) error{fmt.Sprintf("inbound %d: text_sealed", x.in): func(s *Store) error {
				_, err := s.GetInbound(ctx, x.in)
				return err
			}}
		}},
		{"truncated_user_name", func(t *testing.T, db *sql.DB, x ids) {
			b := blob(t, db, "SELECT name_sealed FROM users WHERE id = ?", x.user)
			exec(t, db, "UPDATE users SET name_sealed = ? WHERE id = ?", b[:len(b)-3], x.user)
		}, func(x ids) map[string]func(*Store) error {
			return map[string]func(*Store) error{fmt.Sprintf("users %d: name_sealed", x.user): func(s *Store) error {
				_, err := s.UserByName(ctx, "xs")
				return err
			}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, s := openEnv(t)
			var x ids
			x.a = mustEnqueue(t, s, num, "text of a Zebedee").ID
			x.b = mustEnqueue(t, s, "+15557654321", "text of b Zebedee").ID
			x.c = mustEnqueue(t, s, "+15550000001", "text of c Zebedee").ID
			in, err := s.AddInbound(ctx, Inbound{From: num, Text: "reply Zebedee"})
			if err != nil {
				t.Fatal(err)
			}
			x.in = in.ID
			phc, _ := crypt.HashPassword("pw")
			u, err := s.CreateUser(ctx, User{Username: "xs", Name: "Xanthippe Staffname", Role: RoleStaff, PasswordHash: phc})
			if err != nil {
				t.Fatal(err)
			}
			x.user = u.ID
			s.Close()
			db := raw(t, e.db)
			tc.tamper(t, db, x)
			db.Close()
			s = e.open(t)
			reads := tc.reads(x)
			for want, read := range reads {
				err := read(s)
				if !errors.Is(err, ErrTampered) {
					t.Fatalf("%s: %v, want ErrTampered", want, err)
				}
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not name %q", err, want)
				}
				for _, leak := range []string{"Zebedee", "Xanthippe", "555", "argon2"} {
					if strings.Contains(err.Error(), leak) {
						t.Fatalf("error leaks content (%s): %v", leak, err)
					}
				}
			}
			// Untouched rows still read.
			for _, id := range []int64{x.a, x.b, x.c} {
				if _, bad := reads[fmt.Sprintf("messages %d: to_sealed", id)]; bad {
					continue
				}
				if _, bad := reads[fmt.Sprintf("messages %d: text_sealed", id)]; bad {
					continue
				}
				if _, err := s.Get(ctx, id); err != nil {
					t.Fatalf("untouched message %d: %v", id, err)
				}
			}
			// Without content, listing still works (statistics survive
			// tampering); with content every message is listed, a hit one
			// as damaged with neither its number nor its text.
			if l, err := s.List(ctx, ListFilter{NoContent: true}); err != nil || len(l) != 3 {
				t.Fatal(l, err)
			}
			l, err := s.List(ctx, ListFilter{})
			if err != nil || len(l) != 3 {
				t.Fatalf("list with content: %d messages, %v; want all 3", len(l), err)
			}
			for _, m := range l {
				_, hitTo := reads[fmt.Sprintf("messages %d: to_sealed", m.ID)]
				_, hitText := reads[fmt.Sprintf("messages %d: text_sealed", m.ID)]
				if m.Damaged != (hitTo || hitText) {
					t.Errorf("message %d listed damaged=%v, its cells hit: to %v text %v", m.ID, m.Damaged, hitTo, hitText)
				}
				if m.Damaged && (m.To != "" || m.Text != "") {
					t.Errorf("damaged message %d listed with content %q %q", m.ID, m.To, m.Text)
				}
				if !m.Damaged && (m.To == "" || m.Text == "") {
					t.Errorf("sound message %d listed without content", m.ID)
				}
			}
		})
	}
}

// canaries are PHI that must never be found on disk in clear.
var canaries = []string{
	"+15551234567", "5551234567", "555-123-4567", // a number in its forms
	"Zebedee Quartermaine",                        // a patient name inside a text
	"appointment with Dr Okonkwo",                 // a message text
	"yes Zebedee will come",                       // a reply text
	"JBSWY3DPEHPK3PXPCANARY",                      // a TOTP secret
	"idem-Zebedee-0001",                           // an idempotency key
	"Quartermaine Family Practice",                // a setting
	"Xanthippe Staffname",                         // a staff display name
	"Template for Zebedee reminders",              // a template body
	"raw PDU of Zebedee Quartermaine",             // an undecodable inbound PDU
	"undecodable reply from Zebedee Quartermaine", // its decode error
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
	e := newEnv(t)
	// Everything the store logs is scanned for the canaries too.
	var logBuf testutil.Buffer // the store logs concurrently
	e.opt.Logger = slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := e.open(t)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	var errTexts []string // errors a caller might log or show
	m, err := s.Enqueue(ctx, NewMessage{To: "555-123-4567", Text: "Zebedee Quartermaine: your appointment with Dr Okonkwo is at 9", IdempotencyKey: "idem-Zebedee-0001"})
	must("enqueue", err)
	pending, err := s.Enqueue(ctx, NewMessage{To: "+15551234567", Text: "second appointment with Dr Okonkwo"})
	must("enqueue", err)
	c, err := s.Claim(ctx, "m1")
	if err != nil || c == nil || c.ID != m.ID {
		t.Fatalf("claim: %+v %v", c, err)
	}
	must("record part", s.RecordPart(ctx, m.ID, 1, 1, 1))
	must("mark sent", s.MarkSent(ctx, m.ID))
	_, err = s.AddInbound(ctx, Inbound{From: "+15551234567", Text: "yes Zebedee will come"})
	must("inbound", err)
	_, err = s.AddInbound(ctx, Inbound{From: "+15551234567", Raw: []byte("raw PDU of Zebedee Quartermaine"), DecodeError: "undecodable reply from Zebedee Quartermaine"})
	must("inbound undecodable", err)
	must("opt out", s.OptOut(ctx, "+15551234567"))
	// The message queued before the STOP is failed at claim (and logged).
	if c, err := s.Claim(ctx, "m1"); err != nil || c != nil {
		t.Fatalf("claim after opt-out: %+v %v", c, err)
	}
	mustState(t, s, pending.ID, Failed)
	_, err = s.Enqueue(ctx, NewMessage{To: "555-123-4567", Text: "Zebedee again"})
	if !errors.Is(err, ErrOptedOut) {
		t.Fatalf("enqueue to opted-out: %v", err)
	}
	errTexts = append(errTexts, err.Error())
	_, err = s.RecordStatusReport(ctx, 99, "555-123-4567", true, true)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("status report for nothing: %v", err)
	}
	errTexts = append(errTexts, err.Error())
	must("setting", s.SetSetting(ctx, "clinic_name", "Quartermaine Family Practice"))
	phc, _ := crypt.HashPassword("pw")
	_, err = s.CreateUser(ctx, User{Username: "xs", Name: "Xanthippe Staffname", Role: RoleStaff, PasswordHash: phc, TOTPSecret: "JBSWY3DPEHPK3PXPCANARY"})
	must("user", err)
	_, err = s.SaveTemplate(ctx, Template{Name: "t", Body: "Template for Zebedee reminders"})
	must("template", err)
	// The canaries really are stored (a failed write would pass the scan).
	if got, err := s.Get(ctx, m.ID); err != nil || !strings.Contains(got.Text, "Zebedee Quartermaine") || got.To != "+15551234567" {
		t.Fatalf("stored message: %+v %v", got, err)
	}
	if u, err := s.UserByName(ctx, "xs"); err != nil || u.Name != "Xanthippe Staffname" {
		t.Fatalf("stored user: %+v %v", u, err)
	}
	defer func() {
		logs := logBuf.String()
		for _, c := range canaries {
			for enc, pat := range encodings(c) {
				if strings.Contains(logs, string(pat)) {
					t.Errorf("canary %q (%s) in the store's log:\n%s", c, enc, logs)
				}
			}
			for _, et := range errTexts {
				if strings.Contains(et, c) {
					t.Errorf("canary %q in an error: %s", c, et)
				}
			}
		}
		// Logs name the number by its keyed pseudonym (mask.Log), not masked.
		if !regexp.MustCompile(`opted out.* to=n:[0-9a-f]{8}`).MatchString(logs) || strings.Contains(logs, "******") {
			t.Errorf("expected the opt-out refusal in the log, the number as a pseudonym, got:\n%s", logs)
		}
	}()
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
	// Scribble over a page in the middle (not the file header, not
	// data_keys), its page header included: the middle page may be an
	// empty table's root, whose unused bytes no check reads.
	page := 4096
	mid := (len(b) / page / 2) * page
	for i := mid; i < mid+page; i++ {
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
