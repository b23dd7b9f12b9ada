// Package localca is the box's own small certificate authority for the web
// UI: made once in the data directory on first start, it issues the
// server certificate the UI serves on the clinic LAN. Clinic IT trusts the
// CA once per front-desk PC (its certificate is downloadable from the
// sign-in page, its fingerprint printed by smsd status and the postinst).
//
// The CA is name-constrained (RFC 5280 §4.2.1.10, marked critical) to the
// box's host names, .local (mDNS), localhost, loopback and the private LAN
// address ranges, and to server authentication: even someone who steals
// ca.key cannot make a certificate a browser would accept for a public
// site. The CA is never replaced silently, since PCs trust it by its
// fingerprint; the server certificate is reissued from it at start when it
// nears its end or no longer names the box (DHCP gave it a new address).
//
// The package uses the standard library only, so the daemon and cmd/smsd
// can both import it.
package localca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The files in the data directory. All are mode 0600: the data directory
// is the smsd user's alone, and the CA certificate reaches PCs through the
// sign-in page, not through the file system.
const (
	CAFile         = "ca.pem"     // the CA certificate (PEM), what PCs trust
	CAKeyFile      = "ca.key"     // the CA's private key (PKCS #8 PEM)
	ServerFile     = "server.pem" // the server certificate (PEM)
	ServerKeyFile  = "server.key" // the server certificate's private key
	fileMode       = 0o600
	caLifetime     = 10 * 365 * 24 * time.Hour
	serverLifetime = 365 * 24 * time.Hour // browsers refuse leaves over 398 days
	// RenewBefore: a server certificate that ends within this is reissued
	// at start, so a box restarted monthly (updates) never serves an
	// expired one.
	RenewBefore = 30 * 24 * time.Hour
	// backdate covers a PC whose clock is a little behind the box's.
	backdate = time.Hour
)

// PermittedDNSDomains are the DNS name constraints every CA gets besides
// the box's own host names: "local" (mDNS names, RFC 6762, never public;
// it also keeps the CA usable when the box is renamed) and "localhost".
// A constraint covers the name and all names below it.
var PermittedDNSDomains = []string{"local", "localhost"}

// PermittedIPRanges are loopback, link-local and the private LAN ranges
// (RFC 1918, RFC 4193): the only addresses the CA may vouch for, the same
// ranges the systemd unit's IPAddressAllow lets reach the daemon.
var PermittedIPRanges = mustCIDRs(
	"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
	"::1/128", "fc00::/7", "fe80::/10",
)

func mustCIDRs(s ...string) []*net.IPNet {
	out := make([]*net.IPNet, len(s))
	for i, c := range s {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			panic(err)
		}
		out[i] = n
	}
	return out
}

// Permitted reports whether ip lies in PermittedIPRanges.
func Permitted(ip net.IP) bool {
	for _, n := range PermittedIPRanges {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// Names are the names and addresses the server certificate carries.
// Hosts are DNS names (the first is the box's host name, used in URLs and
// the CA's subject); IPs are addresses. SystemNames finds the box's own.
type Names struct {
	Hosts []string
	IPs   []net.IP
}

// SystemNames returns the box's names: its host name (and, for a name
// with dots, its first label), <name>.local and localhost; 127.0.0.1, ::1
// and every interface address within PermittedIPRanges (a public address
// is left out: the CA may not vouch for it).
func SystemNames() (Names, error) {
	h, err := os.Hostname()
	if err != nil {
		return Names{}, fmt.Errorf("find the host name for the web UI's certificate: %w", err)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return Names{}, fmt.Errorf("list the network addresses for the web UI's certificate: %w", err)
	}
	var ips []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && Permitted(n.IP) {
			ips = append(ips, n.IP)
		}
	}
	return HostNames(h, ips), nil
}

// HostNames builds Names from a host name and addresses as SystemNames
// does: the names are completed and deduplicated, addresses outside
// PermittedIPRanges dropped, loopback added.
func HostNames(hostname string, ips []net.IP) Names {
	var n Names
	h := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(hostname), "."))
	short, _, _ := strings.Cut(h, ".")
	if h != "" && h != "localhost" {
		n.Hosts = append(n.Hosts, h)
		if short != h {
			n.Hosts = append(n.Hosts, short)
		}
		if !strings.HasSuffix(h, ".local") {
			n.Hosts = append(n.Hosts, short+".local")
		}
	}
	n.Hosts = append(n.Hosts, "localhost")
	for _, ip := range append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, ips...) {
		if Permitted(ip) {
			n.IPs = append(n.IPs, ip)
		}
	}
	return n.clean()
}

// clean returns n with names lower-cased, IPv4 addresses in their 4-byte
// form and duplicates removed, in a stable order (hosts as given, IPs
// sorted), so that two Names compare equal when they name the same things.
func (n Names) clean() Names {
	var out Names
	for _, h := range n.Hosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h != "" && !slices.Contains(out.Hosts, h) {
			out.Hosts = append(out.Hosts, h)
		}
	}
	for _, ip := range n.IPs {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		if ip != nil && !slices.ContainsFunc(out.IPs, ip.Equal) {
			out.IPs = append(out.IPs, ip)
		}
	}
	// IPv4 first (4 bytes sort before 16), then by value.
	slices.SortFunc(out.IPs, func(a, b net.IP) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return bytes.Compare(a, b)
	})
	return out
}

// CA is the loaded local CA and the server certificate it issued.
type CA struct {
	// Cert is the CA certificate; certPEM its PEM as in ca.pem.
	Cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
	// Server is the server certificate and key the UI serves.
	Server tls.Certificate
	// Created is true when this call made the CA (first start); every
	// front-desk PC must then be told to trust it.
	Created bool
	// Reissued is true when this call made a new server certificate; Reason
	// says why ("new CA", "expires 2027-01-02", "new names: 192.168.1.7").
	Reissued bool
	Reason   string
	// Uncovered lists wanted names the CA's constraints do not permit
	// (the box was renamed since the CA was made): the server certificate
	// leaves them out, and browsers refuse the UI under them.
	Uncovered []string
}

// PEM returns the CA certificate in PEM, as in ca.pem: what the sign-in
// page offers for download.
func (c *CA) PEM() []byte { return slices.Clone(c.certPEM) }

// Fingerprint is the CA certificate's SHA-256 fingerprint as browsers and
// `openssl x509 -noout -fingerprint -sha256` show it (AB:CD:...).
func (c *CA) Fingerprint() string { return FormatFingerprint(c.Cert.Raw) }

// TLSConfig returns a server configuration with the server certificate:
// TLS 1.2 or later, HTTP/2 offered.
func (c *CA) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{c.Server},
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// FormatFingerprint returns the SHA-256 of der as colon-separated
// upper-case hex pairs.
func FormatFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// Fingerprint returns the fingerprint of the CA certificate in dir
// without creating or changing anything (for smsd status). When there is
// none yet the error wraps fs.ErrNotExist.
func Fingerprint(dir string) (string, error) {
	cert, _, err := readCert(filepath.Join(dir, CAFile))
	if err != nil {
		return "", err
	}
	return FormatFingerprint(cert.Raw), nil
}

// LoadOrCreate loads the CA in dir, or makes it when dir holds none (no
// ca.pem), and makes sure the server certificate covers names and lasts
// past now+RenewBefore, issuing a new one when not. A ca.pem or ca.key that
// cannot be read or does not pair is an error and is left as it is: PCs may
// trust that CA, and only a person may decide to replace it.
func LoadOrCreate(dir string, names Names, now time.Time) (*CA, error) {
	names = names.clean()
	if len(names.Hosts) == 0 && len(names.IPs) == 0 {
		return nil, errors.New("local CA: no names or addresses to issue the server certificate for")
	}
	ca, err := load(dir)
	if errors.Is(err, fs.ErrNotExist) {
		ca, err = create(dir, names, now)
	}
	if err != nil {
		return nil, err
	}
	if !now.Before(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("the web UI's local CA in %s expired on %s: move %s and %s aside and restart smsd to make a new one (then every front-desk PC must trust the new CA)",
			dir, ca.Cert.NotAfter.Format(time.DateOnly), CAFile, CAKeyFile)
	}
	want, uncovered := ca.permitted(names)
	ca.Uncovered = uncovered
	if len(want.Hosts) == 0 && len(want.IPs) == 0 {
		return nil, fmt.Errorf("local CA in %s: it may vouch for none of %v", dir, uncovered)
	}
	reason := ""
	if ca.Created {
		reason = "new CA"
	}
	if reason == "" {
		reason = ca.loadServer(dir, want, now)
	}
	if reason != "" {
		if err := ca.issue(dir, want, now); err != nil {
			return nil, err
		}
		ca.Reissued, ca.Reason = true, reason
	}
	return ca, nil
}

// load reads ca.pem and ca.key. No ca.pem: an error wrapping
// fs.ErrNotExist (a ca.key without ca.pem is what a crash while making
// the CA leaves: no PC can trust a CA whose certificate never existed).
func load(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	cert, certPEM, err := readCert(certPath)
	if err != nil {
		return nil, err
	}
	key, err := readKey(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s exists but its key %s is missing: smsd cannot issue a server certificate without it, and does not replace a CA that PCs may trust; restore %s from a backup, or move %s aside and restart smsd to make a new CA (then every front-desk PC must trust the new one)",
			certPath, keyPath, CAKeyFile, CAFile)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: smsd does not replace a CA that PCs may trust; restore %s from a backup, or move %s and %s aside and restart smsd to make a new CA (then every front-desk PC must trust the new one)",
			err, CAKeyFile, CAFile, CAKeyFile)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s and %s do not pair (the key is not the certificate's): restore the CA's files from one backup, or move both aside and restart smsd to make a new CA (then every front-desk PC must trust the new one)",
			certPath, keyPath)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate: restore it from a backup, or move %s and %s aside and restart smsd to make a new CA", certPath, CAFile, CAKeyFile)
	}
	return &CA{Cert: cert, certPEM: certPEM, key: key}, nil
}

// readCert reads the first certificate of a PEM file.
func readCert(path string) (*x509.Certificate, []byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrPermission) {
		return nil, nil, fmt.Errorf("read the web UI's CA certificate: %w (the data directory's files must belong to the user smsd runs as, e.g. chown -R smsd:smsd %s)", err, filepath.Dir(path))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read the web UI's CA certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("%s is not a PEM certificate (damaged?): smsd does not replace a CA that PCs may trust; restore it from a backup, or move %s and %s aside and restart smsd to make a new CA (then every front-desk PC must trust the new one)",
			path, CAFile, CAKeyFile)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v (damaged?): restore it from a backup, or move %s and %s aside and restart smsd to make a new CA (then every front-desk PC must trust the new one)",
			path, err, CAFile, CAKeyFile)
	}
	return cert, pem.EncodeToMemory(blk), nil
}

// readKey reads an ECDSA private key from a PKCS #8 PEM file.
func readKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("read the web UI's key: %w (the data directory's files must belong to the user smsd runs as, e.g. chown -R smsd:smsd %s)", err, filepath.Dir(path))
	}
	if err != nil {
		return nil, fmt.Errorf("read the web UI's key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s is not a PEM private key (damaged?)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %v (damaged?)", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s holds a %T, not an ECDSA key", path, k)
	}
	return ek, nil
}

// create makes a new CA in dir: ca.key first, then ca.pem, each written
// whole before it appears, so ca.pem exists only with its key beside it.
func create(dir string, names Names, now time.Time) (*CA, error) {
	if now.Year() < 2025 {
		// A Pi has no clock battery: before NTP answers it may think it is
		// 1970, and a CA made then would be valid from 1970 for ten years.
		return nil, fmt.Errorf("the clock says %s: smsd will not make the web UI's certificate authority with it; set the time (timedatectl, or wait for NTP) and restart smsd",
			now.Format(time.DateOnly))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("local CA: make a key: %w", err)
	}
	host := "localhost"
	if len(names.Hosts) > 0 {
		host = names.Hosts[0]
	}
	var dns []string
	for _, h := range names.Hosts {
		if !covered(h, PermittedDNSDomains) {
			dns = append(dns, h)
		}
	}
	dns = append(dns, PermittedDNSDomains...)
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{
			CommonName:         "smsd local CA " + host + " " + now.UTC().Format(time.DateOnly),
			Organization:       []string{"smsd"},
			OrganizationalUnit: []string{"web UI of " + host},
		},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true, // no intermediate CAs below it
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		// An EKU on a CA limits what it may issue (Go, Windows and others
		// check it down the chain): server certificates only.
		ExtKeyUsage:                 []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         dns,
		PermittedIPRanges:           PermittedIPRanges,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("local CA: make its certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeKey(filepath.Join(dir, CAKeyFile), key); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, CAFile), certPEM); err != nil {
		return nil, err
	}
	return &CA{Cert: cert, certPEM: certPEM, key: key, Created: true}, nil
}

// covered reports whether DNS name h lies within one of the domains (the
// name itself or a name below it, as RFC 5280 name constraints match).
func covered(h string, domains []string) bool {
	for _, d := range domains {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	return false
}

// permitted splits names into those the CA's constraints allow and the
// rest, so that a server certificate never names what it may not (a
// browser would refuse the whole certificate).
func (c *CA) permitted(names Names) (ok Names, uncovered []string) {
	for _, h := range names.Hosts {
		if len(c.Cert.PermittedDNSDomains) == 0 || covered(h, c.Cert.PermittedDNSDomains) {
			ok.Hosts = append(ok.Hosts, h)
		} else {
			uncovered = append(uncovered, h)
		}
	}
	for _, ip := range names.IPs {
		in := len(c.Cert.PermittedIPRanges) == 0
		for _, n := range c.Cert.PermittedIPRanges {
			in = in || n.Contains(ip)
		}
		if in {
			ok.IPs = append(ok.IPs, ip)
		} else {
			uncovered = append(uncovered, ip.String())
		}
	}
	return ok, uncovered
}

// loadServer loads server.pem and server.key into c.Server and returns
// why they must be reissued, or "" when they serve as they are. A missing
// or damaged server certificate is simply made again: it is derived from
// the CA, and nobody trusts it on its own.
func (c *CA) loadServer(dir string, want Names, now time.Time) string {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, ServerFile), filepath.Join(dir, ServerKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "no server certificate"
	}
	if err != nil {
		return "server certificate unreadable: " + err.Error()
	}
	leaf := pair.Leaf
	pool := x509.NewCertPool()
	pool.AddCert(c.Cert)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: maxTime(now, leaf.NotBefore), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return "server certificate not from this CA: " + err.Error()
	}
	if leaf.NotAfter.Sub(now) < RenewBefore {
		return "server certificate expires " + leaf.NotAfter.UTC().Format(time.DateOnly)
	}
	var missing []string
	for _, h := range want.Hosts {
		if !slices.Contains(leaf.DNSNames, h) {
			missing = append(missing, h)
		}
	}
	for _, ip := range want.IPs {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			missing = append(missing, ip.String())
		}
	}
	if len(missing) > 0 {
		return "new names: " + strings.Join(missing, ", ")
	}
	c.Server = pair
	return ""
}

// maxTime is the later of a and b. A server certificate made while the
// clock was ahead is not reissued because the clock went back: browsers
// judge it by the PC's clock, not the box's.
func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// issue makes a new server certificate for names, valid for
// serverLifetime but never past the CA's own end, and writes it: the key
// first, then the certificate (a crash between leaves a pair that does
// not match, which the next start reissues).
func (c *CA) issue(dir string, names Names, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("local CA: make a server key: %w", err)
	}
	cn := "localhost"
	if len(names.Hosts) > 0 {
		cn = names.Hosts[0]
	}
	end := now.Add(serverLifetime)
	if end.After(c.Cert.NotAfter) {
		end = c.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"smsd"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     end,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names.Hosts,
		IPAddresses:  names.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, &key.PublicKey, c.key)
	if err != nil {
		return fmt.Errorf("local CA: issue the server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, ServerKeyFile), key); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, ServerFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return err
	}
	c.Server = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	return nil
}

// serial returns a random 128-bit serial number (RFC 5280 allows up to
// 20 octets; random serials keep two certificates of one second apart).
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n.Add(n, big.NewInt(1))
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// writeFile writes b to path atomically: a temporary file in the same
// directory, mode 0600 from its creation, synced, then renamed over path
// and the directory synced. A power cut leaves the old file or the new
// one, never half a key.
func writeFile(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("local CA: write %s: %w (the data directory must be smsd's and writable)", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(fileMode); err != nil {
		f.Close()
		return fmt.Errorf("local CA: write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("local CA: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("local CA: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("local CA: write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("local CA: write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
