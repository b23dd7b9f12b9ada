package queue

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/crypt"
)

// RotationStats says what RotateDataKey did.
type RotationStats struct {
	Gen      uint32 // the data key generation now in use
	Resumed  bool   // an interrupted rotation was continued
	Resealed int    // rows resealed by this call
	// Skipped names the rows ("messages 12") that could not be resealed
	// because they failed their integrity check or a cell did not open:
	// the rotation finishes without them, and they stay failing (doctor
	// lists them; a message among them is quarantined when claimed).
	Skipped []string
}

// RotateDataKey replaces the data key: a new random key (the next
// generation) is stored wrapped under the current KEK and becomes the one
// new values are sealed with; then every row holding values sealed under an
// older generation is opened and sealed again (blind indexes recomputed), in
// transactions of batchSize rows (default 500), so the daemon keeps working
// in between. When no old value remains, the old data keys are deleted.
//
// It is resumable: if it is interrupted (ctx cancelled, crash, power cut),
// the next call — in this or a later process — finds more than one
// generation stored and carries on without making another key. Reads work
// throughout, because each sealed value names its generation.
//
// Idempotency and inbound de-duplication hashes made under the old key are
// dropped (the idempotency keys themselves are not stored), so a client
// retrying an enqueue across a rotation is not deduplicated.
func (s *Store) RotateDataKey(ctx context.Context, batchSize int) (RotationStats, error) {
	if batchSize <= 0 {
		batchSize = 500
	}
	var st RotationStats
	s.keyOpMu.Lock()
	defer s.keyOpMu.Unlock()
	s.keyMu.RLock()
	via := s.via
	s.keyMu.RUnlock()
	if via == viaRecovery {
		return st, errors.New("rotate data key: the store was opened with its recovery code, which cannot wrap a new data key for the key source: give it a key first (smsd key move)")
	}
	// The action's audit row goes with the last step, the one that retires
	// the old key: only a finished rotation is recorded as done.
	final := ctx
	ctx = audit.Without(ctx)
	// Start a new generation unless a rotation is already under way.
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		var maxGen int64
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(MAX(gen), 0) FROM data_keys").Scan(&n, &maxGen); err != nil {
			return err
		}
		if n > 1 {
			st.Resumed = true
			return nil
		}
		dk, err := crypt.NewDataKey()
		if err != nil {
			return err
		}
		s.keyMu.RLock()
		w, kek := s.wrapped, s.kek
		s.keyMu.RUnlock()
		nw, err := crypt.Wrap(dk, kek, w.Method, w.Salt, w.Params)
		if err != nil {
			return err
		}
		blob, err := nw.MarshalBinary()
		if err != nil {
			return err
		}
		gen := uint32(maxGen + 1)
		if _, err := tx.ExecContext(ctx, "INSERT INTO data_keys (gen, wrapped, created_at) VALUES (?, ?, ?)", gen, blob, ms(s.now())); err != nil {
			return err
		}
		// The recovery code opens the new key too: it is wrapped for the
		// code's public key, which needs no one to type the code.
		pub, ok, err := s.recoveryPub(ctx, tx)
		if err != nil {
			return err
		}
		if ok {
			rw, err := crypt.WrapForRecovery(dk, pub)
			if err != nil {
				return err
			}
			rb, err := rw.MarshalBinary()
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO key_wraps (gen, slot, wrapped, created_at) VALUES (?, 'recovery', ?, ?)", gen, rb, ms(s.now())); err != nil {
				return err
			}
		}
		s.keyMu.Lock()
		s.dks[gen] = dk
		s.sealers[gen] = crypt.NewSealerGen(dk, gen)
		s.cur = s.sealers[gen]
		s.wrapped = nw
		s.keyMu.Unlock()
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("rotate data key: %w", err)
	}
	cur := s.current()
	st.Gen = cur.Gen()
	if st.Resumed {
		s.log.Info("resuming an interrupted data key rotation", "gen", st.Gen)
	}
	var genBytes [4]byte
	binary.BigEndian.PutUint32(genBytes[:], cur.Gen())
	for _, t := range sealedColumns {
		skip := map[int64]bool{}
		for {
			if err := ctx.Err(); err != nil {
				return st, fmt.Errorf("rotate data key: interrupted after %d rows (run it again to resume): %w", st.Resealed, err)
			}
			n, err := s.resealBatch(ctx, t.table, t.columns, genBytes[:], batchSize, skip)
			if err != nil {
				return st, fmt.Errorf("rotate data key: table %s: %w", t.table, err)
			}
			st.Resealed += n
			if rotateBatchHook != nil {
				rotateBatchHook(st.Resealed)
			}
			if n < batchSize {
				break
			}
		}
		for id := range skip {
			st.Skipped = append(st.Skipped, fmt.Sprintf("%s %d", t.table, id))
		}
	}
	sort.Strings(st.Skipped)
	if len(st.Skipped) > 0 {
		s.log.Error("rotation: rows that failed their integrity check were not resealed; they stay unreadable (run smsd doctor)", "rows", strings.Join(st.Skipped, ", "))
	}
	if rec := audit.FromContext(final); rec != nil {
		rec.SetObject("key", fmt.Sprintf("data_key:%d", st.Gen))
		rec.AddDetail(fmt.Sprintf("resealed=%d resumed=%t skipped=%d", st.Resealed, st.Resumed, len(st.Skipped)))
	}
	err = s.tx(final, func(tx *sql.Tx) error {
		// The digests move to the new key with the old key's retirement,
		// in one transaction: a crash before it leaves both keys and the
		// old digests, and the next call finishes.
		if err := s.redigest(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM key_wraps WHERE gen != ?", cur.Gen()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM data_keys WHERE gen != ?", cur.Gen())
		return err
	})
	if err != nil {
		return st, fmt.Errorf("rotate data key: retire old keys: %w", err)
	}
	s.keyMu.Lock()
	for g := range s.sealers {
		if g != cur.Gen() {
			delete(s.sealers, g)
			delete(s.dks, g)
		}
	}
	s.keyMu.Unlock()
	s.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	s.log.Info("data key rotated", "gen", st.Gen, "rows_resealed", st.Resealed)
	return st, nil
}

// rotateBatchHook, when set by a test, runs after each batch.
var rotateBatchHook func(resealed int)

// resealBatch reseals up to limit rows of table that hold a value sealed
// under another generation than cur (compared on the stamped header bytes,
// without opening anything).
func (s *Store) resealBatch(ctx context.Context, table string, cols []string, cur []byte, limit int, skip map[int64]bool) (int, error) {
	var conds []string
	var args []any
	for _, c := range cols {
		conds = append(conds, fmt.Sprintf("(%s IS NOT NULL AND substr(%s, 2, 4) != ?)", c, c))
		args = append(args, cur)
	}
	_, tagged := specFor(table)
	if tagged {
		// A row without sealed cells (purged) still needs a new tag.
		conds = append(conds, "(tag IS NOT NULL AND substr(tag, 1, 4) != ?)")
		args = append(args, cur)
	}
	where := "(" + strings.Join(conds, " OR ") + ")"
	if len(skip) > 0 {
		var ids []string
		for id := range skip {
			ids = append(ids, strconv.FormatInt(id, 10))
		}
		where += " AND id NOT IN (" + strings.Join(ids, ",") + ")"
	}
	q := fmt.Sprintf("SELECT id, %s FROM %s WHERE %s LIMIT ?", strings.Join(cols, ", "), table, where)
	args = append(args, limit)
	n := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		type row struct {
			id   int64
			vals [][]byte
		}
		var todo []row
		for rows.Next() {
			r := row{vals: make([][]byte, len(cols))}
			dest := []any{&r.id}
			for i := range cols {
				dest = append(dest, &r.vals[i])
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		cs := s.current()
	rowLoop:
		for _, r := range todo {
			if tagged {
				if err := s.verifyRow(ctx, tx, table, r.id); err != nil {
					if !errors.Is(err, ErrIntegrity) {
						return err
					}
					skip[r.id] = true
					continue
				}
			}
			sets := make([]string, 0, len(cols)+2)
			uargs := make([]any, 0, len(cols)+3)
			for i, c := range cols {
				if r.vals[i] == nil {
					continue
				}
				pt, err := s.open(r.vals[i], table, c, r.id)
				if errors.Is(err, ErrTampered) {
					// One bad cell must not stop the rotation for ever.
					skip[r.id] = true
					continue rowLoop
				}
				if err != nil {
					return err
				}
				sets = append(sets, c+" = ?")
				uargs = append(uargs, sealWith(cs, []byte(pt), table, c, r.id))
				// Blind indexes follow the number they index.
				switch table + "." + c {
				case "messages.to_sealed":
					sets = append(sets, "to_index = ?", "idem_index = NULL")
					uargs = append(uargs, cs.BlindIndex(pt))
				case "inbound.from_sealed":
					sets = append(sets, "from_index = ?", "dedupe_index = NULL")
					uargs = append(uargs, cs.BlindIndex(pt))
				case "optouts.number_sealed":
					sets = append(sets, "number_index = ?")
					uargs = append(uargs, cs.BlindIndex(pt))
				case "appointments.phone_sealed":
					sets = append(sets, "phone_index = ?")
					uargs = append(uargs, cs.BlindIndex(pt))
				case "imports.digest_sealed":
					// The keyed index of the file's SHA-256 (imports.go):
					// the same file stays refused after a rotation.
					sets = append(sets, "digest_index = ?")
					uargs = append(uargs, cs.IdempotencyIndex("import:"+pt))
				}
			}
			uargs = append(uargs, r.id)
			if len(sets) > 0 {
				if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE id = ?", table, strings.Join(sets, ", ")), uargs...); err != nil {
					return err
				}
			}
			if tagged {
				if err := s.retag(ctx, tx, table, r.id); err != nil {
					return err
				}
			}
		}
		n = len(todo)
		return nil
	})
	if errors.Is(err, context.Canceled) {
		return 0, err
	}
	return n, err
}
