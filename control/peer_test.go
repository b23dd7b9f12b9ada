package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// TestPeerHelper is the other Unix user of TestPeerCheck: run as a child
// with CONTROL_PEER_SOCKET set, it asks that socket for the status and
// prints what came back.
func TestPeerHelper(t *testing.T) {
	p := os.Getenv("CONTROL_PEER_SOCKET")
	if p == "" {
		t.Skip("the child of TestPeerCheck")
	}
	_, err := NewClient(p).Status(context.Background())
	fmt.Printf("code=%s err=%v\n", ops.CodeOf(err), err)
}

// TestPeerCheck: the daemon's own check of the peer credentials, as another
// Unix user meets it. The socket is opened to everyone on the file system
// (0666), so that only the check stands between that user and the daemon:
// nobody (uid 65534) is refused; with the admin group as its group it is
// accepted and named as itself; without an admin group configured it is
// refused whatever its group. Needs root, to run a child as another user.
func TestPeerCheck(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("SMSD_REQUIRE_REAL_PARTS") == "1" {
			t.Fatal("needs root to run a child as another user")
		}
		t.Skip("needs root to run a child as another user (make test as root runs it)")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody here")
	}
	adm, err := user.LookupGroup("adm")
	if err != nil {
		t.Skip("no group adm here")
	}
	if ids, _ := nobody.GroupIds(); strings.Contains(" "+strings.Join(ids, " ")+" ", " "+adm.Gid+" ") {
		t.Skip("nobody is a member of adm here")
	}
	// The test binary, where nobody may run it.
	// (t.TempDir's parent is 0700: a directory of its own, 0755.)
	dir, err := os.MkdirTemp("", "smsd-peer-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "control.test")
	copyFile(t, self, bin)
	uid, _ := strconv.Atoi(nobody.Uid)
	nogroup, _ := strconv.Atoi(nobody.Gid)
	admGID, _ := strconv.Atoi(adm.Gid)
	for _, tc := range []struct {
		name       string
		adminGroup string
		gid        int
		want       string // "" = accepted
	}{
		{"another user is refused", "adm", nogroup, "permission denied: only root, the smsd user and members of group adm"},
		{"a member of the admin group is accepted as itself", "adm", admGID, ""},
		{"without an admin group nobody else is accepted", "", admGID, "permission denied: only root and the smsd user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &scriptedHandler{block: make(chan struct{})}
			s, err := Listen(filepath.Join(dir, fmt.Sprintf("c%d.sock", time.Now().UnixNano())), h, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.adminGroup != "" {
				if err := s.AllowGroup(tc.adminGroup); err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Stat(s.Path()); err != nil || fi.Mode().Perm() != 0o660 || int(fi.Sys().(*syscall.Stat_t).Gid) != admGID {
					t.Fatalf("after AllowGroup the socket is %v (%v), want 0660 group adm", fi.Mode(), err)
				}
			}
			os.Chmod(s.Path(), 0o666)
			go s.Serve(context.Background())
			defer s.Close(time.Second)
			cmd := exec.Command(bin, "-test.run=^TestPeerHelper$", "-test.v")
			cmd.Env = []string{"CONTROL_PEER_SOCKET=" + s.Path()}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(tc.gid), Groups: []uint32{}}}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child as nobody: %v\n%s", err, out)
			}
			switch {
			case tc.want == "":
				if !strings.Contains(string(out), "code= err=<nil>") {
					t.Fatalf("refused: %s", out)
				}
				if a := h.lastActor(); a.UID != uid || a.Name != "nobody" || a.Role != ops.RoleAdmin || a.String() != "unix:nobody" {
					t.Errorf("actor %+v, want unix:nobody", a)
				}
			case !strings.Contains(string(out), "code="+ops.CodeDenied) || !strings.Contains(string(out), tc.want):
				t.Errorf("child got %s; want refused with %q", out, tc.want)
			}
		})
	}
}

// TestAllowGroupUnknown: a group that does not exist is an error that says
// how to create it, and the socket stays 0600.
func TestAllowGroupUnknown(t *testing.T) {
	s, _, _ := start(t)
	err := s.AllowGroup("no-such-group-smsd")
	var unknown user.UnknownGroupError
	if err == nil || !errors.As(err, &unknown) || !strings.Contains(err.Error(), "addgroup --system no-such-group-smsd") {
		t.Fatalf("AllowGroup of a missing group: %v", err)
	}
	if fi, err := os.Stat(s.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v (%v), want 0600", fi.Mode(), err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
