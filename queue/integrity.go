package queue

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/clinicsms/smsd/crypt"
)

// Row integrity. The sealed cells are authenticated one by one, but the
// clear columns a decision rests on (a user's role, a message's state and
// parts, an opt-out's existence) are not, and an older sealed value of the
// same cell still opens. So every row of the tables below carries:
//
//   - rv, a row version bumped on every write, and
//   - tag, crypt.Sealer.RowTag over the table, id, rv, every decision column
//     and every sealed cell (for messages also its parts), under a key
//     derived from the data key.
//
// A cell copied from another row or an older version of the same row, an
// edited clear column or a deleted part fails the tag. A whole row put back
// from an older copy would pass its own tag, so each table also has a
// digest: the XOR of a keyed hash of every row's tag, with the row count,
// sealed in row_digests. Rolling one row back then means rolling back the
// digest too, which disagrees with every row written since: only a rollback
// of the whole table (or file) stays consistent, and that is what the audit
// trail's signed heads catch. A failed check fails closed: the user counts
// as having no privilege, the message is quarantined and never sent, a
// broken opt-out list stops every send.

// ErrIntegrity: a row, or a table's digest, failed its integrity check.
var ErrIntegrity = errors.New("integrity check failed: the row was changed without the key, or put back from an older copy (run `smsd doctor`)")

// IntegrityCode is the last_error of a quarantined message.
const IntegrityCode = "integrity"

type tagSpec struct {
	table string
	cols  []string // decision columns and sealed cells, in tag order
	parts bool     // messages: the message's parts are covered too
}

// tagSpecs lists the tables whose rows carry a tag. Append only: the order
// of cols is part of every stored tag.
var tagSpecs = []tagSpec{
	{"users", []string{"username", "role", "disabled", "break_glass", "failed_logins", "locked_until", "name_sealed", "password_sealed", "totp_sealed"}, false},
	{"messages", []string{"state", "to_sealed", "to_index", "text_sealed", "attempts", "reference", "parts_total", "created_by", "purged_at"}, true},
	{"optouts", []string{"number_index", "number_sealed", "source"}, false},
	{"settings", []string{"key", "value_sealed"}, false},
}

func specFor(table string) (tagSpec, bool) {
	for _, sp := range tagSpecs {
		if sp.table == table {
			return sp, true
		}
	}
	return tagSpec{}, false
}

// encodeField gives a column value one unambiguous encoding: NULL, an
// integer and bytes never encode alike.
func encodeField(v any) []byte {
	switch x := v.(type) {
	case nil:
		return []byte{0}
	case int64:
		return binary.BigEndian.AppendUint64([]byte{1}, uint64(x))
	case bool:
		if x {
			return binary.BigEndian.AppendUint64([]byte{1}, 1)
		}
		return binary.BigEndian.AppendUint64([]byte{1}, 0)
	case []byte:
		return append([]byte{2}, x...)
	case string:
		return append([]byte{2}, x...)
	default:
		return append([]byte{3}, fmt.Sprint(x)...)
	}
}

// readTagged reads row id's version, tag and tagged fields through q.
func readTagged(ctx context.Context, q querier, sp tagSpec, id int64) (rv int64, tag []byte, fields [][]byte, err error) {
	vals := make([]any, len(sp.cols))
	dest := []any{&rv, &tag}
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	if err := q.QueryRowContext(ctx, "SELECT rv, tag, "+strings.Join(sp.cols, ", ")+" FROM "+sp.table+" WHERE id = ?", id).Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil, nil, fmt.Errorf("%s %d: %w", sp.table, id, ErrNotFound)
		}
		return 0, nil, nil, err
	}
	for _, v := range vals {
		fields = append(fields, encodeField(v))
	}
	if sp.parts {
		rows, err := q.QueryContext(ctx, "SELECT seq, total, mr, report FROM message_parts WHERE message_id = ? ORDER BY seq", id)
		if err != nil {
			return 0, nil, nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var seq, total, mr int64
			var report string
			if err := rows.Scan(&seq, &total, &mr, &report); err != nil {
				return 0, nil, nil, err
			}
			fields = append(fields, fmt.Appendf(nil, "part %d/%d mr %d report %s", seq, total, mr, report))
		}
		if err := rows.Err(); err != nil {
			return 0, nil, nil, err
		}
	}
	return rv, tag, fields, nil
}

// verifyRow checks row id of table against its tag. A failure wraps
// ErrIntegrity and names the table and id, nothing else.
func (s *Store) verifyRow(ctx context.Context, q querier, table string, id int64) error {
	sp, _ := specFor(table)
	rv, tag, fields, err := readTagged(ctx, q, sp, id)
	if err != nil {
		return err
	}
	return s.checkTag(sp.table, id, rv, tag, fields)
}

func (s *Store) checkTag(table string, id, rv int64, tag []byte, fields [][]byte) error {
	if tag == nil {
		return fmt.Errorf("%s %d: no integrity tag: %w", table, id, ErrIntegrity)
	}
	s.keyMu.RLock()
	sl := s.sealers[crypt.TagGeneration(tag)]
	s.keyMu.RUnlock()
	if sl == nil || !sl.CheckRowTag(tag, table, id, rv, fields) {
		return fmt.Errorf("%s %d: %w", table, id, ErrIntegrity)
	}
	return nil
}

// retag bumps row id's version and tags it under the current key, after
// a write in tx, and moves the table digest along. Callers check the row
// (verifyRow) before they change it, so that a write never blesses a
// tampered row.
func (s *Store) retag(ctx context.Context, tx *sql.Tx, table string, id int64) error {
	sp, _ := specFor(table)
	rv, old, fields, err := readTagged(ctx, tx, sp, id)
	if err != nil {
		return err
	}
	tag := s.current().RowTag(table, id, rv+1, fields)
	if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET rv = ?, tag = ? WHERE id = ?", rv+1, tag, id); err != nil {
		return err
	}
	return s.digestSwap(ctx, tx, table, old, tag)
}

// deleteTagged deletes row id of table and takes it out of the digest.
func (s *Store) deleteTagged(ctx context.Context, tx *sql.Tx, table string, id int64) error {
	var old []byte
	if err := tx.QueryRowContext(ctx, "SELECT tag FROM "+table+" WHERE id = ?", id).Scan(&old); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE id = ?", id); err != nil {
		return err
	}
	return s.digestSwap(ctx, tx, table, old, nil)
}

// digest is a table's row_digests value: the key generation of its items,
// the XOR of the items, the row count, and whether a mismatch was found
// and carried over a key rotation (it stays until an admin accepts it).
type digest struct {
	gen     uint32
	x       [sha256.Size]byte
	count   int64
	tainted bool
}

const digestLen = 4 + sha256.Size + 8 + 1

func (s *Store) loadDigest(ctx context.Context, q querier, table string) (digest, bool, error) {
	var sealed []byte
	err := q.QueryRowContext(ctx, "SELECT sealed FROM row_digests WHERE tbl = ?", table).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return digest{}, false, nil
	}
	if err != nil {
		return digest{}, false, err
	}
	pt, err := s.open(sealed, "row_digests", table, 0)
	if err != nil || len(pt) != digestLen {
		return digest{}, true, fmt.Errorf("%s: digest: %w", table, ErrIntegrity)
	}
	var d digest
	b := []byte(pt)
	d.gen = binary.BigEndian.Uint32(b)
	copy(d.x[:], b[4:])
	d.count = int64(binary.BigEndian.Uint64(b[4+sha256.Size:]))
	d.tainted = b[digestLen-1] != 0
	return d, true, nil
}

func (s *Store) storeDigest(ctx context.Context, tx *sql.Tx, table string, d digest) error {
	b := binary.BigEndian.AppendUint32(nil, d.gen)
	b = append(b, d.x[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(d.count))
	if d.tainted {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO row_digests (tbl, sealed) VALUES (?, ?) ON CONFLICT (tbl) DO UPDATE SET sealed = excluded.sealed",
		table, s.seal(b, "row_digests", table, 0))
	return err
}

func (s *Store) digestSealer(gen uint32) (*crypt.Sealer, error) {
	s.keyMu.RLock()
	defer s.keyMu.RUnlock()
	sl := s.sealers[gen]
	if sl == nil {
		return nil, fmt.Errorf("digest under unknown key generation %d: %w", gen, ErrIntegrity)
	}
	return sl, nil
}

// digestSwap replaces old by new in table's digest (either may be nil).
func (s *Store) digestSwap(ctx context.Context, tx *sql.Tx, table string, old, new []byte) error {
	d, ok, err := s.loadDigest(ctx, tx, table)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: no integrity digest (the store was not opened with its key since the upgrade): %w", table, ErrIntegrity)
	}
	sl, err := s.digestSealer(d.gen)
	if err != nil {
		return err
	}
	if old != nil {
		it := sl.DigestItem(old)
		xorInto(&d.x, &it)
		d.count--
	}
	if new != nil {
		it := sl.DigestItem(new)
		xorInto(&d.x, &it)
		d.count++
	}
	return s.storeDigest(ctx, tx, table, d)
}

func xorInto(dst, src *[sha256.Size]byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}

// sumTags is the digest of table's rows as they are, under gen's key.
func (s *Store) sumTags(ctx context.Context, q querier, table string, gen uint32) (digest, error) {
	sl, err := s.digestSealer(gen)
	if err != nil {
		return digest{}, err
	}
	rows, err := q.QueryContext(ctx, "SELECT tag FROM "+table+" WHERE tag IS NOT NULL")
	if err != nil {
		return digest{}, err
	}
	defer rows.Close()
	d := digest{gen: gen}
	for rows.Next() {
		var tag []byte
		if err := rows.Scan(&tag); err != nil {
			return digest{}, err
		}
		it := sl.DigestItem(tag)
		xorInto(&d.x, &it)
		d.count++
	}
	return d, rows.Err()
}

// verifyDigest checks table's stored digest against its rows: a row
// deleted, added or put back from an older copy shows here.
func (s *Store) verifyDigest(ctx context.Context, q querier, table string) error {
	d, ok, err := s.loadDigest(ctx, q, table)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: no integrity digest: %w", table, ErrIntegrity)
	}
	if d.tainted {
		return fmt.Errorf("%s: a digest mismatch was found before and not yet accepted by an admin: %w", table, ErrIntegrity)
	}
	got, err := s.sumTags(ctx, q, table, d.gen)
	if err != nil {
		return err
	}
	var n int64
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		return err
	}
	if got.x != d.x || got.count != d.count || n != d.count {
		return fmt.Errorf("%s: rows were deleted, added or put back from an older copy (%d rows, %d expected): %w", table, n, d.count, ErrIntegrity)
	}
	return nil
}

// tagExisting gives every row of the tagged tables its first tag and each
// table its digest, once, at the first open after the upgrade that brought
// them (the migration cannot: it has no key). One transaction per table,
// so a crash redoes only the table it was in. A table that already has a
// tagged row but no digest is not tagged again: that would bless whatever
// was changed since; it fails its check instead.
func (s *Store) tagExisting(ctx context.Context) error {
	for _, sp := range tagSpecs {
		err := inTx(ctx, s.w, func(tx *sql.Tx) error {
			if _, ok, err := s.loadDigest(ctx, tx, sp.table); err != nil || ok {
				return err
			}
			var tagged int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+sp.table+" WHERE tag IS NOT NULL").Scan(&tagged); err != nil {
				return err
			}
			if tagged > 0 {
				s.log.Error("integrity digest missing on a table whose rows are tagged; not re-creating it (run smsd doctor)", "table", sp.table)
				return nil
			}
			rows, err := tx.QueryContext(ctx, "SELECT id FROM "+sp.table+" ORDER BY id")
			if err != nil {
				return err
			}
			var ids []int64
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if err := s.storeDigest(ctx, tx, sp.table, digest{gen: s.current().Gen()}); err != nil {
				return err
			}
			for _, id := range ids {
				if err := s.retag(ctx, tx, sp.table, id); err != nil {
					return err
				}
			}
			if len(ids) > 0 {
				s.log.Warn("integrity tags computed for existing rows (first start after the upgrade)", "table", sp.table, "rows", len(ids))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("integrity tags for %s: %w", sp.table, err)
		}
	}
	return nil
}

// quarantine takes message id out of the queue for good (failed,
// "integrity") without re-tagging it: it keeps failing its check, so
// doctor lists it until an admin dismisses it.
func (s *Store) quarantine(ctx context.Context, tx *sql.Tx, id int64, why error) error {
	if _, err := tx.ExecContext(ctx, "UPDATE messages SET state = 'failed', last_error = ?, updated_at = ? WHERE id = ?",
		IntegrityCode, ms(s.now()), id); err != nil {
		return err
	}
	s.log.Error("message quarantined: it failed its integrity check and will not be sent (run smsd doctor)", "id", id, "err", why)
	return nil
}

// Quarantined counts the messages quarantined for failing their
// integrity check and not yet dismissed.
func (s *Store) Quarantined(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM messages WHERE state = 'failed' AND last_error = ?", IntegrityCode).Scan(&n)
	return n, err
}

// IntegrityProblem is one finding of CheckIntegrity. It names a table and a
// row id (0 for a whole table), never content.
type IntegrityProblem struct {
	Table       string
	ID          int64
	Problem     string
	Quarantined bool // a message already taken out of the queue
}

// CheckIntegrity checks every tagged row and every table digest, and
// returns what failed (nil when all is well). It reads only.
func (s *Store) CheckIntegrity(ctx context.Context) ([]IntegrityProblem, error) {
	var out []IntegrityProblem
	for _, sp := range tagSpecs {
		if err := s.verifyDigest(ctx, s.r, sp.table); err != nil {
			if !errors.Is(err, ErrIntegrity) {
				return nil, err
			}
			out = append(out, IntegrityProblem{Table: sp.table, Problem: strings.TrimSuffix(err.Error(), ": "+ErrIntegrity.Error())})
		}
		rows, err := s.r.QueryContext(ctx, "SELECT id FROM "+sp.table+" ORDER BY id")
		if err != nil {
			return nil, err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			ids = append(ids, id)
		}
		rows.Close()
		for _, id := range ids {
			err := s.verifyRow(ctx, s.r, sp.table, id)
			if err == nil && sp.table == "messages" {
				err = s.openMessage(ctx, s.r, id)
			}
			if err == nil {
				continue
			}
			if !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrTampered) {
				return nil, err
			}
			p := IntegrityProblem{Table: sp.table, ID: id, Problem: "row fails its integrity tag"}
			if errors.Is(err, ErrTampered) {
				p.Problem = "sealed cell does not open"
			}
			if sp.table == "messages" {
				var st, le string
				if err := s.r.QueryRowContext(ctx, "SELECT state, last_error FROM messages WHERE id = ?", id).Scan(&st, &le); err == nil {
					p.Quarantined = st == string(Failed) && le == IntegrityCode
				}
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// openMessage opens message id's sealed cells, to tell a cell that no
// longer opens (garbage, another key) from one that does.
func (s *Store) openMessage(ctx context.Context, q querier, id int64) error {
	var toS, textS []byte
	if err := q.QueryRowContext(ctx, "SELECT to_sealed, text_sealed FROM messages WHERE id = ?", id).Scan(&toS, &textS); err != nil {
		return err
	}
	if _, err := s.open(toS, "messages", "to_sealed", id); err != nil {
		return err
	}
	_, err := s.open(textS, "messages", "text_sealed", id)
	return err
}

// DismissQuarantined is an admin's decision about a quarantined message:
// its content, which cannot be trusted, is erased, and it stays failed
// ("integrity_dismissed"), tagged again so that it no longer shows as a
// problem. Only a quarantined message can be dismissed.
func (s *Store) DismissQuarantined(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var st, le string
		err := tx.QueryRowContext(ctx, "SELECT state, last_error FROM messages WHERE id = ?", id).Scan(&st, &le)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("message %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if st != string(Failed) || le != IntegrityCode {
			return &TransitionError{ID: id, From: State(st), Op: "dismiss quarantined (only a message quarantined for integrity)"}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM message_parts WHERE message_id = ?", id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET to_sealed = NULL, text_sealed = NULL, to_index = NULL, idem_index = NULL,
			last_error = 'integrity_dismissed', purged_at = ?, updated_at = ? WHERE id = ?`, ms(s.now()), ms(s.now()), id); err != nil {
			return err
		}
		return s.retag(ctx, tx, "messages", id)
	})
}

// AcceptDigest is an admin's decision, after CheckIntegrity reported a
// table digest mismatch and the rows were reviewed: the digest is computed
// again from the rows as they are now.
func (s *Store) AcceptDigest(ctx context.Context, table string) error {
	if _, ok := specFor(table); !ok {
		return fmt.Errorf("table %q has no integrity digest (users, messages, optouts, settings)", table)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		d, err := s.sumTags(ctx, tx, table, s.current().Gen())
		if err != nil {
			return err
		}
		return s.storeDigest(ctx, tx, table, d)
	})
}

// redigest recomputes every digest under the current key at the end of a
// rotation; a digest that did not match before stays marked (tainted), so
// that a rotation never blesses a rollback.
func (s *Store) redigest(ctx context.Context, tx *sql.Tx) error {
	cur := s.current().Gen()
	for _, sp := range tagSpecs {
		bad := s.verifyDigest(ctx, tx, sp.table) != nil
		d, err := s.sumTags(ctx, tx, sp.table, cur)
		if err != nil {
			return err
		}
		d.tainted = bad
		if err := s.storeDigest(ctx, tx, sp.table, d); err != nil {
			return err
		}
	}
	return nil
}

// idsWhere returns the ids a query selects.
func idsWhere(ctx context.Context, q querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
