package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// RotateDataKey replaces the data key and seals every stored value again
// (admins only). It is resumable: an interrupted rotation is finished by
// the next call.
func (s *Service) RotateDataKey(ctx context.Context, a ops.Actor) (_ ops.RotateResult, err error) {
	ctx, rec := begin(ctx, a, audit.KeyRotate, "key", "data_key")
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := requireAdmin(a, "rotate the data key"); err != nil {
		return ops.RotateResult{}, err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return ops.RotateResult{}, err
	}
	r, err := st.RotateDataKey(ctx, 0)
	if err != nil {
		// The rotation resumes where it stopped (queue.Store.RotateDataKey).
		return ops.RotateResult{}, fmt.Errorf("%w (nothing is lost: run smsd key rotate again to finish)", err)
	}
	s.log.Info("data key rotated", "generation", r.Gen, "resealed", r.Resealed, "actor", a.String())
	return ops.RotateResult{Gen: r.Gen, Resumed: r.Resumed, Resealed: r.Resealed}, nil
}

// Unlock opens a passphrase store with the passphrase an admin typed, and
// sending starts. A wrong passphrase leaves it locked. The actor must be
// an admin: at the shell the control socket says who is one; the web UI,
// where the passphrase is the credential (no account can be checked while
// the store is locked), asks as an admin of kind web. Each try runs the passphrase's KDF in a
// password-check slot; after lockout_failures wrong passphrases in a row
// from the web, web unlocks are refused for lockout_duration (the shell's
// smsd key unlock still works). A refused unlock cannot be written to the
// locked store's audit log: it goes to the journal, and to the audit log
// once the store opens.
//
// The passphrase is zeroed when Unlock returns: callers hand over a copy
// they do not keep (the control socket's decoded request, the web form's).
func (s *Service) Unlock(ctx context.Context, a ops.Actor, passphrase []byte) (err error) {
	defer clear(passphrase)
	ctx, rec := begin(ctx, a, audit.Unlock, "key", "passphrase")
	defer func() {
		if s.Store() != nil {
			err = s.finish(ctx, rec, err)
			return
		}
		if err != nil {
			s.pendUnlockRow(rec, err)
		}
	}()
	if err := requireAdmin(a, "unlock the store"); err != nil {
		return err
	}
	as := s.authInit()
	now := s.now()
	if a.Kind == ops.ActorWeb {
		as.mu.Lock()
		until := as.unlockLocked
		as.mu.Unlock()
		if now.Before(until) {
			return ops.Errorf(ops.CodeBusy, fmt.Sprintf("too many wrong passphrases: the web UI takes none until %s (at the box, smsd key unlock still works)", until.UTC().Format("15:04 MST")))
		}
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	s.unlockMu.Lock()
	defer s.unlockMu.Unlock()
	s.mu.Lock()
	open := s.store != nil
	s.mu.Unlock()
	if open {
		return ops.Errorf(ops.CodeNotLocked, "the store is already unlocked; nothing to do")
	}
	if s.cfg.KeySource != config.KeyPassphrase {
		return ops.Errorf(ops.CodeNotLocked, "this daemon does not use a passphrase (key_source is "+s.cfg.KeySource+")")
	}
	// The unlock's own row goes after the refused ones, by finish, not in
	// the first transaction of the store's opening.
	if err := s.open(audit.Without(ctx), passphrase); err != nil {
		if errors.Is(err, queue.ErrSourceMismatch) {
			// Moved to another kind of key (smsd key move) and the config
			// not changed: no passphrase will do; say what to set.
			s.log.Error("unlock refused: the store's key is not a passphrase any more", "err", err)
			return ops.Errorf(ops.CodeWrongKey, err.Error())
		}
		if errors.Is(err, queue.ErrWrongKey) {
			s.log.Warn("unlock refused: wrong passphrase", "actor", a.String(), "addr", a.Addr)
			if a.Kind == ops.ActorWeb {
				as.mu.Lock()
				as.unlockFails++
				if as.unlockFails >= max(s.cfg.LockoutFailures, 1) {
					as.unlockLocked, as.unlockFails = now.Add(s.cfg.LockoutDuration.Duration), 0
					s.log.Warn("web unlock refused for a while after too many wrong passphrases", "until", as.unlockLocked)
				}
				as.mu.Unlock()
			}
			return ops.Errorf(ops.CodeWrongKey, "wrong passphrase: the store stays locked; try again")
		}
		return err
	}
	as.mu.Lock()
	as.unlockFails, as.unlockLocked = 0, time.Time{}
	pending := as.pendingAudit
	as.pendingAudit = nil
	as.mu.Unlock()
	// The refused unlocks before this one, at their own times, before the
	// row of this one.
	if st := s.Store(); st != nil {
		for _, e := range pending {
			if _, err := st.Audit(audit.Without(ctx), e); err != nil {
				s.log.Error("audit: could not record a refused unlock", "err", err)
			}
		}
	}
	s.log.Info("store unlocked; sending starts", "actor", a.String())
	return nil
}

// pendUnlockRow keeps the row of a refused unlock until the store opens.
func (s *Service) pendUnlockRow(rec *audit.Record, err error) {
	e := rec.Event()
	e.Time = s.now()
	e.Outcome, e.Detail = audit.Failed, join(e.Detail, ops.CodeOf(err))
	if ops.CodeOf(err) == ops.CodeDenied {
		e.Outcome = audit.Denied
	}
	as := s.authInit()
	as.mu.Lock()
	defer as.mu.Unlock()
	if len(as.pendingAudit) < maxPendingAudit {
		as.pendingAudit = append(as.pendingAudit, e)
	}
}

// OpenForKeys opens the store of cfg directly, with keys, for a key change
// (smsd key move, rotate -kek, recovery): no daemon may run, because the
// daemon keeps the old key source until it is restarted with the new one.
// It holds the serve lock like OpenDirect; ErrDaemonRuns when a daemon
// holds it. keys may be a passphrase (the CLI asks for it), or the recovery
// code.
func OpenForKeys(ctx context.Context, cfg config.Config, keys queue.KeySource) (*Service, error) {
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
	st, err := queue.Open(ctx, cfg.DBPath(), keys, StoreOptions(&cfg, nil))
	if err != nil {
		lock.Close()
		return nil, err
	}
	s := &Service{cfg: cfg, log: slog.New(slog.DiscardHandler), started: time.Now(), now: time.Now, store: st,
		unlocked: make(chan struct{}), release: func() { lock.Close() }}
	close(s.unlocked)
	return s, nil
}

// MoveKey gives the store a new key-encryption key from to and retires the
// old one (queue.Store.MoveKey: crash-safe), admins only; audited as
// key_rotate of key "kek" with the method. The configuration must then
// name the new source: the caller says what to set.
func (s *Service) MoveKey(ctx context.Context, a ops.Actor, to queue.KeySource) (err error) {
	ctx, rec := begin(ctx, a, audit.KeyRotate, "key", "kek")
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := requireAdmin(a, "move the key"); err != nil {
		return err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return err
	}
	if err := st.MoveKey(ctx, to); err != nil {
		return err
	}
	s.log.Info("key-encryption key moved", "method", st.KeyMethodInUse(), "actor", a.String())
	return nil
}

// RotateKEK replaces the store's key file by a new random key, so that
// copies of the old file open nothing (queue.Store.RotateKEK), admins only;
// audited as key_rotate of key "kek".
func (s *Service) RotateKEK(ctx context.Context, a ops.Actor) (err error) {
	ctx, rec := begin(ctx, a, audit.KeyRotate, "key", "kek")
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := requireAdmin(a, "rotate the key-encryption key"); err != nil {
		return err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return err
	}
	return st.RotateKEK(ctx)
}

// NewRecoveryCode makes a new recovery code and retires the previous one,
// admins only; audited as key_rotate of key "recovery_code" (never the
// code itself).
func (s *Service) NewRecoveryCode(ctx context.Context, a ops.Actor) (_ string, err error) {
	ctx, rec := begin(ctx, a, audit.KeyRotate, "key", "recovery_code")
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := requireAdmin(a, "make a recovery code"); err != nil {
		return "", err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return "", err
	}
	return st.NewRecoveryCode(ctx)
}
