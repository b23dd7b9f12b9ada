package queue

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

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
	{"sessions", []string{"public_id", "token_hash", "user_id", "stage", "created_at", "last_seen", "idle_expires", "expires", "addr_sealed", "pending_sealed"}, false},
	{"user_auth", []string{"must_change", "totp_required", "fail_window_start", "last_login_at", "last_login_addr_sealed", "recovery_sealed", "totp_last_step"}, false},
	// api_tokens: last_used_at is left out, so that noting a use (at most
	// once a minute) needs no new tag; it decides nothing.
	{"api_tokens", []string{"name", "secret_hash", "created_by", "created_at", "revoked_at"}, false},
	// Reminders (issue 15, appointments.go): an appointment's time, state
	// and answer decide its reminders; a template's reminder flag decides
	// what they say; an import's index decides that a file is not imported
	// twice.
	{"appointments", appointmentTagCols, false},
	{"templates", []string{"name", "language", "reminder", "body_sealed"}, false},
	{"imports", []string{"digest_index", "digest_sealed", "file_name_sealed", "created_by"}, false},
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
	r, err := readRow(ctx, q, sp, "id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil, fmt.Errorf("%s %d: %w", sp.table, id, ErrNotFound)
	}
	if err != nil {
		return 0, nil, nil, err
	}
	if r.malformed {
		return 0, nil, nil, r.malformedErr()
	}
	return r.rv, r.tag, r.fields(), nil
}

// taggedRow is one read of a tagged row: everything its check and its next
// tag need, so that a transition reads the row once and writes it once.
type taggedRow struct {
	sp        tagSpec
	id        int64
	rv        int64
	tag       []byte
	vals      []any    // the tagged columns as read, in sp.cols order
	parts     []string // messages: one line per part, by seq, as tagged
	malformed bool     // the parts did not read back as one line each
}

func (r *taggedRow) malformedErr() error {
	return fmt.Errorf("%s %d: malformed parts: %w", r.sp.table, r.id, ErrIntegrity)
}

// val is the value of tagged column col as read.
func (r *taggedRow) val(col string) any { return r.vals[r.sp.colIndex(col)] }

// fieldsOf encodes vals and parts in tag order.
func fieldsOf(vals []any, parts []string) [][]byte {
	n := 0
	for _, v := range vals {
		n += encodedLen(v)
	}
	for _, l := range parts {
		n += len(l)
	}
	buf := make([]byte, 0, n) // one allocation for all the fields
	fields := make([][]byte, 0, len(vals)+len(parts))
	for _, v := range vals {
		start := len(buf)
		buf = appendField(buf, v)
		fields = append(fields, buf[start:len(buf):len(buf)])
	}
	for _, l := range parts {
		start := len(buf)
		buf = append(buf, l...)
		fields = append(fields, buf[start:len(buf):len(buf)])
	}
	return fields
}

// encodedLen is the length of encodeField(v) (a guess for other types).
func encodedLen(v any) int {
	switch x := v.(type) {
	case nil:
		return 1
	case int64, bool:
		return 9
	case []byte:
		return 1 + len(x)
	case string:
		return 1 + len(x)
	default:
		return 16
	}
}

// appendField appends encodeField(v) to b.
func appendField(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 0)
	case int64:
		return binary.BigEndian.AppendUint64(append(b, 1), uint64(x))
	case bool:
		if x {
			return binary.BigEndian.AppendUint64(append(b, 1), 1)
		}
		return binary.BigEndian.AppendUint64(append(b, 1), 0)
	case []byte:
		return append(append(b, 2), x...)
	case string:
		return append(append(b, 2), x...)
	default:
		return append(b, encodeField(v)...)
	}
}

// fields are the row's tagged fields as read.
func (r *taggedRow) fields() [][]byte { return fieldsOf(r.vals, r.parts) }

// readRow reads the first row of sp.table that where (over the table's own
// columns, with args) selects: its id, version, tag, tagged columns and
// (messages) parts, in one statement. No row is sql.ErrNoRows.
func readRow(ctx context.Context, q querier, sp tagSpec, where string, args ...any) (*taggedRow, error) {
	return readRowWith(ctx, q, sp, nil, nil, where, args...)
}

// readRowWith is readRow that also scans the untagged columns more into
// moreDest, in the same statement: a caller that needs them (Claim, for
// the message it returns) does not read the row a second time.
func readRowWith(ctx context.Context, q querier, sp tagSpec, more []string, moreDest []any, where string, args ...any) (*taggedRow, error) {
	r := &taggedRow{sp: sp, vals: make([]any, len(sp.cols))}
	dest := make([]any, 0, 5+len(r.vals)+len(more))
	dest = append(dest, &r.id, &r.rv, &r.tag)
	for i := range r.vals {
		dest = append(dest, &r.vals[i])
	}
	query := "SELECT id, rv, tag, " + strings.Join(sp.cols, ", ")
	if len(more) > 0 {
		query += ", " + strings.Join(more, ", ")
		dest = append(dest, moreDest...)
	}
	var nparts int64
	var parts sql.NullString
	if sp.parts {
		// The message's parts in the same statement, one line each, in
		// the form they are tagged in, with their count: a line break
		// inside a part's report cannot pass for two parts.
		query += `,
			(SELECT COUNT(*) FROM message_parts WHERE message_id = ` + sp.table + `.id),
			(SELECT group_concat(printf('part %d/%d mr %d report %s', seq, total, mr, report), char(10) ORDER BY seq)
				FROM message_parts WHERE message_id = ` + sp.table + `.id)`
		dest = append(dest, &nparts, &parts)
	}
	query += " FROM " + sp.table + " WHERE " + where
	if err := q.QueryRowContext(ctx, query, args...).Scan(dest...); err != nil {
		return nil, err
	}
	if nparts > 0 {
		r.parts = strings.Split(parts.String, "\n")
		if int64(len(r.parts)) != nparts {
			r.parts, r.malformed = nil, true
		}
	}
	return r, nil
}

// checkRow checks a row as read against its tag.
func (s *Store) checkRow(r *taggedRow) error {
	if r.malformed {
		return r.malformedErr()
	}
	return s.checkTag(r.sp.table, r.id, r.rv, r.tag, r.fields())
}

// colVal is a tagged column's new value, as it will read back (an int64,
// a string or []byte, or nil).
type colVal struct {
	col string
	val any
}

// rowWrite is what a transition changes in a row it read (taggedRow):
// set, the tagged columns; parts, the message's part lines when they
// changed (nil: as read); extra, more assignments of untagged columns, with
// args.
type rowWrite struct {
	set   []colVal
	parts []string
	extra string
	args  []any
}

// writeRow writes w to row r, read and checked (checkRow) earlier in tx,
// with its next version and the tag of its new values, in one statement,
// and moves the table digest along. The tagged columns are set to exactly
// the values tagged; the sealed cells and other tagged columns are not
// written, and are tagged as read. The write requires the version read:
// a row changed in between is not tagged blind.
func (s *Store) writeRow(ctx context.Context, tx *sql.Tx, r *taggedRow, w rowWrite) error {
	vals := append([]any(nil), r.vals...)
	var q strings.Builder
	q.WriteString("UPDATE " + r.sp.table + " SET ")
	args := make([]any, 0, len(w.set)+len(w.args)+4)
	for _, cv := range w.set {
		vals[r.sp.colIndex(cv.col)] = cv.val
		q.WriteString(cv.col + " = ?, ")
		args = append(args, cv.val)
	}
	if w.extra != "" {
		q.WriteString(w.extra + ", ")
		args = append(args, w.args...)
	}
	parts := r.parts
	if w.parts != nil {
		parts = w.parts
	}
	tag := s.current().RowTag(r.sp.table, r.id, r.rv+1, fieldsOf(vals, parts))
	q.WriteString("rv = ?, tag = ? WHERE id = ? AND rv = ?")
	args = append(args, r.rv+1, tag, r.id, r.rv)
	res, err := tx.ExecContext(ctx, q.String(), args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return fmt.Errorf("%s %d: changed while being written: %w", r.sp.table, r.id, ErrIntegrity)
	}
	return s.digestSwap(ctx, tx, r.sp.table, r.tag, tag)
}

// partLine is a part as it is tagged (readRow's printf).
func partLine(seq, total, mr int64, report string) string {
	return fmt.Sprintf("part %d/%d mr %d report %s", seq, total, mr, report)
}

// partReport is the report of a part line.
func partReport(line string) string {
	_, rep, _ := strings.Cut(line, " report ")
	return rep
}

// partNums is the seq, total and mr of a part line.
func partNums(line string) (seq, total, mr int64, ok bool) {
	n, err := fmt.Sscanf(line, "part %d/%d mr %d", &seq, &total, &mr)
	return seq, total, mr, err == nil && n == 3
}

// colIndex is the position of column col in sp.cols (it must be there).
func (sp tagSpec) colIndex(col string) int {
	for i, c := range sp.cols {
		if c == col {
			return i
		}
	}
	panic("queue: " + sp.table + " has no tagged column " + col)
}

// verifyRow checks row id of table against its tag. A failure wraps
// ErrIntegrity and names the table and id, nothing else.
func (s *Store) verifyRow(ctx context.Context, q querier, table string, id int64) error {
	sp, _ := specFor(table)
	r, err := readRow(ctx, q, sp, "id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %d: %w", sp.table, id, ErrNotFound)
	}
	if err != nil {
		return err
	}
	return s.checkRow(r)
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

// tagNew is the tag of a row about to be inserted as id with version 1
// and the tagged column values vals (in the table's tag order; no parts),
// already counted in the table's digest: the caller inserts the row with
// rv = 1 and this tag in the same transaction. The values must be those
// the row will read back as (an int64, a string or []byte, or nil).
func (s *Store) tagNew(ctx context.Context, tx *sql.Tx, table string, id int64, vals ...any) ([]byte, error) {
	sp, _ := specFor(table)
	if len(vals) != len(sp.cols) {
		return nil, fmt.Errorf("tag new %s row: %d values for %d columns", table, len(vals), len(sp.cols))
	}
	tag := s.current().RowTag(table, id, 1, fieldsOf(vals, nil))
	if err := s.digestSwap(ctx, tx, table, nil, tag); err != nil {
		return nil, err
	}
	return tag, nil
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
// The XOR lets a write take a row's old item out and put its new one in
// without reading any other row.
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

// writeDigest stores d as table's digest in tx, sealed under the current key.
func (s *Store) writeDigest(ctx context.Context, tx *sql.Tx, table string, d digest) error {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, digestLen), d.gen)
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

// storeDigest makes d table's digest in tx. verified says that d was just
// computed from the rows as they are in tx (and is not tainted).
func (s *Store) storeDigest(ctx context.Context, tx *sql.Tx, table string, d digest, verified bool) error {
	td := s.txDigestsOf(tx)
	if td == nil {
		s.invalidateDigests()
		return s.writeDigest(ctx, tx, table, d)
	}
	if err := td.load(ctx, tx, s); err != nil {
		return err
	}
	td.tables[table] = &digestState{d: d, exists: true, verified: verified && !d.tainted, dirty: true}
	return nil
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
// In a transaction of s.tx the digest is changed in memory and written
// once, when the transaction ends (flushDigests).
func (s *Store) digestSwap(ctx context.Context, tx *sql.Tx, table string, old, new []byte) error {
	st, err := s.digestIn(ctx, tx, table)
	if err != nil {
		return err
	}
	if !st.exists {
		return fmt.Errorf("%s: no integrity digest (the store was not opened with its key since the upgrade): %w", table, ErrIntegrity)
	}
	sl, err := s.digestSealer(st.d.gen)
	if err != nil {
		return err
	}
	if old != nil {
		it := sl.DigestItem(old)
		xorInto(&st.d.x, &it)
		st.d.count--
	}
	if new != nil {
		it := sl.DigestItem(new)
		xorInto(&st.d.x, &it)
		st.d.count++
	}
	st.dirty = true
	if s.txDigestsOf(tx) == nil {
		s.invalidateDigests()
		return s.writeDigest(ctx, tx, table, st.d)
	}
	return nil
}

func xorInto(dst, src *[sha256.Size]byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}

// The digest cache. Loading, opening, re-sealing and writing a table's
// digest on every row write, and summing every opt-out's tag on every
// Enqueue and Claim, cost more than the writes themselves. The store keeps
// what its last committed transaction left of each digest instead, and
// whether it was checked against every row since. That copy is only used
// while nobody else wrote the file: SQLite's PRAGMA data_version, read on
// the one writer connection inside each transaction, changes exactly when
// another connection (the CLI opening the store itself, a restored file,
// sqlite3 in a shell) committed since this connection last looked. Then
// the digests are read again and checked again against the rows. A
// transaction that fails drops the whole copy, so a rolled-back change, or
// a writer connection that database/sql replaced after a cancelled
// transaction, is never trusted.
//
// What is left per transaction (measured for issue 11 with the cpu-us/op
// and wB/op of BenchmarkEnqueue and BenchmarkClaimMarkSent): writing the
// digest costs one WAL frame (a 4 KiB page) more than the rows alone, +20 %
// bytes written per Enqueue and +36 % per claim, part and sent, and nearly
// all the CPU the tags added on a real disk; the data_version read (about
// 10 µs) and sealing the digest (about 1 µs) are each under 2 % of an op.
// The frame is the price of keeping the digest outside the table's pages:
// row_digests is one page already (every table's digest row shares it, so
// one row for all tables would save nothing), and no page that Claim or
// MarkSent write anyway belongs to another table. A digest carried in the
// table's own rows (in the row a transaction writes) would save the frame,
// but then rows put back from an older copy would bring their digest
// along, and one table's rows rolled back on their own would no longer
// show; PRAGMA data_version is needed while other connections may write
// (the CLI opening the store, sqlite3 on the live file), which the
// dispatcher lock does not exclude.
//
// Measured again at schema 12 (interleaved with the store before the
// tags, 8 rounds): per Enqueue 33.7 KB written against 24.7 KB, of which
// the digest frame is about 4.7 KB and messages_state (schema 9, the
// outbox, not the tags) about 4.8 KB; per claim, part and sent 57.5 KB
// against 40.5 KB, three digest frames (12.4 KB) of it. Claim reads its row
// once (readRowWith) and messages_due holds queued messages only, so the
// state index is the only one a claim and a mark-sent move an entry in.
// The driver caches prepared statements (_stmt_cache_size): a
// database/sql Stmt per hot statement would save only the cache lookup.

// digestState is what one transaction knows of one table's digest.
type digestState struct {
	d        digest
	exists   bool
	verified bool // checked against every row (and not tainted); only this store wrote since
	dirty    bool // changed in this transaction: written when it ends
}

// txDigests is one write transaction's view of the digests: the tables it
// looked at, each copied from the cache (when cached) or read from the
// file when first needed. Only those are copied, not the whole cache.
type txDigests struct {
	loaded bool
	cached bool  // the cached copy was valid for dv: a table not yet in tables comes from it
	dv     int64 // the writer connection's data_version in this transaction
	tables map[string]*digestState
}

// digestCache is what the last committed write transaction of this store
// left of the digests.
type digestCache struct {
	txMu   sync.Mutex // held across each s.tx: the copy changes only at its end
	mu     sync.Mutex
	valid  bool
	dv     int64
	tables map[string]digestState
	txs    map[*sql.Tx]*txDigests
}

// load reads the connection's data_version once per transaction and
// starts from the cached digests when nobody else wrote since.
func (td *txDigests) load(ctx context.Context, tx *sql.Tx, s *Store) error {
	if td.loaded {
		return nil
	}
	var dv int64
	if err := tx.QueryRowContext(ctx, "PRAGMA data_version").Scan(&dv); err != nil {
		return err
	}
	td.tables = make(map[string]*digestState, 2)
	s.dc.mu.Lock()
	td.cached = s.dc.valid && s.dc.dv == dv
	s.dc.mu.Unlock()
	td.dv, td.loaded = dv, true
	return nil
}

// fromCache is a copy of table's cached digest state, when tx may use the
// cache (load found it valid for its data_version, and it still is).
func (td *txDigests) fromCache(s *Store, table string) (*digestState, bool) {
	if !td.cached {
		return nil, false
	}
	s.dc.mu.Lock()
	defer s.dc.mu.Unlock()
	if !s.dc.valid || s.dc.dv != td.dv {
		return nil, false
	}
	c, ok := s.dc.tables[table]
	if !ok {
		return nil, false
	}
	return &c, true
}

// txDigestsOf is tx's view, or nil when tx is not one of s.tx.
func (s *Store) txDigestsOf(tx *sql.Tx) *txDigests {
	s.dc.mu.Lock()
	defer s.dc.mu.Unlock()
	return s.dc.txs[tx]
}

// digestIn is table's digest as it stands in tx (q, when it is not a
// transaction of s.tx: read from the file).
func (s *Store) digestIn(ctx context.Context, q querier, table string) (*digestState, error) {
	var td *txDigests
	if tx, ok := q.(*sql.Tx); ok {
		td = s.txDigestsOf(tx)
		if td != nil {
			if err := td.load(ctx, tx, s); err != nil {
				return nil, err
			}
			if st := td.tables[table]; st != nil {
				return st, nil
			}
			if st, ok := td.fromCache(s, table); ok {
				td.tables[table] = st
				return st, nil
			}
		}
	}
	d, ok, err := s.loadDigest(ctx, q, table)
	if err != nil {
		return nil, err
	}
	st := &digestState{d: d, exists: ok}
	if td != nil {
		td.tables[table] = st
	}
	return st, nil
}

// beginDigests registers tx as a transaction of s.tx.
func (s *Store) beginDigests(tx *sql.Tx) *txDigests {
	td := &txDigests{}
	s.dc.mu.Lock()
	if s.dc.txs == nil {
		s.dc.txs = map[*sql.Tx]*txDigests{}
	}
	s.dc.txs[tx] = td
	s.dc.mu.Unlock()
	return td
}

// flushDigests writes the digests tx changed, once each, and unregisters tx.
func (s *Store) flushDigests(ctx context.Context, tx *sql.Tx, td *txDigests) error {
	for t, st := range td.tables {
		if st.dirty {
			if err := s.writeDigest(ctx, tx, t, st.d); err != nil {
				return err
			}
		}
	}
	return nil
}

// endDigests unregisters tx; when it committed, its digests become the
// cached copy, otherwise the copy is dropped.
func (s *Store) endDigests(tx *sql.Tx, td *txDigests, committed bool) {
	s.dc.mu.Lock()
	defer s.dc.mu.Unlock()
	delete(s.dc.txs, tx)
	if !committed {
		s.dc.valid, s.dc.tables = false, nil
		return
	}
	if !td.loaded {
		return // no digest touched: the copy is as it was
	}
	// The tables tx looked at replace theirs in the copy; the others are
	// kept only when tx started from the copy (same data_version), so
	// that nothing another connection wrote is ever taken as current.
	if !td.cached || !s.dc.valid || s.dc.dv != td.dv || s.dc.tables == nil {
		s.dc.tables = make(map[string]digestState, len(tagSpecs))
	}
	for t, st := range td.tables {
		c := *st
		c.dirty = false
		s.dc.tables[t] = c
	}
	s.dc.valid, s.dc.dv = true, td.dv
}

// invalidateDigests drops the cached copy (a digest was written outside
// s.tx).
func (s *Store) invalidateDigests() {
	s.dc.mu.Lock()
	s.dc.valid, s.dc.tables = false, nil
	s.dc.mu.Unlock()
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
// deleted, added or put back from an older copy shows here. In a
// transaction of s.tx a digest checked before, with only this store
// writing since, is not summed again.
func (s *Store) verifyDigest(ctx context.Context, q querier, table string) error {
	if _, ok := q.(*sql.DB); ok {
		return s.inSnapshot(ctx, q, func(tx querier) error { return s.verifyDigest(ctx, tx, table) })
	}
	st, err := s.digestIn(ctx, q, table)
	if err != nil {
		return err
	}
	if st.verified {
		return nil
	}
	d := st.d
	if !st.exists {
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
	st.verified = true
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
		err := s.tx(ctx, func(tx *sql.Tx) error {
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
			if err := s.storeDigest(ctx, tx, sp.table, digest{gen: s.current().Gen()}, true); err != nil {
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
		return s.storeDigest(ctx, tx, table, d, true)
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
		if err := s.storeDigest(ctx, tx, sp.table, d, !bad); err != nil {
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
