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
//     <data-dir>/smsd.key). Init creates it if it does not exist yet (O_EXCL,
//     never overwriting); Open refuses it if group or others may read it.
//   - Passphrase: "locked mode". The KEK is argon2id(passphrase, salt) with
//     the salt and parameters stored beside the wrapped data key. After a
//     boot the daemon cannot open the store until an admin gives the
//     passphrase (`smsd key unlock`); nothing is sent meanwhile.
//   - Credential: the name of a systemd credential
//     ($CREDENTIALS_DIRECTORY/<name>, e.g. LoadCredentialEncrypted=smsd.key:...
//     so the key is bound to the machine's TPM), same content as a key file.
//     Init never creates a credential; make it first (systemd-creds encrypt).
type KeySource struct {
	KeyFile    string
	Passphrase []byte
	Credential string
}

// ErrLocked means the database is protected by a passphrase ("locked mode")
// and none was given: the store stays closed until an admin unlocks it.
var ErrLocked = errors.New("the store is locked: it is protected by a passphrase; unlock it with `smsd key unlock`")

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
	switch n {
	case 0:
		return "", errors.New("no key source: set a key file, a passphrase or a systemd credential")
	case 1:
		return m, nil
	default:
		return "", errors.New("ambiguous key source: set only one of key file, passphrase, systemd credential")
	}
}

// create returns a KEK for a new wrapping: it creates the key file if
// missing, or derives a passphrase KEK with a fresh salt.
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
	case crypt.MethodPassphrase:
		if len(k.Passphrase) < 8 {
			err = errors.New("passphrase too short: use at least 8 characters (a few words are better)")
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

// unwrapKEK returns the KEK this source gives for an existing wrapping w.
func (k KeySource) unwrapKEK(w crypt.WrappedKey) (crypt.KEK, error) {
	if k.KeyFile == "" && k.Passphrase == nil && k.Credential == "" && w.Method == crypt.MethodPassphrase {
		return crypt.KEK{}, ErrLocked
	}
	m, err := k.method()
	if err != nil {
		return crypt.KEK{}, err
	}
	if m != w.Method {
		if w.Method == crypt.MethodPassphrase {
			return crypt.KEK{}, fmt.Errorf("%w (a %s was given)", ErrLocked, m)
		}
		return crypt.KEK{}, fmt.Errorf("%w: the database's data key is wrapped for a %s, but a %s was given", crypt.ErrWrongKey, w.Method, m)
	}
	switch m {
	case crypt.MethodKeyFile:
		return crypt.LoadKeyFile(k.KeyFile)
	case crypt.MethodCredential:
		return crypt.KEKFromCredential(k.Credential)
	default:
		return crypt.KEKFromPassphrase(k.Passphrase, w.Salt, w.Params), nil
	}
}
