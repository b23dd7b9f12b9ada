package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/ops"
)

// TestTokensPage: an admin's API tokens page lists the tokens (name,
// created by and at, last used, revoked), makes one and shows its secret
// once (which then calls the API), and revokes one (which the API then
// refuses); the nav links to it for admins only.
func TestTokensPage(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleAdmin)
	s := apiSite(t, svc, nil)
	b := s.browser()
	b.signIn("alice", "/")

	a := b.get("/tokens")
	if a.status != http.StatusOK {
		t.Fatalf("GET /tokens: %d %s", a.status, a.body)
	}
	for _, id := range []string{"tokens", "token-create", "token-name", "token-create-submit"} {
		if !hasID(a.body, id) {
			t.Errorf("the tokens page has no #%s", id)
		}
	}
	if hasID(a.body, "token-secret") {
		t.Error("the tokens page shows a secret before any was made")
	}
	if !strings.Contains(a.body, `<a href="/tokens" aria-current="page">`) {
		t.Error("an admin's navigation has no link to /tokens")
	}

	a = b.post("/tokens", url.Values{"name": {"pms"}})
	if a.status != http.StatusOK || !hasID(a.body, "token-secret") || !hasID(a.body, "token-secret-note") {
		t.Fatalf("POST /tokens: %d, want 200 with #token-secret and its note: %s", a.status, a.body)
	}
	secret := textOf(t, a.body, "token-secret")
	if !strings.HasPrefix(secret, "smsd_") || len(secret) < 40 {
		t.Errorf("the secret shown is %q", secret)
	}
	if !strings.Contains(textOf(t, a.body, "notice"), "pms") {
		t.Errorf("no notice naming the new token")
	}
	// The secret works, and is never shown again.
	if st := s.integration(secret).get("/api/v1/status"); st.status != http.StatusOK {
		t.Errorf("the shown secret calls the API: %d %s", st.status, st.body)
	}
	a = b.get("/tokens")
	if strings.Contains(a.body, secret) || hasID(a.body, "token-secret") {
		t.Error("the tokens page shows the secret again")
	}
	row := regexp.MustCompile(`(?s)<tr data-token="pms">.*?</tr>`).FindString(a.body)
	if row == "" {
		t.Fatalf("table#tokens has no row for pms:\n%s", a.body)
	}
	for _, want := range []string{"web:alice", "active", `name="action" value="revoke"`, `action="/tokens/pms"`} {
		if !strings.Contains(row, want) {
			t.Errorf("pms's row does not show %q: %s", want, row)
		}
	}
	if strings.Contains(row, ">never<") {
		t.Errorf("pms's row says it was never used, after a call: %s", row)
	}

	// Refusals of the create form, on the page.
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		words  string
	}{
		{"no name", url.Values{}, http.StatusBadRequest, "name is missing"},
		{"a taken name", url.Values{"name": {"pms"}}, http.StatusConflict, ""},
		{"a bad name", url.Values{"name": {"PMS system!"}}, http.StatusBadRequest, ""},
	} {
		a := b.post("/tokens", tc.form)
		if a.status != tc.status || errorText(a.body) == "" || !strings.Contains(errorText(a.body), tc.words) || hasID(a.body, "token-secret") {
			t.Errorf("%s: %d %q, want %d with #error saying %q and no secret", tc.name, a.status, errorText(a.body), tc.status, tc.words)
		}
	}
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"no action", url.Values{}},
		{"an unknown action", url.Values{"action": {"delete"}}},
	} {
		if a := b.post("/tokens/pms", tc.form); a.status != http.StatusBadRequest || errorText(a.body) == "" {
			t.Errorf("%s: %d %q, want 400 with #error", tc.name, a.status, errorText(a.body))
		}
	}
	if a := b.post("/tokens/nosuch", url.Values{"action": {"revoke"}}); a.status != http.StatusNotFound || errorText(a.body) == "" {
		t.Errorf("revoke an unknown token: %d %q, want 404 with #error", a.status, errorText(a.body))
	}

	// Revoke.
	a = b.post("/tokens/pms", url.Values{"action": {"revoke"}})
	if a.status != http.StatusSeeOther || a.location != "/tokens?done=revoke&token=pms" {
		t.Fatalf("revoke: %d to %q", a.status, a.location)
	}
	a = b.get(a.location)
	if n := textOf(t, a.body, "notice"); !strings.Contains(n, "pms") || !strings.Contains(n, "revoked") {
		t.Errorf("the notice after revoking: %q", n)
	}
	row = regexp.MustCompile(`(?s)<tr data-token="pms">.*?</tr>`).FindString(a.body)
	if !strings.Contains(row, "revoked") || strings.Contains(row, `value="revoke"`) {
		t.Errorf("pms's row after revoking: %s", row)
	}
	wantError(t, "the revoked secret", s.integration(secret).get("/api/v1/status"), http.StatusUnauthorized, "unauthorized")
	// A crafted notice for a token that is not there says nothing.
	if a := b.get("/tokens?done=revoke&token=ghost"); hasID(a.body, "notice") {
		t.Error("a crafted address made the page claim a token ghost was revoked")
	}

	// Both changes are in the audit trail, by web:alice.
	var got []string
	for _, r := range auditRows(t, svc) {
		if r.Actor == "web:alice" && (r.Action == audit.TokenCreate || r.Action == audit.TokenRevoke) && r.Outcome == audit.OK {
			got = append(got, r.Action)
		}
	}
	if strings.Join(got, " ") != audit.TokenCreate+" "+audit.TokenRevoke {
		t.Errorf("audit rows of web:alice for tokens: %v", got)
	}
}

// TestTokensPageAdminOnly: staff get 403 on every route of the tokens page
// and no link to it; without a session they go to sign in; a form from
// another site is refused; nothing is made.
func TestTokensPageAdminOnly(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "bob", ops.RoleStaff)
	makeToken(t, svc, "pms")
	s := apiSite(t, svc, nil)

	anon := s.browser()
	for _, a := range []answer{anon.get("/tokens"), anon.post("/tokens", url.Values{"name": {"x"}}), anon.post("/tokens/pms", url.Values{"action": {"revoke"}})} {
		if a.status != http.StatusSeeOther || a.location != "/signin" {
			t.Errorf("without a session: %d to %q, want 303 to /signin", a.status, a.location)
		}
	}

	b := s.browser()
	b.signIn("bob", "/")
	if a := b.get("/"); strings.Contains(a.body, `href="/tokens"`) {
		t.Error("a staff account's navigation links to /tokens")
	}
	for _, a := range []answer{b.get("/tokens"), b.post("/tokens", url.Values{"name": {"bobs"}}), b.post("/tokens/pms", url.Values{"action": {"revoke"}})} {
		if a.status != http.StatusForbidden || hasID(a.body, "token-secret") {
			t.Errorf("staff: %d, want 403", a.status)
		}
	}
	addUser(t, svc, "alice", ops.RoleAdmin)
	admin := s.browser()
	admin.signIn("alice", "/")
	a := admin.postWith("/tokens", url.Values{"name": {"evil"}}.Encode(), map[string]string{"Sec-Fetch-Site": "cross-site"})
	if a.status != http.StatusForbidden {
		t.Errorf("a cross-site create: %d, want 403", a.status)
	}
	toks, err := svc.Tokens(context.Background(), root, ops.TokenRequest{Action: ops.TokenList})
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 1 || toks[0].Name != "pms" || toks[0].Revoked {
		t.Errorf("the refused requests changed the tokens: %+v", toks)
	}
}
