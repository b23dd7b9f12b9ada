package daemon

import (
	"context"
	"database/sql"
	"encoding/base64"
	"os"
	"strings"
	"testing"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// createToken makes an API token as an admin and returns its secret.
func createToken(t *testing.T, s *Service, name string) string {
	t.Helper()
	ts, err := s.Tokens(context.Background(), admin, ops.TokenRequest{Action: ops.TokenCreate, Name: name})
	if err != nil || len(ts) != 1 || ts[0].Secret == "" {
		t.Fatalf("create token %s: %+v %v", name, ts, err)
	}
	return ts[0].Secret
}

// tokenActor makes a token and returns the actor its secret gives.
func tokenActor(t *testing.T, s *Service, name string) ops.Actor {
	t.Helper()
	a, err := s.TokenActor(context.Background(), createToken(t, s, name), "192.0.2.50")
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestTokens: an admin creates a token and sees its secret once; the
// secret gives an actor of kind token, staff role, named after it; lists
// show no secret; a revoked or unknown secret is one refusal; staff and
// tokens may not manage tokens; bad names and names taken are refused;
// create and revoke are audited.
func TestTokens(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	secret := createToken(t, s, "pms")
	if !strings.HasPrefix(secret, queue.TokenPrefix) {
		t.Fatalf("secret %.8s... lacks the prefix", secret)
	}
	if b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(secret, queue.TokenPrefix)); err != nil || len(b) != 32 {
		t.Fatalf("secret is not 32 bytes of base64url: %d %v", len(b), err)
	}
	a, err := s.TokenActor(ctx, secret, "192.0.2.50")
	if err != nil {
		t.Fatal(err)
	}
	if want := (ops.Actor{Kind: ops.ActorToken, Name: "pms", Role: ops.RoleStaff, Addr: "192.0.2.50"}); a != want {
		t.Fatalf("actor %+v, want %+v", a, want)
	}
	// What a token may do: send, read a message, list the inbox, status.
	r, err := s.Send(ctx, a, ops.SendRequest{To: "+15551234567", Text: "Reminder", IdempotencyKey: "appt-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Message(ctx, a, r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Status(ctx, a); err != nil {
		t.Fatal(err)
	}
	if rows := rowsOf(t, s, audit.MessageCreate); len(rows) != 1 || rows[0].Actor != "token:pms" || rows[0].Client != "192.0.2.50" {
		t.Fatalf("the send's audit row %+v", rows)
	}
	createToken(t, s, "lab.results-2")
	ts, err := s.Tokens(ctx, admin, ops.TokenRequest{Action: ops.TokenList})
	if err != nil || len(ts) != 2 {
		t.Fatalf("list %+v %v", ts, err)
	}
	if ts[0].Name != "pms" || ts[0].Secret != "" || ts[0].CreatedBy != "unix:alice" || ts[0].LastUsed.IsZero() || ts[0].Revoked || ts[1].Secret != "" {
		t.Fatalf("list %+v", ts)
	}

	// Refusals.
	for _, tc := range []struct {
		name string
		a    ops.Actor
		r    ops.TokenRequest
		code string
	}{
		{"staff_create", staff, ops.TokenRequest{Action: ops.TokenCreate, Name: "x"}, ops.CodeDenied},
		{"staff_list", staff, ops.TokenRequest{Action: ops.TokenList}, ops.CodeDenied},
		{"token_revokes", a, ops.TokenRequest{Action: ops.TokenRevoke, Name: "pms"}, ops.CodeDenied},
		{"name_taken", admin, ops.TokenRequest{Action: ops.TokenCreate, Name: "pms"}, ops.CodeConflict},
		{"upper_case", admin, ops.TokenRequest{Action: ops.TokenCreate, Name: "PMS"}, ops.CodeInvalidRequest},
		{"space", admin, ops.TokenRequest{Action: ops.TokenCreate, Name: "my pms"}, ops.CodeInvalidRequest},
		{"empty", admin, ops.TokenRequest{Action: ops.TokenCreate, Name: ""}, ops.CodeInvalidRequest},
		{"too_long", admin, ops.TokenRequest{Action: ops.TokenCreate, Name: strings.Repeat("a", 65)}, ops.CodeInvalidRequest},
		{"revoke_unknown", admin, ops.TokenRequest{Action: ops.TokenRevoke, Name: "nope"}, ops.CodeNotFound},
		{"unknown_action", admin, ops.TokenRequest{Action: "rotate", Name: "pms"}, ops.CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Tokens(ctx, tc.a, tc.r)
			wantCode(t, tc.name, err, tc.code)
		})
	}
	for _, bad := range []string{"", "smsd_", secret + "x", strings.TrimPrefix(secret, queue.TokenPrefix), "Bearer " + secret} {
		_, err := s.TokenActor(ctx, bad, "192.0.2.50")
		wantCode(t, "a wrong secret", err, ops.CodeNoSession)
	}

	// Revoked: refused with the same words as an unknown one; still listed.
	if _, err := s.Tokens(ctx, admin, ops.TokenRequest{Action: ops.TokenRevoke, Name: "pms"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.TokenActor(ctx, secret, "192.0.2.50")
	wantCode(t, "a revoked token", err, ops.CodeNoSession)
	_, unknown := s.TokenActor(ctx, "smsd_nope", "")
	if err.Error() != unknown.Error() {
		t.Fatalf("a revoked token and an unknown one are told apart: %q / %q", err, unknown)
	}
	if _, err := s.Tokens(ctx, admin, ops.TokenRequest{Action: ops.TokenRevoke, Name: "pms"}); err != nil {
		t.Fatalf("revoking again: %v", err)
	}
	ts, _ = s.Tokens(ctx, admin, ops.TokenRequest{Action: ops.TokenList})
	if !ts[0].Revoked || ts[0].RevokedAt.IsZero() || ts[1].Revoked {
		t.Fatalf("list after revoke %+v", ts)
	}

	creates, revokes := rowsOf(t, s, audit.TokenCreate), rowsOf(t, s, audit.TokenRevoke)
	if len(creates) != 8 || creates[0].ObjectID != "pms" || creates[0].Outcome != audit.OK || creates[2].Outcome != audit.Denied {
		t.Fatalf("token_create rows %+v", creates)
	}
	if len(revokes) != 4 || revokes[2].Outcome != audit.OK || revokes[3].Detail != "already revoked" {
		t.Fatalf("token_revoke rows %+v", revokes)
	}
	for _, r := range append(creates, revokes...) {
		if strings.Contains(r.Detail+r.ObjectID, secret[5:15]) {
			t.Fatalf("an audit row holds the secret: %+v", r)
		}
	}
}

// TestTokenRowsForged: someone with the SD card but not the key edits the
// api_tokens table: un-revokes a token, renames one to another's name,
// puts a revoked row back as it was before, or copies a row under another
// id. The token then lets nobody in.
func TestTokenRowsForged(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		forge  func(t *testing.T, db *sql.DB, s *Service)
		secret string // which token to try: "pms" or "lab"
	}{
		{"un-revoked", func(t *testing.T, db *sql.DB, s *Service) {
			mustExec(t, db, "UPDATE api_tokens SET revoked_at = 0 WHERE name = 'pms'")
		}, "pms"},
		{"secret hash moved to another row", func(t *testing.T, db *sql.DB, s *Service) {
			var h []byte
			if err := db.QueryRow("SELECT secret_hash FROM api_tokens WHERE name = 'pms'").Scan(&h); err != nil {
				t.Fatal(err)
			}
			mustExec(t, db, "UPDATE api_tokens SET secret_hash = x'01' WHERE name = 'pms'")
			mustExec(t, db, "UPDATE api_tokens SET secret_hash = ? WHERE name = 'lab'", h)
		}, "pms"},
		{"renamed", func(t *testing.T, db *sql.DB, s *Service) {
			mustExec(t, db, "UPDATE api_tokens SET name = 'admin' WHERE name = 'lab'")
		}, "lab"},
		{"copied under another id", func(t *testing.T, db *sql.DB, s *Service) {
			mustExec(t, db, "UPDATE api_tokens SET id = id + 100 WHERE name = 'lab'")
		}, "lab"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openDirect(t)
			secrets := map[string]string{"pms": createToken(t, s, "pms"), "lab": createToken(t, s, "lab")}
			if _, err := s.Tokens(ctx, admin, ops.TokenRequest{Action: ops.TokenRevoke, Name: "pms"}); err != nil {
				t.Fatal(err)
			}
			tc.forge(t, rawDB(t, s), s)
			a, err := s.TokenActor(ctx, secrets[tc.secret], "")
			if ops.CodeOf(err) != ops.CodeNoSession {
				t.Fatalf("after the edit: %+v %v", a, err)
			}
			_, err = s.Tokens(ctx, admin, ops.TokenRequest{Action: ops.TokenList})
			wantCode(t, "the list after the edit", err, ops.CodeIntegrity)
		})
	}
	t.Run("revoked row put back", func(t *testing.T) {
		s := openDirect(t)
		secret := createToken(t, s, "pms")
		db := rawDB(t, s)
		var id, created, used, revoked, rv int64
		var name, by string
		var hash, tag []byte
		if err := db.QueryRow("SELECT id, name, secret_hash, created_by, created_at, last_used_at, revoked_at, rv, tag FROM api_tokens").
			Scan(&id, &name, &hash, &by, &created, &used, &revoked, &rv, &tag); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Tokens(ctx, admin, ops.TokenRequest{Action: ops.TokenRevoke, Name: "pms"}); err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, "DELETE FROM api_tokens")
		mustExec(t, db, `INSERT INTO api_tokens (id, name, secret_hash, created_by, created_at, last_used_at, revoked_at, rv, tag)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, name, hash, by, created, used, revoked, rv, tag)
		_, err := s.TokenActor(ctx, secret, "")
		wantCode(t, "the revoked token put back", err, ops.CodeNoSession)
	})
}

// TestTokenSecretNotOnDisk: the secret is in neither the database file nor
// its WAL, in any form it is shown in.
func TestTokenSecretNotOnDisk(t *testing.T) {
	s := openDirect(t)
	secret := createToken(t, s, "pms")
	if _, err := s.TokenActor(context.Background(), secret, ""); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(secret, queue.TokenPrefix))
	var files []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(s.cfg.DBPath() + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		files = append(files, b...)
	}
	for _, sec := range []string{secret, strings.TrimPrefix(secret, queue.TokenPrefix), string(raw)} {
		if strings.Contains(string(files), sec) {
			t.Errorf("the database holds the secret in clear: %.10s...", sec)
		}
	}
	// The search works: the token's name is there in clear.
	if !strings.Contains(string(files), "pms") {
		t.Fatal("the token name is not found in the files: the search is broken")
	}
}
