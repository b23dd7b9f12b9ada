package localca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// t0 is a fixed "now" (tests pass the clock).
var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func piNames(ips ...string) Names {
	var p []net.IP
	for _, s := range ips {
		p = append(p, net.ParseIP(s))
	}
	return HostNames("clinic-pi", p)
}

func mustLoad(t *testing.T, dir string, n Names, now time.Time) *CA {
	t.Helper()
	ca, err := LoadOrCreate(dir, n, now)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, f := range []string{CAFile, CAKeyFile, ServerFile, ServerKeyFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err == nil {
			m[f] = b
		}
	}
	return m
}

func TestHostNames(t *testing.T) {
	for _, tc := range []struct {
		name      string
		host      string
		ips       []string
		wantHosts []string
		wantIPs   []string
	}{
		{"bare", "clinic-pi", []string{"192.168.1.20"}, []string{"clinic-pi", "clinic-pi.local", "localhost"}, []string{"127.0.0.1", "192.168.1.20", "::1"}},
		{"fqdn", "Pi.Clinic.Lan.", nil, []string{"pi.clinic.lan", "pi", "pi.local", "localhost"}, []string{"127.0.0.1", "::1"}},
		{"mdns_name", "pi.local", nil, []string{"pi.local", "pi", "localhost"}, []string{"127.0.0.1", "::1"}},
		{"public_addresses_dropped", "pi", []string{"8.8.8.8", "2001:db8::1", "10.1.2.3", "fd00::5", "fe80::1", "169.254.3.4", "172.31.0.1", "172.32.0.1"},
			[]string{"pi", "pi.local", "localhost"}, []string{"10.1.2.3", "127.0.0.1", "169.254.3.4", "172.31.0.1", "::1", "fd00::5", "fe80::1"}},
		{"duplicates", "pi", []string{"127.0.0.1", "::ffff:10.0.0.1", "10.0.0.1"}, []string{"pi", "pi.local", "localhost"}, []string{"10.0.0.1", "127.0.0.1", "::1"}},
		{"no_hostname", "", nil, []string{"localhost"}, []string{"127.0.0.1", "::1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ips []net.IP
			for _, s := range tc.ips {
				ips = append(ips, net.ParseIP(s))
			}
			n := HostNames(tc.host, ips)
			var got []string
			for _, ip := range n.IPs {
				got = append(got, ip.String())
			}
			if !slices.Equal(n.Hosts, tc.wantHosts) || !slices.Equal(got, tc.wantIPs) {
				t.Errorf("HostNames(%q, %v) = %v %v, want %v %v", tc.host, tc.ips, n.Hosts, got, tc.wantHosts, tc.wantIPs)
			}
		})
	}
}

func TestSystemNames(t *testing.T) {
	n, err := SystemNames()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(n.Hosts, "localhost") || !slices.ContainsFunc(n.IPs, net.IPv4(127, 0, 0, 1).Equal) {
		t.Errorf("SystemNames() = %+v: no localhost or 127.0.0.1", n)
	}
	for _, ip := range n.IPs {
		if !Permitted(ip) {
			t.Errorf("SystemNames() keeps %s, outside the permitted ranges", ip)
		}
	}
}

// TestCreate: the first start makes the CA and a server certificate with
// the promised shape, in files only smsd can read.
func TestCreate(t *testing.T) {
	dir := t.TempDir()
	ca := mustLoad(t, dir, piNames("192.168.1.20"), t0)
	if !ca.Created || !ca.Reissued || ca.Reason != "new CA" {
		t.Errorf("first load: Created %v Reissued %v Reason %q", ca.Created, ca.Reissued, ca.Reason)
	}
	for _, f := range []string{CAFile, CAKeyFile, ServerFile, ServerKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", f, fi.Mode().Perm())
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	c := ca.Cert
	if !c.IsCA || !c.MaxPathLenZero || c.MaxPathLen != 0 || c.PublicKeyAlgorithm != x509.ECDSA || c.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
		t.Errorf("CA: IsCA %v MaxPathLenZero %v MaxPathLen %d %v", c.IsCA, c.MaxPathLenZero, c.MaxPathLen, c.PublicKeyAlgorithm)
	}
	if d := c.NotAfter.Sub(t0); d < 9*365*24*time.Hour || d > 11*365*24*time.Hour {
		t.Errorf("CA lasts %v, want about 10 years", d)
	}
	if !c.PermittedDNSDomainsCritical || !slices.Equal(c.PermittedDNSDomains, []string{"clinic-pi", "local", "localhost"}) {
		t.Errorf("CA DNS constraints %v critical %v", c.PermittedDNSDomains, c.PermittedDNSDomainsCritical)
	}
	var ranges []string
	for _, r := range c.PermittedIPRanges {
		ranges = append(ranges, r.String())
	}
	if want := []string{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"}; !slices.Equal(ranges, want) {
		t.Errorf("CA IP constraints %v, want %v", ranges, want)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("CA EKU %v, want server auth only", c.ExtKeyUsage)
	}
	leaf := ca.Server.Leaf
	if d := leaf.NotAfter.Sub(leaf.NotBefore); d > 398*24*time.Hour || d < 300*24*time.Hour {
		t.Errorf("server certificate lasts %v; browsers cap 398 days", d)
	}
	if !slices.Equal(leaf.DNSNames, []string{"clinic-pi", "clinic-pi.local", "localhost"}) || len(leaf.IPAddresses) != 3 {
		t.Errorf("server certificate names %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	// The files on disk are what LoadOrCreate returned.
	if b, _ := os.ReadFile(filepath.Join(dir, CAFile)); !bytes.Equal(b, ca.PEM()) {
		t.Error("ca.pem differs from PEM()")
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, ServerFile), filepath.Join(dir, ServerKeyFile))
	if err != nil || !bytes.Equal(pair.Certificate[0], ca.Server.Certificate[0]) {
		t.Errorf("server.pem/server.key on disk: %v", err)
	}
	// openssl, an independent implementation, agrees: the chain verifies,
	// and the fingerprint is the one browsers will show.
	out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(dir, CAFile), filepath.Join(dir, ServerFile)).CombinedOutput()
	if err != nil {
		t.Errorf("openssl verify: %v: %s", err, out)
	}
	if fp, err := Fingerprint(dir); err != nil || fp != ca.Fingerprint() {
		t.Errorf("Fingerprint(dir) = %q, %v; want %q", fp, err, ca.Fingerprint())
	}
}

func TestClockBefore2025Refused(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadOrCreate(dir, piNames(), time.Unix(0, 0))
	if err == nil || !strings.Contains(err.Error(), "set the time") {
		t.Fatalf("a CA made at 1970: %v", err)
	}
	if m := readAll(t, dir); len(m) != 0 {
		t.Errorf("files left: %v", m)
	}
}

func TestFingerprintMatchesOpenSSL(t *testing.T) {
	dir := t.TempDir()
	ca := mustLoad(t, dir, piNames(), t0)
	out, err := exec.Command("openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", filepath.Join(dir, CAFile)).Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	_, want, ok := strings.Cut(strings.TrimSpace(string(out)), "=")
	if !ok || !strings.EqualFold(want, ca.Fingerprint()) {
		t.Errorf("fingerprint %s, openssl says %s", ca.Fingerprint(), out)
	}
	if len(ca.Fingerprint()) != 32*3-1 {
		t.Errorf("fingerprint %q is not 32 colon-separated pairs", ca.Fingerprint())
	}
}

func TestFingerprintWithoutCA(t *testing.T) {
	dir := t.TempDir()
	_, err := Fingerprint(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Fingerprint of an empty dir: %v, want fs.ErrNotExist", err)
	}
	if m := readAll(t, dir); len(m) != 0 {
		t.Errorf("Fingerprint created files: %v", m)
	}
}

// TestReload: a second start keeps the CA; the server certificate is kept
// while it fits, and reissued from the same CA when the names change or
// its end comes near.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	first := mustLoad(t, dir, piNames("192.168.1.20"), t0)
	for _, tc := range []struct {
		name     string
		names    Names
		now      time.Time
		reissued bool
		reason   string
	}{
		{"same_names", piNames("192.168.1.20"), t0.Add(24 * time.Hour), false, ""},
		{"fewer_names_kept", HostNames("clinic-pi", nil), t0.Add(48 * time.Hour), false, ""},
		{"dhcp_new_address", piNames("192.168.1.77"), t0.Add(72 * time.Hour), true, "new names: 192.168.1.77"},
		{"same_again", piNames("192.168.1.77"), t0.Add(100 * 24 * time.Hour), false, ""},
		{"near_expiry", piNames("192.168.1.77"), t0.Add(72*time.Hour + 340*24*time.Hour), true, "server certificate expires"},
		{"renewed_one_kept", piNames("192.168.1.77"), t0.Add(72*time.Hour + 341*24*time.Hour), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := readAll(t, dir)
			ca := mustLoad(t, dir, tc.names, tc.now)
			after := readAll(t, dir)
			if ca.Created || ca.Fingerprint() != first.Fingerprint() || !bytes.Equal(before[CAFile], after[CAFile]) || !bytes.Equal(before[CAKeyFile], after[CAKeyFile]) {
				t.Fatal("the CA changed on reload")
			}
			if ca.Reissued != tc.reissued || !strings.HasPrefix(ca.Reason, tc.reason) {
				t.Errorf("Reissued %v (%q), want %v (%q)", ca.Reissued, ca.Reason, tc.reissued, tc.reason)
			}
			if changed := !bytes.Equal(before[ServerFile], after[ServerFile]); changed != tc.reissued {
				t.Errorf("server.pem changed %v, reissued %v", changed, tc.reissued)
			}
			for _, ip := range tc.names.IPs {
				if !slices.ContainsFunc(ca.Server.Leaf.IPAddresses, ip.Equal) {
					t.Errorf("server certificate lacks %s", ip)
				}
			}
			if left := ca.Server.Leaf.NotAfter.Sub(tc.now); left < RenewBefore {
				t.Errorf("serves a certificate with %v left", left)
			}
		})
	}
}

// TestRenamedBox: a new host name outside the CA's constraints is left out
// of the server certificate (a browser would refuse the whole certificate)
// and reported; its .local name still works.
func TestRenamedBox(t *testing.T) {
	dir := t.TempDir()
	mustLoad(t, dir, piNames(), t0)
	ca := mustLoad(t, dir, HostNames("front-desk-sms", nil), t0.Add(time.Hour))
	if !slices.Equal(ca.Uncovered, []string{"front-desk-sms"}) {
		t.Errorf("Uncovered = %v", ca.Uncovered)
	}
	if !ca.Reissued || !slices.Contains(ca.Server.Leaf.DNSNames, "front-desk-sms.local") || slices.Contains(ca.Server.Leaf.DNSNames, "front-desk-sms") {
		t.Errorf("server certificate for the renamed box: %v (reissued %v)", ca.Server.Leaf.DNSNames, ca.Reissued)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := ca.Server.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "front-desk-sms.local", CurrentTime: t0.Add(2 * time.Hour)}); err != nil {
		t.Errorf("renamed box's .local name: %v", err)
	}
}

// TestNameConstraints: a certificate the CA's key signs for a public name
// or address does not verify against the CA, in Go and in openssl; LAN
// names and addresses do. This is what makes a stolen ca.key useless
// against the clinic's bank.
func TestNameConstraints(t *testing.T) {
	dir := t.TempDir()
	ca := mustLoad(t, dir, piNames(), t0)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, tc := range []struct {
		name string
		dns  []string
		ips  []string
		ok   bool
	}{
		{"box_name", []string{"clinic-pi"}, nil, true},
		{"box_mdns", []string{"clinic-pi.local", "printer.local"}, nil, true},
		{"localhost", []string{"localhost"}, []string{"127.0.0.1", "::1"}, true},
		{"lan_addresses", nil, []string{"192.168.0.9", "10.9.8.7", "172.20.0.1", "fd12::1", "fe80::2", "169.254.1.1"}, true},
		{"public_name", []string{"example.com"}, nil, false},
		{"bank", []string{"www.bank.example"}, nil, false},
		{"suffix_trick", []string{"evilclinic-pi"}, nil, false},
		{"below_box_name_in_public_tld", []string{"clinic-pi.com"}, nil, false},
		{"public_ipv4", nil, []string{"8.8.8.8"}, false},
		{"public_ipv6", nil, []string{"2001:4860:4860::8888"}, false},
		{"cgnat", nil, []string{"100.64.0.1"}, false},
		{"lan_name_public_ip", []string{"clinic-pi"}, []string{"1.1.1.1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ips []net.IP
			for _, s := range tc.ips {
				ips = append(ips, net.ParseIP(s))
			}
			leaf, der := signLeaf(t, ca, tc.dns, ips)
			_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: t0.Add(time.Hour)})
			var ci x509.CertificateInvalidError
			switch {
			case tc.ok && err != nil:
				t.Errorf("Go refuses a LAN certificate: %v", err)
			case !tc.ok && err == nil:
				t.Errorf("Go accepts %v %v from the local CA", tc.dns, tc.ips)
			case !tc.ok && !(errors.As(err, &ci) && ci.Reason == x509.CANotAuthorizedForThisName):
				t.Errorf("Go refuses for another reason than the name constraints: %v", err)
			}
			// openssl, as a second opinion.
			p := filepath.Join(t.TempDir(), "leaf.pem")
			os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
			out, oerr := exec.Command("openssl", "verify", "-attime", "1796209200", "-CAfile", filepath.Join(dir, CAFile), p).CombinedOutput()
			if (oerr == nil) != tc.ok {
				t.Errorf("openssl verify: %v: %s", oerr, out)
			}
			if !tc.ok && !strings.Contains(string(out), "subtree violation") {
				t.Errorf("openssl refuses for another reason: %s", out)
			}
		})
	}
}

// signLeaf makes a server certificate for any names with the CA's key, as
// a thief of ca.key would.
func signLeaf(t *testing.T, ca *CA, dns []string, ips []net.IP) (*x509.Certificate, []byte) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "x"},
		NotBefore: t0, NotAfter: t0.Add(30 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: dns, IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return leaf, der
}

// TestDamagedCARefused: a CA that cannot be read, or whose halves do not
// pair, stops the start with an error that says what to do, and nothing
// is written: PCs may trust that CA.
func TestDamagedCARefused(t *testing.T) {
	other := t.TempDir()
	mustLoad(t, other, piNames(), t0)
	otherKey, _ := os.ReadFile(filepath.Join(other, CAKeyFile))
	otherServer, _ := os.ReadFile(filepath.Join(other, ServerFile))
	for _, tc := range []struct {
		name   string
		damage func(dir string)
		want   string
	}{
		{"ca_pem_garbage", func(d string) { os.WriteFile(filepath.Join(d, CAFile), []byte("not a certificate\n"), 0o600) }, "ca.pem is not a PEM certificate"},
		{"ca_pem_empty", func(d string) { os.WriteFile(filepath.Join(d, CAFile), nil, 0o600) }, "is not a PEM certificate"},
		{"ca_pem_truncated_der", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, CAFile))
			blk, _ := pem.Decode(b)
			os.WriteFile(filepath.Join(d, CAFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: blk.Bytes[:len(blk.Bytes)/2]}), 0o600)
		}, "damaged?"},
		{"ca_pem_is_a_leaf", func(d string) { os.WriteFile(filepath.Join(d, CAFile), otherServer, 0o600) }, "do not pair"},
		{"ca_key_missing", func(d string) { os.Remove(filepath.Join(d, CAKeyFile)) }, "its key"},
		{"ca_key_garbage", func(d string) { os.WriteFile(filepath.Join(d, CAKeyFile), []byte("x"), 0o600) }, "ca.key is not a PEM private key"},
		{"ca_key_of_another_ca", func(d string) { os.WriteFile(filepath.Join(d, CAKeyFile), otherKey, 0o600) }, "do not pair"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mustLoad(t, dir, piNames(), t0)
			tc.damage(dir)
			before := readAll(t, dir)
			_, err := LoadOrCreate(dir, piNames(), t0.Add(time.Hour))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "front-desk PC") && !strings.Contains(err.Error(), "restore") {
				t.Errorf("err = %v, want one saying %q and what to do", err, tc.want)
			}
			after := readAll(t, dir)
			for f := range before {
				if !bytes.Equal(before[f], after[f]) {
					t.Errorf("%s was changed", f)
				}
			}
			if len(after) != len(before) {
				t.Errorf("files %d -> %d", len(before), len(after))
			}
		})
	}
}

// TestCrashLeftovers: what a power cut while writing can leave is mended
// at the next start: a CA key without its certificate (no PC can trust a
// CA whose certificate never existed) and a server pair that does not
// match or is damaged.
func TestCrashLeftovers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		damage    func(dir string)
		created   bool
		sameCA    bool
		reissueRe string
	}{
		{"ca_key_without_ca_pem", func(d string) { os.Remove(filepath.Join(d, CAFile)) }, true, false, "new CA"},
		{"server_key_new_cert_old", func(d string) {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			writeKey(filepath.Join(d, ServerKeyFile), k)
		}, false, true, "server certificate unreadable"},
		{"server_pem_garbage", func(d string) { os.WriteFile(filepath.Join(d, ServerFile), []byte("x"), 0o600) }, false, true, "server certificate unreadable"},
		{"server_files_gone", func(d string) {
			os.Remove(filepath.Join(d, ServerFile))
			os.Remove(filepath.Join(d, ServerKeyFile))
		}, false, true, "no server certificate"},
		{"server_cert_from_another_ca", func(d string) {
			o := t.TempDir()
			mustLoad(t, o, piNames(), t0)
			for _, f := range []string{ServerFile, ServerKeyFile} {
				b, _ := os.ReadFile(filepath.Join(o, f))
				os.WriteFile(filepath.Join(d, f), b, 0o600)
			}
		}, false, true, "server certificate not from this CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			first := mustLoad(t, dir, piNames(), t0)
			tc.damage(dir)
			ca := mustLoad(t, dir, piNames(), t0.Add(time.Hour))
			if ca.Created != tc.created || (ca.Fingerprint() == first.Fingerprint()) != tc.sameCA || !ca.Reissued || !strings.HasPrefix(ca.Reason, tc.reissueRe) {
				t.Errorf("Created %v, same CA %v, Reissued %v %q", ca.Created, ca.Fingerprint() == first.Fingerprint(), ca.Reissued, ca.Reason)
			}
			if _, err := tls.LoadX509KeyPair(filepath.Join(dir, ServerFile), filepath.Join(dir, ServerKeyFile)); err != nil {
				t.Errorf("server pair after mending: %v", err)
			}
		})
	}
}

// TestExpiredCA: past its ten years the CA is not silently replaced.
func TestExpiredCA(t *testing.T) {
	dir := t.TempDir()
	mustLoad(t, dir, piNames(), t0)
	_, err := LoadOrCreate(dir, piNames(), t0.Add(11*365*24*time.Hour))
	if err == nil || !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), "move ca.pem and ca.key aside") {
		t.Errorf("expired CA: %v", err)
	}
	// Near its end, the server certificate ends with the CA, not after it.
	ca := mustLoad(t, dir, piNames(), t0.Add(10*365*24*time.Hour-100*24*time.Hour))
	if ca.Server.Leaf.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("server certificate outlives the CA: %v > %v", ca.Server.Leaf.NotAfter, ca.Cert.NotAfter)
	}
}

// TestHandshake: a real TLS handshake over TCP on 127.0.0.1. A client that
// trusts only ca.pem connects as localhost and as the box's .local name;
// a client with the system's roots, or asking for another name, does not.
func TestHandshake(t *testing.T) {
	dir := t.TempDir()
	ca := mustLoad(t, dir, piNames(), time.Now())
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ca.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				c.Write([]byte("ok"))
				c.Close()
			}()
		}
	}()
	caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	trusting := x509.NewCertPool()
	if !trusting.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem does not parse as a PEM certificate")
	}
	for _, tc := range []struct {
		name       string
		roots      *x509.CertPool
		serverName string
		max        uint16
		ok         bool
	}{
		{"trusts_ca_localhost", trusting, "localhost", 0, true},
		{"trusts_ca_mdns", trusting, "clinic-pi.local", 0, true},
		{"trusts_ca_ip", trusting, "127.0.0.1", 0, true},
		{"trusts_ca_tls12", trusting, "localhost", tls.VersionTLS12, true},
		{"system_roots", nil, "localhost", 0, false},
		{"trusts_ca_other_name", trusting, "example.com", 0, false},
		{"tls11_refused", trusting, "localhost", tls.VersionTLS11, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: tc.roots, ServerName: tc.serverName, MaxVersion: tc.max}
			if tc.max == tls.VersionTLS11 {
				cfg.MinVersion = tls.VersionTLS10
			}
			c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("handshake: %v, want ok %v", err, tc.ok)
			}
			if err != nil {
				return
			}
			defer c.Close()
			if b, err := io.ReadAll(c); err != nil || string(b) != "ok" {
				t.Errorf("read over TLS: %q %v", b, err)
			}
			if st := c.ConnectionState(); st.Version < tls.VersionTLS12 {
				t.Errorf("TLS version %x", st.Version)
			}
		})
	}
}
