package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/control"
	"github.com/clinicsms/smsd/internal/version"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// Backup writes a consistent snapshot of the store into dbOut (SQLite's
// online backup: sends and inbound go on meanwhile) and returns the signed
// manifest of the backup: the snapshot's size and hash, and the hash of
// r.Config, which the command line writes beside it. Admins only. The
// snapshot is audited (action backup, with the actor), a failure also kept
// for smsd status. A request with r.Failure only records that failure; one
// with r.Done records the backup complete (smsd status: good).
func (s *Service) Backup(ctx context.Context, a ops.Actor, r ops.BackupRequest, dbOut io.Writer) (_ ops.BackupResult, err error) {
	if r.Done {
		// The snapshot's own audit row stands for the backup; this only
		// tells smsd status that it is complete.
		if err := requireAdmin(a, "make a backup"); err != nil {
			return ops.BackupResult{}, err
		}
		s.recordBackup(r.Dir, nil)
		s.log.Info("backup written", "dir", r.Dir, "actor", a.String())
		return ops.BackupResult{}, nil
	}
	ctx, rec := begin(ctx, a, audit.BackupMade, "backup", filepath.Base(r.Dir))
	defer func() {
		if err != nil {
			s.log.Error("backup failed", "dir", r.Dir, "err", err, "actor", a.String())
			s.recordBackup(r.Dir, err)
		}
		err = s.finish(ctx, rec, err)
	}()
	if err := requireAdmin(a, "make a backup"); err != nil {
		return ops.BackupResult{}, err
	}
	if r.Failure != "" {
		rec.AddDetail(r.Failure)
		return ops.BackupResult{}, ops.Errorf(ops.CodeInternal, r.Failure)
	}
	st, err := s.ready(ctx)
	if err != nil {
		return ops.BackupResult{}, err
	}
	info, err := st.Snapshot(ctx, dbOut)
	if err != nil {
		return ops.BackupResult{}, err
	}
	host, _ := os.Hostname()
	m := queue.Manifest{
		CreatedAt:         s.now().UTC().Truncate(time.Second),
		Host:              host,
		SmsdVersion:       version.Version,
		SchemaVersion:     info.SchemaVersion,
		DataKeyGeneration: info.DataKeyGeneration,
		AuditHead:         info.AuditHead.String(),
		Counts:            info.Counts,
		Files:             []queue.BackupFile{info.File},
	}
	if r.Config != nil {
		m.Files = append(m.Files, queue.FileOf(queue.BackupConfigFile, r.Config))
	}
	mb, sig, err := st.SignManifest(ctx, &m)
	if err != nil {
		return ops.BackupResult{}, err
	}
	rec.AddDetail(fmt.Sprintf("bytes=%d audit_head=%s messages=%d", info.File.Size, m.AuditHead, info.Counts["messages"]))
	s.log.Info("backup snapshot made", "dir", r.Dir, "bytes", info.File.Size, "audit_head", m.AuditHead, "actor", a.String())
	return ops.BackupResult{Manifest: mb, Signature: sig, CreatedAt: m.CreatedAt, Bytes: info.File.Size, AuditHead: m.AuditHead, PublicKey: m.PublicKey}, nil
}

// Backup makes a snapshot (Service.Backup).
func (x As) Backup(ctx context.Context, r ops.BackupRequest, dbOut *os.File) (ops.BackupResult, error) {
	var w io.Writer
	if dbOut != nil {
		w = dbOut
	}
	return x.s.Backup(ctx, x.a, r, w)
}

// backupStateFile, in the data directory, keeps the last backup's outcome
// for smsd status (and the web's status page): times, a path and an error
// message, no PHI. A file rather than a row, so that a backup that failed
// because the store could not be opened is still reported.
const backupStateFile = "backup-state.json"

type backupState struct {
	LastAt   time.Time `json:"last_at"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	LastDir  string    `json:"last_dir,omitempty"`
	LastOKAt time.Time `json:"last_ok_at,omitzero"`
}

// recordBackup keeps a backup's outcome in the data directory. A failure
// to keep it is logged; the backup's own outcome stands.
func (s *Service) recordBackup(dir string, err error) {
	if err := RecordBackup(s.cfg, dir, err, s.now()); err != nil {
		s.log.Warn("could not record the backup's outcome for smsd status", "err", err)
	}
}

// RecordBackup keeps the outcome of a backup to dir (err nil: it was
// written) in cfg's data directory for BackupState.
func RecordBackup(cfg config.Config, dir string, err error, now time.Time) error {
	path := filepath.Join(cfg.DataDir, backupStateFile)
	var st backupState
	if b, rerr := os.ReadFile(path); rerr == nil {
		json.Unmarshal(b, &st) // a damaged state file is replaced
	}
	st.LastAt, st.OK, st.Error = now.UTC(), err == nil, ""
	if err != nil {
		st.Error = err.Error()
	} else {
		st.LastDir, st.LastOKAt = dir, now.UTC()
	}
	b, merr := json.Marshal(st)
	if merr != nil {
		return merr
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	giveToDataDirOwner(cfg.DataDir, tmp)
	return os.Rename(tmp, path)
}

// BackupState is the last backup's outcome as smsd status shows it.
func BackupState(cfg config.Config) ops.BackupStatus {
	bs := ops.BackupStatus{Configured: cfg.BackupDir != "", Place: cfg.BackupDir}
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, backupStateFile))
	if err != nil {
		return bs
	}
	var st backupState
	if json.Unmarshal(b, &st) != nil {
		bs.Error = backupStateFile + " is damaged; the next backup replaces it"
		return bs
	}
	bs.LastAt, bs.OK, bs.Error, bs.LastDir, bs.LastOKAt = st.LastAt, st.OK, st.Error, st.LastDir, st.LastOKAt
	return bs
}

// giveToDataDirOwner gives a file that root made in the data directory to
// the directory's owner, so that the daemon's user can still read and
// replace it. Nothing happens unless this process is root.
func giveToDataDirOwner(dataDir, path string) {
	if os.Geteuid() != 0 {
		return
	}
	fi, err := os.Stat(dataDir)
	if err != nil {
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 {
		os.Lchown(path, int(st.Uid), int(st.Gid))
	}
}

// ConnectForBackup is Connect for smsd backup: when no daemon runs and
// this process is root (the nightly unit), the store is opened as root
// rather than as the data directory's owner, because the backup's place
// (a stick mounted for root) must stay writable to finish the backup; the
// files the store makes meanwhile in the data directory are given back to
// its owner on Close.
func ConnectForBackup(ctx context.Context, cfg config.Config, actor ops.Actor) (*Conn, error) {
	if os.Geteuid() != 0 {
		return Connect(ctx, cfg, actor)
	}
	if _, err := os.Stat(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("data directory %s: %w (run smsd init, or give -data-dir)", cfg.DataDir, err)
	}
	client := control.NewClient(cfg.SocketPath())
	if _, err := client.Ping(ctx); !errors.Is(err, control.ErrNotRunning) {
		if err != nil {
			return nil, err
		}
		return &Conn{Ops: client}, nil
	}
	lock, held, err := LockFile(cfg.LockPath())
	if err != nil {
		return nil, err
	}
	if held {
		// A daemon is starting or stopping: the usual way waits for it.
		return Connect(ctx, cfg, actor)
	}
	giveBack := func() {
		for _, n := range []string{filepath.Base(cfg.LockPath()), "smsd.db-wal", "smsd.db-shm", "smsd.db.lock", backupStateFile} {
			p := filepath.Join(cfg.DataDir, n)
			if fi, err := os.Lstat(p); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == 0 {
					giveToDataDirOwner(cfg.DataDir, p)
				}
			}
		}
	}
	st, err := queue.Open(ctx, cfg.DBPath(), KeySource(&cfg, nil), StoreOptions(&cfg, nil))
	if err != nil {
		giveBack()
		lock.Close()
		if errors.Is(err, queue.ErrLocked) {
			return nil, errors.New("the store is protected by a passphrase and smsd serve is not running: start it (systemctl start smsd) and unlock it with smsd key unlock, then back up")
		}
		return nil, err
	}
	s := &Service{cfg: cfg, log: slog.New(slog.DiscardHandler), started: time.Now(), now: time.Now, store: st,
		unlocked: make(chan struct{}), release: func() { giveBack(); lock.Close() }}
	close(s.unlocked)
	return &Conn{Ops: s.As(actor), Direct: true, svc: s}, nil
}
