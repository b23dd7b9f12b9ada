package queue

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"aead.dev/minisign"
	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/crypt"
)

// A backup is a directory holding:
//
//   - smsd.db: a consistent snapshot of the database made with SQLite's
//     online backup API while the store is in use. It is as sealed as the
//     database itself: every PHI cell sealed under the data key, the data
//     key only wrapped (by the key-encryption keys and the recovery code).
//   - smsd.toml: the configuration file, when there was one.
//   - manifest.json: what the backup is (Manifest), with the size and
//     SHA-256 of every file.
//   - manifest.json.minisig: the manifest's minisign signature by the
//     store's audit signing key, whose public key the manifest names; an
//     auditor checks it with `minisign -Vm manifest.json -P KEY`.
//
// The manifest binds the files together: a file changed, cut short or taken
// from another backup no longer matches its hash. The signature binds the
// manifest to the store that made it.

// Backup file names.
const (
	BackupDBFile     = "smsd.db"
	BackupConfigFile = "smsd.toml"
	ManifestFile     = "manifest.json"
	ManifestSigFile  = "manifest.json.minisig"
)

// BackupFormat names the layout of a backup; VerifyBackup refuses others.
const BackupFormat = "smsd-backup/1"

// BackupFile is one file of a backup as the manifest lists it.
type BackupFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest describes a backup. It holds no PHI and no key material: counts,
// versions, the audit chain's head and the files' hashes.
type Manifest struct {
	Format    string    `json:"format"`
	CreatedAt time.Time `json:"created_at"`
	// Host is the name of the machine the backup was made on.
	Host          string `json:"host"`
	SmsdVersion   string `json:"smsd_version"`
	SchemaVersion int    `json:"schema_version"`
	// DataKeyGeneration is the generation of the data key that seals the
	// newest rows (smsd key rotate makes a new one).
	DataKeyGeneration int `json:"data_key_generation"`
	// AuditHead is the audit chain's last row in the snapshot ("seq:hash").
	AuditHead string `json:"audit_head"`
	// Counts are the snapshot's rows per table: messages, inbound,
	// optouts, users, audit_log.
	Counts map[string]int64 `json:"counts"`
	// PublicKey is the audit signing key's public half ("RW..."), which
	// signed manifest.json.
	PublicKey string       `json:"public_key"`
	Files     []BackupFile `json:"files"`
}

// File returns the manifest's entry for name.
func (m Manifest) File(name string) (BackupFile, bool) {
	for _, f := range m.Files {
		if f.Name == name {
			return f, true
		}
	}
	return BackupFile{}, false
}

// SnapshotInfo is what Snapshot learned of the copy it wrote.
type SnapshotInfo struct {
	File              BackupFile
	SchemaVersion     int
	DataKeyGeneration int
	AuditHead         audit.Head
	Counts            map[string]int64
}

// snapshotTables are the tables the manifest counts.
var snapshotTables = []string{"messages", "inbound", "optouts", "users", "audit_log"}

// stagingSuffix names the snapshot being made next to the database.
const stagingSuffix = ".backup-tmp"

// Snapshot writes a consistent copy of the database to w, made with
// SQLite's online backup API while the store goes on working: the copy is
// the database as one read transaction saw it, writers never wait for it.
// The copy is made in a staging file next to the database (the database's
// own directory is the one place a sandboxed daemon may write; it is
// removed before Snapshot returns, and a stale one from a crash is removed
// first), checked (quick_check), then streamed to w. The copy stays sealed:
// nothing is opened. The audit signing key is made first if the store has
// none, so that the snapshot holds the key SignManifest signs with.
func (s *Store) Snapshot(ctx context.Context, w io.Writer) (SnapshotInfo, error) {
	// The key that signs the manifest must be in the snapshot (restore
	// checks that the backup was signed by one of its own audit keys):
	// made now if the store has none yet.
	if _, err := s.SigningKey(ctx); err != nil {
		return SnapshotInfo{}, fmt.Errorf("snapshot of %s: %w", s.path, err)
	}
	staging := s.path + stagingSuffix
	os.Remove(staging)
	defer os.Remove(staging)
	info, err := s.snapshotTo(ctx, staging)
	if err != nil {
		return info, classify(fmt.Errorf("snapshot of %s: %w", s.path, err))
	}
	f, err := os.Open(staging)
	if err != nil {
		return info, fmt.Errorf("snapshot of %s: %w", s.path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), f)
	if err != nil {
		return info, fmt.Errorf("snapshot of %s: write the copy: %w", s.path, err)
	}
	info.File = BackupFile{Name: BackupDBFile, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	return info, nil
}

// snapshotTo runs the online backup from a reader connection into a new
// database at dst, then reads what the manifest says of it.
func (s *Store) snapshotTo(ctx context.Context, dst string) (SnapshotInfo, error) {
	var info SnapshotInfo
	f, err := os.OpenFile(dst, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return info, err
	}
	f.Close()
	// The staging copy needs no journal: a failed copy is thrown away.
	ddb, err := sql.Open("sqlite3", dsn(dst, "_journal_mode=OFF&_synchronous=OFF"))
	if err != nil {
		return info, err
	}
	defer ddb.Close()
	ddb.SetMaxOpenConns(1)
	dconn, err := ddb.Conn(ctx)
	if err != nil {
		return info, err
	}
	defer dconn.Close()
	sconn, err := s.r.Conn(ctx)
	if err != nil {
		return info, err
	}
	defer sconn.Close()
	err = dconn.Raw(func(d any) error {
		dc, ok := d.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", d)
		}
		return sconn.Raw(func(src any) error {
			sc, ok := src.(*sqlite3.SQLiteConn)
			if !ok {
				return fmt.Errorf("unexpected driver connection %T", src)
			}
			bk, err := dc.Backup("main", sc, "main")
			if err != nil {
				return fmt.Errorf("start the online backup: %w", err)
			}
			// All pages in one step: one read transaction on the source,
			// so the copy is one consistent state however busy the
			// writer is (a step-by-step copy restarts on every commit).
			done, err := bk.Step(-1)
			if err != nil {
				bk.Close()
				return fmt.Errorf("online backup: %w", err)
			}
			if !done {
				bk.Close()
				return errors.New("online backup: not finished after copying every page")
			}
			return bk.Finish()
		})
	})
	if err != nil {
		return info, err
	}
	var res string
	if err := dconn.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&res); err != nil {
		return info, fmt.Errorf("check the copy: %w", err)
	}
	if res != "ok" {
		return info, fmt.Errorf("the copy failed its check (%s)", res)
	}
	if info, err = describe(ctx, dconn); err != nil {
		return info, fmt.Errorf("read the copy: %w", err)
	}
	return info, nil
}

// describe reads a database's schema version, newest data key generation,
// audit head and row counts (nothing sealed).
func describe(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (SnapshotInfo, error) {
	info := SnapshotInfo{Counts: map[string]int64{}}
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&info.SchemaVersion); err != nil {
		return info, err
	}
	if err := q.QueryRowContext(ctx, "SELECT COALESCE(MAX(gen), 0) FROM data_keys").Scan(&info.DataKeyGeneration); err != nil {
		return info, err
	}
	h, err := audit.LastHead(ctx, q)
	if err != nil {
		return info, err
	}
	info.AuditHead = h
	for _, t := range snapshotTables {
		var n int64
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t).Scan(&n); err != nil {
			return info, err
		}
		info.Counts[t] = n
	}
	return info, nil
}

// SignManifest names the store's audit signing key in m and signs it. It
// returns the manifest as written to manifest.json and its minisign
// signature (manifest.json.minisig), whose trusted comment says what the
// backup is, so that `minisign -V` shows it.
func (s *Store) SignManifest(ctx context.Context, m *Manifest) (manifest, sig []byte, err error) {
	key, err := s.SigningKey(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("sign the backup manifest: %w", err)
	}
	m.Format = BackupFormat
	m.PublicKey = key.Public().(minisign.PublicKey).String()
	manifest, err = json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	manifest = append(manifest, '\n')
	trusted := fmt.Sprintf("smsd backup created_at=%s host=%s audit_head=%s", m.CreatedAt.UTC().Format(time.RFC3339), m.Host, m.AuditHead)
	sig = minisign.SignWithComments(key, manifest, trusted, "smsd backup manifest")
	return manifest, sig, nil
}

// ErrBadBackup: a backup failed its check (signature, a file's size or
// hash, its format). The error names the file.
var ErrBadBackup = errors.New("the backup does not verify")

// Verified is what VerifyBackup checked.
type Verified struct {
	Manifest Manifest
	// Key is the public key that verified the signature.
	Key string
	// SelfSigned: no trusted key was given; the signature was checked
	// against the key the manifest itself names, which proves the files
	// belong together but not who made them.
	SelfSigned bool
}

// fileNameRe is what a backup's file may be called: a plain name, so that
// a manifest cannot point outside its directory.
var fileNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ParseManifest reads manifest.json's content and checks its form: the
// format, plain file names listed once each, a database among them, hashes
// of the right length. It does not check the signature (VerifyBackup does).
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %s is not valid JSON: %v", ErrBadBackup, ManifestFile, err)
	}
	if m.Format != BackupFormat {
		return m, fmt.Errorf("%w: %s: format %q, this smsd reads %q", ErrBadBackup, ManifestFile, m.Format, BackupFormat)
	}
	seen := map[string]bool{}
	for _, f := range m.Files {
		if !fileNameRe.MatchString(f.Name) || f.Name == ManifestFile || f.Name == ManifestSigFile {
			return m, fmt.Errorf("%w: %s lists a file named %q, which a backup cannot hold", ErrBadBackup, ManifestFile, f.Name)
		}
		if seen[f.Name] {
			return m, fmt.Errorf("%w: %s lists %s twice", ErrBadBackup, ManifestFile, f.Name)
		}
		seen[f.Name] = true
		if b, err := hex.DecodeString(f.SHA256); err != nil || len(b) != sha256.Size {
			return m, fmt.Errorf("%w: %s: the SHA-256 of %s is not 64 hex digits", ErrBadBackup, ManifestFile, f.Name)
		}
		if f.Size < 0 {
			return m, fmt.Errorf("%w: %s: %s has a negative size", ErrBadBackup, ManifestFile, f.Name)
		}
	}
	if !seen[BackupDBFile] {
		return m, fmt.Errorf("%w: %s lists no %s", ErrBadBackup, ManifestFile, BackupDBFile)
	}
	if _, err := audit.ParseHead(m.AuditHead); err != nil {
		return m, fmt.Errorf("%w: %s: audit head: %v", ErrBadBackup, ManifestFile, err)
	}
	return m, nil
}

// VerifyBackup checks the backup in dir without any key of the store: the
// manifest's form, its signature under one of keys (or, when keys is empty,
// under the key the manifest names: see Verified.SelfSigned), and the size
// and SHA-256 of every file it lists, plus the database's own audit head
// against the manifest's. Every failure is ErrBadBackup and names the file.
func VerifyBackup(dir string, keys []minisign.PublicKey) (Verified, error) {
	var v Verified
	mb, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return v, fmt.Errorf("%w: %s has no %s (is it a backup made by smsd backup, the directory smsd-YYYYMMDD-HHMMSS itself?)", ErrBadBackup, dir, ManifestFile)
		}
		return v, fmt.Errorf("backup %s: %w", dir, err)
	}
	sig, err := os.ReadFile(filepath.Join(dir, ManifestSigFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return v, fmt.Errorf("%w: %s has no %s: an unsigned manifest cannot be trusted", ErrBadBackup, dir, ManifestSigFile)
		}
		return v, fmt.Errorf("backup %s: %w", dir, err)
	}
	m, err := ParseManifest(mb)
	if err != nil {
		return v, err
	}
	v.Manifest = m
	if len(keys) == 0 {
		var k minisign.PublicKey
		if err := k.UnmarshalText([]byte(m.PublicKey)); err != nil {
			return v, fmt.Errorf("%w: %s: public key %q: %v", ErrBadBackup, ManifestFile, m.PublicKey, err)
		}
		keys, v.SelfSigned = []minisign.PublicKey{k}, true
	}
	for _, k := range keys {
		if minisign.Verify(k, mb, sig) {
			v.Key = k.String()
			break
		}
	}
	if v.Key == "" {
		if v.SelfSigned {
			return v, fmt.Errorf("%w: %s: the signature does not match (%s or %s was changed)", ErrBadBackup, ManifestSigFile, ManifestFile, ManifestSigFile)
		}
		return v, fmt.Errorf("%w: %s: the signature is not by the trusted key(s) (%s names %s): the manifest was changed, or another store made this backup", ErrBadBackup, ManifestSigFile, ManifestFile, m.PublicKey)
	}
	for _, f := range m.Files {
		if err := checkFile(filepath.Join(dir, f.Name), f); err != nil {
			return v, err
		}
	}
	if err := checkHead(filepath.Join(dir, BackupDBFile), m.AuditHead); err != nil {
		return v, err
	}
	return v, nil
}

// checkFile compares one file with its manifest entry.
func checkFile(path string, f BackupFile) error {
	fh, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s is missing (the manifest lists it)", ErrBadBackup, f.Name)
		}
		return fmt.Errorf("backup file %s: %w", f.Name, err)
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return fmt.Errorf("backup file %s: %w", f.Name, err)
	}
	switch {
	case n < f.Size:
		return fmt.Errorf("%w: %s is truncated: %d bytes, the manifest says %d", ErrBadBackup, f.Name, n, f.Size)
	case n > f.Size:
		return fmt.Errorf("%w: %s is %d bytes, the manifest says %d: it was changed, or belongs to another backup", ErrBadBackup, f.Name, n, f.Size)
	case hex.EncodeToString(h.Sum(nil)) != strings.ToLower(f.SHA256):
		return fmt.Errorf("%w: %s does not match the manifest (its SHA-256 differs): it was changed, or belongs to another backup", ErrBadBackup, f.Name)
	}
	return nil
}

// checkHead reads the audit head of the backup's database (read-only,
// nothing sealed) and compares it with the manifest's.
func checkHead(path, want string) error {
	db, err := sql.Open("sqlite3", dsn(path, "mode=ro&immutable=1"))
	if err != nil {
		return err
	}
	defer db.Close()
	h, err := audit.LastHead(context.Background(), db)
	if err != nil {
		return fmt.Errorf("%w: %s: not a readable smsd database: %v", ErrBadBackup, BackupDBFile, err)
	}
	if h.String() != want {
		return fmt.Errorf("%w: %s: its audit head %s is not the manifest's %s", ErrBadBackup, BackupDBFile, h, want)
	}
	return nil
}

// CheckKey reports whether keys opens the database at path, reading it
// only (opened immutable when it has no -wal: not even an -shm is made).
// Restore calls it on the backup before anything is copied anywhere, so a
// wrong recovery code leaves every directory as it was.
func CheckKey(ctx context.Context, path string, keys KeySource, opt Options) error {
	opt.defaults()
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("open queue %s: %w", path, err)
	}
	s := &Store{path: path, opt: opt, log: opt.Logger, sealers: map[uint32]*crypt.Sealer{}}
	return s.unlock(ctx, keys)
}

// FileOf is the manifest entry of a file named name holding b.
func FileOf(name string, b []byte) BackupFile {
	sum := sha256.Sum256(b)
	return BackupFile{Name: name, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
}
