package queue

import (
	"context"
	"database/sql"
	"time"
)

// Purge erases the sealed content (number, text, blind index, idempotency
// hash) of finished messages last updated before olderThan, and of inbound
// messages received before it. The rows stay, with ids, states, times,
// counters and error codes, for statistics; their Purged flag is set.
// Appointments whose time is before olderThan lose their sealed cells too.
// Messages still queued, sending or uncertain are never purged (they need a
// decision first), and opt-outs are never purged. secure_delete overwrites
// the freed bytes, and the WAL is checkpointed and truncated afterwards so
// the old pages do not linger there. It returns how many rows were purged.
func (s *Store) Purge(ctx context.Context, olderThan time.Time) (int, error) {
	cut := ms(olderThan)
	now := ms(s.now())
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Row by row, so that each purged row gets its new tag.
		ids, err := idsWhere(ctx, tx, `SELECT id FROM messages WHERE purged_at IS NULL AND updated_at < ?
			AND state IN ('sent','delivered','undelivered','failed','cancelled')`, cut)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET to_sealed = NULL, text_sealed = NULL, to_index = NULL,
				idem_index = NULL, purged_at = ? WHERE id = ?`, now, id); err != nil {
				return err
			}
			if err := s.retag(ctx, tx, "messages", id); err != nil {
				return err
			}
		}
		a := int64(len(ids))
		res, err := tx.ExecContext(ctx, `UPDATE inbound SET from_sealed = NULL, from_index = NULL, text_sealed = NULL,
			raw_sealed = NULL, decode_error_sealed = NULL, dedupe_index = NULL, purged_at = ? WHERE purged_at IS NULL AND received_at < ?`, now, cut)
		if err != nil {
			return err
		}
		b, _ := res.RowsAffected()
		// Appointments whose visit is older than the cut: their sealed
		// cells go too (appointments.go); the rows stay for the report.
		c, err := s.purgeAppointmentsTx(ctx, tx, cut, now)
		if err != nil {
			return err
		}
		n = a + b + c
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		if _, err := s.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			s.log.Warn("checkpoint after purge failed; purged content stays in the WAL until the next checkpoint", "err", err)
		}
		s.log.Info("retention purge", "rows", n, "before", olderThan.UTC().Format(time.RFC3339))
	}
	return int(n), nil
}

// PurgeExpired runs Purge with Options.RetentionDays (no-op when 0).
func (s *Store) PurgeExpired(ctx context.Context) (int, error) {
	if s.opt.RetentionDays <= 0 {
		return 0, nil
	}
	return s.Purge(ctx, s.now().AddDate(0, 0, -s.opt.RetentionDays))
}
