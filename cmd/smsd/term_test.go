package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// TestInitPassphraseAskedTwiceOnATerminal: a passphrase typed at a terminal
// (no echo) is asked twice, so that a typo does not lock the clinic out of
// its own data; two that differ create nothing. From a pipe it is read once
// (scripts), which TestGoldenCLI and the e2e tests cover.
func TestInitPassphraseAskedTwiceOnATerminal(t *testing.T) {
	for _, tc := range []struct {
		name, typed string
		code        int
		says        string
		created     bool
	}{
		{"differ", "correct horse battery\ncorrect horse batterz\n", 1, "differ", false},
		{"same", "correct horse battery\ncorrect horse battery\n", 0, "locked mode", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ptmx, tty, err := pty.Open()
			if err != nil {
				t.Skipf("no pseudo-terminal here: %v", err)
			}
			defer ptmx.Close()
			defer tty.Close()
			if _, err := ptmx.Write([]byte(tc.typed)); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(t.TempDir(), "data")
			var out, errb bytes.Buffer
			env := &cmdEnv{stdin: tty, stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
			code := runMain(context.Background(), env, []string{"init", "-passphrase", "-config", "/dev/null", "-data-dir", data})
			if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.says) {
				t.Fatalf("exit %d, want %d saying %q\nstdout: %s\nstderr: %s", code, tc.code, tc.says, out.String(), errb.String())
			}
			if !strings.Contains(errb.String(), "Same passphrase again: ") {
				t.Errorf("the second prompt was not shown: %q", errb.String())
			}
			if _, err := os.Stat(filepath.Join(data, "smsd.db")); (err == nil) != tc.created {
				t.Errorf("database created: %v, want %v", err == nil, tc.created)
			}
		})
	}
}
