package queue

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/clinicsms/smsd/audit"
)

// A day's list from CSV (issue 15): the store's side of an import. The
// daemon parses and validates the file (package remind); the store creates
// the good rows' appointments and reminders in one transaction, and keeps
// one row per committed file so that the same file twice creates nothing.

// ImportRecord is a committed import as stored.
type ImportRecord struct {
	ID        int64
	FileName  string
	Rows      int // data rows in the file
	Created   int // appointments created
	Skipped   int // rows not imported (their problems)
	Reminders int // reminders queued
	CreatedBy string
	CreatedAt time.Time
}

// importKey is what the import's keyed index is computed from: the file's
// SHA-256, never its content.
func importKey(sum [sha256.Size]byte) string { return "import:" + hex.EncodeToString(sum[:]) }

// FindImport returns the committed import of the file whose SHA-256 is
// sum (found by its keyed index under every loaded key), ok false if none.
func (s *Store) FindImport(ctx context.Context, sum [sha256.Size]byte) (ImportRecord, bool, error) {
	return s.findImportTx(ctx, s.r, sum)
}

func (s *Store) findImportTx(ctx context.Context, q querier, sum [sha256.Size]byte) (ImportRecord, bool, error) {
	query, args := inList("SELECT id, file_name_sealed, rows, created, skipped, reminders, created_by, created_at FROM imports WHERE digest_index IN ", s.idemIndexes(importKey(sum)))
	var r ImportRecord
	var fn []byte
	var created int64
	err := q.QueryRowContext(ctx, query, args...).Scan(&r.ID, &fn, &r.Rows, &r.Created, &r.Skipped, &r.Reminders, &r.CreatedBy, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return ImportRecord{}, false, nil
	}
	if err != nil {
		return ImportRecord{}, false, err
	}
	r.CreatedAt = fromMS(created)
	if r.FileName, err = s.open(fn, "imports", "file_name_sealed", r.ID); err != nil {
		return ImportRecord{}, false, err
	}
	return r, true, nil
}

// importCacheKiB is the page cache of an import's transaction (see
// CommitImport): 32 MB, which a Pi has to spare for the seconds it lasts.
const importCacheKiB = 32 << 10

// ImportItem is one good row of a file, to create.
type ImportItem struct {
	Line        int
	Appointment NewAppointment
}

// ImportCommit is what CommitImport takes.
type ImportCommit struct {
	Sum       [sha256.Size]byte // the file's SHA-256
	FileName  string
	CreatedBy string
	Rows      int // data rows in the file (good and bad)
	Items     []ImportItem
	Plan      Planner
	// Progress, if set, is called as the items are created (done of
	// total), from inside the transaction; it must not call the store.
	Progress func(done, total int)
}

// ImportOutcome is what CommitImport did. A row refused by the store at
// commit time (its number opted out, or a duplicate appointment made
// since the preview) is not created and named in Refused; it does not stop
// the others.
type ImportOutcome struct {
	Import ImportRecord
	// Existing: this file was committed before; nothing was created and
	// Import is the earlier one.
	Existing bool
	// Created maps an item's line to its appointment.
	Created   map[int]int64
	Refused   map[int]error
	Reminders int
}

// CommitImport creates the appointments of c.Items and their reminders in
// one transaction, with the import's row: either all of it commits or
// nothing does (a storage error, or the context ending, mid-way rolls it
// all back). A file committed before (same SHA-256) creates nothing and
// comes back Existing.
func (s *Store) CommitImport(ctx context.Context, c ImportCommit) (ImportOutcome, error) {
	out := ImportOutcome{Created: map[int]int64{}, Refused: map[int]error{}}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		old, found, err := s.findImportTx(ctx, tx, c.Sum)
		if err != nil {
			return err
		}
		if found {
			out.Import, out.Existing = old, true
			if rec := audit.FromContext(ctx); rec != nil {
				rec.SetObject("import", strconv.FormatInt(old.ID, 10))
				rec.AddDetail("already_imported")
			}
			return nil
		}
		if err := s.checkOptOuts(ctx, tx); err != nil {
			return err
		}
		id, err := nextID(ctx, tx, "imports")
		if err != nil {
			return err
		}
		now := s.now()
		idx := s.idemIndexes(importKey(c.Sum))[0]
		dsum := s.seal([]byte(hex.EncodeToString(c.Sum[:])), "imports", "digest_sealed", id)
		fn := s.sealOptional(c.FileName, "imports", "file_name_sealed", id)
		tag, err := s.tagNew(ctx, tx, "imports", id, idx, dsum, nullable(fn), c.CreatedBy)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO imports (id, digest_index, digest_sealed, file_name_sealed, rows, created_by, created_at, rv, tag)
			VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)`, id, idx, dsum, fn, c.Rows, c.CreatedBy, ms(now), tag); err != nil {
			return err
		}
		ids, err := s.newIDs(ctx, tx)
		if err != nil {
			return err
		}
		// A day's list touches pages all over the messages' and the
		// appointments' indexes (blind indexes are random): with SQLite's
		// default 2 MB page cache the transaction spills dirty pages to
		// the WAL and reads them back. A larger cache for this transaction
		// only, put back after it.
		var cache int64
		if err := tx.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache); err != nil {
			return err
		}
		if len(c.Items) > 500 && cache > -importCacheKiB && cache < importCacheKiB {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", importCacheKiB)); err != nil {
				return err
			}
			defer tx.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA cache_size = %d", cache))
		}
		total := len(c.Items)
		for i, it := range c.Items {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("import stopped at row %d of %d, nothing was imported: %w", i+1, total, err)
			}
			a := it.Appointment
			a.CreatedBy = c.CreatedBy
			ap, err := s.createAppointmentTx(ctx, tx, a, id, c.Plan, ids)
			switch {
			case err == nil:
				out.Created[it.Line] = ap.ID
				out.Reminders += len(ap.Reminders)
			case errors.Is(err, ErrOptedOut) || errors.Is(err, ErrDuplicateAppointment) || errors.Is(err, ErrInvalidNumber):
				out.Refused[it.Line] = err
			default:
				return fmt.Errorf("import line %d: %w (nothing was imported)", it.Line, err)
			}
			if c.Progress != nil && (i%250 == 249 || i == total-1) {
				c.Progress(i+1, total)
			}
		}
		out.Import = ImportRecord{ID: id, FileName: c.FileName, Rows: c.Rows, Created: len(out.Created),
			Skipped: c.Rows - len(out.Created), Reminders: out.Reminders, CreatedBy: c.CreatedBy, CreatedAt: fromMS(ms(now))}
		if _, err := tx.ExecContext(ctx, "UPDATE imports SET created = ?, skipped = ?, reminders = ? WHERE id = ?",
			out.Import.Created, out.Import.Skipped, out.Import.Reminders, id); err != nil {
			return err
		}
		if rec := audit.FromContext(ctx); rec != nil {
			rec.SetObject("import", strconv.FormatInt(id, 10))
			rec.AddDetail(fmt.Sprintf("rows=%d created=%d skipped=%d reminders=%d", c.Rows, out.Import.Created, out.Import.Skipped, out.Reminders))
		}
		return nil
	})
	if err != nil {
		return ImportOutcome{}, err
	}
	if !out.Existing {
		s.notify()
	}
	return out, nil
}

// ImportCheck is what the store knows about a row before it is imported.
type ImportCheck struct {
	OptedOut  bool
	Duplicate bool // a scheduled appointment for the same number at the same time
}

// CheckImport looks up, for each (E.164 number, time) pair, whether the
// number opted out and whether the appointment exists already, by blind
// index, in one read snapshot. The result is in the order of the input.
func (s *Store) CheckImport(ctx context.Context, phones []string, ats []time.Time) ([]ImportCheck, error) {
	if len(phones) != len(ats) {
		return nil, errors.New("check import: phones and times differ in length")
	}
	out := make([]ImportCheck, len(phones))
	err := s.inSnapshot(ctx, s.r, func(q querier) error {
		for i, p := range phones {
			if p == "" {
				continue
			}
			var err error
			if out[i].OptedOut, err = optedOutTx(ctx, q, s.indexes(p)); err != nil {
				return err
			}
			if out[i].Duplicate, err = s.duplicateTx(ctx, q, p, ats[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// ImportMapping is a saved column mapping: field → column header.
type ImportMapping struct {
	Name    string
	Columns map[string]string
}

// SaveImportMapping creates or replaces the mapping called m.Name.
func (s *Store) SaveImportMapping(ctx context.Context, m ImportMapping, who string) error {
	if m.Name == "" || len(m.Name) > 100 {
		return errors.New("mapping name must be 1 to 100 bytes")
	}
	b, err := json.Marshal(m.Columns)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO import_mappings (name, columns, created_by, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET columns = excluded.columns, created_by = excluded.created_by, updated_at = excluded.updated_at`,
			m.Name, string(b), who, ms(s.now()))
		return err
	})
}

// ImportMappings lists the saved mappings by name.
func (s *Store) ImportMappings(ctx context.Context) ([]ImportMapping, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT name, columns FROM import_mappings ORDER BY name")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ImportMapping
	for rows.Next() {
		var m ImportMapping
		var cols string
		if err := rows.Scan(&m.Name, &cols); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(cols), &m.Columns); err != nil {
			return nil, fmt.Errorf("import mapping %q: %w", m.Name, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ImportMappingByName returns one saved mapping (ErrNotFound).
func (s *Store) ImportMappingByName(ctx context.Context, name string) (ImportMapping, error) {
	var cols string
	err := s.r.QueryRowContext(ctx, "SELECT columns FROM import_mappings WHERE name = ?", name).Scan(&cols)
	if errors.Is(err, sql.ErrNoRows) {
		return ImportMapping{}, fmt.Errorf("import mapping %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return ImportMapping{}, err
	}
	m := ImportMapping{Name: name}
	if err := json.Unmarshal([]byte(cols), &m.Columns); err != nil {
		return ImportMapping{}, fmt.Errorf("import mapping %q: %w", name, err)
	}
	return m, nil
}
