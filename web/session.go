package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// reqSession is the session a request carries, as the service found it.
type reqSession struct {
	ops.Session
	// token is the cookie's token, or the one the service issued while
	// answering this request (the cookie has been replaced already).
	token string
}

// setCookie gives the browser a session token. A session cookie (no
// Max-Age or Expires): the browser forgets it when it closes, and the
// service's expiry is the authority on how long it is good for.
func (s *Server) setCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookie,
		Value:    token,
		Path:     "/",
		HttpOnly: true, // no script reads it, ours included
		Secure:   s.tls,
		SameSite: http.SameSiteStrictMode,
	})
}

// clearCookie makes the browser forget its token.
func (s *Server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.tls,
		SameSite: http.SameSiteStrictMode,
	})
}

// token is the session token the request carries, "" for none.
func (s *Server) token(r *http.Request) string {
	c, err := r.Cookie(s.cookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// clientAddr is the client's address for the audit row: the connection's
// peer. No proxy header is trusted, since anyone on the LAN could send one.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// stagePath is the page that finishes a session's stage ("/" when it is
// signed in).
func stagePath(stage string) string {
	switch stage {
	case ops.StageTOTP:
		return "/signin/totp"
	case ops.StageEnrolTOTP:
		return "/account/totp"
	case ops.StageChangePassword:
		return "/account/password"
	}
	return "/"
}

// Who may reach a page: the stages a session must be in, and whether it
// must be an admin's.
var (
	activeOnly  = []string{ops.StageActive}
	totpOnly    = []string{ops.StageTOTP}
	enrolStages = []string{ops.StageEnrolTOTP, ops.StageActive}
	passwordSt  = []string{ops.StageChangePassword, ops.StageActive}
	anyStage    = []string{ops.StageActive, ops.StageTOTP, ops.StageEnrolTOTP, ops.StageChangePassword}
)

// sessionHandler is a page that needs a session.
type sessionHandler func(w http.ResponseWriter, r *http.Request, rs *reqSession)

// page wraps a handler that needs a session in one of stages (and an
// admin's when admin is set). Without a session the browser goes to sign
// in; a session in another stage goes to the page that finishes it, so a
// sign-in that is not done reaches nothing else. Each request extends the
// session's idle timeout: a person made it.
func (s *Server) page(stages []string, admin bool, h sessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rs, ok := s.session(w, r, true)
		if !ok {
			return
		}
		if !slices.Contains(stages, rs.Stage) {
			if !slices.Contains(anyStage, rs.Stage) {
				// A stage this version does not know: nothing is safe to show.
				s.errorPage(w, r, http.StatusForbidden, "Not available",
					"This session cannot open pages in this version of the appliance. Sign out and sign in again.")
				return
			}
			http.Redirect(w, r, stagePath(rs.Stage), http.StatusSeeOther)
			return
		}
		if admin && !rs.Actor.IsAdmin() {
			s.errorPageFor(w, r, rs, http.StatusForbidden, "Administrators only",
				"This page is for administrators. Ask an administrator of the appliance if you need something changed here.")
			return
		}
		h(w, r, rs)
	}
}

// session finds the request's session for a page. When there is none it
// has answered already (a redirect to sign in, or an error page) and
// returns false.
func (s *Server) session(w http.ResponseWriter, r *http.Request, touch bool) (*reqSession, bool) {
	token := s.token(r)
	if token == "" {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return nil, false
	}
	sess, err := s.svc.Session(r.Context(), token, clientAddr(r), touch)
	if err != nil {
		s.fail(w, r, nil, err)
		return nil, false
	}
	rs := &reqSession{Session: sess, token: token}
	s.renewed(w, rs, sess)
	return rs, true
}

// renewed takes a session the service answered with: when it carries a
// new token (a finished stage, a password change, a renewal) the cookie
// is replaced and later calls of this request use it.
func (s *Server) renewed(w http.ResponseWriter, rs *reqSession, sess ops.Session) {
	if sess.Stage != "" {
		rs.Session = sess
	}
	if sess.Token != "" {
		s.setCookie(w, sess.Token)
		rs.token = sess.Token
	}
}

// sessionJSON is what GET /session and POST /session/extend answer: the
// page's script counts down from ends_in_ms (the server's clock, so a PC
// with a wrong clock still counts right).
type sessionJSON struct {
	Stage       string    `json:"stage"`
	EndsAt      time.Time `json:"ends_at"`
	EndsInMS    int64     `json:"ends_in_ms"`
	IdleExpires time.Time `json:"idle_expires"`
	Expires     time.Time `json:"expires"`
	BreakGlass  bool      `json:"break_glass"`
}

// sessionState answers GET /session (touch false: the countdown's own
// check must not keep a session alive that nobody uses) and POST
// /session/extend (touch true: "Stay signed in").
func (s *Server) sessionState(touch bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := s.token(r)
		if token == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"code": ops.CodeNoSession, "message": "not signed in"})
			return
		}
		sess, err := s.svc.Session(r.Context(), token, clientAddr(r), touch)
		if err != nil {
			s.sessionErrorJSON(w, r, err)
			return
		}
		if sess.Token != "" {
			s.setCookie(w, sess.Token)
		}
		ends := sess.Ends()
		left := ends.Sub(s.now())
		if left < 0 {
			left = 0
		}
		writeJSON(w, http.StatusOK, sessionJSON{
			Stage: sess.Stage, EndsAt: ends.UTC(), EndsInMS: left.Milliseconds(),
			IdleExpires: sess.IdleExpires.UTC(), Expires: sess.Expires.UTC(), BreakGlass: sess.BreakGlass,
		})
	}
}

// currentSession finds the request's session without answering for it and
// without extending it: for /signin and /setup, which only want to know
// whether someone is signed in already. Any problem counts as no session.
func (s *Server) currentSession(ctx context.Context, r *http.Request) (ops.Session, bool) {
	token := s.token(r)
	if token == "" {
		return ops.Session{}, false
	}
	sess, err := s.svc.Session(ctx, token, clientAddr(r), false)
	if err != nil {
		var oe *ops.Error
		if !errors.As(err, &oe) {
			s.log.Warn("web: looking up a session failed", "path", r.URL.Path, "err", err)
		}
		return ops.Session{}, false
	}
	return sess, true
}

// scriptSession finds the active session of a script's own request (the
// live stream, an import's progress) without extending it, or answers the
// request as JSON (401, 403 before the last sign-in stage, or
// sessionErrorJSON) and returns false.
func (s *Server) scriptSession(w http.ResponseWriter, r *http.Request) (ops.Session, bool) {
	token := s.token(r)
	if token == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"code": ops.CodeNoSession, "message": "not signed in"})
		return ops.Session{}, false
	}
	sess, err := s.svc.Session(r.Context(), token, clientAddr(r), false)
	if err != nil {
		s.sessionErrorJSON(w, r, err)
		return ops.Session{}, false
	}
	if sess.Stage != ops.StageActive {
		writeJSON(w, http.StatusForbidden, map[string]string{"code": ops.CodeWrongStage, "message": "finish signing in first"})
		return ops.Session{}, false
	}
	return sess, true
}

// sessionErrorJSON answers a script's request (the countdown, the live
// stream) whose session lookup failed: 401 and no cookie for an ended
// session, 503 while locked, else the error's status, as JSON.
func (s *Server) sessionErrorJSON(w http.ResponseWriter, r *http.Request, err error) {
	code := ops.CodeOf(err)
	switch code {
	case ops.CodeNoSession:
		s.clearCookie(w)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"code": ops.CodeNoSession, "message": "the session ended: sign in again"})
		return
	case ops.CodeLocked:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"code": code, "message": "the appliance is locked: an administrator must unlock it"})
		return
	}
	status, msg := s.statusOf(r, err)
	if code == "" {
		code = ops.CodeInternal
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}
