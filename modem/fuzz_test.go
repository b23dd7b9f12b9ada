package modem

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fuzz targets for every parser of modem output. Seed corpora live in
// testdata/fuzz/FuzzXxx; run one with
//   go test -run '^$' -fuzz '^FuzzATStream$' -fuzztime 60s ./modem

// FuzzClassify: any line, any running command: a kind, never a panic, and
// the final result codes are always recognised.
func FuzzClassify(f *testing.F) {
	f.Add("OK", "AT")
	f.Add("+CREG: 0,1", "AT+CREG?")
	f.Add(`+CMTI: "SM",3`, "AT+CMGS=23")
	f.Add("+CMS ERROR: 38", "")
	f.Add("AT+CSQ", "AT+CSQ")
	f.Fuzz(func(t *testing.T, line, cmd string) {
		k := classify(line, cmd)
		if line == "OK" && k != kindOK {
			t.Fatalf("OK classified %v", k)
		}
		if strings.HasPrefix(line, "+CMS ERROR:") && k != kindError {
			t.Fatalf("%q classified %v", line, k)
		}
		_ = commandName(cmd)
		_ = commandOp(cmd)
		parseFinalError(line)
	})
}

// FuzzATStream: arbitrary modem output, cut into reads of any size, while
// a prompt-taking command runs: the engine ends the command (answer or port
// gone), never panics, and hands every URC on.
func FuzzATStream(f *testing.F) {
	f.Add([]byte("\r\n+CMTI: \"SM\",1\r\n\r\n> \r\n+CMGS: 5\r\n\r\nOK\r\n"), uint8(3))
	f.Add([]byte("\r\n+CDS: 25\r\n07911326040000F006\r\n\r\nERROR\r\n"), uint8(1))
	f.Add([]byte(">>>> \r\r\n\n+CMT: ,,\r\n"), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		if step == 0 {
			step = 1
		}
		// The output comes once the command is written, so that it is read
		// while the command runs; then the port goes away.
		rw := newGatedRW(int(step), string(data))
		rw.dryEOF = true
		q := newURCQueue()
		a := newATEngine(rw, slog.New(slog.DiscardHandler), q)
		lines, err := a.SMSCommand(context.Background(), "AT+CMGS=10", "00AA", 2*time.Second)
		if err == nil {
			ParseCMGS(lines)
		}
		<-a.Dead()
		for _, u := range q.drain() {
			ParseIndication(u.Line)
			ParseDirectPDU(u)
			ParseCREG(u.Line, false)
		}
	})
}

// FuzzParseCMGL: the answer to AT+CMGL in PDU mode, lines split at "\n".
func FuzzParseCMGL(f *testing.F) {
	f.Add("+CMGL: 1,0,,24\n07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07")
	f.Add("+CMGL: 2,1,\"x,y\",3\nzz\n+CMGL: 3,0,,1")
	f.Fuzz(func(t *testing.T, s string) {
		msgs, _ := ParseCMGL(strings.Split(s, "\n"))
		for _, m := range msgs {
			if m.PDU != nil && len(m.PDU) < m.Length {
				t.Fatalf("PDU shorter than announced length")
			}
		}
	})
}

// FuzzParseCMGR: the answer to AT+CMGR in PDU mode.
func FuzzParseCMGR(f *testing.F) {
	f.Add("+CMGR: 0,,24\n07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07")
	f.Add("+CMGR: 1,\"\",0\n00")
	f.Fuzz(func(t *testing.T, s string) {
		ParseCMGR(strings.Split(s, "\n"))
	})
}

// FuzzParseCDS: a two-line +CDS/+CMT URC.
func FuzzParseCDS(f *testing.F) {
	f.Add("+CDS: 25", "07911326040000F006D70B911326880736F4111011719551401110117195714000")
	f.Add("+CMT: \"\",3", "00AABBCC")
	f.Fuzz(func(t *testing.T, line, pdu string) {
		b, withSMSC, err := ParseDirectPDU(URC{Line: line, PDU: pdu})
		if err == nil && withSMSC && len(b) == 0 {
			t.Fatal("SMSC claimed in an empty PDU")
		}
	})
}

// FuzzParseCSQ: +CSQ answers; known signals map into the 27.007 range.
func FuzzParseCSQ(f *testing.F) {
	f.Add("+CSQ: 20,99")
	f.Add("+CSQ: 99,99")
	f.Add("+CSQ: -1,0")
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := ParseCSQ(s)
		if err == nil && sig.Known && (sig.DBm < -113 || sig.DBm > -51 || sig.Bars < 0 || sig.Bars > 5) {
			t.Fatalf("%q → %+v", s, sig)
		}
	})
}

// FuzzParseCREG: +CREG answers and URCs.
func FuzzParseCREG(f *testing.F) {
	f.Add("+CREG: 0,1", true)
	f.Add("+CREG: 5", false)
	f.Add("+CREG: 2,1,\"00C3\",\"0000D1A2\",7", true)
	f.Fuzz(func(t *testing.T, s string, answer bool) {
		r, err := ParseCREG(s, answer)
		if err == nil && (r < 0 || r > 11) {
			t.Fatalf("%q → %d", s, r)
		}
		_ = r.String()
	})
}

// FuzzParseAnswers: the one-line answers read during init and health
// checks (+CPIN, +CPINR, +QPINC, +CSCA, +COPS, +CMGS, +CMTI/+CDSI, +CMGL and
// +CMGR headers, identity lines). Lines split at "\n".
func FuzzParseAnswers(f *testing.F) {
	f.Add("+CPIN: SIM PIN\n+CPINR: SIM PIN,2,3\n+QPINC: \"SC\",3,10")
	f.Add("+CSCA: \"+15550000000\",145\n+COPS: 0,0,\"Emulated Net\",7")
	f.Add("+CMGS: 255,\"24/01/01,00:00:00+00\"\n+CMTI: \"SM\",30\n+CDSI: \"SM\",-1")
	f.Add("+CMGL: 1,0,\"a,b\",24\n+CMGR: 0,,999\n+CGMI: SIMCOM_Ltd")
	f.Add("+CPINR: SIM PIN,,\n+CPINR: \"SIM PIN\",99999999999999999999,0\n+QPINC: SC")
	f.Fuzz(func(t *testing.T, s string) {
		lines := strings.Split(s, "\n")
		ParseCPIN(lines)
		if left, def, err := ParseCPINR(lines); err == nil && (left < 0 || def < 1) {
			t.Fatalf("+CPINR %d of %d", left, def)
		}
		if n, err := ParseQPINC(lines); err == nil && n < 0 {
			t.Fatalf("+QPINC %d", n)
		}
		ParseCSCA(lines)
		ParseCOPS(lines)
		if mr, err := ParseCMGS(lines); err == nil && (mr < 0 || mr > 255) {
			t.Fatalf("TP-MR %d", mr)
		}
		firstPlain(lines, "+CGMI:")
		for _, l := range lines {
			if _, idx, err := ParseIndication(l); err == nil && idx < 0 {
				t.Fatalf("index %d from %q", idx, l)
			}
			ParseCMGLHeader(l)
			ParseCMGRHeader(l)
		}
	})
}

// FuzzURCsNeverLost: a send's answer with unsolicited lines put anywhere
// a modem may put them (before the "> " prompt, between the prompt and
// "+CMGS:", between "+CMGS:" and OK), the whole cut into reads of any size.
// The send gets its TP-MR, and every URC comes out once, in order, with
// the PDU line of a two-line one attached.
func FuzzURCsNeverLost(f *testing.F) {
	f.Add([]byte{0, 5, 10}, uint8(1))
	f.Add([]byte{3, 7, 11, 1, 2}, uint8(4))
	f.Add([]byte{}, uint8(200))
	f.Add([]byte{9, 9, 9, 9, 9, 9, 9, 9}, uint8(3))
	f.Fuzz(func(t *testing.T, plan []byte, step uint8) {
		if step == 0 {
			step = 1
		}
		if len(plan) > 64 {
			plan = plan[:64]
		}
		kinds := []URC{
			{Line: `+CMTI: "SM",`},
			{Line: "+CDS: 6", PDU: "000607080910AA"},
			{Line: "+CREG: 5"},
			{Line: "RING"},
		}
		var at [3][]URC // by position
		var want []URC
		for i, b := range plan {
			u := kinds[int(b)%len(kinds)]
			if u.Line == `+CMTI: "SM",` {
				u.Line += strconv.Itoa(i + 1)
			}
			pos := int(b/4) % 3
			at[pos] = append(at[pos], u)
		}
		// Output order is by position; within one, plan order. What the
		// modem prints up to the prompt comes after the command line is
		// written, the rest after the PDU, as on a real wire.
		var segs [2]strings.Builder
		for pos, part := range []string{"\r\n> ", "\r\n+CMGS: 5\r\n", "\r\nOK\r\n"} {
			seg := &segs[min(pos, 1)]
			for _, u := range at[pos] {
				seg.WriteString("\r\n" + u.Line + "\r\n")
				if u.PDU != "" {
					seg.WriteString(u.PDU + "\r\n")
				}
				want = append(want, u)
			}
			seg.WriteString(part)
		}
		rw := newGatedRW(int(step), segs[0].String(), segs[1].String())
		q := newURCQueue()
		a := newATEngine(rw, slog.New(slog.DiscardHandler), q)
		// Generous: only a lost prompt or OK makes this time out.
		lines, err := a.SMSCommand(context.Background(), "AT+CMGS=10", "00AA", time.Minute)
		if err != nil {
			t.Fatalf("send failed: %v\nstream %q", err, segs[0].String()+segs[1].String())
		}
		if mr, err := ParseCMGS(lines); err != nil || mr != 5 {
			t.Fatalf("TP-MR %d, %v from %q", mr, err, lines)
		}
		// Every URC came before OK on the wire, so the single reader has
		// queued them all by the time the command has its answer.
		a.Close()
		got := q.drain()
		if len(got) != len(want) {
			t.Fatalf("%d URCs out, %d in\ngot  %q\nwant %q", len(got), len(want), got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("URC %d: got %q, want %q", i, got[i], want[i])
			}
		}
	})
}

// gatedRW is a modem that speaks only when spoken to: segment i of its
// output becomes readable after the client's write i+1, in reads of at most
// step bytes; with nothing to say a read waits, until Close.
type gatedRW struct {
	mu       sync.Mutex
	cond     *sync.Cond
	segs     []string
	released int
	out      []byte
	step     int
	closed   bool
	// dryEOF: once every segment is out and read, reads return EOF (the
	// port went away) instead of waiting.
	dryEOF bool
}

func newGatedRW(step int, segs ...string) *gatedRW {
	g := &gatedRW{segs: segs, step: step}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gatedRW) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.out) == 0 && !g.closed && !(g.dryEOF && g.released == len(g.segs)) {
		g.cond.Wait()
	}
	if len(g.out) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), g.step)], g.out)
	g.out = g.out[n:]
	return n, nil
}

func (g *gatedRW) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, io.ErrClosedPipe
	}
	if g.released < len(g.segs) {
		g.out = append(g.out, g.segs[g.released]...)
		g.released++
		g.cond.Broadcast()
	}
	return len(p), nil
}

func (g *gatedRW) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	g.cond.Broadcast()
	return nil
}
