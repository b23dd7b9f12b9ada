package queue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/mask"
)

// State is a message's place in its life; see the package documentation.
type State string

// The states of an outgoing message.
const (
	Queued      State = "queued"
	Sending     State = "sending"
	Sent        State = "sent"
	Delivered   State = "delivered"
	Undelivered State = "undelivered"
	Failed      State = "failed"
	Uncertain   State = "uncertain"
	Cancelled   State = "cancelled"
)

// States lists every state, in life order.
var States = []State{Queued, Sending, Sent, Delivered, Undelivered, Failed, Uncertain, Cancelled}

// MaxTextBytes bounds a message text (the modem caps parts anyway; this keeps
// a mistaken paste of a file out of the database).
const MaxTextBytes = 4096

// NewMessage is what Enqueue takes.
type NewMessage struct {
	To   string // any format phonenumbers understands; normalised to E.164
	Text string
	// SendAt schedules the message; zero means now.
	SendAt time.Time
	// IdempotencyKey, if set, makes Enqueue return the existing message when
	// the same key was used before (stored only as a keyed hash).
	IdempotencyKey string
	CreatedBy      string // user name, for the UI and audit; not PHI
	// OptOutConfirmation marks the one text that confirms an opt-out, the
	// only message the store queues and sends to an opted-out number (47
	// CFR 64.1200(a)(10) allows one such text, within five minutes). Its
	// CreatedBy becomes OptOutConfirmationBy, which no other message may
	// carry; the dispatcher queues it once per opt-out.
	OptOutConfirmation bool
}

// OptOutConfirmationBy is the CreatedBy of opt-out confirmations (and of
// nothing else): Claim lets them through to an opted-out number, within
// OptOutConfirmationWindow of their creation. created_by is in the row's
// integrity tag, so it cannot be set on another row from outside.
const OptOutConfirmationBy = "smsd:optout"

// OptOutConfirmationWindow is how long an opt-out confirmation may wait
// (quiet hours, a modem away) before it is dropped as failed: the rule
// allows it within five minutes of the opt-out.
const OptOutConfirmationWindow = 5 * time.Minute

// Message is an outgoing message as stored. To and Text are "" once the
// content was purged (Purged set).
type Message struct {
	ID            int64
	To, Text      string
	State         State
	CreatedAt     time.Time
	SendAt        time.Time
	NextAttemptAt time.Time
	UpdatedAt     time.Time
	Attempts      int
	LastError     string // an error code or short reason; never PHI
	Reference     uint16 // concatenation reference; 0 until first claimed
	PartsTotal    int
	PartsAccepted []int // 1-based seqs the SMSC accepted
	PartMRs       map[int]int
	ModemID       string
	CreatedBy     string
	Purged        bool
	// Existing is set only by Enqueue and EnqueueBatch: the idempotency key
	// matched a message stored before, which is returned; nothing was added.
	Existing bool
	// Damaged is set only by List: the message's sealed number or text did
	// not open (changed without the key, or damaged), so To and Text are
	// empty. The page lists it rather than failing; `smsd doctor` names it.
	Damaged bool
}

// NormalizeNumber parses a phone number (region used when it has no country
// code) and returns it as E.164. It checks the number is possible (length
// for the country) rather than currently assigned, because the metadata of
// assigned ranges ages between releases and rejects reserved test ranges.
// Errors wrap ErrInvalidNumber and show the number masked.
func NormalizeNumber(number, region string) (string, error) {
	e, _, err := normalizeNumber(number, region)
	return e, err
}

// NormalizeRecipient is NormalizeNumber for a number smsd is to send to
// (a message, an appointment, an opt-out typed by staff): a number that is
// possible only locally, a US number without its area code ("555-1234"),
// is refused too. NormalizeNumber turns it into "+15551234", which no
// phone has: a reminder to it would fail at the network, and an opt-out of
// it would leave the patient's real number opted in. Lookups (a search, an
// opt-in, a status report) keep NormalizeNumber, so a number stored before
// this rule still matches.
func NormalizeRecipient(number, region string) (string, error) {
	e, localOnly, err := normalizeNumber(number, region)
	if err == nil && localOnly {
		return "", fmt.Errorf("%w %s: it has no area code (write it in full, e.g. +1 555 123 4567)", ErrInvalidNumber, mask.Number(strings.TrimSpace(number)))
	}
	return e, err
}

// normalizeNumber is NormalizeNumber, and whether the number is possible
// only locally (NormalizeRecipient's rule, from the same parse: a parse
// is most of an Enqueue's CPU).
func normalizeNumber(number, region string) (e string, localOnly bool, err error) {
	n := strings.TrimSpace(number)
	if n == "" {
		return "", false, fmt.Errorf("%w: empty", ErrInvalidNumber)
	}
	if len(n) > 40 {
		return "", false, fmt.Errorf("%w: too long", ErrInvalidNumber)
	}
	for _, r := range n {
		if !(r >= '0' && r <= '9') && !strings.ContainsRune("+-(). /", r) {
			return "", false, fmt.Errorf("%w %s: only digits, spaces, + - ( ) . / are allowed", ErrInvalidNumber, mask.Number(n))
		}
	}
	pn, err := phonenumbers.Parse(n, region)
	if err != nil {
		return "", false, fmt.Errorf("%w %s: %v (write it with its country code, e.g. +1 555 123 4567)", ErrInvalidNumber, mask.Number(n), err)
	}
	switch phonenumbers.IsPossibleNumberWithReason(pn) {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		localOnly = true
	default:
		return "", false, fmt.Errorf("%w %s: wrong length for its country (region %s assumed when there is no +country code)", ErrInvalidNumber, mask.Number(n), region)
	}
	e = phonenumbers.Format(pn, phonenumbers.E164)
	if len(e) > 16 { // E.164: at most 15 digits
		return "", false, fmt.Errorf("%w %s: more than the 15 digits an international number can have", ErrInvalidNumber, mask.Number(n))
	}
	// Some odd inputs (international prefixes inside national digits) give
	// an E.164 string that parses back to another number; such a number
	// would never match its status reports or replies. Refuse it.
	if e == n {
		return e, localOnly, nil // already canonical: parsing it again gives it back
	}
	if back, err := phonenumbers.Parse(e, "ZZ"); err != nil || phonenumbers.Format(back, phonenumbers.E164) != e {
		return "", false, fmt.Errorf("%w %s: ambiguous (write it in international form, e.g. +1 555 123 4567)", ErrInvalidNumber, mask.Number(n))
	}
	return e, localOnly, nil
}

// Enqueue validates and stores one message in state queued. The number is
// normalised to E.164; an opted-out number is refused with ErrOptedOut. With
// an IdempotencyKey already used for the same number and text, the existing
// message is returned and nothing is added; for a different one,
// ErrIdempotencyConflict.
func (s *Store) Enqueue(ctx context.Context, m NewMessage) (Message, error) {
	var out Message
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.checkOptOuts(ctx, tx); err != nil {
			return err
		}
		next, err := nextID(ctx, tx, "messages")
		if err != nil {
			return err
		}
		out, _, err = s.enqueueTx(ctx, tx, m, next)
		if rec := audit.FromContext(ctx); rec != nil && err == nil {
			rec.SetObject("message", strconv.FormatInt(out.ID, 10))
			detail := "to=" + mask.Number(out.To)
			if out.Existing {
				detail += " existing (same idempotency key)"
			}
			rec.AddDetail(detail)
		}
		return err
	})
	if err != nil {
		return Message{}, err
	}
	s.notify()
	return out, nil
}

// BatchResult is one item of EnqueueBatch: the message, or why it was refused.
type BatchResult struct {
	Message Message
	Err     error // ErrInvalidNumber, ErrOptedOut, ErrIdempotencyConflict, or a text error
}

// EnqueueBatch enqueues many messages in one transaction (a day's reminder
// list). Items refused for their own reason (invalid number, opted out, bad
// text) are reported in their BatchResult and do not stop the others; a
// storage error rolls back the whole batch and is returned.
func (s *Store) EnqueueBatch(ctx context.Context, ms []NewMessage) ([]BatchResult, error) {
	out := make([]BatchResult, len(ms))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.checkOptOuts(ctx, tx); err != nil {
			return err
		}
		next, err := nextID(ctx, tx, "messages")
		if err != nil {
			return err
		}
		for i, m := range ms {
			msg, inserted, err := s.enqueueTx(ctx, tx, m, next)
			if err != nil && !isItemError(err) {
				return fmt.Errorf("batch item %d: %w", i, err)
			}
			out[i] = BatchResult{Message: msg, Err: err}
			if inserted {
				next++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.notify()
	return out, nil
}

func isItemError(err error) bool {
	return errors.Is(err, ErrInvalidNumber) || errors.Is(err, ErrOptedOut) || errors.Is(err, ErrIdempotencyConflict) || errors.Is(err, errBadText)
}

var errBadText = errors.New("bad message text")

func nextID(ctx context.Context, tx *sql.Tx, table string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) + 1 FROM "+table).Scan(&id)
	return id, err
}

// enqueueTx inserts m as row id (if not a duplicate) in tx.
func (s *Store) enqueueTx(ctx context.Context, tx *sql.Tx, m NewMessage, id int64) (Message, bool, error) {
	to, err := NormalizeRecipient(m.To, s.opt.DefaultRegion)
	if err != nil {
		return Message{}, false, err
	}
	if strings.TrimSpace(m.Text) == "" {
		return Message{}, false, fmt.Errorf("%w: the text is empty", errBadText)
	}
	if len(m.Text) > MaxTextBytes || !utf8.ValidString(m.Text) {
		return Message{}, false, fmt.Errorf("%w: the text is longer than %d bytes or not valid UTF-8", errBadText, MaxTextBytes)
	}
	idx := s.indexes(to)
	var idem []byte
	if m.IdempotencyKey != "" {
		idems := s.idemIndexes(m.IdempotencyKey)
		idem = idems[0]
		q, args := inList("SELECT id FROM messages WHERE idem_index IN ", idems)
		var existing int64
		err := tx.QueryRowContext(ctx, q, args...).Scan(&existing)
		if err == nil {
			old, err := s.getTx(ctx, tx, existing)
			if err != nil {
				return Message{}, false, err
			}
			if old.Purged || old.To != to || old.Text != m.Text {
				return Message{}, false, fmt.Errorf("message %d: %w", existing, ErrIdempotencyConflict)
			}
			old.Existing = true
			return old, false, nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return Message{}, false, err
		}
	}
	switch {
	case m.OptOutConfirmation:
		m.CreatedBy = OptOutConfirmationBy
	case m.CreatedBy == OptOutConfirmationBy:
		return Message{}, false, fmt.Errorf("%w: created_by %q is reserved for opt-out confirmations", errBadText, OptOutConfirmationBy)
	}
	if out, err := optedOutTx(ctx, tx, idx); err != nil {
		return Message{}, false, err
	} else if out && !m.OptOutConfirmation {
		return Message{}, false, fmt.Errorf("%w (%s)", ErrOptedOut, mask.Number(to))
	}
	now := s.now()
	sendAt := m.SendAt
	if sendAt.IsZero() {
		sendAt = now
	}
	toS, textS := s.seal([]byte(to), "messages", "to_sealed", id), s.seal([]byte(m.Text), "messages", "text_sealed", id)
	// The row is tagged as it is inserted (version 1), from the values
	// written, without reading it back: state, to_sealed, to_index,
	// text_sealed, attempts, reference, parts_total, created_by, purged_at.
	tag, err := s.tagNew(ctx, tx, "messages", id, string(Queued), toS, idx[0], textS, int64(0), int64(0), int64(0), m.CreatedBy, nil)
	if err != nil {
		return Message{}, false, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO messages (id, state, to_sealed, to_index, text_sealed, idem_index,
		created_at, send_at, next_attempt_at, due_at, updated_at, created_by, rv, tag) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`,
		id, toS, idx[0], textS, idem, ms(now), ms(sendAt), ms(sendAt), ms(sendAt), ms(now), m.CreatedBy, tag)
	if err != nil {
		return Message{}, false, err
	}
	return Message{ID: id, To: to, Text: m.Text, State: Queued, CreatedAt: fromMS(ms(now)), SendAt: fromMS(ms(sendAt)),
		NextAttemptAt: fromMS(ms(sendAt)), UpdatedAt: fromMS(ms(now)), CreatedBy: m.CreatedBy}, true, nil
}

func inList(prefix string, vals [][]byte) (string, []any) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return prefix + "(" + strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",") + ")", args
}

// checkOptOuts checks the opt-out list's digest: an opt-out deleted from
// the file without the key shows here, and then nothing is queued or sent
// (fail closed: a message to someone who said STOP is worse than none).
func (s *Store) checkOptOuts(ctx context.Context, q querier) error {
	if err := s.verifyDigest(ctx, q, "optouts"); err != nil {
		if errors.Is(err, ErrIntegrity) {
			return fmt.Errorf("the opt-out list failed its integrity check, so nothing can be queued or sent until an admin runs `smsd doctor`: %w", err)
		}
		return err
	}
	return nil
}

func optedOutTx(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, idx [][]byte) (bool, error) {
	query, args := inList("SELECT COUNT(*) FROM optouts WHERE number_index IN ", idx)
	var n int
	if err := q.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

const messageCols = `id, state, to_sealed, text_sealed, created_at, send_at, next_attempt_at, updated_at, attempts,
	last_error, reference, parts_total, modem_id, created_by, purged_at`

type scanner interface{ Scan(...any) error }

// scanMessage reads one row of messageCols; with decrypt false, To and Text
// stay empty (listing without opening every row).
func (s *Store) scanMessage(sc scanner, decrypt bool) (Message, error) {
	var m Message
	var toS, textS []byte
	var created, sendAt, next, updated int64
	var ref int64
	var purged sql.NullInt64
	var state string
	if err := sc.Scan(&m.ID, &state, &toS, &textS, &created, &sendAt, &next, &updated, &m.Attempts,
		&m.LastError, &ref, &m.PartsTotal, &m.ModemID, &m.CreatedBy, &purged); err != nil {
		return Message{}, err
	}
	m.State = State(state)
	m.CreatedAt, m.SendAt, m.NextAttemptAt, m.UpdatedAt = fromMS(created), fromMS(sendAt), fromMS(next), fromMS(updated)
	m.Reference = uint16(ref)
	m.Purged = purged.Valid
	if decrypt {
		// On failure m keeps its clear columns (a listing shows the row as
		// Damaged) and neither cell.
		to, err := s.open(toS, "messages", "to_sealed", m.ID)
		if err != nil {
			return m, err
		}
		text, err := s.open(textS, "messages", "text_sealed", m.ID)
		if err != nil {
			return m, err
		}
		m.To, m.Text = to, text
	}
	return m, nil
}

// unreadable reports whether err is a sealed cell that did not open or a
// row that failed its tag: a listing shows such a row as damaged instead
// of failing the whole page, so one bad row never hides the others.
func unreadable(err error) bool {
	return errors.Is(err, ErrTampered) || errors.Is(err, ErrIntegrity)
}

type querier interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

func (s *Store) getTx(ctx context.Context, q querier, id int64) (Message, error) {
	m, err := s.scanMessage(q.QueryRowContext(ctx, "SELECT "+messageCols+" FROM messages WHERE id = ?", id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Message{}, err
	}
	if err := s.loadParts(ctx, q, &m); err != nil {
		return Message{}, err
	}
	return m, nil
}

func (s *Store) loadParts(ctx context.Context, q querier, m *Message) error {
	rows, err := q.QueryContext(ctx, "SELECT seq, mr FROM message_parts WHERE message_id = ? ORDER BY seq", m.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	m.PartsAccepted = nil
	m.PartMRs = map[int]int{}
	for rows.Next() {
		var seq, mr int
		if err := rows.Scan(&seq, &mr); err != nil {
			return err
		}
		m.PartsAccepted = append(m.PartsAccepted, seq)
		m.PartMRs[seq] = mr
	}
	return rows.Err()
}

// Get returns one message, decrypted. A sealed value that fails to open is
// an error wrapping ErrTampered that names the message id.
func (s *Store) Get(ctx context.Context, id int64) (Message, error) {
	return s.getTx(ctx, s.r, id)
}

// ListFilter selects messages for List. Zero fields do not filter.
type ListFilter struct {
	State        State
	Since, Until time.Time // on CreatedAt: Since <= t < Until
	Limit        int       // default 100, at most 10000
	Offset       int
	// To, an E.164 number (NormalizeNumber), lists only the messages to
	// it, found by blind index: the number is never compared in clear.
	To string
	// BeforeID lists only messages with a smaller id: keyset paging on the
	// primary key, as fast on the last page as on the first.
	BeforeID int64
	// NoContent skips opening To and Text (and parts): for counts, tables
	// and statistics that need no PHI.
	NoContent bool
}

// List returns messages newest first (by id, the order they were queued
// in), filtered on the clear columns (state, creation time, id) and the
// number's blind index by SQL, so only the rows returned are decrypted.
func (s *Store) List(ctx context.Context, f ListFilter) ([]Message, error) {
	var where []string
	var args []any
	if f.To != "" {
		q, a := inList("to_index IN ", s.indexes(f.To))
		where, args = append(where, q), append(args, a...)
	}
	if f.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	if f.State != "" {
		where = append(where, "state = ?")
		args = append(args, string(f.State))
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, ms(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, ms(f.Until))
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 10000)
	q := "SELECT " + messageCols + " FROM messages"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	// By id alone: a page that ends at id N continues with id < N and
	// never skips or repeats a message (created_at can tie, or go back
	// with the clock).
	q += " ORDER BY id DESC LIMIT ? OFFSET ?"
	args = append(args, f.Limit, max(f.Offset, 0))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var out []Message
	for rows.Next() {
		m, err := s.scanMessage(rows, !f.NoContent)
		if err != nil && m.ID != 0 && unreadable(err) {
			m.Damaged, err = true, nil
		}
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !f.NoContent && len(out) > 0 {
		if err := s.loadPartsOf(ctx, s.r, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadPartsOf is loadParts for a page of messages: one query for the page
// rather than one per message.
func (s *Store) loadPartsOf(ctx context.Context, q querier, ms []Message) error {
	byID := make(map[int64]*Message, len(ms))
	args := make([]any, len(ms))
	for i := range ms {
		ms[i].PartsAccepted, ms[i].PartMRs = nil, map[int]int{}
		byID[ms[i].ID] = &ms[i]
		args[i] = ms[i].ID
	}
	rows, err := q.QueryContext(ctx, "SELECT message_id, seq, mr FROM message_parts WHERE message_id IN ("+
		strings.TrimSuffix(strings.Repeat("?,", len(ms)), ",")+") ORDER BY message_id, seq", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var seq, mr int
		if err := rows.Scan(&id, &seq, &mr); err != nil {
			return err
		}
		if m := byID[id]; m != nil {
			m.PartsAccepted = append(m.PartsAccepted, seq)
			m.PartMRs[seq] = mr
		}
	}
	return rows.Err()
}

// Counts returns how many messages are in each state (every state present,
// zero included). No row is decrypted.
func (s *Store) Counts(ctx context.Context) (map[State]int, error) {
	out := make(map[State]int, len(States))
	for _, st := range States {
		out[st] = 0
	}
	rows, err := s.r.QueryContext(ctx, "SELECT state, COUNT(*) FROM messages GROUP BY state")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[State(st)] = n
	}
	return out, rows.Err()
}

// nextDueQuery reads messages_due (TestQueuePlans).
const nextDueQuery = "SELECT MIN(due_at) FROM messages WHERE state = 'queued'"

// NextDue returns the earliest time a queued message becomes due (ok false
// when nothing is queued).
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var due sql.NullInt64
	if err := s.r.QueryRowContext(ctx, nextDueQuery).Scan(&due); err != nil {
		return time.Time{}, false, err
	}
	if !due.Valid {
		return time.Time{}, false, nil
	}
	return fromMS(due.Int64), true, nil
}

func randomReference() uint16 {
	var b [2]byte
	for {
		rand.Read(b[:])
		if r := binary.BigEndian.Uint16(b[:]); r != 0 {
			return r
		}
	}
}
