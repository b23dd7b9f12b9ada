package emulator

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// readLoop reads what the client writes and answers it, until the pty closes.
func (e *Emulator) readLoop(c *conn) {
	defer close(c.done)
	buf := make([]byte, 1024)
	var in input
	for {
		n, err := c.ptmx.Read(buf)
		if err != nil {
			return
		}
		e.feed(c, &in, buf[:n])
	}
}

// input is the state of the command reader between reads: a half-typed
// command line, or a PDU being typed after the "> " prompt.
type input struct {
	line      []byte
	first     time.Time // when the line's first byte came
	prompt    bool      // collecting a PDU after "> "
	promptLen int       // the <length> of the AT+CMGS that opened the prompt
}

// maxCommands bounds the command log of Commands.
const maxCommands = 100000

// maxLine bounds a command line or PDU: a client that never ends its line
// cannot make the emulator grow without end. Real modems have a buffer of a
// few hundred bytes; a 164-octet PDU is 330 hex digits.
const maxLine = 4096

// feed handles bytes written by the client: echo, line editing, commands and
// PDUs. It is the emulator's parser of client input (FuzzClientInput).
func (e *Emulator) feed(c *conn, in *input, data []byte) {
	e.mu.Lock()
	hang, echo := e.faults.hang, e.st.echo
	e.mu.Unlock()
	if hang {
		// A hung modem swallows everything; whatever was half-typed is lost.
		in.line, in.prompt = in.line[:0], false
		return
	}
	if echo {
		e.write(c, string(data))
	}
	for _, b := range data {
		if in.prompt {
			switch b {
			case 0x1A: // Ctrl-Z: submit
				pdu := string(in.line)
				in.line, in.prompt = in.line[:0], false
				e.submit(c, in.promptLen, pdu)
			case 0x1B: // ESC: abandon, answer OK (27.005 §3.5.1)
				in.line, in.prompt = in.line[:0], false
				e.answer(c, nil, "OK")
			case '\r', '\n':
			default:
				if len(in.line) < maxLine {
					in.line = append(in.line, b)
				}
			}
			continue
		}
		switch b {
		case '\r':
			cmd := strings.TrimSpace(string(in.line))
			in.line = in.line[:0]
			if len(cmd) < 2 || !strings.EqualFold(cmd[:2], "AT") {
				continue // real modems ignore lines that do not start with AT
			}
			if n, ok := e.command(c, cmd, in.first); ok {
				in.prompt, in.promptLen = true, n
				e.mu.Lock()
				inject := e.faults.injectPrompt
				e.faults.injectPrompt = nil
				e.mu.Unlock()
				for _, i := range inject {
					if err := e.Inject(i.from, i.text); err != nil {
						e.log.Warn("emulator: inject before prompt failed", "err", err)
					}
				}
				e.write(c, "\r\n> ")
			}
		case '\n':
		case 0x08, 0x7F: // backspace
			if len(in.line) > 0 {
				in.line = in.line[:len(in.line)-1]
			}
		case 0x1B:
			in.line = in.line[:0]
		default:
			if len(in.line) == 0 {
				in.first = time.Now()
			}
			if len(in.line) < maxLine {
				in.line = append(in.line, b)
			}
		}
	}
}

func (e *Emulator) delay() {
	e.mu.Lock()
	d := e.faults.latency
	e.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
}

// answer writes information lines and a final result code in V.250 verbose
// form: each line framed by CR LF.
func (e *Emulator) answer(c *conn, info []string, final string) {
	// As real modems print them: "\r\n" before the first information line,
	// each line ended by "\r\n", then "\r\n<final>\r\n".
	var b strings.Builder
	if len(info) > 0 {
		b.WriteString("\r\n")
	}
	for _, l := range info {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(final)
	b.WriteString("\r\n")
	e.write(c, b.String())
}

// cmeError and cmsError format errors as AT+CMEE asks: 0 plain ERROR,
// 1 numeric, 2 verbose.
func (e *Emulator) cmeError(code int) string {
	switch e.st.cmee {
	case 1:
		return fmt.Sprintf("+CME ERROR: %d", code)
	case 2:
		if t, ok := cmeVerbose[code]; ok {
			return "+CME ERROR: " + t
		}
		return fmt.Sprintf("+CME ERROR: %d", code)
	}
	return "ERROR"
}

func (e *Emulator) cmsError(code int) string {
	switch e.st.cmee {
	case 1:
		return fmt.Sprintf("+CMS ERROR: %d", code)
	case 2:
		if t, ok := cmsVerbose[code]; ok {
			return "+CMS ERROR: " + t
		}
		return fmt.Sprintf("+CMS ERROR: %d", code)
	}
	return "ERROR"
}

var cmeVerbose = map[int]string{
	3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
	11: "SIM PIN required", 12: "SIM PUK required", 16: "incorrect password",
	21: "invalid index", 30: "no network service",
}

var cmsVerbose = map[int]string{
	38: "network out of order", 42: "congestion", 302: "operation not allowed",
	303: "operation not supported", 304: "invalid PDU mode parameter", 311: "SIM PIN required",
	316: "SIM PUK required", 321: "invalid memory index", 322: "memory full",
	330: "SMSC address unknown", 331: "no network service", 340: "no +CNMA acknowledgement expected",
}

// command runs one command line. It returns (n, true) when the line was
// AT+CMGS=<n> and the prompt must be shown; otherwise it has answered.
func (e *Emulator) command(c *conn, line string, first time.Time) (int, bool) {
	e.mu.Lock()
	if len(e.commands) >= maxCommands {
		// `smsd demo` and `smsd emulator` run for days: keep the newest.
		n := copy(e.commands, e.commands[len(e.commands)-maxCommands/2:])
		e.commands = e.commands[:n]
	}
	e.commands = append(e.commands, line)
	hook := e.hook
	e.mu.Unlock()
	if hook != nil {
		hook(line, first)
	}
	e.delay()

	e.mu.Lock()
	// A line can chain commands: "AT+CMGF=0;+CNMI=2,1" or "ATE0V1".
	rest := line[2:]
	var info []string
	final := "OK"
	for rest != "" && final == "OK" {
		var cmd string
		cmd, rest = nextCommand(rest)
		if up := upperASCII(cmd); strings.HasPrefix(up, "+CMGS=") && up != "+CMGS=?" {
			if rest != "" || len(info) > 0 {
				final = "ERROR"
				break
			}
			if e.faults.unplugOnSend {
				// Pulled out as the command arrives: no prompt, no answer.
				e.faults.unplugOnSend = false
				e.mu.Unlock()
				go e.unplug() // it waits for this reader to stop
				return 0, false
			}
			n, errLine := e.cmgsStart(cmd)
			// An AT+CNMA before it on the line may have made a +CMT
			// due: it comes before the prompt, as URCs do.
			after := e.afterAnswer
			e.afterAnswer = ""
			e.mu.Unlock()
			e.write(c, after)
			if errLine != "" {
				e.answer(c, nil, errLine)
				return 0, false
			}
			return n, true
		}
		var out []string
		out, final = e.exec(cmd)
		info = append(info, out...)
	}
	after := e.afterAnswer
	e.afterAnswer = ""
	e.mu.Unlock()
	e.answer(c, info, final)
	e.write(c, after)
	return 0, false
}

// nextCommand splits the first command off a command line (after "AT"):
// an extended command runs to ';', a basic one is a letter (or &letter) and
// its digits.
func nextCommand(s string) (cmd, rest string) {
	s = strings.TrimLeft(s, " ;")
	if s == "" {
		return "", ""
	}
	switch s[0] {
	case '+', '^', '$', '#', '*':
		if i := strings.IndexByte(s, ';'); i >= 0 {
			return s[:i], s[i+1:]
		}
		return s, ""
	}
	i := 1
	if s[0] == '&' && len(s) > 1 {
		i = 2
	}
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '=' || s[i] == '?') {
		i++
	}
	return s[:i], s[i:]
}

// upperASCII upper-cases a-z only. AT commands are ASCII (ITU-T V.250
// §5.1); strings.ToUpper would turn each invalid UTF-8 byte a client sends
// into a 3-byte U+FFFD and change the string's length.
func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// exec runs one command with e.mu held and returns information lines and the
// final result.
func (e *Emulator) exec(cmd string) ([]string, string) {
	up := upperASCII(cmd) // same length as cmd: indexes into one fit the other
	name, arg := up, ""
	if i := strings.IndexAny(up, "=?"); i >= 0 {
		name, arg = up[:i], cmd[i:]
	}
	simReady := e.sim.unlocked && !e.sim.puk && !e.sim.absent
	if e.faults.refused[name] {
		return nil, e.cmsError(303)
	}
	switch name {
	case "":
		return nil, "OK"
	case "E":
		e.st.echo = arg != "" && arg != "0" && arg != "=0"
		if !e.st.echo {
			e.st.sessions++
		}
		return nil, "OK"
	case "E0":
		e.st.echo = false
		e.st.sessions++
		return nil, "OK"
	case "E1":
		e.st.echo = true
		return nil, "OK"
	case "Z", "Z0", "&F", "&F0":
		pin, unlocked := e.sim.pin, e.sim.unlocked
		e.st = modemState{echo: true, cnmi: [5]int{2, 1, 0, 0, 0}, cscs: "IRA", sessions: e.st.sessions + 1}
		e.sim.pin, e.sim.unlocked = pin, unlocked
		// Back to <service> 0: a +CMT still waiting for its AT+CNMA, and
		// those held back behind it, are delivered again as the default
		// AT+CNMI says (stored, with +CMTI).
		e.afterAnswer += e.rerouteLocked()
		return nil, "OK"
	case "V1", "V", "Q0", "Q", "&W", "&W0", "&C1", "&D2", "&D0", "&C0", "X4", "X", "S0", "&K0", "&K3", "L", "M", "M0":
		return nil, "OK"
	case "I", "I0":
		return []string{e.cfg.Manufacturer, e.cfg.Model, "Revision: " + e.cfg.Revision}, "OK"
	case "+CMEE":
		switch arg {
		case "?":
			return []string{fmt.Sprintf("+CMEE: %d", e.st.cmee)}, "OK"
		case "=?":
			return []string{"+CMEE: (0-2)"}, "OK"
		}
		n, ok := intArg(arg)
		if !ok || n < 0 || n > 2 {
			return nil, e.cmeError(3)
		}
		e.st.cmee = n
		return nil, "OK"
	case "+CPIN":
		return e.cpin(arg)
	case "+CPINR":
		return e.cpinr(arg)
	case "+CSCS":
		switch arg {
		case "?":
			return []string{`+CSCS: "` + e.st.cscs + `"`}, "OK"
		case "=?":
			return []string{`+CSCS: ("IRA","GSM","UCS2")`}, "OK"
		}
		v := upperASCII(strings.Trim(strings.TrimPrefix(arg, "="), `"`))
		switch v {
		case "IRA", "GSM", "UCS2":
			e.st.cscs = v
			return nil, "OK"
		}
		return nil, e.cmeError(4)
	case "+CGMI", "+GMI":
		if arg == "=?" {
			return nil, "OK"
		}
		return []string{e.cfg.Manufacturer}, "OK"
	case "+CGMM", "+GMM":
		if arg == "=?" {
			return nil, "OK"
		}
		return []string{e.cfg.Model}, "OK"
	case "+CGMR", "+GMR":
		if arg == "=?" {
			return nil, "OK"
		}
		return []string{e.cfg.Revision}, "OK"
	case "+CGSN", "+GSN":
		if arg == "=?" {
			return nil, "OK"
		}
		return []string{e.cfg.IMEI}, "OK"
	case "+CIMI":
		if arg == "=?" {
			return nil, "OK"
		}
		if !simReady {
			return nil, e.simError()
		}
		return []string{e.cfg.IMSI}, "OK"
	case "+GCAP":
		return []string{"+GCAP: +CGSM"}, "OK"
	case "+CFUN":
		switch arg {
		case "?":
			return []string{"+CFUN: 1"}, "OK"
		case "=?":
			return []string{"+CFUN: (0,1,4),(0,1)"}, "OK"
		}
		return nil, "OK"
	case "+CSQ":
		if arg == "=?" {
			return []string{"+CSQ: (0-31,99),(0-7,99)"}, "OK"
		}
		return []string{fmt.Sprintf("+CSQ: %d,99", e.sim.csq)}, "OK"
	case "+CREG", "+CGREG", "+CEREG":
		switch arg {
		case "?":
			stat := e.sim.reg
			if !simReady {
				stat = 0
			}
			return []string{fmt.Sprintf("%s: %d,%d", name, e.st.creg, stat)}, "OK"
		case "=?":
			return []string{name + ": (0-2)"}, "OK"
		}
		n, ok := intArg(arg)
		if !ok || n < 0 || n > 2 {
			return nil, e.cmeError(3)
		}
		if name == "+CREG" {
			e.st.creg = n
		}
		return nil, "OK"
	case "+COPS":
		switch arg {
		case "?":
			if simReady && (e.sim.reg == 1 || e.sim.reg == 5) {
				return []string{`+COPS: 0,0,"` + e.cfg.Operator + `",0`}, "OK"
			}
			return []string{"+COPS: 0"}, "OK"
		case "=?":
			return []string{`+COPS: (2,"` + e.cfg.Operator + `","EMU","00101",0),,(0-4),(0-2)`}, "OK"
		}
		return nil, "OK"
	case "+CSCA":
		if !simReady {
			return nil, e.simCMSError()
		}
		switch arg {
		case "?":
			if e.sim.smsc == "" {
				return []string{`+CSCA: "",129`}, "OK"
			}
			ton := 129
			if strings.HasPrefix(e.sim.smsc, "+") {
				ton = 145
			}
			return []string{fmt.Sprintf(`+CSCA: "%s",%d`, e.sim.smsc, ton)}, "OK"
		case "=?":
			return nil, "OK"
		}
		f := strings.Split(strings.TrimPrefix(arg, "="), ",")
		e.sim.smsc = strings.Trim(f[0], `"`)
		return nil, "OK"
	case "+CMGF":
		switch arg {
		case "?":
			return []string{fmt.Sprintf("+CMGF: %d", e.st.cmgf)}, "OK"
		case "=?":
			// PDU mode only: text mode is what this emulator does not do.
			return []string{"+CMGF: (0)"}, "OK"
		}
		n, ok := intArg(arg)
		if !ok || n != 0 {
			return nil, e.cmsError(303)
		}
		e.st.cmgf = 0
		return nil, "OK"
	case "+CSMS":
		// 27.005 §3.2.1: <service> 1 (Phase 2+) makes each +CMT and +CDS
		// wait for AT+CNMA; the read command reports the one set.
		switch arg {
		case "?":
			return []string{fmt.Sprintf("+CSMS: %d,1,1,1", e.st.csms)}, "OK"
		case "=?":
			return []string{"+CSMS: (0,1)"}, "OK"
		}
		n, ok := intArg(arg)
		if !ok || n < 0 || n > 1 {
			return nil, e.cmsError(303)
		}
		e.st.csms = n
		return []string{"+CSMS: 1,1,1"}, "OK"
	case "+CNMI":
		switch arg {
		case "?":
			n := e.st.cnmi
			return []string{fmt.Sprintf("+CNMI: %d,%d,%d,%d,%d", n[0], n[1], n[2], n[3], n[4])}, "OK"
		case "=?":
			return []string{"+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"}, "OK"
		}
		f := strings.Split(strings.TrimPrefix(arg, "="), ",")
		var v [5]int
		max := [5]int{2, 3, 3, 2, 1}
		for i, s := range f {
			if i >= 5 {
				return nil, e.cmsError(303)
			}
			if s == "" {
				v[i] = e.st.cnmi[i]
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > max[i] {
				return nil, e.cmsError(303)
			}
			v[i] = n
		}
		e.st.cnmi = v
		return nil, "OK"
	case "+CNMA":
		return e.cnma(arg)
	case "+CMMS":
		if arg == "?" {
			return []string{"+CMMS: 0"}, "OK"
		}
		return nil, "OK"
	case "+CPMS":
		if !simReady {
			return nil, e.simCMSError()
		}
		return e.cpms(arg)
	case "+CMGL":
		if !simReady {
			return nil, e.simCMSError()
		}
		return e.cmgl(arg)
	case "+CMGR":
		if !simReady {
			return nil, e.simCMSError()
		}
		return e.cmgr(arg)
	case "+CMGD":
		if !simReady {
			return nil, e.simCMSError()
		}
		return e.cmgd(arg)
	case "+CMGS":
		if arg == "=?" {
			return nil, "OK"
		}
		return nil, e.cmsError(302)
	case "+CCID", "+ICCID":
		if !simReady {
			return nil, e.simError()
		}
		return []string{"+CCID: 8901260123456789012"}, "OK"
	}
	return nil, "ERROR"
}

func intArg(arg string) (int, bool) {
	if !strings.HasPrefix(arg, "=") {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(arg[1:]))
	return n, err == nil
}

func (e *Emulator) simError() string {
	if e.sim.absent {
		return e.cmeError(10)
	}
	if e.sim.puk {
		return e.cmeError(12)
	}
	return e.cmeError(11)
}

func (e *Emulator) simCMSError() string {
	if e.sim.absent {
		return e.cmsError(310)
	}
	if e.sim.puk {
		return e.cmsError(316)
	}
	return e.cmsError(311)
}

// cpin answers AT+CPIN? and AT+CPIN=<pin>; it counts every PIN try.
func (e *Emulator) cpin(arg string) ([]string, string) {
	if e.sim.absent {
		return nil, e.cmeError(10)
	}
	switch arg {
	case "?":
		switch {
		case e.sim.puk:
			return []string{"+CPIN: SIM PUK"}, "OK"
		case !e.sim.unlocked:
			return []string{"+CPIN: SIM PIN"}, "OK"
		}
		return []string{"+CPIN: READY"}, "OK"
	case "=?":
		return nil, "OK"
	}
	if !strings.HasPrefix(arg, "=") {
		return nil, e.cmeError(3)
	}
	e.sim.attempts++
	pin := strings.Trim(strings.Split(arg[1:], ",")[0], `" `)
	switch {
	case e.sim.puk:
		return nil, e.cmeError(12)
	case e.sim.unlocked:
		return nil, e.cmeError(3) // no PIN asked: operation not allowed
	case pin == e.sim.pin:
		e.sim.unlocked = true
		e.sim.left = 3
		return nil, "OK"
	}
	e.sim.left--
	if e.sim.left <= 0 {
		e.sim.puk = true
	}
	return nil, e.cmeError(16)
}

// cpinr answers AT+CPINR[=<sel_code>] (3GPP TS 27.007 §8.65): the tries left
// for the SIM PIN and PUK, so that a client can see an earlier wrong PIN.
func (e *Emulator) cpinr(arg string) ([]string, string) {
	if e.sim.absent {
		return nil, e.cmeError(10)
	}
	if arg == "=?" {
		return nil, "OK"
	}
	sel := "*"
	if arg != "" {
		if !strings.HasPrefix(arg, "=") {
			return nil, e.cmeError(3)
		}
		sel = upperASCII(strings.Trim(arg[1:], `" `))
	}
	pinLeft, pukLeft := e.sim.left, 10
	if e.sim.puk {
		pinLeft = 0
	}
	var out []string
	for _, c := range []struct {
		code        string
		left, total int
	}{{"SIM PIN", pinLeft, 3}, {"SIM PUK", pukLeft, 10}} {
		if sel == "*" || sel == "SIM*" || sel == c.code {
			out = append(out, fmt.Sprintf("+CPINR: %s,%d,%d", c.code, c.left, c.total))
		}
	}
	return out, "OK"
}

// cnma answers AT+CNMA[=<n>[,<length>]] (27.005 §3.4.4, PDU mode): the
// acknowledgement of the +CMT or +CDS shown under AT+CSMS=1. <n> 0 or 1 is
// RP-ACK, 2 RP-ERROR. With nothing to acknowledge it is +CMS ERROR: 340.
// An acknowledgement TPDU (<length> > 0, typed after a prompt) is not
// supported: 303.
func (e *Emulator) cnma(arg string) ([]string, string) {
	if arg == "=?" {
		return []string{"+CNMA: (0-2)"}, "OK"
	}
	n := 0
	if arg != "" {
		if !strings.HasPrefix(arg, "=") {
			return nil, e.cmsError(304)
		}
		f := strings.Split(arg[1:], ",")
		var err error
		if n, err = strconv.Atoi(strings.TrimSpace(f[0])); err != nil || n < 0 || n > 2 || len(f) > 2 {
			return nil, e.cmsError(304)
		}
		if len(f) == 2 {
			if l, err := strconv.Atoi(strings.TrimSpace(f[1])); err != nil || l != 0 {
				return nil, e.cmsError(303)
			}
		}
	}
	if e.ack.waiting == nil {
		return nil, e.cmsError(340)
	}
	e.afterAnswer += e.acknowledgeLocked(n != 2)
	return nil, "OK"
}
