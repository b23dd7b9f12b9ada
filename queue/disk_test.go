package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinicsms/smsd/internal/testutil"
)

// tmpfs mounts a small tmpfs of size bytes in a temporary directory. When
// this process may not mount (not root, no CAP_SYS_ADMIN) it skips, saying
// why, or fails under SMSD_REQUIRE_REAL_PARTS=1.
func tmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		if testutil.RealPartsRequired() {
			t.Fatalf("SMSD_REQUIRE_REAL_PARTS=1 but a tmpfs cannot be mounted (run as root, or with CAP_SYS_ADMIN): %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here (needs root/CAP_SYS_ADMIN; set SMSD_REQUIRE_REAL_PARTS=1 to make this a failure): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// snapshot returns ids and states of every message, read without the store.
func snapshot(t *testing.T, path string) string {
	t.Helper()
	db := raw(t, path)
	defer db.Close()
	rows, err := db.Query("SELECT id, state, attempts, COALESCE(length(text_sealed), -1) FROM messages ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, att, l int64
		var st string
		rows.Scan(&id, &st, &att, &l)
		fmt.Fprintf(&b, "%d:%s:%d:%d ", id, st, att, l)
	}
	return b.String()
}

func bigBatch(n int) []NewMessage {
	out := make([]NewMessage, n)
	for i := range out {
		out[i] = NewMessage{To: fmt.Sprintf("+1555%07d", i), Text: strings.Repeat("reminder text ", 20)}
	}
	return out
}

// TestDiskFullTmpfs fills a real (tiny) file system and checks that a write
// fails with ErrDiskFull, leaves nothing half-done, and that the store works
// again once space is freed.
func TestDiskFullTmpfs(t *testing.T) {
	ctx := context.Background()
	mnt := tmpfs(t, 2<<20)
	dir := t.TempDir()
	e := &env{dir: dir, db: filepath.Join(mnt, "smsd.db"), keys: KeySource{KeyFile: filepath.Join(dir, "smsd.key")}, clk: newClock()}
	e.opt = Options{Now: e.clk.Now}
	if err := Init(ctx, e.db, e.keys, e.opt); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, e.db, e.keys, e.opt)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := mustEnqueue(t, s, num, "before the disk filled")
	s.Claim(ctx, "m1")
	// Fill the file system, leaving a little room.
	filler := filepath.Join(mnt, "filler")
	f, _ := os.Create(filler)
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	before := snapshot(t, e.db)
	_, err = s.EnqueueBatch(ctx, bigBatch(1000)) // ~1 MiB of pages: more than the room left
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "free space") {
		t.Fatalf("batch on a full disk: %v, want ErrDiskFull with advice", err)
	}
	t.Logf("error seen: %v", err)
	if after := snapshot(t, e.db); after != before {
		t.Fatalf("partial state after a failed write:\n%s\n%s", before, after)
	}
	// A small transition on the full disk may still fit (SQLite reuses WAL
	// space after a checkpoint) or may not; either way it is all or nothing.
	rowBefore := rowDump(t, s, first.ID)
	recorded := false
	switch err := s.RecordPart(ctx, first.ID, 1, 1, 1); {
	case err == nil:
		recorded = true
		t.Log("a one-part record still fitted on the full disk")
	case errors.Is(err, ErrDiskFull):
		if after := rowDump(t, s, first.ID); after != rowBefore {
			t.Fatalf("failed transition left partial state:\n%s\n%s", rowBefore, after)
		}
	default:
		t.Fatalf("record part on a full disk: %v, want success or ErrDiskFull", err)
	}
	os.Remove(filler)
	if !recorded {
		if err := s.RecordPart(ctx, first.ID, 1, 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MarkSent(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	res, err := s.EnqueueBatch(ctx, bigBatch(200))
	if err != nil || len(res) != 200 {
		t.Fatalf("after freeing space: %v", err)
	}
	s.Close()
	s = e.open(t)
	if c, _ := s.Counts(ctx); c[Queued] != 200 || c[Sent] != 1 {
		t.Fatal(c)
	}
}

// TestDiskFullPageLimit simulates a full disk with SQLite's max_page_count
// (works without root): same guarantees.
func TestDiskFullPageLimit(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	mustEnqueue(t, s, num, "x")
	var pages int
	s.w.QueryRow("PRAGMA page_count").Scan(&pages)
	if _, err := s.w.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+2)); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, e.db)
	if _, err := s.EnqueueBatch(ctx, bigBatch(1000)); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("%v, want ErrDiskFull", err)
	}
	if after := snapshot(t, e.db); after != before {
		t.Fatalf("partial state:\n%s\n%s", before, after)
	}
	s.w.Exec("PRAGMA max_page_count = 1073741823")
	if _, err := s.EnqueueBatch(ctx, bigBatch(1000)); err != nil {
		t.Fatal(err)
	}
}

// TestReadOnly: a database on a file system that became read-only (what an
// SD card does after I/O errors) gives a clear error at open and is left
// as it was. As root, the file system is really remounted read-only (file
// modes do not stop root); otherwise the file is made read-only.
func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	var dir string
	root := os.Geteuid() == 0
	if root {
		dir = tmpfs(t, 4<<20)
	} else {
		dir = t.TempDir()
	}
	keys := KeySource{KeyFile: filepath.Join(t.TempDir(), "smsd.key")}
	db := filepath.Join(dir, "smsd.db")
	if err := Init(ctx, db, keys, Options{}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, db, keys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := mustEnqueue(t, s, num, "x")
	s.Claim(ctx, "m1") // sending: an open would turn it uncertain
	s.Close()
	if root {
		if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
			t.Fatalf("remount ro: %v %s", err, out)
		}
	} else {
		os.Chmod(db, 0o444)
		os.Chmod(dir, 0o555)
		defer os.Chmod(dir, 0o755)
	}
	before := fileSums(t, db)
	_, err = Open(ctx, db, keys, Options{})
	if err == nil {
		t.Fatal("opened a read-only database for writing")
	}
	t.Logf("error seen: %v", err)
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "read-write") {
		t.Fatalf("unclear error: %v", err)
	}
	if after := fileSums(t, db); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("read-only open changed the files")
	}
	if root {
		exec.Command("mount", "-o", "remount,rw", dir).Run()
	} else {
		os.Chmod(dir, 0o755)
		os.Chmod(db, 0o600)
	}
	s, err = Open(ctx, db, keys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, _ := s.Get(ctx, m.ID); got.State != Uncertain {
		t.Fatalf("state %s", got.State)
	}
}

// TestInitOnFullDiskLeavesNothing: an init that fails half-way removes the
// database it started, so the next init is not refused as "exists".
func TestInitOnFullDiskLeavesNothing(t *testing.T) {
	ctx := context.Background()
	mnt := tmpfs(t, 1<<20)
	f, _ := os.Create(filepath.Join(mnt, "filler"))
	f.Write(make([]byte, (1<<20)-8<<10)) // leaves about 8 KiB
	f.Close()
	db := filepath.Join(mnt, "smsd.db")
	keys := KeySource{KeyFile: filepath.Join(t.TempDir(), "smsd.key")}
	err := Init(ctx, db, keys, Options{})
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("init on a full disk: %v", err)
	}
	if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("half-made database left behind")
	}
	os.Remove(filepath.Join(mnt, "filler"))
	if err := Init(ctx, db, keys, Options{}); err != nil {
		t.Fatal(err)
	}
}

// TestReadOnlyFile: a database file that cannot be written although its
// file system can (root ignores file modes, so the file is made immutable
// with chattr +i, which binds root too) gives ErrReadOnly at open and is
// left as it was; once writable again it opens normally.
func TestReadOnlyFile(t *testing.T) {
	ctx := context.Background()
	if os.Geteuid() != 0 {
		t.Skip("as a normal user TestReadOnly already covers a read-only file (mode 0444); this covers root")
	}
	e, s := openEnv(t)
	m := mustEnqueue(t, s, num, "x")
	s.Claim(ctx, "m1") // sending: an open would turn it uncertain
	s.Close()
	if out, err := exec.Command("chattr", "+i", e.db).CombinedOutput(); err != nil {
		if testutil.RealPartsRequired() {
			t.Fatalf("SMSD_REQUIRE_REAL_PARTS=1 but chattr +i failed here: %v %s", err, out)
		}
		t.Skipf("chattr +i not possible here (file system without immutable files?): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", e.db).Run() })
	before := dirState(t, e.dir, true)
	_, err := Open(ctx, e.db, e.keys, e.opt)
	t.Logf("error seen: %v", err)
	if !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("open of an immutable database: %v, want ErrReadOnly with advice", err)
	}
	if after := dirState(t, e.dir, true); after != before {
		t.Fatalf("a refused open changed the directory:\n%s\n%s", before, after)
	}
	if out, err := exec.Command("chattr", "-i", e.db).CombinedOutput(); err != nil {
		t.Fatalf("chattr -i: %v %s", err, out)
	}
	s = e.open(t)
	mustState(t, s, m.ID, Uncertain)
}
