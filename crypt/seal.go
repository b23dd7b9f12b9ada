package crypt

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// ErrTampered means a sealed value did not authenticate: it was changed,
// truncated, moved to another row or column, or sealed under another key. The
// error names nothing secret; callers add the row id.
var ErrTampered = errors.New("sealed value failed authentication (tampered, moved between rows, or damaged)")

// AD is the associated data bound to a sealed value: where it lives. A
// ciphertext copied to another table, column or row fails to open.
type AD struct {
	Table, Column string
	RowID         int64
}

func (a AD) bytes(hdr []byte) []byte {
	b := make([]byte, 0, len(hdr)+len(a.Table)+len(a.Column)+20)
	b = append(b, hdr...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.Table)))
	b = append(b, a.Table...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(a.Column)))
	b = append(b, a.Column...)
	b = binary.BigEndian.AppendUint64(b, uint64(a.RowID))
	return b
}

// Sealed value layout: version (1 byte), key generation (u32 BE), nonce
// (24 bytes), ciphertext+tag. The header is authenticated too, so a
// value's version cannot be changed without the key.
//
// Version 1 seals the plaintext as it is. Version 2 (SealPadded) seals the
// plaintext's length (u32 BE), the plaintext and zero bytes up to the next
// multiple of PadStep, so that a ciphertext's length tells only which step
// the value falls in. Open reads both.
const (
	sealVersion       = 1
	sealVersionPadded = 2
	// PadStep is the step SealPadded pads to.
	PadStep = 32
	hdrLen  = 5
	// Overhead is how many bytes Seal adds to a plaintext.
	Overhead = hdrLen + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
)

// Sealer seals and opens PHI fields and computes blind indexes under one
// data key. It is safe for concurrent use.
type Sealer struct {
	gen   uint32
	aead  cipher.AEAD
	index []byte
	idem  []byte
	tag   []byte
	item  []byte
	// Keyed HMAC states for RowTag and DigestItem, reused: hmac.New costs
	// more than the MAC of a row.
	tagMACs  sync.Pool
	itemMACs sync.Pool
}

// mac takes a reset HMAC under key from p (a new one when p is empty).
func mac(p *sync.Pool, key []byte) hash.Hash {
	if m, ok := p.Get().(hash.Hash); ok {
		m.Reset()
		return m
	}
	return hmac.New(sha256.New, key)
}

// NewSealer returns a Sealer for dk as key generation 1.
func NewSealer(dk DataKey) *Sealer { return NewSealerGen(dk, 1) }

// NewSealerGen returns a Sealer for dk that stamps gen into every sealed
// value, so that during a data-key rotation old and new values can be told
// apart without opening them (see Generation).
func NewSealerGen(dk DataKey, gen uint32) *Sealer {
	derive := func(info string) []byte {
		k := make([]byte, 32)
		if _, err := io.ReadFull(hkdf.New(sha256.New, dk[:], nil, []byte(info)), k); err != nil {
			panic(err) // cannot happen: HKDF-SHA256 yields up to 8 KiB
		}
		return k
	}
	aead, err := chacha20poly1305.NewX(derive("smsd seal v1"))
	if err != nil {
		panic(err) // cannot happen: the key has the right length
	}
	return &Sealer{gen: gen, aead: aead, index: derive("smsd blind index v1"), idem: derive("smsd idempotency v1"),
		tag: derive("smsd row tag v1"), item: derive("smsd row digest v1")}
}

// Gen is the key generation this Sealer stamps.
func (s *Sealer) Gen() uint32 { return s.gen }

// Seal encrypts plain, bound to ad. A nil plain seals an empty value (Open
// returns an empty, non-nil slice).
func (s *Sealer) Seal(plain []byte, ad AD) []byte {
	return s.sealHdr(plain, ad, sealVersion)
}

// SealPadded is Seal for a value whose length tells something (a text, a
// phone number): its plaintext is padded to a multiple of PadStep first
// (sealed format version 2), so that "STOP" and a reminder, or one
// template and another of nearly the same length, seal to ciphertexts of
// equal length.
func (s *Sealer) SealPadded(plain []byte, ad AD) []byte {
	n := 4 + len(plain)
	n += (PadStep - n%PadStep) % PadStep
	pt := make([]byte, 4, n)
	binary.BigEndian.PutUint32(pt, uint32(len(plain)))
	pt = append(pt, plain...)
	pt = pt[:n] // zero padding
	return s.sealHdr(pt, ad, sealVersionPadded)
}

// sealHdr seals plain with the given format version in the header.
func (s *Sealer) sealHdr(plain []byte, ad AD, version byte) []byte {
	out := make([]byte, hdrLen+chacha20poly1305.NonceSizeX, Overhead+len(plain))
	out[0] = version
	binary.BigEndian.PutUint32(out[1:hdrLen], s.gen)
	nonce := out[hdrLen:]
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		panic(fmt.Sprintf("crypt: reading random nonce: %v", err)) // the kernel RNG does not fail
	}
	return s.aead.Seal(out, nonce, plain, ad.bytes(out[:hdrLen]))
}

// Open decrypts a value made by Seal or SealPadded with the same ad (the
// padding is removed). Any mismatch gives ErrTampered.
func (s *Sealer) Open(sealed []byte, ad AD) ([]byte, error) {
	if len(sealed) < Overhead || (sealed[0] != sealVersion && sealed[0] != sealVersionPadded) {
		return nil, ErrTampered
	}
	if g := binary.BigEndian.Uint32(sealed[1:hdrLen]); g != s.gen {
		return nil, fmt.Errorf("%w: sealed under key generation %d, this key is generation %d", ErrTampered, g, s.gen)
	}
	nonce := sealed[hdrLen : hdrLen+chacha20poly1305.NonceSizeX]
	pt, err := s.aead.Open(nil, nonce, sealed[hdrLen+chacha20poly1305.NonceSizeX:], ad.bytes(sealed[:hdrLen]))
	if err != nil {
		return nil, ErrTampered
	}
	if sealed[0] == sealVersionPadded {
		// The length is authenticated with the rest: a bad one means a
		// bug or a key misuse, never a guess that passed.
		if len(pt) < 4 || len(pt)%PadStep != 0 {
			return nil, ErrTampered
		}
		n := binary.BigEndian.Uint32(pt)
		if uint64(n) > uint64(len(pt)-4) {
			return nil, ErrTampered
		}
		pt = pt[4 : 4+n]
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// Generation returns the key generation stamped in a sealed value, or 0 if
// the value is too short to be one.
func Generation(sealed []byte) uint32 {
	if len(sealed) < hdrLen || (sealed[0] != sealVersion && sealed[0] != sealVersionPadded) {
		return 0
	}
	return binary.BigEndian.Uint32(sealed[1:hdrLen])
}

// BlindIndex is a keyed HMAC-SHA256 of a normalised E.164 number: equal
// numbers give equal indexes, and without the data key the index reveals
// nothing (a plain hash of a phone number is brute-forced in seconds).
func (s *Sealer) BlindIndex(e164 string) []byte {
	m := hmac.New(sha256.New, s.index)
	m.Write([]byte(e164))
	return m.Sum(nil)
}

// IdempotencyIndex is a keyed HMAC-SHA256 of a client's idempotency key, so
// that a key that happens to contain PHI (a patient name, a number) is not
// stored in clear. It uses its own derived key, so it never equals a blind
// index.
func (s *Sealer) IdempotencyIndex(key string) []byte {
	m := hmac.New(sha256.New, s.idem)
	m.Write([]byte(key))
	return m.Sum(nil)
}

// TagLen is the length of a RowTag: the key generation (u32 BE) and an
// HMAC-SHA256.
const TagLen = 4 + sha256.Size

// RowTag authenticates one row's clear decision columns and sealed cells:
// HMAC-SHA256, under a key derived from the data key, over the table, the
// row id, the row version and every field, each length-prefixed so that
// no two field lists encode alike. The tag starts with the key generation,
// so that during a rotation old and new tags can both be checked.
func (s *Sealer) RowTag(table string, id, version int64, fields [][]byte) []byte {
	m := mac(&s.tagMACs, s.tag)
	defer s.tagMACs.Put(m)
	var n [8]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		m.Write(n[:])
		m.Write(b)
	}
	put([]byte(table))
	binary.BigEndian.PutUint64(n[:], uint64(id))
	m.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(version))
	m.Write(n[:])
	for _, f := range fields {
		put(f)
	}
	out := make([]byte, 4, TagLen)
	binary.BigEndian.PutUint32(out, s.gen)
	return m.Sum(out)
}

// CheckRowTag reports whether tag is RowTag of the same input under this
// key (constant time).
func (s *Sealer) CheckRowTag(tag []byte, table string, id, version int64, fields [][]byte) bool {
	return hmac.Equal(tag, s.RowTag(table, id, version, fields))
}

// TagGeneration is the key generation a RowTag was made under (0 when it
// is not a tag).
func TagGeneration(tag []byte) uint32 {
	if len(tag) != TagLen {
		return 0
	}
	return binary.BigEndian.Uint32(tag)
}

// DigestItem is a row tag's contribution to a table digest (the XOR of
// the items of every row): keyed, so that without the data key nobody can
// pick rows whose items cancel out.
func (s *Sealer) DigestItem(tag []byte) [sha256.Size]byte {
	m := mac(&s.itemMACs, s.item)
	defer s.itemMACs.Put(m)
	m.Write(tag)
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}
