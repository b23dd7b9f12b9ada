package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clinicsms/smsd/internal/testutil"
)

// TestCLIThroughDaemon: the command line as a new admin meets it, against a
// running daemon: what must be refused is refused before anything is
// queued, with the same words as without the daemon; the actor of each
// change is the Unix user the socket's peer credentials name; -json keys
// are snake_case with no zero times.
func TestCLIThroughDaemon(t *testing.T) {
	r := newRig(t)
	r.start()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"too_long", []string{"send", "-to", "+15551234567", "-text", strings.Repeat("x", 919)}, "at most 6 parts: 918 characters in GSM-7"},
		{"not_utf8", []string{"send", "-to", "+15551234567", "-text", "caf\xe9"}, "not valid UTF-8"},
		{"in_the_past", []string{"send", "-to", "+15551234567", "-text", "x", "-at", "2020-01-01T09:00"}, "in the past"},
	} {
		_, errs, code := r.cmd(tc.args...)
		if code != 1 || !strings.Contains(errs, tc.says) || !strings.Contains(errs, "nothing was queued") {
			t.Errorf("%s: exit %d, stderr %q; want 1 saying %q", tc.name, code, errs, tc.says)
		}
	}
	if q := r.queue(); q["queued"]+q["sending"]+q["sent"]+q["delivered"] != 0 {
		t.Fatalf("refused sends left messages: %v", q)
	}

	out := r.run("send", "-to", "+15551234567", "-text", "See you at 9")
	if !strings.Contains(out, "queued message 1") {
		t.Fatalf("send: %s", out)
	}
	r.waitFor("delivered", 20*time.Second, func() bool { return r.queue()["delivered"] == 1 })

	var list []map[string]any
	if err := json.Unmarshal([]byte(r.run("messages", "-json")), &list); err != nil || len(list) != 1 {
		t.Fatalf("messages -json: %v %v", list, err)
	}
	if list[0]["created_by"] != "unix:"+me.Username || list[0]["to"] != "+1******4567" || list[0]["text"] != nil || list[0]["state"] != "delivered" {
		t.Errorf("messages -json: %v; want created_by unix:%s, masked, no text, delivered", list[0], me.Username)
	}
	if out := r.run("message", "show", "1"); !strings.Contains(out, `"See you at 9"`) || !strings.Contains(out, "+15551234567") {
		t.Errorf("message show: %s", out)
	}
	if _, errs, code := r.cmd("message", "cancel", "1"); code != 1 || !strings.Contains(errs, "message 1 is delivered") {
		t.Errorf("cancel a delivered message: exit %d %s", code, errs)
	}

	r.run("optouts", "add", "+15551230000")
	if _, errs, code := r.cmd("send", "-to", "+15551230000", "-text", "x"); code != 1 || !strings.Contains(errs, "opted out") {
		t.Errorf("send to an opt-out added by staff: exit %d %s", code, errs)
	}
	if out := r.run("optouts", "list"); !strings.Contains(out, "+1******0000") || !strings.Contains(out, "unix:"+me.Username) {
		t.Errorf("optouts list: %s", out)
	}

	// smsd status -json: one view, snake_case keys, registration in words,
	// no zero times.
	raw := r.run("status", "-json")
	var st any
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !snake.MatchString(k) && path != "queue" {
					t.Errorf("status -json key %s.%s is not snake_case", path, k)
				}
				walk(k, x)
			}
		case []any:
			for _, x := range v {
				walk(path, x)
			}
		}
	}
	walk("", st)
	if strings.Contains(raw, "0001-01-01") || !strings.Contains(raw, `"registration": "home"`) || !strings.Contains(raw, `"imei": "`) {
		t.Errorf("status -json:\n%s", raw)
	}
}

// TestSecondServeRefusedAtOnce: a second smsd serve on a data directory a
// live daemon serves asks that daemon and refuses, naming it, instead of
// waiting for a lock it will never get.
func TestSecondServeRefusedAtOnce(t *testing.T) {
	r := newRig(t)
	r.start()
	st := r.run("status", "-json")
	var s struct {
		PID int `json:"pid"`
	}
	json.Unmarshal([]byte(st), &s)
	_, errs, code := r.cmd("serve")
	want := fmt.Sprintf("another smsd serve (pid %d) already runs", s.PID)
	if code != 1 || !strings.Contains(errs, want) {
		t.Fatalf("second serve: exit %d\n%s\nwant it to say %q", code, errs, want)
	}
}

// TestRootLeavesTheDaemonsFilesAlone: a root `smsd status` on a store the
// daemon (user smsd, here nobody) has not opened yet must not leave
// root-owned lock, -wal or -shm files that the daemon then cannot open; and
// when a file does belong to the wrong user, the daemon names it, its owner
// and the fix.
func TestRootLeavesTheDaemonsFilesAlone(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it runs smsd as root and as another user")
	}
	const uid, gid = 65534, 65534 // nobody:nogroup
	// Directories nobody can walk: t.TempDir() is 0700 root.
	top, err := os.MkdirTemp("/tmp", "smsd-e2e-root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	os.Chmod(top, 0o755)
	bin := filepath.Join(top, "smsd")
	b, err := os.ReadFile(smsdBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(top, "smsd.toml")
	os.WriteFile(conf, []byte("modem = \"emulator\"\nrate_limit = \"0s\"\nlisten = \"\"\n"), 0o644)
	data := filepath.Join(top, "data")
	smsd := func(asNobody bool, args ...string) (string, int) {
		c := exec.Command(bin, append(args, "-config", conf, "-data-dir", data)...)
		if asNobody {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		}
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := smsd(false, "init"); code != 0 {
		t.Fatalf("init: %s", out)
	}
	chownAll := func(u, g int) {
		filepath.Walk(data, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, u, g) })
	}
	chownAll(uid, gid) // as the postinst leaves it: the daemon's user owns its data

	if out, code := smsd(false, "status"); code != 3 {
		t.Fatalf("root status on the store directly: exit %d\n%s", code, out)
	}
	filepath.Walk(data, func(p string, fi os.FileInfo, _ error) error {
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid {
			t.Errorf("%s belongs to uid %d after a root smsd status; want %d (the data directory's owner)", p, st.Uid, uid)
		}
		return nil
	})

	// The daemon, as its own user, still serves.
	serve := exec.Command(bin, "serve", "-config", conf, "-data-dir", data)
	serve.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	var logs testutil.Buffer
	serve.Stderr = &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	answered := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !answered; time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("smsd serve as the data directory's owner exited: %v\n%s", err, logs.String())
		default:
		}
		_, code := smsd(false, "status")
		answered = code == 0
	}
	serve.Process.Signal(syscall.SIGTERM)
	<-exited
	if !answered {
		t.Fatalf("smsd serve as the data directory's owner never answered\n%s", logs.String())
	}

	// A lock file that does belong to root (an older smsd left it): the
	// daemon says which file, whose, and what to run.
	os.Chown(filepath.Join(data, "serve.lock"), 0, 0)
	os.Chmod(filepath.Join(data, "serve.lock"), 0o600)
	out, code := smsd(true, "serve")
	if code != 1 || !strings.Contains(out, filepath.Join(data, "serve.lock")) || !strings.Contains(out, "belongs to root") || !strings.Contains(out, "sudo chown nobody:") {
		t.Fatalf("serve with a root-owned lock file: exit %d\n%s", code, out)
	}
}
