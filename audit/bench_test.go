package audit_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/clinicsms/smsd/audit"
)

// Export and verify of a log of a million rows: the figures of issue 12
// (targets: each under 10 s and under 64 MB of peak RSS on the appliance's
// class of machine). They are measured and reported, never asserted: a
// timed assertion fails on a busy CI machine and proves nothing.
//
// Peak RSS cannot be read inside the benchmark's own process, whose peak
// includes populating the database; so the benchmark (and TestAuditBench)
// runs the phase again in a child process, the test binary re-executed with
// -test.run=^TestAuditBenchChild$, and reads the child's ru_maxrss.
//
// Reproduce with either of:
//
//	SMSD_AUDIT_BENCH=1 go test -run '^TestAuditBench$' -v -timeout 30m ./audit
//	go test -run '^$' -bench 'Export1M|Verify1M' -benchtime 1x -timeout 30m ./audit
//
// A plain `go test ./audit` runs neither: benchmarks need -bench, and
// TestAuditBench skips without SMSD_AUDIT_BENCH=1.

const (
	benchRows = 1_000_000
	// benchEnv turns TestAuditBench on.
	benchEnv = "SMSD_AUDIT_BENCH"
	// benchPhaseEnv (export or verify) and benchDirEnv (the directory with
	// the database, the key and the export) make TestAuditBenchChild run
	// one phase; without them it does nothing.
	benchPhaseEnv = "SMSD_AUDIT_BENCH_PHASE"
	benchDirEnv   = "SMSD_AUDIT_BENCH_DIR"
)

// Files of a bench directory.
const (
	benchDBFile  = "smsd.db"
	benchKeyFile = "audit.key"
	benchPubFile = "audit.pub"
	benchCSVFile = "audit-export.csv"
)

// benchDetail is a realistic detail of about 100 bytes: no PHI, a masked
// number, the kind of facts a row carries.
func benchDetail(i int) string {
	return fmt.Sprintf("to +44 77** ***%03d; parts=%d; template=appointment-reminder-%02d; queue=%06d; modem=ttyUSB%d",
		i%1000, 1+i%3, i%40, i%999999, i%4)
}

// populateBench writes a store of n rows in dir (Append in transactions of
// 10,000 rows, as a busy appliance would have written them) and a signing
// key, and returns how long the rows took.
func populateBench(tb testing.TB, dir string, n int) time.Duration {
	tb.Helper()
	start := time.Now()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, benchDBFile)+"?_journal_mode=WAL&_txlock=immediate&_foreign_keys=on&_synchronous=NORMAL")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(audit.Schema); err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	roles := []string{"staff", "staff", "admin"}
	for i := 0; i < n; {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			tb.Fatal(err)
		}
		for end := min(i+10_000, n); i < end; i++ {
			e := audit.Event{
				Time:       t0.Add(time.Duration(i) * 100 * time.Millisecond),
				Actor:      fmt.Sprintf("web:user%03d", i%150),
				Role:       roles[i%3],
				Client:     fmt.Sprintf("192.0.2.%d", 1+i%200),
				Action:     audit.Actions[i%len(audit.Actions)],
				ObjectType: "message",
				ObjectID:   strconv.Itoa(1 + i/3),
				Detail:     benchDetail(i),
			}
			if i%17 == 0 {
				e.Outcome = audit.Denied
			}
			if _, err := audit.Append(ctx, tx, e); err != nil {
				tb.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		tb.Fatal(err)
	}
	took := time.Since(start)
	pub, key, err := minisign.GenerateKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	keyText, _ := key.MarshalText()
	pubText, _ := pub.MarshalText()
	if err := os.WriteFile(filepath.Join(dir, benchKeyFile), keyText, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, benchPubFile), pubText, 0o644); err != nil {
		tb.Fatal(err)
	}
	return took
}

// benchExport exports the whole log of dir, signed, to its CSV file and
// signature, as the daemon does: in one read transaction.
func benchExport(dir string) (audit.Summary, error) {
	var key minisign.PrivateKey
	b, err := os.ReadFile(filepath.Join(dir, benchKeyFile))
	if err != nil {
		return audit.Summary{}, err
	}
	if err := key.UnmarshalText(b); err != nil {
		return audit.Summary{}, err
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, benchDBFile)+"?_journal_mode=WAL&_txlock=deferred")
	if err != nil {
		return audit.Summary{}, err
	}
	defer db.Close()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return audit.Summary{}, err
	}
	defer tx.Rollback()
	out, err := os.Create(filepath.Join(dir, benchCSVFile))
	if err != nil {
		return audit.Summary{}, err
	}
	defer out.Close()
	sig, err := os.Create(filepath.Join(dir, benchCSVFile+".minisig"))
	if err != nil {
		return audit.Summary{}, err
	}
	defer sig.Close()
	sum, err := audit.ExportSigned(ctx, tx, out, sig, time.Time{}, time.Time{}, key)
	if err != nil {
		return sum, err
	}
	if err := out.Close(); err != nil {
		return sum, err
	}
	return sum, sig.Close()
}

// benchVerify verifies the export of dir against its signature.
func benchVerify(dir string) (audit.Summary, error) {
	pub, err := minisign.PublicKeyFromFile(filepath.Join(dir, benchPubFile))
	if err != nil {
		return audit.Summary{}, err
	}
	sig, err := os.ReadFile(filepath.Join(dir, benchCSVFile+".minisig"))
	if err != nil {
		return audit.Summary{}, err
	}
	f, err := os.Open(filepath.Join(dir, benchCSVFile))
	if err != nil {
		return audit.Summary{}, err
	}
	defer f.Close()
	return audit.VerifyCSV(f, sig, []minisign.PublicKey{pub})
}

// TestAuditBenchChild runs one phase (export or verify) of a bench
// directory when a benchmark re-executes the test binary for it, and
// prints how long it took; otherwise it does nothing.
func TestAuditBenchChild(t *testing.T) {
	phase, dir := os.Getenv(benchPhaseEnv), os.Getenv(benchDirEnv)
	if phase == "" || dir == "" {
		t.Skip("run by the audit benchmarks in a child process")
	}
	start := time.Now()
	var sum audit.Summary
	var err error
	switch phase {
	case "export":
		sum, err = benchExport(dir)
	case "verify":
		sum, err = benchVerify(dir)
	default:
		t.Fatalf("%s=%q: want export or verify", benchPhaseEnv, phase)
	}
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s: %v", phase, err)
	}
	fmt.Printf("AUDITBENCH phase=%s rows=%d first=%d last=%d elapsed_ns=%d\n", phase, sum.Rows, sum.First, sum.Last, took.Nanoseconds())
}

// childFigures is what one phase cost in a child process.
type childFigures struct {
	rows   int64
	took   time.Duration // the phase, timed in the child
	maxRSS int64         // peak resident set of the child, KiB
}

// runBenchChild runs phase on dir in a child process and returns its
// figures; it fails tb when the phase failed or did not see n rows.
func runBenchChild(tb testing.TB, phase, dir string, n int) childFigures {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAuditBenchChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), benchPhaseEnv+"="+phase, benchDirEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("child %s: %v\n%s", phase, err, out)
	}
	var f childFigures
	var ns int64
	found := false
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var p string
		var first, last int64
		if _, err := fmt.Sscanf(sc.Text(), "AUDITBENCH phase=%s rows=%d first=%d last=%d elapsed_ns=%d", &p, &f.rows, &first, &last, &ns); err == nil {
			found = true
		}
	}
	if !found {
		tb.Fatalf("child %s printed no figures:\n%s", phase, out)
	}
	if f.rows != int64(n) {
		tb.Fatalf("child %s saw %d rows, want %d", phase, f.rows, n)
	}
	f.took = time.Duration(ns)
	f.maxRSS = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	return f
}

// benchState is the bench directory that the benchmarks of one run share,
// populated once; TestMain removes it.
var benchState struct {
	once     sync.Once
	dir      string
	populate time.Duration
	err      error
}

func benchDir(b *testing.B) string {
	b.Helper()
	benchState.once.Do(func() {
		benchState.dir, benchState.err = os.MkdirTemp("", "smsd-audit-bench-")
		if benchState.err != nil {
			return
		}
		// Cleared once it all went well: a t.Fatal inside leaves it set.
		benchState.err = errors.New("populating the bench directory failed")
		benchState.populate = populateBench(b, benchState.dir, benchRows)
		b.Logf("populated %d rows in %v", benchRows, benchState.populate)
		_, benchState.err = benchExport(benchState.dir)
	})
	if benchState.err != nil {
		b.Fatal(benchState.err)
	}
	return benchState.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchState.dir != "" {
		os.RemoveAll(benchState.dir)
	}
	os.Exit(code)
}

// reportChild adds a child's figures to the benchmark's output.
func reportChild(b *testing.B, f childFigures) {
	b.ReportMetric(f.took.Seconds(), "child-s")
	b.ReportMetric(float64(f.maxRSS)/1024, "child-peak-RSS-MiB")
}

// BenchmarkExport1M exports a log of a million rows, signed, to a file;
// then, once, the same export in a child process for its peak RSS.
func BenchmarkExport1M(b *testing.B) {
	dir := benchDir(b)
	for b.Loop() {
		if sum, err := benchExport(dir); err != nil || sum.Rows != benchRows {
			b.Fatalf("export: %d rows, %v", sum.Rows, err)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	reportChild(b, runBenchChild(b, "export", dir, benchRows))
}

// BenchmarkVerify1M verifies the export of a million rows against its
// signature; then, once, in a child process for its peak RSS.
func BenchmarkVerify1M(b *testing.B) {
	dir := benchDir(b)
	for b.Loop() {
		if sum, err := benchVerify(dir); err != nil || sum.Rows != benchRows {
			b.Fatalf("verify: %d rows, %v", sum.Rows, err)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	reportChild(b, runBenchChild(b, "verify", dir, benchRows))
}

// TestAuditBench populates a log of a million rows and measures export and
// verify, each in a child process of its own (time and peak RSS), and logs
// the figures next to the targets. Only with SMSD_AUDIT_BENCH=1: it takes
// minutes and a gigabyte of disk.
func TestAuditBench(t *testing.T) {
	if os.Getenv(benchEnv) != "1" {
		t.Skipf("set %s=1 to measure export and verify of %d rows", benchEnv, benchRows)
	}
	n := benchRows
	if s := os.Getenv(benchEnv + "_ROWS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("%s_ROWS=%q", benchEnv, s)
		}
	}
	dir := t.TempDir()
	took := populateBench(t, dir, n)
	var dbSize int64
	if fi, err := os.Stat(filepath.Join(dir, benchDBFile)); err == nil {
		dbSize = fi.Size()
	}
	t.Logf("populated %d rows in %v (database %.0f MiB)", n, took.Round(time.Millisecond), float64(dbSize)/(1<<20))
	for _, phase := range []string{"export", "verify"} {
		f := runBenchChild(t, phase, dir, n)
		t.Logf("%s of %d rows: %v, peak RSS %.1f MiB (targets: under 10 s, under 64 MB)", phase, n, f.took.Round(time.Millisecond), float64(f.maxRSS)/1024)
		if phase == "export" {
			if fi, err := os.Stat(filepath.Join(dir, benchCSVFile)); err == nil {
				t.Logf("export file %.0f MiB", float64(fi.Size())/(1<<20))
			}
		}
	}
}
