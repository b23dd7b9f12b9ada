package queue

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clinicsms/smsd/audit"
)

// Web sessions and each account's sign-in state. The rules (lockout,
// stages, expiry) are the daemon's; the store keeps the rows so that
// nobody who can write the file without the key can forge or move them:
//
//   - A session row holds a keyed hash of its token, never the token, so
//     a copy of the file does not sign anyone in. The hash key is a random
//     key kept as a sealed setting, so it follows the data key through a
//     rotation and sessions survive one.
//   - Every column a decision rests on (the user, the stage, the times, the
//     token hash) is covered by the row's integrity tag, and the table by
//     its digest (integrity.go): a row edited, moved to another user, put
//     back after its logout or copied under another id fails its check.
//   - user_auth keeps what the users row has no column for (must change
//     the password, second factor required, the failure window, the last
//     sign-in, the recovery codes, the last TOTP step used), tagged the
//     same way. It is a table of its own because adding columns to users'
//     tag would invalidate every stored users tag. An account without a
//     user_auth row has the defaults (the rows of accounts made before
//     this table existed); deleting a row to get back to the defaults
//     shows in the table's digest.

// sessionsMigration is schema step 8. Session ids come from AUTOINCREMENT,
// so that an id is never used twice (a tag binds its row's id).
const sessionsMigration = `CREATE TABLE sessions (
		id             INTEGER PRIMARY KEY AUTOINCREMENT,
		public_id      TEXT    NOT NULL UNIQUE,
		token_hash     BLOB    NOT NULL UNIQUE,
		user_id        INTEGER NOT NULL REFERENCES users (id),
		stage          TEXT    NOT NULL,
		created_at     INTEGER NOT NULL,
		last_seen      INTEGER NOT NULL,
		idle_expires   INTEGER NOT NULL,
		expires        INTEGER NOT NULL,
		addr_sealed    BLOB,
		pending_sealed BLOB,
		rv             INTEGER NOT NULL DEFAULT 0,
		tag            BLOB
	);
	CREATE INDEX sessions_user ON sessions (user_id);
	CREATE TABLE user_auth (
		id                     INTEGER PRIMARY KEY REFERENCES users (id),
		must_change            INTEGER NOT NULL DEFAULT 0,
		totp_required          INTEGER NOT NULL DEFAULT 0,
		fail_window_start      INTEGER NOT NULL DEFAULT 0,
		last_login_at          INTEGER NOT NULL DEFAULT 0,
		last_login_addr_sealed BLOB,
		recovery_sealed        BLOB,
		totp_last_step         INTEGER NOT NULL DEFAULT 0,
		rv                     INTEGER NOT NULL DEFAULT 0,
		tag                    BLOB
	);`

// Session is a web session as stored. The token itself is never stored:
// CreateSession and RenewSession return it once.
type Session struct {
	ID          int64
	PublicID    string // names the session in lists; not a credential
	UserID      int64
	Stage       string
	CreatedAt   time.Time
	LastSeen    time.Time
	IdleExpires time.Time
	Expires     time.Time
	Addr        string // where it signed in from, sealed
	// PendingTOTP is a second-factor secret waiting for its first code
	// (base32), sealed; "" when none.
	PendingTOTP string
}

// Ended reports whether the session is over at now, and why: "idle" or
// "lifetime".
func (x Session) Ended(now time.Time) (bool, string) {
	switch {
	case !now.Before(x.Expires):
		return true, "lifetime"
	case !now.Before(x.IdleExpires):
		return true, "idle"
	}
	return false, ""
}

// SessionTimes are the lengths of a session: Idle without a request,
// Lifetime in any case.
type SessionTimes struct {
	Idle     time.Duration
	Lifetime time.Duration
}

// UserAuth is an account's sign-in state beyond its users row.
type UserAuth struct {
	// MustChange: an admin set the password; the user chooses a new one
	// at the next sign-in.
	MustChange bool
	// TOTPRequired: this account must enrol a second factor.
	TOTPRequired bool
	// FailWindowStart is when the current run of failed sign-ins began
	// (users.failed_logins counts them); zero when none.
	FailWindowStart time.Time
	LastLogin       time.Time
	LastLoginAddr   string
	// Recovery holds the keyed hashes (hex) of the unused recovery codes.
	Recovery []string
	// TOTPLastStep is the last TOTP time step accepted: a code of that
	// step or an earlier one is not accepted again.
	TOTPLastStep int64
}

// ErrAccountsExist: CreateAccount for the first account (onlyFirst) found
// one already.
var ErrAccountsExist = errors.New("an account exists already")

const (
	sessionKeySetting = "web.session_key"
	sessionCols       = "id, public_id, user_id, stage, created_at, last_seen, idle_expires, expires, addr_sealed, pending_sealed"
)

// sessionKey is the key of the token and recovery-code hashes: a sealed
// setting, made on first use in a transaction of its own (so that a key
// made by a transaction that rolls back is never handed out).
func (s *Store) sessionKey(ctx context.Context) ([]byte, error) {
	v, err := s.settingTx(ctx, s.r, sessionKeySetting)
	if errors.Is(err, ErrNotFound) {
		err = s.tx(audit.Without(ctx), func(tx *sql.Tx) error {
			v, err = s.settingTx(ctx, tx, sessionKeySetting)
			if !errors.Is(err, ErrNotFound) {
				return err
			}
			k := make([]byte, 32)
			if _, err := rand.Read(k); err != nil {
				return err
			}
			v = hex.EncodeToString(k)
			return s.setSettingTx(ctx, tx, sessionKeySetting, v)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("web session key: %w", err)
	}
	key, err := hex.DecodeString(v)
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("web session key: the setting is malformed: %w", ErrIntegrity)
	}
	return key, nil
}

// keyedHash is HMAC-SHA256 under the session key of a domain and a value.
func keyedHash(key []byte, domain, v string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return m.Sum(nil)
}

// newToken returns a new session token: 32 random bytes, base64url.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// recoveryHash is the stored form of a recovery code of user id.
func recoveryHash(key []byte, id int64, code string) string {
	return hex.EncodeToString(keyedHash(key, fmt.Sprintf("smsd recovery code v1 user %d", id), code))
}

func (s *Store) scanSession(sc scanner) (Session, error) {
	var x Session
	var created, seen, idle, exp int64
	var addr, pending []byte
	if err := sc.Scan(&x.ID, &x.PublicID, &x.UserID, &x.Stage, &created, &seen, &idle, &exp, &addr, &pending); err != nil {
		return Session{}, err
	}
	x.CreatedAt, x.LastSeen, x.IdleExpires, x.Expires = fromMS(created), fromMS(seen), fromMS(idle), fromMS(exp)
	var err error
	if x.Addr, err = s.open(addr, "sessions", "addr_sealed", x.ID); err != nil {
		return Session{}, err
	}
	if x.PendingTOTP, err = s.open(pending, "sessions", "pending_sealed", x.ID); err != nil {
		return Session{}, err
	}
	return x, nil
}

// sessionWhere reads the one session where selects, checked against its
// tag and the table's digest. None is ErrNotFound.
func (s *Store) sessionWhere(ctx context.Context, q querier, where string, args ...any) (x Session, err error) {
	// The row, its tag and the table's digest from one snapshot.
	err = s.inSnapshot(ctx, q, func(q querier) error {
		x, err = s.sessionIn(ctx, q, where, args...)
		return err
	})
	return x, err
}

func (s *Store) sessionIn(ctx context.Context, q querier, where string, args ...any) (Session, error) {
	x, err := s.scanSession(q.QueryRowContext(ctx, "SELECT "+sessionCols+" FROM sessions WHERE "+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, err
	}
	if err := s.verifyRow(ctx, q, "sessions", x.ID); err != nil {
		return Session{}, err
	}
	if err := s.verifyDigest(ctx, q, "sessions"); err != nil {
		return Session{}, err
	}
	return x, nil
}

// SessionByToken finds the session of token (ErrNotFound if none). A
// session that fails its integrity check, or a sessions table that does,
// is an error wrapping ErrIntegrity (or ErrTampered): it signs nobody in.
// It does not look at the times: the caller decides whether it ended.
func (s *Store) SessionByToken(ctx context.Context, token string) (Session, error) {
	key, err := s.sessionKey(ctx)
	if err != nil {
		return Session{}, err
	}
	return s.sessionWhere(ctx, s.r, "token_hash = ?", keyedHash(key, "smsd session token v1", token))
}

// SessionByPublicID finds a session by the ID lists show.
func (s *Store) SessionByPublicID(ctx context.Context, id string) (Session, error) {
	return s.sessionWhere(ctx, s.r, "public_id = ?", id)
}

// Sessions lists the sessions of user id (0: of every user), oldest first.
// A session failing its integrity check is left out (it signs nobody in).
func (s *Store) Sessions(ctx context.Context, userID int64) ([]Session, error) {
	q, args := "SELECT "+sessionCols+" FROM sessions ORDER BY id", []any{}
	if userID != 0 {
		q, args = "SELECT "+sessionCols+" FROM sessions WHERE user_id = ? ORDER BY id", []any{userID}
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var all []Session
	for rows.Next() {
		x, err := s.scanSession(rows)
		if errors.Is(err, ErrTampered) {
			continue
		}
		if err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := all[:0]
	for _, x := range all {
		if s.verifyRow(ctx, s.r, "sessions", x.ID) == nil {
			out = append(out, x)
		}
	}
	return out, nil
}

// EndedSessions lists the sessions over at now (idle or lifetime).
func (s *Store) EndedSessions(ctx context.Context, now time.Time) ([]Session, error) {
	ids, err := idsWhere(ctx, s.r, "SELECT id FROM sessions WHERE idle_expires <= ? OR expires <= ? ORDER BY id", ms(now), ms(now))
	if err != nil {
		return nil, err
	}
	var out []Session
	for _, id := range ids {
		x, err := s.sessionWhere(ctx, s.r, "id = ?", id)
		switch {
		case errors.Is(err, ErrNotFound):
			continue // ended meanwhile
		case err != nil && (errors.Is(err, ErrIntegrity) || errors.Is(err, ErrTampered)):
			// It ends all the same; the caller deletes it.
			out = append(out, Session{ID: id})
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// TouchSession records a request of session id at now: last seen, and the
// idle deadline moved to now + idle, never past the session's lifetime. It
// refuses (ErrNotFound) a session that ended or no longer exists.
func (s *Store) TouchSession(ctx context.Context, id int64, now time.Time, idle time.Duration) (Session, error) {
	var x Session
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if x, err = s.sessionWhere(ctx, tx, "id = ?", id); err != nil {
			return err
		}
		if ended, _ := x.Ended(now); ended {
			return fmt.Errorf("session %d ended: %w", id, ErrNotFound)
		}
		x.LastSeen = now
		x.IdleExpires = now.Add(idle)
		if x.IdleExpires.After(x.Expires) {
			x.IdleExpires = x.Expires
		}
		return s.writeSession(ctx, tx, x, nil)
	})
	return x, err
}

// SetPendingTOTP keeps secret with session id until the enrolment is
// confirmed ("" forgets it).
func (s *Store) SetPendingTOTP(ctx context.Context, id int64, secret string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		x, err := s.sessionWhere(ctx, tx, "id = ?", id)
		if err != nil {
			return err
		}
		x.PendingTOTP = secret
		return s.writeSession(ctx, tx, x, nil)
	})
}

// DeleteSession ends session id (ErrNotFound if it is gone already). The
// audit record in ctx, if any, commits with it.
func (s *Store) DeleteSession(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM sessions WHERE id = ?", id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("session %d: %w", id, ErrNotFound)
		}
		return s.deleteTagged(ctx, tx, "sessions", id)
	})
}

// ResetSessions ends every session and gives the sessions table a new,
// empty digest: for a table that failed its integrity check, where no row
// can be trusted. Everyone signs in again; nothing is blessed.
func (s *Store) ResetSessions(ctx context.Context) (int, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM sessions")
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return s.storeDigest(ctx, tx, "sessions", digest{gen: s.current().Gen()}, true)
	})
	return int(n), err
}

// writeSession writes x over its row (read and checked in tx) and tags it
// again. tokenHash, when not nil, replaces the token's hash.
func (s *Store) writeSession(ctx context.Context, tx *sql.Tx, x Session, tokenHash []byte) error {
	var addr, pending any
	if x.Addr != "" {
		addr = s.seal([]byte(x.Addr), "sessions", "addr_sealed", x.ID)
	}
	if x.PendingTOTP != "" {
		pending = s.seal([]byte(x.PendingTOTP), "sessions", "pending_sealed", x.ID)
	}
	q := `UPDATE sessions SET stage = ?, last_seen = ?, idle_expires = ?, expires = ?, addr_sealed = ?, pending_sealed = ?`
	args := []any{x.Stage, ms(x.LastSeen), ms(x.IdleExpires), ms(x.Expires), addr, pending}
	if tokenHash != nil {
		q += ", token_hash = ?, public_id = ?"
		args = append(args, tokenHash, x.PublicID)
	}
	args = append(args, x.ID)
	res, err := tx.ExecContext(ctx, q+" WHERE id = ?", args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("session %d: %w", x.ID, ErrNotFound)
	}
	return s.retag(ctx, tx, "sessions", x.ID)
}

// newPublicID is a session's name in lists: 12 random bytes, base64url.
func newPublicID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Account is one account's rows inside one transaction of Store.Account
// or Store.CreateAccount: fn changes User and Auth as it likes (they are
// written when it returns nil, if changed) and uses the methods for the
// sessions and the extra audit rows, which run in the same transaction.
type Account struct {
	User User
	Auth UserAuth

	s       *Store
	ctx     context.Context
	tx      *sql.Tx
	now     time.Time
	key     []byte
	user    User
	auth    UserAuth
	authRow bool
}

// Now is the time the transaction acts at (the caller's clock).
func (a *Account) Now() time.Time { return a.now }

// NewSession starts a session of the account in stage, from addr, and
// returns it with its token (shown once).
func (a *Account) NewSession(stage, addr string, t SessionTimes) (Session, string, error) {
	token, err := newToken()
	if err != nil {
		return Session{}, "", err
	}
	pid, err := newPublicID()
	if err != nil {
		return Session{}, "", err
	}
	var id int64
	if err := a.tx.QueryRowContext(a.ctx, `SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'sessions'), 0),
		COALESCE((SELECT MAX(id) FROM sessions), 0)) + 1`).Scan(&id); err != nil {
		return Session{}, "", err
	}
	x := Session{ID: id, PublicID: pid, UserID: a.User.ID, Stage: stage, CreatedAt: a.now, LastSeen: a.now,
		IdleExpires: a.now.Add(t.Idle), Expires: a.now.Add(t.Lifetime), Addr: addr}
	if x.IdleExpires.After(x.Expires) {
		x.IdleExpires = x.Expires
	}
	var sealedAddr any
	if addr != "" {
		sealedAddr = a.s.seal([]byte(addr), "sessions", "addr_sealed", id)
	}
	if _, err := a.tx.ExecContext(a.ctx, `INSERT INTO sessions (id, public_id, token_hash, user_id, stage, created_at, last_seen,
		idle_expires, expires, addr_sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, pid, keyedHash(a.key, "smsd session token v1", token),
		x.UserID, stage, ms(x.CreatedAt), ms(x.LastSeen), ms(x.IdleExpires), ms(x.Expires), sealedAddr); err != nil {
		return Session{}, "", err
	}
	if err := a.s.retag(a.ctx, a.tx, "sessions", id); err != nil {
		return Session{}, "", err
	}
	return x, token, nil
}

// RenewSession gives the account's session id a new token and ID (the old
// ones stop working) and moves it to stage; the idle deadline starts
// again, the lifetime stays. A pending TOTP secret is dropped when
// keepPending is false.
func (a *Account) RenewSession(id int64, stage string, idle time.Duration, keepPending bool) (Session, string, error) {
	x, err := a.s.sessionWhere(a.ctx, a.tx, "id = ? AND user_id = ?", id, a.User.ID)
	if err != nil {
		return Session{}, "", err
	}
	token, err := newToken()
	if err != nil {
		return Session{}, "", err
	}
	if x.PublicID, err = newPublicID(); err != nil {
		return Session{}, "", err
	}
	x.Stage, x.LastSeen = stage, a.now
	x.IdleExpires = a.now.Add(idle)
	if x.IdleExpires.After(x.Expires) {
		x.IdleExpires = x.Expires
	}
	if !keepPending {
		x.PendingTOTP = ""
	}
	if err := a.s.writeSession(a.ctx, a.tx, x, keyedHash(a.key, "smsd session token v1", token)); err != nil {
		return Session{}, "", err
	}
	return x, token, nil
}

// EndSessions deletes every session of the account except the one with id
// except (0: none), and returns those it ended.
func (a *Account) EndSessions(except int64) ([]Session, error) {
	ids, err := idsWhere(a.ctx, a.tx, "SELECT id FROM sessions WHERE user_id = ? AND id != ? ORDER BY id", a.User.ID, except)
	if err != nil {
		return nil, err
	}
	var out []Session
	for _, id := range ids {
		x, err := a.s.scanSession(a.tx.QueryRowContext(a.ctx, "SELECT "+sessionCols+" FROM sessions WHERE id = ?", id))
		if err != nil && !errors.Is(err, ErrTampered) {
			return nil, err
		}
		x.ID = id
		if err := a.s.deleteTagged(a.ctx, a.tx, "sessions", id); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// SetRecoveryCodes replaces the account's recovery codes with codes
// (stored only as keyed hashes).
func (a *Account) SetRecoveryCodes(codes []string) {
	a.Auth.Recovery = nil
	for _, c := range codes {
		a.Auth.Recovery = append(a.Auth.Recovery, recoveryHash(a.key, a.User.ID, c))
	}
}

// UseRecoveryCode consumes code if it is one of the account's unused
// recovery codes. The caller normalises the code as it made it.
func (a *Account) UseRecoveryCode(code string) bool {
	h := recoveryHash(a.key, a.User.ID, code)
	for i, r := range a.Auth.Recovery {
		if hmac.Equal([]byte(r), []byte(h)) {
			a.Auth.Recovery = append(append([]string(nil), a.Auth.Recovery[:i]...), a.Auth.Recovery[i+1:]...)
			return true
		}
	}
	return false
}

// OtherEnabledAdmins counts the enabled admin accounts other than this one
// and the break-glass account, each checked against its tag (a tampered
// row has no privilege).
func (a *Account) OtherEnabledAdmins() (int, error) {
	ids, err := idsWhere(a.ctx, a.tx, "SELECT id FROM users WHERE role = 'admin' AND disabled = 0 AND break_glass = 0 AND id != ?", a.User.ID)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if a.s.verifyRow(a.ctx, a.tx, "users", id) == nil {
			n++
		}
	}
	return n, nil
}

// Audit appends e to the audit log in the account's transaction (the row
// of the action itself comes from the context's record, if any).
func (a *Account) Audit(e audit.Event) error {
	if e.Time.IsZero() {
		e.Time = a.s.now()
	}
	_, err := audit.Append(a.ctx, a.tx, e)
	return err
}

// DeleteSetting removes a setting in the account's transaction (the
// one-time setup code, consumed with the first account).
func (a *Account) DeleteSetting(key string) error {
	var id int64
	err := a.tx.QueryRowContext(a.ctx, "SELECT id FROM settings WHERE key = ?", key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return a.s.deleteTagged(a.ctx, a.tx, "settings", id)
}

// Setting reads a setting in the account's transaction.
func (a *Account) Setting(key string) (string, error) {
	return a.s.settingTx(a.ctx, a.tx, key)
}

// Account runs fn on account id's rows in one write transaction, with
// the caller's time now. The users row and the user_auth row are checked
// against their tags first (an error wrapping ErrIntegrity when either
// fails: a tampered account is never written, so never blessed); what fn
// changed in User and Auth is written when it returns nil, and nothing at
// all when it returns an error.
func (s *Store) Account(ctx context.Context, id int64, now time.Time, fn func(*Account) error) error {
	key, err := s.sessionKey(ctx)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		a := &Account{s: s, ctx: ctx, tx: tx, now: now, key: key}
		u, err := s.scanUser(tx.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("user %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := s.verifyRow(ctx, tx, "users", id); err != nil {
			return fmt.Errorf("user %d: the account cannot be used: %w", id, err)
		}
		if err := s.verifyDigest(ctx, tx, "users"); err != nil {
			return fmt.Errorf("user %d: the account cannot be used: %w", id, err)
		}
		a.User, a.user = u, u
		if a.Auth, a.authRow, err = s.userAuth(ctx, tx, id); err != nil {
			return err
		}
		a.auth = a.Auth
		if err := fn(a); err != nil {
			return err
		}
		return a.write()
	})
}

// CreateAccount creates the account u with auth in one write transaction
// and runs fn on it there (a first session, extra audit rows). With
// onlyFirst, it refuses (ErrAccountsExist) when any account exists: the
// first-run setup.
func (s *Store) CreateAccount(ctx context.Context, u User, auth UserAuth, now time.Time, onlyFirst bool, fn func(*Account) error) (User, error) {
	if err := checkUser(u); err != nil {
		return User{}, err
	}
	key, err := s.sessionKey(ctx)
	if err != nil {
		return User{}, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
			return err
		}
		if onlyFirst && n > 0 {
			return ErrAccountsExist
		}
		if u, err = s.createUserTx(ctx, tx, u); err != nil {
			return err
		}
		a := &Account{s: s, ctx: ctx, tx: tx, now: now, key: key, User: u, user: u, Auth: auth}
		if fn != nil {
			if err := fn(a); err != nil {
				return err
			}
		}
		return a.write()
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// write stores what fn changed.
func (a *Account) write() error {
	if !usersEqual(a.User, a.user) {
		if a.User.ID != a.user.ID {
			return errors.New("an account's id cannot change")
		}
		if err := a.s.updateUserTx(a.ctx, a.tx, a.User); err != nil {
			return err
		}
	}
	if !authEqual(a.Auth, a.auth) {
		return a.s.writeUserAuth(a.ctx, a.tx, a.User.ID, a.Auth, a.authRow)
	}
	return nil
}

func usersEqual(x, y User) bool {
	return x.ID == y.ID && x.Username == y.Username && x.Name == y.Name && x.Role == y.Role && x.PasswordHash == y.PasswordHash &&
		x.TOTPSecret == y.TOTPSecret && x.Disabled == y.Disabled && x.BreakGlass == y.BreakGlass && x.FailedLogins == y.FailedLogins &&
		x.LockedUntil.Equal(y.LockedUntil)
}

func authEqual(x, y UserAuth) bool {
	return x.MustChange == y.MustChange && x.TOTPRequired == y.TOTPRequired && x.FailWindowStart.Equal(y.FailWindowStart) &&
		x.LastLogin.Equal(y.LastLogin) && x.LastLoginAddr == y.LastLoginAddr && strings.Join(x.Recovery, ",") == strings.Join(y.Recovery, ",") &&
		x.TOTPLastStep == y.TOTPLastStep
}

// UserAuth reads account id's sign-in state (the defaults when it has no
// row), checked against its tag and the table's digest.
func (s *Store) UserAuth(ctx context.Context, id int64) (UserAuth, error) {
	ua, _, err := s.userAuth(ctx, s.r, id)
	return ua, err
}

func (s *Store) userAuth(ctx context.Context, q querier, id int64) (UserAuth, bool, error) {
	var ua UserAuth
	var fail, last int64
	var addr, rec []byte
	err := q.QueryRowContext(ctx, `SELECT must_change, totp_required, fail_window_start, last_login_at, last_login_addr_sealed,
		recovery_sealed, totp_last_step FROM user_auth WHERE id = ?`, id).Scan(&ua.MustChange, &ua.TOTPRequired, &fail, &last, &addr, &rec, &ua.TOTPLastStep)
	// A missing row is the defaults, unless the table's digest says a row
	// was deleted: checked in both cases.
	if derr := s.verifyDigest(ctx, q, "user_auth"); derr != nil {
		return UserAuth{}, false, fmt.Errorf("user %d: sign-in state: %w", id, derr)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return UserAuth{}, false, nil
	}
	if err != nil {
		return UserAuth{}, false, err
	}
	if err := s.verifyRow(ctx, q, "user_auth", id); err != nil {
		return UserAuth{}, false, fmt.Errorf("user %d: sign-in state: %w", id, err)
	}
	ua.FailWindowStart, ua.LastLogin = fromMS(fail), fromMS(last)
	if ua.LastLoginAddr, err = s.open(addr, "user_auth", "last_login_addr_sealed", id); err != nil {
		return UserAuth{}, false, err
	}
	codes, err := s.open(rec, "user_auth", "recovery_sealed", id)
	if err != nil {
		return UserAuth{}, false, err
	}
	if codes != "" {
		ua.Recovery = strings.Split(codes, ",")
	}
	return ua, true, nil
}

// writeUserAuth writes account id's sign-in state (inserting its row when
// it has none) and tags it.
func (s *Store) writeUserAuth(ctx context.Context, tx *sql.Tx, id int64, ua UserAuth, exists bool) error {
	var addr, rec any
	if ua.LastLoginAddr != "" {
		addr = s.seal([]byte(ua.LastLoginAddr), "user_auth", "last_login_addr_sealed", id)
	}
	if len(ua.Recovery) > 0 {
		rec = s.seal([]byte(strings.Join(ua.Recovery, ",")), "user_auth", "recovery_sealed", id)
	}
	q := `UPDATE user_auth SET must_change = ?, totp_required = ?, fail_window_start = ?, last_login_at = ?,
		last_login_addr_sealed = ?, recovery_sealed = ?, totp_last_step = ? WHERE id = ?`
	if !exists {
		q = `INSERT INTO user_auth (must_change, totp_required, fail_window_start, last_login_at, last_login_addr_sealed,
			recovery_sealed, totp_last_step, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	}
	if _, err := tx.ExecContext(ctx, q, ua.MustChange, ua.TOTPRequired, ms(ua.FailWindowStart), ms(ua.LastLogin), addr, rec, ua.TOTPLastStep, id); err != nil {
		return err
	}
	return s.retag(ctx, tx, "user_auth", id)
}
