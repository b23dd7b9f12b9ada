package crypt

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// DataKey is the random 256-bit key that seals every PHI field. It is never
// stored in clear: only wrapped by a KEK (see Wrap).
type DataKey [32]byte

// KEK is a key-encryption key: it wraps and unwraps the DataKey.
type KEK [32]byte

// Key-wrapping methods recorded in a WrappedKey, so that an operator can be
// told which kind of key a database expects.
const (
	MethodKeyFile    = "keyfile"
	MethodPassphrase = "passphrase"
	MethodCredential = "credential"
)

var (
	// ErrWrongKey means the key-encryption key does not open the wrapped
	// data key: a wrong key file, passphrase or credential.
	ErrWrongKey = errors.New("wrong key: the key-encryption key does not unwrap this database's data key")
	// ErrBadKeyFile means a key file or credential is not a 256-bit key in
	// one of the accepted encodings.
	ErrBadKeyFile = errors.New("not a smsd key (expected 64 hexadecimal digits or 32 raw bytes)")
)

// NewDataKey returns a fresh random data key.
func NewDataKey() (DataKey, error) {
	var k DataKey
	if _, err := io.ReadFull(rand.Reader, k[:]); err != nil {
		return k, fmt.Errorf("generate data key: %w", err)
	}
	return k, nil
}

// NewKEK returns a fresh random key-encryption key (for key files).
func NewKEK() (KEK, error) {
	var k KEK
	if _, err := io.ReadFull(rand.Reader, k[:]); err != nil {
		return k, fmt.Errorf("generate key-encryption key: %w", err)
	}
	return k, nil
}

// CreateKeyFile writes a new random KEK to path as 64 hexadecimal digits and a
// newline, mode 0600. It never overwrites: an existing file is an error
// (fs.ErrExist), because overwriting a key file makes the database unreadable.
// The file is synced, and so is its directory, before CreateKeyFile returns.
func CreateKeyFile(path string) (KEK, error) {
	k, err := NewKEK()
	if err != nil {
		return KEK{}, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return KEK{}, fmt.Errorf("create key file %s: it already exists; smsd never overwrites a key (move it away only if you know the database it opens is gone): %w", path, err)
		}
		return KEK{}, fmt.Errorf("create key file %s: %w", path, err)
	}
	line := make([]byte, 2*len(k)+1)
	hex.Encode(line, k[:])
	line[len(line)-1] = '\n'
	_, werr := f.Write(line)
	clear(line)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return KEK{}, fmt.Errorf("write key file %s: %w", path, werr)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return k, nil
}

// LoadKeyFile reads a KEK from a key file. It refuses a file that group or
// others may read or write, because then the key no longer protects anything.
// The mode is checked on the open file (fstat), not by name, so that the file
// read is the file checked.
func LoadKeyFile(path string) (KEK, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return KEK{}, fmt.Errorf("read key file: %w (waiting for the key file on %s? if it is on a USB key stick, insert the stick: the smsd unit waits for it; else point key_file at it, or run `smsd init` for a new store)", err, filepath.Dir(path))
	}
	if err != nil {
		return KEK{}, fmt.Errorf("read key file: %w (check key_file in smsd.toml and that user smsd may read it)", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return KEK{}, fmt.Errorf("read key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return KEK{}, fmt.Errorf("key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return KEK{}, fmt.Errorf("key file %s has mode %04o: group or others may access it; run `chmod 600 %s` (and check who may have copied it)", path, perm, path)
	}
	// A key file is 65 bytes; reading a little more than any valid one lets
	// ParseKey refuse an oversized file without reading all of it.
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	defer clear(b)
	if err != nil {
		return KEK{}, fmt.Errorf("read key file: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return KEK{}, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// KEKFromCredential reads a KEK from the systemd credential called name
// ($CREDENTIALS_DIRECTORY/name, set up with LoadCredential= or
// LoadCredentialEncrypted= in the unit). The credential holds the same
// encoding as a key file.
func KEKFromCredential(name string) (KEK, error) {
	dir := os.Getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return KEK{}, fmt.Errorf("systemd credential %q: $CREDENTIALS_DIRECTORY is not set (run under systemd with LoadCredential=%s:... or use a key file)", name, name)
	}
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return KEK{}, fmt.Errorf("systemd credential name %q is not a plain file name", name)
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	defer clear(b)
	if err != nil {
		return KEK{}, fmt.Errorf("systemd credential %q: %w", name, err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return KEK{}, fmt.Errorf("systemd credential %q: %w", name, err)
	}
	return k, nil
}

// ParseKey decodes a 256-bit key as stored in a key file or credential:
// 64 hexadecimal digits with optional surrounding white space, or exactly 32
// raw bytes (what `head -c32 /dev/urandom` makes).
func ParseKey(b []byte) (KEK, error) {
	var k KEK
	t := bytes.TrimSpace(b)
	if len(t) == 64 {
		if _, err := hex.Decode(k[:], t); err == nil {
			return k, nil
		}
	}
	if len(b) == 32 {
		// 32 bytes that are all hex digits or white space are not random
		// bytes (the odds are below 2^-100): they are a mistake such as a
		// 128-bit key written in hex, which must not be taken as raw bytes.
		if len(bytes.Trim(b, "0123456789abcdefABCDEF \t\r\n")) == 0 {
			return KEK{}, fmt.Errorf("%w: 32 hexadecimal characters are a 128-bit key; smsd needs 256 bits", ErrBadKeyFile)
		}
		copy(k[:], b)
		return k, nil
	}
	return KEK{}, ErrBadKeyFile
}

// Argon2Params are argon2id cost parameters.
type Argon2Params struct {
	Time      uint32 // passes over memory
	MemoryKiB uint32
	Threads   uint8
}

// Limits on parameters read from outside (a database, a PHC string) so that a
// tampered value cannot make smsd allocate gigabytes or spin for hours.
const (
	maxArgonTime   = 64
	maxArgonMemory = 1 << 20 // KiB = 1 GiB
	maxArgonThread = 64
)

func (p Argon2Params) check() error {
	if p.Time < 1 || p.Time > maxArgonTime || p.MemoryKiB < 8*uint32(max(p.Threads, 1)) ||
		p.MemoryKiB > maxArgonMemory || p.Threads < 1 || p.Threads > maxArgonThread {
		return fmt.Errorf("argon2id parameters t=%d m=%d p=%d out of range", p.Time, p.MemoryKiB, p.Threads)
	}
	return nil
}

// PassphraseParams are the argon2id parameters for deriving a KEK from an
// admin's passphrase, chosen for the attacker who has the database alone
// (a stolen SD card of a locked-mode box) and guesses offline: every guess
// costs 256 MiB of memory filled 3 times, which makes GPUs and ASICs pay
// in memory rather than in cores (a 24 GB GPU runs under a hundred guesses
// at once). Unlocking happens once per boot, so the cost is affordable:
// BenchmarkPassphraseKEK on the 2-core amd64 build machine (AMD EPYC,
// shared) measured 0.66 s per derivation with x/crypto's SSE code and
// 0.87 s with -tags purego, the generic code a Pi runs (4 iterations each,
// machine under other load); in CPU time, which the load inflates less,
// 0.9-1.1 s and 1.35-1.47 s (two runs each at a load average of 10-14,
// when the wall time was 1.7-2.8 s). A Pi 4 (4 Cortex-A72 cores at
// 1.5 GHz, LPDDR4) runs the four lanes on four cores, about 3.5-6 times
// slower per core for this memory-bound work: 1.35-1.47 CPU-s × 3.5-6 / 4
// cores, an estimated 1.2-2.5 s, not measured on a Pi. 256 MiB fits every Pi with 1 GB or more; unlocks run one at a time
// (daemon.Service.Unlock). The parameters are stored with each wrap, so
// stores made with the older 64 MiB × 3 keep opening, and take these at
// the next smsd key move -to passphrase. The earlier value (64 MiB × 3)
// let the review's attacker test guesses 4 times cheaper.
var PassphraseParams = Argon2Params{Time: 3, MemoryKiB: 256 * 1024, Threads: 4}

// KEKFromPassphrase derives a KEK from a passphrase with argon2id. The salt
// (16 random bytes, see NewSalt) and parameters are stored in the WrappedKey.
func KEKFromPassphrase(pass []byte, salt []byte, p Argon2Params) KEK {
	var k KEK
	out := argon2.IDKey(pass, salt, p.Time, p.MemoryKiB, p.Threads, 32)
	copy(k[:], out)
	clear(out)
	return k
}

// NewSalt returns 16 random bytes.
func NewSalt() ([]byte, error) {
	s := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, s); err != nil {
		return nil, fmt.Errorf("generate salt: %w", err)
	}
	return s, nil
}

// WrappedKey is a DataKey sealed under a KEK, with what is needed to derive
// the KEK again (method; for passphrases the salt and argon2id parameters).
// The method, salt and parameters are bound as associated data, so changing
// them makes Unwrap fail rather than derive a different key.
type WrappedKey struct {
	Method string // MethodKeyFile, MethodPassphrase, MethodCredential or MethodRecovery
	Salt   []byte // passphrase: argon2id salt; recovery: the ephemeral X25519 public key
	Params Argon2Params
	Nonce  []byte // 24 bytes
	Box    []byte // sealed data key + tag (48 bytes)
}

// Wrap seals dk under kek. salt and p are recorded for the passphrase method
// (pass nil and the zero value otherwise).
func Wrap(dk DataKey, kek KEK, method string, salt []byte, p Argon2Params) (WrappedKey, error) {
	switch method {
	case MethodKeyFile, MethodCredential:
		if len(salt) != 0 || p != (Argon2Params{}) {
			return WrappedKey{}, fmt.Errorf("wrap data key: method %s takes no salt or parameters", method)
		}
	case MethodRecovery:
		if len(salt) != 32 || p != (Argon2Params{}) {
			return WrappedKey{}, errors.New("wrap data key: the recovery method takes a 32-byte ephemeral public key and no parameters")
		}
	case MethodPassphrase:
		if len(salt) < 16 {
			return WrappedKey{}, errors.New("wrap data key: passphrase method needs a salt of at least 16 bytes")
		}
		if err := p.check(); err != nil {
			return WrappedKey{}, fmt.Errorf("wrap data key: %w", err)
		}
	default:
		return WrappedKey{}, fmt.Errorf("wrap data key: unknown method %q", method)
	}
	w := WrappedKey{Method: method, Salt: append([]byte(nil), salt...), Params: p, Nonce: make([]byte, chacha20poly1305.NonceSizeX)}
	if _, err := io.ReadFull(rand.Reader, w.Nonce); err != nil {
		return WrappedKey{}, fmt.Errorf("wrap data key: %w", err)
	}
	aead, _ := chacha20poly1305.NewX(kek[:])
	w.Box = aead.Seal(nil, w.Nonce, dk[:], w.ad())
	return w, nil
}

// Unwrap opens w with kek. A wrong key (or a tampered record) gives ErrWrongKey.
func Unwrap(w WrappedKey, kek KEK) (DataKey, error) {
	var dk DataKey
	if len(w.Nonce) != chacha20poly1305.NonceSizeX || len(w.Box) != len(dk)+chacha20poly1305.Overhead {
		return dk, errors.New("unwrap data key: malformed wrapped key record")
	}
	aead, _ := chacha20poly1305.NewX(kek[:])
	pt, err := aead.Open(nil, w.Nonce, w.Box, w.ad())
	if err != nil {
		return dk, ErrWrongKey
	}
	copy(dk[:], pt)
	return dk, nil
}

// ad binds the wrapping metadata to the box.
func (w WrappedKey) ad() []byte {
	var b bytes.Buffer
	b.WriteString("smsd wrapped data key v1\x00")
	b.WriteString(w.Method)
	b.WriteByte(0)
	b.Write(w.Salt)
	binary.Write(&b, binary.BigEndian, w.Params.Time)
	binary.Write(&b, binary.BigEndian, w.Params.MemoryKiB)
	b.WriteByte(w.Params.Threads)
	return b.Bytes()
}

// wrappedMagic starts every marshalled WrappedKey.
var wrappedMagic = []byte("SMSDWK1\x00")

// MarshalBinary encodes w as: magic, method (1-byte length + bytes), salt
// (1-byte length + bytes), time (u32 BE), memory KiB (u32 BE), threads (u8),
// nonce (24 bytes), box (1-byte length + bytes).
func (w WrappedKey) MarshalBinary() ([]byte, error) {
	if len(w.Method) > 255 || len(w.Salt) > 255 || len(w.Box) > 255 || len(w.Nonce) != chacha20poly1305.NonceSizeX {
		return nil, errors.New("marshal wrapped key: field too long or nonce malformed")
	}
	b := append([]byte(nil), wrappedMagic...)
	b = append(b, byte(len(w.Method)))
	b = append(b, w.Method...)
	b = append(b, byte(len(w.Salt)))
	b = append(b, w.Salt...)
	b = binary.BigEndian.AppendUint32(b, w.Params.Time)
	b = binary.BigEndian.AppendUint32(b, w.Params.MemoryKiB)
	b = append(b, w.Params.Threads)
	b = append(b, w.Nonce...)
	b = append(b, byte(len(w.Box)))
	b = append(b, w.Box...)
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote. It checks lengths, the
// method and (for passphrases) the argon2id parameters, so that a damaged
// record is reported as such instead of as a wrong key.
func (w *WrappedKey) UnmarshalBinary(b []byte) error {
	bad := func(what string) error { return fmt.Errorf("malformed wrapped key record: %s", what) }
	if !bytes.HasPrefix(b, wrappedMagic) {
		return bad("bad magic (not written by this version of smsd?)")
	}
	b = b[len(wrappedMagic):]
	field := func() ([]byte, bool) {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return nil, false
		}
		f := b[1 : 1+int(b[0])]
		b = b[1+int(b[0]):]
		return f, true
	}
	m, ok := field()
	if !ok {
		return bad("truncated method")
	}
	salt, ok := field()
	if !ok {
		return bad("truncated salt")
	}
	if len(b) < 9+chacha20poly1305.NonceSizeX {
		return bad("truncated parameters")
	}
	var out WrappedKey
	out.Method = string(m)
	out.Salt = append([]byte(nil), salt...)
	out.Params = Argon2Params{Time: binary.BigEndian.Uint32(b), MemoryKiB: binary.BigEndian.Uint32(b[4:]), Threads: b[8]}
	out.Nonce = append([]byte(nil), b[9:9+chacha20poly1305.NonceSizeX]...)
	b = b[9+chacha20poly1305.NonceSizeX:]
	box, ok := field()
	if !ok {
		return bad("truncated box")
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	out.Box = append([]byte(nil), box...)
	if len(out.Box) != 32+chacha20poly1305.Overhead {
		return bad("box length")
	}
	switch out.Method {
	case MethodKeyFile, MethodCredential:
		if len(out.Salt) != 0 || out.Params != (Argon2Params{}) {
			return bad("salt or parameters for a method that takes none")
		}
	case MethodRecovery:
		if len(out.Salt) != 32 || out.Params != (Argon2Params{}) {
			return bad("recovery wrap without a 32-byte ephemeral key, or with parameters")
		}
	case MethodPassphrase:
		if len(out.Salt) < 16 {
			return bad("passphrase salt too short")
		}
		if err := out.Params.check(); err != nil {
			return bad(err.Error())
		}
	default:
		return bad(fmt.Sprintf("unknown method %q", out.Method))
	}
	*w = out
	return nil
}

// Equal reports whether two keys are the same, in constant time.
func (k KEK) Equal(o KEK) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }
