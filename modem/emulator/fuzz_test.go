package emulator

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzClientInput feeds arbitrary client bytes, cut into writes of any size,
// to the emulator's command reader (the parser of what an AT client types:
// command lines, chained commands, the PDU after "> ", Ctrl-Z, ESC,
// backspace). It must never panic, and whatever came before, ESC and a plain
// "AT" still get an OK: no input leaves the emulator stuck. Seeds are in
// testdata/fuzz/FuzzClientInput; run it with
//
//	go test -run '^$' -fuzz '^FuzzClientInput$' -fuzztime 60s -parallel 1 ./modem/emulator
func FuzzClientInput(f *testing.F) {
	f.Add([]byte("ATE0\rAT+CMEE=2\rAT+CPIN?\rAT+CSQ;+CREG?\r"), uint8(5))
	f.Add([]byte("AT+CMGS=18\r0001000B915155214365F700000BE8329BFD06DDDF723619\x1a"), uint8(64))
	f.Add([]byte("AT+CMGS=7\r00\x1bAT+CMGS=200\rAT+CMGS=x\r"), uint8(3))
	f.Add([]byte("AT+CPIN=\"0000\"\rAT+CPIN=\"1111\"\rAT+CPIN=\"2222\"\rAT+CPIN?\r"), uint8(9))
	f.Add([]byte("AT+CNMI=2,1,0,1,0;+CMGL=4;+CMGR=1;+CMGD=1,4;+CPMS=\"SM\",\"XX\"\rATZ\rAT&F\r"), uint8(1))
	f.Add([]byte("ATE1V1Q0X4&C1&D2\rAT\x08\x08AT\x7f\rat+cscs=\"UCS2\"\r\n\r\n"), uint8(2))
	f.Add([]byte("AT+CSCA=\"\",129\rAT+CMGS=10\r00112233445566778899AA\x1a"), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		if step == 0 {
			step = 1
		}
		e, c, out := fuzzEmulator(t)
		var in input
		for rest := data; len(rest) > 0; {
			n := min(int(step), len(rest))
			e.feed(c, &in, rest[:n])
			rest = rest[n:]
		}
		before := out.Len()
		e.feed(c, &in, []byte("\x1b\rAT\r"))
		c.ptmx.Close()
		<-out.done
		got := out.String()[before:]
		if !strings.HasSuffix(got, "\r\nOK\r\n") {
			t.Fatalf("after %q, ESC and AT got %q", data, got)
		}
		if len(in.line) > maxLine {
			t.Fatalf("line buffer grew to %d", len(in.line))
		}
	})
}

// fuzzOut collects what the emulator writes to its client.
type fuzzOut struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func (o *fuzzOut) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Len()
}

func (o *fuzzOut) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// fuzzEmulator is an emulator whose client side is a pipe instead of a pty:
// a pty per fuzz input would be slow, and the parser under test is the same
// code readLoop runs on a pty.
func fuzzEmulator(t *testing.T) (*Emulator, *conn, *fuzzOut) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// No status report fires during an input: they would race the check.
	e := newEmulator(Config{StatusReportDelay: time.Hour})
	c := &conn{ptmx: w, tty: r, closed: make(chan struct{}), done: make(chan struct{})}
	close(c.done) // no readLoop: the test feeds the parser itself
	e.mu.Lock()
	e.c = c
	e.mu.Unlock()
	out := &fuzzOut{done: make(chan struct{})}
	go func() {
		defer close(out.done)
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			out.mu.Lock()
			out.buf.Write(b[:n])
			out.mu.Unlock()
			if err != nil {
				if err != io.EOF {
					t.Errorf("reading emulator output: %v", err)
				}
				return
			}
		}
	}()
	t.Cleanup(func() { e.Close() })
	return e, c, out
}
