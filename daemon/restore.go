package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"aead.dev/minisign"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/crypt"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// RestoreRequest is what smsd restore needs: the backup's directory, the
// recovery code, and how to check the backup's signature.
type RestoreRequest struct {
	// Dir is the backup (the smsd-YYYYMMDD-HHMMSS directory).
	Dir string
	// Recovery is the recovery code printed at smsd init (or by smsd key
	// recovery): the only key restore needs.
	Recovery []byte
	// Passphrase is the new passphrase when the configuration's key_source
	// is passphrase; unused otherwise.
	Passphrase []byte
	// Keys, if any, are the trusted audit public keys the manifest must be
	// signed by. Without them the manifest's own key is checked, and after
	// the database opens, that key must be one of the restored store's own
	// audit keys (so a manifest signed by anyone else is still refused).
	Keys []minisign.PublicKey
	// Actor is who restores (the audit rows name them).
	Actor ops.Actor
}

// RestoreResult is what a restore did.
type RestoreResult struct {
	Verified queue.Verified
	// RecoveryCode is the new recovery code: print it once.
	RecoveryCode string
	// KeySource is the kind of key the restored store now opens with
	// (file, credential, passphrase) and KeyFile its key file, if any.
	KeySource string
	KeyFile   string
	// Uncertain counts messages that were being sent when the backup was
	// taken: they are uncertain now, never sent again on their own.
	Uncertain int
}

// ErrNotEmpty: the target data directory of a restore holds something.
var ErrNotEmpty = errors.New("the data directory is not empty")

// Restore puts the backup r.Dir into cfg.DataDir, which must be empty (or
// not exist yet), and opens it with the recovery code: first it verifies
// the backup (signature, every file's size and hash) and checks, read-only,
// that the code opens the backup's database, so that a bad backup or a
// wrong code leaves the data directory exactly as it was. Then it copies
// the database in, opens it (messages that were being sent when the backup
// was taken become uncertain: never sent again on their own), gives the
// store a new key of the configured kind (a new key file by default), a
// new recovery code, and ends every web session the backup held. Each step
// is audited in the restored store. On a failure after the copy, what it
// put in the data directory is removed again.
func Restore(ctx context.Context, cfg config.Config, r RestoreRequest) (res RestoreResult, err error) {
	keys := queue.KeySource{Recovery: r.Recovery}
	if err := emptyOrMissing(cfg.DataDir); err != nil {
		return res, err
	}
	newKeys := KeySource(&cfg, r.Passphrase)
	if cfg.KeySource == config.KeyPassphrase {
		if len(r.Passphrase) == 0 {
			return res, errors.New("key_source is passphrase: give the new passphrase on the line after the recovery code")
		}
		// Refused before the backup is read and copied, not after.
		if err := crypt.CheckPassphrase(r.Passphrase); err != nil {
			return res, fmt.Errorf("the new passphrase: %w (nothing was changed in %s)", err, cfg.DataDir)
		}
	}
	if newKeys.KeyFile != "" {
		if _, err := os.Lstat(newKeys.KeyFile); err == nil {
			return res, fmt.Errorf("the key file %s exists: restore makes a new key and never reuses or overwrites one (move it away, or set key_file to a new path)", newKeys.KeyFile)
		}
	}
	v, err := queue.VerifyBackup(r.Dir, r.Keys)
	if err != nil {
		return res, err
	}
	res.Verified = v
	opt := StoreOptions(&cfg, nil)
	src := filepath.Join(r.Dir, queue.BackupDBFile)
	if err := queue.CheckKey(ctx, src, keys, opt); err != nil {
		if errors.Is(err, queue.ErrWrongKey) {
			return res, fmt.Errorf("the recovery code does not open this backup (check it, character by character; nothing was changed in %s)", cfg.DataDir)
		}
		return res, fmt.Errorf("%w (nothing was changed in %s)", err, cfg.DataDir)
	}

	// From here on, the data directory is written; undo on failure.
	made := false
	if _, err := os.Stat(cfg.DataDir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return res, fmt.Errorf("create the data directory %s: %w", cfg.DataDir, err)
		}
		made = true
	}
	var keyFileMade bool
	defer func() {
		if err == nil {
			return
		}
		names, _ := os.ReadDir(cfg.DataDir)
		for _, n := range names {
			os.RemoveAll(filepath.Join(cfg.DataDir, n.Name()))
		}
		if keyFileMade && newKeys.KeyFile != "" && !inDir(cfg.DataDir, newKeys.KeyFile) {
			os.Remove(newKeys.KeyFile)
		}
		if made {
			os.Remove(cfg.DataDir)
		}
	}()
	want, _ := v.Manifest.File(queue.BackupDBFile)
	if err := copyChecked(src, cfg.DBPath(), want); err != nil {
		return res, err
	}
	giveToDataDirOwner(cfg.DataDir, cfg.DBPath())
	// What follows creates files in the data directory (lock files, the
	// key file, -wal): as its owner, so that the daemon can open them.
	if err := actAsDataDirOwner(cfg.DataDir); err != nil {
		return res, err
	}
	lock, held, err := LockFile(cfg.LockPath())
	if err != nil {
		return res, err
	}
	if held {
		return res, errors.New("another smsd process holds the new data directory; stop it and restore again")
	}
	defer lock.Close()
	st, err := queue.Open(ctx, cfg.DBPath(), keys, opt)
	if err != nil {
		return res, fmt.Errorf("open the restored database: %w", err)
	}
	defer func() {
		if cerr := st.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	// The manifest's key must be the restored store's own audit key: only
	// the holder of its data key could have signed it.
	pubs, err := st.AuditPublicKeys(ctx)
	if err != nil {
		return res, err
	}
	if !slices.ContainsFunc(pubs, func(k minisign.PublicKey) bool { return k.String() == v.Manifest.PublicKey }) {
		return res, fmt.Errorf("%w: %s is signed by %s, which is not an audit key of the database it describes", queue.ErrBadBackup, queue.ManifestSigFile, v.Manifest.PublicKey)
	}
	if n, err := st.Counts(ctx); err == nil {
		res.Uncertain = n[queue.Uncertain]
	}
	a := r.Actor
	detail := fmt.Sprintf("from backup %s made %s on %s, audit_head=%s", filepath.Base(r.Dir), v.Manifest.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), v.Manifest.Host, v.Manifest.AuditHead)
	fail := func(step string, err error) error {
		e := event(a, audit.Restored, "store", filepath.Base(r.Dir))
		e.Outcome, e.Detail = audit.Failed, detail+"; "+step+" failed"
		st.Audit(context.WithoutCancel(ctx), e)
		return fmt.Errorf("restore: %s: %w", step, err)
	}
	// The key moves are audited in their own transactions, as this actor.
	kctx, _ := begin(ctx, a, audit.KeyRotate, "key", "kek")
	if err := st.MoveKey(kctx, newKeys); err != nil {
		return res, fail("new key", err)
	}
	keyFileMade = newKeys.KeyFile != ""
	cctx, _ := begin(ctx, a, audit.KeyRotate, "key", "recovery_code")
	code, err := st.NewRecoveryCode(cctx)
	if err != nil {
		return res, fail("new recovery code", err)
	}
	res.RecoveryCode, res.KeySource, res.KeyFile = code, cfg.KeySource, newKeys.KeyFile
	// Web sessions of the old box must not come back: end them all, in the
	// restore's own transaction (its audit row).
	rctx, rrec := begin(ctx, a, audit.Restored, "store", filepath.Base(r.Dir))
	rrec.AddDetail(detail + "; new " + cfg.KeySource + " key and recovery code; every web session ended")
	if _, err := st.ResetSessions(rctx); err != nil {
		return res, fail("end the web sessions", err)
	}
	return res, nil
}

// emptyOrMissing refuses a data directory that holds anything.
func emptyOrMissing(dir string) error {
	names, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("%w: %s holds %s and %d other file(s); restore writes only into an empty one (stop smsd and move its files away first; nothing was changed)", ErrNotEmpty, dir, names[0].Name(), len(names)-1)
	}
	return nil
}

// inDir reports whether path lies in dir.
func inDir(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !filepath.IsAbs(rel) && (len(rel) < 3 || rel[:3] != "../")
}

// copyChecked copies the backup's database to dst (0600, written aside and
// renamed, synced), checking the bytes copied against the manifest's entry
// as they go, so that a file changed since it was verified is not used.
func copyChecked(src, dst string, want queue.BackupFile) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".restore-tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore: copy the database: %w", err)
	}
	if n != want.Size || hex.EncodeToString(h.Sum(nil)) != want.SHA256 {
		os.Remove(tmp)
		return fmt.Errorf("%w: %s changed while it was restored", queue.ErrBadBackup, queue.BackupDBFile)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore: %w", err)
	}
	return syncDir(filepath.Dir(dst))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
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
