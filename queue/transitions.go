package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/clinicsms/smsd/mask"
)

// TransitionError is returned for a transition the message's state does not
// allow. errors.Is(err, ErrInvalidTransition) holds.
type TransitionError struct {
	ID   int64
	From State
	Op   string
}

// Error names the message, the operation and the state it was in.
func (e *TransitionError) Error() string {
	return fmt.Sprintf("message %d: %s not allowed in state %s: %v", e.ID, e.Op, e.From, ErrInvalidTransition)
}

// Is makes errors.Is(err, ErrInvalidTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrInvalidTransition }

// transition runs one state change in one transaction: it reads the row's
// state, checks it against from, calls fn (which may update more), and
// fails with TransitionError when the state is not allowed. The row is
// tagged again after fn (retag).
func (s *Store) transition(ctx context.Context, id int64, op string, from []State, fn func(tx *sql.Tx, cur State, attempts int) error) error {
	return s.transitionRow(ctx, id, op, from, func(tx *sql.Tx, r *taggedRow, cur State) (*rowWrite, error) {
		attempts, _ := r.val("attempts").(int64)
		return nil, fn(tx, cur, int(attempts))
	})
}

// transitionRow is transition for a change that knows the row's new
// values: fn gets the row as read (and checked) and returns its write,
// which goes out in one statement with the new tag (writeRow); a nil write
// means fn changed the row itself and it is read again and tagged (retag).
func (s *Store) transitionRow(ctx context.Context, id int64, op string, from []State, fn func(tx *sql.Tx, r *taggedRow, cur State) (*rowWrite, error)) (err error) {
	defer func() {
		if err == nil {
			s.updated()
		}
	}()
	return s.tx(ctx, func(tx *sql.Tx) error {
		// One read serves the state check and the integrity check.
		sp, _ := specFor("messages")
		r, err := readRow(ctx, tx, sp, "id = ?", id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("message %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		st, _ := r.val("state").(string)
		for _, f := range from {
			if State(st) == f {
				// A tampered row is never acted on: no resend, no state
				// change that would tag it again as if it were sound.
				if err := s.checkRow(r); err != nil {
					return fmt.Errorf("message %d: %s: %w", id, op, err)
				}
				w, err := fn(tx, r, f)
				if err != nil {
					return err
				}
				if w != nil {
					return s.writeRow(ctx, tx, r, *w)
				}
				return s.retag(ctx, tx, "messages", id)
			}
		}
		return &TransitionError{ID: id, From: State(st), Op: op}
	})
}

func (s *Store) setState(ctx context.Context, tx *sql.Tx, id int64, to State, extra string, args ...any) error {
	q := "UPDATE messages SET state = ?, updated_at = ?"
	if extra != "" {
		q += ", " + extra
	}
	q += " WHERE id = ?"
	all := append([]any{string(to), ms(s.now())}, args...)
	all = append(all, id)
	_, err := tx.ExecContext(ctx, q, all...)
	return err
}

// claimNext selects the next due queued message (its due time, then its
// id) for readRow. It reads messages_due, which holds queued messages only
// (schema step 12; TestQueuePlans).
const claimNext = `id = (SELECT id FROM messages WHERE state = 'queued' AND due_at <= ?
	ORDER BY due_at, id LIMIT 1)`

// Claim takes the next due queued message for modemID and moves it to
// sending, counting one attempt, in one transaction: two callers never get
// the same message. It returns nil, nil when nothing is due. A message whose
// number opted out after it was enqueued is moved to failed ("opted_out")
// instead of being returned. The concatenation reference is assigned on the
// first claim and kept for resends, so resumed parts join the earlier ones.
// Only the process holding the dispatcher lock claims: in another, Claim
// tries to take the lock and returns ErrBusy while the owner runs.
func (s *Store) Claim(ctx context.Context, modemID string) (*Message, error) {
	if err := s.becomePrimary(ctx); err != nil {
		return nil, err
	}
	if !s.Primary() {
		return nil, ErrBusy
	}
	if p := s.msgDigestErr.Load(); p != nil {
		return nil, fmt.Errorf("nothing is sent: %w", *p)
	}
	var out *Message
	// touched: a message changed state (claimed, quarantined, or failed
	// as opted out), which the pages are told of.
	touched := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.checkOptOuts(ctx, tx); err != nil {
			return err
		}
		sp, _ := specFor("messages")
		for {
			now := ms(s.now())
			// The next due message, read with everything its integrity
			// check, its new tag and the returned Message need.
			var created, sendAt, next int64
			var lastErr string
			r, err := readRowWith(ctx, tx, sp, []string{"created_at", "send_at", "next_attempt_at", "last_error"},
				[]any{&created, &sendAt, &next, &lastErr}, claimNext, now)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			touched = true
			id := r.id
			// A row that fails its tag, or a sealed cell that does not
			// open, is quarantined and the next message is tried: one
			// bad row never stops the queue. Both cells are opened
			// before anything is written, once each.
			err = s.checkRow(r)
			var to, text string
			if err == nil {
				toS, _ := r.val("to_sealed").([]byte)
				to, err = s.open(toS, "messages", "to_sealed", id)
			}
			if err == nil {
				textS, _ := r.val("text_sealed").([]byte)
				text, err = s.open(textS, "messages", "text_sealed", id)
			}
			var m Message
			if err == nil {
				m = Message{ID: id, To: to, Text: text, State: Sending, LastError: lastErr, ModemID: modemID,
					CreatedAt: fromMS(created), SendAt: fromMS(sendAt), NextAttemptAt: fromMS(next), UpdatedAt: fromMS(now)}
				err = partsFromLines(&m, r.parts)
			}
			if errors.Is(err, ErrIntegrity) || errors.Is(err, ErrTampered) {
				if err := s.quarantine(ctx, tx, id, err); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			opted, err := optedOutTx(ctx, tx, s.indexes(to))
			if err != nil {
				return err
			}
			why := "opted_out"
			if cb, _ := r.val("created_by").(string); cb == OptOutConfirmationBy {
				// The opt-out's one confirmation: it goes to the opted-out
				// number, but only within the window the rule allows.
				opted = s.now().Sub(fromMS(created)) > OptOutConfirmationWindow
				why = "expired: an opt-out confirmation goes out within 5 minutes or not at all"
			}
			if opted {
				if err := s.writeRow(ctx, tx, r, rowWrite{
					set:   []colVal{{"state", string(Failed)}},
					extra: "last_error = ?, updated_at = ?", args: []any{why, ms(s.now())},
				}); err != nil {
					return err
				}
				s.log.Info("queued message refused: recipient opted out after it was queued", "id", id, "to", mask.Log(to), "why", why)
				continue
			}
			attempts, _ := r.val("attempts").(int64)
			ref, _ := r.val("reference").(int64)
			if ref == 0 {
				ref = int64(randomReference())
			}
			if err := s.writeRow(ctx, tx, r, rowWrite{
				set:   []colVal{{"state", string(Sending)}, {"attempts", attempts + 1}, {"reference", ref}},
				extra: "modem_id = ?, updated_at = ?", args: []any{modemID, now},
			}); err != nil {
				return err
			}
			// The claimed message as written, from the row as read: its
			// parts as read (a claim leaves them), no second read.
			m.Attempts = int(attempts + 1)
			m.Reference = uint16(ref)
			pt, _ := r.val("parts_total").(int64)
			m.PartsTotal = int(pt)
			m.CreatedBy, _ = r.val("created_by").(string)
			m.Purged = r.val("purged_at") != nil
			out = &m
			return nil
		}
	})
	if err != nil {
		return nil, err
	}
	if touched {
		s.updated()
	}
	return out, nil
}

// partsFromLines sets m's accepted parts from its tagged part lines.
func partsFromLines(m *Message, lines []string) error {
	m.PartsAccepted = nil
	m.PartMRs = map[int]int{}
	for _, l := range lines {
		seq, _, mr, ok := partNums(l)
		if !ok {
			return fmt.Errorf("message %d: malformed part: %w", m.ID, ErrIntegrity)
		}
		m.PartsAccepted = append(m.PartsAccepted, int(seq))
		m.PartMRs[int(seq)] = int(mr)
	}
	return nil
}

// RecordPart records that the SMSC accepted part seq of total with message
// reference mr (TP-MR, 0-255), so a resumed send skips it and a status
// report can be matched. Only while sending. Recording the same seq again
// (a resend of that part) updates its MR.
func (s *Store) RecordPart(ctx context.Context, id int64, seq, total, mr int) error {
	if err := checkPart(id, seq, total, mr); err != nil {
		return err
	}
	return s.transitionRow(ctx, id, "record part", []State{Sending}, func(tx *sql.Tx, r *taggedRow, _ State) (*rowWrite, error) {
		parts, err := partsWith(r, id, seq, total, mr)
		if err != nil {
			return nil, err
		}
		if err := s.insertPart(ctx, tx, id, seq, total, mr); err != nil {
			return nil, err
		}
		return &rowWrite{
			set:   []colVal{{"parts_total", int64(total)}},
			parts: parts,
			extra: "updated_at = ?", args: []any{ms(s.now())},
		}, nil
	})
}

// RecordLastPart is RecordPart for the part that completes the message
// followed by MarkSent, in one transaction: the dispatcher's last write per
// message, so a single-part message costs two transactions (Claim, this)
// instead of three, and no crash can leave a message whose every part was
// accepted still sending. When other parts are still missing it writes
// nothing and fails with ErrInvalidTransition (record the part with
// RecordPart instead).
func (s *Store) RecordLastPart(ctx context.Context, id int64, seq, total, mr int) error {
	if err := checkPart(id, seq, total, mr); err != nil {
		return err
	}
	return s.transitionRow(ctx, id, "record last part", []State{Sending}, func(tx *sql.Tx, r *taggedRow, _ State) (*rowWrite, error) {
		parts, err := partsWith(r, id, seq, total, mr)
		if err != nil {
			return nil, err
		}
		if len(parts) != total {
			return nil, fmt.Errorf("message %d: part %d is not the last: %d of %d parts accepted with it: %w", id, seq, len(parts), total, ErrInvalidTransition)
		}
		if err := s.insertPart(ctx, tx, id, seq, total, mr); err != nil {
			return nil, err
		}
		to, code := sentState(parts, int64(total))
		return &rowWrite{
			set:   []colVal{{"state", string(to)}, {"parts_total", int64(total)}},
			parts: parts,
			extra: "last_error = ?, updated_at = ?", args: []any{code, ms(s.now())},
		}, nil
	})
}

func checkPart(id int64, seq, total, mr int) error {
	if total < 1 || total > 255 || seq < 1 || seq > total || mr < 0 || mr > 255 {
		return fmt.Errorf("message %d: record part %d/%d mr %d: out of range", id, seq, total, mr)
	}
	return nil
}

// insertPart writes part seq into message_parts (a part of the same seq,
// from an earlier attempt, is replaced and its report cleared).
func (s *Store) insertPart(ctx context.Context, tx *sql.Tx, id int64, seq, total, mr int) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO message_parts (message_id, seq, total, mr, accepted_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (message_id, seq) DO UPDATE SET mr = excluded.mr, accepted_at = excluded.accepted_at, report = '', reported_at = NULL`,
		id, seq, total, mr, ms(s.now()))
	return err
}

// partsWith is the row's part lines, in tag order, once part seq is
// recorded: it replaces one of the same seq (keeping that one's total, as
// the upsert does) or goes in at its place.
func partsWith(r *taggedRow, id int64, seq, total, mr int) ([]string, error) {
	pt, _ := r.val("parts_total").(int64)
	if pt != 0 && pt != int64(total) {
		return nil, fmt.Errorf("message %d: record part: total %d differs from the %d recorded before (the text must not change between attempts)", id, total, pt)
	}
	parts := make([]string, 0, len(r.parts)+1)
	line, done := partLine(int64(seq), int64(total), int64(mr), ""), false
	for _, l := range r.parts {
		ls, lt, _, ok := partNums(l)
		if !ok {
			return nil, fmt.Errorf("message %d: malformed part: %w", id, ErrIntegrity)
		}
		switch {
		case ls == int64(seq):
			line, done = partLine(ls, lt, int64(mr), ""), true
			parts = append(parts, line)
			continue
		case ls > int64(seq) && !done:
			parts, done = append(parts, line), true
		}
		parts = append(parts, l)
	}
	if !done {
		parts = append(parts, line)
	}
	return parts, nil
}

// MarkSent moves a sending message to sent. When parts were recorded, all
// of them must be (otherwise ErrInvalidTransition: resume the send, or
// MarkRetry). Status reports that arrived before MarkSent are applied.
func (s *Store) MarkSent(ctx context.Context, id int64) error {
	return s.transitionRow(ctx, id, "mark sent", []State{Sending}, func(tx *sql.Tx, r *taggedRow, _ State) (*rowWrite, error) {
		total, _ := r.val("parts_total").(int64)
		got := int64(len(r.parts))
		if total != 0 && got != total {
			return nil, fmt.Errorf("message %d: mark sent with %d of %d parts accepted: %w", id, got, total, ErrInvalidTransition)
		}
		to, code := sentState(r.parts, total)
		return &rowWrite{
			set:   []colVal{{"state", string(to)}},
			extra: "last_error = ?, updated_at = ?", args: []any{code, ms(s.now())},
		}, nil
	})
}

// sentState is where a message whose every part was accepted goes, with
// the status reports its parts already have (settleReports, on the part
// lines as read): undelivered when any failed, delivered when all were
// delivered, sent otherwise.
func sentState(parts []string, total int64) (State, string) {
	var delivered, failed int64
	for _, l := range parts {
		switch partReport(l) {
		case "delivered":
			delivered++
		case "failed":
			failed++
		}
	}
	switch {
	case failed > 0:
		return Undelivered, "status_report_failed"
	case total > 0 && delivered == total:
		return Delivered, ""
	}
	return Sent, ""
}

// settleReports moves a sent message to delivered when every part has a
// final delivered report, or to undelivered when any part has a final
// failure.
func (s *Store) settleReports(ctx context.Context, tx *sql.Tx, id int64) error {
	var total, delivered, failed int
	if err := tx.QueryRowContext(ctx, `SELECT m.parts_total,
		(SELECT COUNT(*) FROM message_parts WHERE message_id = m.id AND report = 'delivered'),
		(SELECT COUNT(*) FROM message_parts WHERE message_id = m.id AND report = 'failed')
		FROM messages m WHERE m.id = ? AND m.state = 'sent'`, id).Scan(&total, &delivered, &failed); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	}
	switch {
	case failed > 0:
		return s.setState(ctx, tx, id, Undelivered, "last_error = 'status_report_failed'")
	case total > 0 && delivered == total:
		return s.setState(ctx, tx, id, Delivered, "last_error = ''")
	}
	return nil
}

// MarkRetry records a transient failure (code: a short error code such as
// "cms_38" or "timeout", never PHI): back to queued with NextAttemptAt =
// now + Backoff(attempts), or to failed when MaxAttempts were made.
func (s *Store) MarkRetry(ctx context.Context, id int64, code string) error {
	retried := false
	err := s.transition(ctx, id, "retry", []State{Sending}, func(tx *sql.Tx, _ State, attempts int) error {
		if attempts >= s.opt.MaxAttempts {
			return s.setState(ctx, tx, id, Failed, "last_error = ?", clip("attempts_exhausted: "+code))
		}
		next := ms(s.now().Add(s.opt.Backoff(attempts)))
		retried = true
		return s.setState(ctx, tx, id, Queued, "last_error = ?, next_attempt_at = ?, due_at = MAX(send_at, ?)", clip(code), next, next)
	})
	if err == nil && retried {
		s.notify()
	}
	return err
}

// MarkFailed records a permanent failure (code, never PHI): sending → failed.
func (s *Store) MarkFailed(ctx context.Context, id int64, code string) error {
	return s.transition(ctx, id, "mark failed", []State{Sending}, func(tx *sql.Tx, _ State, _ int) error {
		return s.setState(ctx, tx, id, Failed, "last_error = ?", clip(code))
	})
}

// MarkUncertain records that a part may or may not have gone out (the
// modem took it but the answer was lost): sending → uncertain at once,
// with code, instead of waiting for the next start. Staff then resend or
// dismiss; nothing is retried automatically, so nothing goes out twice.
func (s *Store) MarkUncertain(ctx context.Context, id int64, code string) error {
	return s.transition(ctx, id, "mark uncertain", []State{Sending}, func(tx *sql.Tx, _ State, _ int) error {
		return s.setState(ctx, tx, id, Uncertain, "last_error = ?", clip(code))
	})
}

// Release returns a claimed message to queued without counting an attempt:
// for when nothing went out (modem not ready, shutting down before the
// first part).
func (s *Store) Release(ctx context.Context, id int64) error {
	err := s.transition(ctx, id, "release", []State{Sending}, func(tx *sql.Tx, _ State, _ int) error {
		return s.setState(ctx, tx, id, Queued, "attempts = MAX(attempts - 1, 0)")
	})
	if err == nil {
		s.notify()
	}
	return err
}

// Cancel stops a queued (possibly scheduled) message: queued → cancelled.
func (s *Store) Cancel(ctx context.Context, id int64) error {
	return s.transition(ctx, id, "cancel", []State{Queued}, func(tx *sql.Tx, _ State, _ int) error {
		return s.setState(ctx, tx, id, Cancelled, "last_error = 'cancelled'")
	})
}

// Resend is a staff decision to try again: uncertain, failed or undelivered
// → queued, due now, attempts reset. Parts already accepted and the
// concatenation reference are kept, so only the missing parts go out (for
// uncertain, the part in flight when smsd died may arrive twice; the
// handset's reassembly drops the duplicate). A purged message cannot be resent.
func (s *Store) Resend(ctx context.Context, id int64) error {
	err := s.transition(ctx, id, "resend", []State{Uncertain, Failed, Undelivered}, func(tx *sql.Tx, cur State, _ int) error {
		var purged sql.NullInt64
		if err := tx.QueryRowContext(ctx, "SELECT purged_at FROM messages WHERE id = ?", id).Scan(&purged); err != nil {
			return err
		}
		if purged.Valid {
			return fmt.Errorf("message %d: resend: its content was purged by the retention policy: %w", id, ErrInvalidTransition)
		}
		if cur == Undelivered {
			// The SMSC gave up on the earlier parts: send them all again.
			if _, err := tx.ExecContext(ctx, "DELETE FROM message_parts WHERE message_id = ?", id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE messages SET parts_total = 0, reference = 0 WHERE id = ?", id); err != nil {
				return err
			}
		}
		now := ms(s.now())
		return s.setState(ctx, tx, id, Queued, "attempts = 0, last_error = '', next_attempt_at = ?, due_at = ?", now, now)
	})
	if err == nil {
		s.notify()
	}
	return err
}

// Dismiss is a staff decision not to resend an uncertain message: → failed
// ("dismissed").
func (s *Store) Dismiss(ctx context.Context, id int64) error {
	return s.transition(ctx, id, "dismiss", []State{Uncertain}, func(tx *sql.Tx, _ State, _ int) error {
		return s.setState(ctx, tx, id, Failed, "last_error = 'dismissed'")
	})
}

// RecordStatusReport applies an SMS-STATUS-REPORT: it finds the most
// recently accepted part with TP-MR mr sent to recipient (any format; it is
// normalised like Enqueue does) and records the outcome on that part. Final
// reports settle the message: every part delivered → delivered, any part
// failed → undelivered. Non-final (SC still trying) reports are recorded
// only. It returns the message id, ErrNotFound when nothing matches. A
// report for a message already settled is accepted and changes nothing.
func (s *Store) RecordStatusReport(ctx context.Context, mr int, recipient string, delivered bool, final bool) (int64, error) {
	to, err := NormalizeNumber(recipient, s.opt.DefaultRegion)
	if err != nil {
		return 0, fmt.Errorf("status report: %w", err)
	}
	var id int64
	err = s.tx(ctx, func(tx *sql.Tx) error {
		q, args := inList(`SELECT p.message_id, p.seq FROM message_parts p JOIN messages m ON m.id = p.message_id
			WHERE p.mr = ? AND m.to_index IN `, s.indexes(to))
		q += " ORDER BY p.accepted_at DESC, p.message_id DESC LIMIT 1"
		var seq int
		if err := tx.QueryRowContext(ctx, q, append([]any{mr}, args...)...).Scan(&id, &seq); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("status report mr %d for %s: %w", mr, mask.Number(to), ErrNotFound)
			}
			return err
		}
		if err := s.verifyRow(ctx, tx, "messages", id); err != nil {
			return fmt.Errorf("status report: %w", err)
		}
		report := "pending"
		if final && delivered {
			report = "delivered"
		} else if final {
			report = "failed"
		}
		if _, err := tx.ExecContext(ctx, "UPDATE message_parts SET report = ?, reported_at = ? WHERE message_id = ? AND seq = ?",
			report, ms(s.now()), id, seq); err != nil {
			return err
		}
		if err := s.settleReports(ctx, tx, id); err != nil {
			return err
		}
		return s.retag(ctx, tx, "messages", id)
	})
	if err == nil {
		s.updated()
	}
	return id, err
}

func clip(code string) string {
	code = strings.TrimSpace(code)
	if len(code) > 200 {
		code = code[:200]
	}
	return code
}
