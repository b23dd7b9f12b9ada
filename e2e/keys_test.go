package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/crypt"
	"github.com/clinicsms/smsd/queue"
)

// recoveryLine is the line smsd init and smsd key recovery print the code on.
var recoveryLine = regexp.MustCompile(`(?m)^Recovery code: ([0-9A-Z]{5}(?:-[0-9A-Z]{5}){6})$`)

// recoveryCodeFrom returns the recovery code in out, failing the test if
// there is not exactly one.
func recoveryCodeFrom(t *testing.T, out string) string {
	t.Helper()
	m := recoveryLine.FindAllStringSubmatch(out, -1)
	if len(m) != 1 {
		t.Fatalf("want one line 'Recovery code: XXXXX-...' in:\n%s", out)
	}
	return m[0][1]
}

// smsdEnv runs the smsd binary with extra environment and stdin; it
// returns stdout+stderr and the exit code.
func smsdEnv(t *testing.T, env []string, stdin string, args ...string) (string, int) {
	t.Helper()
	c := exec.Command(smsdBin, args...)
	c.Env = append(os.Environ(), env...)
	c.Stdin = strings.NewReader(stdin)
	out, err := c.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("smsd %v: %v", args, err)
	}
	return string(out), code
}

// hashFiles hashes the database, -wal and -shm of a data directory.
func hashFiles(t *testing.T, db string) string {
	t.Helper()
	h := sha256.New()
	for _, suf := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(db + suf)
		fmt.Fprintf(h, "%s:%t:", suf, err == nil)
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestKeyCustodyAsAttacker plays the review's findings on the real binary:
// a key file copied before smsd key rotate -kek opens nothing after it; the
// same key given as a systemd credential opens the installed store, and
// smsd key move -to credential moves it there (the key file on the card
// erased, the config change printed, a stale config told what to set);
// the recovery code from smsd init opens a copy of the database, and a
// wrong one is refused without a byte changed.
func TestKeyCustodyAsAttacker(t *testing.T) {
	r := newRig(t)
	// newRig ran smsd init; run it again on a second directory to see its
	// output (the rig keeps only the setup code).
	initOut, code := smsdEnv(t, nil, "", "init", "-config", r.conf, "-data-dir", filepath.Join(r.dir, "other"))
	if code != 0 {
		t.Fatalf("init: %d %s", code, initOut)
	}
	recoveryCodeFrom(t, initOut)
	out := r.run("key", "recovery")
	code1 := recoveryCodeFrom(t, out)
	r.run("send", "-to", "+15558000001", "-text", "before rotation")
	keyFile := filepath.Join(r.data, "smsd.key")
	db := filepath.Join(r.data, "smsd.db")

	// The attacker copies the key file; the admin rotates.
	stolen := filepath.Join(t.TempDir(), "stolen.key")
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(stolen, b, 0o600)
	out = r.run("key", "rotate", "-kek")
	if !strings.Contains(out, "copies of the old file open nothing") {
		t.Fatalf("rotate -kek said:\n%s", out)
	}
	if nb, _ := os.ReadFile(keyFile); bytes.Equal(nb, b) {
		t.Fatal("rotate -kek left the key file as it was")
	}
	thief := filepath.Join(t.TempDir(), "thief.toml")
	os.WriteFile(thief, []byte(fmt.Sprintf("key_file = %q\n", stolen)), 0o600)
	if out, code := smsdEnv(t, nil, "", "messages", "-config", thief, "-data-dir", r.data); code == 0 || !strings.Contains(out, "wrong key") {
		t.Fatalf("the stolen key file after rotate -kek: exit %d\n%s", code, out)
	}
	r.run("messages") // the configured (new) key works

	// The same key as a systemd credential opens the installed store.
	creds := t.TempDir()
	nb, _ := os.ReadFile(keyFile)
	os.WriteFile(filepath.Join(creds, "smsd.key"), nb, 0o400)
	credConf := filepath.Join(r.dir, "cred.toml")
	conf, _ := os.ReadFile(r.conf)
	os.WriteFile(credConf, append(conf, []byte("key_source = \"credential\"\n")...), 0o600)
	credEnv := []string{"CREDENTIALS_DIRECTORY=" + creds}
	if out, code := smsdEnv(t, credEnv, "", "messages", "-config", credConf, "-data-dir", r.data); code != 0 {
		t.Fatalf("the key file's key as a credential: exit %d\n%s", code, out)
	}
	// Move there: a new key in the credential, as systemd-creds would hold.
	nk, _ := crypt.NewKEK()
	os.WriteFile(filepath.Join(creds, "new.key"), []byte(fmt.Sprintf("%x\n", nk[:])), 0o400)
	out, code = smsdEnv(t, credEnv, "", "key", "move", "-to", "credential:new.key", "-config", r.conf, "-data-dir", r.data)
	if code != 0 || !strings.Contains(out, `key_source = "credential"`) || !strings.Contains(out, `key_credential = "new.key"`) {
		t.Fatalf("key move -to credential: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the key file on the card survived the move: %v", err)
	}
	// The config not yet changed: serve's pre-start and status say what to set.
	for _, args := range [][]string{{"key", "wait", "-timeout", "1s"}, {"status"}} {
		out, code := smsdEnv(t, nil, "", append(args, "-config", r.conf, "-data-dir", r.data)...)
		if code == 0 || !strings.Contains(out, `key_source = "credential"`) {
			t.Errorf("smsd %v with a stale key_source: exit %d\n%s", args, code, out)
		}
	}
	os.WriteFile(credConf, append(conf, []byte("key_source = \"credential\"\nkey_credential = \"new.key\"\n")...), 0o600)
	r.conf = credConf
	r.env = credEnv
	r.start()
	r.stop()

	// The recovery code opens a copy of the database (the backup's case),
	// even though the key moved twice since it was made; a wrong one is
	// refused and the copy is left byte for byte.
	cp := filepath.Join(t.TempDir(), "smsd.db")
	raw, _ := os.ReadFile(db)
	os.WriteFile(cp, raw, 0o600)
	for _, suf := range []string{"-wal"} {
		if w, err := os.ReadFile(db + suf); err == nil {
			os.WriteFile(cp+suf, w, 0o600)
		}
	}
	other, _, _ := crypt.NewRecoveryCode()
	before := hashFiles(t, cp)
	if _, err := queue.Open(context.Background(), cp, queue.KeySource{Recovery: []byte(other)}, queue.Options{}); !errors.Is(err, queue.ErrWrongKey) {
		t.Fatalf("another store's recovery code: %v", err)
	}
	if hashFiles(t, cp) != before {
		t.Fatal("a wrong recovery code changed the database copy")
	}
	s, err := queue.Open(context.Background(), cp, queue.KeySource{Recovery: []byte(strings.ToLower(code1))}, queue.Options{})
	if err != nil {
		t.Fatalf("the recovery code from smsd key recovery: %v", err)
	}
	defer s.Close()
	l, err := s.List(context.Background(), queue.ListFilter{Limit: 10})
	if err != nil || len(l) != 1 || l[0].Text != "before rotation" {
		t.Fatalf("by recovery: %v %v", l, err)
	}
	// Every key change is in the audit trail, with who made it, and the
	// chain holds.
	if _, _, err := s.AuditCheck(context.Background()); err != nil {
		t.Fatalf("audit chain of the recovered copy: %v", err)
	}
	adb, err := sql.Open("sqlite3", "file:"+cp+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer adb.Close()
	rows, err := adb.Query("SELECT actor, action, object_id, outcome, detail FROM audit_log WHERE object_type = 'key' ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var actor, action, obj, outcome, detail string
		rows.Scan(&actor, &action, &obj, &outcome, &detail)
		if strings.HasPrefix(actor, "unix:") {
			actor = "unix"
		}
		if outcome == "" {
			outcome = "ok"
		}
		got = append(got, strings.Join([]string{actor, action, obj, outcome}, " "))
		if strings.Contains(detail, code1) || strings.Contains(detail, fmt.Sprintf("%x", nk[:])) {
			t.Fatalf("a key or code in the audit trail: %q", detail)
		}
	}
	rows.Close()
	want := []string{
		"unix key_rotate recovery_code ok", // smsd init (the rig's)
		"unix key_rotate recovery_code ok", // smsd key recovery
		"unix key_rotate data_key:2 ok",    // rotate -kek: the data key...
		"unix key_rotate kek ok",           // ...and the key file
		"unix key_rotate kek ok",           // key move -to credential
		"system unlock recovery_code ok",   // this copy opened by the code
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("key rows in the audit trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestWeakPassphraseRefusedCLI: the passphrases the review cracked are
// refused by smsd init -passphrase and smsd key move -to passphrase, with
// what to do, and nothing is made.
func TestWeakPassphraseRefusedCLI(t *testing.T) {
	r := newRig(t)
	for _, p := range []string{"password", "12345678", "Password1234!"} {
		d := filepath.Join(t.TempDir(), "data")
		out, code := smsdEnv(t, nil, p+"\n", "init", "-passphrase", "-config", r.conf, "-data-dir", d)
		if code != 1 || !strings.Contains(out, "passphrase too weak") || !strings.Contains(out, "random words") {
			t.Errorf("init -passphrase %q: exit %d\n%s", p, code, out)
		}
		if _, err := os.Stat(filepath.Join(d, "smsd.db")); err == nil {
			t.Errorf("init with %q made a database", p)
		}
		out, code = r.cmdStdin(p+"\n", "key", "move", "-to", "passphrase")
		if code != 1 || !strings.Contains(out, "passphrase too weak") {
			t.Errorf("key move -to passphrase %q: exit %d\n%s", p, code, out)
		}
	}
	r.run("messages") // the key file still opens it
}

// TestKeyMoveKilled kills the real binary in the middle of smsd key rotate
// -kek (the fault hook exits at each step of the key move, as a power cut
// would) and checks that the store then opens with the old key or the
// new, never neither; that the configured key file opens it; and that once
// the move is finished (by that open, or by running it again) the old key
// opens nothing.
func TestKeyMoveKilled(t *testing.T) {
	for _, step := range []string{"pending", "placed", "committed"} {
		t.Run(step, func(t *testing.T) {
			r := newRig(t)
			r.run("send", "-to", "+15558000001", "-text", "must survive")
			keyFile := filepath.Join(r.data, "smsd.key")
			old, _ := os.ReadFile(keyFile)
			oldCopy := filepath.Join(t.TempDir(), "old.key")
			os.WriteFile(oldCopy, old, 0o600)
			out, code := smsdEnv(t, []string{"SMSD_FAULT_KEYMOVE=" + step}, "", "key", "rotate", "-kek", "-config", r.conf, "-data-dir", r.data)
			if code != 70 {
				t.Fatalf("the fault did not fire at %s: exit %d\n%s", step, code, out)
			}
			opens := func(k string) bool {
				conf := filepath.Join(t.TempDir(), "c.toml")
				os.WriteFile(conf, []byte(fmt.Sprintf("key_file = %q\n", k)), 0o600)
				out, code := smsdEnv(t, nil, "", "messages", "-config", conf, "-data-dir", r.data)
				return code == 0 && strings.Contains(out, "******0001")
			}
			// The old key (a copy the admin kept) still opens it: never
			// neither. Opening with it changes nothing.
			// (Killed after the commit, the move is done: only the new.)
			if old := opens(oldCopy); old != (step != "committed") {
				t.Fatalf("killed after %s: the old key opens the store: %t", step, old)
			}
			// The configured key file opens it: before the rename it is
			// still the old key; after it, the new one, and opening with
			// it finishes the move.
			if !strings.Contains(r.run("messages"), "******0001") {
				t.Fatal("the configured key file does not open the store")
			}
			if step == "pending" {
				// Cut before the new key was in place: run it again.
				r.run("key", "rotate", "-kek")
			}
			if opens(oldCopy) {
				t.Fatal("the old key still opens the store after the move was finished")
			}
			if !opens(keyFile) {
				t.Fatal("the configured key no longer opens the store")
			}
		})
	}
}

// TestKeyWaitUSB: a key file on a USB stick that is not there yet: smsd
// key wait (the unit's ExecStartPre) says what it waits for and goes on
// when the stick's file appears; smsd status names the missing key file.
func TestKeyWaitUSB(t *testing.T) {
	r := newRig(t)
	stick := filepath.Join(t.TempDir(), "media", "smsd-key")
	usbKey := filepath.Join(stick, "smsd.key")
	os.MkdirAll(stick, 0o700)
	r.run("key", "move", "-to", "file:"+usbKey)
	conf, _ := os.ReadFile(r.conf)
	os.WriteFile(r.conf, append(conf, []byte(fmt.Sprintf("key_file = %q\n", usbKey))...), 0o600)
	r.run("messages")
	// The stick is pulled.
	held := filepath.Join(t.TempDir(), "pocket.key")
	if err := os.Rename(usbKey, held); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := r.cmd("status"); code == 0 || !strings.Contains(out+errs, "waiting for the key file on "+stick) {
		t.Errorf("status without the stick: exit %d\n%s%s", code, out, errs)
	}
	c := exec.Command(smsdBin, "key", "wait", "-timeout", "2m", "-config", r.conf, "-data-dir", r.data)
	var errb bytes.Buffer
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	r.waitFor("the wait's journal line", 30*time.Second, func() bool {
		return strings.Contains(errb.String(), "waiting for the key file on "+stick)
	})
	select {
	case err := <-done:
		t.Fatalf("smsd key wait returned before the stick came back: %v\n%s", err, errb.String())
	default:
	}
	os.Rename(held, usbKey) // the stick is back
	if err := <-done; err != nil {
		t.Fatalf("smsd key wait: %v\n%s", err, errb.String())
	}
	r.start()
	// Key custody changes wait for the daemon to stop: it would go on
	// with the old key source until restarted.
	for _, args := range [][]string{{"key", "rotate", "-kek"}, {"key", "move", "-to", "file:" + filepath.Join(stick, "other.key")}, {"key", "recovery"}} {
		out, errs, code := r.cmd(args...)
		if code != 1 || !strings.Contains(errs, "stop it first") {
			t.Errorf("smsd %v under a running daemon: exit %d\n%s%s", args, code, out, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(stick, "other.key")); err == nil {
		t.Error("a refused key move made a key file")
	}
}
