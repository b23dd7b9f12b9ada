package pdu

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Encoding is the character set of a message's user data (TP-DCS alphabet,
// 3GPP TS 23.038 chapter 4).
type Encoding int

const (
	// GSM7 is the GSM 7-bit default alphabet with its extension table.
	GSM7 Encoding = iota
	// UCS2 is UTF-16 big-endian (UCS-2 on the wire, surrogate pairs allowed).
	UCS2
	// Bit8 is 8-bit binary data.
	Bit8
)

// String returns "GSM-7", "UCS-2" or "8-bit".
func (e Encoding) String() string {
	switch e {
	case GSM7:
		return "GSM-7"
	case UCS2:
		return "UCS-2"
	case Bit8:
		return "8-bit"
	}
	return fmt.Sprintf("Encoding(%d)", int(e))
}

// Errors returned (wrapped) by the decoders and encoders. Use errors.Is.
var (
	// ErrMalformed: the PDU is not a valid TPDU (bad hex, truncated, a length
	// that does not match the data, a field out of range).
	ErrMalformed = errors.New("malformed PDU")
	// ErrUnsupported: the PDU is well formed but uses a feature smsd does not
	// implement (compressed text, reserved data coding, unknown message type).
	ErrUnsupported = errors.New("unsupported PDU")
	// ErrTooManyParts: the text needs more parts than SubmitOptions.MaxParts.
	ErrTooManyParts = errors.New("message needs more SMS parts than allowed")
	// ErrInvalidAddress: a phone number or sender name cannot be encoded.
	ErrInvalidAddress = errors.New("invalid address")
	// ErrInvalidText: the text cannot be encoded (invalid UTF-8, too long for
	// a single PDU where one was required).
	ErrInvalidText = errors.New("invalid text")
)

// malformed builds an error wrapping ErrMalformed. The format arguments must
// never contain numbers or text taken from the PDU's content (PHI); offsets
// and lengths are fine.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, args...))
}

// DecodeHex decodes a PDU as modems print it (hexadecimal, either case,
// surrounding white space ignored). A bad character or an odd length is an
// error wrapping ErrMalformed that names the offset, not the content.
func DecodeHex(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s)%2 != 0 {
		return nil, malformed("hex PDU has an odd number of digits (%d)", len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		var inv hex.InvalidByteError
		if errors.As(err, &inv) {
			return nil, malformed("hex PDU has a non-hex character at offset %d", strings.IndexByte(s, byte(inv)))
		}
		return nil, malformed("hex PDU: %v", err)
	}
	return b, nil
}

// EncodeHex returns the upper-case hexadecimal form modems expect after AT+CMGS.
func EncodeHex(b []byte) string {
	return strings.ToUpper(hex.EncodeToString(b))
}

// reader walks a TPDU, turning every out-of-bounds read into an error.
type reader struct {
	b   []byte
	off int
}

func (r *reader) byte(field string) (byte, error) {
	if r.off >= len(r.b) {
		return 0, malformed("truncated at offset %d: %s missing", r.off, field)
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) bytes(n int, field string) ([]byte, error) {
	if n < 0 || r.off+n > len(r.b) {
		return nil, malformed("truncated at offset %d: %s needs %d octets, %d left", r.off, field, n, len(r.b)-r.off)
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s, nil
}

func (r *reader) rest() []byte { return r.b[r.off:] }
