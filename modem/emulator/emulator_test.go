package emulator

import (
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/internal/testutil"
	"github.com/clinicsms/smsd/modem/pdu"
	"go.bug.st/serial"
)

// client is a bare serial client on the emulator's pty, to check the bytes
// the emulator sends (the modem package's tests check the full behaviour).
type client struct {
	t    *testing.T
	port serial.Port
	buf  []byte
}

func dial(t *testing.T, e *Emulator) *client {
	t.Helper()
	p, err := serial.Open(e.Path(), &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatal(err)
	}
	p.SetReadTimeout(50 * time.Millisecond)
	t.Cleanup(func() { p.Close() })
	return &client{t: t, port: p}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.port.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// until reads until the output ends with suffix and returns it all.
func (c *client) until(suffix string) string {
	c.t.Helper()
	// Generous: only a broken emulator takes this long, a busy machine does not.
	deadline := time.Now().Add(15 * time.Second)
	b := make([]byte, 256)
	for !strings.HasSuffix(string(c.buf), suffix) {
		if time.Now().After(deadline) {
			c.t.Fatalf("waiting for %q, got %q", suffix, c.buf)
		}
		n, _ := c.port.Read(b)
		c.buf = append(c.buf, b[:n]...)
	}
	out := string(c.buf)
	c.buf = nil
	return out
}

func (c *client) cmd(cmd, final string) string {
	c.t.Helper()
	c.send(cmd + "\r")
	return c.until(final + "\r\n")
}

func start(t *testing.T, cfg Config) *Emulator {
	t.Helper()
	if cfg.Link == "" {
		cfg.Link = filepath.Join(t.TempDir(), "ttySIM0")
	}
	e, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestEchoUntilATE0AndErrorModes(t *testing.T) {
	e := start(t, Config{})
	c := dial(t, e)
	if got := c.cmd("AT", "OK"); got != "AT\r\r\nOK\r\n" {
		t.Fatalf("echoed AT: %q", got)
	}
	if got := c.cmd("ATE0", "OK"); got != "ATE0\r\r\nOK\r\n" {
		t.Fatalf("ATE0: %q", got)
	}
	if got := c.cmd("AT", "OK"); got != "\r\nOK\r\n" {
		t.Fatalf("after ATE0: %q", got)
	}
	e.RequirePIN("1234")
	if got := c.cmd("AT+CIMI", "ERROR"); got != "\r\nERROR\r\n" {
		t.Fatalf("CMEE=0: %q", got)
	}
	c.cmd("AT+CMEE=1", "OK")
	if got := c.cmd("AT+CIMI", "11"); got != "\r\n+CME ERROR: 11\r\n" {
		t.Fatalf("CMEE=1: %q", got)
	}
	c.cmd("AT+CMEE=2", "OK")
	if got := c.cmd("AT+CIMI", "required"); got != "\r\n+CME ERROR: SIM PIN required\r\n" {
		t.Fatalf("CMEE=2: %q", got)
	}
	if got := c.cmd("AT+CPIN?", "OK"); !strings.Contains(got, "+CPIN: SIM PIN") {
		t.Fatalf("CPIN?: %q", got)
	}
	if got := c.cmd(`AT+CPIN="0000"`, "password"); !strings.Contains(got, "incorrect password") {
		t.Fatalf("wrong PIN: %q", got)
	}
	c.cmd(`AT+CPIN="1234"`, "OK")
	if got := c.cmd("AT+CPIN?", "OK"); !strings.Contains(got, "READY") {
		t.Fatalf("CPIN? after PIN: %q", got)
	}
	if e.PINAttempts() != 2 {
		t.Fatalf("PIN attempts %d", e.PINAttempts())
	}
	if got := c.cmd("AT+CSCS?", "OK"); !strings.Contains(got, `+CSCS: "IRA"`) {
		t.Fatalf("CSCS?: %q", got)
	}
	if got := c.cmd("AT+NOSUCH", "ERROR"); got != "\r\nERROR\r\n" {
		t.Fatalf("unknown command: %q", got)
	}
	if got := c.cmd("AT+CMGS=?", "OK"); got != "\r\nOK\r\n" {
		t.Fatalf("CMGS=?: %q", got)
	}
	if got := c.cmd("AT+CMGF=0;+CSQ", "OK"); !strings.Contains(got, "+CSQ: 20,99") {
		t.Fatalf("chained: %q", got)
	}
}

func TestPromptSubmitAndEscape(t *testing.T) {
	e := start(t, Config{})
	c := dial(t, e)
	c.cmd("ATE0", "OK")
	c.cmd("AT+CMEE=1", "OK")
	parts, err := pdu.EncodeSubmit("+15551234567", "hello", pdu.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tp := parts[0].TPDU
	c.send("AT+CMGS=" + strconv.Itoa(len(tp)) + "\r")
	if got := c.until("> "); got != "\r\n> " {
		t.Fatalf("prompt: %q", got)
	}
	c.send("00" + strings.ToUpper(hex.EncodeToString(tp)) + "\x1a")
	if got := c.until("OK\r\n"); got != "\r\n+CMGS: 1\r\n\r\nOK\r\n" {
		t.Fatalf("submit answer: %q", got)
	}
	// ESC abandons the prompt: nothing is sent.
	c.send("AT+CMGS=" + strconv.Itoa(len(tp)) + "\r")
	c.until("> ")
	c.send("0011\x1b")
	c.until("OK\r\n")
	// A length that does not match the PDU.
	c.send("AT+CMGS=" + strconv.Itoa(len(tp)+1) + "\r")
	c.until("> ")
	c.send("00" + hex.EncodeToString(tp) + "\x1a")
	if got := c.until("\r\n+CMS ERROR: 304\r\n"); got != "\r\n+CMS ERROR: 304\r\n" {
		t.Fatalf("length mismatch: %q", got)
	}
	h := e.Handset()
	if len(h) != 1 || h[0].Text != "hello" || h[0].To != "+15551234567" {
		t.Fatalf("handset %+v", h)
	}
	// Not registered: +CMS ERROR 331 after the PDU.
	e.SetRegistered(0)
	c.send("AT+CMGS=" + strconv.Itoa(len(tp)) + "\r")
	c.until("> ")
	c.send("00" + hex.EncodeToString(tp) + "\x1a")
	if got := c.until("\r\n+CMS ERROR: 331\r\n"); got == "" {
		t.Fatal("no 331")
	}
}

// Stored messages are listed with the SMSC field first, as real modems
// print them, and +CMTI announces each.
func TestStorageAndIndications(t *testing.T) {
	e := start(t, Config{})
	c := dial(t, e)
	c.cmd("ATE0", "OK")
	if err := e.Inject("+15557654321", "Yes"); err != nil {
		t.Fatal(err)
	}
	if got := c.until(`"SM",1` + "\r\n"); got != "\r\n+CMTI: \"SM\",1\r\n" {
		t.Fatalf("indication: %q", got)
	}
	got := c.cmd("AT+CMGL=4", "OK")
	lines := strings.Split(strings.TrimSpace(got), "\r\n")
	if len(lines) < 3 || lines[0] != "+CMGL: 1,0,,"+strings.Split(lines[0], ",,")[1] {
		t.Fatalf("CMGL: %q", got)
	}
	smsc, tpdu, err := pdu.SplitSMSC(testutil.MustHex(t, lines[1]))
	if err != nil || smsc != "+15550000000" {
		t.Fatalf("SMSC %q %v", smsc, err)
	}
	d, err := pdu.DecodeDeliver(tpdu)
	if err != nil || d.Text != "Yes" || d.From.Number != "+15557654321" {
		t.Fatalf("deliver %+v %v", d, err)
	}
	if got := c.cmd("AT+CMGR=1", "OK"); !strings.HasPrefix(got, "\r\n+CMGR: 1,,") {
		t.Fatalf("CMGR after CMGL marks read: %q", got)
	}
	c.cmd("AT+CMGD=1", "OK")
	if e.Stored() != 0 {
		t.Fatal("not deleted")
	}
	c.cmd("AT+CMEE=1", "OK")
	if got := c.cmd("AT+CMGR=1", "321"); !strings.Contains(got, "+CMS ERROR: 321") {
		t.Fatalf("empty slot: %q", got)
	}
	if got := c.cmd("AT+CPMS?", "OK"); !strings.Contains(got, `+CPMS: "SM",0,30`) {
		t.Fatalf("CPMS?: %q", got)
	}
}

// With AT+CNMI ds=1 and TP-SRR a +CDS status report follows the submit.
func TestStatusReportDirect(t *testing.T) {
	e := start(t, Config{StatusReportDelay: time.Millisecond})
	c := dial(t, e)
	c.cmd("ATE0", "OK")
	c.cmd("AT+CNMI=2,1,0,1,0", "OK")
	parts, _ := pdu.EncodeSubmit("+15551234567", "hi", pdu.SubmitOptions{StatusReport: true})
	tp := parts[0].TPDU
	c.send("AT+CMGS=" + strconv.Itoa(len(tp)) + "\r")
	c.until("> ")
	c.send("00" + hex.EncodeToString(tp) + "\x1a")
	c.until("OK\r\n")
	out := c.until("\r\n")
	for !strings.Contains(out, "+CDS:") || strings.Count(out, "\r\n") < 3 {
		out += c.until("\r\n")
	}
	lines := strings.Split(strings.TrimSpace(out), "\r\n")
	_, tpdu, err := pdu.SplitSMSC(testutil.MustHex(t, lines[len(lines)-1]))
	if err != nil {
		t.Fatal(err)
	}
	sr, err := pdu.DecodeStatusReport(tpdu)
	if err != nil || sr.MR != 1 || sr.Recipient.Number != "+15551234567" || sr.Outcome != pdu.Delivered {
		t.Fatalf("report %+v %v", sr, err)
	}
}

func TestUnplugReplugRelinks(t *testing.T) {
	e := start(t, Config{})
	first, _ := os.Readlink(e.Path())
	c := dial(t, e)
	c.cmd("ATE0", "OK")
	e.Unplug()
	if _, err := os.Lstat(e.Path()); !os.IsNotExist(err) {
		t.Fatal("link still there while unplugged")
	}
	c.port.SetReadTimeout(serial.NoTimeout)
	if _, err := c.port.Read(make([]byte, 10)); err == nil {
		t.Fatal("client read works after unplug")
	}
	if err := e.Replug(); err != nil {
		t.Fatal(err)
	}
	second, err := os.Readlink(e.Path())
	if err != nil || second == "" {
		t.Fatal(err)
	}
	if second == first {
		t.Log("the new pty got the same number (allowed)")
	}
	c2 := dial(t, e)
	if got := c2.cmd("AT", "OK"); got != "AT\r\r\nOK\r\n" {
		t.Fatalf("echo back on after power cycle: %q", got)
	}
}

func TestLinkRefusesToReplaceAFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "file")
	os.WriteFile(p, nil, 0o600)
	if _, err := Start(Config{Link: p}); err == nil || !strings.Contains(err.Error(), "not a symlink") {
		t.Fatalf("got %v", err)
	}
}

// gammu, a third-party AT client, identifies the emulator and sends through
// it; the handset log shows the message.
func TestGammu(t *testing.T) {
	gammu := testutil.RequireTool(t, "gammu", "apt-get install gammu; make deps does it")
	e := start(t, Config{})
	dir := t.TempDir()
	rc := filepath.Join(dir, "gammurc")
	log := filepath.Join(dir, "gammu.log")
	os.WriteFile(rc, []byte("[gammu]\ndevice = "+e.Path()+"\nconnection = at\nlogfile = "+log+"\nlogformat = textall\n"), 0o600)
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		began := time.Now()
		out, err := exec.CommandContext(ctx, gammu, append([]string{"-c", rc}, args...)...).CombinedOutput()
		t.Logf("gammu %s: %v", args[0], time.Since(began).Round(time.Millisecond))
		if err != nil {
			l, _ := os.ReadFile(log)
			t.Fatalf("gammu %v: %v\n%s\nlog tail:\n%s", args, err, out, tail(string(l), 3000))
		}
		return string(out)
	}
	out := run("identify")
	// Each field as gammu prints it ("Manufacturer : smsd"), so that a
	// value showing up under the wrong name does not pass.
	for field, want := range map[string]string{
		"Manufacturer": "smsd",
		"Model":        "Emulated GSM modem",
		"Firmware":     "EMU-1.0",
		"IMEI":         "356938035643809",
		"SIM IMSI":     "001010123456789",
	} {
		if got, ok := gammuField(out, field); !ok || !strings.Contains(got, want) {
			t.Fatalf("identify: %s is %q (found %v), want %q:\n%s", field, got, ok, want, out)
		}
	}
	const text = "Reminder: dentist tomorrow 9:30. Reply C to confirm."
	run("sendsms", "TEXT", "+15551234567", "-text", text)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h, err := e.WaitHandset(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].To != "+15551234567" || h[0].Text != text || h[0].Parts != 1 {
		t.Fatalf("handset %+v", h[0])
	}
	// A long Unicode text: gammu splits it, the handset joins it.
	long := strings.Repeat("Zażółć gęślą jaźń. ", 8)
	run("sendsms", "TEXT", "+15551234567", "-unicode", "-len", "400", "-text", long)
	h, err = e.WaitHandset(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if h[1].Text != long || h[1].Parts < 2 || h[1].Encoding != "UCS-2" {
		t.Fatalf("handset %+v", h[1])
	}
	// And it reads what the SIM holds (PDUs with their SMSC field).
	e.Inject("+15557654321", "C")
	out = run("getallsms")
	if !strings.Contains(out, "+15557654321") || !strings.Contains(out, "\nC\n") {
		t.Fatalf("getallsms:\n%s", out)
	}
}

// gammuField returns the value of a "Name : value" line of gammu's output.
func gammuField(out, name string) (string, bool) {
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// submitHello types one single-part PDU after AT+CMGS and returns the
// answer up to its final result.
func (c *client) submitHello(final string) string {
	c.t.Helper()
	parts, err := pdu.EncodeSubmit("+15551234567", "hello", pdu.SubmitOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	tp := parts[0].TPDU
	c.send("AT+CMGS=" + strconv.Itoa(len(tp)) + "\r")
	c.until("> ")
	c.send("00" + strings.ToUpper(hex.EncodeToString(tp)) + "\x1a")
	return c.until(final + "\r\n")
}

// FailSends(n, code) refuses exactly the next n submits with +CMS ERROR
// <code>, as AT+CMEE asks, and nothing reaches the handset; the one after
// goes through.
func TestFailSendsRefusesNextN(t *testing.T) {
	e := start(t, Config{})
	c := dial(t, e)
	c.cmd("ATE0", "OK")
	c.cmd("AT+CMEE=1", "OK")
	e.FailSends(2, 42)
	for i := 1; i <= 2; i++ {
		if got := c.submitHello("+CMS ERROR: 42"); got != "\r\n+CMS ERROR: 42\r\n" {
			t.Fatalf("send %d: %q", i, got)
		}
	}
	if got := c.submitHello("OK"); got != "\r\n+CMGS: 1\r\n\r\nOK\r\n" {
		t.Fatalf("third send: %q", got)
	}
	// With AT+CMEE=2 the same code is verbose; with 0 a bare ERROR.
	e.FailSends(1, 38)
	c.cmd("AT+CMEE=2", "OK")
	if got := c.submitHello("order"); got != "\r\n+CMS ERROR: network out of order\r\n" {
		t.Fatalf("verbose: %q", got)
	}
	e.FailSends(1, 38)
	c.cmd("AT+CMEE=0", "OK")
	if got := c.submitHello("ERROR"); got != "\r\nERROR\r\n" {
		t.Fatalf("plain: %q", got)
	}
	if h := e.Handset(); len(h) != 1 {
		t.Fatalf("handset has %d messages, want the one accepted", len(h))
	}
}

// Latency delays every answer by at least the set time; a slow wire (baud)
// takes at least 10 bits a byte. Only lower bounds are checked: a busy
// machine makes things slower, never faster.
func TestLatencyAndWirePacing(t *testing.T) {
	e := start(t, Config{})
	c := dial(t, e)
	c.cmd("ATE0", "OK")

	e.SetLatency(300 * time.Millisecond)
	began := time.Now()
	c.cmd("AT", "OK")
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Fatalf("answer with 300ms latency came after %v", d)
	}
	e.SetLatency(0)

	for i := 0; i < 3; i++ {
		if err := e.Inject("+15557654321", "Yes, I will be there at nine"); err != nil {
			t.Fatal(err)
		}
		c.until(`"SM",` + strconv.Itoa(i+1) + "\r\n")
	}
	const baud = 2400
	e.SetBaud(baud)
	began = time.Now()
	out := c.cmd("AT+CMGL=4", "OK")
	// The last chunk is read before the emulator's pause after it.
	min := time.Duration(len(out)-16) * 10 * time.Second / baud
	if d := time.Since(began); d < min {
		t.Fatalf("%d bytes at %d baud came in %v, want at least %v", len(out), baud, d, min)
	}
	e.SetBaud(0)
}

// A hung modem answers nothing, not even AT, and swallows what it is sent;
// after Unhang it answers again.
func TestHangSwallowsUntilUnhang(t *testing.T) {
	e := start(t, Config{})
	c := dial(t, e)
	c.cmd("ATE0", "OK")
	e.Hang()
	c.send("AT\r")
	b := make([]byte, 64)
	c.port.SetReadTimeout(500 * time.Millisecond)
	if n, _ := c.port.Read(b); n != 0 {
		t.Fatalf("hung modem answered %q", b[:n])
	}
	c.port.SetReadTimeout(50 * time.Millisecond)
	e.Unhang()
	if got := c.cmd("AT", "OK"); got != "\r\nOK\r\n" {
		t.Fatalf("after unhang: %q", got)
	}
}

// AT+CPINR shows the PIN tries left, so that a client can tell an earlier
// wrong PIN (27.007 §8.65).
func TestPINTriesLeft(t *testing.T) {
	e := start(t, Config{})
	c := dial(t, e)
	c.cmd("ATE0", "OK")
	c.cmd("AT+CMEE=1", "OK")
	e.RequirePIN("1234")
	if got := c.cmd(`AT+CPINR="SIM PIN"`, "OK"); got != "\r\n+CPINR: SIM PIN,3,3\r\n\r\nOK\r\n" {
		t.Fatalf("fresh: %q", got)
	}
	c.cmd(`AT+CPIN="0000"`, "16")
	if got := c.cmd(`AT+CPINR="SIM PIN"`, "OK"); !strings.Contains(got, "+CPINR: SIM PIN,2,3") {
		t.Fatalf("after a wrong PIN: %q", got)
	}
	c.cmd(`AT+CPIN="1111"`, "16")
	c.cmd(`AT+CPIN="2222"`, "16")
	if got := c.cmd("AT+CPIN?", "OK"); !strings.Contains(got, "SIM PUK") {
		t.Fatalf("three wrong PINs: %q", got)
	}
	if got := c.cmd("AT+CPINR", "OK"); !strings.Contains(got, "+CPINR: SIM PIN,0,3") || !strings.Contains(got, "+CPINR: SIM PUK,10,10") {
		t.Fatalf("PUK-locked: %q", got)
	}
}
