package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clinicsms/smsd/ops"
)

// routes registers every page. Pages that need a session go through
// s.page, which holds the stage and role checks in one place.
func (s *Server) routes() {
	m := http.NewServeMux()
	m.Handle("GET /static/", s.staticFiles())
	m.HandleFunc("GET /ca.pem", s.caCert)

	m.HandleFunc("GET /signin", s.signinForm)
	m.HandleFunc("POST /signin", s.signin)
	m.HandleFunc("GET /setup", s.setupForm)
	m.HandleFunc("POST /setup", s.setup)
	m.HandleFunc("GET /unlock", s.unlockForm)
	m.HandleFunc("POST /unlock", s.unlock)
	m.HandleFunc("POST /signout", s.signout)
	m.HandleFunc("GET /session", s.sessionState(false))
	m.HandleFunc("POST /session/extend", s.sessionState(true))

	m.HandleFunc("GET /signin/totp", s.page(totpOnly, false, s.totpForm))
	m.HandleFunc("POST /signin/totp", s.page(totpOnly, false, s.totp))
	m.HandleFunc("GET /account/totp", s.page(enrolStages, false, s.enrolForm))
	m.HandleFunc("POST /account/totp", s.page(enrolStages, false, s.enrol))
	m.HandleFunc("GET /account/password", s.page(passwordSt, false, s.passwordForm))
	m.HandleFunc("POST /account/password", s.page(passwordSt, false, s.password))

	m.HandleFunc("GET /{$}", s.page(activeOnly, false, s.home))
	m.HandleFunc("GET /accounts", s.page(activeOnly, true, s.accounts))
	m.HandleFunc("POST /accounts", s.page(activeOnly, true, s.addUser))
	m.HandleFunc("POST /accounts/{username}", s.page(activeOnly, true, s.accountAction))
	m.HandleFunc("POST /policy", s.page(activeOnly, true, s.policy))

	// The front desk's work (issue 14): handlers_work*.go.
	s.workRoutes(m)
	s.remindRoutes(m) // reminders (issue 15): handlers_remind*.go
	s.apiRoutes(m)    // the JSON API and its tokens page: api*.go, handlers_tokens.go
	s.mux = m
}

// pageData is what the layout and every page template see.
type pageData struct {
	Title string
	// Session is the signed-in person's session (nil on the sign-in
	// pages): the header, the countdown and the break-glass banner.
	Session *ops.Session
	// Countdown is the header's first text, before the script counts.
	Countdown string
	Error     string // #error
	Notice    string // #notice
	// Path is the page's own path, for the navigation's aria-current.
	Path string
	// Unread is the inbox's count of unhandled replies (#inbox-unread),
	// shown when HasUnread (a signed-in page whose count could be read).
	Unread    int
	HasUnread bool
	// Data is the page's own.
	Data any
}

// pageNames are the page templates; each is parsed with the layout.
var pageNames = []string{"signin", "setup", "totp", "enrol", "password", "home", "accounts", "unlock", "locked", "error",
	"send", "outbox", "message", "inbox", "optouts", "status"}

// templateFuncs are the helpers the templates use; now is the server's clock.
func templateFuncs(now func() time.Time) template.FuncMap {
	return template.FuncMap{
		// when shows a time in the box's zone, "—" for none.
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.Local().Format("2 Jan 2006 15:04 MST")
		},
		// future reports whether t is after now (a lockout still running).
		"future": func(t time.Time) bool { return t.After(now()) },
	}
}

// parsePages parses the layout with each page template.
func parsePages(now func() time.Time, loc *time.Location) (map[string]*template.Template, error) {
	funcs := templateFuncs(now)
	for name, f := range workFuncs(now, loc) {
		funcs[name] = f
	}
	for name, f := range remindFuncs(now, loc) {
		funcs[name] = f
	}
	layout, err := fs.ReadFile(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: read the layout template: %w", err)
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		body, err := fs.ReadFile(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: read template %s: %w", name, err)
		}
		t, err := template.New("layout").Funcs(funcs).Parse(string(layout))
		if err == nil {
			_, err = t.New(name).Parse(string(body))
		}
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// show renders page name with p, for the session rs (nil when signed out).
// The page is rendered in full before anything is sent, so a template
// problem is a clean 500 page and never half a page.
func (s *Server) show(w http.ResponseWriter, r *http.Request, rs *reqSession, status int, name string, p pageData) {
	if rs != nil {
		sess := rs.Session
		p.Session = &sess
		p.Countdown = countdown(sess.Ends().Sub(s.now()))
		if sess.Stage == ops.StageActive {
			p.Unread, p.HasUnread = s.unread(r, rs)
		}
	}
	p.Path = r.URL.Path
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("web: render page", "page", name, "path", r.URL.Path, "err", err)
		s.plainError(w, http.StatusInternalServerError, "Something went wrong on the appliance while drawing this page. Try again; if it happens again, an administrator finds the details in the journal (journalctl -u smsd).")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// countdown is the header's text for a session that ends in d.
func countdown(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	secs := int(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("Signs out in %d:%02d", secs/60, secs%60)
}

// errorPage answers with the error page and no session in the header.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	s.errorPageFor(w, r, nil, status, title, msg)
}

// errorPageFor answers with the error page for the session rs.
func (s *Server) errorPageFor(w http.ResponseWriter, r *http.Request, rs *reqSession, status int, title, msg string) {
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	s.show(w, r, rs, status, "error", pageData{Title: title, Error: msg})
}

// notFound is the 404 page. A signed-in person sees it with the header
// (the countdown, the break-glass banner); looking does not extend the
// session, as nobody asked for anything real.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	var rs *reqSession
	if !strings.HasPrefix(r.URL.Path, "/static/") {
		if sess, ok := s.currentSession(r.Context(), r); ok && sess.Stage == ops.StageActive {
			rs = &reqSession{Session: sess}
		}
	}
	s.errorPageFor(w, r, rs, http.StatusNotFound, "Not found",
		"There is no page at this address. Check the address, or start again from the home page.")
}

// lockedPage is what every page shows while the store is locked.
func (s *Server) lockedPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", retryAfter)
	s.show(w, r, nil, http.StatusServiceUnavailable, "locked", pageData{Title: "Locked"})
}

// plainError is a page without templates, for when rendering itself
// failed or a handler panicked.
func (s *Server) plainError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error — smsd</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\n<body><a class=\"skip\" href=\"#main\">Skip to main content</a><main id=\"main\"><h1>Error</h1><p id=\"error\" role=\"alert\">%s</p><p><a href=\"/\">Home</a></p></main></body></html>\n", template.HTMLEscapeString(msg))
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":"internal","message":"could not encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// retryAfter is the Retry-After of a busy or locked answer, in seconds.
const retryAfter = "5"

// statusOf turns a service error into a status and a message for people.
// The service's own messages (ops.Error) are written for them; anything
// else is the appliance's problem, logged, and told in general words.
func (s *Server) statusOf(r *http.Request, err error) (int, string) {
	var oe *ops.Error
	if !errors.As(err, &oe) {
		s.log.Error("web: the service failed", "method", r.Method, "path", r.URL.Path, "err", err)
		return http.StatusInternalServerError, "Something went wrong on the appliance. Try again; if it happens again, an administrator finds the details in the journal (journalctl -u smsd)."
	}
	// Messages are written for the command line, in lower case; a page
	// starts a sentence with a capital.
	msg := oe.Message
	if r, n := utf8.DecodeRuneInString(msg); r != utf8.RuneError {
		msg = string(unicode.ToUpper(r)) + msg[n:]
	}
	switch oe.Code {
	case ops.CodeBadLogin, ops.CodeBadSetupCode, ops.CodeWrongKey, ops.CodeNoSession:
		return http.StatusUnauthorized, msg
	case ops.CodeDenied:
		return http.StatusForbidden, msg
	case ops.CodeBusy, ops.CodeLocked, ops.CodeAuditBroken, ops.CodeIntegrity:
		return http.StatusServiceUnavailable, msg
	case ops.CodeInvalidRequest, ops.CodeInvalidText, ops.CodeInvalidNumber, ops.CodeTooLong:
		return http.StatusBadRequest, msg
	case ops.CodeUserExists, ops.CodeConflict, ops.CodeWrongState, ops.CodeWrongStage, ops.CodeSetupDone, ops.CodeNotLocked:
		return http.StatusConflict, msg
	case ops.CodeNoSuchUser, ops.CodeNotFound:
		return http.StatusNotFound, msg
	case ops.CodeInternal:
		s.log.Error("web: the service failed", "method", r.Method, "path", r.URL.Path, "err", err)
		return http.StatusInternalServerError, msg
	}
	return http.StatusBadRequest, msg
}

// redirectFor answers the errors that send the browser elsewhere rather
// than onto the page that asked: an ended session goes to sign in, a
// locked store shows the locked page. It reports whether it answered.
func (s *Server) redirectFor(w http.ResponseWriter, r *http.Request, err error) bool {
	switch ops.CodeOf(err) {
	case ops.CodeNoSession:
		s.clearCookie(w)
		http.Redirect(w, r, "/signin?ended=1", http.StatusSeeOther)
	case ops.CodeLocked:
		s.lockedPage(w, r)
	case ops.CodeSetupDone:
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
	case ops.CodeWrongStage:
		// The page of the session's stage; s.page finds it.
		http.Redirect(w, r, "/", http.StatusSeeOther)
	default:
		return false
	}
	return true
}

// fail answers a service error with the error page (or a redirect).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, rs *reqSession, err error) {
	if s.redirectFor(w, r, err) {
		return
	}
	status, msg := s.statusOf(r, err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	title := "Not done"
	if status >= 500 {
		title = "Error"
	}
	s.errorPageFor(w, r, rs, status, title, msg)
}

// formProblem is a form the page cannot take: its status and message.
type formProblem struct {
	status int
	msg    string
}

// fieldLabels name the form fields in messages.
var fieldLabels = map[string]string{
	"username": "The username", "password": "The password", "password2": "The repeated password",
	"name": "The name", "code": "The code", "old_password": "The current password",
	"new_password": "The new password", "new_password2": "The repeated new password",
	"passphrase": "The passphrase", "role": "The role", "action": "The action", "session": "The session",
	"require_totp": "The second-factor setting",
}

// readForm reads a posted form: within the size limit, well encoded, and
// valid UTF-8 in every name and value (a form of another encoding would
// reach the store as mojibake, or be taken for a different password).
func readForm(r *http.Request) (url.Values, *formProblem) {
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &formProblem{http.StatusRequestEntityTooLarge,
				fmt.Sprintf("The form is too large: the appliance takes at most %d KiB. Nothing was changed; fill in the form again.", maxBody>>10)}
		}
		return nil, &formProblem{http.StatusBadRequest, "The form could not be read (it is not encoded as a browser sends one). Nothing was changed; fill in the form again."}
	}
	for name, vs := range r.PostForm {
		label, ok := fieldLabels[name]
		if !ok {
			label = "A field of the form"
		}
		if !utf8.ValidString(name) {
			return nil, &formProblem{http.StatusBadRequest, "A field of the form is not valid text (it is not UTF-8). Nothing was changed; fill in the form again."}
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return nil, &formProblem{http.StatusBadRequest, label + " is not valid text (it is not UTF-8). Nothing was changed; type it again."}
			}
		}
	}
	return r.PostForm, nil
}

// missing names the first empty field of names, for "… is missing".
func missing(f url.Values, names ...string) string {
	for _, n := range names {
		if f.Get(n) == "" {
			return n
		}
	}
	return ""
}

// missingMsg is the message for a missing field.
func missingMsg(name string) string {
	label, ok := fieldLabels[name]
	if !ok {
		label = "A field"
	}
	return label + " is missing: fill it in and send the form again."
}
