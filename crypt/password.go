package crypt

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the argon2id parameters for staff passwords: m=32 MiB,
// t=2, p=2. On the amd64 build machine (2 shared cores of an AMD EPYC at
// 2.6 GHz) one hash takes 33 ms with x/crypto's SSE assembly and 40 ms with
// its generic Go code (-tags purego), best of 20 while the machine was
// shared; BenchmarkHashPassword's mean is higher under load. A Pi 4 runs
// the generic code (x/crypto has no arm64 assembly for argon2) on a
// Cortex-A72 at 1.5 GHz with LPDDR4, roughly 3.5-6x slower per core than
// this machine for this memory-bound work, so a login there should take
// about 0.15-0.25 s. That is an estimate, not a measurement on a Pi:
// re-tune if one shows otherwise (NeedsRehash lets stored hashes follow).
var PasswordParams = Argon2Params{Time: 2, MemoryKiB: 32 * 1024, Threads: 2}

const passwordKeyLen = 32

// ErrBadPHC means a stored password hash is not an argon2id PHC string that
// smsd can verify.
var ErrBadPHC = errors.New("malformed password hash (expected $argon2id$v=19$m=...,t=...,p=...$salt$hash)")

// HashPassword hashes pw with argon2id and a random 16-byte salt under
// PasswordParams and returns the PHC string
// "$argon2id$v=19$m=32768,t=2,p=2$<salt>$<hash>" (unpadded standard base64).
func HashPassword(pw string) (string, error) {
	return hashPassword(pw, PasswordParams)
}

func hashPassword(pw string, p Argon2Params) (string, error) {
	if err := p.check(); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	salt := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	h := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, passwordKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(h)), nil
}

// PHC is a decoded argon2id PHC string.
type PHC struct {
	Params Argon2Params
	Salt   []byte
	Hash   []byte
}

// ParsePHC decodes an argon2id PHC string as HashPassword writes it. It
// refuses other algorithms, versions, and parameters outside sane bounds (so
// a tampered hash cannot make a login allocate gigabytes).
func ParsePHC(phc string) (PHC, error) {
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return PHC{}, ErrBadPHC
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return PHC{}, fmt.Errorf("%w: unsupported version %q", ErrBadPHC, parts[2])
	}
	var out PHC
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] || v == "" || (len(v) > 1 && v[0] == '0') {
			return PHC{}, ErrBadPHC
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return PHC{}, ErrBadPHC
		}
		switch k {
		case "m":
			out.Params.MemoryKiB = uint32(n)
		case "t":
			out.Params.Time = uint32(n)
		case "p":
			if n > 255 {
				return PHC{}, ErrBadPHC
			}
			out.Params.Threads = uint8(n)
		default:
			return PHC{}, ErrBadPHC
		}
	}
	if len(seen) != 3 {
		return PHC{}, ErrBadPHC
	}
	if err := out.Params.check(); err != nil {
		return PHC{}, fmt.Errorf("%w: %v", ErrBadPHC, err)
	}
	var err error
	if out.Salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(out.Salt) < 8 || len(out.Salt) > 64 {
		return PHC{}, fmt.Errorf("%w: bad salt", ErrBadPHC)
	}
	if out.Hash, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(out.Hash) < 16 || len(out.Hash) > 64 {
		return PHC{}, fmt.Errorf("%w: bad hash", ErrBadPHC)
	}
	return out, nil
}

// VerifyPassword reports whether pw matches the PHC string. The comparison
// is constant-time. A malformed PHC string is an error (ErrBadPHC), never a
// silent false.
func VerifyPassword(phc, pw string) (bool, error) {
	p, err := ParsePHC(phc)
	if err != nil {
		return false, err
	}
	h := argon2.IDKey([]byte(pw), p.Salt, p.Params.Time, p.Params.MemoryKiB, p.Params.Threads, uint32(len(p.Hash)))
	return subtle.ConstantTimeCompare(h, p.Hash) == 1, nil
}

// NeedsRehash reports whether phc was made with parameters other than
// PasswordParams, so a caller can rehash after a successful login.
func NeedsRehash(phc string) bool {
	p, err := ParsePHC(phc)
	return err != nil || p.Params != PasswordParams || len(p.Hash) != passwordKeyLen
}
