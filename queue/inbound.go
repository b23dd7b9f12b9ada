package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/mask"
)

// Inbound is a received SMS. From is E.164 when NormalizeSender made it
// one, otherwise as received (an alphanumeric sender, or a national number
// that is no valid number of the clinic's region).
type Inbound struct {
	ID          int64
	From, Text  string
	ReceivedAt  time.Time // when smsd stored it; default now
	SentAt      time.Time // the SMSC timestamp
	ReplyTo     int64     // the latest message sent to From before it arrived; 0 none
	Raw         []byte    // the undecodable PDU, when DecodeError is set
	DecodeError string
	Incomplete  bool // some parts of a concatenated message never came
	Purged      bool
	// HandledAt is when someone marked the message handled (zero: not
	// handled), HandledBy who ("web:alice"; not PHI).
	HandledAt time.Time
	HandledBy string
	// Damaged is set only by the listings (Inbox, InboxPage): a sealed
	// cell did not open, so From, Text, Raw and DecodeError are empty.
	Damaged bool
}

// AddInbound stores a received message and threads it to the latest
// message sent (or being sent) to the same number, found by blind index.
// The same message (sender, SMSC timestamp, text, raw PDU) added again —
// the modem hands it over a second time when smsd died before deleting it
// from the SIM — returns the stored one and adds nothing.
func (s *Store) AddInbound(ctx context.Context, in Inbound) (Inbound, error) {
	return s.AddInboundFromParts(ctx, in, nil)
}

// AddInboundFromParts is AddInbound for a message reassembled from parts
// kept in inbound_parts (23.040 9.2.3.24.1): the message is stored and the
// parts partIDs deleted in one transaction, so that no crash can leave the
// message stored with its parts still waiting (handed on again after a
// restart), nor the parts gone without the message. A message already
// stored (an earlier run stored it, then died) still has its parts
// deleted. Ids already gone are no error.
func (s *Store) AddInboundFromParts(ctx context.Context, in Inbound, partIDs []int64) (Inbound, error) {
	from, _ := NormalizeSender(in.From, s.opt.DefaultRegion)
	in.From = from
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = s.now()
	}
	var dup bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if in, dup, err = s.addInboundTx(ctx, tx, in); err != nil {
			return err
		}
		return deletePartsTx(ctx, tx, partIDs)
	})
	if err != nil {
		return Inbound{}, err
	}
	if dup {
		s.log.Info("inbound message already stored (read again from the modem after a restart); not added twice", "id", in.ID)
		return in, nil
	}
	s.updated()
	in.ReceivedAt, in.SentAt = fromMS(ms(in.ReceivedAt)), fromMS(ms(in.SentAt))
	return in, nil
}

// addInboundTx stores in (its From normalised, ReceivedAt set) in tx, or
// finds it stored already (dup).
func (s *Store) addInboundTx(ctx context.Context, tx *sql.Tx, in Inbound) (_ Inbound, dup bool, err error) {
	from := in.From
	dedupes := s.inboundDedupe(in)
	q, args := inList("SELECT "+inboundCols+" FROM inbound WHERE dedupe_index IN ", dedupes)
	old, err := s.scanInbound(tx.QueryRowContext(ctx, q, args...))
	if err == nil {
		return old, true, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return in, false, err
	}
	id, err := nextID(ctx, tx, "inbound")
	if err != nil {
		return in, false, err
	}
	in.ID = id
	idx := s.indexes(from)
	q, args = inList(`SELECT id FROM messages WHERE to_index IN `, idx)
	q += ` AND state IN ('sending','sent','delivered','undelivered','uncertain') AND created_at <= ? ORDER BY updated_at DESC, id DESC LIMIT 1`
	var reply int64
	switch err := tx.QueryRowContext(ctx, q, append(args, ms(in.ReceivedAt))...).Scan(&reply); {
	case err == nil:
		in.ReplyTo = reply
	case errors.Is(err, sql.ErrNoRows):
		in.ReplyTo = 0
	default:
		return in, false, err
	}
	var replyTo any
	if in.ReplyTo != 0 {
		replyTo = in.ReplyTo
	}
	var raw, decErr []byte
	if in.Raw != nil {
		raw = s.seal(in.Raw, "inbound", "raw_sealed", id)
	}
	if in.DecodeError != "" {
		decErr = s.seal([]byte(in.DecodeError), "inbound", "decode_error_sealed", id)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO inbound (id, from_sealed, from_index, text_sealed, raw_sealed, decode_error_sealed,
		received_at, sent_at, reply_to, incomplete, dedupe_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, s.seal([]byte(from), "inbound", "from_sealed", id), idx[0], s.seal([]byte(in.Text), "inbound", "text_sealed", id),
		raw, decErr, ms(in.ReceivedAt), ms(in.SentAt), replyTo, in.Incomplete, dedupes[0])
	return in, false, err
}

const inboundCols = `id, from_sealed, text_sealed, raw_sealed, decode_error_sealed, received_at, sent_at, COALESCE(reply_to, 0), incomplete, purged_at,
	handled_at, handled_by`

func (s *Store) scanInbound(sc scanner) (Inbound, error) {
	var in Inbound
	var fromS, textS, rawS, decS []byte
	var recv, sent int64
	var purged, handled sql.NullInt64
	if err := sc.Scan(&in.ID, &fromS, &textS, &rawS, &decS, &recv, &sent, &in.ReplyTo, &in.Incomplete, &purged, &handled, &in.HandledBy); err != nil {
		return Inbound{}, err
	}
	in.ReceivedAt, in.SentAt, in.Purged = fromMS(recv), fromMS(sent), purged.Valid
	if handled.Valid {
		in.HandledAt = fromMS(handled.Int64)
	}
	// On failure the clear columns are kept (a listing shows the row as
	// Damaged) and no sealed cell.
	clear := in
	var err error
	if in.From, err = s.open(fromS, "inbound", "from_sealed", in.ID); err != nil {
		return clear, err
	}
	if in.Text, err = s.open(textS, "inbound", "text_sealed", in.ID); err != nil {
		return clear, err
	}
	if rawS != nil {
		r, err := s.open(rawS, "inbound", "raw_sealed", in.ID)
		if err != nil {
			return clear, err
		}
		in.Raw = []byte(r)
	}
	if in.DecodeError, err = s.open(decS, "inbound", "decode_error_sealed", in.ID); err != nil {
		return clear, err
	}
	return in, nil
}

// scanListedInbound is scanInbound for a listing: a row whose sealed cells
// do not open is listed as Damaged.
func (s *Store) scanListedInbound(sc scanner) (Inbound, error) {
	in, err := s.scanInbound(sc)
	if err != nil && in.ID != 0 && unreadable(err) {
		in.Damaged, err = true, nil
	}
	return in, err
}

// Inbox returns the latest limit (default 100) inbound messages, newest first.
func (s *Store) Inbox(ctx context.Context, limit int) ([]Inbound, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+inboundCols+" FROM inbound ORDER BY received_at DESC, id DESC LIMIT ?", limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Inbound
	for rows.Next() {
		in, err := s.scanListedInbound(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// GetInbound returns one inbound message.
func (s *Store) GetInbound(ctx context.Context, id int64) (Inbound, error) {
	in, err := s.scanInbound(s.r.QueryRowContext(ctx, "SELECT "+inboundCols+" FROM inbound WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Inbound{}, fmt.Errorf("inbound message %d: %w", id, ErrNotFound)
	}
	return in, err
}

// OptOut records that number (any format) wants no more messages. Opt-outs
// are never purged. Opting out twice is not an error.
func (s *Store) OptOut(ctx context.Context, number string) error {
	return s.OptOutFrom(ctx, number, "")
}

// OptOutFrom is OptOut with a short non-PHI source ("sms_stop", "staff:alice").
func (s *Store) OptOutFrom(ctx context.Context, number, source string) error {
	e, err := NormalizeNumber(number, s.opt.DefaultRegion)
	if err != nil {
		return fmt.Errorf("opt out: %w", err)
	}
	if rec := audit.FromContext(ctx); rec != nil {
		rec.SetObject("number", mask.Number(e))
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		idx := s.indexes(e)
		if out, err := optedOutTx(ctx, tx, idx); err != nil || out {
			if rec := audit.FromContext(ctx); rec != nil && out {
				rec.AddDetail("already opted out")
			}
			return err
		}
		id, err := nextID(ctx, tx, "optouts")
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO optouts (id, number_index, number_sealed, created_at, source) VALUES (?, ?, ?, ?, ?)",
			id, idx[0], s.seal([]byte(e), "optouts", "number_sealed", id), ms(s.now()), clip(source))
		if err != nil {
			return err
		}
		return s.retag(ctx, tx, "optouts", id)
	})
	if err == nil {
		s.updated()
	}
	return err
}

// OptIn removes an opt-out (the patient texted START). Not opted out is not
// an error.
func (s *Store) OptIn(ctx context.Context, number string) error {
	e, err := NormalizeNumber(number, s.opt.DefaultRegion)
	if err != nil {
		return fmt.Errorf("opt in: %w", err)
	}
	if rec := audit.FromContext(ctx); rec != nil {
		rec.SetObject("number", mask.Number(e))
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		q, args := inList("SELECT id FROM optouts WHERE number_index IN ", s.indexes(e))
		ids, err := idsWhere(ctx, tx, q, args...)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.deleteTagged(ctx, tx, "optouts", id); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.updated()
	}
	return err
}

// IsOptedOut reports whether number (any format) has opted out.
func (s *Store) IsOptedOut(ctx context.Context, number string) (bool, error) {
	e, err := NormalizeNumber(number, s.opt.DefaultRegion)
	if err != nil {
		return false, err
	}
	if err := s.checkOptOuts(ctx, s.r); err != nil {
		return false, err
	}
	return optedOutTx(ctx, s.r, s.indexes(e))
}

// inboundDedupe is a keyed hash of what identifies a received SMS, under
// every loaded key generation (the first is the current one).
func (s *Store) inboundDedupe(in Inbound) [][]byte {
	key := fmt.Sprintf("inbound\x00%s\x00%d\x00%d\x00%s\x00%x\x00%t", in.From, ms(in.SentAt), len(in.Text), in.Text, in.Raw, in.Incomplete)
	return s.idemIndexes(key)
}

// OptOutEntry is one recorded opt-out. Number is E.164, opened from its
// sealed cell.
type OptOutEntry struct {
	ID        int64
	Number    string
	CreatedAt time.Time
	Source    string // "sms_stop", "unix:alice", ...; never PHI
	// Damaged: the sealed number did not open; Number is empty.
	Damaged bool
}

// OptOuts lists every opt-out, newest first.
func (s *Store) OptOuts(ctx context.Context) ([]OptOutEntry, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id, number_sealed, created_at, source FROM optouts ORDER BY created_at DESC, id DESC")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OptOutEntry
	for rows.Next() {
		var e OptOutEntry
		var sealed []byte
		var created int64
		if err := rows.Scan(&e.ID, &sealed, &created, &e.Source); err != nil {
			return nil, err
		}
		if e.Number, err = s.open(sealed, "optouts", "number_sealed", e.ID); unreadable(err) {
			e.Damaged = true
		} else if err != nil {
			return nil, err
		}
		e.CreatedAt = fromMS(created)
		out = append(out, e)
	}
	return out, rows.Err()
}
