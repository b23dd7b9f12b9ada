package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/crypt"
)

// fileHashes hashes the database and its -wal and -shm (absent: "").
func fileHashes(t *testing.T, db string) [3]string {
	t.Helper()
	var out [3]string
	for i, suf := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(db + suf)
		if err == nil {
			out[i] = string(sha256.New().Sum(b))
		}
	}
	return out
}

// keyRows counts the audit rows of key changes (key_rotate) and recovery
// code uses (unlock of recovery_code).
func keyRows(t *testing.T, s *Store) (moves, codes, uses int) {
	t.Helper()
	rows, err := s.r.Query("SELECT action, object_id FROM audit_log")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, o string
		rows.Scan(&a, &o)
		switch {
		case a == audit.KeyRotate && o == "kek":
			moves++
		case a == audit.KeyRotate && o == "recovery_code":
			codes++
		case a == audit.Unlock && o == "recovery_code":
			uses++
		}
	}
	return
}

// TestRecoveryCodeOpensStore: a store opened by its recovery code reads
// everything, survives a data key rotation made before (the code's wrap
// follows new keys), can be moved to a new key file, and a new code
// retires the old one. Each step is audited.
func TestRecoveryCodeOpensStore(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	m := mustEnqueue(t, s, num, "kept for recovery")
	code, err := s.NewRecoveryCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A rotation after the code was made: the new data key must open with
	// the code too.
	if _, err := s.RotateDataKey(ctx, 0); err != nil {
		t.Fatal(err)
	}
	m2 := mustEnqueue(t, s, num, "after rotation")
	s.Close()
	// As typed from paper: lower case, spaces instead of dashes.
	typed := []byte(strings.ToLower(strings.ReplaceAll(code, "-", " ")))
	s, err = Open(ctx, e.db, KeySource{Recovery: typed}, e.opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Message{m, m2} {
		if got, err := s.Get(ctx, want.ID); err != nil || got.Text != want.Text {
			t.Fatalf("message %d by recovery: %q %v", want.ID, got.Text, err)
		}
	}
	if _, err := s.RotateDataKey(ctx, 0); err == nil {
		t.Fatal("a rotation under the recovery code succeeded: the new key would have no source wrap")
	}
	// Restore's path: a new key file, then a new recovery code.
	newKey := KeySource{KeyFile: filepath.Join(e.dir, "restored.key")}
	if err := s.MoveKey(ctx, newKey); err != nil {
		t.Fatal(err)
	}
	code2, err := s.NewRecoveryCode(ctx)
	if err != nil || code2 == code {
		t.Fatalf("new recovery code: %q %v", code2, err)
	}
	moves, codes, uses := keyRows(t, s)
	if moves != 1 || codes != 2 || uses != 1 {
		t.Fatalf("audit rows: moves %d codes %d uses %d, want 1 2 1", moves, codes, uses)
	}
	s.Close()
	for _, k := range []KeySource{e.keys, {Recovery: []byte(code)}} {
		if _, err := Open(ctx, e.db, k, e.opt); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("retired source %+v still opens: %v", k.KeyFile, err)
		}
	}
	for _, k := range []KeySource{newKey, {Recovery: []byte(code2)}} {
		s, err := Open(ctx, e.db, k, e.opt)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, m.ID); got.Text != m.Text {
			t.Fatal(got.Text)
		}
		s.Close()
	}
}

// TestWrongRecoveryCodeTouchesNothing: a typo names its group; another
// store's code is a wrong key; neither writes a byte.
func TestWrongRecoveryCodeTouchesNothing(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	mustEnqueue(t, s, num, "x")
	code, err := s.NewRecoveryCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	other, _, err := crypt.NewRecoveryCode()
	if err != nil {
		t.Fatal(err)
	}
	typo := []byte(code)
	// Group 3 starts at index 12 ("AAAAA-BBBBB-CCCCC"); change one character.
	if typo[12] == '7' {
		typo[12] = '8'
	} else {
		typo[12] = '7'
	}
	before := fileHashes(t, e.db)
	for _, c := range []struct {
		code []byte
		want error
		msg  string
	}{
		{[]byte(other), ErrWrongKey, "not this database's"},
		{typo, crypt.ErrBadRecoveryCode, "typo in group 3"},
		{[]byte(code[:20]), crypt.ErrBadRecoveryCode, "35"},
		{[]byte(strings.Replace(code, code[:1], "U", 1)), crypt.ErrBadRecoveryCode, "group 1"},
	} {
		_, err := Open(ctx, e.db, KeySource{Recovery: c.code}, e.opt)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("code %q: %v, want %v mentioning %q", c.code, err, c.want, c.msg)
		}
	}
	if fileHashes(t, e.db) != before {
		t.Fatal("a refused recovery code changed the database files")
	}
	if _, err := os.Stat(e.db + "-wal"); err == nil {
		t.Fatal("a refused recovery code left a -wal")
	}
}

// TestOldKeyFileAfterRotateKEK is the attacker with a copy of the key file
// taken before the rotation: afterwards it opens nothing, while the file at
// the configured path (now the new key) does.
func TestOldKeyFileAfterRotateKEK(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	m := mustEnqueue(t, s, num, "secret")
	stolen := filepath.Join(t.TempDir(), "stolen.key")
	b, _ := os.ReadFile(e.keys.KeyFile)
	os.WriteFile(stolen, b, 0o600)
	if err := s.RotateKEK(ctx); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, s, num, "after")
	s.Close()
	if _, err := Open(ctx, e.db, KeySource{KeyFile: stolen}, e.opt); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("the old key file still opens the store: %v", err)
	}
	if _, err := os.Stat(e.keys.KeyFile + ".new"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s.new left behind: %v", e.keys.KeyFile, err)
	}
	s = e.open(t)
	if got, _ := s.Get(ctx, m.ID); got.Text != "secret" {
		t.Fatal(got.Text)
	}
	if moves, _, _ := keyRows(t, s); moves != 1 {
		t.Fatalf("%d key move rows, want 1", moves)
	}
}

// TestKeyMoveCrash stops a key move after each of its steps, as a crash
// would, and checks the store opens with the old source or the new, never
// neither; the next open settles the move one way or the other.
func TestKeyMoveCrash(t *testing.T) {
	cheapPassphrase(t)
	ctx := context.Background()
	type opener struct {
		name string
		keys func(e *env, old KeySource) KeySource
	}
	for _, step := range []string{"pending", "placed", "committed"} {
		for _, kind := range []string{"rotate", "to-passphrase"} {
			if kind == "to-passphrase" && step == "placed" {
				continue
			}
			t.Run(kind+"/"+step, func(t *testing.T) {
				e, s := openEnv(t)
				m := mustEnqueue(t, s, num, "survives")
				old, _ := os.ReadFile(e.keys.KeyFile)
				oldCopy := filepath.Join(t.TempDir(), "old.key")
				os.WriteFile(oldCopy, old, 0o600)
				keyMoveHook = func(st string) error {
					if st == step {
						return errors.New("power cut")
					}
					return nil
				}
				var err error
				pass := KeySource{Passphrase: []byte("blue tractor quietly sings")}
				if kind == "rotate" {
					err = s.RotateKEK(ctx)
				} else {
					err = s.MoveKey(ctx, pass)
				}
				keyMoveHook = nil
				if !errors.Is(err, errKeyMoveHook) {
					t.Fatalf("move: %v", err)
				}
				s.Close()
				newSrc := e.keys // rotate: the configured path, once renamed
				switch {
				case kind == "to-passphrase":
					newSrc = pass
				case step == "pending":
					// Cut before the rename: the new key is still in .new.
					newSrc = KeySource{KeyFile: e.keys.KeyFile + ".new"}
				}
				oldSrc := KeySource{KeyFile: oldCopy}
				opens := func(k KeySource) bool {
					s, err := Open(ctx, e.db, k, e.opt)
					if err != nil {
						return false
					}
					defer s.Close()
					got, _ := s.Get(ctx, m.ID)
					return got.Text == "survives"
				}
				oldOK := opens(oldSrc)
				newOK := opens(newSrc) // finishes the move if it opens
				if !oldOK && !newOK {
					t.Fatal("after a crash neither the old nor the new source opens the store")
				}
				if newOK && opens(oldSrc) {
					t.Fatal("the new source opened the store, yet the old one still does: the move was not finished")
				}
				if !newOK {
					// Cut before the new key existed anywhere: running the
					// move again from the old source finishes it.
					t.Fatalf("step %s: the new source does not open the store", step)
				}
			})
		}
	}
}

// TestCredentialSameKeyAsKeyFile: the key file's key given as a systemd
// credential ($CREDENTIALS_DIRECTORY as systemd sets it) opens the store
// ("wrapped for a keyfile" was refused before), and after a move to a
// credential with a new key, the old key file is refused.
func TestCredentialSameKeyAsKeyFile(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	m := mustEnqueue(t, s, num, "cred")
	s.Close()
	creds := t.TempDir()
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	b, _ := os.ReadFile(e.keys.KeyFile)
	os.WriteFile(filepath.Join(creds, "smsd.key"), b, 0o400)
	s, err := Open(ctx, e.db, KeySource{Credential: "smsd.key"}, e.opt)
	if err != nil {
		t.Fatalf("the key file's key as a credential: %v", err)
	}
	// A new key in a new credential: the store moves to it.
	nk, _ := crypt.NewKEK()
	os.WriteFile(filepath.Join(creds, "smsd2.key"), []byte(strings.ToUpper(hexOf(nk[:]))+"\n"), 0o400)
	if err := s.MoveKey(ctx, KeySource{Credential: "smsd2.key"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, e.db, e.keys, e.opt); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("old key file after the move: %v", err)
	}
	if m2, err := KeyMethod(ctx, e.db, e.opt); err != nil || m2 != crypt.MethodCredential {
		t.Fatalf("KeyMethod = %q %v", m2, err)
	}
	s, err = Open(ctx, e.db, KeySource{Credential: "smsd2.key"}, e.opt)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, m.ID); got.Text != "cred" {
		t.Fatal(got.Text)
	}
	s.Close()
	// A passphrase given to a credential store says what to set.
	_, err = Open(ctx, e.db, KeySource{Passphrase: []byte("whatever it is")}, e.opt)
	if !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), `key_source = "credential"`) {
		t.Fatalf("mismatched source: %v", err)
	}
}

func hexOf(b []byte) string {
	const h = "0123456789abcdef"
	var sb bytes.Buffer
	for _, c := range b {
		sb.WriteByte(h[c>>4])
		sb.WriteByte(h[c&15])
	}
	return sb.String()
}

// TestWeakPassphraseRefused: the passphrases the security review cracked
// offline are refused when a store is made or moved.
func TestWeakPassphraseRefused(t *testing.T) {
	cheapPassphrase(t)
	ctx := context.Background()
	for _, p := range []string{"password", "12345678", "Password123!", "passwordpassword", "qwertyuiopasdf", "aaaaaaaaaaaaaaaa"} {
		dir := t.TempDir()
		err := Init(ctx, filepath.Join(dir, "smsd.db"), KeySource{Passphrase: []byte(p)}, Options{})
		if !errors.Is(err, crypt.ErrWeakPassphrase) {
			t.Errorf("init with %q: %v", p, err)
		}
		if _, serr := os.Stat(filepath.Join(dir, "smsd.db")); serr == nil {
			t.Errorf("init with %q left a database", p)
		}
	}
	e, s := openEnv(t)
	if err := s.MoveKey(ctx, KeySource{Passphrase: []byte("password")}); !errors.Is(err, crypt.ErrWeakPassphrase) || !strings.Contains(err.Error(), "at least 12") {
		t.Fatalf("move to a weak passphrase: %v", err)
	}
	s.Close()
	if _, err := Open(ctx, e.db, e.keys, e.opt); err != nil {
		t.Fatalf("a refused move changed the key: %v", err)
	}
}

// TestOldPassphraseParamsStillOpen: a store wrapped under the earlier,
// cheaper argon2id parameters opens after they were raised (the parameters
// travel with the wrap), and a move to a new passphrase takes the new ones.
func TestOldPassphraseParamsStillOpen(t *testing.T) {
	ctx := context.Background()
	old := crypt.Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}
	saved := crypt.PassphraseParams
	t.Cleanup(func() { crypt.PassphraseParams = saved })
	crypt.PassphraseParams = old
	dir := t.TempDir()
	db := filepath.Join(dir, "smsd.db")
	pass := KeySource{Passphrase: []byte("an older but long passphrase")}
	if err := Init(ctx, db, pass, Options{}); err != nil {
		t.Fatal(err)
	}
	crypt.PassphraseParams = crypt.Argon2Params{Time: 2, MemoryKiB: 2048, Threads: 2}
	s, err := Open(ctx, db, pass, Options{})
	if err != nil {
		t.Fatalf("the store made with the old parameters: %v", err)
	}
	defer s.Close()
	if s.wrapped.Params != old {
		t.Fatalf("wrap params %+v, want the old %+v", s.wrapped.Params, old)
	}
	if err := s.MoveKey(ctx, KeySource{Passphrase: []byte("a newer and longer passphrase")}); err != nil {
		t.Fatal(err)
	}
	if s.wrapped.Params != crypt.PassphraseParams {
		t.Fatalf("after the move: %+v, want %+v", s.wrapped.Params, crypt.PassphraseParams)
	}
}

// TestStaleKeySourceSaysWhatToSet: after a move, the config's old kind of
// source is refused with the setting to change, whichever kind it is.
func TestStaleKeySourceSaysWhatToSet(t *testing.T) {
	cheapPassphrase(t)
	ctx := context.Background()
	e, s := openEnv(t)
	pass := KeySource{Passphrase: []byte("blue tractor quietly sings")}
	if err := s.MoveKey(ctx, pass); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// The key file is stale (it opens nothing): locked mode is what to set.
	if _, err := Open(ctx, e.db, e.keys, e.opt); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("key file for a passphrase store: %v", err)
	}
	s, err := Open(ctx, e.db, pass, e.opt)
	if err != nil {
		t.Fatal(err)
	}
	usb := KeySource{KeyFile: filepath.Join(t.TempDir(), "smsd.key")}
	if err := s.MoveKey(ctx, usb); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, k := range []KeySource{{}, pass} {
		_, err := Open(ctx, e.db, k, e.opt)
		if !errors.Is(err, ErrSourceMismatch) || !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), `key_source = "file"`) {
			t.Errorf("source %+v for a key-file store: %v", k.Passphrase, err)
		}
	}
}
