package web

import (
	"net/http"

	"github.com/clinicsms/smsd/ops"
)

// signinData is the sign-in page's: the username typed (never the
// password) and whether the local CA can be downloaded.
type signinData struct {
	Username string
	CA       bool
}

// signinForm shows the sign-in form, or sends the browser on: to /setup
// on the first run, to its stage's page when it is signed in already.
func (s *Server) signinForm(w http.ResponseWriter, r *http.Request) {
	if s.toSetup(w, r) {
		return
	}
	if sess, ok := s.currentSession(r.Context(), r); ok {
		http.Redirect(w, r, stagePath(sess.Stage), http.StatusSeeOther)
		return
	}
	p := pageData{Title: "Sign in", Data: signinData{CA: s.caPEM != nil}}
	q := r.URL.Query()
	switch {
	case q.Get("ended") != "":
		p.Notice = "You were signed out: your session ended. Sign in again to go on."
	case q.Get("unlocked") != "":
		p.Notice = "The appliance is unlocked. Sign in."
	}
	s.show(w, r, nil, http.StatusOK, "signin", p)
}

// signin checks a username and password (the service does) and starts a
// session, then sends the browser to the page of its stage.
func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	again := func(status int, username, msg string) {
		s.show(w, r, nil, status, "signin", pageData{Title: "Sign in", Error: msg, Data: signinData{Username: username, CA: s.caPEM != nil}})
	}
	f, bad := readForm(r)
	if bad != nil {
		again(bad.status, "", bad.msg)
		return
	}
	if s.toSetup(w, r) {
		return
	}
	if m := missing(f, "username", "password"); m != "" {
		again(http.StatusBadRequest, f.Get("username"), missingMsg(m))
		return
	}
	sess, err := s.svc.Login(r.Context(), ops.LoginRequest{Username: f.Get("username"), Password: f.Get("password"), Addr: clientAddr(r)})
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfter)
		}
		again(status, f.Get("username"), msg)
		return
	}
	s.startSession(w, r, sess)
}

// startSession gives the browser a new session's cookie and sends it to
// the page of the session's stage. A session this browser held before
// ends: one browser, one session, and none left behind in the list.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, sess ops.Session) {
	if old := s.token(r); old != "" && old != sess.Token {
		if err := s.svc.Logout(r.Context(), old, clientAddr(r)); err != nil && ops.CodeOf(err) != ops.CodeNoSession {
			s.log.Warn("web: ending the browser's previous session failed", "err", err)
		}
	}
	if sess.Token != "" {
		s.setCookie(w, sess.Token)
	}
	http.Redirect(w, r, stagePath(sess.Stage), http.StatusSeeOther)
}

// toSetup sends the browser to /setup while no account exists. It
// reports whether it answered.
func (s *Server) toSetup(w http.ResponseWriter, r *http.Request) bool {
	need, err := s.svc.SetupNeeded(r.Context())
	if err != nil {
		s.fail(w, r, nil, err)
		return true
	}
	if need {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return true
	}
	return false
}

// setupData is the setup page's: what was typed, never the code or the
// password.
type setupData struct {
	Username, Name string
}

// setupForm shows the first-run form while no account exists.
func (s *Server) setupForm(w http.ResponseWriter, r *http.Request) {
	need, err := s.svc.SetupNeeded(r.Context())
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if !need {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	s.show(w, r, nil, http.StatusOK, "setup", pageData{Title: "Set up the appliance", Data: setupData{}})
}

// setup creates the first admin with the one-time code and signs them in.
func (s *Server) setup(w http.ResponseWriter, r *http.Request) {
	again := func(status int, f map[string][]string, msg string) {
		var d setupData
		if f != nil {
			d = setupData{Username: first(f["username"]), Name: first(f["name"])}
		}
		s.show(w, r, nil, status, "setup", pageData{Title: "Set up the appliance", Error: msg, Data: d})
	}
	f, bad := readForm(r)
	if bad != nil {
		again(bad.status, nil, bad.msg)
		return
	}
	if need, err := s.svc.SetupNeeded(r.Context()); err != nil || !need {
		if err != nil {
			s.fail(w, r, nil, err)
		} else {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
		}
		return
	}
	if m := missing(f, "code", "username", "name", "password", "password2"); m != "" {
		again(http.StatusBadRequest, f, missingMsg(m))
		return
	}
	if f.Get("password") != f.Get("password2") {
		again(http.StatusBadRequest, f, "The two passwords differ: type the same password in both fields.")
		return
	}
	sess, err := s.svc.Setup(r.Context(), ops.SetupRequest{Code: f.Get("code"), Username: f.Get("username"), Name: f.Get("name"), Password: f.Get("password"), Addr: clientAddr(r)})
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		again(status, f, msg)
		return
	}
	s.startSession(w, r, sess)
}

// first is a form field's first value.
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// unlockForm asks for the store's passphrase while it is locked.
func (s *Server) unlockForm(w http.ResponseWriter, r *http.Request) {
	if !s.svc.Locked() {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	s.show(w, r, nil, http.StatusOK, "unlock", pageData{Title: "Unlock the appliance"})
}

// unlock opens the store with the passphrase. Nobody is signed in (the
// accounts are in the locked store): the passphrase is the credential,
// and the service's audit row names this door and the client's address.
func (s *Server) unlock(w http.ResponseWriter, r *http.Request) {
	again := func(status int, msg string) {
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfter)
		}
		s.show(w, r, nil, status, "unlock", pageData{Title: "Unlock the appliance", Error: msg})
	}
	// The passphrase is read as bytes and zeroed (readSecretField), never
	// held as a string: readForm would keep it in strings nobody can clear.
	pass, err := readSecretField(r, "passphrase")
	defer clear(pass)
	if err != nil {
		again(http.StatusBadRequest, "The form could not be read (it is not encoded as a browser sends one, or is too large). Nothing was changed; type the passphrase again.")
		return
	}
	if !s.svc.Locked() {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	if len(pass) == 0 {
		again(http.StatusBadRequest, missingMsg("passphrase"))
		return
	}
	err = s.svc.Unlock(r.Context(), ops.Actor{Kind: ops.ActorWeb, Name: "unlock", Role: ops.RoleAdmin, Addr: clientAddr(r)}, pass)
	switch {
	case err == nil, ops.CodeOf(err) == ops.CodeNotLocked:
		http.Redirect(w, r, "/signin?unlocked=1", http.StatusSeeOther)
	default:
		status, msg := s.statusOf(r, err)
		again(status, msg)
	}
}

// signout ends the session and sends the browser to sign in. The cookie
// goes in any case; Clear-Site-Data asks the browser to drop what it
// cached of the pages (none should be cached: no-store), belt and braces.
func (s *Server) signout(w http.ResponseWriter, r *http.Request) {
	token := s.token(r)
	s.clearCookie(w)
	if token == "" {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	if err := s.svc.Logout(r.Context(), token, clientAddr(r)); err != nil && ops.CodeOf(err) != ops.CodeNoSession {
		s.fail(w, r, nil, err)
		return
	}
	w.Header().Set("Clear-Site-Data", `"cache", "storage"`)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

// totpForm asks for the second factor of a sign-in.
func (s *Server) totpForm(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	s.show(w, r, rs, http.StatusOK, "totp", pageData{Title: "Second factor"})
}

// totp finishes a sign-in with a TOTP or a recovery code.
func (s *Server) totp(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	again := func(status int, msg string) {
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfter)
		}
		s.show(w, r, rs, status, "totp", pageData{Title: "Second factor", Error: msg})
	}
	f, bad := readForm(r)
	if bad != nil {
		again(bad.status, bad.msg)
		return
	}
	if f.Get("code") == "" {
		again(http.StatusBadRequest, missingMsg("code"))
		return
	}
	sess, err := s.svc.LoginTOTP(r.Context(), rs.token, f.Get("code"), clientAddr(r))
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		again(s.statusOf(r, err))
		return
	}
	s.renewed(w, rs, sess)
	http.Redirect(w, r, stagePath(rs.Stage), http.StatusSeeOther)
}

// caCert serves the local CA's certificate, for IT to trust once.
func (s *Server) caCert(w http.ResponseWriter, r *http.Request) {
	if s.caPEM == nil {
		s.errorPage(w, r, http.StatusNotFound, "No local certificate authority",
			"This appliance serves its own certificate, not one of its local certificate authority: there is nothing to download. Ask IT if the browser warns about the certificate.")
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="smsd-local-ca.pem"`)
	w.Write(s.caPEM)
}
