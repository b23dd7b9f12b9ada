package daemon

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// API tokens: one per integration (a practice-management system on the
// LAN). An admin creates one and sees its secret once; the store keeps a
// keyed hash (queue.CreateAPIToken). A call made with it acts as
// token:<name>, with the staff role, and the JSON API's operations are all
// it may do (refuseToken).

// tokenName is what a token's name may be: it becomes the audit trail's
// actor, token:<name>, so it is short and plain.
var tokenName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// errNoToken is the one answer to a token that lets nobody in, whatever the
// reason (unknown, revoked, or a row that fails its integrity check), so
// that the answer tells a guesser nothing.
var errNoToken = ops.Errorf(ops.CodeNoSession, "the API token is unknown or revoked: an administrator of the clinic can create a new one (the web UI's API tokens page) and give it to the integration")

// Tokens creates, lists and revokes API tokens (admins only). Create
// returns the new token with its secret, the one time it is shown; list
// returns every token, revoked ones included, without secrets; revoke
// returns the revoked token. Create and revoke are audited (token_create,
// token_revoke); a list shows no PHI and writes no row.
func (s *Service) Tokens(ctx context.Context, a ops.Actor, r ops.TokenRequest) (_ []ops.Token, err error) {
	switch r.Action {
	case ops.TokenList:
		if err := requireAdmin(a, "list API tokens"); err != nil {
			return nil, err
		}
		st, err := s.ready(ctx)
		if err != nil {
			return nil, err
		}
		ts, err := st.APITokens(ctx)
		if err != nil {
			return nil, tokenStoreError(err)
		}
		out := make([]ops.Token, 0, len(ts))
		for _, t := range ts {
			out = append(out, tokenView(t))
		}
		return out, nil
	case ops.TokenCreate, ops.TokenRevoke:
	default:
		return nil, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("unknown API token action %q (create, list, revoke)", r.Action))
	}
	action := map[string]string{ops.TokenCreate: audit.TokenCreate, ops.TokenRevoke: audit.TokenRevoke}[r.Action]
	ctx, rec := begin(ctx, a, action, "api_token", "")
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := requireAdmin(a, r.Action+" API tokens"); err != nil {
		return nil, err
	}
	if !tokenName.MatchString(r.Name) {
		return nil, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("%q is not a token name: use 1 to 64 lower case letters, digits, dots, hyphens or underscores, starting with a letter or digit (e.g. pms); nothing was changed", clipRunes(r.Name, 70)))
	}
	rec.SetObject("api_token", r.Name)
	st, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	if r.Action == ops.TokenRevoke {
		t, err := st.RevokeAPIToken(ctx, r.Name)
		if errors.Is(err, queue.ErrNotFound) {
			return nil, ops.Errorf(ops.CodeNotFound, fmt.Sprintf("no API token named %q (see the list of tokens); nothing was changed", r.Name))
		}
		if err != nil {
			return nil, tokenStoreError(err)
		}
		s.log.Info("API token revoked", "token", r.Name, "actor", a.String())
		return []ops.Token{tokenView(t)}, nil
	}
	t, secret, err := st.CreateAPIToken(ctx, r.Name, a.String())
	if errors.Is(err, queue.ErrTokenExists) {
		return nil, ops.Errorf(ops.CodeConflict, fmt.Sprintf("an API token named %q exists already (a revoked one keeps its name, so the audit trail names one integration); choose another name, e.g. %s-2", r.Name, r.Name))
	}
	if err != nil {
		return nil, tokenStoreError(err)
	}
	s.log.Info("API token created", "token", r.Name, "actor", a.String())
	v := tokenView(t)
	v.Secret = secret
	return []ops.Token{v}, nil
}

// tokenStoreError says what to do when the tokens fail their check.
func tokenStoreError(err error) error {
	if errors.Is(err, queue.ErrIntegrity) || errors.Is(err, queue.ErrTampered) {
		return ops.Errorf(ops.CodeIntegrity, "the API tokens failed their integrity check (changed without the key): run smsd doctor; no token works until then")
	}
	return err
}

func tokenView(t queue.APIToken) ops.Token {
	return ops.Token{Name: t.Name, CreatedBy: t.CreatedBy, CreatedAt: utc(t.CreatedAt), LastUsed: utc(t.LastUsed),
		Revoked: t.Revoked(), RevokedAt: utc(t.RevokedAt)}
}

// TokenActor finds the integration of a bearer token's secret: an actor of
// kind token named after it, with the staff role, asking from addr. An
// unknown or revoked token, or one whose row fails its integrity check, is
// CodeNoSession with one message. Its use is not audited here: each
// operation it calls writes its own row, as token:<name>.
func (s *Service) TokenActor(ctx context.Context, secret, addr string) (ops.Actor, error) {
	st, err := s.ready(ctx)
	if err != nil {
		return ops.Actor{}, err
	}
	t, err := st.APITokenBySecret(ctx, secret)
	switch {
	case errors.Is(err, queue.ErrNotFound):
		s.log.Info("API call with an unknown token refused", "addr", addr)
		return ops.Actor{}, errNoToken
	case errors.Is(err, queue.ErrIntegrity) || errors.Is(err, queue.ErrTampered):
		s.log.Error("API token refused: the tokens failed their integrity check (changed without the key); run smsd doctor", "addr", addr, "err", err)
		return ops.Actor{}, errNoToken
	case err != nil:
		return ops.Actor{}, err
	case t.Revoked():
		s.log.Info("API call with a revoked token refused", "token", t.Name, "addr", addr)
		return ops.Actor{}, errNoToken
	}
	return ops.Actor{Kind: ops.ActorToken, Name: t.Name, Role: ops.RoleStaff, Addr: addr}, nil
}
