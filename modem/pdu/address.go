package pdu

import (
	"fmt"
	"strings"
)

// Address is a TP-OA, TP-DA or TP-RA address (3GPP TS 23.040 9.1.2.5).
type Address struct {
	// Number is "+15551234567" for international numbers, the bare digits
	// for other numeric types, or the sender name for alphanumeric ones.
	Number string
	// TON is the type of number (bits 6..4 of the type-of-address octet):
	// TONUnknown, TONInternational, TONNational, TONAlphanumeric, ...
	TON byte
	// NPI is the numbering plan (bits 3..0): NPIISDN for ordinary numbers.
	NPI byte
}

// Type of number and numbering plan values (23.040 9.1.2.5).
const (
	TONUnknown       byte = 0
	TONInternational byte = 1
	TONNational      byte = 2
	TONNetwork       byte = 3
	TONSubscriber    byte = 4
	TONAlphanumeric  byte = 5
	TONAbbreviated   byte = 6

	NPIUnknown byte = 0
	NPIISDN    byte = 1
)

// maxAddressDigits is the longest number an address field can hold: 10
// octets of semi-octets (23.040 9.1.2.5: the field is at most 12 octets).
const maxAddressDigits = 20

// maxAlphaChars is the longest alphanumeric sender: 10 octets hold 11 septets.
const maxAlphaChars = 11

// semiOctet maps a dial character to its BCD nibble (23.040 9.1.2.3).
func semiOctet(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c == '*':
		return 0xA, true
	case c == '#':
		return 0xB, true
	case c == 'a' || c == 'A':
		return 0xC, true
	case c == 'b' || c == 'B':
		return 0xD, true
	case c == 'c' || c == 'C':
		return 0xE, true
	}
	return 0, false
}

const semiOctetChars = "0123456789*#abc"

// parseNumber turns "+E164" or national digits into (digits, TON).
func parseNumber(num string) (digits string, ton byte, err error) {
	ton = TONUnknown
	if strings.HasPrefix(num, "+") {
		ton = TONInternational
		num = num[1:]
	}
	if num == "" {
		return "", 0, fmt.Errorf("%w: empty phone number (give +E.164 like +4930123456, or national digits)", ErrInvalidAddress)
	}
	if len(num) > maxAddressDigits {
		return "", 0, fmt.Errorf("%w: phone number has %d digits, at most %d fit in an SMS address", ErrInvalidAddress, len(num), maxAddressDigits)
	}
	for i := 0; i < len(num); i++ {
		// Digits, and * # for national service numbers; the semi-octets a, b,
		// c exist but no network routes them, so they are refused here.
		if c := num[i]; !(c >= '0' && c <= '9' || ton != TONInternational && (c == '*' || c == '#')) {
			// The offending character is not echoed: it is part of a phone number (PHI).
			return "", 0, fmt.Errorf("%w: phone number has a character that is not a digit at position %d (give +E.164 like +4930123456, no spaces or dashes)", ErrInvalidAddress, i+1)
		}
	}
	return num, ton, nil
}

// appendNumberAddress appends a numeric address field: length in digits,
// type of address, semi-octets (23.040 9.1.2.5).
func appendNumberAddress(dst []byte, digits string, ton, npi byte) []byte {
	dst = append(dst, byte(len(digits)), 0x80|ton<<4|npi&0x0F)
	return appendSemiOctets(dst, digits)
}

func appendSemiOctets(dst []byte, digits string) []byte {
	for i := 0; i < len(digits); i += 2 {
		lo, _ := semiOctet(digits[i])
		hi := byte(0xF)
		if i+1 < len(digits) {
			hi, _ = semiOctet(digits[i+1])
		}
		dst = append(dst, hi<<4|lo)
	}
	return dst
}

// appendAlphaAddress appends an alphanumeric address (TON 101): the name in
// packed GSM-7; the length counts the semi-octets that carry data.
func appendAlphaAddress(dst []byte, name string) ([]byte, error) {
	var septets []byte
	for _, r := range name {
		if gsm7Len(r) == 0 {
			return nil, fmt.Errorf("%w: sender name has a character outside the GSM 7-bit alphabet", ErrInvalidAddress)
		}
		septets = appendGSM7(septets, r)
	}
	if len(septets) > maxAlphaChars {
		return nil, fmt.Errorf("%w: sender name takes %d GSM-7 characters, at most %d fit", ErrInvalidAddress, len(septets), maxAlphaChars)
	}
	bits := len(septets) * 7
	packed := make([]byte, (bits+7)/8)
	packSeptets(packed, 0, septets)
	dst = append(dst, byte((bits+3)/4), 0x80|TONAlphanumeric<<4|NPIUnknown)
	return append(dst, packed...), nil
}

// encodeAddress encodes a destination or originator given as "+E164",
// national digits, or (if alpha is true and it is not numeric) a sender name.
func encodeAddress(dst []byte, num string, alpha bool) ([]byte, error) {
	if alpha && !looksNumeric(num) {
		return appendAlphaAddress(dst, num)
	}
	digits, ton, err := parseNumber(num)
	if err != nil {
		return nil, err
	}
	return appendNumberAddress(dst, digits, ton, NPIISDN), nil
}

// looksNumeric reports whether s is a phone number rather than a sender name.
func looksNumeric(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c == '*' || c == '#') {
			return false
		}
	}
	return true
}

// readAddress reads an address field (TP-OA, TP-DA, TP-RA). field names it
// in errors.
func readAddress(r *reader, field string) (Address, error) {
	a, err := readAddressField(r)
	if err != nil {
		return Address{}, fmt.Errorf("%s: %w", field, err)
	}
	return a, nil
}

func readAddressField(r *reader) (Address, error) {
	n, err := r.byte("address length")
	if err != nil {
		return Address{}, err
	}
	toa, err := r.byte("type of address")
	if err != nil {
		return Address{}, err
	}
	if n > maxAddressDigits {
		return Address{}, malformed("address length %d exceeds %d semi-octets", n, maxAddressDigits)
	}
	raw, err := r.bytes((int(n)+1)/2, "address digits")
	if err != nil {
		return Address{}, err
	}
	a := Address{TON: toa >> 4 & 0x07, NPI: toa & 0x0F}
	if a.TON == TONAlphanumeric {
		a.Number = decodeAlpha(raw, int(n))
		return a, nil
	}
	a.Number, err = readSemiOctets(raw, int(n), a.TON == TONInternational, "address")
	return a, err
}

// readSemiOctets decodes n BCD digits, with a leading "+" if plus is set
// and there are digits. Filler (0xF) where a digit should be is malformed;
// 0xA..0xE are the dial characters * # a b c.
func readSemiOctets(raw []byte, n int, plus bool, field string) (string, error) {
	var buf [maxAddressDigits + 1]byte
	out := buf[:0]
	if plus && n > 0 {
		out = append(out, '+')
	}
	for i := 0; i < n; i++ {
		b := raw[i/2]
		d := b & 0x0F
		if i%2 == 1 {
			d = b >> 4
		}
		if d == 0xF {
			return "", malformed("%s has a filler nibble at digit %d of %d", field, i+1, n)
		}
		out = append(out, semiOctetChars[d])
	}
	return string(out), nil
}

// decodeAlpha decodes an alphanumeric address: GSM-7 septets packed in the
// semi-octets counted by the length field.
func decodeAlpha(raw []byte, semi int) string {
	n := semi * 4 / 7
	if max := len(raw) * 8 / 7; n > max {
		n = max
	}
	septets := unpackSeptets(raw, 0, n)
	// Some encoders give the length as whole octets (2 * octets); then 7
	// names characters that exactly fill 7 octets end with a zero "septet"
	// that is really 7 padding bits, and would show as '@'. 23.038 6.1.2.3.1
	// notes the ambiguity; a sender name ending in '@' is far less likely.
	if n > 0 && n%8 == 0 && septets[n-1] == 0 && semi%2 == 0 {
		septets = septets[:n-1]
	}
	return decodeGSM7(septets)
}
