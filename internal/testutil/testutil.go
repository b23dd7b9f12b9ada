// Package testutil holds the helpers that smsd's tests share: the rule for
// real parts (tools, mounts) a test needs, a goroutine-safe log buffer, the
// test logger, a hex decoder for PDUs and golden values, and a way to run a
// test of the same binary in a child process.
//
// It imports only the standard library, so the tests of every smsd package
// (modem, queue, crypt, dispatch, e2e, ...) can use it without a cycle.
package testutil

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// RequireRealPartsEnv names the environment variable that turns "a real
// part is missing, skip" into a test failure. `make test` sets it to 1 after
// installing the tools (scripts/test-deps.sh), as CI does: there a missing
// part is a broken set-up, not a reason to test less, and a run that
// silently skipped a check would claim a check that never ran.
const RequireRealPartsEnv = "SMSD_REQUIRE_REAL_PARTS"

// RealPartsRequired reports whether a real part that is missing or cannot
// be set up must fail the test instead of skipping it: true exactly when
// SMSD_REQUIRE_REAL_PARTS is "1".
func RealPartsRequired() bool { return os.Getenv(RequireRealPartsEnv) == "1" }

// SkipUnlessRequired skips the test with reason, which should say what to
// install, or fails it when SMSD_REQUIRE_REAL_PARTS=1.
func SkipUnlessRequired(t testing.TB, reason string) {
	t.Helper()
	if RealPartsRequired() {
		t.Fatalf("%s, and %s=1 requires it", reason, RequireRealPartsEnv)
	}
	t.Skip("skipped: " + reason)
}

// RequireTool finds a real program a test drives and returns its path.
// Missing, the test skips with the install hint, unless
// SMSD_REQUIRE_REAL_PARTS=1 (CI, which installs the packages as root): then
// a missing tool fails the test, so that a broken install cannot pass as a
// skip.
func RequireTool(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if RealPartsRequired() {
		t.Fatalf("%s not found (%v) and %s=1: %s", name, err, RequireRealPartsEnv, hint)
	}
	t.Skipf("%s not installed (%s); set %s=1 to make this a failure", name, hint, RequireRealPartsEnv)
	return ""
}

// Buffer is a bytes.Buffer that several goroutines may write while a test
// reads it: a log sink for a component's goroutines, or a child process's
// output read while it runs. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// LogEnv names the environment variable that, when not empty, copies every
// test logger's output, at debug level, to stderr (see Logger).
const LogEnv = "SMSD_TEST_LOG"

// Logger returns a debug-level text logger writing to sink, and also to
// stderr when SMSD_TEST_LOG is set (run `SMSD_TEST_LOG=1 go test -v` to see
// what a component logged). A nil sink means no sink: the logger then
// discards everything unless SMSD_TEST_LOG is set.
func Logger(sink io.Writer) *slog.Logger {
	w := sink
	if os.Getenv(LogEnv) != "" {
		if w == nil {
			w = os.Stderr
		} else {
			w = io.MultiWriter(sink, os.Stderr)
		}
	}
	if w == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// MustHex decodes s, a hexadecimal PDU as a modem prints it or a golden
// value, and fails the test if it is not hex. Surrounding white space (a
// line's end) is ignored; upper and lower case digits are both accepted.
func MustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("not hex: %q: %v", s, err)
	}
	return b
}

// RunTest runs the test named name of this test binary again, in a child
// process (go test -run '^name$' -v -count=1), so that a test can observe
// what it cannot see from inside, such as another test's skip or t.Fatal.
// The child inherits this process's environment, with each "KEY=VALUE" of
// env replacing KEY ("KEY=" sets it empty). It returns the child's combined
// output and whether it failed; a child that cannot run fails t.
func RunTest(t testing.TB, name string, env ...string) (out string, failed bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	// os/exec uses the last value of a key given twice.
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running the test binary for %s: %v", name, err)
	}
	return string(b), err != nil
}
