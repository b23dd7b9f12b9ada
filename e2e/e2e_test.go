// Package e2e runs the real smsd binary as separate processes against the
// emulated modem, which this test process hosts on a pseudo-terminal (so the
// handset log survives the daemon being killed, and the test can unplug,
// replug and hang the modem).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clinicsms/smsd/internal/testutil"
	"github.com/clinicsms/smsd/modem/emulator"
	"github.com/clinicsms/smsd/queue"
)

var smsdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "smsd-e2e-bin")
	if err != nil {
		panic(err)
	}
	smsdBin = filepath.Join(dir, "smsd")
	out, err := exec.Command("go", "build", "-o", smsdBin, "github.com/clinicsms/smsd/cmd/smsd").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building smsd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// rig is one data directory, one emulated modem and the daemon's config.
type rig struct {
	t       *testing.T
	dir     string
	data    string
	conf    string
	emu     *emulator.Emulator
	serve   *exec.Cmd
	logs    *testutil.Buffer
	exited  chan error
	env     []string
	serveNo int
	// listen is the web UI's address (127.0.0.1 and a port that was free
	// when the rig first started the daemon), so that tests never fight
	// over the default port; serveArgs are more flags for smsd serve.
	listen    string
	serveArgs []string
	// setupCode is the one-time code of the web UI's first-run setup, as
	// smsd init printed it.
	setupCode string
}

// setupCodeRe finds the line of smsd init that gives the web UI's one-time
// setup code.
var setupCodeRe = regexp.MustCompile(`(?m)setup code:\s*(\S+)`)

// setupCodeFrom returns the setup code in smsd init's output, or "".
func setupCodeFrom(out string) string {
	if m := setupCodeRe.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// freeAddr returns 127.0.0.1 and a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{t: t, dir: dir, data: filepath.Join(dir, "data"), conf: filepath.Join(dir, "smsd.toml")}
	emu, err := emulator.Start(emulator.Config{Link: filepath.Join(dir, "tty"), StatusReportDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.emu = emu
	t.Cleanup(func() { emu.Close() })
	conf := fmt.Sprintf(`
modem = %q
rate_limit = "0s"
command_timeout = "1s"
send_timeout = "3s"
health_interval = "1s"
reconnect_max = "500ms"
stall_timeout = "20s"
log_level = "debug"
`, emu.Path())
	if err := os.WriteFile(r.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code := r.cmd("init")
	if code != 0 {
		t.Fatalf("smsd init: exit %d\n%s%s", code, out, errs)
	}
	r.setupCode = setupCodeFrom(out + errs)
	t.Cleanup(func() { r.stop() })
	return r
}

// cmd runs smsd with the rig's config and data dir; it returns stdout,
// stderr and the exit code.
func (r *rig) cmd(args ...string) (string, string, int) {
	r.t.Helper()
	return r.smsdWith(r.data, nil, args...)
}

// smsdWith runs smsd with the rig's config, data directory data and stdin
// (nil: none, as for cmd); it returns stdout, stderr and the exit code.
func (r *rig) smsdWith(data string, stdin io.Reader, args ...string) (string, string, int) {
	r.t.Helper()
	full := append([]string{args[0], "-config", r.conf, "-data-dir", data}, args[1:]...)
	c := exec.Command(smsdBin, full...)
	c.Stdin = stdin
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("smsd %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// cmdStdin runs smsd like cmd with stdin as its input; it returns stdout
// and stderr together, and the exit code.
func (r *rig) cmdStdin(stdin string, args ...string) (string, int) {
	r.t.Helper()
	full := append([]string{args[0], "-config", r.conf, "-data-dir", r.data}, args[1:]...)
	c := exec.Command(smsdBin, full...)
	c.Stdin = strings.NewReader(stdin)
	out, err := c.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("smsd %v: %v", args, err)
	}
	return string(out), code
}

func (r *rig) run(args ...string) string {
	r.t.Helper()
	out, errs, code := r.cmd(args...)
	if code != 0 {
		r.t.Fatalf("smsd %v: exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

// start starts smsd serve and waits until it answers smsd status.
func (r *rig) start() {
	r.t.Helper()
	r.serveNo++
	r.logs = &testutil.Buffer{}
	if r.listen == "" {
		r.listen = freeAddr(r.t)
	}
	args := []string{"serve", "-config", r.conf, "-data-dir", r.data, "-listen", r.listen}
	c := exec.Command(smsdBin, append(args, r.serveArgs...)...)
	c.Stderr = r.logs
	c.Env = append(os.Environ(), r.env...)
	if err := c.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.serve = c
	r.exited = make(chan error, 1)
	go func() { r.exited <- c.Wait() }()
	r.waitFor("daemon answering smsd status", 20*time.Second, func() bool {
		_, _, code := r.cmd("status")
		return code == 0
	})
}

// stop sends SIGTERM and returns how long the daemon took to exit.
func (r *rig) stop() time.Duration {
	if r.serve == nil {
		return 0
	}
	t0 := time.Now()
	r.serve.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.exited:
		if err != nil {
			r.t.Errorf("smsd serve exited with %v after SIGTERM\n%s", err, r.logs)
		}
	case <-time.After(15 * time.Second):
		r.serve.Process.Kill()
		<-r.exited
		r.t.Errorf("smsd serve still running 15 s after SIGTERM")
	}
	r.serve = nil
	return time.Since(t0)
}

func (r *rig) kill() {
	r.serve.Process.Signal(syscall.SIGKILL)
	<-r.exited
	r.serve = nil
}

func (r *rig) waitFor(what string, d time.Duration, ok func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			logs := ""
			if r.logs != nil {
				logs = r.logs.String()
				if len(logs) > 6000 {
					logs = logs[len(logs)-6000:]
				}
			}
			r.t.Fatalf("timed out waiting for %s\nstatus: %s\ndaemon log tail:\n%s", what, r.statusText(), logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *rig) statusText() string {
	out, errs, _ := r.cmd("status")
	return out + errs
}

// queue reads smsd status -json's queue counts.
func (r *rig) queue() map[string]int {
	out, _, _ := r.cmd("status", "-json")
	var st struct {
		Queue map[string]int `json:"queue"`
	}
	json.Unmarshal([]byte(out), &st)
	return st.Queue
}

// openStore opens the store in the test process (the daemon must be stopped).
func (r *rig) openStore() *queue.Store {
	r.t.Helper()
	s, err := queue.Open(context.Background(), filepath.Join(r.data, "smsd.db"), queue.KeySource{KeyFile: filepath.Join(r.data, "smsd.key")}, queue.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// handsetCounts counts how often each text reached the handset.
func (r *rig) handsetCounts() map[string]int {
	n := map[string]int{}
	for _, m := range r.emu.Handset() {
		n[m.To+"|"+m.Text]++
	}
	return n
}

// TestEndToEnd: 20 messages of mixed encodings and lengths through smsd send,
// each exactly once on the handset with identical text, all delivered; an
// inbound STOP opts out and the next send is refused.
func TestEndToEnd(t *testing.T) {
	r := newRig(t)
	r.start()
	texts := []string{
		"Reminder: appointment tomorrow at 9:00.",
		"Ünïcödé: Café crème at 10h — see you!",
		"Emoji 😀 confirm with C",
		"GSM escapes: {curly} [square] ~tilde~ ^caret^ \\backslash\\ |pipe| €uro",
		strings.Repeat("Long GSM-7 reminder text. ", 12),    // 3 parts
		strings.Repeat("Длинное напоминание о визите. ", 6), // UCS-2 multipart
		"日本語のリマインダー",
		"x",
		strings.Repeat("a", 160), // exactly one GSM-7 part
		strings.Repeat("b", 161), // two parts
		strings.Repeat("€", 80),  // escapes: 160 septets, one part
		strings.Repeat("€", 81),  // two parts
		strings.Repeat("ü", 70),  // GSM-7 (ü is in the default alphabet)
		strings.Repeat("ą", 70),  // UCS-2, one part
		strings.Repeat("ą", 71),  // UCS-2, two parts
		"Line one\nLine two\r\nLine three",
		"Quotes \"double\" and 'single' and @ sign",
		"Dr. Smith: bring your insurance card.",
		"Mixed 中文 and English",
		"Last one: reply STOP to opt out",
	}
	for i, text := range texts {
		to := fmt.Sprintf("+1555200%04d", i)
		out := r.run("send", "-to", to, "-text", text)
		if !strings.Contains(out, "queued message") {
			t.Fatalf("send %d: %q", i, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := r.emu.WaitHandset(ctx, len(texts)); err != nil {
		t.Fatalf("%v\n%s", err, r.statusText())
	}
	counts := r.handsetCounts()
	for i, text := range texts {
		key := fmt.Sprintf("+1555200%04d|%s", i, text)
		if counts[key] != 1 {
			t.Errorf("message %d arrived %d times (want exactly once): %q", i, counts[key], text)
		}
	}
	if got := len(r.emu.Handset()); got != len(texts) {
		t.Errorf("handset has %d messages, want %d", got, len(texts))
	}
	r.waitFor("all delivered", 30*time.Second, func() bool { return r.queue()["delivered"] == len(texts) })

	// An inbound STOP opts the number out.
	stopper := "+15552000003"
	if err := r.emu.Inject(stopper, "STOP"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("STOP in the inbox", 20*time.Second, func() bool {
		out, _, _ := r.cmd("inbox", "-json")
		return strings.Contains(out, `"text": "STOP"`)
	})
	out := r.run("inbox", "-json")
	var items []map[string]any
	if err := json.Unmarshal([]byte(out), &items); err != nil || len(items) != 1 {
		t.Fatalf("inbox -json: %v %s", err, out)
	}
	if items[0]["from"] != stopper || items[0]["reply_to"] == nil || items[0]["received_at"] == "" {
		t.Errorf("inbox item %v: want from %s, reply_to set", items[0], stopper)
	}
	sout, serr, code := r.cmd("send", "-to", stopper, "-text", "another reminder")
	if code != 1 || !strings.Contains(serr, "opted out") || strings.Contains(serr, stopper) {
		t.Fatalf("send to opted-out number: exit %d, stdout %q, stderr %q (want exit 1, a clear error, no number in clear)", code, sout, serr)
	}
	// An invalid number is refused too.
	if _, serr, code := r.cmd("send", "-to", "12", "-text", "x"); code != 1 || !strings.Contains(serr, "invalid phone number") {
		t.Fatalf("invalid number: exit %d %q", code, serr)
	}
	// A PDU that cannot be decoded is kept (sealed, raw) and listed, and the
	// daemon goes on.
	if err := r.emu.InjectPDU([]byte{0x00, 0x04, 0x0B, 0x91, 0x51, 0x55, 0x02, 0x00, 0x00, 0xF9, 0x00, 0x08, 0xFF}); err != nil {
		t.Fatal(err)
	}
	r.waitFor("undecodable PDU in the inbox", 20*time.Second, func() bool {
		out, _, _ := r.cmd("inbox", "-json")
		return strings.Contains(out, `"decode_error"`)
	})
	if !strings.Contains(r.statusText(), "modem1 ready") {
		t.Errorf("daemon unhappy after a bad PDU: %s", r.statusText())
	}
	if d := r.stop(); d > 10*time.Second {
		t.Errorf("SIGTERM to exit took %v, want < 10 s", d)
	}
	if strings.Contains(r.logs.String(), "+15552000003") || strings.Contains(r.logs.String(), "insurance card") {
		t.Errorf("daemon log contains PHI")
	}
}

// TestNotify: sd_notify READY=1, STATUS=, WATCHDOG=1, STOPPING=1.
func TestNotify(t *testing.T) {
	r := newRig(t)
	sock := filepath.Join(r.dir, "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r.env = []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=400000"}
	r.start()
	seen := map[string]string{}
	buf := make([]byte, 4096)
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < 3 && time.Now().Before(deadline) {
		c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		msg := string(buf[:n])
		k, _, _ := strings.Cut(msg, "=")
		seen[k] = msg
	}
	for _, k := range []string{"READY", "STATUS", "WATCHDOG"} {
		if seen[k] == "" {
			t.Errorf("no %s= notification; got %v", k, seen)
		}
	}
	if !strings.Contains(seen["STATUS"], "modem1") && !strings.Contains(seen["STATUS"], "queue") {
		t.Errorf("STATUS %q has no modem/queue summary", seen["STATUS"])
	}
	r.serve.Process.Signal(syscall.SIGTERM)
	stopping := false
	deadline = time.Now().Add(12 * time.Second)
	for !stopping && time.Now().Before(deadline) {
		c.SetReadDeadline(deadline)
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		stopping = string(buf[:n]) == "STOPPING=1"
	}
	if !stopping {
		t.Error("no STOPPING=1 after SIGTERM")
	}
	r.stop()
}

// TestKillRestart: SIGKILL the daemon at random points during a 200-message
// run (>= 10 kills), restart: nothing lost, nothing sent twice; a message
// that may have gone out unconfirmed is uncertain, never sent twice.
func TestKillRestart(t *testing.T) {
	r := newRig(t)
	const n = 200
	s := r.openStore()
	for i := range n {
		if _, err := s.Enqueue(context.Background(), queue.NewMessage{To: fmt.Sprintf("+1555300%04d", i), Text: fmt.Sprintf("kill test %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// A slow modem (20 ms an answer: a message takes 40 ms or more) makes
	// the run long enough to cut. Kill i waits until the run has got i/13 of
	// the way (so the 12 kills spread over the whole run whatever the
	// machine's speed), then a random moment more, so that it lands at a
	// random step of a send: claimed, at the prompt, mid-PDU, waiting for
	// +CMGS, recording the result.
	r.emu.SetLatency(20 * time.Millisecond)
	const kills = 12
	for i := 1; i <= kills; i++ {
		r.start()
		target := i * n / (kills + 1)
		r.waitFor(fmt.Sprintf("%d messages out before kill %d", target, i), 90*time.Second, func() bool { return len(r.emu.Handset()) >= target })
		time.Sleep(time.Duration(rand.IntN(80)) * time.Millisecond)
		sent := len(r.emu.Handset())
		r.kill()
		if sent >= n {
			t.Fatalf("kill %d came after the run finished: it shows nothing", i)
		}
		t.Logf("kill %d: %d messages on the handset so far", i, sent)
	}
	r.start()
	r.waitFor("queue drained", 90*time.Second, func() bool {
		q := r.queue()
		return q != nil && q["queued"] == 0 && q["sending"] == 0
	})
	time.Sleep(500 * time.Millisecond) // last status reports
	r.stop()
	s = r.openStore()
	defer s.Close()
	msgs, err := s.List(context.Background(), queue.ListFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n {
		t.Fatalf("store has %d messages, want %d", len(msgs), n)
	}
	counts := r.handsetCounts()
	states := map[queue.State]int{}
	for _, m := range msgs {
		states[m.State]++
		c := counts[m.To+"|"+m.Text]
		switch m.State {
		case queue.Sent, queue.Delivered:
			if c != 1 {
				t.Errorf("message %d is %s but reached the handset %d times", m.ID, m.State, c)
			}
		case queue.Uncertain:
			if c > 1 {
				t.Errorf("uncertain message %d reached the handset %d times", m.ID, c)
			}
		default:
			t.Errorf("message %d ended %s (last error %q): lost?", m.ID, m.State, m.LastError)
		}
	}
	for k, c := range counts {
		if c > 1 {
			t.Errorf("duplicate on the handset: %q x%d", k, c)
		}
	}
	// A kill can catch at most the one message in flight (one modem).
	if states[queue.Uncertain] > kills {
		t.Errorf("%d messages uncertain after %d kills; at most one each", states[queue.Uncertain], kills)
	}
	t.Logf("%d kills; states %v; handset %d messages", kills, states, len(r.emu.Handset()))
}

// TestUnplugReplug: the modem is unplugged and replugged 5 times during a
// run; every message goes out (or, if cut off mid-part, is uncertain: never
// twice).
func TestUnplugReplug(t *testing.T) {
	r := newRig(t)
	// Queued before the daemon starts (smsd send writes to the store when no
	// daemon runs), so that the whole run lies ahead of the unplugs however
	// slow the machine is at starting 60 processes.
	const n = 60
	for i := range n {
		r.run("send", "-to", fmt.Sprintf("+1555400%04d", i), "-text", fmt.Sprintf("unplug test %d %s", i, strings.Repeat("z", i*5)))
	}
	// A slow modem, so that the run lasts long enough to be cut 5 times.
	r.emu.SetLatency(15 * time.Millisecond)
	r.start()
	// Each unplug waits for the run to get a little further (so all five
	// land between the first and the last message, whatever the machine's
	// speed), then a random moment more, so that it cuts a send at a random
	// step: before the prompt, mid-PDU, waiting for +CMGS.
	const unplugs = 5
	base := len(r.emu.Handset())
	if base > n/2 {
		t.Fatalf("%d of %d messages out before the first unplug: too few left to cut", base, n)
	}
	for i := range unplugs {
		r.waitFor(fmt.Sprintf("progress before unplug %d", i+1), 60*time.Second, func() bool { return len(r.emu.Handset()) >= base+(i+1)*(n-base)/(unplugs+2) })
		time.Sleep(time.Duration(rand.IntN(60)) * time.Millisecond)
		on := len(r.emu.Handset())
		r.emu.Unplug()
		if on >= n {
			t.Fatalf("unplug %d came after the run finished: the test shows nothing", i+1)
		}
		t.Logf("unplug %d with %d of %d on the handset", i+1, on, n)
		time.Sleep(300 * time.Millisecond)
		if err := r.emu.Replug(); err != nil {
			t.Fatal(err)
		}
	}
	r.waitFor("queue drained after replugs", 90*time.Second, func() bool {
		q := r.queue()
		return q != nil && q["queued"] == 0 && q["sending"] == 0
	})
	q := r.queue()
	if q["sent"]+q["delivered"] != n {
		t.Logf("not all sent: %v (sending/uncertain are parts cut off by the unplug)", q)
	}
	r.stop()
	s := r.openStore()
	defer s.Close()
	msgs, _ := s.List(context.Background(), queue.ListFilter{Limit: 1000})
	counts := r.handsetCounts()
	out := 0
	for _, m := range msgs {
		c := counts[m.To+"|"+m.Text]
		switch m.State {
		case queue.Sent, queue.Delivered:
			out++
			if c != 1 {
				t.Errorf("message %d %s reached the handset %d times", m.ID, m.State, c)
			}
		case queue.Uncertain:
			if c > 1 {
				t.Errorf("uncertain message %d reached the handset %d times", m.ID, c)
			}
		default:
			t.Errorf("message %d ended %s (%s)", m.ID, m.State, m.LastError)
		}
	}
	// An unplug can cut at most the one part in flight: more uncertain
	// messages than unplugs would mean the daemon gives up on messages it
	// never sent.
	if uncertain := len(msgs) - out; uncertain > unplugs {
		t.Errorf("%d messages uncertain after %d unplugs; at most one each", uncertain, unplugs)
	}
	if len(msgs) != n {
		t.Errorf("store has %d messages, want %d", len(msgs), n)
	}
	t.Logf("%d unplugs: %d of %d sent, the rest uncertain; handset had %d", unplugs, out, n, len(r.emu.Handset()))
}

// TestHang: the modem stops answering; the daemon notices (command timeout),
// reconnects when it answers again, and the queued messages go out.
func TestHang(t *testing.T) {
	r := newRig(t)
	r.start()
	r.waitFor("modem ready", 20*time.Second, func() bool { return strings.Contains(r.statusText(), "modem1 ready") })
	r.emu.Hang()
	for i := range 5 {
		r.run("send", "-to", fmt.Sprintf("+1555500%04d", i), "-text", fmt.Sprintf("hang test %d", i))
	}
	r.waitFor("the hang noticed (modem not ready)", 20*time.Second, func() bool {
		st := r.statusText()
		if strings.Contains(st, "not ready") {
			t.Logf("hang noticed: %s", st)
			return true
		}
		return false
	})
	r.emu.Unhang()
	r.waitFor("messages out after the hang", 60*time.Second, func() bool {
		q := r.queue()
		return q["sent"]+q["delivered"] == 5
	})
	if c := r.handsetCounts(); len(c) != 5 {
		t.Errorf("handset %v", c)
	}
	r.stop()
}

// TestLockedMode: a passphrase store: the daemon serves but holds the queue
// until smsd key unlock gets the right passphrase.
func TestLockedMode(t *testing.T) {
	dir := t.TempDir()
	emu, err := emulator.Start(emulator.Config{Link: filepath.Join(dir, "tty")})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	r := &rig{t: t, dir: dir, data: filepath.Join(dir, "data"), conf: filepath.Join(dir, "smsd.toml"), emu: emu}
	os.WriteFile(r.conf, []byte(fmt.Sprintf("modem = %q\nrate_limit = \"0s\"\nkey_source = \"passphrase\"\n", emu.Path())), 0o600)
	if out, code := r.cmdStdin("correct horse battery\n", "init", "-passphrase"); code != 0 {
		t.Fatalf("init -passphrase: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(r.data, "smsd.key")); !os.IsNotExist(err) {
		t.Errorf("locked mode created a key file: %v", err)
	}
	t.Cleanup(func() { r.stop() })
	r.start()
	if st := r.statusText(); !strings.Contains(st, "LOCKED") {
		t.Errorf("status of a locked daemon: %s", st)
	}
	if _, serr, code := r.cmd("send", "-to", "+15558000001", "-text", "locked"); code != 1 || !strings.Contains(serr, "smsd key unlock") {
		t.Errorf("send while locked: exit %d %q", code, serr)
	}
	if out, code := r.cmdStdin("wrong passphrase\n", "key", "unlock"); code != 1 || !strings.Contains(out, "wrong passphrase") {
		t.Errorf("unlock with a wrong passphrase: exit %d %q", code, out)
	}
	if out, code := r.cmdStdin("correct horse battery\n", "key", "unlock"); code != 0 {
		t.Fatalf("unlock: exit %d %q", code, out)
	}
	r.run("send", "-to", "+15558000001", "-text", "after unlock")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := emu.WaitHandset(ctx, 1); err != nil {
		t.Fatalf("%v\n%s", err, r.statusText())
	}
}

// TestSIGTERMMidSend: SIGTERM while a slow modem is in the middle of a
// multipart message: the daemon exits within 10 s, and after a restart the
// message is complete on the handset exactly once.
func TestSIGTERMMidSend(t *testing.T) {
	r := newRig(t)
	r.start()
	r.waitFor("modem ready", 20*time.Second, func() bool { return strings.Contains(r.statusText(), "modem1 ready") })
	cmgs := make(chan struct{}, 8)
	r.emu.OnCommand(func(cmd string, _ time.Time) {
		if strings.HasPrefix(cmd, "AT+CMGS") {
			select {
			case cmgs <- struct{}{}:
			default:
			}
		}
	})
	r.emu.SetLatency(700 * time.Millisecond)
	text := strings.Repeat("Three part reminder text for the shutdown test. ", 7)
	r.run("send", "-to", "+15559000001", "-text", text)
	select {
	case <-cmgs:
	case <-time.After(20 * time.Second):
		t.Fatal("no AT+CMGS")
	}
	if d := r.stop(); d > 10*time.Second {
		t.Errorf("SIGTERM mid-send: exit took %v, want < 10 s", d)
	}
	r.emu.SetLatency(0)
	r.start()
	r.waitFor("message out after restart", 30*time.Second, func() bool {
		q := r.queue()
		return q["sent"]+q["delivered"]+q["uncertain"] == 1
	})
	time.Sleep(300 * time.Millisecond)
	if c := r.handsetCounts()["+15559000001|"+text]; c > 1 {
		t.Errorf("message reached the handset %d times", c)
	}
	t.Logf("after SIGTERM mid-send and restart: %v, handset %d", r.queue(), len(r.emu.Handset()))
	r.stop()
}

// TestSIGHUP: SIGHUP re-reads the config and applies log_level.
func TestSIGHUP(t *testing.T) {
	r := newRig(t)
	r.start()
	b, _ := os.ReadFile(r.conf)
	os.WriteFile(r.conf, bytes.Replace(b, []byte(`log_level = "debug"`), []byte(`log_level = "warn"`), 1), 0o600)
	r.serve.Process.Signal(syscall.SIGHUP)
	r.waitFor("reload logged", 10*time.Second, func() bool {
		return strings.Contains(r.logs.String(), "SIGHUP: configuration reloaded") && strings.Contains(r.logs.String(), "log_level=warn")
	})
	r.stop()
}

// TestUserViaDaemon: smsd user talks to a running daemon (which holds the
// store) and the account is there after the daemon stops.
func TestUserViaDaemon(t *testing.T) {
	r := newRig(t)
	r.start()
	if out, code := r.cmdStdin("first admin password\n", "user", "add", "-role", "admin", "-name", "Dana Admin", "dana"); code != 0 || !strings.Contains(out, "created admin account dana") {
		t.Fatalf("user add through the daemon: exit %d %q", code, out)
	}
	if out, code := r.cmdStdin("short\n", "user", "passwd", "dana"); code != 1 || !strings.Contains(out, "too short") {
		t.Errorf("short password through the daemon: exit %d %q", code, out)
	}
	out := r.run("user", "list")
	if !strings.Contains(out, "dana") || !strings.Contains(out, "admin") || !strings.Contains(out, "Dana Admin") {
		t.Errorf("user list: %q", out)
	}
	if strings.Contains(r.logs.String(), "first admin password") {
		t.Error("the daemon logged a password")
	}
	r.stop()
	s := r.openStore()
	defer s.Close()
	u, err := s.UserByName(context.Background(), "dana")
	if err != nil || u.Role != queue.RoleAdmin {
		t.Fatalf("dana after the daemon stopped: %+v %v", u, err)
	}
}

// TestModemProbe: smsd modem probe against the emulated modem shows its
// health with the IMEI masked; a modem that is not registered is a clear
// error; a probe under a running daemon is refused (two programs on one
// modem garble each other's answers).
func TestModemProbe(t *testing.T) {
	r := newRig(t)
	probe := func() (string, string, int) {
		return r.cmd("modem", "probe", "-device", r.emu.Path(), "-timeout", "20s")
	}
	out, errs, code := probe()
	if code != 0 || !strings.Contains(out, "ready: this modem can send") || !strings.Contains(out, "network:") {
		t.Fatalf("probe: exit %d\n%s%s", code, out, errs)
	}
	if strings.Contains(out, "356938035643809") || !strings.Contains(out, "IMEI:") {
		t.Errorf("probe shows the IMEI in full or not at all:\n%s", out)
	}
	r.emu.SetRegistered(3) // registration denied
	out, errs, code = probe()
	if code != 1 || !strings.Contains(errs, "not registered") || !strings.Contains(out, "network:") {
		t.Errorf("probe of a denied modem: exit %d\n%s%s", code, out, errs)
	}
	r.emu.SetRegistered(1)
	r.start()
	if _, errs, code := probe(); code != 1 || !strings.Contains(errs, "smsd serve is running") {
		t.Errorf("probe under a running daemon: exit %d %s", code, errs)
	}
}

// TestKeyRotateViaDaemon: smsd key rotate under a running daemon seals the
// stored messages again under a new data key; they still read back, and the
// daemon keeps sending.
func TestKeyRotateViaDaemon(t *testing.T) {
	r := newRig(t)
	r.start()
	for i := range 3 {
		r.run("send", "-to", fmt.Sprintf("+1555600%04d", i), "-text", fmt.Sprintf("before rotation %d", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := r.emu.WaitHandset(ctx, 3); err != nil {
		t.Fatal(err)
	}
	out := r.run("key", "rotate")
	if !strings.Contains(out, "data key rotated: generation 2") || strings.Contains(out, " 0 row(s)") {
		t.Fatalf("key rotate: %q", out)
	}
	r.run("send", "-to", "+15556000009", "-text", "after rotation")
	if _, err := r.emu.WaitHandset(ctx, 4); err != nil {
		t.Fatal(err)
	}
	r.stop()
	s := r.openStore()
	defer s.Close()
	msgs, err := s.List(context.Background(), queue.ListFilter{Limit: 10})
	if err != nil || len(msgs) != 4 {
		t.Fatalf("after rotation: %d messages, %v", len(msgs), err)
	}
	for _, m := range msgs {
		if !strings.Contains(m.Text, "rotation") {
			t.Errorf("message %d reads %q after the rotation", m.ID, m.Text)
		}
	}
}

// TestWrongPINExitsForGood: a SIM that refuses the configured PIN stops the
// daemon with exit status 78, which the unit's RestartPreventExitStatus
// keeps systemd from restarting (each restart would try the PIN again, and
// three wrong tries lock the SIM). The PIN is tried once.
func TestWrongPINExitsForGood(t *testing.T) {
	r := newRig(t)
	r.emu.RequirePIN("1234")
	b, err := os.ReadFile(r.conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.conf, append(b, []byte("sim_pin = \"9999\"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(smsdBin, "serve", "-config", r.conf, "-data-dir", r.data)
	var logs testutil.Buffer
	c.Stderr = &logs
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		c.Process.Kill()
		<-done
		t.Fatalf("smsd serve still running 60 s after a wrong PIN\n%s", logs.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 78 {
		t.Fatalf("smsd serve with a wrong PIN: %v, want exit status 78\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "refused the configured PIN") || strings.Contains(logs.String(), "9999") {
		t.Errorf("log does not say the PIN was refused, or shows the PIN:\n%s", logs.String())
	}
	if n := r.emu.PINAttempts(); n != 1 {
		t.Errorf("the PIN was tried %d times, want once", n)
	}
	// The audit trail keeps why the box stopped sending: a modem_event row
	// by the system, failed, "PIN refused" (never the PIN).
	rows, _ := r.exportRows("pin.csv")
	found := false
	for _, rec := range rows[1:] {
		found = found || (rec[2] == "system" && rec[5] == "modem_event" && rec[8] == "failed" && strings.Contains(rec[9], "PIN refused") && !strings.Contains(rec[9], "9999"))
	}
	if !found {
		t.Errorf("no failed modem_event row saying the PIN was refused in the audit export: %v", rows)
	}
	unit, err := os.ReadFile("../packaging/smsd.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "\nRestartPreventExitStatus=78\n") {
		t.Error("packaging/smsd.service does not keep systemd from restarting on exit status 78")
	}
}

// TestEmulatorCommand: `smsd emulator -link L` on its own, driven by smsd
// serve like any modem: the handset line shows what was sent, typed
// commands inject a reply and list the handset.
func TestEmulatorCommand(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "tty")
	c, stdin, out, errb := startTyped(t, "emulator", "-link", link, "-report-delay", "50ms")
	defer func() { c.Process.Signal(syscall.SIGTERM); c.Wait() }()
	r := &rig{t: t, dir: dir, data: filepath.Join(dir, "data"), conf: filepath.Join(dir, "smsd.toml")}
	t.Cleanup(func() { r.stop() })
	r.waitFor("the emulator's link", 20*time.Second, func() bool { _, err := os.Stat(link); return err == nil })
	if err := os.WriteFile(r.conf, []byte(fmt.Sprintf("modem = %q\nrate_limit = \"0s\"\n", link)), 0o600); err != nil {
		t.Fatal(err)
	}
	r.run("init")
	r.start()
	r.run("send", "-to", "+15557000001", "-text", "Standalone emulator: see you at 10")
	handset := regexp.MustCompile(`handset: \d\d:\d\d:\d\d to \+15557000001, 1 part\(s\), GSM-7, ref \d+, MR \[\d+\]: Standalone emulator: see you at 10\n`)
	r.waitFor("the handset line", 30*time.Second, func() bool { return handset.MatchString(out.String()) })
	io.WriteString(stdin, "inject +15557000001 C\n")
	r.waitFor("the injected reply in the inbox", 30*time.Second, func() bool {
		o, _, _ := r.cmd("inbox", "-json")
		return strings.Contains(o, `"text": "C"`) && strings.Contains(o, `"from": "+15557000001"`)
	})
	io.WriteString(stdin, "handset\n")
	r.waitFor("the handset listing", 10*time.Second, func() bool {
		return strings.Contains(out.String(), "to +15557000001 (1 parts): Standalone emulator: see you at 10")
	})
	io.WriteString(stdin, "frobnicate\n")
	r.waitFor("an unknown command explained", 10*time.Second, func() bool {
		return strings.Contains(errb.String(), `unknown command "frobnicate"; type help`)
	})
}
