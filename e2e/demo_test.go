package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clinicsms/smsd/internal/testutil"
)

// startTyped starts smsd with args and a stdin the test types to; stdout
// and stderr can be read while it runs (testutil.Buffer: the child's output
// and the test read it at once).
func startTyped(t *testing.T, args ...string) (c *exec.Cmd, stdin io.WriteCloser, stdout, stderr *testutil.Buffer) {
	t.Helper()
	c = exec.Command(smsdBin, args...)
	stdin, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr = &testutil.Buffer{}, &testutil.Buffer{}
	c.Stdout, c.Stderr = stdout, stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	return c, stdin, stdout, stderr
}

// TestDemo runs `smsd demo` as the README tells a newcomer to, and uses its
// phone panel: the two demo reminders reach the emulated handsets, a typed
// HELP reply is answered with the help text, a STOP reply opts the number
// out so that a new reminder to it is refused, and Ctrl-C removes the
// temporary data directory. The web UI it prints lets its demo admin sign
// in. (It listens on a free port here; the README's demo takes 8080.)
func TestDemo(t *testing.T) {
	c, stdin, out, errb := startTyped(t, "demo", "-for", "3m", "-listen", "127.0.0.1:0")
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	defer func() {
		if c.ProcessState == nil {
			c.Process.Kill()
		}
	}()
	waitOut := func(what string, within time.Duration, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !ok(out.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\nstdout:\n%s\nstderr:\n%s", what, out.String(), errb.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	say := func(line string) {
		t.Helper()
		if _, err := io.WriteString(stdin, line+"\n"); err != nil {
			t.Fatalf("typing %q: %v", line, err)
		}
	}

	waitOut("the two demo reminders on the handsets", 60*time.Second, func(s string) bool {
		return strings.Contains(s, "[handset") && strings.Count(s, "[handset") >= 2
	})
	if !strings.Contains(out.String(), "+15551230002 (1 part(s), UCS-2): Rappel : rendez-vous jeudi à 14h30 — répondez C pour confirmer 🙂") {
		t.Errorf("the UCS-2 demo reminder did not arrive intact:\n%s", out.String())
	}
	dir := regexp.MustCompile(`data directory \((\S+)\)`).FindStringSubmatch(out.String())
	if dir == nil {
		t.Fatalf("demo did not name its data directory:\n%s", out.String())
	}

	waitOut("the web UI's address and the demo admin's password", 30*time.Second, func(s string) bool {
		return strings.Contains(s, "[demo] web UI: ")
	})
	webLine := regexp.MustCompile(`\[demo\] web UI: (http://127\.0\.0\.1:\d+/)\s+\(sign in as admin, password (\S+)\)`).FindStringSubmatch(out.String())
	if webLine == nil {
		t.Fatalf("demo did not print its web UI's address and admin password in the expected form:\n%s", out.String())
	}
	demoSignIn(t, webLine[1], "admin", webLine[2])

	say("reply +15551230002 HELP")
	waitOut("the help text sent back to the handset", 30*time.Second, func(s string) bool {
		return strings.Contains(s, "+15551230002 (1 part(s), GSM-7): Appointment reminders from your clinic.")
	})

	say("reply +15551230002 STOP")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), `"STOP"`) {
		if time.Now().After(deadline) {
			t.Fatalf("STOP never showed in the inbox:\n%s", out.String())
		}
		say("inbox")
		time.Sleep(300 * time.Millisecond)
	}
	say("send +15551230002 another reminder")
	waitOut("the send to the opted-out number refused", 20*time.Second, func(s string) bool {
		return strings.Contains(s, "[demo] refused: the recipient has opted out")
	})
	say("send +15551234567 See you at 9")
	waitOut("a typed reminder on the handset", 30*time.Second, func(s string) bool {
		return strings.Contains(s, "+15551234567 (1 part(s), GSM-7): See you at 9")
	})
	say("bogus")
	waitOut("an unknown command explained", 10*time.Second, func(s string) bool {
		return strings.Contains(s, `[demo] unknown command "bogus"; type help`)
	})

	c.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("demo exited with %v after Ctrl-C\n%s", err, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo still running 20 s after Ctrl-C")
	}
	if !strings.Contains(out.String(), "temporary data removed") {
		t.Errorf("no goodbye:\n%s", out.String())
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Errorf("demo data directory %s still there after Ctrl-C: %v", dir[1], err)
	}
}

// demoSignIn signs in to the web UI at base as a browser would (a cookie
// jar, the sign-in form) and checks that the home page is then served to
// the signed-in person and the sign-in page answers a wrong password.
func demoSignIn(t *testing.T, base, username, password string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	post := func(pw string) (*http.Response, string) {
		t.Helper()
		resp, err := hc.PostForm(base+"signin", url.Values{"username": {username}, "password": {pw}})
		if err != nil {
			t.Fatalf("sign in to the demo's web UI: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := post(password + "x"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `id="error"`) {
		t.Errorf("a wrong password: %s, want 401 with the sign-in form's error\n%.600s", resp.Status, body)
	}
	resp, body := post(password)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" || !strings.Contains(body, `id="signout"`) {
		t.Fatalf("the demo admin's sign-in: %s at %s, want 200 at / with a sign-out button\n%.600s", resp.Status, resp.Request.URL, body)
	}
}
