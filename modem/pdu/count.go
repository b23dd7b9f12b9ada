package pdu

// Count tells what sending a text costs: the same rule EncodeSubmit applies
// with its default options (8-bit concatenation reference), so the web UI
// shows exactly what the modem will send.
type Count struct {
	// Encoding is GSM7 when every character is in the GSM 7-bit alphabet or
	// its extension table, UCS2 otherwise.
	Encoding Encoding
	// Chars is the length in the encoding's units: septets for GSM-7 (an
	// extension character such as € counts 2), UTF-16 code units for UCS-2
	// (an emoji outside the BMP counts 2).
	Chars int
	// Parts is the number of SMS parts (1 for an empty text).
	Parts int
	// Remaining is how many units still fit in the last part.
	Remaining int
}

// CountText counts text as EncodeSubmit would send it with default options.
// Invalid UTF-8 counts as U+FFFD (which forces UCS-2); EncodeSubmit refuses it.
func CountText(text string) Count {
	p := planText(text, false)
	single, multi := capacity(p.enc, false)
	c := Count{Encoding: p.enc, Chars: len(p.data), Parts: p.parts()}
	capLast := single
	if c.Parts > 1 {
		capLast = multi
	}
	c.Remaining = capLast - len(p.part(c.Parts-1))
	if p.enc == UCS2 {
		c.Chars /= 2
		c.Remaining /= 2
	}
	return c
}

// FirstNonGSM7 returns the index (in runes, from 0) of the first character
// of text that is neither in the GSM 7-bit default alphabet nor in its
// extension table, and that character: the one that makes EncodeSubmit send
// the whole text in UCS-2. It returns -1 and 0 when every character is
// GSM-7. Invalid UTF-8 counts as U+FFFD, as in CountText.
func FirstNonGSM7(text string) (int, rune) {
	i := 0
	for _, r := range text {
		if gsm7Len(r) == 0 {
			return i, r
		}
		i++
	}
	return -1, 0
}
