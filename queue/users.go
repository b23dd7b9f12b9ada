package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clinicsms/smsd/crypt"
)

// Role of a staff account.
type Role string

// Roles.
const (
	RoleAdmin Role = "admin"
	RoleStaff Role = "staff"
)

// User is a staff account. PasswordHash (argon2id PHC) and TOTPSecret are
// stored sealed; Username is in clear (it is how a login finds the row).
type User struct {
	ID           int64
	Username     string
	Name         string // display name, sealed
	Role         Role
	PasswordHash string // crypt.HashPassword output
	TOTPSecret   string // base32; "" when no second factor
	Disabled     bool
	BreakGlass   bool
	FailedLogins int
	LockedUntil  time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// Tampered: the row failed its integrity check (Users only). Role is
	// then empty and Disabled set: the account has no privilege.
	Tampered bool
}

// ErrUserExists: the username is taken.
var ErrUserExists = errors.New("a user with that name already exists")

func checkUser(u User) error {
	if u.Username == "" || len(u.Username) > 64 || strings.ContainsAny(u.Username, " \t\r\n") {
		return errors.New("username must be 1 to 64 characters without spaces")
	}
	if u.Role != RoleAdmin && u.Role != RoleStaff {
		return fmt.Errorf("role %q: must be admin or staff", u.Role)
	}
	if _, err := crypt.ParsePHC(u.PasswordHash); err != nil {
		return fmt.Errorf("user %s: password hash: %w (use crypt.HashPassword)", u.Username, err)
	}
	return nil
}

// CreateUser adds an account and returns it with its id.
func (s *Store) CreateUser(ctx context.Context, u User) (User, error) {
	if err := checkUser(u); err != nil {
		return User{}, err
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		u, err = s.createUserTx(ctx, tx, u)
		return err
	})
	return u, err
}

// createUserTx inserts account u (checked) in tx and tags it.
func (s *Store) createUserTx(ctx context.Context, tx *sql.Tx, u User) (User, error) {
	now := s.now()
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM users WHERE username = ?", u.Username).Scan(&n); err != nil {
		return User{}, err
	}
	if n > 0 {
		return User{}, fmt.Errorf("user %s: %w", u.Username, ErrUserExists)
	}
	id, err := nextID(ctx, tx, "users")
	if err != nil {
		return User{}, err
	}
	u.ID, u.CreatedAt, u.UpdatedAt = id, fromMS(ms(now)), fromMS(ms(now))
	_, err = tx.ExecContext(ctx, `INSERT INTO users (id, username, role, password_sealed, disabled, break_glass,
		failed_logins, locked_until, created_at, updated_at) VALUES (?, ?, ?, x'', ?, ?, ?, ?, ?, ?)`,
		id, u.Username, string(u.Role), u.Disabled, u.BreakGlass, u.FailedLogins, ms(u.LockedUntil), ms(now), ms(now))
	if err != nil {
		return User{}, err
	}
	if err := s.writeUserSecrets(ctx, tx, u); err != nil {
		return User{}, err
	}
	return u, s.retag(ctx, tx, "users", id)
}

func (s *Store) writeUserSecrets(ctx context.Context, tx *sql.Tx, u User) error {
	var name, totp []byte
	if u.Name != "" {
		name = s.seal([]byte(u.Name), "users", "name_sealed", u.ID)
	}
	if u.TOTPSecret != "" {
		totp = s.seal([]byte(u.TOTPSecret), "users", "totp_sealed", u.ID)
	}
	_, err := tx.ExecContext(ctx, "UPDATE users SET name_sealed = ?, password_sealed = ?, totp_sealed = ? WHERE id = ?",
		name, s.seal([]byte(u.PasswordHash), "users", "password_sealed", u.ID), totp, u.ID)
	return err
}

// UpdateUser writes every field of u (found by u.ID) except CreatedAt.
func (s *Store) UpdateUser(ctx context.Context, u User) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// A tampered account is not rewritten (that would tag it as sound).
		if err := s.verifyRow(ctx, tx, "users", u.ID); err != nil {
			return err
		}
		return s.updateUserTx(ctx, tx, u)
	})
}

// updateUserTx writes u over its row, checked in tx before, and tags it.
func (s *Store) updateUserTx(ctx context.Context, tx *sql.Tx, u User) error {
	if err := checkUser(u); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE users SET username = ?, role = ?, disabled = ?, break_glass = ?, failed_logins = ?,
		locked_until = ?, updated_at = ? WHERE id = ?`, u.Username, string(u.Role), u.Disabled, u.BreakGlass, u.FailedLogins,
		ms(u.LockedUntil), ms(s.now()), u.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("user %d: %w", u.ID, ErrNotFound)
	}
	if err := s.writeUserSecrets(ctx, tx, u); err != nil {
		return err
	}
	return s.retag(ctx, tx, "users", u.ID)
}

const userCols = `id, username, name_sealed, role, password_sealed, totp_sealed, disabled, break_glass, failed_logins, locked_until, created_at, updated_at`

func (s *Store) scanUser(sc scanner) (User, error) {
	var u User
	var nameS, pwS, totpS []byte
	var role string
	var locked, created, updated int64
	if err := sc.Scan(&u.ID, &u.Username, &nameS, &role, &pwS, &totpS, &u.Disabled, &u.BreakGlass, &u.FailedLogins,
		&locked, &created, &updated); err != nil {
		return User{}, err
	}
	u.Role, u.LockedUntil, u.CreatedAt, u.UpdatedAt = Role(role), fromMS(locked), fromMS(created), fromMS(updated)
	var err error
	if u.Name, err = s.open(nameS, "users", "name_sealed", u.ID); err != nil {
		return User{}, err
	}
	if u.PasswordHash, err = s.open(pwS, "users", "password_sealed", u.ID); err != nil {
		return User{}, err
	}
	if u.TOTPSecret, err = s.open(totpS, "users", "totp_sealed", u.ID); err != nil {
		return User{}, err
	}
	return u, nil
}

// UserByName finds an account by username (case-insensitive). An account
// whose row fails its integrity check (a role, a password or a lockout
// changed without the key, or the row put back from an older copy) is an
// error wrapping ErrIntegrity: it cannot log in and has no privilege.
func (s *Store) UserByName(ctx context.Context, username string) (User, error) {
	u, err := s.scanUser(s.r.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE username = ?", username))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w", username, ErrNotFound)
	}
	if err != nil {
		return User{}, err
	}
	if err := s.checkUser(ctx, u.ID); err != nil {
		return User{}, err
	}
	return u, nil
}

// UserByID finds an account by id, checked like UserByName.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := s.scanUser(s.r.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, err
	}
	if err := s.checkUser(ctx, u.ID); err != nil {
		return User{}, err
	}
	return u, nil
}

// CountUsers counts the accounts, whatever their state (a tampered one
// counts: it is there).
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n)
	return n, err
}

// checkUser checks user id's row and the users table's digest.
func (s *Store) checkUser(ctx context.Context, id int64) error {
	if err := s.verifyRow(ctx, s.r, "users", id); err != nil {
		return fmt.Errorf("user %d: the account cannot be used: %w", id, err)
	}
	if err := s.verifyDigest(ctx, s.r, "users"); err != nil {
		return fmt.Errorf("user %d: the account cannot be used: %w", id, err)
	}
	return nil
}

// Users lists every account by username. An account that fails its
// integrity check is listed with Tampered set, no role, disabled and
// without its secrets: it has no privilege, but an admin sees it is there.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	ids, err := idsWhere(ctx, s.r, "SELECT id FROM users ORDER BY username")
	if err != nil {
		return nil, err
	}
	digestErr := s.verifyDigest(ctx, s.r, "users")
	if digestErr != nil && !errors.Is(digestErr, ErrIntegrity) {
		return nil, digestErr
	}
	var out []User
	for _, id := range ids {
		u, err := s.scanUser(s.r.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
		if err == nil {
			err = s.verifyRow(ctx, s.r, "users", id)
		}
		if err == nil {
			err = digestErr
		}
		if errors.Is(err, ErrIntegrity) || errors.Is(err, ErrTampered) {
			u = User{ID: id, Disabled: true, Tampered: true}
			err = s.r.QueryRowContext(ctx, "SELECT username FROM users WHERE id = ?", id).Scan(&u.Username)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}
