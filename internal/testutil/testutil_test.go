package testutil

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

func TestRealPartsRequired(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{{"1", true}, {"", false}, {"0", false}, {"true", false}, {" 1", false}} {
		t.Setenv(RequireRealPartsEnv, tc.value)
		if got := RealPartsRequired(); got != tc.want {
			t.Errorf("%s=%q: RealPartsRequired() = %v, want %v", RequireRealPartsEnv, tc.value, got, tc.want)
		}
	}
	os.Unsetenv(RequireRealPartsEnv) // restored by t.Setenv's cleanup
	if RealPartsRequired() {
		t.Errorf("%s unset: RealPartsRequired() = true", RequireRealPartsEnv)
	}
}

// childEnv, when set, makes TestChild run one helper as a test of its own;
// TestMissingPartSkipsOrFails runs this test binary that way to see the
// skip or the failure (a t.Fatal cannot be observed from inside the test).
const childEnv = "SMSD_TESTUTIL_CHILD"

// missingTool is a program no machine has.
const missingTool = "smsd-testutil-no-such-tool"

func TestChild(t *testing.T) {
	switch os.Getenv(childEnv) {
	case "":
		return // not a child: nothing to do
	case "skip":
		SkipUnlessRequired(t, "the widget cannot run (apt-get install widget)")
	case "tool":
		RequireTool(t, missingTool, "apt-get install no-such-tool")
	default:
		t.Fatalf("unknown %s", childEnv)
	}
	fmt.Println("CHILD WENT ON")
}

// A missing real part skips the test, saying what to install, unless
// SMSD_REQUIRE_REAL_PARTS=1: then the test fails, still saying it; the test
// stops in both cases.
func TestMissingPartSkipsOrFails(t *testing.T) {
	// RunTest's env replaces what the child would inherit: with this set
	// here, the cases with "" see that a "KEY=" replaces it.
	t.Setenv(RequireRealPartsEnv, "1")
	tests := []struct {
		name, child, require string
		failed               bool
		says                 []string
	}{
		{"skip_unset", "skip", "", false, []string{"--- SKIP: TestChild", "skipped: the widget cannot run (apt-get install widget)"}},
		{"skip_other_value", "skip", "0", false, []string{"--- SKIP: TestChild", "skipped: the widget cannot run"}},
		{"skip_required", "skip", "1", true, []string{"--- FAIL: TestChild", "the widget cannot run (apt-get install widget), and SMSD_REQUIRE_REAL_PARTS=1 requires it"}},
		{"tool_unset", "tool", "", false, []string{"--- SKIP: TestChild", missingTool + " not installed (apt-get install no-such-tool); set SMSD_REQUIRE_REAL_PARTS=1 to make this a failure"}},
		{"tool_required", "tool", "1", true, []string{"--- FAIL: TestChild", missingTool + " not found (", "and SMSD_REQUIRE_REAL_PARTS=1: apt-get install no-such-tool"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, failed := RunTest(t, "TestChild", childEnv+"="+tc.child, RequireRealPartsEnv+"="+tc.require)
			if failed != tc.failed {
				t.Errorf("test binary failed = %v, want %v:\n%s", failed, tc.failed, out)
			}
			for _, s := range tc.says {
				if !strings.Contains(out, s) {
					t.Errorf("output does not say %q:\n%s", s, out)
				}
			}
			if strings.Contains(out, "CHILD WENT ON") {
				t.Errorf("the test went on after the helper:\n%s", out)
			}
		})
	}
}

func TestRequireToolFindsATool(t *testing.T) {
	t.Setenv(RequireRealPartsEnv, "1")
	want, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on the PATH to look for")
	}
	if got := RequireTool(t, "sh", "any hint"); got != want {
		t.Fatalf("RequireTool(sh) = %q, want %q", got, want)
	}
}

func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	const writers, writes = 8, 200
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range writes {
				if n, err := b.Write([]byte("ab\n")); n != 3 || err != nil {
					t.Errorf("Write = %d, %v", n, err)
				}
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	s := b.String()
	if got := strings.Count(s, "ab\n"); got != writers*writes || len(s) != 3*writers*writes {
		t.Fatalf("%d whole writes in %d bytes, want %d", got, len(s), writers*writes)
	}
}

func TestLogger(t *testing.T) {
	t.Setenv(LogEnv, "")
	var b Buffer
	Logger(&b).Debug("queued", "id", 7)
	if s := b.String(); !strings.Contains(s, "level=DEBUG msg=queued id=7") {
		t.Fatalf("debug record not in the sink: %q", s)
	}
	if Logger(nil).Enabled(context.Background(), slog.LevelError) {
		t.Fatal("Logger(nil) without " + LogEnv + " does not discard")
	}
	t.Setenv(LogEnv, "1")
	if !Logger(nil).Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("Logger(nil) with " + LogEnv + " does not log debug to stderr")
	}
}

// fatalRecorder is a testing.TB whose Fatalf records instead of stopping.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func TestMustHex(t *testing.T) {
	for in, want := range map[string]string{
		"0011":       "\x00\x11",
		"E8329BFD\r": "\xe8\x32\x9b\xfd",
		" e8329bfd ": "\xe8\x32\x9b\xfd",
		"":           "",
	} {
		if got := MustHex(t, in); string(got) != want {
			t.Errorf("MustHex(%q) = %x, want %x", in, got, want)
		}
	}
	for _, in := range []string{"001", "0G", "00 11"} {
		r := &fatalRecorder{TB: t}
		MustHex(r, in)
		if !strings.Contains(r.fatal, fmt.Sprintf("%q", in)) {
			t.Errorf("MustHex(%q) did not fail naming the input: %q", in, r.fatal)
		}
	}
}
