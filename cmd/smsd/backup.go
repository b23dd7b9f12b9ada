package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"aead.dev/minisign"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

func init() {
	register(command{name: "backup", summary: "a signed, still-encrypted backup: smsd backup [-out DIR] | smsd backup verify DIR", run: runBackup})
}

// backupOps is the backup operation of both doors (the daemon's control
// socket and the store directly).
type backupOps interface {
	Backup(ctx context.Context, r ops.BackupRequest, dbOut *os.File) (ops.BackupResult, error)
}

// backupNameRe is a complete backup's directory name (UTC time).
var backupNameRe = regexp.MustCompile(`^smsd-[0-9]{8}-[0-9]{6}(-[0-9]+)?$`)

// backupTmpPrefix starts the name of a backup still being written: it never
// looks like a complete one, and is renamed when complete.
const backupTmpPrefix = ".smsd-tmp-"

func runBackup(ctx context.Context, env *cmdEnv, args []string) error {
	if i := verifyWord(args); i >= 0 {
		return runBackupVerify(ctx, env, append(append([]string{}, args[:i]...), args[i+1:]...))
	}
	fs := newFlagSet(env, "backup", "smsd backup [-out DIR] [-keep N] [-force]   write a signed backup into DIR/smsd-YYYYMMDD-HHMMSS (UTC)\n       smsd backup verify [-pubkey KEY|FILE] DIR   check a backup's signature and files, without the key")
	cf := addCommonFlags(fs, env)
	out := fs.String("out", "", "where to write the backup (default: backup_dir of the configuration): a mounted USB stick or share")
	keep := fs.Int("keep", -1, "backups to keep in DIR, older ones removed after a good backup: 0 keeps all; -1 takes backup_keep of the configuration")
	force := fs.Bool("force", false, "write the backup even on the data directory's own file system")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q (the place is -out DIR; to check a backup: smsd backup verify DIR)", fs.Arg(0))
	}
	cfg, confBytes, confNote, err := loadForBackup(cf)
	if err != nil {
		return err
	}
	place := *out
	if place == "" {
		place = cfg.BackupDir
	}
	if *keep < 0 {
		*keep = cfg.BackupKeep
	}
	now := time.Now().UTC()
	b, err := writeBackup(ctx, env, cfg, place, *force, confBytes, now)
	if err != nil {
		return err
	}
	if confNote != "" {
		fmt.Fprintln(env.stderr, "note: "+confNote)
	}
	removed, perr := pruneBackups(place, filepath.Base(b.dir), *keep)
	for _, r := range removed {
		fmt.Fprintf(env.stdout, "removed the old backup %s (backup_keep = %d)\n", r, *keep)
	}
	if perr != nil {
		fmt.Fprintf(env.stderr, "warning: old backups not pruned: %v\n", perr)
	}
	return nil
}

// loadForBackup reads the configuration and the configuration file's bytes
// (which go into the backup). A file this user may not read leaves the
// backup without it, with a note.
func loadForBackup(cf commonFlags) (cfg config.Config, confBytes []byte, note string, err error) {
	cfg, err = cf.load()
	path := *cf.config
	if path == "" {
		path = config.DefaultPath
	}
	if err != nil && *cf.config == "" && errors.Is(err, fs.ErrPermission) {
		cfg, err = config.Default(), nil
		if d := cf.getenv("SMSD_DATA_DIR"); d != "" {
			cfg.DataDir = d
		}
		if *cf.dataDir != "" {
			cfg.DataDir = *cf.dataDir
		}
		err = cfg.Validate()
	}
	if err != nil {
		return cfg, nil, "", err
	}
	confBytes, rerr := os.ReadFile(path)
	switch {
	case rerr == nil:
	case errors.Is(rerr, fs.ErrNotExist) && *cf.config == "":
		confBytes = nil
	default:
		confBytes = nil
		note = fmt.Sprintf("the configuration file %s is not in the backup: %v (run the backup as root or the smsd user to include it)", path, rerr)
	}
	return cfg, confBytes, note, nil
}

// verifyWord finds the word "verify" among args (flags may come before it:
// smsd backup -data-dir D verify DIR), or -1.
func verifyWord(args []string) int {
	takesValue := map[string]bool{"config": true, "data-dir": true, "out": true, "keep": true, "pubkey": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return -1
		}
		if strings.HasPrefix(a, "-") {
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] {
				i++
			}
			continue
		}
		if a == "verify" {
			return i
		}
		return -1
	}
	return -1
}

// written is a backup made.
type written struct {
	dir string
	res ops.BackupResult
}

// writeBackup makes one backup in place, written aside and renamed when
// complete. Every failure is also reported to the service (audit row,
// smsd status, journal).
func writeBackup(ctx context.Context, env *cmdEnv, cfg config.Config, place string, force bool, confBytes []byte, now time.Time) (written, error) {
	var w written
	name := "smsd-" + now.Format("20060102-150405")
	w.dir = filepath.Join(place, name)
	var conn *daemon.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	// fail reports a failure to the service (once connected) or, failing
	// that, straight into the data directory's state file.
	fail := func(err error) (written, error) {
		reported := false
		if conn == nil {
			conn, _ = daemon.ConnectForBackup(ctx, cfg, daemon.Shell())
		}
		if conn != nil {
			if b, ok := conn.Ops.(backupOps); ok {
				// The service answers a reported failure with it, as an
				// *ops.Error, once it has recorded it.
				_, rerr := b.Backup(ctx, ops.BackupRequest{Dir: w.dir, Failure: err.Error()}, nil)
				reported = ops.CodeOf(rerr) != ""
			}
		}
		if !reported {
			daemon.RecordBackup(cfg, w.dir, err, time.Now())
		}
		return w, err
	}
	if place == "" {
		return fail(errors.New("no place for the backup: set backup_dir in the configuration (a mounted USB stick or share), or give -out DIR"))
	}
	dfi, err := os.Stat(place)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fail(fmt.Errorf("the backup place %s does not exist (is the USB stick plugged in and mounted? see the README, Backup and restore); nothing was written", place))
		}
		return fail(fmt.Errorf("the backup place %s: %w", place, err))
	}
	if !dfi.IsDir() {
		return fail(fmt.Errorf("the backup place %s is not a directory", place))
	}
	if same, err := sameFileSystem(place, cfg.DataDir); err != nil {
		return fail(err)
	} else if same && !force {
		return fail(fmt.Errorf("the backup place %s is on the same file system as the data directory %s: a lost, stolen or failed card would take the data and its backup together. Mount a USB stick or a share there (if it should be mounted, it is not), or give -force to write it there anyway", place, cfg.DataDir))
	}
	if _, err := os.Lstat(w.dir); err == nil {
		for i := 2; ; i++ {
			w.dir = filepath.Join(place, fmt.Sprintf("%s-%d", name, i))
			if _, err := os.Lstat(w.dir); err != nil {
				break
			}
		}
	}
	tmp, err := os.MkdirTemp(place, backupTmpPrefix+name+"-")
	if err != nil {
		return fail(fmt.Errorf("the backup place %s: %w (is it mounted read-only, or full?)", place, err))
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	dbOut, err := os.OpenFile(filepath.Join(tmp, queue.BackupDBFile), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail(fmt.Errorf("the backup place %s: %w", place, err))
	}
	defer dbOut.Close()
	conn, err = daemon.ConnectForBackup(ctx, cfg, daemon.Shell())
	if err != nil {
		return fail(err)
	}
	b, ok := conn.Ops.(backupOps)
	if !ok {
		return fail(errors.New("this smsd cannot make backups through its door"))
	}
	res, err := b.Backup(ctx, ops.BackupRequest{Dir: w.dir, Config: confBytes}, dbOut)
	if err != nil {
		return w, err // the service recorded it
	}
	w.res = res
	finish := func() error {
		if err := dbOut.Sync(); err != nil {
			return err
		}
		if err := dbOut.Close(); err != nil {
			return err
		}
		if confBytes != nil {
			if err := writeSynced(filepath.Join(tmp, queue.BackupConfigFile), confBytes); err != nil {
				return err
			}
		}
		if err := writeSynced(filepath.Join(tmp, queue.ManifestFile), res.Manifest); err != nil {
			return err
		}
		if err := writeSynced(filepath.Join(tmp, queue.ManifestSigFile), res.Signature); err != nil {
			return err
		}
		if err := syncPath(tmp); err != nil {
			return err
		}
		// Read back what reached the stick before calling it a backup.
		var k minisign.PublicKey
		if err := k.UnmarshalText([]byte(res.PublicKey)); err != nil {
			return err
		}
		if _, err := queue.VerifyBackup(tmp, []minisign.PublicKey{k}); err != nil {
			return fmt.Errorf("the backup read back from %s does not verify: %w", place, err)
		}
		if err := os.Rename(tmp, w.dir); err != nil {
			return err
		}
		return syncPath(place)
	}
	if err := finish(); err != nil {
		return fail(fmt.Errorf("write the backup into %s: %w", place, err))
	}
	done = true
	if _, err := b.Backup(ctx, ops.BackupRequest{Dir: w.dir, Done: true}, nil); err != nil {
		fmt.Fprintf(env.stderr, "warning: the backup is written, but smsd status could not be told: %v\n", err)
	}
	fmt.Fprintf(env.stdout, "backup written: %s (database %d bytes, audit head %s)\n", w.dir, res.Bytes, res.AuditHead)
	fmt.Fprintf(env.stdout, "signed by the audit key %s; check it with: smsd backup verify %s\n", res.PublicKey, w.dir)
	return w, nil
}

// writeSynced writes b to a new file at path (0600) and syncs it.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncPath syncs a directory, so that the names in it last.
func syncPath(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// sameFileSystem reports whether a and b are on one file system (device).
func sameFileSystem(a, b string) (bool, error) {
	var sa, sb syscall.Stat_t
	if err := syscall.Stat(a, &sa); err != nil {
		return false, fmt.Errorf("the backup place %s: %w", a, err)
	}
	if err := syscall.Stat(b, &sb); err != nil {
		return false, fmt.Errorf("data directory %s: %w", b, err)
	}
	return sa.Dev == sb.Dev, nil
}

// pruneBackups removes complete backups in place beyond the keep newest
// (keep 0: none), never current, and backups left half-written by a crash
// more than a day ago. It returns the names removed.
func pruneBackups(place, current string, keep int) ([]string, error) {
	entries, err := os.ReadDir(place)
	if err != nil {
		return nil, err
	}
	var names, removed []string
	var errs []error
	for _, e := range entries {
		switch {
		case !e.IsDir():
		case backupNameRe.MatchString(e.Name()):
			names = append(names, e.Name())
		case strings.HasPrefix(e.Name(), backupTmpPrefix):
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
				if err := os.RemoveAll(filepath.Join(place, e.Name())); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if keep <= 0 || len(names) <= keep {
		return nil, errors.Join(errs...)
	}
	sort.Strings(names) // the names sort by time
	for _, n := range names[:len(names)-keep] {
		if n == current {
			continue
		}
		if err := os.RemoveAll(filepath.Join(place, n)); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, n)
	}
	return removed, errors.Join(errs...)
}

func runBackupVerify(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "backup verify", "smsd backup verify [-pubkey KEY|FILE] DIR   check a backup's signature, and every file's size and SHA-256, without the key")
	cf := addCommonFlags(fs, env)
	pubkey := fs.String("pubkey", "", "the audit public key (RW...) or a minisign .pub file the backup must be signed by; default: the keys of this box's store, if it has one, else the key the manifest names")
	words, err := parseWords(fs, args)
	if err != nil {
		return err
	}
	if len(words) != 1 {
		return usageError("give one backup directory (DIR/smsd-YYYYMMDD-HHMMSS)")
	}
	dir := words[0]
	var keys []minisign.PublicKey
	from := ""
	switch {
	case *pubkey != "":
		if keys, err = auditKeys(ctx, env, cf, *pubkey); err != nil {
			return err
		}
		from = "the key given with -pubkey"
	default:
		if cfg, lerr := cf.load(); lerr == nil {
			if _, serr := os.Stat(cfg.DBPath()); serr == nil {
				if keys, err = storeAuditKeys(ctx, cfg); err != nil {
					return fmt.Errorf("%w (or give the key with -pubkey)", err)
				}
				from = "one of this box's audit keys (" + cfg.DataDir + ")"
			}
		}
	}
	v, err := queue.VerifyBackup(dir, keys)
	if err != nil {
		return fmt.Errorf("%s does NOT verify: %w", dir, err)
	}
	return printVerified(env.stdout, dir, v, from)
}

// storeAuditKeys are the audit public keys of cfg's store, through the
// daemon or on the store directly. As root it keeps its rights (see
// daemon.ConnectForBackup): the backup it checks next may be root's alone.
func storeAuditKeys(ctx context.Context, cfg config.Config) ([]minisign.PublicKey, error) {
	conn, err := daemon.ConnectForBackup(ctx, cfg, daemon.Shell())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	texts, err := conn.AuditPublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	return parseAuditKeys(texts)
}

// printVerified says what a verification checked.
func printVerified(w io.Writer, dir string, v queue.Verified, from string) error {
	m := v.Manifest
	fmt.Fprintf(w, "%s verifies:\n", dir)
	if v.SelfSigned {
		fmt.Fprintf(w, "  signature: good, by the key the manifest names, %s; the files belong together, but who made them is not checked: compare the key with smsd audit pubkey -all of the box, or give -pubkey\n", v.Key)
	} else {
		fmt.Fprintf(w, "  signature: good, by %s, %s\n", v.Key, from)
	}
	for _, f := range m.Files {
		fmt.Fprintf(w, "  %s: %d bytes, SHA-256 matches\n", f.Name, f.Size)
	}
	fmt.Fprintf(w, "  made %s on %s by smsd %s; schema %d, data key generation %d, audit head %s\n",
		m.CreatedAt.UTC().Format(time.RFC3339), m.Host, m.SmsdVersion, m.SchemaVersion, m.DataKeyGeneration, m.AuditHead)
	keys := make([]string, 0, len(m.Counts))
	for k := range m.Counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m.Counts[k]))
	}
	fmt.Fprintf(w, "  rows: %s\n", strings.Join(parts, ", "))
	return nil
}

// printBackupStatus is smsd status's backup line: the last backup, or its
// failure, loudly. Nothing when backups were never set up nor made (the
// JSON says configured: false).
func printBackupStatus(w io.Writer, b ops.BackupStatus) {
	when := func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }
	switch {
	case b.LastAt.IsZero() && !b.Configured:
	case b.LastAt.IsZero():
		fmt.Fprintf(w, "backup:  none made yet into %s (the nightly smsd-backup.timer makes one; or run smsd backup now)\n", safe(b.Place))
	case b.OK:
		fmt.Fprintf(w, "backup:  last %s, good: %s\n", when(b.LastAt), safe(b.LastDir))
	default:
		last := "never"
		if !b.LastOKAt.IsZero() {
			last = when(b.LastOKAt) + " (" + safe(b.LastDir) + ")"
		}
		fmt.Fprintf(w, "BACKUP:  THE LAST BACKUP FAILED at %s: %s; last good backup: %s (journalctl -u smsd-backup)\n", when(b.LastAt), safe(b.Error), last)
	}
}
