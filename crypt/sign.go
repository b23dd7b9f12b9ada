package crypt

import (
	"crypto/rand"
	"fmt"

	"aead.dev/minisign"
)

// NewSigningKey generates an Ed25519 key pair in minisign's format for
// signing the audit export. Store the private key only sealed (its
// MarshalText form is unencrypted); publish PublicKey().String() (an "RW..."
// key) for `minisign -V -P`.
func NewSigningKey() (minisign.PrivateKey, error) {
	_, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	return priv, nil
}

// SigningPublicKey returns the public half of a minisign private key.
func SigningPublicKey(priv minisign.PrivateKey) minisign.PublicKey {
	return priv.Public().(minisign.PublicKey)
}
