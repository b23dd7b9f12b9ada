package crypt

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MethodRecovery marks a data key wrapped for the recovery code: an X25519
// sealed box to the public key the code derives, so that a new data key
// (a rotation) can be wrapped for the code without anyone typing it.
const MethodRecovery = "recovery"

// A recovery code is RecoveryGroups groups of five Crockford base32
// characters, written ABCDE-FGHJK-...: four carry key material, the fifth
// checks the group, so that a slip of the pen is named by group instead of
// showing up as a wrong key. 7 groups × 4 × 5 bits = 140 bits of key.
const (
	RecoveryGroups    = 7
	recoveryDataChars = 4
	recoveryGroupLen  = recoveryDataChars + 1
	recoveryLen       = RecoveryGroups * recoveryGroupLen
)

// crockford is Crockford's base32 alphabet: no I, L, O, U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// ErrBadRecoveryCode means a recovery code is malformed: wrong length, a
// character that no code contains, or a group whose check character does
// not match (a typo). A well-formed code that is not this database's gives
// ErrWrongKey instead.
var ErrBadRecoveryCode = errors.New("not a valid recovery code")

// RecoveryKey is the X25519 key pair a recovery code derives.
type RecoveryKey struct {
	priv *ecdh.PrivateKey
}

// Public is the public half, stored in the database so that new data keys
// can be wrapped for the code.
func (k *RecoveryKey) Public() []byte { return k.priv.PublicKey().Bytes() }

// groupCheck is the check character's value of data group g (0-based):
// odd weights catch every single-character substitution (an odd weight
// times a non-zero difference below 32 is never 0 mod 32), and the group
// number catches groups written in the wrong order.
func groupCheck(g int, vals []byte) byte {
	sum := 7 * (g + 1)
	for i, v := range vals {
		sum += (2*i + 1) * int(v)
	}
	return byte(sum % 32)
}

// NewRecoveryCode makes a random recovery code and returns it as a person
// writes it ("ABCDE-FGHJK-..."), with the key it derives.
func NewRecoveryCode() (string, *RecoveryKey, error) {
	raw := make([]byte, RecoveryGroups*recoveryDataChars)
	if _, err := io.ReadFull(rand.Reader, raw); err != nil {
		return "", nil, fmt.Errorf("generate recovery code: %w", err)
	}
	var groups []string
	for g := 0; g < RecoveryGroups; g++ {
		vals := raw[g*recoveryDataChars : (g+1)*recoveryDataChars]
		for i := range vals {
			vals[i] &= 31
		}
		var b strings.Builder
		for _, v := range vals {
			b.WriteByte(crockford[v])
		}
		b.WriteByte(crockford[groupCheck(g, vals)])
		groups = append(groups, b.String())
	}
	code := strings.Join(groups, "-")
	k, err := ParseRecoveryCode([]byte(code))
	if err != nil {
		return "", nil, err
	}
	return code, k, nil
}

// ParseRecoveryCode reads a recovery code as a person types it: case,
// spaces, dashes and a leading "Recovery code:" do not matter, and O, I
// and L are read as 0, 1 and 1 (Crockford). A malformed code, or one with
// a typo, is ErrBadRecoveryCode with the group to check.
func ParseRecoveryCode(typed []byte) (*RecoveryKey, error) {
	t := bytes.TrimSpace(typed)
	if len(t) >= 14 && strings.EqualFold(string(t[:14]), "recovery code:") {
		t = t[14:]
	}
	vals := make([]byte, 0, recoveryLen)
	defer clear(vals)
	for _, c := range t {
		switch {
		case c == ' ' || c == '-' || c == '\t' || c == '\r' || c == '\n':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		switch c {
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		i := strings.IndexByte(crockford, c)
		if i < 0 || c >= 0x80 {
			return nil, fmt.Errorf("%w: character %q in group %d is not one recovery codes use (0-9 and A-Z without U)", ErrBadRecoveryCode, rune(c), len(vals)/recoveryGroupLen+1)
		}
		vals = append(vals, byte(i))
	}
	if len(vals) != recoveryLen {
		return nil, fmt.Errorf("%w: it has %d characters; a recovery code has %d (%d groups of %d)", ErrBadRecoveryCode, len(vals), recoveryLen, RecoveryGroups, recoveryGroupLen)
	}
	data := make([]byte, 0, RecoveryGroups*recoveryDataChars)
	defer clear(data)
	for g := 0; g < RecoveryGroups; g++ {
		grp := vals[g*recoveryGroupLen : (g+1)*recoveryGroupLen]
		if groupCheck(g, grp[:recoveryDataChars]) != grp[recoveryDataChars] {
			return nil, fmt.Errorf("%w: that recovery code has a typo in group %d (check it against the paper; groups count from 1)", ErrBadRecoveryCode, g+1)
		}
		data = append(data, grp[:recoveryDataChars]...)
	}
	seed, err := hkdf.Key(sha256.New, data, []byte("smsd recovery code v1"), "x25519 private key", 32)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	priv, err := ecdh.X25519().NewPrivateKey(seed)
	if err != nil {
		return nil, err
	}
	return &RecoveryKey{priv: priv}, nil
}

// recoveryKEK derives the wrapping key of one sealed box.
func recoveryKEK(shared, ephPub, pub []byte) (KEK, error) {
	var k KEK
	b, err := hkdf.Key(sha256.New, shared, append(append([]byte(nil), ephPub...), pub...), "smsd recovery wrap v1", 32)
	if err != nil {
		return k, err
	}
	copy(k[:], b)
	clear(b)
	return k, nil
}

// WrapForRecovery wraps dk for the holder of the recovery code whose public
// key is pub: an ephemeral X25519 key agrees a KEK with pub; its public half
// is stored as the record's salt (bound as associated data).
func WrapForRecovery(dk DataKey, pub []byte) (WrappedKey, error) {
	pk, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		return WrappedKey{}, fmt.Errorf("wrap data key for the recovery code: %w", err)
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return WrappedKey{}, fmt.Errorf("wrap data key for the recovery code: %w", err)
	}
	shared, err := eph.ECDH(pk)
	if err != nil {
		return WrappedKey{}, fmt.Errorf("wrap data key for the recovery code: %w", err)
	}
	defer clear(shared)
	kek, err := recoveryKEK(shared, eph.PublicKey().Bytes(), pub)
	if err != nil {
		return WrappedKey{}, err
	}
	defer clear(kek[:])
	return Wrap(dk, kek, MethodRecovery, eph.PublicKey().Bytes(), Argon2Params{})
}

// UnwrapRecovery opens a recovery wrap with the code's key. A code that is
// not this database's gives ErrWrongKey.
func UnwrapRecovery(w WrappedKey, k *RecoveryKey) (DataKey, error) {
	if w.Method != MethodRecovery {
		return DataKey{}, fmt.Errorf("unwrap data key: a %s wrap is not a recovery wrap", w.Method)
	}
	ep, err := ecdh.X25519().NewPublicKey(w.Salt)
	if err != nil {
		return DataKey{}, fmt.Errorf("unwrap data key: %w", err)
	}
	shared, err := k.priv.ECDH(ep)
	if err != nil {
		return DataKey{}, ErrWrongKey
	}
	defer clear(shared)
	kek, err := recoveryKEK(shared, w.Salt, k.Public())
	if err != nil {
		return DataKey{}, err
	}
	defer clear(kek[:])
	return Unwrap(w, kek)
}
