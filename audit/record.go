package audit

import (
	"context"
	"sync"
	"time"
)

// Record is an event on its way into the log with the action it records.
// A service puts it in the action's context (NewContext); the store appends
// it inside the action's transaction, so that both commit or neither does,
// and marks it written once that transaction committed.
type Record struct {
	mu      sync.Mutex
	event   Event
	pending *Row
	written *Row
}

// NewRecord starts a record of e.
func NewRecord(e Event) *Record { return &Record{event: e} }

type ctxKey struct{}

// NewContext returns ctx carrying r: the store's next committed transaction
// under it writes r's row.
func NewContext(ctx context.Context, r *Record) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// Without returns ctx carrying no record: for the store's transactions that
// are not the action (the steps of a long rotation, a key fetched on the
// way).
func Without(ctx context.Context) context.Context {
	if FromContext(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, (*Record)(nil))
}

// FromContext returns the record ctx carries, or nil.
func FromContext(ctx context.Context) *Record {
	r, _ := ctx.Value(ctxKey{}).(*Record)
	return r
}

// SetObject names the object of the action once it is known (the id of a
// message the transaction just created).
func (r *Record) SetObject(typ, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.event.ObjectType, r.event.ObjectID = typ, id
}

// AddDetail appends to the event's detail (no PHI).
func (r *Record) AddDetail(d string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.event.Detail != "" {
		r.event.Detail += "; "
	}
	r.event.Detail += d
}

// Event is the event as it stands.
func (r *Record) Event() Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.event
}

// AppendIn appends the record's row in tx unless it was written already,
// and holds it until Committed. The store calls it last in a transaction;
// now is the store's clock, for an event without a time.
func (r *Record) AppendIn(ctx context.Context, tx Execer, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.written != nil {
		return nil
	}
	e := r.event
	if e.Time.IsZero() {
		e.Time = now
	}
	row, err := Append(ctx, tx, e)
	if err != nil {
		return err
	}
	r.pending = &row
	return nil
}

// Committed says the transaction that appended the row committed; RolledBack
// that it did not, so the row is not written.
func (r *Record) Committed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending != nil {
		r.written, r.pending = r.pending, nil
	}
}

// RolledBack forgets a row whose transaction did not commit.
func (r *Record) RolledBack() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = nil
}

// Written returns the row once its transaction committed.
func (r *Record) Written() (Row, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.written == nil {
		return Row{}, false
	}
	return *r.written, true
}
