package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// The front desk's work (issue 14): the inbox as the staff work through it
// (handled marks, paging), and the wake-up of live pages.

// workMigration is schema step 9: who marked a received message handled and
// when (inbound rows stay untagged: a handled mark decides nothing a forger
// could gain from), and the JSON API's tokens (tokens.go). Token ids come
// from AUTOINCREMENT so that an id is never used twice (a tag binds it).
// messages_state serves the outbox filtered by state: an index on state
// alone keeps each state's rows in id order, so "state = ? AND id < ? ORDER
// BY id DESC LIMIT n" reads n entries instead of sorting every message in
// that state (BenchmarkList100k, 100,000 queued: 0.76 s a page without it
// on a loaded machine, 1.3 ms of CPU with it).
const workMigration = `ALTER TABLE inbound ADD COLUMN handled_at INTEGER;
	ALTER TABLE inbound ADD COLUMN handled_by TEXT NOT NULL DEFAULT '';
	CREATE INDEX inbound_unhandled ON inbound (id) WHERE handled_at IS NULL;
	CREATE INDEX messages_state ON messages (state);
	CREATE TABLE api_tokens (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		name         TEXT    NOT NULL UNIQUE,
		secret_hash  BLOB    NOT NULL UNIQUE,
		created_by   TEXT    NOT NULL,
		created_at   INTEGER NOT NULL,
		last_used_at INTEGER NOT NULL DEFAULT 0,
		revoked_at   INTEGER NOT NULL DEFAULT 0,
		rv           INTEGER NOT NULL DEFAULT 0,
		tag          BLOB
	);`

// updates is a broadcast: a channel closed, and replaced by a new one, each
// time the store changes. Any number of listeners can wait on the same
// channel and every one of them sees it closed; Changed, by contrast, is one
// buffered signal that the dispatcher alone consumes.
type updates struct {
	mu sync.Mutex
	ch chan struct{}
}

// Updates returns a channel that is closed at the next change the pages
// show: a message queued, claimed, sent, delivered, failed, cancelled or
// resent, a status report, a received message, a handled mark, an opt-out
// added or removed. A listener asks again after each wake-up (the next
// change closes a new channel). Reads, audit rows and session touches do
// not count, so a page that refreshes on a change does not wake itself.
func (s *Store) Updates() <-chan struct{} {
	s.upd.mu.Lock()
	defer s.upd.mu.Unlock()
	if s.upd.ch == nil {
		s.upd.ch = make(chan struct{})
	}
	return s.upd.ch
}

// updated wakes every listener of Updates, after a change committed.
func (s *Store) updated() {
	s.upd.mu.Lock()
	defer s.upd.mu.Unlock()
	if s.upd.ch != nil {
		close(s.upd.ch)
		s.upd.ch = nil
	}
}

// InboxQuery selects received messages for InboxPage. Zero fields do not
// filter.
type InboxQuery struct {
	// SinceID: only ids above it, oldest first (a client polling with the
	// largest id it has seen misses none, however many arrived).
	SinceID int64
	// BeforeID: only ids below it (paging back), newest first.
	BeforeID int64
	// Unhandled: only messages nobody marked handled.
	Unhandled bool
	Limit     int // default 100, at most 1000
}

// InboxPage returns received messages by id (the primary key, so a page is
// as fast deep in the inbox as at its top): newest first, or oldest first
// with SinceID. It also returns how many messages in the whole inbox are
// not handled.
func (s *Store) InboxPage(ctx context.Context, q InboxQuery) (_ []Inbound, unhandled int, err error) {
	var where []string
	var args []any
	if q.SinceID > 0 {
		where, args = append(where, "id > ?"), append(args, q.SinceID)
	}
	if q.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, q.BeforeID)
	}
	if q.Unhandled {
		where = append(where, "handled_at IS NULL")
	}
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 1000)
	sq := "SELECT " + inboundCols + " FROM inbound"
	if len(where) > 0 {
		sq += " WHERE " + strings.Join(where, " AND ")
	}
	if q.SinceID > 0 {
		sq += " ORDER BY id LIMIT ?"
	} else {
		sq += " ORDER BY id DESC LIMIT ?"
	}
	args = append(args, q.Limit)
	// The page and the count from one snapshot, so that the count agrees
	// with what the page shows.
	var out []Inbound
	err = s.inSnapshot(ctx, s.r, func(qr querier) error {
		rows, err := qr.QueryContext(ctx, sq, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			in, err := s.scanListedInbound(rows)
			if err != nil {
				return err
			}
			out = append(out, in)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return qr.QueryRowContext(ctx, "SELECT COUNT(*) FROM inbound WHERE handled_at IS NULL").Scan(&unhandled)
	})
	if err != nil {
		return nil, 0, err
	}
	return out, unhandled, nil
}

// MarkHandled marks received message id handled by who (handled true) or
// not handled (false). Marking it again as it is changes nothing and is not
// an error; an unknown id is ErrNotFound.
func (s *Store) MarkHandled(ctx context.Context, id int64, handled bool, who string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if handled {
			res, err = tx.ExecContext(ctx, "UPDATE inbound SET handled_at = COALESCE(handled_at, ?), handled_by = CASE WHEN handled_at IS NULL THEN ? ELSE handled_by END WHERE id = ?",
				ms(s.now()), clip(who), id)
		} else {
			res, err = tx.ExecContext(ctx, "UPDATE inbound SET handled_at = NULL, handled_by = '' WHERE id = ?", id)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("inbound message %d: %w", id, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("mark inbound message %d handled: %w", id, err)
	}
	s.updated()
	return nil
}
