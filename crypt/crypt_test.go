package crypt

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"aead.dev/minisign"
	"github.com/clinicsms/smsd/internal/testutil"
)

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "smsd.key")
	k, err := CreateKeyFile(p)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %o, want 600", st.Mode().Perm())
	}
	if _, err := CreateKeyFile(p); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second create: %v, want ErrExist", err)
	}
	got, err := LoadKeyFile(p)
	if err != nil || got != k {
		t.Fatalf("load: %v", err)
	}
	os.Chmod(p, 0o640)
	if _, err := LoadKeyFile(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable key accepted: %v", err)
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "smsd init") {
		t.Fatalf("missing key: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xAB}, 32)
	hexKey := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"hex", []byte(hexKey), true},
		{"hex_newline", []byte(hexKey + "\n"), true},
		{"hex_upper_spaces", []byte("  " + strings.ToUpper(hexKey) + "\r\n"), true},
		{"raw32", raw, true},
		{"short_hex", []byte(hexKey[:62]), false},
		{"bad_hex", []byte(strings.Repeat("zz", 32)), false},
		{"empty", nil, false},
		{"raw33", append(raw, 1), false},
		// A 128-bit key in hex is 32 bytes too; it must not pass as raw bytes.
		{"hex128_is_not_raw32", []byte(hexKey[:32]), false},
		{"hex126_newline_is_not_raw32", []byte(hexKey[:31] + "\n"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKey(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && k[0] != 0xAB {
				t.Fatalf("key %x", k[:4])
			}
			if !tc.ok && !errors.Is(err, ErrBadKeyFile) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestCredential(t *testing.T) {
	dir := t.TempDir()
	k, _ := NewKEK()
	os.WriteFile(filepath.Join(dir, "smsd.key"), k[:], 0o400)
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	got, err := KEKFromCredential("smsd.key")
	if err != nil || got != k {
		t.Fatal(err)
	}
	if _, err := KEKFromCredential("../etc/passwd"); err == nil {
		t.Fatal("path in credential name accepted")
	}
	if _, err := KEKFromCredential("nope"); err == nil {
		t.Fatal("missing credential accepted")
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	if _, err := KEKFromCredential("smsd.key"); err == nil || !strings.Contains(err.Error(), "CREDENTIALS_DIRECTORY") {
		t.Fatalf("no dir: %v", err)
	}
}

func TestWrapUnwrap(t *testing.T) {
	dk, _ := NewDataKey()
	kek, _ := NewKEK()
	other, _ := NewKEK()
	salt, _ := NewSalt()
	p := Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}
	for _, tc := range []struct {
		method string
		salt   []byte
		p      Argon2Params
	}{{MethodKeyFile, nil, Argon2Params{}}, {MethodCredential, nil, Argon2Params{}}, {MethodPassphrase, salt, p}} {
		t.Run(tc.method, func(t *testing.T) {
			w, err := Wrap(dk, kek, tc.method, tc.salt, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			b, err := w.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, dk[:]) {
				t.Fatal("data key in clear in the wrapped record")
			}
			var w2 WrappedKey
			if err := w2.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			got, err := Unwrap(w2, kek)
			if err != nil || got != dk {
				t.Fatalf("unwrap: %v", err)
			}
			if _, err := Unwrap(w2, other); !errors.Is(err, ErrWrongKey) {
				t.Fatalf("wrong kek: %v", err)
			}
			// Metadata is bound: changing the method makes it fail.
			w3 := w2
			w3.Method = map[string]string{MethodKeyFile: MethodCredential, MethodCredential: MethodKeyFile, MethodPassphrase: MethodPassphrase}[tc.method]
			if tc.method == MethodPassphrase {
				w3.Params.Time++
			}
			if _, err := Unwrap(w3, kek); !errors.Is(err, ErrWrongKey) {
				t.Fatalf("changed metadata: %v", err)
			}
			// Every truncation is a clean error.
			for i := range b {
				if err := new(WrappedKey).UnmarshalBinary(b[:i]); err == nil {
					t.Fatalf("truncated at %d accepted", i)
				}
			}
		})
	}
	if _, err := Wrap(dk, kek, "rot13", nil, Argon2Params{}); err == nil {
		t.Fatal("unknown method accepted")
	}
	if _, err := Wrap(dk, kek, MethodPassphrase, salt, Argon2Params{Time: 1000, MemoryKiB: 1 << 30, Threads: 1}); err == nil {
		t.Fatal("absurd argon2 parameters accepted")
	}
}

func TestPassphraseKEK(t *testing.T) {
	salt, _ := NewSalt()
	p := Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}
	a := KEKFromPassphrase([]byte("correct horse"), salt, p)
	b := KEKFromPassphrase([]byte("correct horse"), salt, p)
	c := KEKFromPassphrase([]byte("correct hors3"), salt, p)
	if a != b || a == c {
		t.Fatal("passphrase KEK not deterministic or not sensitive to the passphrase")
	}
}

func TestSeal(t *testing.T) {
	dk, _ := NewDataKey()
	s := NewSealer(dk)
	ad := AD{"messages", "text_sealed", 7}
	plain := []byte("Hi Ada, your appointment is at 9:30")
	c := s.Seal(plain, ad)
	if len(c) != len(plain)+Overhead || bytes.Contains(c, plain) {
		t.Fatal("bad sealed value")
	}
	if c2 := s.Seal(plain, ad); bytes.Equal(c, c2) {
		t.Fatal("sealing twice gave the same bytes: nonce reused")
	}
	got, err := s.Open(c, ad)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %v", err)
	}
	if e, err := s.Open(s.Seal(nil, ad), ad); err != nil || e == nil || len(e) != 0 {
		t.Fatalf("empty: %q %v", e, err)
	}
	for _, bad := range []AD{{"messages", "text_sealed", 8}, {"messages", "to_sealed", 7}, {"inbound", "text_sealed", 7}, {"messages", "text_sealedx", 7}} {
		if _, err := s.Open(c, bad); !errors.Is(err, ErrTampered) {
			t.Fatalf("opened under %+v: %v", bad, err)
		}
	}
	for i := range c {
		f := bytes.Clone(c)
		f[i] ^= 0x01
		if _, err := s.Open(f, ad); !errors.Is(err, ErrTampered) {
			t.Fatalf("flipped byte %d not detected: %v", i, err)
		}
	}
	for i := range c {
		if _, err := s.Open(c[:i], ad); !errors.Is(err, ErrTampered) {
			t.Fatalf("truncation to %d not detected", i)
		}
	}
	dk2, _ := NewDataKey()
	if _, err := NewSealer(dk2).Open(c, ad); !errors.Is(err, ErrTampered) {
		t.Fatalf("other key opened it: %v", err)
	}
	s2 := NewSealerGen(dk, 2)
	if Generation(s2.Seal(plain, ad)) != 2 || Generation(c) != 1 {
		t.Fatal("generation not stamped")
	}
	if _, err := s2.Open(c, ad); !errors.Is(err, ErrTampered) {
		t.Fatal("generation mismatch not detected")
	}
	if strings.Contains(ErrTampered.Error(), string(plain)) {
		t.Fatal("error leaks plaintext")
	}
}

func TestBlindIndex(t *testing.T) {
	dk, _ := NewDataKey()
	dk2, _ := NewDataKey()
	a, b := NewSealer(dk), NewSealer(dk2)
	n := "+15551234567"
	if !bytes.Equal(a.BlindIndex(n), a.BlindIndex(n)) {
		t.Fatal("not deterministic")
	}
	if bytes.Equal(a.BlindIndex(n), a.BlindIndex("+15551234568")) || bytes.Equal(a.BlindIndex(n), b.BlindIndex(n)) {
		t.Fatal("index collides across numbers or keys")
	}
	if bytes.Equal(a.BlindIndex(n), a.IdempotencyIndex(n)) {
		t.Fatal("idempotency index shares the blind index key")
	}
	if len(a.BlindIndex(n)) != 32 {
		t.Fatal("not HMAC-SHA256")
	}
}

func TestPassword(t *testing.T) {
	phc, err := HashPassword("s3cret pass")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=32768,t=2,p=2$") {
		t.Fatalf("phc %q", phc)
	}
	if ok, err := VerifyPassword(phc, "s3cret pass"); !ok || err != nil {
		t.Fatal("right password refused", err)
	}
	if ok, err := VerifyPassword(phc, "s3cret pasS"); ok || err != nil {
		t.Fatal("wrong password accepted", err)
	}
	if NeedsRehash(phc) {
		t.Fatal("fresh hash needs rehash")
	}
	weak, _ := hashPassword("x", Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1})
	if ok, _ := VerifyPassword(weak, "x"); !ok || !NeedsRehash(weak) {
		t.Fatal("old-parameter hash not verified or not flagged for rehash")
	}
	parts := strings.Split(phc, "$")
	for name, bad := range map[string]string{
		"empty":       "",
		"argon2i":     strings.Replace(phc, "argon2id", "argon2i", 1),
		"version":     strings.Replace(phc, "v=19", "v=16", 1),
		"huge_memory": strings.Replace(phc, "m=32768", "m=99999999", 1),
		"zero_time":   strings.Replace(phc, "t=2", "t=0", 1),
		"dup_param":   strings.Replace(phc, "t=2", "m=2", 1),
		"bad_salt":    "$" + strings.Join(append(parts[1:4:4], "!!!", parts[5]), "$"),
		"short_hash":  "$" + strings.Join(append(parts[1:5:5], "AAAA"), "$"),
		"extra":       phc + "$x",
	} {
		if _, err := VerifyPassword(bad, "s3cret pass"); !errors.Is(err, ErrBadPHC) {
			t.Errorf("%s: %v, want ErrBadPHC", name, err)
		}
	}
}

func TestSigningKey(t *testing.T) {
	priv, err := NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := SigningPublicKey(priv)
	msg := []byte("seq,time,user\n1,2026-03-02,alice\n")
	sig := minisign.SignWithComments(priv, msg, "chain head abc", "smsd audit export")
	if !minisign.Verify(pub, msg, sig) {
		t.Fatal("signature does not verify")
	}
	txt, _ := priv.MarshalText()
	var back minisign.PrivateKey
	if err := back.UnmarshalText(txt); err != nil || !back.Equal(priv) {
		t.Fatal("private key does not round-trip", err)
	}
	// The minisign tool, when installed, verifies it too.
	tool, err := exec.LookPath("minisign")
	if err != nil {
		if testutil.RealPartsRequired() {
			t.Fatal("SMSD_REQUIRE_REAL_PARTS=1 but the minisign tool is not installed (scripts/test-deps.sh installs it)")
		}
		t.Log("minisign tool not installed (apt-get install minisign): skipping the cross-check")
		return
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.csv"), msg, 0o600)
	os.WriteFile(filepath.Join(dir, "a.csv.minisig"), sig, 0o600)
	if out, err := exec.Command(tool, "-Vm", filepath.Join(dir, "a.csv"), "-P", pub.String()).CombinedOutput(); err != nil {
		t.Fatalf("minisign -V: %v\n%s", err, out)
	}
	msg[0] ^= 1
	os.WriteFile(filepath.Join(dir, "a.csv"), msg, 0o600)
	if err := exec.Command(tool, "-Vm", filepath.Join(dir, "a.csv"), "-P", pub.String()).Run(); err == nil {
		t.Fatal("minisign accepted a changed file")
	}
}
