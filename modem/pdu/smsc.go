package pdu

import "fmt"

// SplitSMSC splits a PDU as modems print it in AT+CMGL / AT+CMGR / +CMT: a
// leading SMSC field (length in octets, type of address, semi-octets; a
// length of 0 means none) followed by the TPDU. smsc is "+4479..." or ""
// when absent. The TPDU is a sub-slice of pdu.
//
// pdu is normally binary. For robustness it also accepts the hex text
// itself: a binary PDU starts with an SMSC length of 0..11, which is never
// an ASCII hex digit, so the two cannot be confused.
func SplitSMSC(pdu []byte) (smsc string, tpdu []byte, err error) {
	if len(pdu) > 0 && isHexDigit(pdu[0]) {
		b, err := DecodeHex(string(pdu))
		if err != nil {
			return "", nil, fmt.Errorf("split SMSC: %w", err)
		}
		pdu = b
	}
	if len(pdu) == 0 {
		return "", nil, fmt.Errorf("split SMSC: %w", malformed("empty PDU"))
	}
	n := int(pdu[0])
	if n == 0 {
		return "", pdu[1:], nil
	}
	if n > 11 { // type of address + at most 10 octets of digits
		return "", nil, fmt.Errorf("split SMSC: %w", malformed("SMSC length %d exceeds 11 octets", n))
	}
	if 1+n > len(pdu) {
		return "", nil, fmt.Errorf("split SMSC: %w", malformed("SMSC length %d exceeds the PDU (%d octets)", n, len(pdu)))
	}
	toa := pdu[1]
	raw := pdu[2 : 1+n]
	digits := 2 * len(raw)
	if len(raw) > 0 && raw[len(raw)-1]>>4 == 0xF {
		digits--
	}
	if toa>>4&0x07 == TONAlphanumeric {
		smsc = decodeAlpha(raw, digits)
	} else {
		smsc, err = readSemiOctets(raw, digits, toa>>4&0x07 == TONInternational, "SMSC address")
		if err != nil {
			return "", nil, fmt.Errorf("split SMSC: %w", err)
		}
	}
	return smsc, pdu[1+n:], nil
}

// EncodeSMSC returns an SMSC field for smsc ("+E164", national digits, or ""
// for "use the SIM's SMSC" which is the single octet 0x00).
func EncodeSMSC(smsc string) ([]byte, error) {
	if smsc == "" {
		return []byte{0}, nil
	}
	digits, ton, err := parseNumber(smsc)
	if err != nil {
		return nil, fmt.Errorf("encode SMSC: %w", err)
	}
	b := appendNumberAddress([]byte{0}, digits, ton, NPIISDN)
	// The SMSC field's length counts octets (type + digits), unlike TP-DA.
	b = append(b[:1], b[2:]...)
	b[0] = byte(len(b) - 1)
	return b, nil
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
