package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/web/localca"
)

// ListenInfo says how the web UI listens, for the log, smsd status and
// the sign-in page.
type ListenInfo struct {
	// Scheme is "https" or "http".
	Scheme string
	// URL is the address to open in a browser, such as
	// https://clinic-pi:8443/ (the box's host name when the listener
	// takes every address).
	URL string
	// TLS is true when the UI serves HTTPS.
	TLS bool
	// CAPEM and CAFingerprint are the local CA's certificate and its
	// SHA-256 fingerprint when the local CA's certificate serves; nil and
	// "" for plain HTTP and for the admin's own certificate.
	CAPEM         []byte
	CAFingerprint string
}

// Listen opens the web UI's listener as cfg says:
//
//   - cfg.Listen "": the UI is off; Listen returns a nil listener and no
//     error.
//   - a loopback host (127.x, ::1, localhost) without tls_cert: plain HTTP
//     (the demo; nobody else can reach it).
//   - any other address: HTTPS with the admin's own certificate (tls_cert,
//     tls_key) or else with a server certificate from the box's local CA,
//     made in cfg.DataDir on first start.
//   - plain HTTP on such an address only with plain_http = true (a TLS
//     proxy on the same host), logged as a warning at every start.
//
// The caller serves HTTP on the listener (http.Server.Serve) and closes it.
func Listen(cfg config.Config, log *slog.Logger) (net.Listener, ListenInfo, error) {
	return listen(cfg, log, localca.SystemNames, time.Now())
}

// listen is Listen with the box's names and the clock given, for tests.
func listen(cfg config.Config, log *slog.Logger, names func() (localca.Names, error), now time.Time) (net.Listener, ListenInfo, error) {
	if cfg.Listen == "" {
		return nil, ListenInfo{}, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, ListenInfo{}, fmt.Errorf("listen %q is not an address such as \":8443\" or \"192.168.1.10:8443\": set listen in %s", cfg.Listen, config.DefaultPath)
	}
	ownCert := cfg.TLSCert != "" || cfg.TLSKey != ""
	if cfg.PlainHTTP && ownCert {
		return nil, ListenInfo{}, fmt.Errorf("plain_http = true and tls_cert are both set in the config: choose one (remove plain_http to serve HTTPS with your certificate, or tls_cert and tls_key to serve plain HTTP behind a proxy)")
	}

	var tcfg *tls.Config
	info := ListenInfo{Scheme: "http"}
	switch {
	case ownCert:
		tcfg, err = ownTLS(cfg, log, now)
	case loopback(host):
		// Plain HTTP: only this machine reaches a loopback address.
	case cfg.PlainHTTP:
		log.Warn("web UI serves PLAIN HTTP on a network address (plain_http = true): passwords and patient data cross the LAN unencrypted unless a TLS proxy on this host is the only way in; remove plain_http from the config to serve HTTPS",
			"listen", cfg.Listen)
	default:
		var ca *localca.CA
		ca, err = localCA(cfg, log, names, now)
		if ca != nil {
			tcfg = ca.TLSConfig()
			info.CAPEM, info.CAFingerprint = ca.PEM(), ca.Fingerprint()
		}
	}
	if err != nil {
		return nil, ListenInfo{}, err
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", cfg.Listen)
	if err != nil {
		return nil, ListenInfo{}, listenError(cfg.Listen, err)
	}
	if tcfg != nil {
		ln = tls.NewListener(ln, tcfg)
		info.Scheme, info.TLS = "https", true
	}
	info.URL = browserURL(info.Scheme, host, ln.Addr())
	return ln, info, nil
}

// loopback reports whether host names only this machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// ownTLS loads the admin's certificate and key and checks that they pair.
func ownTLS(cfg config.Config, log *slog.Logger, t time.Time) (*tls.Config, error) {
	if cfg.TLSCert == "" || cfg.TLSKey == "" {
		return nil, fmt.Errorf("tls_cert and tls_key go together: give both (your own certificate) or neither (the box's local CA) in %s", config.DefaultPath)
	}
	for _, f := range []string{cfg.TLSCert, cfg.TLSKey} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("web UI certificate: %w (check tls_cert and tls_key in %s; the files must be readable by the smsd user)", err, config.DefaultPath)
		}
	}
	pair, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("web UI certificate: tls_cert %s and tls_key %s cannot be used together: %v (give the PEM certificate and the PEM key that belongs to it, or remove both to use the box's local CA)",
			cfg.TLSCert, cfg.TLSKey, err)
	}
	switch leaf := pair.Leaf; {
	case leaf == nil:
	case t.After(leaf.NotAfter):
		log.Warn("web UI certificate has EXPIRED: browsers will refuse it; renew it", "tls_cert", cfg.TLSCert, "not_after", leaf.NotAfter.UTC())
	case leaf.NotAfter.Sub(t) < localca.RenewBefore:
		log.Warn("web UI certificate expires soon: renew it", "tls_cert", cfg.TLSCert, "not_after", leaf.NotAfter.UTC())
	}
	log.Info("web UI serves HTTPS with the configured certificate", "tls_cert", cfg.TLSCert)
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"}}, nil
}

// localCA loads or makes the local CA and its server certificate, and
// logs what changed: a new CA must reach every front-desk PC.
func localCA(cfg config.Config, log *slog.Logger, systemNames func() (localca.Names, error), now time.Time) (*localca.CA, error) {
	names, err := systemNames()
	if err != nil {
		return nil, err
	}
	ca, err := localca.LoadOrCreate(cfg.DataDir, names, now)
	if err != nil {
		return nil, err
	}
	fp := ca.Fingerprint()
	switch {
	case ca.Created:
		log.Warn("web UI: made a new local certificate authority: have clinic IT trust it once on every front-desk PC (download it from the sign-in page, /ca.pem) and check its fingerprint",
			"ca_fingerprint_sha256", fp)
	default:
		log.Info("web UI serves HTTPS with a certificate from the local CA", "ca_fingerprint_sha256", fp)
	}
	if ca.Reissued {
		log.Info("web UI: issued a new server certificate from the local CA", "reason", ca.Reason,
			"names", strings.Join(ca.Server.Leaf.DNSNames, ","), "addresses", fmt.Sprint(ca.Server.Leaf.IPAddresses),
			"not_after", ca.Server.Leaf.NotAfter.UTC())
	}
	if len(ca.Uncovered) > 0 {
		log.Warn("web UI: the local CA may not vouch for these names (the box was renamed, or the address is not a LAN address): browsers refuse the UI under them; use the .local name or the LAN address, or move ca.pem and ca.key aside and restart to make a new CA (then every PC must trust it again)",
			"names", strings.Join(ca.Uncovered, ","))
	}
	return ca, nil
}

// listenError says what to do when the port cannot be had.
func listenError(addr string, err error) error {
	_, port, _ := net.SplitHostPort(addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("web UI: listen on %s: another program uses port %s (another smsd serve?); stop it or set listen in %s", addr, port, config.DefaultPath)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("web UI: listen on %s: %w (ports below 1024 need privileges smsd does not have: use a port such as 8443 in listen in %s)", addr, err, config.DefaultPath)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("web UI: listen on %s: %w (this machine has no such address: fix listen in %s, or use \":%s\" for every address)", addr, err, config.DefaultPath, port)
	}
	return fmt.Errorf("web UI: listen on %s: %w", addr, err)
}

// browserURL is the URL a person opens: the listen host, or the box's host
// name when the listener takes every address.
func browserURL(scheme, host string, addr net.Addr) string {
	port := ""
	if ta, ok := addr.(*net.TCPAddr); ok {
		port = fmt.Sprint(ta.Port)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
		if h, err := os.Hostname(); err == nil && h != "" {
			host = strings.ToLower(h)
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}
