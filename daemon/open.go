package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/control"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// KeySource turns the configuration into the store's key source. A
// passphrase store opened without a passphrase gives queue.ErrLocked.
func KeySource(cfg *config.Config, passphrase []byte) queue.KeySource {
	switch cfg.KeySource {
	case config.KeyCredential:
		return queue.KeySource{Credential: cfg.KeyCredential}
	case config.KeyPassphrase:
		return queue.KeySource{Passphrase: passphrase}
	default:
		return queue.KeySource{KeyFile: cfg.KeyFilePath()}
	}
}

// StoreOptions are the store's options from the configuration.
func StoreOptions(cfg *config.Config, log *slog.Logger) queue.Options {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return queue.Options{DefaultRegion: cfg.DefaultRegion, MaxAttempts: cfg.MaxAttempts, RetentionDays: cfg.RetentionDays, Logger: log}
}

// LockFile takes the data directory's serve lock (flock, released by the
// kernel even on SIGKILL). held reports that another process has it.
func LockFile(path string) (f *os.File, held bool, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", path, explainOpen(path, err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, false, nil
}

// explainOpen adds to a failed open what a person can do about it: a
// missing data directory wants smsd init; a file of another user names its
// owner and the command that gives it back.
func explainOpen(path string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w (does the data directory exist? run smsd init)", err)
	case errors.Is(err, os.ErrPermission):
		owner := "another user"
		fi, serr := os.Stat(path)
		if serr != nil {
			return fmt.Errorf("%w (this user, %s, may not write the data directory: run the command as its owner, e.g. sudo -u smsd smsd ...)", err, control.Login(os.Geteuid()))
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			owner = control.Login(int(st.Uid))
		}
		return fmt.Errorf("%w (the file belongs to %s, and this command runs as %s: give it back with sudo chown %s: %s, or run as its owner with sudo -u %s)",
			err, owner, control.Login(os.Geteuid()), dataDirOwnerHint(path), path, dataDirOwnerHint(path))
	}
	return err
}

// dataDirOwnerHint names the owner of path's directory: who the files of a
// data directory should belong to.
func dataDirOwnerHint(path string) string {
	if fi, err := os.Stat(filepath.Dir(path)); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			return control.Login(int(st.Uid))
		}
	}
	return "smsd"
}

// actAsDataDirOwner makes a root process act as the data directory's owner
// before it touches the store, so that nothing run as root (the lock file,
// the database's -wal and -shm) ends up owned by root, where the daemon's
// user could no longer open it. A process that is not root, or a data
// directory root owns, is left as it is.
func actAsDataDirOwner(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	// Go applies these to every thread (Linux, Go 1.16+). Groups first:
	// once the uid is not 0 they can no longer be changed.
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("act as the owner of %s: %w", dir, err)
	}
	if err := syscall.Setgid(int(st.Gid)); err != nil {
		return fmt.Errorf("act as the owner of %s: %w", dir, err)
	}
	if err := syscall.Setuid(int(st.Uid)); err != nil {
		return fmt.Errorf("act as the owner of %s: %w", dir, err)
	}
	return nil
}

// OpenDirect opens the store of cfg for the command line when no daemon
// runs: it holds the serve lock (so a daemon starting meanwhile waits) and
// returns a Service with the same operations as a daemon's. ErrDaemonRuns
// when a daemon holds the lock. Close releases both.
func OpenDirect(ctx context.Context, cfg config.Config) (*Service, error) {
	if err := actAsDataDirOwner(cfg.DataDir); err != nil {
		return nil, err
	}
	lock, held, err := LockFile(cfg.LockPath())
	if err != nil {
		return nil, err
	}
	if held {
		return nil, ErrDaemonRuns
	}
	st, err := queue.Open(ctx, cfg.DBPath(), KeySource(&cfg, nil), StoreOptions(&cfg, nil))
	if err != nil {
		lock.Close()
		if errors.Is(err, queue.ErrLocked) {
			return nil, errors.New("the store is protected by a passphrase and smsd serve is not running: start it (systemctl start smsd) and unlock it with smsd key unlock")
		}
		return nil, err
	}
	s := &Service{cfg: cfg, log: slog.New(slog.DiscardHandler), started: time.Now(), now: time.Now, store: st,
		unlocked: make(chan struct{}), release: func() { lock.Close() }}
	close(s.unlocked)
	return s, nil
}

// ErrDaemonRuns: a daemon holds the data directory's lock.
var ErrDaemonRuns = errors.New("smsd serve holds the data directory")

// Ops is every operation a person can ask for, as one caller sees them:
// who asks is already decided. *control.Client is one (the daemon names the
// actor from the socket's peer credentials), As another (the command line
// on the store directly).
type Ops interface {
	Send(ctx context.Context, r ops.SendRequest) (ops.SendResult, error)
	Status(ctx context.Context) (ops.Status, error)
	Inbox(ctx context.Context, limit int) ([]ops.InboxItem, error)
	User(ctx context.Context, r ops.UserRequest) ([]ops.UserInfo, error)
	RotateDataKey(ctx context.Context) (ops.RotateResult, error)
	Messages(ctx context.Context, f ops.MessageFilter) ([]ops.Message, error)
	Message(ctx context.Context, id int64) (ops.Message, error)
	Act(ctx context.Context, r ops.MessageAction) (ops.Message, error)
	OptOuts(ctx context.Context, r ops.OptOutRequest) ([]ops.OptOut, error)
	AuditExport(ctx context.Context, from, to time.Time, csvOut, sigOut *os.File) (ops.AuditSummary, error)
	AuditCheck(ctx context.Context, heads []string) (ops.AuditCheck, error)
	AuditPublicKeys(ctx context.Context) ([]string, error)
	RotateAuditKey(ctx context.Context) (string, error)
	Doctor(ctx context.Context, r ops.DoctorRequest) (ops.DoctorReport, error)
	Appointments(ctx context.Context, f ops.AppointmentFilter) ([]ops.Appointment, error)
	Appointment(ctx context.Context, r ops.AppointmentRequest) (ops.Appointment, error)
	Templates(ctx context.Context, r ops.TemplateRequest) ([]ops.Template, error)
	Import(ctx context.Context, r ops.ImportRequest) (ops.ImportResult, error)
	Report(ctx context.Context, r ops.ReportRequest) (ops.Report, error)
}

// Conn is the command line's way to the appliance: the running daemon, or
// the store directly when none runs.
type Conn struct {
	Ops
	// Direct: no daemon ran; the store was opened here.
	Direct bool
	svc    *Service
}

// Close releases the store and lock of a direct connection.
func (c *Conn) Close() error {
	if c.svc != nil {
		return c.svc.Close()
	}
	return nil
}

// Connect reaches the appliance of cfg for the actor at this shell: the
// running daemon over its control socket, else the store directly (holding
// the serve lock). This order matters: opening the store turns `sending`
// into `uncertain`, which must never happen under a running daemon's feet.
func Connect(ctx context.Context, cfg config.Config, actor ops.Actor) (*Conn, error) {
	if _, err := os.Stat(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("data directory %s: %w (run smsd init, or give -data-dir)", cfg.DataDir, err)
	}
	client := control.NewClient(cfg.SocketPath())
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := client.Ping(ctx)
		if !errors.Is(err, control.ErrNotRunning) {
			if err != nil {
				return nil, err
			}
			return &Conn{Ops: client}, nil
		}
		s, err := OpenDirect(ctx, cfg)
		if errors.Is(err, ErrDaemonRuns) {
			// A daemon holds the lock but its socket is not up yet (it is
			// starting or stopping): wait for it.
			if time.Now().After(deadline) {
				return nil, errors.New("smsd serve holds the data directory but does not answer on its control socket (is it starting, stopping or stuck? see journalctl -u smsd)")
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return &Conn{Ops: s.As(actor), Direct: true, svc: s}, nil
	}
}

// Shell is the actor of a command run at this box's shell on the store
// directly: the Unix user running it. (Through the daemon, the daemon names
// the same actor from the socket's peer credentials.)
func Shell() ops.Actor { return control.UnixActor(os.Getuid(), os.Getpid()) }
