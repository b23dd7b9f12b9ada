package daemon

import (
	"context"
	"errors"
	"fmt"

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
// sending starts. A wrong passphrase leaves it locked.
func (s *Service) Unlock(ctx context.Context, a ops.Actor, passphrase []byte) (err error) {
	ctx, rec := begin(ctx, a, audit.Unlock, "key", "passphrase")
	defer func() {
		// Only an open store can keep the row: a refused unlock is in the
		// journal only.
		if s.Store() != nil {
			err = s.finish(ctx, rec, err)
		}
	}()
	if err := requireAdmin(a, "unlock the store"); err != nil {
		return err
	}
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
	if err := s.open(ctx, passphrase); err != nil {
		if errors.Is(err, queue.ErrWrongKey) {
			s.log.Warn("unlock refused: wrong passphrase", "actor", a.String())
			return ops.Errorf(ops.CodeWrongKey, "wrong passphrase: the store stays locked; try again")
		}
		return err
	}
	s.log.Info("store unlocked; sending starts", "actor", a.String())
	return nil
}
