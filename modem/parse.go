package modem

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Parsers for information lines and URCs (3GPP TS 27.005 / 27.007). Every one
// of them reads outside input: they return errors, never panic (see the
// FuzzXxx targets in fuzz_test.go).

// splitParams splits "a,\"b,c\",d" at commas outside quotes and unquotes each
// field.
func splitParams(s string) []string {
	var out []string
	var cur strings.Builder
	inQ := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQ = !inQ
		case c == ',' && !inQ:
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	out = append(out, strings.TrimSpace(cur.String()))
	return out
}

// afterPrefix returns the text after "<prefix>" and optional spaces.
func afterPrefix(line, prefix string) (string, bool) {
	if !strings.HasPrefix(line, prefix) {
		return "", false
	}
	return strings.TrimSpace(line[len(prefix):]), true
}

func atoiField(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("not a number: %q", truncate(s, 12))
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Signal is a parsed +CSQ answer (27.007 §8.5).
type Signal struct {
	RSSI  int // 0..31, 99 unknown
	BER   int // 0..7, 99 unknown
	DBm   int // -113..-51; 0 when unknown
	Bars  int // 0..5
	Known bool
}

// ParseCSQ parses "+CSQ: <rssi>,<ber>".
func ParseCSQ(line string) (Signal, error) {
	rest, ok := afterPrefix(line, "+CSQ:")
	if !ok {
		return Signal{}, fmt.Errorf("not a +CSQ line")
	}
	f := splitParams(rest)
	if len(f) < 2 {
		return Signal{}, fmt.Errorf("+CSQ: want 2 fields, got %d", len(f))
	}
	rssi, err := atoiField(f[0])
	if err != nil {
		return Signal{}, fmt.Errorf("+CSQ rssi: %w", err)
	}
	ber, err := atoiField(f[1])
	if err != nil {
		return Signal{}, fmt.Errorf("+CSQ ber: %w", err)
	}
	s := Signal{RSSI: rssi, BER: ber}
	if rssi < 0 || rssi > 31 {
		if rssi != 99 {
			return Signal{}, fmt.Errorf("+CSQ rssi %d out of range 0..31,99", rssi)
		}
		return s, nil
	}
	s.Known = true
	s.DBm = -113 + 2*rssi
	// Bars as phones show them: thresholds at -107, -101, -95, -89, -83 dBm
	// (roughly rssi 3, 6, 9, 12, 15).
	switch {
	case s.DBm >= -83:
		s.Bars = 5
	case s.DBm >= -89:
		s.Bars = 4
	case s.DBm >= -95:
		s.Bars = 3
	case s.DBm >= -101:
		s.Bars = 2
	case s.DBm >= -107:
		s.Bars = 1
	}
	return s, nil
}

// Registration is the network registration state of +CREG (27.007 §7.2).
type Registration int

// Registration states as numbered by 27.007.
const (
	RegNotSearching Registration = 0
	RegHome         Registration = 1
	RegSearching    Registration = 2
	RegDenied       Registration = 3
	RegUnknown      Registration = 4
	RegRoaming      Registration = 5
)

// String names the state as the status page shows it.
func (r Registration) String() string {
	switch r {
	case RegNotSearching:
		return "not registered"
	case RegHome:
		return "home"
	case RegSearching:
		return "searching"
	case RegDenied:
		return "denied"
	case RegUnknown:
		return "unknown"
	case RegRoaming:
		return "roaming"
	case 6, 7:
		return "home (SMS only)"
	case 9, 10:
		return "roaming (CSFB not preferred)"
	}
	return "state " + strconv.Itoa(int(r))
}

// Registered reports whether SMS can go out: home or roaming.
func (r Registration) Registered() bool {
	return r == RegHome || r == RegRoaming || r == 6 || r == 7 || r == 9 || r == 10
}

// ParseCREG parses "+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]" (the answer to
// AT+CREG?) when answer is true, and the URC "+CREG: <stat>[,<lac>,<ci>[,<AcT>]]"
// when it is false. It also takes +CGREG and +CEREG.
func ParseCREG(line string, answer bool) (Registration, error) {
	var rest string
	ok := false
	for _, p := range []string{"+CREG:", "+CGREG:", "+CEREG:"} {
		if rest, ok = afterPrefix(line, p); ok {
			break
		}
	}
	if !ok {
		return 0, fmt.Errorf("not a +CREG line")
	}
	f := splitParams(rest)
	i := 0
	if answer {
		i = 1
	}
	if len(f) <= i {
		return 0, fmt.Errorf("+CREG: missing <stat>")
	}
	st, err := atoiField(f[i])
	if err != nil {
		return 0, fmt.Errorf("+CREG stat: %w", err)
	}
	if st < 0 || st > 11 {
		return 0, fmt.Errorf("+CREG stat %d out of range 0..11", st)
	}
	return Registration(st), nil
}

// StoredMessage is one message listed by +CMGL or read by +CMGR in PDU mode.
type StoredMessage struct {
	Index  int    // storage index; -1 for +CMGR (the caller knows it)
	Stat   int    // 0 unread, 1 read, 2 unsent, 3 sent
	Length int    // TPDU length in octets (without the SMSC field)
	PDU    []byte // as the modem printed it, SMSC field included
}

// ParseCMGLHeader parses "+CMGL: <index>,<stat>,[<alpha>],<length>".
func ParseCMGLHeader(line string) (StoredMessage, error) {
	rest, ok := afterPrefix(line, "+CMGL:")
	if !ok {
		return StoredMessage{}, fmt.Errorf("not a +CMGL line")
	}
	f := splitParams(rest)
	if len(f) < 3 {
		return StoredMessage{}, fmt.Errorf("+CMGL: want 4 fields, got %d", len(f))
	}
	idx, err := atoiField(f[0])
	if err != nil || idx < 0 {
		return StoredMessage{}, fmt.Errorf("+CMGL index: bad value")
	}
	stat, err := atoiField(f[1])
	if err != nil {
		return StoredMessage{}, fmt.Errorf("+CMGL stat: %w", err)
	}
	n, err := atoiField(f[len(f)-1])
	if err != nil || n < 0 || n > 255 {
		return StoredMessage{}, fmt.Errorf("+CMGL length: bad value")
	}
	return StoredMessage{Index: idx, Stat: stat, Length: n}, nil
}

// ParseCMGRHeader parses "+CMGR: <stat>,[<alpha>],<length>".
func ParseCMGRHeader(line string) (StoredMessage, error) {
	rest, ok := afterPrefix(line, "+CMGR:")
	if !ok {
		return StoredMessage{}, fmt.Errorf("not a +CMGR line")
	}
	f := splitParams(rest)
	if len(f) < 2 {
		return StoredMessage{}, fmt.Errorf("+CMGR: want 3 fields, got %d", len(f))
	}
	stat, err := atoiField(f[0])
	if err != nil {
		return StoredMessage{}, fmt.Errorf("+CMGR stat: %w", err)
	}
	n, err := atoiField(f[len(f)-1])
	if err != nil || n < 0 || n > 255 {
		return StoredMessage{}, fmt.Errorf("+CMGR length: bad value")
	}
	return StoredMessage{Index: -1, Stat: stat, Length: n}, nil
}

// decodePDULine decodes a hex PDU line and checks it against the TPDU length
// the header announced: the line holds the SMSC field (one length octet plus
// the address) and then length octets of TPDU.
func decodePDULine(line string, length int) ([]byte, error) {
	line = strings.TrimSpace(line)
	b, err := hex.DecodeString(line)
	if err != nil {
		return nil, fmt.Errorf("PDU is not hex (%d characters)", len(line))
	}
	if len(b) < length {
		return nil, fmt.Errorf("PDU shorter (%d octets) than its announced TPDU length %d", len(b), length)
	}
	return b, nil
}

// ParseCMGL parses the information lines of AT+CMGL in PDU mode: header and
// PDU line pairs. A pair that does not parse is returned in bad (by index when
// known) rather than stopping the listing, so one broken message cannot hide
// the others.
func ParseCMGL(lines []string) (msgs []StoredMessage, bad []error) {
	for i := 0; i < len(lines); i++ {
		h, err := ParseCMGLHeader(lines[i])
		if err != nil {
			bad = append(bad, fmt.Errorf("line %d: %w", i+1, err))
			continue
		}
		if i+1 >= len(lines) || strings.HasPrefix(lines[i+1], "+CMGL:") {
			bad = append(bad, fmt.Errorf("message %d: PDU line missing", h.Index))
			continue
		}
		i++
		b, err := decodePDULine(lines[i], h.Length)
		if err != nil {
			bad = append(bad, fmt.Errorf("message %d: %w", h.Index, err))
			h.PDU = nil
			msgs = append(msgs, h) // the caller still sees the index, to report it
			continue
		}
		h.PDU = b
		msgs = append(msgs, h)
	}
	return msgs, bad
}

// ParseCMGR parses the information lines of AT+CMGR in PDU mode.
func ParseCMGR(lines []string) (StoredMessage, error) {
	if len(lines) == 0 {
		return StoredMessage{}, fmt.Errorf("+CMGR: empty answer (no message at that index)")
	}
	h, err := ParseCMGRHeader(lines[0])
	if err != nil {
		return StoredMessage{}, err
	}
	if len(lines) < 2 {
		return h, fmt.Errorf("+CMGR: PDU line missing")
	}
	b, err := decodePDULine(lines[1], h.Length)
	if err != nil {
		return h, err
	}
	h.PDU = b
	return h, nil
}

// ParseIndication parses "+CMTI: <mem>,<index>" and "+CDSI: <mem>,<index>".
func ParseIndication(line string) (mem string, index int, err error) {
	rest, ok := afterPrefix(line, "+CMTI:")
	if !ok {
		rest, ok = afterPrefix(line, "+CDSI:")
	}
	if !ok {
		return "", 0, fmt.Errorf("not a +CMTI/+CDSI line")
	}
	f := splitParams(rest)
	if len(f) < 2 {
		return "", 0, fmt.Errorf("indication: want 2 fields, got %d", len(f))
	}
	index, err = atoiField(f[1])
	if err != nil || index < 0 {
		return "", 0, fmt.Errorf("indication index: bad value")
	}
	return f[0], index, nil
}

// ParseDirectPDU parses a two-line URC in PDU mode: "+CMT: [<alpha>],<length>"
// or "+CDS: <length>", and its PDU line. The returned PDU starts with the SMSC
// field when the modem included one (its length exceeds the TPDU length);
// withSMSC says so.
func ParseDirectPDU(u URC) (b []byte, withSMSC bool, err error) {
	var rest string
	var ok bool
	if rest, ok = afterPrefix(u.Line, "+CMT:"); !ok {
		if rest, ok = afterPrefix(u.Line, "+CDS:"); !ok {
			return nil, false, fmt.Errorf("not a +CMT/+CDS line")
		}
	}
	f := splitParams(rest)
	n, err := atoiField(f[len(f)-1])
	if err != nil || n < 0 || n > 255 {
		return nil, false, fmt.Errorf("%s length: bad value", strings.SplitN(u.Line, ":", 2)[0])
	}
	if u.PDU == "" {
		return nil, false, fmt.Errorf("PDU line missing")
	}
	b, err = decodePDULine(u.PDU, n)
	if err != nil {
		return nil, false, err
	}
	return b, len(b) > n, nil
}

// ParseCMGS parses "+CMGS: <mr>[,<scts>]" and returns TP-MR.
func ParseCMGS(lines []string) (int, error) {
	for _, l := range lines {
		if rest, ok := afterPrefix(l, "+CMGS:"); ok {
			f := splitParams(rest)
			mr, err := atoiField(f[0])
			if err != nil || mr < 0 || mr > 255 {
				return 0, fmt.Errorf("+CMGS: bad message reference")
			}
			return mr, nil
		}
	}
	return 0, fmt.Errorf("+CMGS line missing from the answer")
}

// ParseCPIN parses "+CPIN: <code>" and returns the code ("READY", "SIM PIN",
// "SIM PUK", ...).
func ParseCPIN(lines []string) (string, error) {
	for _, l := range lines {
		if rest, ok := afterPrefix(l, "+CPIN:"); ok {
			return strings.Trim(rest, "\" "), nil
		}
	}
	return "", fmt.Errorf("+CPIN line missing from the answer")
}

// ParseCSCA parses "+CSCA: <sca>,<tosca>" and returns the SMSC number ("" if
// the SIM has none).
func ParseCSCA(lines []string) (string, error) {
	for _, l := range lines {
		if rest, ok := afterPrefix(l, "+CSCA:"); ok {
			return splitParams(rest)[0], nil
		}
	}
	return "", fmt.Errorf("+CSCA line missing from the answer")
}

// ParseCOPS parses "+COPS: <mode>[,<format>,<oper>[,<AcT>]]" and returns the
// operator ("" when not registered).
func ParseCOPS(lines []string) (string, error) {
	for _, l := range lines {
		if rest, ok := afterPrefix(l, "+COPS:"); ok {
			f := splitParams(rest)
			if len(f) >= 3 {
				return f[2], nil
			}
			return "", nil
		}
	}
	return "", fmt.Errorf("+COPS line missing from the answer")
}

// firstPlain returns the first information line without a "+XXX:" prefix,
// stripped of a "+CGMI: " style prefix some modems add anyway.
func firstPlain(lines []string, prefix string) string {
	for _, l := range lines {
		if rest, ok := afterPrefix(l, prefix); ok {
			return strings.Trim(rest, "\" ")
		}
		if l != "" {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// ParseCPINR parses the answer to AT+CPINR="SIM PIN" (3GPP TS 27.007 §8.65):
// "+CPINR: SIM PIN,<retries>[,<default_retries>]". A missing default is 3,
// the PIN tries of every SIM (3GPP TS 31.102).
func ParseCPINR(lines []string) (left, def int, err error) {
	for _, l := range lines {
		rest, ok := afterPrefix(l, "+CPINR:")
		if !ok {
			continue
		}
		f := splitParams(rest)
		if len(f) < 2 || !strings.EqualFold(f[0], "SIM PIN") {
			continue
		}
		left, err := atoiField(f[1])
		if err != nil || left < 0 || left > 99 {
			return 0, 0, fmt.Errorf("+CPINR retries: bad value")
		}
		def := 3
		if len(f) >= 3 && f[2] != "" {
			def, err = atoiField(f[2])
			if err != nil || def < 1 || def > 99 {
				return 0, 0, fmt.Errorf("+CPINR default retries: bad value")
			}
		}
		return left, def, nil
	}
	return 0, 0, fmt.Errorf("+CPINR: SIM PIN line missing from the answer")
}

// ParseQPINC parses Quectel's answer to AT+QPINC="SC":
// "+QPINC: "SC",<pincounter>,<pukcounter>", and returns the PIN tries left.
func ParseQPINC(lines []string) (int, error) {
	for _, l := range lines {
		rest, ok := afterPrefix(l, "+QPINC:")
		if !ok {
			continue
		}
		f := splitParams(rest)
		if len(f) < 2 || !strings.EqualFold(f[0], "SC") {
			continue
		}
		n, err := atoiField(f[1])
		if err != nil || n < 0 || n > 99 {
			return 0, fmt.Errorf("+QPINC counter: bad value")
		}
		return n, nil
	}
	return 0, fmt.Errorf("+QPINC: \"SC\" line missing from the answer")
}

// ParseCSMS parses the answer to AT+CSMS=<service>, "+CSMS: <mt>,<mo>,<bm>"
// (27.005 §3.2.1), and returns <mt>: 1 when the modem supports
// mobile-terminated messages under that service.
func ParseCSMS(lines []string) (mt int, err error) {
	for _, l := range lines {
		if rest, ok := afterPrefix(l, "+CSMS:"); ok {
			mt, err := strconv.Atoi(strings.TrimSpace(splitParams(rest)[0]))
			if err != nil {
				return 0, fmt.Errorf("+CSMS: bad <mt>: %w", err)
			}
			return mt, nil
		}
	}
	return 0, fmt.Errorf("+CSMS line missing from the answer")
}
