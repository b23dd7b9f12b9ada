package pdu

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// Sizes of TP-UD (23.040 9.2.3.24): 140 octets, i.e. 160 GSM-7 septets.
const (
	maxUDOctets  = 140
	maxUDSeptets = 160
)

// Information element identifiers used in the user data header
// (23.040 9.2.3.24).
const (
	ieiConcat8  = 0x00 // concatenated short messages, 8-bit reference
	ieiConcat16 = 0x08 // concatenated short messages, 16-bit reference
)

// Concat is the concatenation information of one part of a long message
// (23.040 9.2.3.24.1 and 9.2.3.24.8).
type Concat struct {
	// Ref is the reference shared by all parts of one message. With an 8-bit
	// reference element only the low byte travels.
	Ref uint16
	// Total is the number of parts, Seq this part's number (1-based).
	Total, Seq int
}

// concatUDH builds a complete UDH (with its UDHL octet) for one part.
func concatUDH(ref uint16, ref16 bool, total, seq int) []byte {
	if ref16 {
		return []byte{6, ieiConcat16, 4, byte(ref >> 8), byte(ref), byte(total), byte(seq)}
	}
	return []byte{5, ieiConcat8, 3, byte(ref), byte(total), byte(seq)}
}

// udhLen is the length of a concatenation UDH including the UDHL octet.
func udhLen(ref16 bool) int {
	if ref16 {
		return 7
	}
	return 6
}

// capacity returns how many units (septets for GSM-7, octets otherwise) one
// part holds: single is the capacity of an unsplit message, multi that of
// each part of a concatenated one.
func capacity(enc Encoding, ref16 bool) (single, multi int) {
	h := udhLen(ref16)
	switch enc {
	case GSM7:
		// The header plus its fill bits occupy whole septets.
		return maxUDSeptets, (maxUDOctets*8 - h*8) / 7
	case UCS2:
		// Only whole UTF-16 code units.
		return maxUDOctets, (maxUDOctets - h) &^ 1
	default:
		return maxUDOctets, maxUDOctets - h
	}
}

// payload is a text (or data) already encoded in wire units and cut into
// parts at character boundaries: part i is data[cuts[i]:cuts[i+1]].
type payload struct {
	enc  Encoding
	data []byte // septets (GSM-7, one per byte), UTF-16BE octets, or raw octets
	cuts []int
}

func (p *payload) parts() int { return len(p.cuts) - 1 }

func (p *payload) part(i int) []byte { return p.data[p.cuts[i]:p.cuts[i+1]] }

// chooseEncoding returns GSM7 when every rune of text is in the GSM 7-bit
// default alphabet or its extension table, UCS2 otherwise.
func chooseEncoding(text string) Encoding {
	// One rule with FirstNonGSM7, which the send page uses to mark the
	// character: the two cannot disagree.
	if i, _ := FirstNonGSM7(text); i >= 0 {
		return UCS2
	}
	return GSM7
}

// planText encodes text in the encoding it needs and cuts it into parts. A
// cut never falls inside an escape sequence (GSM-7) or a surrogate pair
// (UCS-2): each character goes whole into one part.
func planText(text string, ref16 bool) payload {
	enc := chooseEncoding(text)
	single, multi := capacity(enc, ref16)
	p := payload{enc: enc}
	if enc == GSM7 {
		p.data = make([]byte, 0, len(text)+8)
	} else {
		p.data = make([]byte, 0, 2*len(text)+4)
	}
	p.cuts = make([]int, 1, 8)
	start := 0
	for _, r := range text {
		before := len(p.data)
		if enc == GSM7 {
			p.data = appendGSM7(p.data, r)
		} else if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			p.data = append(p.data, byte(hi>>8), byte(hi), byte(lo>>8), byte(lo))
		} else {
			p.data = append(p.data, byte(r>>8), byte(r))
		}
		if len(p.data)-start > multi {
			p.cuts = append(p.cuts, before)
			start = before
		}
	}
	if len(p.data) <= single {
		p.cuts = p.cuts[:1]
	}
	p.cuts = append(p.cuts, len(p.data))
	return p
}

// planData cuts 8-bit data into parts.
func planData(data []byte, ref16 bool) payload {
	single, multi := capacity(Bit8, ref16)
	p := payload{enc: Bit8, data: data, cuts: []int{0}}
	if len(data) > single {
		for off := multi; off < len(data); off += multi {
			p.cuts = append(p.cuts, off)
		}
	}
	p.cuts = append(p.cuts, len(data))
	return p
}

// appendUserData appends TP-UDL and TP-UD for one part: udh is the complete
// header including UDHL (nil for none), units the part's payload.
// For GSM-7, the septets start at the first septet boundary after the
// header; the bits in between are the fill bits of 23.040 9.2.3.24.
func appendUserData(dst []byte, enc Encoding, udh, units []byte) []byte {
	if enc != GSM7 {
		dst = append(dst, byte(len(udh)+len(units)))
		dst = append(dst, udh...)
		return append(dst, units...)
	}
	hdrSeptets := (len(udh)*8 + 6) / 7
	udl := hdrSeptets + len(units)
	dst = append(dst, byte(udl))
	n := septetOctets(0, udl)
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	copy(dst[start:], udh)
	packSeptets(dst[start:], hdrSeptets*7, units)
	return dst
}

// dcsInfo is what TP-DCS says about the user data (23.038 chapter 4).
type dcsInfo struct {
	enc   Encoding
	class int // -1: no message class
}

// parseDCS interprets a TP-DCS octet. Compressed text and reserved coding
// groups or alphabets are ErrUnsupported: decoding them as if they were
// plain text would show garbage.
func parseDCS(dcs byte) (dcsInfo, error) {
	d := dcsInfo{class: -1}
	switch {
	case dcs&0x80 == 0: // 00xx xxxx general data coding, 01xx xxxx automatic deletion
		if dcs&0x20 != 0 {
			return d, unsupported("data coding 0x%02X: compressed text is not supported", dcs)
		}
		if dcs&0x10 != 0 {
			d.class = int(dcs & 0x03)
		}
		switch dcs >> 2 & 0x03 {
		case 0:
			d.enc = GSM7
		case 1:
			d.enc = Bit8
		case 2:
			d.enc = UCS2
		default:
			return d, unsupported("data coding 0x%02X: reserved alphabet", dcs)
		}
	case dcs&0xF0 == 0xC0, dcs&0xF0 == 0xD0: // message waiting indication, GSM-7
		d.enc = GSM7
	case dcs&0xF0 == 0xE0: // message waiting indication, UCS-2
		d.enc = UCS2
	case dcs&0xF0 == 0xF0: // data coding / message class
		d.class = int(dcs & 0x03)
		if dcs&0x04 != 0 {
			d.enc = Bit8
		} else {
			d.enc = GSM7
		}
	default: // 1000..1011: reserved coding groups
		return d, unsupported("data coding 0x%02X: reserved coding group", dcs)
	}
	return d, nil
}

// dcsFor is the TP-DCS we send: general data coding, no class.
func dcsFor(enc Encoding) byte {
	switch enc {
	case UCS2:
		return 0x08
	case Bit8:
		return 0x04
	}
	return 0x00
}

// userData is a decoded TP-UD.
type userData struct {
	text   string
	data   []byte
	concat *Concat
	split  splitPair
}

// splitPair records the halves of surrogate pairs at the edges of a UCS-2
// part. Some senders cut a long UCS-2 text every 67 code units without
// looking at surrogate pairs, so an emoji can start at the end of one part
// and end at the start of the next. Each half decodes on its own as U+FFFD
// (decodeUCS2); the Reassembler joins the two halves of adjacent parts back
// into the character. 23.038 6.2.3 (UCS2) knows no surrogates, so no clause
// forbids or covers the cut; joining loses nothing the PDUs carry.
//
// The same happens to GSM-7 escape sequences (23.038 6.2.1.1: 0x1B, then
// the extension table's code): a sender counting septets without looking
// ends a part with the escape and starts the next with "e" for "€". On its
// own such a part ends in a space (23.038 6.2.1, note 1, for an escape
// with nothing after it); escTail and septets let the Reassembler decode
// the escape together with the next part's septets, as one text.
type splitPair struct {
	head uint16 // a low surrogate as the part's first code unit, else 0
	tail uint16 // a high surrogate as the part's last code unit, else 0

	escTail bool   // GSM-7: the part ends with an escape that has no code after it
	septets []byte // GSM-7 parts of a concatenated message: the septets, unpacked
}

// danglingEscape reports whether GSM-7 septets end with an escape that
// has no code after it: read from the start, each escape takes the septet
// after it, so only an escape left over at the end dangles.
func danglingEscape(septets []byte) bool {
	esc := false
	for _, c := range septets {
		esc = !esc && c == gsm7Escape
	}
	return esc
}

// ucs2Edges finds the lone surrogate halves at the edges of UCS-2 user data:
// a low surrogate first or a high surrogate last can never be paired inside
// the part.
func ucs2Edges(b []byte) splitPair {
	var e splitPair
	if len(b) < 2 {
		return e
	}
	if u := binary.BigEndian.Uint16(b); u >= 0xDC00 && u <= 0xDFFF {
		e.head = u
	}
	if u := binary.BigEndian.Uint16(b[len(b)-2:]); u >= 0xD800 && u <= 0xDBFF {
		e.tail = u
	}
	return e
}

// readUserData reads TP-UDL and TP-UD to the end of the TPDU. The length
// must match the octets present exactly: a TPDU with fewer octets is
// truncated, one with more has a length that lies.
func readUserData(r *reader, enc Encoding, udhi bool) (userData, error) {
	var ud userData
	udl, err := r.byte("TP-UDL")
	if err != nil {
		return ud, err
	}
	rest := r.rest()
	var octets int
	if enc == GSM7 {
		if udl > maxUDSeptets {
			return ud, malformed("TP-UDL %d exceeds %d septets", udl, maxUDSeptets)
		}
		octets = septetOctets(0, int(udl))
	} else {
		if udl > maxUDOctets {
			return ud, malformed("TP-UDL %d exceeds %d octets", udl, maxUDOctets)
		}
		octets = int(udl)
	}
	if len(rest) < octets {
		return ud, malformed("truncated user data: TP-UDL says %d octets, %d present", octets, len(rest))
	}
	if len(rest) > octets {
		return ud, malformed("TP-UDL says %d octets of user data but %d follow", octets, len(rest))
	}
	r.off += octets
	body := rest
	hdrLen := 0 // octets of UDH including UDHL
	if udhi {
		if len(body) == 0 {
			return ud, malformed("TP-UDHI set but user data is empty")
		}
		hdrLen = int(body[0]) + 1
		if hdrLen > len(body) {
			return ud, malformed("UDH length %d exceeds user data (%d octets)", hdrLen-1, len(body)-1)
		}
		ud.concat, err = parseUDH(body[1:hdrLen])
		if err != nil {
			return ud, err
		}
	}
	switch enc {
	case GSM7:
		hdrSeptets := (hdrLen*8 + 6) / 7
		if hdrSeptets > int(udl) {
			return ud, malformed("UDH (%d septets) is longer than TP-UDL %d", hdrSeptets, udl)
		}
		ud.text = decodePackedGSM7(body, hdrSeptets*7, int(udl)-hdrSeptets, true)
		if ud.concat != nil {
			ud.split.septets = unpackSeptets(body, hdrSeptets*7, int(udl)-hdrSeptets)
			ud.split.escTail = danglingEscape(ud.split.septets)
		}
	case UCS2:
		b := body[hdrLen:]
		if len(b)%2 != 0 {
			return ud, malformed("UCS-2 user data has an odd number of octets (%d)", len(b))
		}
		ud.text = decodeUCS2(b)
		ud.split = ucs2Edges(b)
	default:
		ud.data = append([]byte(nil), body[hdrLen:]...)
	}
	return ud, nil
}

// decodeUCS2 decodes UTF-16BE. Unpaired surrogates become U+FFFD rather than
// an error: the rest of the text is still worth showing.
func decodeUCS2(b []byte) string {
	out := make([]byte, 0, len(b)+len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u := rune(binary.BigEndian.Uint16(b[i:]))
		if utf16.IsSurrogate(u) {
			if u < 0xDC00 && i+3 < len(b) {
				u2 := rune(binary.BigEndian.Uint16(b[i+2:]))
				if r := utf16.DecodeRune(u, u2); r != utf8.RuneError {
					out = utf8.AppendRune(out, r)
					i += 2
					continue
				}
			}
			u = utf8.RuneError
		}
		out = utf8.AppendRune(out, u)
	}
	return string(out)
}

// parseUDH walks the information elements of a UDH (without UDHL). The
// concatenation elements are returned; all others are skipped, as 23.040
// 9.2.3.24 requires of elements a receiver does not know. A concatenation
// element with a sequence number of 0 or above the total is ignored
// (23.040 9.2.3.24.1), so the part is shown on its own instead of lost.
func parseUDH(h []byte) (*Concat, error) {
	var c *Concat
	for i := 0; i < len(h); {
		if i+2 > len(h) {
			return nil, malformed("UDH element at octet %d is truncated", i+1)
		}
		iei, n := h[i], int(h[i+1])
		i += 2
		if i+n > len(h) {
			return nil, malformed("UDH element 0x%02X says %d octets, only %d left", iei, n, len(h)-i)
		}
		v := h[i : i+n]
		i += n
		switch {
		case iei == ieiConcat8 && n == 3:
			c = validConcat(uint16(v[0]), int(v[1]), int(v[2]), c)
		case iei == ieiConcat16 && n == 4:
			c = validConcat(uint16(v[0])<<8|uint16(v[1]), int(v[2]), int(v[3]), c)
		case iei == ieiConcat8 || iei == ieiConcat16:
			return nil, malformed("UDH concatenation element 0x%02X has length %d", iei, n)
		}
	}
	return c, nil
}

func validConcat(ref uint16, total, seq int, prev *Concat) *Concat {
	if total == 0 || seq == 0 || seq > total {
		return prev
	}
	return &Concat{Ref: ref, Total: total, Seq: seq}
}

// encodeText checks that text can be sent.
func checkText(text string) error {
	if !utf8.ValidString(text) {
		return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalidText)
	}
	return nil
}
