package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/clinicsms/smsd/ops"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configures a Server.
type Options struct {
	// Service is the appliance behind the pages (required): every rule,
	// session and audit row lives there.
	Service Service
	// Log receives the server's own problems (a panic, a failed page,
	// an error the service did not explain). Nothing a person typed, no
	// cookie and no PHI is ever logged. nil discards.
	Log *slog.Logger
	// TLS says the server is reached over HTTPS (the listener terminates
	// TLS). It turns on Strict-Transport-Security, the cookie's Secure
	// attribute and its __Host- name prefix, which browsers accept only
	// over HTTPS.
	TLS bool
	// CAPEM is the box's local CA certificate, served at /ca.pem so that
	// IT can trust it once per front-desk PC; nil when the admin's own
	// certificate serves (then /ca.pem is 404).
	CAPEM []byte
	// Now is the clock for the countdown; nil means time.Now.
	Now func() time.Time
	// Location is the clinic's time zone (config's timezone): the send
	// page's "send at", the outbox's dates and the times pages show are in
	// it. nil means the box's own zone (time.Local).
	Location *time.Location
}

// Server is the web UI: pages, the session cookie and the session
// endpoints, over a Service. Make one with New.
type Server struct {
	svc     Service
	log     *slog.Logger
	tls     bool
	caPEM   []byte
	now     func() time.Time
	loc     *time.Location
	cookie  string
	pages   map[string]*template.Template
	mux     *http.ServeMux
	handler http.Handler
	// streams are the open live-update streams (GET /events).
	streams *streamHub
	// imports are the CSV uploads waiting for their commit and the
	// commits running (handlers_remind_import.go).
	imports *importStore
}

// Limits of a request. A form of the UI is at most a few hundred bytes,
// so 64 KiB refuses nothing real and bounds what a client makes the box
// buffer and parse.
const (
	maxBody   = 64 << 10
	maxHeader = 64 << 10
)

// Timeouts of the HTTP server: a slow or stalled client (a half-open
// connection on the LAN, a scanner) cannot hold a connection open.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 5 * time.Second
)

// New makes a Server. It fails only when Service is missing or the
// embedded templates do not parse (a build problem).
func New(opts Options) (*Server, error) {
	if opts.Service == nil {
		return nil, errors.New("web: Options.Service is nil: the web UI needs the appliance's service (daemon.Service)")
	}
	s := &Server{svc: opts.Service, log: opts.Log, tls: opts.TLS, caPEM: opts.CAPEM, now: opts.Now, loc: opts.Location}
	if s.loc == nil {
		s.loc = time.Local
	}
	s.streams = newStreamHub(opts.Service)
	s.imports = newImportStore()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	// Browsers accept a __Host- cookie only with Secure, Path=/ and no
	// Domain, which pins it to this origin over HTTPS; over plain HTTP
	// (loopback, the demo) it would be refused, so the name is plain.
	s.cookie = "smsd"
	if s.tls {
		s.cookie = "__Host-smsd"
	}
	var err error
	if s.pages, err = parsePages(s.now, s.loc); err != nil {
		return nil, err
	}
	s.routes()
	s.handler = s.secure(s.recoverPanics(s.limitBody(s.crossOrigin(s.lockedGate(http.HandlerFunc(s.route))))))
	return s, nil
}

// Handler is the web UI as an http.Handler, for Serve or a test server.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers requests on ln until ctx ends, then shuts down gracefully:
// it stops accepting, lets requests in flight finish for a few seconds and
// closes what is left. It returns nil after a shutdown, or the error that
// stopped serving.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeader,
		// The server's own messages are mostly TLS handshakes refused by
		// browsers that do not trust the local CA yet: debug, not noise
		// in the journal at every first visit.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	// Live-update streams never go idle by themselves: they end when the
	// server shuts down, so that the grace period is not spent on them.
	srv.RegisterOnShutdown(s.streams.shutdown)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("web: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		// Requests still running after the grace period are cut off.
		err = srv.Close()
	}
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("web: serve on %s: %w", ln.Addr(), serr)
	}
	return err
}

// The Content-Security-Policy of every response: nothing from outside the
// box, no inline script or style, no framing, forms post only here.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// secure sets the security headers on every response, before anything
// else runs, so that errors, redirects and 404s carry them too.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=()")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		// Pages show PHI: no copy in any cache, and Back after sign-out
		// asks the server again (which sends the person to sign in).
		h.Set("Cache-Control", "no-store")
		if s.tls {
			// Browsers honour it only from a certificate they trust, so a
			// PC that has not trusted the local CA yet is not locked out.
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic into a plain 500 page. The journal gets the
// panic's type and the stack, not its value when that could carry request
// data; the browser gets neither.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			what := fmt.Sprintf("%T", v)
			if re, ok := v.(runtime.Error); ok {
				what = re.Error() // the runtime's own words: no request data
			}
			s.log.Error("web: a handler panicked", "method", r.Method, "path", r.URL.Path, "panic", what, "stack", string(debug.Stack()))
			if tw.wrote {
				return // the answer has begun; the client sees it cut short
			}
			if strings.HasPrefix(r.URL.Path, "/api/") {
				apiFail(tw, http.StatusInternalServerError, ops.CodeInternal, "something went wrong on the appliance; try again; if it happens again, an administrator finds the details in the journal (journalctl -u smsd)")
				return
			}
			s.plainError(tw, http.StatusInternalServerError, "Something went wrong on the appliance while answering this page. Try again; if it happens again, an administrator finds the details in the journal (journalctl -u smsd).")
		}()
		next.ServeHTTP(tw, r)
	})
}

// trackingWriter notes whether the answer has begun.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// limitBody bounds every request body; readForm turns the overflow into a
// 413 page. The CSV upload (POST /import) takes a file of up to 10 MB.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := int64(maxBody)
		if r.Method == http.MethodPost && r.URL.Path == "/import" {
			limit = maxImportBody
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// crossOrigin refuses a state-changing request a browser made from another
// site (Sec-Fetch-Site, else Origin against Host), on every route: GET,
// HEAD and OPTIONS pass, as they change nothing. With the SameSite=Strict
// cookie this is the forgery defence; there are no tokens to forget.
func (s *Server) crossOrigin(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			apiFail(w, http.StatusForbidden, ops.CodeDenied, "refused: this request came from a web page of another site; the API is for servers on the LAN")
			return
		}
		s.errorPage(w, r, http.StatusForbidden, "Refused",
			"This request came from another web site, so the appliance refused it: a page elsewhere cannot act in your name. Open the appliance's own page and try again there.")
	}))
	return cop.Handler(next)
}

// lockedGate shows the locked page for everything but /unlock, the static
// files, /ca.pem and the API's description while the store waits for its
// passphrase: no account can be checked, so nothing else can work. The
// session endpoints and the JSON API answer JSON.
func (s *Server) lockedGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/unlock" || p == "/ca.pem" || p == "/api/v1/openapi.json" || strings.HasPrefix(p, "/static/") || !s.svc.Locked() {
			next.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(p, "/api/") {
			apiLocked(w)
			return
		}
		if p == "/session" || p == "/session/extend" {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"code": ops.CodeLocked, "message": "the appliance is locked: an administrator must unlock it"})
			return
		}
		s.lockedPage(w, r)
	})
}

// route answers with the mux, and with the UI's own 404 and 405 pages
// where the mux has no route or no method for the path.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		// The mux would answer with a plain-text error: learn which one
		// (and the Allow header of a 405), and answer with a page.
		probe := &statusProbe{header: http.Header{}}
		h, _ := s.mux.Handler(r)
		h.ServeHTTP(probe, r)
		if probe.code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			s.errorPage(w, r, http.StatusMethodNotAllowed, "Not allowed",
				"This address does not take a "+r.Method+" request. Use the links and buttons on the appliance's pages.")
			return
		}
		if probe.code != http.StatusNotFound && probe.code != 0 {
			// A redirect to the cleaned path, and the like.
			for k, v := range probe.header {
				w.Header()[k] = v
			}
			w.WriteHeader(probe.code)
			return
		}
		s.notFound(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// statusProbe records what the mux would answer, without answering.
type statusProbe struct {
	header http.Header
	code   int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(code int) {
	if p.code == 0 {
		p.code = code
	}
}

// staticFiles serves app.js and app.css from the binary. What is not a
// file there (a directory, a name that is not) is the UI's 404 page, not
// a listing or the file server's plain-text error.
func (s *Server) staticFiles() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embed pattern names the directory: cannot happen
	}
	files := http.FileServerFS(sub)
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fi, err := fs.Stat(sub, r.URL.Path); err != nil || fi.IsDir() {
			s.notFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	}))
}
