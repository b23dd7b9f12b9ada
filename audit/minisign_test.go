package audit_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/internal/testutil"
)

// minisignVerify runs the auditor's own tool, Debian's minisign, on file
// and sig as an auditor would (`minisign -Vm F.csv -P PUBKEY`, the
// signature in F.csv.minisig) and returns its output and whether it
// accepted them.
func minisignVerify(t *testing.T, bin string, file, sig []byte, pub string) (string, bool) {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "audit-export.csv")
	if err := os.WriteFile(f, file, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f+".minisig", sig, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-Vm", f, "-P", pub)
	out, err := cmd.CombinedOutput()
	if _, exit := err.(*exec.ExitError); err != nil && !exit {
		t.Fatalf("running %s: %v", bin, err)
	}
	return string(out), err == nil
}

// An export is checkable without smsd: Debian's minisign accepts it as
// written (a whole log, and a range that starts in the middle of the
// chain), prints the trusted comment that ParseTrustedComment reads back
// as the export's summary, and refuses every tampered copy that VerifyCSV
// refuses (exit status not 0).
func TestMinisignCLI(t *testing.T) {
	bin := testutil.RequireTool(t, "minisign", "apt-get install minisign, or make deps")
	file, sig, pub, cases := tamperedExports(t)
	out, ok := minisignVerify(t, bin, file, sig, pub.String())
	if !ok {
		t.Fatalf("minisign refuses the untouched export:\n%s", out)
	}
	comment := trustedComment(t, sig)
	if !strings.Contains(out, "Trusted comment: "+comment) {
		t.Errorf("minisign does not show the trusted comment %q:\n%s", comment, out)
	}
	if _, err := audit.ParseTrustedComment(comment); err != nil {
		t.Error(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if out, ok := minisignVerify(t, bin, tc.csv, tc.sig, pub.String()); ok {
				t.Errorf("minisign accepts the tampered export:\n%s", out)
			}
		})
	}

	t.Run("a range export", func(t *testing.T) {
		db := openDB(t)
		appendAll(t, db, someEvents(10)...)
		pub, key := newKey(t)
		file, sig, sum := export(t, db, t0.Add(3*time.Minute), t0.Add(6*time.Minute), key)
		if sum.First != 4 || !bytes.HasPrefix(lines(file)[1], []byte("4,")) {
			t.Fatalf("the range export does not start at row 4: %+v", sum)
		}
		out, ok := minisignVerify(t, bin, file, sig, pub.String())
		if !ok || !strings.Contains(out, "Trusted comment: "+sum.TrustedComment()) {
			t.Errorf("minisign on a range export: accepted %v:\n%s", ok, out)
		}
	})
}
