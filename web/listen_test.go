package web

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/web/localca"
)

// testNames stands in for the box's names, so the tests do not depend on
// this machine's host name and addresses.
func testNames() (localca.Names, error) { return localca.HostNames("clinic-pi", nil), nil }

// listenCfg is a configuration for the tests with its own data directory.
func listenCfg(t *testing.T, addr string) config.Config {
	c := config.Default()
	c.DataDir = t.TempDir()
	c.Listen = addr
	return c
}

// serveHello serves a small page on ln until the test ends.
func serveHello(t *testing.T, ln net.Listener) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello over "+r.Proto)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// get fetches url, connecting to 127.0.0.1 at ln's port whatever host the
// URL names (the box's host name need not resolve here), with a client
// that trusts roots (nil: the system's roots only).
func get(ln net.Listener, url string, roots *x509.CertPool) (string, error) {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	var d net.Dialer
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
	}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// logTo returns a logger writing text lines into a buffer.
func logTo() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

func TestListenOff(t *testing.T) {
	ln, info, err := Listen(listenCfg(t, ""), nil)
	if ln != nil || err != nil || info.URL != "" || info.Scheme != "" || info.TLS || info.CAPEM != nil {
		t.Errorf("listen \"\": %v %+v %v, want the UI off", ln, info, err)
	}
}

// TestListenModes: which address serves what, over real connections.
func TestListenModes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		listen    string
		plain     bool
		wantTLS   bool
		wantURL   string // prefix
		wantWarn  string
		wantProto string
	}{
		{"loopback_v4_plain", "127.0.0.1:0", false, false, "http://127.0.0.1:", "", "HTTP/1.1"},
		{"localhost_plain", "localhost:0", false, false, "http://localhost:", "", "HTTP/1.1"},
		{"loopback_plain_http_no_warning", "127.0.0.1:0", true, false, "http://127.0.0.1:", "", "HTTP/1.1"},
		{"every_address_local_ca", ":0", false, true, "https://", "", "HTTP/2.0"},
		{"every_address_v4_local_ca", "0.0.0.0:0", false, true, "https://", "", "HTTP/2.0"},
		{"every_address_plain_http_warned", ":0", true, false, "http://", "PLAIN HTTP", "HTTP/1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := listenCfg(t, tc.listen)
			cfg.PlainHTTP = tc.plain
			log, logged := logTo()
			ln, info, err := listen(cfg, log, testNames, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			serveHello(t, ln)
			if info.TLS != tc.wantTLS || !strings.HasPrefix(info.URL, tc.wantURL) || info.Scheme+"://" != tc.wantURL[:len(info.Scheme)+3] {
				t.Errorf("info %+v, want TLS %v, URL %s...", info, tc.wantTLS, tc.wantURL)
			}
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			if !strings.HasSuffix(info.URL, ":"+port+"/") {
				t.Errorf("URL %s does not name the port %s", info.URL, port)
			}
			warned := strings.Contains(logged.String(), "level=WARN")
			if tc.wantWarn != "" && (!warned || !strings.Contains(logged.String(), tc.wantWarn)) || tc.wantWarn == "" && warned && !tc.wantTLS {
				t.Errorf("log, want a warning %v (%q):\n%s", tc.wantWarn != "", tc.wantWarn, logged)
			}
			var roots *x509.CertPool
			if tc.wantTLS {
				if len(info.CAPEM) == 0 || info.CAFingerprint == "" {
					t.Fatalf("local CA serves, but no CA in %+v", info)
				}
				onDisk, err := os.ReadFile(filepath.Join(cfg.DataDir, localca.CAFile))
				if err != nil || !bytes.Equal(onDisk, info.CAPEM) {
					t.Errorf("info.CAPEM is not %s: %v", localca.CAFile, err)
				}
				if fp, _ := localca.Fingerprint(cfg.DataDir); fp != info.CAFingerprint {
					t.Errorf("fingerprint %s, file's %s", info.CAFingerprint, fp)
				}
				roots = x509.NewCertPool()
				roots.AppendCertsFromPEM(onDisk)
				// The system's roots alone do not trust the box.
				if _, err := get(ln, "https://localhost/", nil); err == nil || !strings.Contains(err.Error(), "certificate") {
					t.Errorf("a client with the system roots only: %v, want a certificate error", err)
				}
				// Plain HTTP to the TLS port gets no page.
				if body, err := get(ln, "http://localhost/", nil); err == nil && strings.Contains(body, "hello") {
					t.Error("plain HTTP served on the TLS port")
				}
			} else if info.CAPEM != nil || info.CAFingerprint != "" {
				t.Errorf("plain HTTP with a CA in the info: %+v", info)
			}
			// A client that trusts only ca.pem reaches the page as localhost,
			// as the box's name from the URL, and as clinic-pi.local.
			urls := []string{info.URL}
			if tc.wantTLS {
				urls = append(urls, "https://localhost/", "https://clinic-pi.local/", "https://127.0.0.1/")
			}
			for _, u := range urls {
				if !tc.wantTLS {
					u = "http://127.0.0.1/"
				} else if strings.HasPrefix(u, info.URL) {
					u = "https://clinic-pi/" // testNames' host name; info.URL has this machine's
				}
				body, err := get(ln, u, roots)
				if err != nil || body != "hello over "+tc.wantProto {
					t.Errorf("GET %s: %q %v, want hello over %s", u, body, err, tc.wantProto)
				}
			}
		})
	}
}

// TestListenOwnCertificate: an admin's own certificate serves instead of
// the local CA, and one that does not pair is refused, naming the files.
func TestListenOwnCertificate(t *testing.T) {
	dir := t.TempDir()
	certA, keyA := selfSigned(t, dir, "a", time.Now().Add(90*24*time.Hour))
	_, keyB := selfSigned(t, dir, "b", time.Now().Add(90*24*time.Hour))
	certOld, keyOld := selfSigned(t, dir, "old", time.Now().Add(-time.Hour))
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not pem\n"), 0o600)

	for _, tc := range []struct {
		name       string
		cert, key  string
		plain      bool
		listen     string
		wantErr    []string
		wantWarn   string
		wantServes bool
	}{
		{"pair", certA, keyA, false, ":0", nil, "", true},
		{"pair_on_loopback_still_tls", certA, keyA, false, "127.0.0.1:0", nil, "", true},
		{"expired_warned", certOld, keyOld, false, ":0", nil, "EXPIRED", false},
		{"key_of_another_cert", certA, keyB, false, ":0", []string{certA, keyB, "cannot be used together", "remove both"}, "", false},
		{"cert_missing", filepath.Join(dir, "nope.pem"), keyA, false, ":0", []string{"nope.pem", "no such file", "tls_cert"}, "", false},
		{"key_missing", certA, filepath.Join(dir, "nope.key"), false, ":0", []string{"nope.key", "no such file"}, "", false},
		{"cert_garbage", garbage, keyA, false, ":0", []string{garbage, "cannot be used together"}, "", false},
		{"only_cert", certA, "", false, ":0", []string{"go together"}, "", false},
		{"with_plain_http", certA, keyA, true, ":0", []string{"plain_http", "choose one"}, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := listenCfg(t, tc.listen)
			cfg.TLSCert, cfg.TLSKey, cfg.PlainHTTP = tc.cert, tc.key, tc.plain
			log, logged := logTo()
			ln, info, err := listen(cfg, log, testNames, time.Now())
			if tc.wantErr != nil {
				if err == nil {
					ln.Close()
					t.Fatal("no error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if !info.TLS || info.CAPEM != nil || info.CAFingerprint != "" || !strings.HasPrefix(info.URL, "https://") {
				t.Errorf("own certificate: %+v, want TLS and no local CA", info)
			}
			if entries, _ := os.ReadDir(cfg.DataDir); len(entries) != 0 {
				t.Errorf("the local CA was made although the admin's certificate serves: %v", entries)
			}
			if tc.wantWarn != "" && !strings.Contains(logged.String(), tc.wantWarn) {
				t.Errorf("no %q warning:\n%s", tc.wantWarn, logged)
			}
			if !tc.wantServes {
				return
			}
			serveHello(t, ln)
			pem, _ := os.ReadFile(tc.cert)
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(pem)
			if body, err := get(ln, "https://localhost/", roots); err != nil || !strings.HasPrefix(body, "hello") {
				t.Errorf("GET with the admin's certificate: %q %v", body, err)
			}
		})
	}
}

// selfSigned writes a self-signed certificate for localhost and its key.
func selfSigned(t *testing.T, dir, name string, notAfter time.Time) (certPath, keyPath string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: notAfter.Add(-365 * 24 * time.Hour), NotAfter: notAfter,
		DNSNames: []string{"localhost"}, BasicConstraintsValid: true, IsCA: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
	return certPath, keyPath
}

// TestListenErrors: an address in use, a damaged CA and a bad address
// each stop the start with an error saying what to do.
func TestListenErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, busyPort, _ := net.SplitHostPort(busy.Addr().String())

	damaged := listenCfg(t, ":0")
	os.WriteFile(filepath.Join(damaged.DataDir, localca.CAFile), []byte("garbage"), 0o600)

	for _, tc := range []struct {
		name string
		cfg  config.Config
		want []string
	}{
		{"address_in_use", listenCfg(t, busy.Addr().String()), []string{"another program uses port " + busyPort, "another smsd serve?", "set listen in /etc/smsd/smsd.toml"}},
		{"damaged_ca", damaged, []string{"ca.pem is not a PEM certificate", "restore it from a backup"}},
		{"not_an_address", listenCfg(t, "8443"), []string{`"8443" is not an address`}},
		{"foreign_address", listenCfg(t, "192.0.2.1:0"), []string{"no such address", "fix listen"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, _, err := listen(tc.cfg, nil, testNames, time.Now())
			if err == nil {
				ln.Close()
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(damaged.DataDir, localca.CAFile)); string(b) != "garbage" {
		t.Error("the damaged ca.pem was replaced")
	}
}

// TestListenReusesCA: the next start serves from the same CA, so PCs that
// trust it keep trusting the box.
func TestListenReusesCA(t *testing.T) {
	cfg := listenCfg(t, ":0")
	var fps []string
	for range 2 {
		log, logged := logTo()
		ln, info, err := listen(cfg, log, testNames, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		fps = append(fps, info.CAFingerprint)
		if len(fps) == 1 && !strings.Contains(logged.String(), "made a new local certificate authority") {
			t.Errorf("first start does not say it made a CA:\n%s", logged)
		}
		if len(fps) == 2 && strings.Contains(logged.String(), "made a new") {
			t.Errorf("second start made a new CA:\n%s", logged)
		}
	}
	if fps[0] != fps[1] || fps[0] == "" {
		t.Errorf("fingerprints %v", fps)
	}
}

// TestListenThisMachine: Listen itself, with this machine's real names
// and addresses: the URL names the host, and a client trusting ca.pem
// reaches the page as localhost and as the host name.
func TestListenThisMachine(t *testing.T) {
	cfg := listenCfg(t, "[::]:0")
	ln, info, err := Listen(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	serveHello(t, ln)
	host, _ := os.Hostname()
	if !strings.HasPrefix(info.URL, "https://"+strings.ToLower(host)+":") {
		t.Errorf("URL %s does not name this host %s", info.URL, host)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(info.CAPEM)
	for _, u := range []string{"https://localhost/", info.URL} {
		if body, err := get(ln, u, roots); err != nil || !strings.HasPrefix(body, "hello") {
			t.Errorf("GET %s: %q %v", u, body, err)
		}
	}
}
