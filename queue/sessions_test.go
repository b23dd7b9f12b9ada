package queue

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/crypt"
)

// newAccount creates an account with a session and returns it, the
// session and its token.
func newAccount(t *testing.T, s *Store, username string, now time.Time) (User, Session, string) {
	t.Helper()
	phc, err := crypt.HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	var x Session
	var token string
	u, err := s.CreateAccount(context.Background(), User{Username: username, Role: RoleStaff, PasswordHash: phc}, UserAuth{MustChange: true}, now, false,
		func(a *Account) error {
			var err error
			x, token, err = a.NewSession("active", "192.0.2.3", SessionTimes{Idle: 10 * time.Minute, Lifetime: time.Hour})
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	return u, x, token
}

// TestSessionRows: a session is found by its token only (the store keeps
// a keyed hash), renewing gives a new token and ID and kills the old ones,
// the idle deadline never passes the lifetime, and an account's state
// (user_auth) reads back as written.
func TestSessionRows(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	now := e.clk.Now()
	u, x, token := newAccount(t, s, "bob", now)
	if x.IdleExpires != now.Add(10*time.Minute) || x.Expires != now.Add(time.Hour) || x.Addr != "192.0.2.3" {
		t.Fatalf("%+v", x)
	}
	got, err := s.SessionByToken(ctx, token)
	if err != nil || got.ID != x.ID || got.UserID != u.ID || got.Stage != "active" || got.Addr != "192.0.2.3" {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := s.SessionByToken(ctx, token+"x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another token: %v", err)
	}
	var stored []byte
	s.r.QueryRow("SELECT token_hash FROM sessions WHERE id = ?", x.ID).Scan(&stored)
	if len(stored) != 32 || strings.Contains(string(stored), token) {
		t.Fatalf("stored token hash %x", stored)
	}
	// Touched every 9 minutes: near the end of its life the idle deadline
	// stops at the lifetime.
	for m := 9; m <= 54; m += 9 {
		at := now.Add(time.Duration(m) * time.Minute)
		got, err = s.TouchSession(ctx, x.ID, at, 10*time.Minute)
		if err != nil || !got.LastSeen.Equal(at) || got.IdleExpires.After(x.Expires) {
			t.Fatalf("touch at %d min: %+v %v", m, got, err)
		}
	}
	if !got.IdleExpires.Equal(x.Expires) {
		t.Fatalf("idle deadline %v past the lifetime %v", got.IdleExpires, x.Expires)
	}
	if _, err := s.TouchSession(ctx, x.ID, now.Add(time.Hour), 10*time.Minute); !errors.Is(err, ErrNotFound) {
		t.Fatalf("touch after the lifetime: %v", err)
	}
	if ended, why := got.Ended(now.Add(time.Hour)); !ended || why != "lifetime" {
		t.Fatalf("ended %v %q", ended, why)
	}
	if err := s.SetPendingTOTP(ctx, x.ID, "JBSWY3DPEHPK3PXP"); err != nil {
		t.Fatal(err)
	}
	var newToken string
	err = s.Account(ctx, u.ID, now, func(a *Account) error {
		if !a.Auth.MustChange {
			t.Error("user_auth written at creation did not read back")
		}
		a.Auth.MustChange = false
		a.SetRecoveryCodes([]string{"AAAAABBBBB", "CCCCCDDDDD"})
		var r Session
		var err error
		r, newToken, err = a.RenewSession(x.ID, "enrol_totp", 10*time.Minute, true)
		if r.PublicID == x.PublicID || r.PendingTOTP != "JBSWY3DPEHPK3PXP" {
			t.Errorf("renewed %+v", r)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByToken(ctx, token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the old token after renewing: %v", err)
	}
	if got, err := s.SessionByToken(ctx, newToken); err != nil || got.Stage != "enrol_totp" {
		t.Fatalf("the new token: %+v %v", got, err)
	}
	// Recovery codes: each once.
	for i, want := range []bool{true, false} {
		used := false
		if err := s.Account(ctx, u.ID, now, func(a *Account) error { used = a.UseRecoveryCode("CCCCCDDDDD"); return nil }); err != nil {
			t.Fatal(err)
		}
		if used != want {
			t.Fatalf("use %d of a recovery code: %v", i+1, used)
		}
	}
	ua, err := s.UserAuth(ctx, u.ID)
	if err != nil || ua.MustChange || len(ua.Recovery) != 1 {
		t.Fatalf("%+v %v", ua, err)
	}
	// An error in fn writes nothing.
	boom := errors.New("boom")
	if err := s.Account(ctx, u.ID, now, func(a *Account) error { a.User.Disabled = true; a.EndSessions(0); return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if u2, _ := s.UserByID(ctx, u.ID); u2.Disabled {
		t.Fatal("a failed Account wrote the user")
	}
	if xs, _ := s.Sessions(ctx, u.ID); len(xs) != 1 {
		t.Fatalf("a failed Account ended %d sessions", 1-len(xs))
	}
	if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
		t.Fatalf("integrity: %+v %v", p, err)
	}
}

// TestSessionTablesTamper: the sessions and user_auth rows are covered by
// the integrity machinery: an edited row, a deleted user_auth row (back to
// the defaults) and a session row put back show, and CheckIntegrity (smsd
// doctor) names the table.
func TestSessionTablesTamper(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, table string
		tamper      string
		read        func(s *Store, u User, token string) error
	}{
		{"session moved to another user", "sessions", "UPDATE sessions SET user_id = 99",
			func(s *Store, u User, token string) error { _, err := s.SessionByToken(ctx, token); return err }},
		{"session stage", "sessions", "UPDATE sessions SET stage = 'change_password'",
			func(s *Store, u User, token string) error { _, err := s.SessionByToken(ctx, token); return err }},
		{"session deleted", "sessions", "DELETE FROM sessions",
			func(s *Store, u User, token string) error {
				_, err := s.Sessions(ctx, 0)
				if err == nil {
					_, err = s.UserAuth(ctx, u.ID) // unrelated: must still work
					if err == nil {
						err = s.verifyDigest(ctx, s.r, "sessions")
					}
				}
				return err
			}},
		{"must_change cleared", "user_auth", "UPDATE user_auth SET must_change = 0",
			func(s *Store, u User, token string) error { _, err := s.UserAuth(ctx, u.ID); return err }},
		{"user_auth deleted (back to the defaults)", "user_auth", "DELETE FROM user_auth",
			func(s *Store, u User, token string) error { _, err := s.UserAuth(ctx, u.ID); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, s := openEnv(t)
			u, _, token := newAccount(t, s, "bob", e.clk.Now())
			db := raw(t, e.db)
			if _, err := db.Exec(tc.tamper); err != nil {
				t.Fatal(err)
			}
			if err := tc.read(s, u, token); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("read after the edit: %v", err)
			}
			if err := s.Account(ctx, u.ID, e.clk.Now(), func(*Account) error { return nil }); tc.table == "user_auth" && !errors.Is(err, ErrIntegrity) {
				t.Fatalf("Account on a tampered user_auth: %v", err)
			}
			p, err := s.CheckIntegrity(ctx)
			if err != nil || len(p) == 0 || p[0].Table != tc.table {
				t.Fatalf("CheckIntegrity: %+v %v", p, err)
			}
		})
	}
	// ResetSessions gets a broken sessions table back to a sound, empty one.
	e, s := openEnv(t)
	u, _, token := newAccount(t, s, "bob", e.clk.Now())
	raw(t, e.db).Exec("UPDATE sessions SET expires = expires + 1")
	if n, err := s.ResetSessions(ctx); err != nil || n != 1 {
		t.Fatalf("reset: %d %v", n, err)
	}
	if _, err := s.SessionByToken(ctx, token); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the reset: %v", err)
	}
	if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
		t.Fatalf("integrity after the reset: %+v %v", p, err)
	}
	_ = u
}

// TestSessionsAcrossRotation: a data key rotation reseals and retags the
// session and user_auth rows; the token hashes' key is a sealed setting,
// so sessions go on working.
func TestSessionsAcrossRotation(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	u, _, token := newAccount(t, s, "bob", e.clk.Now())
	if _, err := s.RotateDataKey(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if x, err := s.SessionByToken(ctx, token); err != nil || x.Addr != "192.0.2.3" {
		t.Fatalf("after the rotation: %+v %v", x, err)
	}
	if ua, err := s.UserAuth(ctx, u.ID); err != nil || !ua.MustChange {
		t.Fatalf("%+v %v", ua, err)
	}
	if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
		t.Fatalf("integrity after the rotation: %+v %v", p, err)
	}
}

// TestAccountBeforeUserAuth: an account made before schema 8 has no
// user_auth row: it reads as the defaults, and its first write makes one.
func TestAccountBeforeUserAuth(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, keys := filepath.Join(dir, "smsd.db"), KeySource{KeyFile: filepath.Join(dir, "smsd.key")}
	if err := initVersion(ctx, path, keys, Options{}, 7); err != nil {
		t.Fatal(err)
	}
	populate(t, path, keys, 7)
	s, err := Open(ctx, path, keys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := s.UserByName(ctx, "olduser")
	if err != nil {
		t.Fatal(err)
	}
	if ua, err := s.UserAuth(ctx, u.ID); err != nil || ua.MustChange || !ua.LastLogin.IsZero() {
		t.Fatalf("%+v %v", ua, err)
	}
	now := time.Now()
	err = s.Account(ctx, u.ID, now, func(a *Account) error {
		a.Auth.LastLogin, a.Auth.LastLoginAddr = now, "192.0.2.4"
		_, _, err := a.NewSession("active", "192.0.2.4", SessionTimes{Idle: time.Minute, Lifetime: time.Hour})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ua, err := s.UserAuth(ctx, u.ID); err != nil || ua.LastLoginAddr != "192.0.2.4" {
		t.Fatalf("%+v %v", ua, err)
	}
	if p, err := s.CheckIntegrity(ctx); err != nil || len(p) != 0 {
		t.Fatalf("integrity: %+v %v", p, err)
	}
}
