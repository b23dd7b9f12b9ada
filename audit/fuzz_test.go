package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"aead.dev/minisign"

	"github.com/clinicsms/smsd/audit"
)

// Fuzz targets. Their seed corpora are committed in testdata/fuzz/FuzzXxx
// (written from exportSeeds and restoreSeeds by `go test -run
// TestFuzzSeeds -update`), so a plain `go test` replays them. Run one for
// real with, e.g.:
//
//	go test -run '^$' -fuzz '^FuzzExportVerify$' -fuzztime 2m -parallel 1 ./audit

// exportSeed is one input of FuzzExportVerify.
type exportSeed struct {
	actor, client, action, objectID, detail string
	pos                                     uint32
	flip                                    byte
}

var exportSeeds = []exportSeed{
	{"web:alice", "192.0.2.10", audit.LoginOK, "1", "=1+1", 0, 1},
	{"unix:bob", "pid 4242", audit.MessageCreate, "17", "+44 77** ***123", 300, 0x80},
	{"=HYPERLINK(\"http://x\")", "-1+2", audit.LoginFail, "@admin", "@SUM(1)", 7, 0},
	{"token:\x00\x1b[2J", "\r\n", "\t", "\xff\xfe", "a\rb\nc\td", 1000, 0x20},
	{"'", "''", "'''", "'=", "'a", 65, 0x27},
	{"\"", "\"\"", "a,b", "\"a,b\"", "x\"y\"z", 2, 0xff},
	{" leading space", "\u00a0nbsp", "\ufeffbom", "\u2028line sep", "\u202eoverride", 19, 3},
	{"café", "Ünïcödé — “quotes”", "📱", "✅", "\xed\xa0\x80 surrogate half", 400, 0x40},
	{"", "", "", "", "", 0, 0},
	{`\.`, `\`, `\x0a`, "#comment", "\u0085 next line", 12, 0x0d},
	{strings.Repeat("A", 300), strings.Repeat("é", 200), audit.ReportView, strings.Repeat("9", 40), strings.Repeat("detail ", 100), 5000, 9},
}

// maxFuzzField is the most of each string FuzzExportVerify uses.
const maxFuzzField = 256

// restoreSeeds are inputs of FuzzRestore.
var restoreSeeds = []string{"", "plain", "=1+1", "+", "-", "@", "\t", "\r", "'", "''", "'''", "'=", "'a", "\xff", "é", "'\xff", " =1"}

// fuzzDB is one store file per fuzzing process, so that an input costs an
// append and an export, not the making of a database: each input writes
// its rows in a second of its own and exports just that second, so its
// export is a range whose first row is in the middle of the chain. The
// file is not synced (synchronous=OFF): a commit's fsync would be most of
// an input's cost, and durability is not what is tested here.
func fuzzDB(f *testing.F) (*sql.DB, func() time.Time) {
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(f.TempDir(), "fuzz.db")+"?_journal_mode=WAL&_txlock=immediate&_synchronous=OFF")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	if _, err := db.Exec(audit.Schema); err != nil {
		f.Fatal(err)
	}
	var slot atomic.Int64
	return db, func() time.Time { return t0.Add(time.Duration(slot.Add(1)) * time.Second) }
}

// FuzzExportVerify appends two events made of the fuzzer's strings (each
// string in several columns), exports their range with ExportSigned and
// checks that VerifyCSV accepts the export with the right count and first
// and last rows, that every stored value is valid UTF-8 without control
// characters (and the input itself when it was clean); then it flips one
// byte of the CSV, chosen by the fuzzer, and VerifyCSV must refuse it.
func FuzzExportVerify(f *testing.F) {
	for _, s := range exportSeeds {
		f.Add(s.actor, s.client, s.action, s.objectID, s.detail, s.pos, s.flip)
	}
	db, nextSlot := fuzzDB(f)
	pub, key := newKey(f)
	keys := []minisign.PublicKey{pub}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, actor, client, action, objectID, detail string, pos uint32, flip byte) {
		// Longer strings find nothing shorter ones do not, and make the
		// fuzzer spend its time minimising them.
		for _, s := range []*string{&actor, &client, &action, &objectID, &detail} {
			if len(*s) > maxFuzzField {
				*s = (*s)[:maxFuzzField]
			}
		}
		start := nextSlot()
		if action == "" {
			action = audit.Start // Append refuses an event without one
		}
		events := []audit.Event{
			{Time: start, Actor: actor, Role: client, Client: client, Action: action, ObjectType: objectID, ObjectID: objectID, Outcome: detail, Detail: detail},
			{Time: start.Add(time.Millisecond), Actor: detail, Role: actor, Client: objectID, Action: action + actor, ObjectType: client, ObjectID: actor, Outcome: action, Detail: client},
		}
		rows := appendAll(t, db, events...)
		for i, r := range rows {
			in := []string{events[i].Actor, events[i].Role, events[i].Client, events[i].Action, events[i].ObjectType, events[i].ObjectID, events[i].Outcome, events[i].Detail}
			for j, v := range []string{r.Actor, r.Role, r.Client, r.Action, r.ObjectType, r.ObjectID, r.Outcome, r.Detail} {
				if !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
					t.Fatalf("row %d column %d stored %q", r.Seq, j, v)
				}
				if utf8.ValidString(in[j]) && !strings.ContainsFunc(in[j], unicode.IsControl) && in[j] != "" && v != in[j] {
					t.Fatalf("row %d column %d: clean %q stored as %q", r.Seq, j, in[j], v)
				}
			}
		}

		var csvOut, sigOut bytes.Buffer
		sum, err := audit.ExportSigned(ctx, db, &csvOut, &sigOut, start, start.Add(time.Second), key)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Rows != 2 || sum.First != rows[0].Seq || sum.Last != rows[1].Seq || sum.LastHash != rows[1].Hash {
			t.Fatalf("export summary %+v, want rows %d and %d", sum, rows[0].Seq, rows[1].Seq)
		}
		file := csvOut.Bytes()
		got, err := audit.VerifyCSV(bytes.NewReader(file), sigOut.Bytes(), keys)
		if err != nil {
			t.Fatalf("VerifyCSV refuses an untouched export: %v\n%q", err, file)
		}
		if got.Rows != 2 || got.First != sum.First || got.Last != sum.Last || got.LastHash != sum.LastHash {
			t.Fatalf("VerifyCSV = %+v, want %+v", got, sum)
		}

		if flip == 0 {
			flip = 1
		}
		bad := bytes.Clone(file)
		i := int(pos % uint32(len(bad)))
		bad[i] ^= flip
		if got, err := audit.VerifyCSV(bytes.NewReader(bad), sigOut.Bytes(), keys); err == nil {
			t.Fatalf("VerifyCSV accepts the export with byte %d flipped (%q to %q): %+v", i, file[i], bad[i], got)
		} else if ve := (*audit.VerifyError)(nil); !errors.As(err, &ve) {
			t.Fatalf("VerifyCSV error %v is not a *VerifyError", err)
		}
	})
}

// FuzzRestore checks that neutralising is reversible and has one encoding
// per value: Restore(Neutralise(s)) is s for every s, Neutralise never
// leaves a formula start, Restore refuses a cell that starts with = + - @
// tab or CR (a spreadsheet would run it), and whatever Restore accepts is
// exactly what Neutralise would have written for the value it gives.
func FuzzRestore(f *testing.F) {
	for _, s := range restoreSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := audit.Neutralise(s)
		if got, err := audit.Restore(n); err != nil || got != s {
			t.Fatalf("Restore(Neutralise(%q)) = %q, %v", s, got, err)
		}
		if n != "" && strings.IndexByte("=+-@\t\r", n[0]) >= 0 {
			t.Fatalf("Neutralise(%q) = %q starts a formula", s, n)
		}
		v, err := audit.Restore(s)
		if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 && err == nil {
			t.Fatalf("Restore(%q) = %q, want an error: the cell is not neutralised", s, v)
		}
		if err == nil && audit.Neutralise(v) != s {
			t.Fatalf("Restore(%q) = %q, which Neutralise writes as %q: two cells for one value", s, v, audit.Neutralise(v))
		}
	})
}

// TestFuzzSeeds checks that every seed above is committed in testdata/fuzz,
// so that a plain `go test` replays them and a fuzzing run starts from
// them; with -update it writes them. Files the fuzzer added (crashers kept
// as regression inputs) are left alone.
func TestFuzzSeeds(t *testing.T) {
	var bodies []string
	for _, s := range exportSeeds {
		bodies = append(bodies, fmt.Sprintf("go test fuzz v1\nstring(%q)\nstring(%q)\nstring(%q)\nstring(%q)\nstring(%q)\nuint32(%d)\nbyte(%q)\n",
			s.actor, s.client, s.action, s.objectID, s.detail, s.pos, s.flip))
	}
	syncCorpus(t, filepath.Join("testdata", "fuzz", "FuzzExportVerify"), bodies)
	bodies = nil
	for _, s := range restoreSeeds {
		bodies = append(bodies, fmt.Sprintf("go test fuzz v1\nstring(%q)\n", s))
	}
	syncCorpus(t, filepath.Join("testdata", "fuzz", "FuzzRestore"), bodies)
}

// syncCorpus writes bodies as dir/seedNN with -update, then checks that
// each of them is committed there.
func syncCorpus(t *testing.T, dir string, bodies []string) {
	t.Helper()
	name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("seed%02d", i+1)) }
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, b := range bodies {
			if err := os.WriteFile(name(i), []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var missing []string
	for i, b := range bodies {
		got, err := os.ReadFile(name(i))
		if err != nil || string(got) != b {
			missing = append(missing, name(i))
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("seed corpus out of date (run go test -run TestFuzzSeeds -update): %v", missing)
	}
}
