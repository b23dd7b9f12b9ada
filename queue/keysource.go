package queue

import (
	"errors"
	"fmt"
	"os"

	"github.com/clinicsms/smsd/crypt"
)

// KeySource says where the key-encryption key (KEK) that wraps the data key
// comes from. Set exactly one field.
//
//   - KeyFile: a file holding 64 hex digits (or 32 raw bytes), mode 0600,
//     outside the database directory if possible (default
//     <data-dir>/smsd.key; a USB stick that stays in the Pi is better, see
//     the README's "Key custody"). Init creates it if it does not exist yet
//     (O_EXCL, never overwriting); Open refuses it if group or others may
//     read it.
//   - Passphrase: "locked mode". The KEK is argon2id(passphrase, salt) with
//     the salt and parameters stored beside the wrapped data key. After a
//     boot the daemon cannot open the store until an admin gives the
//     passphrase (`smsd key unlock`); nothing is sent meanwhile. A new
//     passphrase must pass crypt.CheckPassphrase.
//   - Credential: the name of a systemd credential
//     ($CREDENTIALS_DIRECTORY/<name>, e.g. LoadCredentialEncrypted=smsd.key:...
//     so the key is bound to the machine's TPM), same content as a key file.
//     Init never creates a credential; make it first (systemd-creds encrypt).
//     A key file and a credential holding the same 256 bits are the same
//     key: either opens a store wrapped for the other.
//   - Recovery: the recovery code as typed (see crypt.ParseRecoveryCode;
//     case, spaces and dashes do not matter). It only opens a store (Open),
//     by the recovery wrap that Store.NewRecoveryCode made; it is never a
//     store's everyday source: give the store one with Store.MoveKey.
type KeySource struct {
	KeyFile    string
	Passphrase []byte
	Credential string
	Recovery   []byte
}

// ErrLocked means the database is protected by a passphrase ("locked mode")
// and none was given: the store stays closed until an admin unlocks it.
var ErrLocked = errors.New("the store is locked: it is protected by a passphrase; unlock it with `smsd key unlock`")

// ErrSourceMismatch means the key source given is another kind than the
// one the store's data key is wrapped for (the config was not changed
// after smsd key move): the error names the setting to change. It comes
// wrapped with ErrWrongKey.
var ErrSourceMismatch = errors.New("the configured key source is not the kind the store's key is wrapped for")

func (k KeySource) method() (string, error) {
	n := 0
	m := ""
	if k.KeyFile != "" {
		n, m = n+1, crypt.MethodKeyFile
	}
	if k.Passphrase != nil {
		n, m = n+1, crypt.MethodPassphrase
	}
	if k.Credential != "" {
		n, m = n+1, crypt.MethodCredential
	}
	if k.Recovery != nil {
		n, m = n+1, crypt.MethodRecovery
	}
	switch n {
	case 0:
		return "", errors.New("no key source: set a key file, a passphrase or a systemd credential")
	case 1:
		return m, nil
	default:
		return "", errors.New("ambiguous key source: set only one of key file, passphrase, systemd credential, recovery code")
	}
}

// create returns a KEK for a new wrapping: it creates the key file if
// missing, or derives a passphrase KEK with a fresh salt after checking the
// passphrase's strength.
func (k KeySource) create() (kek crypt.KEK, method string, salt []byte, p crypt.Argon2Params, err error) {
	if method, err = k.method(); err != nil {
		return
	}
	switch method {
	case crypt.MethodKeyFile:
		if _, serr := os.Stat(k.KeyFile); serr == nil {
			kek, err = crypt.LoadKeyFile(k.KeyFile)
		} else {
			kek, err = crypt.CreateKeyFile(k.KeyFile)
		}
	case crypt.MethodCredential:
		kek, err = crypt.KEKFromCredential(k.Credential)
	case crypt.MethodRecovery:
		err = errors.New("a recovery code only opens a store; give it a key file, passphrase or credential (smsd key move) and make a new recovery code (smsd key recovery)")
	case crypt.MethodPassphrase:
		if err = crypt.CheckPassphrase(k.Passphrase); err != nil {
			return
		}
		if salt, err = crypt.NewSalt(); err != nil {
			return
		}
		p = crypt.PassphraseParams
		kek = crypt.KEKFromPassphrase(k.Passphrase, salt, p)
	}
	return
}

// SourceHint is what to set in smsd.toml for a store wrapped for method:
// the text of the error when the configured source is another kind.
func SourceHint(method string) string {
	switch method {
	case crypt.MethodKeyFile:
		return `key_source = "file" and key_file = "<the key file smsd key move wrote>"`
	case crypt.MethodCredential:
		return `key_source = "credential" and key_credential = "<the credential's name>" (with LoadCredentialEncrypted= in the unit)`
	case crypt.MethodPassphrase:
		return `key_source = "passphrase" (then unlock with smsd key unlock after each start)`
	}
	return "key_source to the kind the store was moved to"
}

// fileLike: a key file and a credential carry the same kind of key.
func fileLike(m string) bool { return m == crypt.MethodKeyFile || m == crypt.MethodCredential }

// unwrapKEK returns the KEK this source gives for an existing wrapping w.
// A key file opens a store wrapped for a credential and the other way
// round: both hold a raw 256-bit key, and a credential is normally the key
// file encrypted by systemd-creds, so refusing the same key under another
// name would protect nothing.
func (k KeySource) unwrapKEK(w crypt.WrappedKey) (crypt.KEK, error) {
	if k.KeyFile == "" && k.Passphrase == nil && k.Credential == "" && k.Recovery == nil && w.Method == crypt.MethodPassphrase {
		return crypt.KEK{}, ErrLocked
	}
	m, err := k.method()
	if err != nil {
		if k.KeyFile == "" && k.Passphrase == nil && k.Credential == "" && k.Recovery == nil {
			// key_source = "passphrase" and no passphrase, for a store
			// moved to a key file or credential.
			return crypt.KEK{}, fmt.Errorf("%w: %w: no key was given (key_source = \"passphrase\"?), and the database's data key is wrapped for a %s: in smsd.toml, set %s", crypt.ErrWrongKey, ErrSourceMismatch, w.Method, SourceHint(w.Method))
		}
		return crypt.KEK{}, err
	}
	if m != w.Method && !(fileLike(m) && fileLike(w.Method)) {
		if w.Method == crypt.MethodPassphrase {
			return crypt.KEK{}, fmt.Errorf("%w (a %s was given; if the store should open with it, set %s)", ErrLocked, m, SourceHint(m))
		}
		return crypt.KEK{}, fmt.Errorf("%w: %w: the database's data key is wrapped for a %s, but a %s was given: in smsd.toml, set %s", crypt.ErrWrongKey, ErrSourceMismatch, w.Method, m, SourceHint(w.Method))
	}
	var kek crypt.KEK
	switch m {
	case crypt.MethodKeyFile:
		kek, err = crypt.LoadKeyFile(k.KeyFile)
	case crypt.MethodCredential:
		kek, err = crypt.KEKFromCredential(k.Credential)
	}
	if err != nil && m != w.Method {
		// The configured kind is not the store's: that, not the missing
		// file, is what to fix.
		return kek, fmt.Errorf("%w (%w: the database's data key is wrapped for a %s: in smsd.toml, set %s)", err, ErrSourceMismatch, w.Method, SourceHint(w.Method))
	}
	switch m {
	case crypt.MethodKeyFile, crypt.MethodCredential:
		return kek, err
	case crypt.MethodPassphrase:
		return crypt.KEKFromPassphrase(k.Passphrase, w.Salt, w.Params), nil
	}
	return crypt.KEK{}, errors.New("a recovery code opens only a recovery wrap")
}
