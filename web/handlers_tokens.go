package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/clinicsms/smsd/ops"
)

// The API tokens page (admin): one bearer token per integration (a
// practice-management system) for the JSON API under /api/v1. A token's
// secret is shown once, right after it is made; the store keeps only a
// keyed hash of it.

func init() { pageNames = append(pageNames, "tokens") }

// tokensData is the tokens page's.
type tokensData struct {
	Tokens []ops.Token
	// Created is the token just made, with its secret: shown this once.
	Created *ops.Token
	// Name is what the create form held when it was refused.
	Name string
}

// Notices after a token change, by action; %s is the token's name.
var tokenNotices = map[string]string{
	ops.TokenRevoke: "Token %s is revoked: the API refuses it from now on.",
}

// tokens lists the API tokens: GET /tokens.
func (s *Server) tokens(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	q := r.URL.Query()
	notice, name := "", q.Get("token")
	if msg, ok := tokenNotices[q.Get("done")]; ok && name != "" {
		notice = fmt.Sprintf(msg, name)
	}
	s.tokensPage(w, r, rs, http.StatusOK, "", notice, name, tokensData{})
}

// tokensPage draws the tokens page. noticeFor is the token a notice names:
// the notice shows only when that token is in the list, so a crafted link
// cannot claim a change to a token that is not there.
func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request, rs *reqSession, status int, errMsg, notice, noticeFor string, d tokensData) {
	list, err := s.svc.Tokens(r.Context(), rs.Actor, ops.TokenRequest{Action: ops.TokenList})
	if err != nil {
		s.fail(w, r, rs, err)
		return
	}
	d.Tokens = list
	if notice != "" && noticeFor != "" && !slices.ContainsFunc(list, func(t ops.Token) bool { return t.Name == noticeFor }) {
		notice = ""
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	s.show(w, r, rs, status, "tokens", pageData{Title: "API tokens", Error: errMsg, Notice: notice, Data: d})
}

// tokenFail shows the tokens page with a service error.
func (s *Server) tokenFail(w http.ResponseWriter, r *http.Request, rs *reqSession, err error, d tokensData) {
	if s.redirectFor(w, r, err) {
		return
	}
	status, msg := s.statusOf(r, err)
	s.tokensPage(w, r, rs, status, msg, "", "", d)
}

// createToken makes a token: POST /tokens. The answer is the page itself,
// with the secret, not a redirect: the secret exists only in this answer.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	f, bad := readForm(r)
	if bad != nil {
		s.tokensPage(w, r, rs, bad.status, bad.msg, "", "", tokensData{})
		return
	}
	name := f.Get("name")
	if name == "" {
		s.tokensPage(w, r, rs, http.StatusBadRequest, "The token's name is missing: name the integration that will use it (for example pms).", "", "", tokensData{})
		return
	}
	made, err := s.svc.Tokens(r.Context(), rs.Actor, ops.TokenRequest{Action: ops.TokenCreate, Name: name})
	if err == nil && (len(made) == 0 || made[0].Secret == "") {
		err = fmt.Errorf("web: the service made token %q but answered no secret", name)
	}
	if err != nil {
		s.tokenFail(w, r, rs, err, tokensData{Name: name})
		return
	}
	t := made[0]
	s.tokensPage(w, r, rs, http.StatusOK, "",
		fmt.Sprintf("Token %s is created. Its secret is shown below, once.", t.Name), "", tokensData{Created: &t})
}

// tokenAction revokes a token: POST /tokens/{name} with action=revoke.
func (s *Server) tokenAction(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	name := r.PathValue("name")
	f, bad := readForm(r)
	if bad != nil {
		s.tokensPage(w, r, rs, bad.status, bad.msg, "", "", tokensData{})
		return
	}
	switch action := f.Get("action"); action {
	case ops.TokenRevoke:
	case "":
		s.tokensPage(w, r, rs, http.StatusBadRequest, missingMsg("action"), "", "", tokensData{})
		return
	default:
		s.tokensPage(w, r, rs, http.StatusBadRequest, fmt.Sprintf("Unknown action %q: use the buttons of the API tokens page.", action), "", "", tokensData{})
		return
	}
	if _, err := s.svc.Tokens(r.Context(), rs.Actor, ops.TokenRequest{Action: ops.TokenRevoke, Name: name}); err != nil {
		s.tokenFail(w, r, rs, err, tokensData{})
		return
	}
	http.Redirect(w, r, "/tokens?"+url.Values{"done": {ops.TokenRevoke}, "token": {name}}.Encode(), http.StatusSeeOther)
}
