// Package crypt holds smsd's keys and the primitives that keep protected
// health information (PHI) sealed at rest.
//
// Key hierarchy:
//
//	KEK (key-encryption key)  from a key file, a passphrase (argon2id) or a systemd credential
//	 └─ wraps DataKey         random 256 bits, stored wrapped in the database (WrappedKey)
//	     ├─ seal subkey       XChaCha20-Poly1305 for every PHI field (Sealer.Seal/Open)
//	     └─ index subkey      HMAC-SHA256 blind index of E.164 numbers (Sealer.BlindIndex)
//
// The subkeys are derived from the data key with HKDF-SHA256 so one key
// never serves two purposes. XChaCha20-Poly1305 is used because a Raspberry
// Pi 4 has no AES instructions and because its 192-bit random nonces are safe
// to pick at random for the life of the database.
//
// Nothing in this package logs, and no error it returns contains key
// material or plaintext.
package crypt
