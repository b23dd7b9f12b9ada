package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/crypt"
)

// Options tune a Store. The zero value is usable.
type Options struct {
	// DefaultRegion is the ISO 3166 region for numbers written without a
	// country code ("US", "GB"). Default "US".
	DefaultRegion string
	// MaxAttempts caps send attempts (claims) per message before MarkRetry
	// gives up and marks it failed. Default 5.
	MaxAttempts int
	// Backoff gives the wait before attempt n+1 after n attempts. Default
	// DefaultBackoff.
	Backoff func(attempt int) time.Duration
	// RetentionDays is how long sealed content of finished messages and of
	// inbound messages is kept (see Purge; the daemon calls it daily). 0 means
	// the caller decides; the store never purges on its own.
	RetentionDays int
	// Now is the clock; default time.Now. Tests set it.
	Now func() time.Time
	// Logger gets operational messages (never PHI). Default: discard.
	Logger *slog.Logger
	// BusyTimeout is how long a write waits for another process holding the
	// database. Default 10 s.
	BusyTimeout time.Duration
}

// DefaultBackoff is 30 s after the first attempt, doubling up to 30 minutes.
func DefaultBackoff(attempt int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempt && d < 30*time.Minute; i++ {
		d *= 2
	}
	return min(d, 30*time.Minute)
}

func (o *Options) defaults() {
	if o.DefaultRegion == "" {
		o.DefaultRegion = "US"
	}
	o.DefaultRegion = strings.ToUpper(o.DefaultRegion)
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 10 * time.Second
	}
}

// Errors a caller may need to tell apart (errors.Is).
var (
	// ErrOptedOut: the recipient texted STOP; the message is refused.
	ErrOptedOut = errors.New("the recipient has opted out (replied STOP); no message can be sent to this number until they text START")
	// ErrInvalidNumber: not a phone number that can receive SMS.
	ErrInvalidNumber = errors.New("invalid phone number")
	// ErrNotFound: no such message (or inbound message, user, setting).
	ErrNotFound = errors.New("not found")
	// ErrInvalidTransition: the message is not in a state that allows this.
	ErrInvalidTransition = errors.New("invalid state transition")
	// ErrWrongKey: the key does not open this database. Nothing was written.
	ErrWrongKey = crypt.ErrWrongKey
	// ErrTampered: a sealed value failed authentication; the error names the row.
	ErrTampered = crypt.ErrTampered
	// ErrNotInitialized: there is no database yet.
	ErrNotInitialized = errors.New("no smsd database: run `smsd init` first")
	// ErrExists: Init found a database already there and left it alone.
	ErrExists = errors.New("a database already exists; smsd init never overwrites one")
	// ErrIdempotencyConflict: an idempotency key was reused for a different message.
	ErrIdempotencyConflict = errors.New("idempotency key already used for a different message")
	// ErrReadOnly: the database file or its file system is read-only.
	ErrReadOnly = errors.New("the database is read-only")
	// ErrDiskFull: the disk (or the database's size limit) is full.
	ErrDiskFull = errors.New("the disk is full")
	// ErrTooNew: the database was written by a newer smsd.
	ErrTooNew = errors.New("the database was created by a newer version of smsd")
)

// Store is an open queue database. Its methods are safe for concurrent use.
type Store struct {
	path string
	w    *sql.DB // the one writer connection
	r    *sql.DB // readers
	opt  Options
	log  *slog.Logger

	keyMu   sync.RWMutex
	kek     crypt.KEK
	wrapped crypt.WrappedKey // current generation's wrapping (method, salt, params)
	sealers map[uint32]*crypt.Sealer
	cur     *crypt.Sealer
	// Key custody (keymove.go): how the store was opened (primary wrap,
	// the pending wrap of an interrupted key move, or the recovery code),
	// the plain data keys (to wrap them for a new source or a new
	// recovery code) and the key file it was opened with, if any.
	via     string
	rec     *crypt.RecoveryKey
	dks     map[uint32]crypt.DataKey
	keyFile string
	keyOpMu sync.Mutex // one key change at a time (move, rotation, recovery code)

	lockMu sync.Mutex
	lock   *os.File // the dispatcher lock, when held

	changed chan struct{}
	// upd wakes every listener of Updates (updates.go).
	upd updates
	// msgDigestErr is set when the messages digest failed at Open: Claim
	// then sends nothing (see integrity.go).
	msgDigestErr atomic.Pointer[error]
	dc           digestCache // the integrity digests as the last write left them
	closeMu      sync.Mutex
	closed       bool
}

func dsn(path string, params string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + params
}

func (o Options) writerDSN(path string) string {
	return dsn(path, fmt.Sprintf("_journal_mode=WAL&_synchronous=FULL&_secure_delete=on&_foreign_keys=on&_busy_timeout=%d&_txlock=immediate&_stmt_cache_size=64", o.BusyTimeout.Milliseconds()))
}

func (o Options) readerDSN(path string) string {
	return dsn(path, fmt.Sprintf("_synchronous=FULL&_foreign_keys=on&_busy_timeout=%d&_query_only=1&_stmt_cache_size=64", o.BusyTimeout.Milliseconds()))
}

// roDSN opens the file strictly read-only: used to check the key before
// anything is written. When the database was closed cleanly (no -wal, no
// -shm), it is opened immutable, so that not even an -shm index is
// created: a failed open leaves the directory exactly as it was.
func (o Options) roDSN(path string) string {
	_, werr := os.Stat(path + "-wal")
	_, serr := os.Stat(path + "-shm")
	if errors.Is(werr, os.ErrNotExist) && errors.Is(serr, os.ErrNotExist) {
		return dsn(path, "mode=ro&immutable=1")
	}
	return dsn(path, fmt.Sprintf("mode=ro&_busy_timeout=%d", o.BusyTimeout.Milliseconds()))
}

// Init creates a new database at path with a fresh data key wrapped by the
// KEK from keys (creating the key file if keys.KeyFile does not exist). It
// never overwrites: an existing database is ErrExists.
func Init(ctx context.Context, path string, keys KeySource, opt Options) error {
	return initVersion(ctx, path, keys, opt, SchemaVersion)
}

// initVersion is Init stopping at schema version v (tests build old databases).
func initVersion(ctx context.Context, path string, keys KeySource, opt Options, version int) error {
	opt.defaults()
	for _, p := range []string{path, path + "-wal", path + "-journal"} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("init %s: %w (to start again, stop smsd and move the old files away)", path, ErrExists)
		}
	}
	kek, method, salt, params, err := keys.create()
	if err != nil {
		return fmt.Errorf("init %s: %w", path, err)
	}
	dk, err := crypt.NewDataKey()
	if err != nil {
		return err
	}
	w, err := crypt.Wrap(dk, kek, method, salt, params)
	if err != nil {
		return err
	}
	blob, err := w.MarshalBinary()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("init: create data directory: %w", err)
	}
	// Create the file ourselves, exclusively and 0600, so that a racing init
	// cannot overwrite and the DB is never world-readable.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("init %s: %w", path, ErrExists)
		}
		return fmt.Errorf("init %s: %w", path, err)
	}
	f.Close()
	// A failed init removes what it made, so that the next `smsd init`
	// starts clean instead of finding a half-made database.
	cleanup := func(err error) error {
		for _, suf := range []string{"", "-wal", "-shm", "-journal"} {
			os.Remove(path + suf)
		}
		return classify(fmt.Errorf("init %s: %w", path, err))
	}
	db, err := sql.Open("sqlite3", opt.writerDSN(path))
	if err != nil {
		return cleanup(err)
	}
	db.SetMaxOpenConns(1)
	err = migrate(ctx, db, version)
	if err == nil {
		err = inTx(ctx, db, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO data_keys (gen, wrapped, created_at) VALUES (1, ?, ?)", blob, opt.Now().UnixMilli())
			return err
		})
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return cleanup(err)
	}
	opt.Logger.Info("created queue database", "path", path, "key", method, "schema", version)
	return nil
}

// Open opens the database at path. It first checks, read-only, that the
// schema is one it knows and that keys unwraps the data key (ErrWrongKey,
// ErrLocked: nothing written), then runs PRAGMA integrity_check, migrates
// forward, and takes the dispatcher lock (<path>.lock) if no other process
// holds it; the holder turns every message left in `sending` into
// `uncertain` (the previous process died mid-send; staff decide to resend
// or dismiss). Several processes may open one store; only the lock holder
// claims.
func Open(ctx context.Context, path string, keys KeySource, opt Options) (*Store, error) {
	opt.defaults()
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("open queue %s: %w", path, ErrNotInitialized)
		}
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	s := &Store{path: path, opt: opt, log: opt.Logger, changed: make(chan struct{}, 1), sealers: map[uint32]*crypt.Sealer{}}
	if err := s.unlock(ctx, keys); err != nil {
		return nil, err
	}
	// The database, its -wal and -shm must be writable. access(2) reports a
	// read-only file system (EROFS) even to root, which SQLite would only
	// report as "unable to open database file".
	for _, p := range []string{path, filepath.Dir(path)} {
		if err := unix.Access(p, unix.W_OK); err != nil {
			return nil, fmt.Errorf("open queue %s: %w: %s: %v (check the file's owner, mode and attributes (ls -l, lsattr), and that the file system is mounted read-write; nothing was changed)", path, ErrReadOnly, p, err)
		}
	}
	w, err := sql.Open("sqlite3", opt.writerDSN(path))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	s.w = w
	fail := func(err error) (*Store, error) {
		w.Close()
		if s.r != nil {
			s.r.Close()
		}
		if s.lock != nil {
			s.lock.Close()
		}
		return nil, classify(fmt.Errorf("open queue %s: %w", path, err))
	}
	// A write transaction at once: a read-only file or file system shows here,
	// before anything else, with a clear error.
	if err := inTx(ctx, w, func(tx *sql.Tx) error { return nil }); err != nil {
		return fail(err)
	}
	if err := s.integrityCheck(ctx); err != nil {
		return fail(err)
	}
	if err := s.reloadKeys(ctx); err != nil {
		return fail(err)
	}
	if err := migrate(ctx, w, SchemaVersion); err != nil {
		return fail(err)
	}
	// A key move interrupted by a crash is finished (opened by its new
	// source) or undone (opened by the old one); a recovery code's use is
	// recorded.
	if err := s.settleKeys(ctx); err != nil {
		return fail(err)
	}
	if err := s.tagExisting(ctx); err != nil {
		return fail(err)
	}
	// A message row put back from an older copy passes its own tag; only
	// the table's digest shows it. Checked once here (the attack needs the
	// file while smsd is stopped); until it is resolved nothing is sent.
	if err := s.verifyDigest(ctx, w, "messages"); err != nil {
		if !errors.Is(err, ErrIntegrity) {
			return fail(err)
		}
		s.log.Error("the messages table failed its integrity check: nothing will be sent until an admin runs smsd doctor", "err", err)
		s.msgDigestErr.Store(&err)
	}
	if err := s.becomePrimary(ctx); err != nil {
		return fail(err)
	}
	r, err := sql.Open("sqlite3", opt.readerDSN(path))
	if err != nil {
		return fail(err)
	}
	r.SetMaxOpenConns(4)
	s.r = r
	return s, nil
}

// KeyMethod reports how the database at path expects its key-encryption
// key: crypt.MethodKeyFile, MethodPassphrase (locked mode: wait for `smsd
// key unlock`) or MethodCredential. It reads without writing anything.
func KeyMethod(ctx context.Context, path string, opt Options) (string, error) {
	opt.defaults()
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("queue %s: %w", path, ErrNotInitialized)
		}
		return "", err
	}
	ro, err := sql.Open("sqlite3", opt.roDSN(path))
	if err != nil {
		return "", err
	}
	defer ro.Close()
	var blob []byte
	if err := ro.QueryRowContext(ctx, "SELECT wrapped FROM data_keys ORDER BY gen DESC LIMIT 1").Scan(&blob); err != nil {
		return "", fmt.Errorf("queue %s: read data key: %w (is it an smsd database? run `smsd init`)", path, err)
	}
	var w crypt.WrappedKey
	if err := w.UnmarshalBinary(blob); err != nil {
		return "", fmt.Errorf("queue %s: %w", path, err)
	}
	return w.Method, nil
}

// unlock reads the wrapped data keys read-only, derives the KEK from keys
// and unwraps them, and runs the integrity check. It writes nothing.
func (s *Store) unlock(ctx context.Context, keys KeySource) error {
	ro, err := sql.Open("sqlite3", s.opt.roDSN(s.path))
	if err != nil {
		return err
	}
	defer ro.Close()
	var v int
	if err := ro.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return classify(fmt.Errorf("open queue %s: not a readable SQLite database (%w)", s.path, err))
	}
	if v > SchemaVersion {
		return fmt.Errorf("open queue %s: schema version %d, this smsd knows up to %d: %w; install the newer smsd again", s.path, v, SchemaVersion, ErrTooNew)
	}
	if v == 0 {
		return fmt.Errorf("open queue %s: %w (the file exists but has no smsd schema)", s.path, ErrNotInitialized)
	}
	wraps, err := readWraps(ctx, ro)
	if err != nil {
		return fmt.Errorf("open queue %s: %w", s.path, err)
	}
	if len(wraps) == 0 {
		return fmt.Errorf("open queue %s: %w (no data key stored)", s.path, ErrNotInitialized)
	}
	kr, dks, err := chooseKeyring(wraps, keys)
	if err != nil {
		if errors.Is(err, crypt.ErrWrongKey) {
			return fmt.Errorf("open queue %s: %w (check the key file, passphrase, credential or recovery code; the database was not changed)", s.path, err)
		}
		return fmt.Errorf("open queue %s: %w", s.path, err)
	}
	s.setKeys(kr, wraps, dks)
	if kr.via != viaRecovery {
		s.keyFile = keys.KeyFile
	}
	return nil
}

// reloadKeys reads the wrapped data keys again through the writer and
// unwraps them with the KEK found by unlock: the immutable read in unlock
// sees only the main file, and a rotation may have committed since.
func (s *Store) reloadKeys(ctx context.Context) error {
	wraps, err := readWraps(ctx, s.w)
	if err != nil {
		return err
	}
	if len(wraps) == 0 {
		return ErrNotInitialized
	}
	s.keyMu.RLock()
	kr := keyring{via: s.via, kek: s.kek, rec: s.rec}
	s.keyMu.RUnlock()
	dks, err := kr.unwrapAll(wraps)
	if err != nil {
		return err
	}
	s.setKeys(kr, wraps, dks)
	return nil
}

func (s *Store) integrityCheck(ctx context.Context) error {
	// At most 3 problems: enough to say what is wrong, short enough for a log.
	rows, err := s.w.QueryContext(ctx, "PRAGMA integrity_check(3)")
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			rows.Close()
			return fmt.Errorf("integrity check: %w", err)
		}
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res := strings.Join(lines, "; "); res != "ok" {
		return fmt.Errorf("integrity check failed (%s): restore the database from a backup, or try `sqlite3 smsd.db .recover`", res)
	}
	return nil
}

// ErrBusy means another process owns this queue for dispatching (holds
// <db>.lock): this Store may read and enqueue but not claim.
var ErrBusy = errors.New("another smsd process is dispatching from this queue (it holds the queue's lock file); stop it first, or send through it")

// becomePrimary tries to take the queue's dispatcher lock (<db>.lock,
// flock LOCK_EX, non-blocking). The process holding it is the only one that
// claims messages, so a message left `sending` while nobody holds the lock
// was orphaned by a process that died (the kernel drops the lock with it):
// the new holder turns those into `uncertain`. A second process opening the
// store while the daemon runs (`smsd user add`) does not get the lock and
// leaves the daemon's sends alone.
func (s *Store) becomePrimary(ctx context.Context) error {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.lock != nil {
		return nil
	}
	f, err := os.OpenFile(s.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return classify(fmt.Errorf("open lock file: %w", err))
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			s.log.Info("another process is dispatching from this queue; this one will not claim messages while it runs")
			return nil
		}
		return fmt.Errorf("lock %s.lock: %w", s.path, err)
	}
	var n int64
	if err := s.tx(ctx, func(tx *sql.Tx) error {
		ids, err := idsWhere(ctx, tx, "SELECT id FROM messages WHERE state = 'sending'")
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.verifyRow(ctx, tx, "messages", id); err != nil {
				if !errors.Is(err, ErrIntegrity) {
					return err
				}
				if err := s.quarantine(ctx, tx, id, err); err != nil {
					return err
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET state = 'uncertain', updated_at = ?,
				last_error = 'interrupted: smsd stopped while sending' WHERE id = ?`, ms(s.now()), id); err != nil {
				return err
			}
			if err := s.retag(ctx, tx, "messages", id); err != nil {
				return err
			}
			n++
		}
		return nil
	}); err != nil {
		f.Close()
		return fmt.Errorf("mark interrupted sends uncertain: %w", err)
	}
	if n > 0 {
		s.log.Warn("messages were being sent when smsd stopped; they are now uncertain and need a staff decision (resend or dismiss)", "count", n)
	}
	s.lock = f
	return nil
}

// Primary reports whether this Store holds the dispatcher lock (see Claim).
func (s *Store) Primary() bool {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	return s.lock != nil
}

// Close closes the database. The last close checkpoints the WAL into the
// main file.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err1 := s.r.Close()
	err2 := s.w.Close()
	s.lockMu.Lock()
	if s.lock != nil {
		s.lock.Close() // releases the flock
		s.lock = nil
	}
	s.lockMu.Unlock()
	return errors.Join(err1, err2)
}

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

// Changed is signalled (non-blocking, capacity 1) whenever a message becomes
// due sooner: enqueue, release, retry, resend. The dispatcher selects on it
// together with a timer for NextDue.
func (s *Store) Changed() <-chan struct{} { return s.changed }

func (s *Store) notify() {
	// Whatever makes a message due sooner is also news to the pages.
	s.updated()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *Store) now() time.Time { return s.opt.Now() }

// inTx runs fn in one transaction (BEGIN IMMEDIATE on the writer DSN).
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// tx runs fn in one write transaction. When ctx carries an audit record
// (audit.NewContext), its row is appended last in the same transaction, so
// the action and its row commit together or not at all.
//
// The integrity digests tx changes are kept in memory while it runs and
// written once, at its end (integrity.go: the digest cache).
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	rec := audit.FromContext(ctx)
	s.dc.txMu.Lock()
	defer s.dc.txMu.Unlock()
	var (
		cur *sql.Tx
		td  *txDigests
	)
	err := classify(inTx(ctx, s.w, func(tx *sql.Tx) error {
		cur, td = tx, s.beginDigests(tx)
		if err := fn(tx); err != nil {
			return err
		}
		if rec != nil {
			if err := rec.AppendIn(ctx, tx, s.now()); err != nil {
				return err
			}
		}
		return s.flushDigests(ctx, tx, td)
	}))
	if cur != nil {
		s.endDigests(cur, td, err == nil)
	}
	if rec != nil {
		if err != nil {
			rec.RolledBack()
		} else {
			rec.Committed()
		}
	}
	return err
}

// classify turns SQLite's read-only and full errors into ErrReadOnly and
// ErrDiskFull with advice, keeping the original in the chain.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.SystemErrno {
		case unix.ENOSPC, unix.EDQUOT:
			return fmt.Errorf("%w: %w (free space in the data directory; the change was rolled back)", ErrDiskFull, err)
		case unix.EROFS:
			return fmt.Errorf("%w: %w (the file system is mounted read-only; nothing was changed)", ErrReadOnly, err)
		}
		switch se.Code {
		case sqlite3.ErrReadonly:
			return fmt.Errorf("%w: %w (check the file's owner, mode and attributes (ls -l, lsattr), and that the file system is mounted read-write; nothing was changed)", ErrReadOnly, err)
		case sqlite3.ErrFull:
			return fmt.Errorf("%w: %w (free space in the data directory; the change was rolled back)", ErrDiskFull, err)
		case sqlite3.ErrCantOpen, sqlite3.ErrPerm:
			return fmt.Errorf("%w (check the permissions of the data directory)", err)
		}
	}
	return err
}

// sealer picks the Sealer for a sealed value's key generation.
func (s *Store) sealerFor(sealed []byte) (*crypt.Sealer, bool) {
	s.keyMu.RLock()
	defer s.keyMu.RUnlock()
	sl, ok := s.sealers[crypt.Generation(sealed)]
	return sl, ok
}

func (s *Store) current() *crypt.Sealer {
	s.keyMu.RLock()
	defer s.keyMu.RUnlock()
	return s.cur
}

// seal seals v for table.column of row id under the current data key.
func (s *Store) seal(v []byte, table, column string, id int64) []byte {
	return sealWith(s.current(), v, table, column, id)
}

// paddedColumns are the sealed cells whose length would tell something
// about a patient (a STOP from a reminder, one template from another, a
// number's country): they are sealed padded (crypt.SealPadded).
var paddedColumns = map[string]bool{
	"messages.to_sealed": true, "messages.text_sealed": true,
	"inbound.from_sealed": true, "inbound.text_sealed": true, "inbound.raw_sealed": true, "inbound.decode_error_sealed": true,
	"optouts.number_sealed": true, "templates.body_sealed": true, "users.name_sealed": true,
}

// sealWith seals v for table.column of row id with sl, padded when the
// column is one of paddedColumns. Values sealed unpadded before still open.
func sealWith(sl *crypt.Sealer, v []byte, table, column string, id int64) []byte {
	ad := crypt.AD{Table: table, Column: column, RowID: id}
	if paddedColumns[table+"."+column] {
		return sl.SealPadded(v, ad)
	}
	return sl.Seal(v, ad)
}

// open opens a sealed value; a NULL (purged) value opens to "" with ok=false.
// Failures name the table, column and row, never the content.
func (s *Store) open(sealed []byte, table, column string, id int64) (string, error) {
	if sealed == nil {
		return "", nil
	}
	sl, ok := s.sealerFor(sealed)
	if !ok {
		return "", fmt.Errorf("%s %d: %s: %w (unknown key generation %d)", table, id, column, ErrTampered, crypt.Generation(sealed))
	}
	pt, err := sl.Open(sealed, crypt.AD{Table: table, Column: column, RowID: id})
	if err != nil {
		return "", fmt.Errorf("%s %d: %s: %w", table, id, column, err)
	}
	return string(pt), nil
}

// indexes returns the blind index of an E.164 number under every loaded
// data key generation (more than one only during a data-key rotation).
func (s *Store) indexes(e164 string) [][]byte {
	s.keyMu.RLock()
	defer s.keyMu.RUnlock()
	out := [][]byte{s.cur.BlindIndex(e164)}
	for g, sl := range s.sealers {
		if g != s.cur.Gen() {
			out = append(out, sl.BlindIndex(e164))
		}
	}
	return out
}

func (s *Store) idemIndexes(key string) [][]byte {
	s.keyMu.RLock()
	defer s.keyMu.RUnlock()
	out := [][]byte{s.cur.IdempotencyIndex(key)}
	for g, sl := range s.sealers {
		if g != s.cur.Gen() {
			out = append(out, sl.IdempotencyIndex(key))
		}
	}
	return out
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v)
}
