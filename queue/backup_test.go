package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/clinicsms/smsd/crypt"
)

// writeBackup writes a backup of s into a new directory under parent, as
// smsd backup does (snapshot, config, signed manifest), and returns it.
func writeBackup(t testing.TB, s *Store, parent, name string, config []byte) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, BackupDBFile))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Snapshot(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	m := Manifest{CreatedAt: time.Now().UTC().Truncate(time.Second), Host: "test", SchemaVersion: info.SchemaVersion,
		DataKeyGeneration: info.DataKeyGeneration, AuditHead: info.AuditHead.String(), Counts: info.Counts, Files: []BackupFile{info.File}}
	if config != nil {
		m.Files = append(m.Files, FileOf(BackupConfigFile, config))
		os.WriteFile(filepath.Join(dir, BackupConfigFile), config, 0o600)
	}
	mb, sig, err := s.SignManifest(context.Background(), &m)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, ManifestFile), mb, 0o600)
	os.WriteFile(filepath.Join(dir, ManifestSigFile), sig, 0o600)
	return dir
}

// openCopy opens the database of backup dir with key source keys, from a
// copy in a new directory (Open writes).
func openCopy(t *testing.T, dir string, keys KeySource) *Store {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, BackupDBFile))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "smsd.db")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), p, keys, Options{})
	if err != nil {
		t.Fatalf("open the snapshot: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestSnapshotUnderLoad: a snapshot taken while a writer enqueues and
// records inbound messages is one consistent state: it opens with the key,
// passes the integrity check and the messages table's digest (a copy mixing
// two states would fail the digest), and holds exactly what one moment
// held — a prefix of the writer's work, never a message without the inbound
// reply written with it.
func TestSnapshotUnderLoad(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	for i := range 200 {
		mustEnqueue(t, s, fmt.Sprintf("+1555010%04d", i), fmt.Sprintf("before %d", i))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			num := fmt.Sprintf("+1555020%04d", i%10000)
			if _, err := s.Enqueue(ctx, NewMessage{To: num, Text: fmt.Sprintf("during %d", i)}); err != nil {
				t.Error(err)
				return
			}
			if _, err := s.AddInbound(ctx, Inbound{From: num, Text: fmt.Sprintf("reply %d", i)}); err != nil {
				t.Error(err)
				return
			}
			written.Add(1)
		}
	}()
	// Wait until the writer is under way, then snapshot three times.
	for written.Load() < 5 {
		time.Sleep(5 * time.Millisecond)
	}
	var dirs []string
	for i := range 3 {
		dirs = append(dirs, writeBackup(t, s, t.TempDir(), fmt.Sprintf("b%d", i), nil))
	}
	stop.Store(true)
	wg.Wait()
	for _, dir := range dirs {
		if _, err := VerifyBackup(dir, nil); err != nil {
			t.Fatal(err)
		}
		c := openCopy(t, dir, e.keys)
		if p := c.msgDigestErr.Load(); p != nil {
			t.Fatalf("the snapshot's messages digest disagrees with its rows: %v", *p)
		}
		msgs, err := c.List(ctx, ListFilter{Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		in, err := c.Inbox(ctx, 100000)
		if err != nil {
			t.Fatal(err)
		}
		during := len(msgs) - 200
		if during < 5 || len(in) != during && len(in) != during-1 {
			t.Fatalf("snapshot %s: %d messages written during it, %d replies: not one moment", dir, during, len(in))
		}
		v, _ := VerifyBackup(dir, nil)
		if v.Manifest.Counts["messages"] != int64(len(msgs)) {
			t.Errorf("manifest counts %d messages, the snapshot holds %d", v.Manifest.Counts["messages"], len(msgs))
		}
	}
	if entries, _ := filepath.Glob(e.db + stagingSuffix + "*"); len(entries) > 0 {
		t.Errorf("staging files left beside the database: %v", entries)
	}
}

// TestSnapshotNoPHI: the snapshot holds no number, name or text in clear.
func TestSnapshotNoPHI(t *testing.T) {
	_, s := openEnv(t)
	ctx := context.Background()
	const number, text, name = "+15558675309", "Canary Quixotebottom: colonoscopy prep at 7", "Zebulon Canaryfeather"
	mustEnqueue(t, s, number, text)
	if _, err := s.AddInbound(ctx, Inbound{From: number, Text: text}); err != nil {
		t.Fatal(err)
	}
	if err := s.OptOut(ctx, "+15558675310"); err != nil {
		t.Fatal(err)
	}
	h, err := crypt.HashPassword("a test password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, User{Username: "zeb", Name: name, Role: RoleAdmin, PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	dir := writeBackup(t, s, t.TempDir(), "b", nil)
	for _, f := range []string{BackupDBFile, ManifestFile, ManifestSigFile} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		for _, phi := range []string{number, "8675309", "8675310", "Quixotebottom", "colonoscopy", "Canaryfeather"} {
			if bytes.Contains(b, []byte(phi)) {
				t.Errorf("%s holds %q in clear", f, phi)
			}
		}
	}
}

// TestVerifyBackup: a good backup verifies with the store's key and with
// none (self-signed); a backup changed in any file, cut short, missing a
// file, or put together from two backups is refused, naming the file.
func TestVerifyBackup(t *testing.T) {
	_, s := openEnv(t)
	_, other := openEnv(t)
	mustEnqueue(t, s, "+15550100001", "one")
	parent := t.TempDir()
	config := []byte("modem = \"auto\"\n")
	a := writeBackup(t, s, parent, "a", config)
	mustEnqueue(t, s, "+15550100002", "two")
	b := writeBackup(t, s, parent, "b", config)
	foreign := writeBackup(t, other, parent, "foreign", nil)
	keys, err := s.AuditPublicKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	otherKeys, _ := other.AuditPublicKeys(context.Background())

	// copyDir copies backup src to a new directory and applies change.
	copyDir := func(t *testing.T, src string, change func(dir string)) string {
		dir := filepath.Join(t.TempDir(), "copy")
		os.MkdirAll(dir, 0o700)
		entries, _ := os.ReadDir(src)
		for _, e := range entries {
			bb, _ := os.ReadFile(filepath.Join(src, e.Name()))
			os.WriteFile(filepath.Join(dir, e.Name()), bb, 0o600)
		}
		if change != nil {
			change(dir)
		}
		return dir
	}
	flip := func(name string, at int64) func(string) {
		return func(dir string) {
			p := filepath.Join(dir, name)
			bb, _ := os.ReadFile(p)
			if at < 0 {
				at = int64(len(bb)) + at
			}
			bb[at] ^= 0x01
			os.WriteFile(p, bb, 0o600)
		}
	}
	from := func(src, name string) func(string) {
		return func(dir string) {
			bb, _ := os.ReadFile(filepath.Join(src, name))
			os.WriteFile(filepath.Join(dir, name), bb, 0o600)
		}
	}
	for _, tc := range []struct {
		name   string
		dir    func(t *testing.T) string
		keys   []minisign.PublicKey
		errHas string // "" = verifies
	}{
		{"good_with_the_store_key", func(t *testing.T) string { return a }, keys, ""},
		{"good_self_signed", func(t *testing.T) string { return a }, nil, ""},
		{"db_byte_changed", func(t *testing.T) string { return copyDir(t, a, flip(BackupDBFile, 5000)) }, keys, "smsd.db does not match the manifest"},
		{"db_last_byte_changed", func(t *testing.T) string { return copyDir(t, a, flip(BackupDBFile, -1)) }, nil, "smsd.db does not match the manifest"},
		{"db_truncated", func(t *testing.T) string {
			return copyDir(t, a, func(dir string) { os.Truncate(filepath.Join(dir, BackupDBFile), 4096) })
		}, keys, "smsd.db is truncated: 4096 bytes"},
		{"db_empty", func(t *testing.T) string {
			return copyDir(t, a, func(dir string) { os.Truncate(filepath.Join(dir, BackupDBFile), 0) })
		}, keys, "smsd.db is truncated: 0 bytes"},
		{"db_missing", func(t *testing.T) string {
			return copyDir(t, a, func(dir string) { os.Remove(filepath.Join(dir, BackupDBFile)) })
		}, keys, "smsd.db is missing"},
		{"config_changed", func(t *testing.T) string { return copyDir(t, a, flip(BackupConfigFile, 0)) }, keys, "smsd.toml does not match the manifest"},
		{"config_missing", func(t *testing.T) string {
			return copyDir(t, a, func(dir string) { os.Remove(filepath.Join(dir, BackupConfigFile)) })
		}, keys, "smsd.toml is missing"},
		{"manifest_changed", func(t *testing.T) string {
			return copyDir(t, a, func(dir string) {
				p := filepath.Join(dir, ManifestFile)
				bb, _ := os.ReadFile(p)
				os.WriteFile(p, bytes.Replace(bb, []byte(`"messages": 1`), []byte(`"messages": 9`), 1), 0o600)
			})
		}, nil, "manifest.json.minisig: the signature does not match"},
		{"signature_changed", func(t *testing.T) string { return copyDir(t, a, flip(ManifestSigFile, 40)) }, keys, "manifest.json.minisig"},
		{"signature_missing", func(t *testing.T) string {
			return copyDir(t, a, func(dir string) { os.Remove(filepath.Join(dir, ManifestSigFile)) })
		}, nil, "has no manifest.json.minisig"},
		{"manifest_missing", func(t *testing.T) string {
			return copyDir(t, a, func(dir string) { os.Remove(filepath.Join(dir, ManifestFile)) })
		}, nil, "has no manifest.json"},
		{"mixed_db_of_another_backup", func(t *testing.T) string { return copyDir(t, a, from(b, BackupDBFile)) }, keys, "smsd.db"},
		{"mixed_manifest_of_another_backup", func(t *testing.T) string {
			return copyDir(t, a, func(dir string) { from(b, ManifestFile)(dir); from(b, ManifestSigFile)(dir) })
		}, keys, "smsd.db"},
		{"manifest_of_one_signature_of_another", func(t *testing.T) string { return copyDir(t, a, from(b, ManifestSigFile)) }, keys, "manifest.json.minisig"},
		{"another_stores_backup", func(t *testing.T) string { return foreign }, keys, "not by the trusted key"},
		{"another_stores_backup_with_its_key", func(t *testing.T) string { return foreign }, otherKeys, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			v, err := VerifyBackup(dir, tc.keys)
			if tc.errHas == "" {
				if err != nil {
					t.Fatalf("a good backup is refused: %v", err)
				}
				if v.SelfSigned != (tc.keys == nil) {
					t.Errorf("SelfSigned = %v with keys %v", v.SelfSigned, tc.keys)
				}
				return
			}
			if err == nil {
				t.Fatalf("verifies; want an error naming %q", tc.errHas)
			}
			if !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("error %q; want ErrBadBackup naming %q", err, tc.errHas)
			}
		})
	}
}

// TestCheckKey: the right key opens the backup's database read-only, a
// wrong one is ErrWrongKey, and neither leaves a file behind.
func TestCheckKey(t *testing.T) {
	e, s := openEnv(t)
	dir := writeBackup(t, s, t.TempDir(), "b", nil)
	before, _ := os.ReadDir(dir)
	db := filepath.Join(dir, BackupDBFile)
	if err := CheckKey(context.Background(), db, e.keys, Options{}); err != nil {
		t.Fatalf("the store's own key: %v", err)
	}
	other := KeySource{KeyFile: filepath.Join(t.TempDir(), "other.key")}
	if _, _, _, _, err := other.create(); err != nil {
		t.Fatal(err)
	}
	if err := CheckKey(context.Background(), db, other, Options{}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("another key: %v, want ErrWrongKey", err)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(before) {
		t.Errorf("CheckKey left files: %v -> %v", before, after)
	}
}

// FuzzParseManifest: a manifest from a backup stick is outside input; no
// input panics, and whatever parses names only plain files, once each.
func FuzzParseManifest(f *testing.F) {
	good, _ := json.Marshal(Manifest{Format: BackupFormat, AuditHead: "0:" + strings.Repeat("0", 64),
		Files: []BackupFile{{Name: BackupDBFile, Size: 1, SHA256: strings.Repeat("ab", 32)}}})
	f.Add(good)
	f.Add([]byte(`{"format":"smsd-backup/1","files":[{"name":"../etc/passwd","size":1,"sha256":""}]}`))
	f.Add([]byte(`{"format":"smsd-backup/1","files":[{"name":"smsd.db"},{"name":"smsd.db"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, fl := range m.Files {
			if strings.ContainsAny(fl.Name, "/\\") || fl.Name == "." || fl.Name == ".." || seen[fl.Name] {
				t.Fatalf("accepted file name %q", fl.Name)
			}
			seen[fl.Name] = true
		}
		if !seen[BackupDBFile] {
			t.Fatal("accepted a manifest without the database")
		}
	})
}
