package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/clinicsms/smsd/audit"
)

// Template is a saved message text with placeholders, in one language.
// Name and Language are in clear (labels such as "Reminder", "en"); Body is
// sealed. The row is tagged (integrity.go): the reminder flag decides what
// every reminder says.
type Template struct {
	ID       int64
	Name     string
	Language string // "en" when empty
	Body     string
	// Reminder marks the template the reminder plan sends in its language
	// (at most one per language: saving one clears the flag of the other).
	Reminder  bool
	CreatedBy string
	UpdatedAt time.Time
}

// ErrTemplateExists: another template has this name in this language.
var ErrTemplateExists = errors.New("a template with this name exists already in this language")

func checkTemplate(t Template) error {
	if strings.TrimSpace(t.Name) == "" || len(t.Name) > 100 {
		return errors.New("template name must be 1 to 100 bytes")
	}
	if len(t.Language) > 16 {
		return errors.New("template language must be a short code such as en or es")
	}
	if len(t.Body) > MaxTextBytes {
		return fmt.Errorf("template body is longer than %d bytes", MaxTextBytes)
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// SaveTemplate stores t: with ID 0 it creates the template called t.Name
// in t.Language, or replaces the body of the one that exists; with an ID it
// changes that template (ErrNotFound if none; ErrTemplateExists when the new
// name and language belong to another). It returns the template as stored.
func (s *Store) SaveTemplate(ctx context.Context, t Template) (Template, error) {
	if t.Language == "" {
		t.Language = "en"
	}
	if err := checkTemplate(t); err != nil {
		return Template{}, err
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if t, err = s.saveTemplateTx(ctx, tx, t); err != nil {
			return err
		}
		if rec := audit.FromContext(ctx); rec != nil {
			rec.SetObject("template", strconv.FormatInt(t.ID, 10))
		}
		return nil
	})
	if err != nil {
		return Template{}, err
	}
	return t, nil
}

// saveTemplateTx is SaveTemplate in tx (t checked, its language set).
func (s *Store) saveTemplateTx(ctx context.Context, tx *sql.Tx, t Template) (Template, error) {
	now := ms(s.now())
	t.UpdatedAt = fromMS(now)
	err := func() error {
		var other int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM templates WHERE name = ? AND language = ?", t.Name, t.Language).Scan(&other)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case t.ID == 0:
			t.ID = other
		case t.ID != other:
			return fmt.Errorf("template %q (%s): %w", t.Name, t.Language, ErrTemplateExists)
		}
		if t.Reminder {
			// One reminder template per language: the flag moves here.
			ids, err := idsWhere(ctx, tx, "SELECT id FROM templates WHERE language = ? AND reminder = 1 AND id != ?", t.Language, t.ID)
			if err != nil {
				return err
			}
			sp, _ := specFor("templates")
			for _, id := range ids {
				r, err := readRow(ctx, tx, sp, "id = ?", id)
				if err != nil {
					return err
				}
				if err := s.checkRow(r); err != nil {
					return fmt.Errorf("template %d: %w", id, err)
				}
				if err := s.writeRow(ctx, tx, r, rowWrite{set: []colVal{{"reminder", int64(0)}}, extra: "updated_at = ?", args: []any{now}}); err != nil {
					return err
				}
			}
		}
		if t.ID == 0 {
			if t.ID, err = nextID(ctx, tx, "templates"); err != nil {
				return err
			}
			body := s.seal([]byte(t.Body), "templates", "body_sealed", t.ID)
			tag, err := s.tagNew(ctx, tx, "templates", t.ID, t.Name, t.Language, boolInt(t.Reminder), body)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO templates (id, name, language, body_sealed, reminder, created_by, created_at, updated_at, rv, tag)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`, t.ID, t.Name, t.Language, body, boolInt(t.Reminder), t.CreatedBy, now, now, tag)
			return err
		}
		sp, _ := specFor("templates")
		r, err := readRow(ctx, tx, sp, "id = ?", t.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("template %d: %w", t.ID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := s.checkRow(r); err != nil {
			return fmt.Errorf("template %d: %w", t.ID, err)
		}
		body := s.seal([]byte(t.Body), "templates", "body_sealed", t.ID)
		return s.writeRow(ctx, tx, r, rowWrite{
			set:   []colVal{{"name", t.Name}, {"language", t.Language}, {"reminder", boolInt(t.Reminder)}, {"body_sealed", body}},
			extra: "updated_at = ?", args: []any{now}})
	}()
	return t, err
}

// SeedTemplates creates the templates ts of every language that has no
// template yet, in one transaction (the audit record ctx carries, if any,
// is written with it; nothing is written when every language has one). It
// returns how many it created.
func (s *Store) SeedTemplates(ctx context.Context, ts []Template) (int, error) {
	have, err := s.TemplateLanguages(ctx)
	if err != nil {
		return 0, err
	}
	missing := false
	for _, t := range ts {
		missing = missing || !have[t.Language]
	}
	if !missing {
		return 0, nil
	}
	n := 0
	err = s.tx(ctx, func(tx *sql.Tx) error {
		had := map[string]bool{}
		for _, t := range ts {
			if _, ok := had[t.Language]; !ok {
				var c int
				if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM templates WHERE language = ?", t.Language).Scan(&c); err != nil {
					return err
				}
				had[t.Language] = c > 0
			}
			if had[t.Language] {
				continue
			}
			if err := checkTemplate(t); err != nil {
				return err
			}
			t.ID = 0
			if _, err := s.saveTemplateTx(ctx, tx, t); err != nil {
				return err
			}
			n++
		}
		if rec := audit.FromContext(ctx); rec != nil {
			rec.AddDetail(fmt.Sprintf("default templates created=%d", n))
		}
		return nil
	})
	return n, err
}

const templateCols = "id, name, language, body_sealed, reminder, created_by, updated_at"

func (s *Store) scanTemplate(sc scanner) (Template, error) {
	var t Template
	var b []byte
	var rem, upd int64
	if err := sc.Scan(&t.ID, &t.Name, &t.Language, &b, &rem, &t.CreatedBy, &upd); err != nil {
		return Template{}, err
	}
	t.Reminder, t.UpdatedAt = rem != 0, fromMS(upd)
	var err error
	if t.Body, err = s.open(b, "templates", "body_sealed", t.ID); err != nil {
		return Template{}, err
	}
	return t, nil
}

// Templates lists templates by name and language, opened and checked.
func (s *Store) Templates(ctx context.Context) ([]Template, error) {
	var out []Template
	err := s.inSnapshot(ctx, s.r, func(q querier) error {
		ids, err := idsWhere(ctx, q, "SELECT id FROM templates ORDER BY name, language, id")
		if err != nil {
			return err
		}
		for _, id := range ids {
			t, err := s.templateTx(ctx, q, id)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// GetTemplate returns template id, opened and checked (ErrNotFound).
func (s *Store) GetTemplate(ctx context.Context, id int64) (Template, error) {
	return s.templateTx(ctx, s.r, id)
}

// ReminderTemplate returns the reminder template of language lang
// (ErrNotFound when there is none).
func (s *Store) ReminderTemplate(ctx context.Context, lang string) (Template, error) {
	return s.reminderTemplateTx(ctx, s.r, lang)
}

func (s *Store) reminderTemplateTx(ctx context.Context, q querier, lang string) (Template, error) {
	var id int64
	err := q.QueryRowContext(ctx, "SELECT id FROM templates WHERE language = ? AND reminder = 1", lang).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Template{}, fmt.Errorf("reminder template in %q: %w", lang, ErrNotFound)
	}
	if err != nil {
		return Template{}, err
	}
	return s.templateTx(ctx, q, id)
}

func (s *Store) templateTx(ctx context.Context, q querier, id int64) (Template, error) {
	t, err := s.scanTemplate(q.QueryRowContext(ctx, "SELECT "+templateCols+" FROM templates WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Template{}, fmt.Errorf("template %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Template{}, err
	}
	if err := s.verifyRow(ctx, q, "templates", id); err != nil {
		return Template{}, fmt.Errorf("template %d: %w", id, err)
	}
	return t, nil
}

// DeleteTemplateID removes template id (ErrNotFound if none) and returns it
// as it was (for the audit trail: name and language only).
func (s *Store) DeleteTemplateID(ctx context.Context, id int64) (Template, error) {
	var t Template
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT name, language FROM templates WHERE id = ?", id).Scan(&t.Name, &t.Language)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("template %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		t.ID = id
		return s.deleteTagged(ctx, tx, "templates", id)
	})
	return t, err
}

// DeleteTemplate removes the templates called name, in every language
// (ErrNotFound if none).
func (s *Store) DeleteTemplate(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		ids, err := idsWhere(ctx, tx, "SELECT id FROM templates WHERE name = ?", name)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return fmt.Errorf("template %q: %w", name, ErrNotFound)
		}
		for _, id := range ids {
			if err := s.deleteTagged(ctx, tx, "templates", id); err != nil {
				return err
			}
		}
		return nil
	})
}

// TemplateLanguages returns the languages that have at least one template.
func (s *Store) TemplateLanguages(ctx context.Context) (map[string]bool, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT DISTINCT language FROM templates")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, err
		}
		out[l] = true
	}
	return out, rows.Err()
}
