package daemon

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGuardProcess: after GuardProcess the process is not dumpable. It
// runs in a child (this test binary again), so the test process itself
// stays as it was.
func TestGuardProcess(t *testing.T) {
	if os.Getenv("SMSD_GUARD_CHILD") == "1" {
		before, _ := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		if err := GuardProcess(); err != nil {
			t.Fatal(err)
		}
		after, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		if err != nil || before != 1 || after != 0 {
			t.Fatalf("dumpable %d before, %d after (%v); want 1, then 0", before, after, err)
		}
		return
	}
	c := exec.Command(os.Args[0], "-test.run", "^TestGuardProcess$", "-test.v")
	c.Env = append(os.Environ(), "SMSD_GUARD_CHILD=1")
	out, err := c.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestGuardProcess") {
		t.Fatalf("the child: %v\n%s", err, out)
	}
}
