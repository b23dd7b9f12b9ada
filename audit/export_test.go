package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/clinicsms/smsd/audit"
)

var update = flag.Bool("update", false, "rewrite testdata/export.golden and testdata/export_comment.golden")

// goldenEvents are the rows of the golden export: fixed times, so that the
// file and its hashes are reproducible, and cells a spreadsheet would run
// or a CSV reader could misread: a detail (and an actor, a client, an
// object id) starting with = + - @, a tab and a CR (which Append escapes
// as \x09 and \x0d, so they reach the export as text starting with a
// backslash), an apostrophe, a comma, a double quote, non-ASCII and an
// emoji.
func goldenEvents() []audit.Event {
	at := func(min, ms int) time.Time {
		return t0.Add(time.Duration(min)*time.Minute + time.Duration(ms)*time.Millisecond)
	}
	return []audit.Event{
		{Time: at(0, 0), Actor: "system", Action: audit.Start, Detail: "smsd 1.4.0 started"},
		{Time: at(1, 7), Actor: "web:alice", Role: "admin", Client: "192.0.2.10", Action: audit.LoginOK, Detail: "=1+1"},
		{Time: at(2, 250), Actor: "unix:bob", Role: "staff", Client: "pid 4242", Action: audit.MessageCreate, ObjectType: "message", ObjectID: "17", Detail: "+44 77** ***123"},
		{Time: at(3, 999), Actor: "unix:bob", Role: "staff", Client: "pid 4242", Action: audit.MessageCancel, ObjectType: "message", ObjectID: "17", Detail: "-reason=duplicate"},
		{Time: at(4, 1), Actor: "web:alice", Role: "admin", Client: "192.0.2.10", Action: audit.OptOutAdd, ObjectType: "optout", ObjectID: "5", Detail: "@SUM(1+1)*cmd|' /C calc'!A0"},
		{Time: at(5, 0), Actor: "unix:root", Role: "admin", Client: "pid 1", Action: audit.ConfigChange, Detail: "\tdispatch.rate=10"},
		{Time: at(6, 0), Actor: "system", Action: audit.ModemEvent, ObjectType: "modem", ObjectID: "ttyUSB2", Outcome: audit.Failed, Detail: "\r+CMS ERROR: 500"},
		{Time: at(7, 0), Actor: "web:alice", Role: "admin", Client: "192.0.2.10", Action: audit.UserCreate, ObjectType: "user", ObjectID: "9", Detail: "'carol' as staff"},
		{Time: at(8, 0), Actor: "token:importer", Role: "staff", Client: "198.51.100.4", Action: audit.ImportCommit, Detail: "rows=12, skipped=1"},
		{Time: at(9, 0), Actor: "web:alice", Role: "admin", Client: "192.0.2.10", Action: audit.MessageResend, ObjectType: "message", ObjectID: "17", Detail: `label "urgent" set`},
		{Time: at(10, 0), Actor: "web:dévora", Role: "staff", Client: "192.0.2.11", Action: audit.MessageList, Detail: "filtre: envoyé, reçu — Ünïcödé"},
		{Time: at(11, 0), Actor: "web:dévora", Role: "staff", Client: "192.0.2.11", Action: audit.MessageView, ObjectType: "message", ObjectID: "18", Detail: "viewed 📱✅"},
		{Time: at(12, 0), Actor: "=HYPERLINK(\"http://x\")", Role: "", Client: "-1+2", Action: audit.LoginFail, ObjectType: "user", ObjectID: "@admin", Outcome: audit.Denied, Detail: ""},
		{Time: at(13, 0), Actor: "unix:bob", Role: "staff", Client: "pid 4300", Action: audit.Logout, Detail: "'"},
	}
}

// export runs ExportSigned over db and returns the file and its signature.
func export(t testing.TB, db audit.Querier, from, to time.Time, key minisign.PrivateKey) ([]byte, []byte, audit.Summary) {
	t.Helper()
	var csvOut, sigOut bytes.Buffer
	sum, err := audit.ExportSigned(context.Background(), db, &csvOut, &sigOut, from, to, key)
	if err != nil {
		t.Fatalf("ExportSigned: %v", err)
	}
	return csvOut.Bytes(), sigOut.Bytes(), sum
}

func trustedComment(t testing.TB, sig []byte) string {
	t.Helper()
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		t.Fatal(err)
	}
	return s.TrustedComment
}

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to write it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is meant):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// The export is byte for byte the golden file: header, RFC 4180 quoting,
// CRLF line ends, UTF-8 as it is, times in UTC with milliseconds, formula
// cells neutralised with one apostrophe; and the signature's trusted
// comment is the golden one (range, rows, first and last sequence, last
// hash, chain head). Reproducible because the times are fixed and nothing
// else in either depends on the key or the clock.
func TestExportGolden(t *testing.T) {
	db := openDB(t)
	appendAll(t, db, goldenEvents()...)
	pub, key := newKey(t)
	file, sig, sum := export(t, db, time.Time{}, time.Time{}, key)
	checkGolden(t, "export.golden", file)
	comment := trustedComment(t, sig)
	checkGolden(t, "export_comment.golden", []byte(comment+"\n"))

	n := int64(len(goldenEvents()))
	head, _ := audit.LastHead(context.Background(), db)
	if sum.Rows != n || sum.First != 1 || sum.Last != n || sum.LastHash != head.Hash || sum.ChainHead != head {
		t.Errorf("Summary = %+v; want %d rows 1 to %d ending at the head %v", sum, n, n, head)
	}
	if comment != sum.TrustedComment() {
		t.Errorf("trusted comment %q is not the summary's %q", comment, sum.TrustedComment())
	}
	if !bytes.HasSuffix(file, []byte("\r\n")) || bytes.Count(file, []byte("\r\n")) != int(n)+1 || bytes.Count(file, []byte("\n")) != int(n)+1 {
		t.Errorf("the file is not %d CRLF-ended lines", n+1)
	}
	if got, err := audit.VerifyCSV(bytes.NewReader(file), sig, []minisign.PublicKey{pub}); err != nil || got != sum {
		t.Errorf("VerifyCSV of the golden export = %+v, %v; want %+v", got, err, sum)
	}
}

// Read back with encoding/csv, every cell of the export that the log holds
// starting with = + - @ tab CR or an apostrophe starts with exactly one
// added apostrophe, every other cell is the stored value as it is, and
// Restore gives back the stored value in both cases; the tab and CR of the
// golden events reach the export escaped by Append (\x09, \x0d), which is
// not a formula start.
func TestExportNeutralisedCellsRestore(t *testing.T) {
	db := openDB(t)
	appendAll(t, db, goldenEvents()...)
	_, key := newKey(t)
	file, _, _ := export(t, db, time.Time{}, time.Time{}, key)
	stored := readAll(t, db)

	r := csv.NewReader(bytes.NewReader(file))
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != strings.Join(audit.Header, ",") || len(recs) != len(stored)+1 {
		t.Fatalf("header %v and %d records; want %v and %d", recs[0], len(recs), audit.Header, len(stored)+1)
	}
	neutralised := 0
	for i, row := range stored {
		rec := recs[i+1]
		want := []string{row.Actor, row.Role, row.Client, row.Action, row.ObjectType, row.ObjectID, row.Outcome, row.Detail}
		for j, v := range want {
			cell := rec[2+j]
			if v != "" && strings.ContainsRune("=+-@\t\r'", rune(v[0])) {
				neutralised++
				if cell != "'"+v {
					t.Errorf("row %d %s: cell %q, want the stored %q behind one apostrophe", row.Seq, audit.Header[2+j], cell, v)
				}
			} else if cell != v {
				t.Errorf("row %d %s: cell %q, want the stored %q as it is", row.Seq, audit.Header[2+j], cell, v)
			}
			if got, err := audit.Restore(cell); err != nil || got != v {
				t.Errorf("row %d %s: Restore(%q) = %q, %v; want %q", row.Seq, audit.Header[2+j], cell, got, err, v)
			}
		}
	}
	// 6 details (= + - @ ' '), an actor, a client and an object id.
	if neutralised != 9 {
		t.Errorf("%d neutralised cells, want 9", neutralised)
	}
	for _, tc := range []struct {
		seq          int
		detailInFile string
	}{
		{6, `\x09dispatch.rate=10`},
		{7, `\x0d+CMS ERROR: 500`},
		{8, `''carol' as staff`},
		{9, `rows=12, skipped=1`},
		{10, `label "urgent" set`},
		{14, `''`},
	} {
		if got := recs[tc.seq][9]; got != tc.detailInFile {
			t.Errorf("row %d: detail reads back %q, want %q", tc.seq, got, tc.detailInFile)
		}
	}
}

// Neutralise prefixes exactly the cells a spreadsheet would run (and those
// starting with the prefix itself); Restore undoes it, and refuses a cell
// that the export could not have written: one a spreadsheet would run, or
// an apostrophe Neutralise would not have added.
func TestNeutraliseRestore(t *testing.T) {
	for _, tc := range []struct {
		in, out string
	}{
		{"", ""},
		{"plain", "plain"},
		{"=1+1", "'=1+1"},
		{"+44", "'+44"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"'", "''"},
		{"'quoted'", "''quoted'"},
		{"''", "'''"},
		{"a=1", "a=1"},
		{" =1", " =1"},
		{"é=", "é="},
	} {
		if got := audit.Neutralise(tc.in); got != tc.out {
			t.Errorf("Neutralise(%q) = %q, want %q", tc.in, got, tc.out)
		}
		if got, err := audit.Restore(tc.out); err != nil || got != tc.in {
			t.Errorf("Restore(%q) = %q, %v; want %q", tc.out, got, err, tc.in)
		}
	}
	for _, bad := range []string{"=1+1", "+44", "-1", "@x", "\tx", "\rx", "'", "'a", "' =1", "'é"} {
		if got, err := audit.Restore(bad); err == nil {
			t.Errorf("Restore(%q) = %q, want an error", bad, got)
		}
	}
}

// ParseTrustedComment reads back what TrustedComment writes, bounded or
// not, and refuses a comment that is not an export's.
func TestTrustedCommentRoundTrip(t *testing.T) {
	for _, s := range []audit.Summary{
		{},
		{From: t0, To: t0.Add(time.Hour), Rows: 3, First: 4, Last: 6, LastHash: [32]byte{1, 2, 3}, ChainHead: audit.Head{Seq: 9, Hash: [32]byte{9}}},
		{From: t0, Rows: 1, First: 1, Last: 1},
	} {
		got, err := audit.ParseTrustedComment(s.TrustedComment())
		if err != nil || !got.From.Equal(s.From) || !got.To.Equal(s.To) || got.From.IsZero() != s.From.IsZero() ||
			got.Rows != s.Rows || got.First != s.First || got.Last != s.Last || got.LastHash != s.LastHash || got.ChainHead != s.ChainHead {
			t.Errorf("ParseTrustedComment(%q) = %+v, %v", s.TrustedComment(), got, err)
		}
	}
	good := audit.Summary{Rows: 1, First: 1, Last: 1}.TrustedComment()
	for _, bad := range []string{
		"timestamp:1700000000",
		"smsd audit export",
		strings.Replace(good, "rows=1", "rows=x", 1),
		strings.Replace(good, "rows=1", "rows", 1),
		strings.Replace(good, " last=1", "", 1),
		strings.Replace(good, "from=-", "from=yesterday", 1),
		strings.Replace(good, "last_hash=", "last_hash=00", 1),
		strings.Replace(good, "chain_head=0:", "chain_head=0", 1),
		good + " rows=2",
	} {
		if s, err := audit.ParseTrustedComment(bad); err == nil {
			t.Errorf("ParseTrustedComment(%q) = %+v, want an error", bad, s)
		}
	}
}

// An export of a time range holds just the rows in it, its first row
// somewhere in the middle of the chain, and it verifies on its own; so does
// an export of an empty range and one of an empty log.
func TestRangeExportVerifies(t *testing.T) {
	db := openDB(t)
	rows := appendAll(t, db, someEvents(10)...)
	pub, key := newKey(t)
	min := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	for _, tc := range []struct {
		name        string
		from, to    time.Time
		rows        int64
		first, last int64
	}{
		{"middle", min(3), min(6), 3, 4, 6},
		{"from only", min(7), time.Time{}, 3, 8, 10},
		{"to only", time.Time{}, min(2), 2, 1, 2},
		{"empty range", min(3), min(3), 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file, sig, sum := export(t, db, tc.from, tc.to, key)
			var wantHash [32]byte
			if tc.last > 0 {
				wantHash = rows[tc.last-1].Hash
			}
			if sum.Rows != tc.rows || sum.First != tc.first || sum.Last != tc.last || sum.LastHash != wantHash ||
				sum.ChainHead != (audit.Head{Seq: 10, Hash: rows[9].Hash}) || !sum.From.Equal(tc.from) || !sum.To.Equal(tc.to) {
				t.Fatalf("Summary = %+v", sum)
			}
			got, err := audit.VerifyCSV(bytes.NewReader(file), sig, []minisign.PublicKey{pub})
			if err != nil {
				t.Fatalf("VerifyCSV: %v", err)
			}
			if got.Rows != tc.rows || got.First != tc.first || got.Last != tc.last || got.LastHash != wantHash || got.ChainHead != sum.ChainHead {
				t.Errorf("VerifyCSV = %+v, want %+v", got, sum)
			}
		})
	}
	empty := openDB(t)
	file, sig, sum := export(t, empty, time.Time{}, time.Time{}, key)
	if sum.Rows != 0 || string(file) != strings.Join(audit.Header, ",")+"\r\n" {
		t.Fatalf("export of an empty log: %+v\n%q", sum, file)
	}
	if _, err := audit.VerifyCSV(bytes.NewReader(file), sig, []minisign.PublicKey{pub}); err != nil {
		t.Errorf("VerifyCSV of an empty log's export: %v", err)
	}
}

// A tampered export: what was done, the file and signature that result,
// and the row VerifyCSV must name (0: the fault is in no one row), with
// words its reason must hold.
type tamperedExport struct {
	name     string
	csv, sig []byte
	row      int64
	reason   string
}

// lines splits an export into its CRLF-ended lines (line 0 the header).
func lines(file []byte) [][]byte {
	ls := bytes.SplitAfter(file, []byte("\r\n"))
	return ls[:len(ls)-1]
}

func join(ls [][]byte) []byte { return bytes.Join(ls, nil) }

// tamperedExports makes the golden export of goldenEvents and every way of
// tampering with it that VerifyCSV and the real minisign must refuse, as an
// auditor could receive it.
func tamperedExports(t testing.TB) (file, sig []byte, pub minisign.PublicKey, cases []tamperedExport) {
	t.Helper()
	db := openDB(t)
	appendAll(t, db, goldenEvents()...)
	pub, key := newKey(t)
	file, sig, _ = export(t, db, time.Time{}, time.Time{}, key)
	_, otherKey := newKey(t)
	_, otherSig, _ := export(t, db, time.Time{}, time.Time{}, otherKey)

	edit := func(line int, old, new string) []byte {
		ls := lines(file)
		if !bytes.Contains(ls[line], []byte(old)) {
			t.Fatalf("line %d %q does not hold %q", line, ls[line], old)
		}
		ls[line] = bytes.Replace(ls[line], []byte(old), []byte(new), 1)
		return join(ls)
	}
	ls := lines(file)
	without := func(i int) []byte {
		return join(append(append([][]byte{}, ls[:i]...), ls[i+1:]...))
	}
	swapped := func(i, j int) []byte {
		c := append([][]byte{}, ls...)
		c[i], c[j] = c[j], c[i]
		return join(c)
	}
	last := len(ls) - 1 // line of the last row, row `last`
	// Cut the last row inside its hash (all 12 cells there, one short).
	cutInHash := len(file) - len(ls[last]) + bytes.LastIndexByte(ls[last], ',') + 20
	// Cut row 9 inside its client: fewer cells than a row has.
	cutInCells := len(join(ls[:9])) + bytes.Index(ls[9], []byte("198.51"))
	// Cut row 9 inside its quoted detail: no row can be read.
	cutInQuotes := len(join(ls[:9])) + bytes.Index(ls[9], []byte("skipped"))

	cases = []tamperedExport{
		{"a cell edited", edit(3, "+44 77** ***123", "+44 77** ***124"), sig, 3, "its content does not match its hash"},
		{"a row's outcome edited", edit(13, audit.Denied, audit.OK), sig, 13, "its content does not match its hash"},
		{"a row deleted", without(4), sig, 5, "it follows row 3"},
		{"the first row deleted", without(1), sig, 1, "the file has 13 rows (2 to 14), the signature vouches for 14 (1 to 14)"},
		{"two rows swapped", swapped(5, 7), sig, 7, "it follows row 4"},
		{"truncated at a row boundary", join(ls[:10]), sig, 10, "the file has 9 rows (1 to 9), the signature vouches for 14 (1 to 14)"},
		{"truncated after the header", join(ls[:1]), sig, 1, "the file has 0 rows"},
		{"truncated to nothing", nil, sig, 0, "the file is empty"},
		{"truncated mid-row, in the hash", file[:cutInHash], sig, int64(last), "hash"},
		{"truncated mid-row, in a cell", file[:cutInCells], sig, 9, "wrong number of fields"},
		{"truncated mid-row, in a quoted cell", file[:cutInQuotes], sig, 0, `extraneous or missing " in quoted-field`},
		{"a neutralised cell un-neutralised", edit(2, "'=1+1", "=1+1"), sig, 2, "not neutralised"},
		{"an apostrophe added to a plain cell", edit(9, "rows=12", "'rows=12"), sig, 9, "an apostrophe the export did not add"},
		{"an apostrophe added to a neutralised cell", edit(4, "'-reason", "''-reason"), sig, 4, "its content does not match its hash"},
		{"a row added at the end", append(append([]byte{}, file...), ls[last]...), sig, int64(last), "it follows row 14"},
		{"a row's seq made negative", edit(5, "5,2026", "-5,2026"), sig, 0, `seq "-5" is not a row number`},
		{"the header changed", edit(0, "detail", "details"), sig, 0, "the header"},
		{"line ends changed to LF", bytes.ReplaceAll(file, []byte("\r\n"), []byte("\n")), sig, 0, "the signature does not match"},
		{"a signature from another key", file, otherSig, 0, "signed by another key"},
		{"a signature file that is garbage", file, []byte("untrusted comment: hello\nnot base64!\ntrusted comment: x\n???\n"), 0, "not a minisign signature"},
		{"an empty signature file", file, nil, 0, "not a minisign signature"},
		{"the trusted comment edited", file, bytes.Replace(sig, []byte("rows=14"), []byte("rows=15"), 1), 0, "the signature does not match"},
	}
	return file, sig, pub, cases
}

// VerifyCSV accepts the export as written and refuses each tampered copy,
// naming the first row that breaks (VerifyError.Row) where one does: an
// edited cell, a deleted or a swapped row, a neutralisation undone or
// faked; a file cut at a row boundary holds no broken row, and there the
// count disagrees with the trusted comment and the first missing row is
// named.
func TestVerifyCSVRefusesTampering(t *testing.T) {
	file, sig, pub, cases := tamperedExports(t)
	sum, err := audit.VerifyCSV(bytes.NewReader(file), sig, []minisign.PublicKey{pub})
	if err != nil || sum.Rows != 14 || sum.First != 1 || sum.Last != 14 {
		t.Fatalf("VerifyCSV of the untouched export = %+v, %v", sum, err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := audit.VerifyCSV(bytes.NewReader(tc.csv), tc.sig, []minisign.PublicKey{pub})
			var ve *audit.VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("VerifyCSV = %+v, %v; want a *VerifyError", got, err)
			}
			if ve.Row != tc.row || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("VerifyCSV: %v (row %d); want row %d and %q", err, ve.Row, tc.row, tc.reason)
			}
		})
	}
}

// The error names the line as well as the row, so an auditor can find it
// in the file.
func TestVerifyErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  audit.VerifyError
		want string
	}{
		{audit.VerifyError{Row: 7, Line: 8, Reason: "x"}, "line 8 (row 7): x"},
		{audit.VerifyError{Line: 3, Reason: "y"}, "line 3: y"},
		{audit.VerifyError{Reason: "z"}, "z"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.err, got, tc.want)
		}
	}
}

// A key that signed an export and was rotated since still verifies it when
// its public key is among those given.
func TestVerifyCSVRotatedKey(t *testing.T) {
	db := openDB(t)
	appendAll(t, db, someEvents(4)...)
	oldPub, oldKey := newKey(t)
	newPub, _ := newKey(t)
	file, sig, _ := export(t, db, time.Time{}, time.Time{}, oldKey)
	if _, err := audit.VerifyCSV(bytes.NewReader(file), sig, []minisign.PublicKey{newPub, oldPub}); err != nil {
		t.Errorf("with both keys: %v", err)
	}
	if _, err := audit.VerifyCSV(bytes.NewReader(file), sig, []minisign.PublicKey{newPub}); err == nil {
		t.Error("verified under the new key alone")
	}
}

// ExportSigned reports a writer that fails, for the file and for the
// signature, instead of signing a file that was not written.
func TestExportSignedWriteErrors(t *testing.T) {
	db := openDB(t)
	appendAll(t, db, someEvents(3)...)
	_, key := newKey(t)
	ctx := context.Background()
	var sig bytes.Buffer
	if _, err := audit.ExportSigned(ctx, db, failingWriter{}, &sig, time.Time{}, time.Time{}, key); err == nil || sig.Len() != 0 {
		t.Errorf("a failing file writer: %v, %d bytes of signature", err, sig.Len())
	}
	var file bytes.Buffer
	if _, err := audit.ExportSigned(ctx, db, &file, failingWriter{}, time.Time{}, time.Time{}, key); err == nil {
		t.Error("a failing signature writer: no error")
	}
	// A query that fails (no table) fails the export.
	if _, err := audit.ExportSigned(ctx, openDBNoSchema(t), &file, &sig, time.Time{}, time.Time{}, key); err == nil {
		t.Error("an export of a store without the log succeeded")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }
