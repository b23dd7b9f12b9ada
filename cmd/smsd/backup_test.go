package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// TestPruneBackups: only complete backups (smsd-YYYYMMDD-HHMMSS) count
// and are pruned, oldest first, never the one just written; a half-written
// one left by a crash is removed once it is a day old, other files never.
func TestPruneBackups(t *testing.T) {
	place := t.TempDir()
	mk := func(name string, age time.Duration) {
		p := filepath.Join(place, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		os.Chtimes(p, at, at)
	}
	for _, n := range []string{"smsd-20261128-023000", "smsd-20261129-023000", "smsd-20261130-023000", "smsd-20261130-023000-2", "smsd-20261201-023000"} {
		mk(n, 0)
	}
	mk(backupTmpPrefix+"smsd-20261127-023000-123", 48*time.Hour) // a crash two days ago
	mk(backupTmpPrefix+"smsd-20261202-023000-456", time.Minute)  // another backup writing now
	mk("photos", 0)
	os.WriteFile(filepath.Join(place, "smsd-20261101-000000.txt"), []byte("x"), 0o600)
	removed, err := pruneBackups(place, "smsd-20261201-023000", 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"smsd-20261128-023000", "smsd-20261129-023000"}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	var left []string
	entries, _ := os.ReadDir(place)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := []string{backupTmpPrefix + "smsd-20261202-023000-456", "photos", "smsd-20261101-000000.txt", "smsd-20261130-023000", "smsd-20261130-023000-2", "smsd-20261201-023000"}
	if !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	// keep 0: nothing is pruned.
	if removed, _ := pruneBackups(place, "x", 0); len(removed) != 0 {
		t.Errorf("keep 0 removed %v", removed)
	}
}

// TestVerifyWord: "verify" is found after flags and their values, and not
// as a flag's value.
func TestVerifyWord(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"verify", "D"}, 0},
		{[]string{"-config", "c", "-data-dir", "d", "verify", "D"}, 4},
		{[]string{"-force", "verify"}, 1},
		{[]string{"-out", "verify"}, -1},
		{[]string{"-out=x", "verify"}, 1},
		{[]string{"-out", "x"}, -1},
		{[]string{"D", "verify"}, -1},
	} {
		if got := verifyWord(tc.args); got != tc.want {
			t.Errorf("verifyWord(%q) = %d, want %d", tc.args, got, tc.want)
		}
	}
}

// TestPrintBackupStatus: smsd status says nothing of backups never set up,
// and says loudly when the last one failed.
func TestPrintBackupStatus(t *testing.T) {
	at := time.Date(2026, 12, 2, 2, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		b    ops.BackupStatus
		want string // "" = no line
	}{
		{"never_set_up", ops.BackupStatus{}, ""},
		{"configured_none_yet", ops.BackupStatus{Configured: true, Place: "/media/b"}, "backup:  none made yet into /media/b"},
		{"good", ops.BackupStatus{Configured: true, LastAt: at, OK: true, LastDir: "/media/b/smsd-1", LastOKAt: at}, "good: /media/b/smsd-1"},
		{"failed", ops.BackupStatus{Configured: true, LastAt: at, Error: "the backup place /media/b does not exist", LastDir: "/media/b/smsd-1", LastOKAt: at.Add(-24 * time.Hour)}, "BACKUP:  THE LAST BACKUP FAILED"},
		{"failed_never_good", ops.BackupStatus{LastAt: at, Error: "no place"}, "last good backup: never"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			printBackupStatus(&b, tc.b)
			if tc.want == "" && b.Len() != 0 || !strings.Contains(b.String(), tc.want) {
				t.Errorf("printed %q, want %q", b.String(), tc.want)
			}
		})
	}
}
