package pdu

import (
	"fmt"
	"time"
)

// First-octet bits (23.040 9.2.3).
const (
	mtiMask     = 0x03
	mtiDeliver  = 0x00 // SMS-DELIVER (MT) / SMS-DELIVER-REPORT (MO)
	mtiSubmit   = 0x01 // SMS-SUBMIT (MO) / SMS-SUBMIT-REPORT (MT)
	mtiStatus   = 0x02 // SMS-STATUS-REPORT (MT) / SMS-COMMAND (MO)
	bitMMS      = 0x04 // TP-MMS in DELIVER / STATUS-REPORT (1 = no more messages)
	bitRD       = 0x04 // TP-RD in SUBMIT
	vpfMask     = 0x18 // TP-VPF in SUBMIT
	vpfNone     = 0x00
	vpfEnhanced = 0x08
	vpfRelative = 0x10
	vpfAbsolute = 0x18
	bitSRR      = 0x20 // TP-SRR in SUBMIT
	bitSRI      = 0x20 // TP-SRI in DELIVER
	bitSRQ      = 0x20 // TP-SRQ in STATUS-REPORT
	bitUDHI     = 0x40
	bitRP       = 0x80
)

// SubmitOptions tune EncodeSubmit. The zero value sends a plain message:
// no status report, no validity period, 8-bit concatenation reference 0.
type SubmitOptions struct {
	// MR is TP-MR. Modems overwrite it with their own counter; 0 is fine.
	MR byte
	// StatusReport sets TP-SRR: ask the network for a delivery report.
	StatusReport bool
	// Validity is a relative TP-VP; 0 leaves the field out (network default).
	// It is rounded up to the next period TP-VP can express (5 min .. 63 weeks).
	Validity time.Duration
	// Reference is the concatenation reference of a multipart message; with
	// an 8-bit reference element only its low byte is sent.
	Reference uint16
	// Ref16 selects the 16-bit reference element (IEI 0x08) instead of the
	// 8-bit one (IEI 0x00); each part then holds one character less.
	Ref16 bool
	// MaxParts caps the number of parts; 0 means no cap (the protocol's own
	// limit of 255 still applies). Beyond it: ErrTooManyParts.
	MaxParts int
	// Data, if non-nil, is sent as 8-bit data instead of the text.
	Data []byte
}

// Part is one SMS-SUBMIT TPDU, without the SMSC field: the length AT+CMGS
// takes is len(TPDU), and the modem layer prefixes "00" for "use the SIM's
// SMSC". Seq is 1-based; Total is the number of parts of the message.
type Part struct {
	// TPDU is the binary SMS-SUBMIT.
	TPDU []byte
	// Seq is this part's number (1-based), Total the message's part count.
	Seq, Total int
}

// maxConcatParts is the protocol's limit: the part count is one octet.
const maxConcatParts = 255

// EncodeSubmit encodes text to the destination `to` ("+15551234567" or
// national digits) as one or more SMS-SUBMIT TPDUs. It chooses GSM-7 when
// every character fits (extension characters count twice), UCS-2 otherwise.
// Errors (invalid number, invalid UTF-8, too many parts) never contain the
// number or the text.
func EncodeSubmit(to, text string, opt SubmitOptions) ([]Part, error) {
	digits, ton, err := parseNumber(to)
	if err != nil {
		return nil, fmt.Errorf("encode SMS-SUBMIT: %w", err)
	}
	var p payload
	if opt.Data != nil {
		p = planData(opt.Data, opt.Ref16)
	} else {
		if err := checkText(text); err != nil {
			return nil, fmt.Errorf("encode SMS-SUBMIT: %w", err)
		}
		p = planText(text, opt.Ref16)
	}
	n := p.parts()
	if opt.MaxParts > 0 && n > opt.MaxParts {
		return nil, fmt.Errorf("encode SMS-SUBMIT: %w: %d parts needed, at most %d allowed (shorten the text)", ErrTooManyParts, n, opt.MaxParts)
	}
	if n > maxConcatParts {
		return nil, fmt.Errorf("encode SMS-SUBMIT: %w: %d parts needed, at most %d possible (shorten the text)", ErrTooManyParts, n, maxConcatParts)
	}

	// The header up to TP-UDL is the same for every part but for TP-UDHI.
	first := byte(mtiSubmit)
	if opt.Validity > 0 {
		first |= vpfRelative
	}
	if opt.StatusReport {
		first |= bitSRR
	}
	hdr := make([]byte, 0, 16)
	hdr = append(hdr, first, opt.MR)
	hdr = appendNumberAddress(hdr, digits, ton, NPIISDN)
	hdr = append(hdr, 0x00, dcsFor(p.enc)) // TP-PID: plain SME-to-SME, TP-DCS
	if opt.Validity > 0 {
		hdr = append(hdr, encodeRelativeVP(opt.Validity))
	}

	parts := make([]Part, n)
	// One backing array for all parts: fewer allocations when sending.
	buf := make([]byte, 0, n*(len(hdr)+1+maxUDOctets))
	for i := range parts {
		start := len(buf)
		buf = append(buf, hdr...)
		var udh []byte
		if n > 1 {
			buf[start] |= bitUDHI
			udh = concatUDH(opt.Reference, opt.Ref16, n, i+1)
		}
		buf = appendUserData(buf, p.enc, udh, p.part(i))
		parts[i] = Part{TPDU: buf[start:len(buf):len(buf)], Seq: i + 1, Total: n}
	}
	return parts, nil
}

// Submit is a decoded SMS-SUBMIT (23.040 9.2.2.2).
type Submit struct {
	// MR is TP-MR, the message reference (23.040 9.2.3.6).
	MR byte
	// To is TP-DA, the destination (23.040 9.1.2.5).
	To Address
	// Encoding is the alphabet TP-DCS names (23.038 chapter 4).
	Encoding Encoding
	// Class is the message class from TP-DCS, -1 when none.
	Class int
	// PID is TP-PID, the protocol identifier (23.040 9.2.3.9).
	PID  byte
	Text string // for GSM-7 and UCS-2
	Data []byte // for 8-bit
	// Concat is set for a part of a concatenated message.
	Concat *Concat
	// StatusReport is TP-SRR: a status report is requested (23.040 9.2.3.5).
	StatusReport bool
	// RejectDuplicates is TP-RD (23.040 9.2.3.25).
	RejectDuplicates bool
	// Validity is the relative validity period (TP-VPF relative, or enhanced
	// with a relative period); 0 when absent or absolute.
	Validity time.Duration
	// ValidUntil is the absolute validity period, zero when not absolute.
	ValidUntil time.Time
}

// DecodeSubmit decodes an SMS-SUBMIT TPDU (without the SMSC field; see
// SplitSMSC). The modem emulator uses it to read what the daemon sends.
func DecodeSubmit(tpdu []byte) (*Submit, error) {
	s, err := decodeSubmit(tpdu)
	if err != nil {
		return nil, fmt.Errorf("decode SMS-SUBMIT: %w", err)
	}
	return s, nil
}

func decodeSubmit(tpdu []byte) (*Submit, error) {
	r := &reader{b: tpdu}
	first, err := r.byte("first octet")
	if err != nil {
		return nil, err
	}
	if first&mtiMask != mtiSubmit {
		return nil, unsupported("TP-MTI %d is not SMS-SUBMIT", first&mtiMask)
	}
	s := &Submit{StatusReport: first&bitSRR != 0, RejectDuplicates: first&bitRD != 0}
	if s.MR, err = r.byte("TP-MR"); err != nil {
		return nil, err
	}
	if s.To, err = readAddress(r, "TP-DA"); err != nil {
		return nil, err
	}
	if s.PID, err = r.byte("TP-PID"); err != nil {
		return nil, err
	}
	dcsByte, err := r.byte("TP-DCS")
	if err != nil {
		return nil, err
	}
	// Read TP-VP before judging TP-DCS so that a truncated PDU is reported
	// as truncated.
	switch first & vpfMask {
	case vpfRelative:
		vp, err := r.byte("TP-VP")
		if err != nil {
			return nil, err
		}
		s.Validity = decodeRelativeVP(vp)
	case vpfAbsolute:
		if s.ValidUntil, err = readTimestamp(r, "TP-VP"); err != nil {
			return nil, err
		}
	case vpfEnhanced:
		vp, err := r.bytes(7, "TP-VP")
		if err != nil {
			return nil, err
		}
		if s.Validity, err = decodeEnhancedVP(vp); err != nil {
			return nil, err
		}
	}
	dcs, err := parseDCS(dcsByte)
	if err != nil {
		return nil, err
	}
	s.Encoding, s.Class = dcs.enc, dcs.class
	ud, err := readUserData(r, dcs.enc, first&bitUDHI != 0)
	if err != nil {
		return nil, err
	}
	s.Text, s.Data, s.Concat = ud.text, ud.data, ud.concat
	return s, nil
}

// decodeEnhancedVP reads the 7-octet enhanced validity period
// (23.040 9.2.3.12.3); only its relative forms are turned into a duration.
func decodeEnhancedVP(b []byte) (time.Duration, error) {
	switch b[0] & 0x07 {
	case 0:
		return 0, nil
	case 1:
		return decodeRelativeVP(b[1]), nil
	case 2:
		return time.Duration(b[1]) * time.Second, nil
	case 3:
		var v [3]int
		for i := range v {
			lo, hi := b[1+i]&0x0F, b[1+i]>>4
			if lo > 9 || hi > 9 {
				return 0, malformed("enhanced TP-VP is not BCD")
			}
			v[i] = int(lo)*10 + int(hi)
		}
		return time.Duration(v[0])*time.Hour + time.Duration(v[1])*time.Minute + time.Duration(v[2])*time.Second, nil
	}
	return 0, unsupported("enhanced TP-VP format %d is reserved", b[0]&0x07)
}
