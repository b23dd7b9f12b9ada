package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/crypt"
)

// keyCustodyMigration is schema step 10 (see schema.go).
const keyCustodyMigration = `CREATE TABLE key_wraps (
		gen        INTEGER NOT NULL,
		slot       TEXT    NOT NULL CHECK (slot IN ('pending','recovery')),
		wrapped    BLOB    NOT NULL,
		created_at INTEGER NOT NULL,
		PRIMARY KEY (gen, slot)
	);
	CREATE TABLE recovery_keys (
		id         INTEGER PRIMARY KEY,
		pub_sealed BLOB    NOT NULL,
		created_at INTEGER NOT NULL
	);`

// Which wrap of the data keys this process opened the store by.
const (
	viaPrimary  = "primary"  // data_keys.wrapped: the configured source
	viaPending  = "pending"  // the new source of an interrupted key move
	viaRecovery = "recovery" // the recovery code
)

// genWrap is one data key generation's wraps.
type genWrap struct {
	gen      uint32
	primary  crypt.WrappedKey
	pending  *crypt.WrappedKey
	recovery *crypt.WrappedKey
}

// readWraps reads every data key generation with its extra wraps (none
// before schema step 10).
func readWraps(ctx context.Context, q querier) ([]genWrap, error) {
	var n int
	rows, err := q.QueryContext(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'key_wraps'")
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		rows.Scan(&n)
	}
	rows.Close()
	query := "SELECT gen, wrapped, NULL, NULL FROM data_keys ORDER BY gen"
	if n > 0 {
		query = `SELECT d.gen, d.wrapped,
			(SELECT wrapped FROM key_wraps k WHERE k.gen = d.gen AND k.slot = 'pending'),
			(SELECT wrapped FROM key_wraps k WHERE k.gen = d.gen AND k.slot = 'recovery')
			FROM data_keys d ORDER BY d.gen`
	}
	rows, err = q.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("read data keys: %w", err)
	}
	defer rows.Close()
	var out []genWrap
	for rows.Next() {
		var gen int64
		var blob, pend, rec []byte
		if err := rows.Scan(&gen, &blob, &pend, &rec); err != nil {
			return nil, err
		}
		g := genWrap{gen: uint32(gen)}
		if err := g.primary.UnmarshalBinary(blob); err != nil {
			return nil, fmt.Errorf("data key generation %d: %w", gen, err)
		}
		for _, x := range []struct {
			b  []byte
			to **crypt.WrappedKey
		}{{pend, &g.pending}, {rec, &g.recovery}} {
			if x.b == nil {
				continue
			}
			var w crypt.WrappedKey
			if err := w.UnmarshalBinary(x.b); err != nil {
				return nil, fmt.Errorf("data key generation %d: extra wrap: %w", gen, err)
			}
			*x.to = &w
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// keyring is what opens the data keys: a KEK (by the primary or the
// pending wrap) or the recovery code's key.
type keyring struct {
	via string
	kek crypt.KEK
	rec *crypt.RecoveryKey
}

// unwrapAll opens every generation with kr.
func (kr keyring) unwrapAll(wraps []genWrap) (map[uint32]crypt.DataKey, error) {
	dks := map[uint32]crypt.DataKey{}
	for _, g := range wraps {
		var (
			dk  crypt.DataKey
			err error
		)
		switch kr.via {
		case viaRecovery:
			if g.recovery == nil {
				return nil, fmt.Errorf("%w: data key generation %d has no recovery wrap (the recovery code was made before it? run smsd key recovery with the store open)", ErrNoRecovery, g.gen)
			}
			dk, err = crypt.UnwrapRecovery(*g.recovery, kr.rec)
		case viaPending:
			if g.pending == nil {
				return nil, fmt.Errorf("data key generation %d: no pending wrap", g.gen)
			}
			dk, err = crypt.Unwrap(*g.pending, kr.kek)
		default:
			dk, err = crypt.Unwrap(g.primary, kr.kek)
		}
		if err != nil {
			return nil, fmt.Errorf("data key generation %d: %w", g.gen, err)
		}
		dks[g.gen] = dk
	}
	return dks, nil
}

// ErrNoRecovery means the store has no recovery wrap (made before recovery
// codes existed, or never given one).
var ErrNoRecovery = errors.New("this database has no recovery code")

// chooseKeyring finds what opens wraps with keys: the recovery code; else
// the primary wrap; else the pending wrap of an interrupted key move (the
// source it was moving to). It reports ErrWrongKey, ErrLocked or
// crypt.ErrBadRecoveryCode as such.
func chooseKeyring(wraps []genWrap, keys KeySource) (keyring, map[uint32]crypt.DataKey, error) {
	last := wraps[len(wraps)-1]
	if keys.Recovery != nil {
		rk, err := crypt.ParseRecoveryCode(keys.Recovery)
		if err != nil {
			return keyring{}, nil, err
		}
		if last.recovery == nil {
			return keyring{}, nil, fmt.Errorf("%w (it was made before recovery codes, or its code was never printed); it opens only with its key file, passphrase or credential", ErrNoRecovery)
		}
		kr := keyring{via: viaRecovery, rec: rk}
		dks, err := kr.unwrapAll(wraps)
		if errors.Is(err, crypt.ErrWrongKey) {
			return keyring{}, nil, fmt.Errorf("%w: that recovery code is well formed but is not this database's (a code made later retires the earlier ones)", ErrWrongKey)
		}
		return kr, dks, err
	}
	kek, perr := keys.unwrapKEK(last.primary)
	if perr == nil {
		kr := keyring{via: viaPrimary, kek: kek}
		dks, err := kr.unwrapAll(wraps)
		if err == nil {
			return kr, dks, nil
		}
		perr = err
	}
	if last.pending != nil {
		if kek, err := keys.unwrapKEK(*last.pending); err == nil {
			kr := keyring{via: viaPending, kek: kek}
			if dks, err := kr.unwrapAll(wraps); err == nil {
				return kr, dks, nil
			}
		}
	}
	return keyring{}, nil, perr
}

// setKeys installs what unlock or reloadKeys found.
func (s *Store) setKeys(kr keyring, wraps []genWrap, dks map[uint32]crypt.DataKey) {
	sealers := map[uint32]*crypt.Sealer{}
	for gen, dk := range dks {
		sealers[gen] = crypt.NewSealerGen(dk, gen)
	}
	last := wraps[len(wraps)-1]
	w := last.primary
	if kr.via == viaPending {
		w = *last.pending
	}
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	s.via, s.kek, s.rec = kr.via, kr.kek, kr.rec
	s.dks, s.sealers, s.cur, s.wrapped = dks, sealers, sealers[last.gen], w
}

// systemEvent is the audit row of a key change that no caller recorded.
func systemEvent(detail string) audit.Event {
	return audit.Event{Actor: "system", Action: audit.KeyRotate, ObjectType: "key", ObjectID: "kek", Detail: detail}
}

// appendKeyRow records a key change in tx: the caller's record (in ctx,
// which s.tx appends) or, when there is none, a system row.
func appendKeyRow(ctx context.Context, tx *sql.Tx, e audit.Event) error {
	if audit.FromContext(ctx) != nil {
		return nil
	}
	_, err := audit.Append(ctx, tx, e)
	return err
}

// settleKeys runs once the store is open for writing: a key move that a
// crash cut between its two transactions is finished if the store opened
// by the move's new source (the old wrap retired, with an audit row); if
// it opened by the old one, both stay valid (see below) until the move
// runs again, which replaces the pending wrap. A store opened by its
// recovery code records that the code was used (an audit row).
func (s *Store) settleKeys(ctx context.Context) error {
	ctx = audit.Without(ctx)
	s.keyMu.RLock()
	via, method := s.via, s.wrapped.Method
	s.keyMu.RUnlock()
	switch via {
	case viaPending:
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if err := promotePending(ctx, tx); err != nil {
				return err
			}
			_, err := audit.Append(ctx, tx, systemEvent("an interrupted key move was finished at open: the store opened with its new source, method="+method))
			return err
		})
		if err != nil {
			return fmt.Errorf("finish an interrupted key move: %w", err)
		}
		s.keyMu.Lock()
		s.via = viaPrimary
		s.keyMu.Unlock()
		s.log.Warn("an interrupted key move was finished: the store now opens only with its new key source", "method", method)
	case viaPrimary:
		var n int
		if err := s.w.QueryRowContext(ctx, "SELECT COUNT(*) FROM key_wraps WHERE slot = 'pending'").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			// Not undone: after a crash past RotateKEK's rename the old key
			// survives only in a copy, and undoing would leave the
			// configured key file opening nothing. Both keep working until
			// the new one opens the store or the move runs again.
			s.log.Warn("an interrupted key move: the store opens with the old and the new key until it is opened with the new one or smsd key move runs again")
		}
	case viaRecovery:
		err := s.tx(ctx, func(tx *sql.Tx) error {
			_, err := audit.Append(ctx, tx, audit.Event{Actor: "system", Action: audit.Unlock, ObjectType: "key", ObjectID: "recovery_code",
				Detail: "the store was opened with its recovery code"})
			return err
		})
		if err != nil {
			return err
		}
		s.log.Warn("the store was opened with its recovery code: give it a key source (smsd key move) and a new recovery code")
	}
	return nil
}

// promotePending makes every pending wrap the primary one.
func promotePending(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `UPDATE data_keys SET wrapped =
		(SELECT wrapped FROM key_wraps k WHERE k.gen = data_keys.gen AND k.slot = 'pending')
		WHERE gen IN (SELECT gen FROM key_wraps WHERE slot = 'pending')`); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM key_wraps WHERE slot = 'pending'")
	return err
}

// keyMoveHook, when set by a test, runs after each step of a key move
// ("pending", "placed", "committed"); an error stops the move there, as a
// crash would, without any clean-up.
var keyMoveHook func(step string) error

// SetKeyMoveFault makes every later key move in this process stop after
// step ("pending": the new wrap is stored beside the old; "placed": the
// new key file is in place; "committed") by calling stop, which for the
// crash tests exits the process. It exists for fault injection (smsd reads
// $SMSD_FAULT_KEYMOVE only to call it); nothing else may use it.
func SetKeyMoveFault(step string, stop func()) {
	keyMoveHook = func(s string) error {
		if s == step {
			stop()
			return errors.New("fault injected")
		}
		return nil
	}
}

// errKeyMoveHook marks an error returned by keyMoveHook.
var errKeyMoveHook = errors.New("stopped by a test at a key move step")

func moveStep(step string) error {
	if keyMoveHook != nil {
		if err := keyMoveHook(step); err != nil {
			return fmt.Errorf("%w %s: %w", errKeyMoveHook, step, err)
		}
	}
	return nil
}

// heldKeys returns the plain data keys, refusing when a rotation holds
// more generations than the database (it must not happen: key changes are
// serialised by keyOpMu).
func (s *Store) heldKeys() map[uint32]crypt.DataKey {
	s.keyMu.RLock()
	defer s.keyMu.RUnlock()
	out := make(map[uint32]crypt.DataKey, len(s.dks))
	for g, k := range s.dks {
		out[g] = k
	}
	return out
}

// checkGens fails unless the stored generations are exactly held.
func checkGens(ctx context.Context, tx *sql.Tx, held map[uint32]crypt.DataKey) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM data_keys").Scan(&n); err != nil {
		return err
	}
	if n != len(held) {
		return errors.New("the data keys changed meanwhile (a rotation in another process?); try again")
	}
	return nil
}

// MoveKey gives the open store a new key-encryption key from to (a key
// file — created if missing, else its key is used —, a passphrase, which
// must pass crypt.CheckPassphrase, or a systemd credential) and retires the
// previous one: afterwards only to (and the recovery code, which is not
// touched) opens the store. It works whatever opened the store, the
// recovery code included; that is how a restored store gets its key.
//
// It is safe across a crash: first every data key generation is wrapped
// for to in a 'pending' wrap beside the old one (one transaction), then
// the pending wraps replace the old ones (a second transaction, with the
// audit row: the caller's record in ctx, else a system row). A crash in
// between leaves both working; the next Open with the new source finishes
// the move, and running it again replaces the pending wrap (settleKeys).
//
// Files are not touched beyond creating to.KeyFile: the caller removes an
// old key file, which opens nothing any more unless it holds the same key.
func (s *Store) MoveKey(ctx context.Context, to KeySource) error {
	return s.moveKey(ctx, to, to.KeyFile, nil)
}

// RewrapKEK is MoveKey under its older name.
func (s *Store) RewrapKEK(ctx context.Context, newKeys KeySource) error {
	return s.MoveKey(ctx, newKeys)
}

// moveKey is MoveKey with a step between the transactions: place puts the
// new key where its source will find it (RotateKEK's rename), and
// finalFile is the key file the store then opens with.
func (s *Store) moveKey(ctx context.Context, to KeySource, finalFile string, place func() error) error {
	s.keyOpMu.Lock()
	defer s.keyOpMu.Unlock()
	kek, method, salt, params, err := to.create()
	if err != nil {
		return fmt.Errorf("key move: %w", err)
	}
	held := s.heldKeys()
	var lastGen uint32
	blobs := map[uint32][]byte{}
	wraps := map[uint32]crypt.WrappedKey{}
	for gen, dk := range held {
		w, err := crypt.Wrap(dk, kek, method, salt, params)
		if err != nil {
			return fmt.Errorf("key move: %w", err)
		}
		if blobs[gen], err = w.MarshalBinary(); err != nil {
			return fmt.Errorf("key move: %w", err)
		}
		wraps[gen] = w
		lastGen = max(lastGen, gen)
	}
	err = s.tx(audit.Without(ctx), func(tx *sql.Tx) error {
		if err := checkGens(ctx, tx, held); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM key_wraps WHERE slot = 'pending'"); err != nil {
			return err
		}
		for gen, b := range blobs {
			if _, err := tx.ExecContext(ctx, "INSERT INTO key_wraps (gen, slot, wrapped, created_at) VALUES (?, 'pending', ?, ?)", gen, b, ms(s.now())); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("key move: %w (nothing changed)", err)
	}
	if err := moveStep("pending"); err != nil {
		return err
	}
	if place != nil {
		if err := place(); err != nil {
			return fmt.Errorf("key move: %w (the store still opens with its old key; run the command again)", err)
		}
		if err := moveStep("placed"); err != nil {
			return err
		}
	}
	detail := "key-encryption key replaced: method=" + method
	if rec := audit.FromContext(ctx); rec != nil {
		rec.SetObject("key", "kek")
		rec.AddDetail("method=" + method)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkGens(ctx, tx, held); err != nil {
			return err
		}
		if err := promotePending(ctx, tx); err != nil {
			return err
		}
		return appendKeyRow(ctx, tx, systemEvent(detail))
	})
	if err != nil {
		return fmt.Errorf("key move: %w (the store opens with the old or the new key; the next start settles which)", err)
	}
	s.keyMu.Lock()
	s.kek, s.wrapped, s.via, s.rec = kek, wraps[lastGen], viaPrimary, nil
	s.keyFile = ""
	if method == crypt.MethodKeyFile {
		s.keyFile = finalFile
	}
	s.keyMu.Unlock()
	if err := moveStep("committed"); err != nil {
		return err
	}
	s.log.Info("key-encryption key replaced", "method", method)
	return nil
}

// KeyFile is the key file the store was opened with or moved to ("" for
// other sources).
func (s *Store) KeyFile() string {
	s.keyMu.RLock()
	defer s.keyMu.RUnlock()
	return s.keyFile
}

// KeyMethodInUse is the method of the store's current wrap
// (crypt.MethodKeyFile, MethodPassphrase or MethodCredential).
func (s *Store) KeyMethodInUse() string {
	s.keyMu.RLock()
	defer s.keyMu.RUnlock()
	return s.wrapped.Method
}

// RotateKEK replaces the key file the store was opened with by a new
// random key, so that a copy of the old file opens nothing: the new key is
// written to <file>.new, wrapped (pending), renamed over the old file,
// then made the only wrap (MoveKey's two transactions around the rename).
// A crash before the rename leaves the old file working (and the .new
// one, until the next rotation replaces it); after it, the new file, whose
// pending wrap the next Open promotes.
// Passphrases change with MoveKey; credentials are made outside smsd, so
// both are refused here with what to do instead.
func (s *Store) RotateKEK(ctx context.Context) error {
	s.keyMu.RLock()
	via, method, path := s.via, s.wrapped.Method, s.keyFile
	s.keyMu.RUnlock()
	if via == viaRecovery {
		return errors.New("rotate key-encryption key: the store was opened with its recovery code; give it a key first (smsd key move)")
	}
	switch {
	case method == crypt.MethodPassphrase:
		return errors.New("rotate key-encryption key: the store uses a passphrase; choose a new one with smsd key move -to passphrase")
	case method == crypt.MethodCredential || path == "":
		return errors.New("rotate key-encryption key: the store uses a systemd credential, which smsd cannot make; make a new key (head -c32 /dev/urandom | systemd-creds encrypt --name=NEW - /etc/credstore.encrypted/NEW), load it in the unit, and run smsd key move -to credential:NEW")
	}
	newPath := path + ".new"
	// A leftover from an interrupted rotation: its pending wrap is
	// replaced below, so start from a fresh key.
	if err := os.Remove(newPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotate key-encryption key: remove the leftover %s: %w", newPath, err)
	}
	if _, err := crypt.CreateKeyFile(newPath); err != nil {
		return fmt.Errorf("rotate key-encryption key: %w", err)
	}
	place := func() error {
		if err := os.Rename(newPath, path); err != nil {
			return err
		}
		return syncDir(filepath.Dir(path))
	}
	if err := s.moveKey(ctx, KeySource{KeyFile: newPath}, path, place); err != nil {
		return err
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// recoveryPub is the recovery code's public key, if the store has one.
func (s *Store) recoveryPub(ctx context.Context, tx *sql.Tx) ([]byte, bool, error) {
	var blob []byte
	err := tx.QueryRowContext(ctx, "SELECT pub_sealed FROM recovery_keys WHERE id = 1").Scan(&blob)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	pt, err := s.open(blob, "recovery_keys", "pub_sealed", 1)
	if err != nil {
		return nil, false, fmt.Errorf("recovery code's public key: %w", err)
	}
	return []byte(pt), true, nil
}

// NewRecoveryCode makes a new recovery code, wraps every data key for it
// (beside the key source's wrap, which it does not touch) and retires the
// previous code, in one transaction with its audit row (the caller's
// record in ctx, else a system row). The code is returned once, as a
// person writes it ("ABCDE-FGHJK-..."); smsd keeps only its public key.
// Data keys made later (rotation) are wrapped for it too.
func (s *Store) NewRecoveryCode(ctx context.Context) (string, error) {
	s.keyOpMu.Lock()
	defer s.keyOpMu.Unlock()
	code, rk, err := crypt.NewRecoveryCode()
	if err != nil {
		return "", err
	}
	held := s.heldKeys()
	pub := rk.Public()
	blobs := map[uint32][]byte{}
	for gen, dk := range held {
		w, err := crypt.WrapForRecovery(dk, pub)
		if err != nil {
			return "", err
		}
		if blobs[gen], err = w.MarshalBinary(); err != nil {
			return "", err
		}
	}
	if rec := audit.FromContext(ctx); rec != nil {
		rec.SetObject("key", "recovery_code")
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkGens(ctx, tx, held); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM key_wraps WHERE slot = 'recovery'"); err != nil {
			return err
		}
		for gen, b := range blobs {
			if _, err := tx.ExecContext(ctx, "INSERT INTO key_wraps (gen, slot, wrapped, created_at) VALUES (?, 'recovery', ?, ?)", gen, b, ms(s.now())); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM recovery_keys"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO recovery_keys (id, pub_sealed, created_at) VALUES (1, ?, ?)",
			s.seal(pub, "recovery_keys", "pub_sealed", 1), ms(s.now())); err != nil {
			return err
		}
		e := systemEvent("a new recovery code was made; the previous one no longer opens the store")
		e.ObjectID = "recovery_code"
		return appendKeyRow(ctx, tx, e)
	})
	if err != nil {
		return "", fmt.Errorf("new recovery code: %w (the previous code still works)", err)
	}
	s.keyMu.Lock()
	if s.via == viaRecovery {
		s.rec = rk
	}
	s.keyMu.Unlock()
	s.log.Info("a new recovery code was made; the previous one is retired")
	return code, nil
}

// HasRecoveryCode reports whether the store has a recovery code.
func (s *Store) HasRecoveryCode(ctx context.Context) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM recovery_keys").Scan(&n)
	return n > 0, err
}
