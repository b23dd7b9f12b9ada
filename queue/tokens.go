package queue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clinicsms/smsd/audit"
)

// API tokens: one per integration (a practice-management system calling the
// JSON API). Like a web session, a token row holds a keyed hash of its
// secret under the sealed session key, never the secret, so a copy of the
// file calls nothing; and the row is tagged (integrity.go), so a row
// written or un-revoked without the key fails its check and lets nobody in.

// TokenPrefix starts every API token's secret, so that one found in a log
// or a repository is recognisable (and a scanner can look for it).
const TokenPrefix = "smsd_"

// tokenTouchEvery is how often a token's last use is written: at most once
// a minute, so that a busy integration does not write on every call.
const tokenTouchEvery = time.Minute

// ErrTokenExists: CreateAPIToken with a name already taken (by a token in
// use or a revoked one: a name in the audit trail means one integration).
var ErrTokenExists = errors.New("an API token of that name exists already")

// APIToken is an API token as stored; its secret is not.
type APIToken struct {
	ID        int64
	Name      string
	CreatedBy string // "web:alice"; not PHI
	CreatedAt time.Time
	LastUsed  time.Time // zero: never used
	RevokedAt time.Time // zero: not revoked
}

// Revoked reports whether the token was revoked.
func (t APIToken) Revoked() bool { return !t.RevokedAt.IsZero() }

const tokenCols = "id, name, created_by, created_at, last_used_at, revoked_at"

func scanToken(sc scanner) (APIToken, error) {
	var t APIToken
	var created, used, revoked int64
	if err := sc.Scan(&t.ID, &t.Name, &t.CreatedBy, &created, &used, &revoked); err != nil {
		return APIToken{}, err
	}
	t.CreatedAt = fromMS(created)
	if used != 0 {
		t.LastUsed = fromMS(used)
	}
	if revoked != 0 {
		t.RevokedAt = fromMS(revoked)
	}
	return t, nil
}

func tokenHash(key []byte, secret string) []byte {
	return keyedHash(key, "smsd api token v1", secret)
}

// CreateAPIToken makes a token named name for createdBy and returns it with
// its secret, the one time the secret exists outside the caller's hands:
// TokenPrefix and 32 random bytes in base64url. A name taken already is
// ErrTokenExists.
func (s *Store) CreateAPIToken(ctx context.Context, name, createdBy string) (APIToken, string, error) {
	key, err := s.sessionKey(ctx)
	if err != nil {
		return APIToken{}, "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return APIToken{}, "", err
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	t := APIToken{Name: name, CreatedBy: clip(createdBy), CreatedAt: fromMS(ms(s.now()))}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM api_tokens WHERE name = ?", name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("API token %q: %w", name, ErrTokenExists)
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO api_tokens (name, secret_hash, created_by, created_at) VALUES (?, ?, ?, ?)",
			name, tokenHash(key, secret), t.CreatedBy, ms(t.CreatedAt))
		if err != nil {
			return err
		}
		if t.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if rec := audit.FromContext(ctx); rec != nil {
			rec.SetObject("api_token", name)
		}
		return s.retag(ctx, tx, "api_tokens", t.ID)
	})
	if err != nil {
		return APIToken{}, "", err
	}
	return t, secret, nil
}

// APITokens lists every token, revoked ones included, oldest first. A row
// that fails its integrity check, or a table that does, is an error
// wrapping ErrIntegrity: the list would not be the truth.
func (s *Store) APITokens(ctx context.Context) ([]APIToken, error) {
	var out []APIToken
	err := s.inSnapshot(ctx, s.r, func(q querier) error {
		rows, err := q.QueryContext(ctx, "SELECT "+tokenCols+" FROM api_tokens ORDER BY id")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanToken(rows)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, t := range out {
			if err := s.verifyRow(ctx, q, "api_tokens", t.ID); err != nil {
				return err
			}
		}
		return s.verifyDigest(ctx, q, "api_tokens")
	})
	if err != nil {
		return nil, fmt.Errorf("API tokens: %w", err)
	}
	return out, nil
}

// RevokeAPIToken revokes the token named name for good; revoking it again
// changes nothing and is no error. An unknown name is ErrNotFound.
func (s *Store) RevokeAPIToken(ctx context.Context, name string) (APIToken, error) {
	if rec := audit.FromContext(ctx); rec != nil {
		rec.SetObject("api_token", name)
	}
	var t APIToken
	err := s.tx(ctx, func(tx *sql.Tx) error {
		sp, _ := specFor("api_tokens")
		r, err := readRow(ctx, tx, sp, "name = ?", name)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("API token %q: %w", name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		// A tampered row is not blessed by a new tag.
		if err := s.checkRow(r); err != nil {
			return err
		}
		if rv, _ := r.val("revoked_at").(int64); rv == 0 {
			if err := s.writeRow(ctx, tx, r, rowWrite{set: []colVal{{"revoked_at", ms(s.now())}}}); err != nil {
				return err
			}
		} else if rec := audit.FromContext(ctx); rec != nil {
			rec.AddDetail("already revoked")
		}
		t, err = scanToken(tx.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM api_tokens WHERE id = ?", r.id))
		return err
	})
	return t, err
}

// APITokenBySecret finds the token of secret, checked against its tag and
// the table's digest; it does not look at revocation (the caller refuses a
// revoked one). An unknown secret is ErrNotFound. The token's last use is
// written when the one stored is a minute old or more.
func (s *Store) APITokenBySecret(ctx context.Context, secret string) (APIToken, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return APIToken{}, fmt.Errorf("API token: %w", ErrNotFound)
	}
	key, err := s.sessionKey(ctx)
	if err != nil {
		return APIToken{}, err
	}
	var t APIToken
	err = s.inSnapshot(ctx, s.r, func(q querier) error {
		t, err = scanToken(q.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM api_tokens WHERE secret_hash = ?", tokenHash(key, secret)))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("API token: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := s.verifyRow(ctx, q, "api_tokens", t.ID); err != nil {
			return err
		}
		return s.verifyDigest(ctx, q, "api_tokens")
	})
	if err != nil {
		return APIToken{}, err
	}
	now := s.now()
	if !t.Revoked() && now.Sub(t.LastUsed) >= tokenTouchEvery {
		// last_used_at is not tagged: noting a use needs no new tag.
		err := s.tx(audit.Without(ctx), func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND last_used_at < ?",
				ms(now), t.ID, ms(now.Add(-tokenTouchEvery))+1)
			return err
		})
		if err != nil {
			// A missed note of use is no reason to refuse the call.
			s.log.Warn("could not record an API token's last use", "token", t.Name, "err", err)
		} else {
			t.LastUsed = fromMS(ms(now))
		}
	}
	return t, nil
}
