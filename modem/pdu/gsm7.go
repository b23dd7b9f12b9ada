package pdu

import "unicode/utf8"

// GSM 7-bit default alphabet and its extension table, 3GPP TS 23.038 6.2.1
// and 6.2.1.1. Index = septet value.
var gsm7Basic = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 0x1B, 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// gsm7Escape is the escape septet (0x1B) that selects the extension table.
const gsm7Escape = 0x1B

// gsm7Ext is the extension table (23.038 6.2.1.1): septet after an escape.
var gsm7Ext = map[byte]rune{
	0x0A: '\f',
	0x14: '^',
	0x28: '{',
	0x29: '}',
	0x2F: '\\',
	0x3C: '[',
	0x3D: '~',
	0x3E: ']',
	0x40: '|',
	0x65: '€',
}

// gsm7Table maps a rune below 0x400 (ASCII, Latin-1, Greek: every GSM-7
// character but €) to gsm7Basic|code or gsm7Extended|code; 0 means the rune
// is not in GSM-7. An array instead of a map: encoding and counting are on
// the web UI's keystroke path and the modem's send path.
var gsm7Table [0x400]uint16

const (
	gsm7Basic1 = 0x100 // one septet: code
	gsm7Ext2   = 0x200 // two septets: escape, code
)

func init() {
	for i, r := range gsm7Basic {
		if i == gsm7Escape {
			continue
		}
		gsm7Table[r] = gsm7Basic1 | uint16(i)
	}
	for c, r := range gsm7Ext {
		if r < 0x400 {
			gsm7Table[r] = gsm7Ext2 | uint16(c)
		}
	}
}

func gsm7Lookup(r rune) uint16 {
	if r >= 0 && r < 0x400 {
		return gsm7Table[r]
	}
	if r == '€' {
		return gsm7Ext2 | 0x65
	}
	return 0
}

// gsm7Len returns how many septets r takes in GSM-7 (1 or 2), or 0 if r is not
// representable.
func gsm7Len(r rune) int {
	return int(gsm7Lookup(r) >> 8)
}

// appendGSM7 appends the septets of r (which must be representable).
func appendGSM7(dst []byte, r rune) []byte {
	v := gsm7Lookup(r)
	if v&gsm7Ext2 != 0 {
		return append(dst, gsm7Escape, byte(v))
	}
	return append(dst, byte(v))
}

// decodeGSM7 turns unpacked septets into text. An escape followed by a code
// not in the extension table shows the basic-table character, as 23.038
// 6.2.1.1 requires; an escape followed by another escape (reserved for a
// further table) or ending the text shows a space (23.038 6.2.1, note 1).
func decodeGSM7(septets []byte) string {
	return decodePackedGSM7(septets, 0, len(septets), false)
}

// decodePackedGSM7 decodes n septets: from src as they are (packed false),
// or packed in src starting at bit offset bitOff (packed true). The caller
// has checked that src holds them.
func decodePackedGSM7(src []byte, bitOff, n int, packed bool) string {
	out := make([]byte, 0, n+n/2)
	esc := false
	for i := 0; i < n; i++ {
		var c byte
		if packed {
			bit := bitOff + i*7
			idx, sh := bit/8, uint(bit%8)
			v := uint16(src[idx]) >> sh
			if sh > 1 && idx+1 < len(src) {
				v |= uint16(src[idx+1]) << (8 - sh)
			}
			c = byte(v & 0x7F)
		} else {
			c = src[i] & 0x7F
		}
		switch {
		case esc:
			esc = false
			if r, ok := gsm7Ext[c]; ok {
				out = utf8.AppendRune(out, r)
			} else if c == gsm7Escape {
				out = append(out, ' ')
			} else {
				out = utf8.AppendRune(out, gsm7Basic[c])
			}
		case c == gsm7Escape:
			esc = true
		case gsm7Basic[c] == rune(c):
			// Most letters and digits: the septet is the ASCII byte.
			out = append(out, c)
		default:
			out = utf8.AppendRune(out, gsm7Basic[c])
		}
	}
	if esc {
		out = append(out, ' ')
	}
	return string(out)
}

// packSeptets packs septets into dst starting at bit offset bitOff (0..7 of
// the first octet of dst, or further), least significant bit first, as 23.038
// 6.1.2.1.1 lays them out. dst must be large enough and zeroed.
func packSeptets(dst []byte, bitOff int, septets []byte) {
	for i, s := range septets {
		bit := bitOff + i*7
		idx, sh := bit/8, uint(bit%8)
		v := uint16(s&0x7F) << sh
		dst[idx] |= byte(v)
		if sh > 1 {
			dst[idx+1] |= byte(v >> 8)
		}
	}
}

// unpackSeptets reads n septets from src starting at bit offset bitOff. The
// caller has checked that src holds bitOff+7n bits.
func unpackSeptets(src []byte, bitOff, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		bit := bitOff + i*7
		idx, sh := bit/8, uint(bit%8)
		v := uint16(src[idx]) >> sh
		if sh > 1 && idx+1 < len(src) {
			v |= uint16(src[idx+1]) << (8 - sh)
		}
		out[i] = byte(v & 0x7F)
	}
	return out
}

// septetOctets is the number of octets that hold n septets after bitOff bits.
func septetOctets(bitOff, n int) int {
	return (bitOff + n*7 + 7) / 8
}
