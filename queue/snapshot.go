package queue

import (
	"context"
	"database/sql"
)

// inSnapshot runs fn in a read-only transaction when q is a pool (the
// readers', or the writer's while the store opens) rather than a
// transaction already. A check that takes several statements
// (a table's digest against the sum of its rows' tags and their count)
// must see one snapshot: on the pool each statement may run on another
// connection and see another commit, and a writer committing in between
// would look like a row deleted or put back.
func (s *Store) inSnapshot(ctx context.Context, q querier, fn func(querier) error) error {
	db, ok := q.(*sql.DB)
	if !ok {
		return fn(q) // a transaction already: one snapshot
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
