package modem

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scripted is a modem conversation over an in-memory pipe: reply gets each
// command (or PDU, ending in Ctrl-Z) and returns the raw bytes to answer.
// These tests drive the AT layer on its own; everything else runs against
// the emulator on a pty.
func scripted(t *testing.T, reply func(cmd string) string) (*atEngine, *urcQueue, net.Conn) {
	t.Helper()
	ours, theirs := net.Pipe()
	q := newURCQueue()
	a := newATEngine(ours, slog.New(slog.DiscardHandler), q)
	go func() {
		r := bufio.NewReader(theirs)
		for {
			var b strings.Builder
			for {
				c, err := r.ReadByte()
				if err != nil {
					return
				}
				if c == '\r' || c == 0x1A || c == 0x1B {
					if c != '\r' {
						b.WriteByte(c)
					}
					break
				}
				b.WriteByte(c)
			}
			if out := reply(b.String()); out != "" {
				if _, err := io.WriteString(theirs, out); err != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() { a.Close(); theirs.Close() })
	return a, q, theirs
}

func TestClassify(t *testing.T) {
	cases := []struct {
		line, cmd string
		want      lineKind
	}{
		{"OK", "AT", kindOK},
		{"ERROR", "AT+FOO", kindError},
		{"+CMS ERROR: 38", "AT+CMGS=20", kindError},
		{"+CME ERROR: SIM PIN required", "AT+CIMI", kindError},
		{"AT+CSQ", "AT+CSQ", kindEcho},
		{"+CSQ: 20,99", "AT+CSQ", kindInfo},
		{"+CREG: 0,1", "AT+CREG?", kindInfo},
		{"+CREG: 1", "AT+CSQ", kindURC},
		{"+CREG: 1", "", kindURC},
		{`+CMTI: "SM",3`, "AT+CMGS=20", kindURC},
		{`+CMTI: "SM",3`, "", kindURC},
		{"+CDS: 25", "AT+CSQ", kindURCTwo},
		{"+CMT: ,24", "", kindURCTwo},
		{"+CPIN: READY", "AT+CPIN?", kindInfo},
		{"+CPIN: READY", "", kindURC},
		{"RING", "AT", kindURC},
		{"SIMCOM_Ltd", "AT+CGMI", kindInfo},
		{"07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07", "AT+CMGR=1", kindInfo},
		{"OK", "", kindOK},
		{"garbage", "", kindStray},
		{"NO CARRIER", "", kindURC},
	}
	for _, c := range cases {
		if got := classify(c.line, c.cmd); got != c.want {
			t.Errorf("classify(%q, %q) = %v, want %v", c.line, c.cmd, got, c.want)
		}
	}
}

func TestCommandInfoAndFinal(t *testing.T) {
	a, _, _ := scripted(t, func(cmd string) string {
		switch cmd {
		case "AT+CSQ":
			return cmd + "\r\r\n+CSQ: 17,99\r\n\r\nOK\r\n" // with echo
		case "AT+CMGS=5":
			return "\r\n+CMS ERROR: 42\r\n"
		case "AT+CPIN=\"1111\"":
			return "\r\n+CME ERROR: 16\r\n"
		case "AT+BAD":
			return "\r\nERROR\r\n"
		}
		return "\r\nOK\r\n"
	})
	ctx := context.Background()
	lines, err := a.Command(ctx, "AT+CSQ", time.Second)
	if err != nil || len(lines) != 1 || lines[0] != "+CSQ: 17,99" {
		t.Fatalf("AT+CSQ = %q, %v", lines, err)
	}
	_, err = a.Command(ctx, "AT+CMGS=5", time.Second)
	var me *Error
	if !errors.As(err, &me) || me.CMS != 42 || !me.Transient || !IsTransient(err) {
		t.Fatalf("want transient +CMS 42, got %#v", err)
	}
	_, err = a.Command(ctx, `AT+CPIN="1111"`, time.Second)
	if !errors.As(err, &me) || me.CME != 16 || me.Transient {
		t.Fatalf("want permanent +CME 16, got %v", err)
	}
	if strings.Contains(err.Error(), "1111") {
		t.Fatalf("error leaks the PIN: %v", err)
	}
	_, err = a.Command(ctx, "AT+BAD", time.Second)
	if !errors.As(err, &me) || me.CMS != -1 || me.CME != -1 {
		t.Fatalf("want plain ERROR, got %v", err)
	}
}

// A URC arriving between a command's information line and its OK, and one
// arriving while the prompt is open, is queued and does not end the command.
func TestURCDuringCommandAndPrompt(t *testing.T) {
	a, q, _ := scripted(t, func(cmd string) string {
		switch {
		case cmd == "AT+CMGS=10":
			return "\r\n+CMTI: \"SM\",1\r\n\r\n> "
		case strings.HasSuffix(cmd, "\x1a"):
			return "\r\n+CMGS: 7\r\n\r\n+CMTI: \"SM\",2\r\n\r\n+CDS: 3\r\n0006070809\r\n\r\nOK\r\n"
		}
		return "\r\nOK\r\n"
	})
	lines, err := a.SMSCommand(context.Background(), "AT+CMGS=10", "00AABB", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mr, err := ParseCMGS(lines)
	if err != nil || mr != 7 {
		t.Fatalf("mr %d %v from %q", mr, err, lines)
	}
	got := q.drain()
	want := []URC{{Line: `+CMTI: "SM",1`}, {Line: `+CMTI: "SM",2`}, {Line: "+CDS: 3", PDU: "0006070809"}}
	if len(got) != len(want) {
		t.Fatalf("URCs %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("URC %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// A modem that answers nothing: the command times out, the engine closes
// the port (it is in an unknown state) and later commands fail at once.
func TestTimeoutKillsEngine(t *testing.T) {
	a, _, _ := scripted(t, func(cmd string) string { return "" })
	_, err := a.Command(context.Background(), "AT", 50*time.Millisecond)
	if !errors.Is(err, ErrTimeout) || !IsTransient(err) {
		t.Fatalf("want transient timeout, got %v", err)
	}
	select {
	case <-a.Dead():
	case <-time.After(time.Second):
		t.Fatal("engine still alive after a timeout")
	}
	if _, err := a.Command(context.Background(), "AT", time.Second); !IsTransient(err) {
		t.Fatalf("command on dead engine: %v", err)
	}
}

func TestPortGoneEndsCommand(t *testing.T) {
	a, _, theirs := scripted(t, func(cmd string) string { return "" })
	go func() { time.Sleep(20 * time.Millisecond); theirs.Close() }()
	_, err := a.Command(context.Background(), "AT", 5*time.Second)
	if !errors.Is(err, ErrPortClosed) || !IsTransient(err) {
		t.Fatalf("want port closed, got %v", err)
	}
}

func TestParseFinalError(t *testing.T) {
	cases := []struct {
		line     string
		cms, cme int
	}{
		{"ERROR", -1, -1},
		{"+CMS ERROR: 38", 38, -1},
		{"+CMS ERROR: network out of order", 38, -1},
		{"+CME ERROR: 16", -1, 16},
		{"+CME ERROR: incorrect password", -1, 16},
		{"+CME ERROR: something odd", -1, 100},
	}
	for _, c := range cases {
		cms, cme := parseFinalError(c.line)
		if cms != c.cms || cme != c.cme {
			t.Errorf("%q: got %d,%d want %d,%d", c.line, cms, cme, c.cms, c.cme)
		}
	}
}

// Transient versus permanent, per 3GPP TS 27.005 §3.2.5 and the issue.
func TestCMSTransient(t *testing.T) {
	for _, c := range []int{38, 41, 42, 47, 331, 332} {
		if !CMSTransient(c) {
			t.Errorf("+CMS %d should be transient", c)
		}
		if !IsTransient(finalError("AT+CMGS", "+CMS ERROR: "+strconv.Itoa(c))) {
			t.Errorf("finalError +CMS %d not transient", c)
		}
	}
	for _, c := range []int{1, 21, 28, 96, 304, 330} {
		if CMSTransient(c) {
			t.Errorf("+CMS %d should be permanent", c)
		}
		if IsTransient(finalError("AT+CMGS", "+CMS ERROR: "+strconv.Itoa(c))) {
			t.Errorf("finalError +CMS %d transient", c)
		}
	}
}
