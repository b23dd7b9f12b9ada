package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Setting returns the value stored under key (ErrNotFound if none). Values
// are always sealed: a setting may well hold something PHI-ish (a clinic
// name, a help text with a doctor's name, a TOTP secret).
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	return s.settingTx(ctx, s.r, key)
}

// settingTx reads a setting through q (the store's reader, or a
// transaction that must see its own writes).
func (s *Store) settingTx(ctx context.Context, q querier, key string) (string, error) {
	var id int64
	var v []byte
	err := q.QueryRowContext(ctx, "SELECT id, value_sealed FROM settings WHERE key = ?", key).Scan(&id, &v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("setting %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	// A setting decides (the audit head's key, the help text): it must be
	// the one written last, not an older copy.
	if err := s.verifyRow(ctx, q.(querier), "settings", id); err != nil {
		return "", err
	}
	if err := s.verifyDigest(ctx, q.(querier), "settings"); err != nil {
		return "", err
	}
	return s.open(v, "settings", "value_sealed", id)
}

// SetSetting stores value under key, sealed.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	if key == "" || len(key) > 200 {
		return errors.New("setting key must be 1 to 200 bytes")
	}
	return s.tx(ctx, func(tx *sql.Tx) error { return s.setSettingTx(ctx, tx, key, value) })
}

func (s *Store) setSettingTx(ctx context.Context, tx *sql.Tx, key, value string) error {
	var id int64
	err := tx.QueryRowContext(ctx, "SELECT id FROM settings WHERE key = ?", key).Scan(&id)
	now := ms(s.now())
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if id, err = nextID(ctx, tx, "settings"); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO settings (id, key, value_sealed, updated_at) VALUES (?, ?, ?, ?)",
			id, key, s.seal([]byte(value), "settings", "value_sealed", id), now)
		if err != nil {
			return err
		}
		return s.retag(ctx, tx, "settings", id)
	case err != nil:
		return err
	}
	if err := s.verifyRow(ctx, tx, "settings", id); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "UPDATE settings SET value_sealed = ?, updated_at = ? WHERE id = ?",
		s.seal([]byte(value), "settings", "value_sealed", id), now, id)
	if err != nil {
		return err
	}
	return s.retag(ctx, tx, "settings", id)
}
