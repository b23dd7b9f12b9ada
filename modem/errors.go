package modem

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Error is a failed modem operation. CMS and CME carry the code of a
// "+CMS ERROR: n" (3GPP TS 27.005 §3.2.5) or "+CME ERROR: n" (27.007 §9.2)
// final result, -1 when there was none. Transient says whether trying again
// later can succeed (network congestion, a timeout, the port gone) or not
// (an invalid number, a barred destination, a wrong PIN): the dispatcher
// retries the first kind and fails the message on the second.
//
// Uncertain is set when a PDU was handed to the modem but no answer came
// (timeout, port gone, cancelled): the network may or may not have taken the
// part. A retry may then deliver it twice; the dispatcher decides.
type Error struct {
	Op        string // the AT command or step, never with a PIN, number or text
	CMS       int
	CME       int
	Transient bool
	Uncertain bool
	Err       error
}

// Error says what failed, the +CMS/+CME code with its meaning, and whether
// retrying can help. It never holds a PIN, a number or a text.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("modem ")
	b.WriteString(e.Op)
	switch {
	case e.CMS >= 0:
		fmt.Fprintf(&b, ": +CMS ERROR %d (%s)", e.CMS, cmsText(e.CMS))
	case e.CME >= 0:
		fmt.Fprintf(&b, ": +CME ERROR %d (%s)", e.CME, cmeText(e.CME))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Uncertain {
		b.WriteString(" [the part may have gone out]")
	}
	if e.Transient {
		b.WriteString(" [transient: worth retrying later]")
	} else {
		b.WriteString(" [permanent: retrying will not help]")
	}
	return b.String()
}

// Unwrap returns the cause, so that errors.Is finds ErrTimeout,
// ErrPortClosed, ErrPINWrong and the other sentinels.
func (e *Error) Unwrap() error { return e.Err }

// IsTransient reports whether err is worth retrying later: a timeout, the port
// gone, the modem not ready, or a +CMS/+CME code that means a temporary
// condition. Errors that are not modem errors count as transient only when
// they are timeouts or cancellations.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var me *Error
	if errors.As(err, &me) {
		return me.Transient
	}
	return errors.Is(err, ErrNotReady) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrPortClosed) ||
		errors.Is(err, context.DeadlineExceeded)
}

// IsUncertain reports whether err says a part may have gone out although
// the send failed (see Error.Uncertain).
func IsUncertain(err error) bool {
	var me *Error
	return errors.As(err, &me) && me.Uncertain
}

var (
	// ErrNotReady: the modem is not connected, not initialised or not
	// registered on the network. Transient.
	ErrNotReady = errors.New("modem not ready (not connected, not initialised or not registered); the message stays queued")
	// ErrTooManyParts: the text needs more parts than Config.MaxParts. Permanent.
	ErrTooManyParts = errors.New("message too long: more parts than the configured maximum (shorten the text or raise max_parts)")
	// ErrPINWrong: the SIM refused the configured PIN. It is never retried:
	// three wrong PINs lock the SIM. Permanent; Run returns it.
	ErrPINWrong = errors.New("SIM refused the configured PIN; not retried (3 wrong PINs lock the SIM): fix the PIN in the config, check the SIM in a phone, then restart")
	// ErrPINRequired: the SIM asks for a PIN and none is configured. Run returns it.
	ErrPINRequired = errors.New("SIM needs a PIN and none is configured: set the modem PIN in the config and restart")
	// ErrPUK: the SIM is PUK-locked. Run returns it.
	ErrPUK = errors.New("SIM is PUK-locked (too many wrong PINs): unlock it with its PUK in a phone, then restart")
	// ErrNoSIM: no SIM card or a broken one. Run returns it.
	ErrNoSIM = errors.New("no usable SIM card in the modem: insert the SIM and restart")
	// ErrInvalidNumber: the recipient cannot be encoded. Permanent.
	ErrInvalidNumber = errors.New("invalid recipient number")
)

// transientCMS are +CMS ERROR codes after which the same message can succeed
// later (27.005 §3.2.5: 0..127 are 24.011 Annex E-2 RP causes, 128..255
// 23.040 §9.2.3.22 TP-FCS values, 300..511 27.005 ME/SC errors).
var transientCMS = map[int]bool{
	27: true, // destination out of service
	38: true, // network out of order
	41: true, // temporary failure
	42: true, // congestion
	47: true, // resources unavailable, unspecified
	// TP-FCS
	0xC0: true, // SC busy
	0xC2: true, // SC system failure
	0xD3: true, // memory capacity exceeded
	0xD4: true, // (U)SIM application toolkit busy
	// 27.005 ME errors
	300: true, // ME failure
	301: true, // SMS service of ME reserved
	314: true, // (U)SIM busy
	320: true, // memory failure
	322: true, // memory full
	331: true, // no network service
	332: true, // network timeout
	500: true, // unknown error: many modems use it for passing trouble
	512: true, // (vendor) SIMCom: network busy
}

// transientCME are +CME ERROR codes (27.007 §9.2) worth retrying.
var transientCME = map[int]bool{
	14:  true, // SIM busy
	30:  true, // no network service
	31:  true, // network timeout
	100: true, // unknown
}

// CMSTransient reports whether a +CMS ERROR code is a temporary condition
// (27.005 §3.2.5). Unknown codes are permanent: better a failed message a
// person can look at than one retried without end.
func CMSTransient(code int) bool { return transientCMS[code] }

var cmsTexts = map[int]string{
	1: "unassigned number", 8: "operator determined barring", 10: "call barred",
	21: "short message transfer rejected", 27: "destination out of service",
	28: "unidentified subscriber", 29: "facility rejected", 30: "unknown subscriber",
	38: "network out of order", 41: "temporary failure", 42: "congestion",
	47: "resources unavailable", 50: "requested facility not subscribed",
	69: "requested facility not implemented", 81: "invalid short message reference",
	95: "invalid message", 96: "invalid mandatory information", 97: "message type non-existent",
	98: "message not compatible", 99: "information element non-existent",
	111: "protocol error", 127: "interworking unspecified",
	0xC0: "SC busy", 0xC1: "no SC subscription", 0xC2: "SC system failure",
	0xC3: "invalid SME address", 0xC4: "destination SME barred", 0xC5: "SM rejected, duplicate",
	0xD3: "memory capacity exceeded", 0xD4: "SIM toolkit busy",
	300: "ME failure", 301: "SMS service of ME reserved", 302: "operation not allowed",
	303: "operation not supported", 304: "invalid PDU mode parameter", 305: "invalid text mode parameter",
	310: "SIM not inserted", 311: "SIM PIN required", 312: "PH-SIM PIN required", 313: "SIM failure",
	314: "SIM busy", 315: "SIM wrong", 316: "SIM PUK required", 317: "SIM PIN2 required",
	318: "SIM PUK2 required", 320: "memory failure", 321: "invalid memory index", 322: "memory full",
	330: "SMSC address unknown", 331: "no network service", 332: "network timeout",
	340: "no +CNMA acknowledgement expected", 500: "unknown error",
}

func cmsText(code int) string {
	if t, ok := cmsTexts[code]; ok {
		return t
	}
	return "see 3GPP TS 27.005 §3.2.5"
}

var cmeTexts = map[int]string{
	0: "phone failure", 3: "operation not allowed", 4: "operation not supported",
	10: "SIM not inserted", 11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure",
	14: "SIM busy", 15: "SIM wrong", 16: "incorrect password", 17: "SIM PIN2 required",
	18: "SIM PUK2 required", 20: "memory full", 21: "invalid index", 22: "not found",
	30: "no network service", 31: "network timeout", 100: "unknown",
}

func cmeText(code int) string {
	if t, ok := cmeTexts[code]; ok {
		return t
	}
	return "see 3GPP TS 27.007 §9.2"
}

// textCodes maps the verbose forms (AT+CMEE=2) back to numbers, for modems
// that insist on them.
var cmeByText, cmsByText = reverse(cmeTexts), reverse(cmsTexts)

func reverse(m map[int]string) map[string]int {
	r := make(map[string]int, len(m))
	for k, v := range m {
		r[strings.ToLower(v)] = k
	}
	return r
}

// parseFinalError reads a final error line: "ERROR" → (-1,-1),
// "+CMS ERROR: 38" → (38,-1), "+CME ERROR: SIM PIN required" → (-1,11).
// Unknown verbose texts give code 500 (CMS) or 100 (CME): "unknown".
func parseFinalError(line string) (cms, cme int) {
	cms, cme = -1, -1
	parse := func(rest string, byText map[string]int, unknown int) int {
		rest = strings.TrimSpace(rest)
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 {
			return n
		}
		if n, ok := byText[strings.ToLower(rest)]; ok {
			return n
		}
		return unknown
	}
	switch {
	case strings.HasPrefix(line, "+CMS ERROR:"):
		cms = parse(line[len("+CMS ERROR:"):], cmsByText, 500)
	case strings.HasPrefix(line, "+CME ERROR:"):
		cme = parse(line[len("+CME ERROR:"):], cmeByText, 100)
	}
	return cms, cme
}

// finalError turns a final error result into an *Error.
func finalError(op, line string) error {
	cms, cme := parseFinalError(line)
	e := &Error{Op: op, CMS: cms, CME: cme}
	switch {
	case cms >= 0:
		e.Transient = CMSTransient(cms)
	case cme >= 0:
		e.Transient = transientCME[cme]
	default:
		// Plain ERROR (verbose errors off, or a vendor quirk): nothing says the
		// condition lasts, and the attempt cap bounds the retries.
		e.Transient = true
		e.Err = errors.New("ERROR")
	}
	return e
}
