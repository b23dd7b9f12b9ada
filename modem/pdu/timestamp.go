package pdu

import (
	"fmt"
	"time"
)

// readTimestamp reads a 7-octet TP-SCTS / TP-DT (23.040 9.2.3.11): year,
// month, day, hour, minute, second as swapped BCD, then the time zone in
// quarter hours (swapped BCD, sign in bit 3 of the first nibble).
func readTimestamp(r *reader, field string) (time.Time, error) {
	b, err := r.bytes(7, field)
	if err != nil {
		return time.Time{}, err
	}
	return parseTimestamp(b, field)
}

// readServiceTimestamp reads a timestamp that the network stamped on a
// message to us (SCTS, TP-DT). Only a missing field is an error: a field
// with a bad digit, date or zone gives the zero time and the reason in
// bad, and the message decodes, because its text (a patient's "STOP") or
// its delivery outcome matters more than when the network says it was sent.
func readServiceTimestamp(r *reader, field string) (t time.Time, bad error, err error) {
	b, err := r.bytes(7, field)
	if err != nil {
		return time.Time{}, nil, err
	}
	t, bad = parseTimestamp(b, field)
	return t, bad, nil
}

// parseTimestamp decodes the 7 octets of a timestamp (see readTimestamp).
func parseTimestamp(b []byte, field string) (time.Time, error) {
	var v [6]int
	for i := 0; i < 6; i++ {
		lo, hi := b[i]&0x0F, b[i]>>4
		if lo > 9 || hi > 9 {
			return time.Time{}, malformed("%s octet %d is not BCD", field, i+1)
		}
		v[i] = int(lo)*10 + int(hi)
	}
	tzLo, tzHi := b[6]&0x07, b[6]>>4
	if tzHi > 9 {
		return time.Time{}, malformed("%s time zone is not BCD", field)
	}
	quarters := int(tzLo)*10 + int(tzHi)
	if quarters > maxZoneQuarters {
		return time.Time{}, malformed("%s time zone is %d quarter hours, out of range", field, quarters)
	}
	offset := quarters * 15 * 60
	if b[6]&0x08 != 0 {
		offset = -offset
	}
	year, month, day, hour, min, sec := 2000+v[0], v[1], v[2], v[3], v[4], v[5]
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}, malformed("%s is not a valid date and time", field)
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, 0, zoneFor(offset))
	if t.Day() != day { // 31 February and friends normalise to another day
		return time.Time{}, malformed("%s is not a valid date", field)
	}
	return t, nil
}

// maxZoneQuarters is the largest time zone offset, in quarter hours, that
// we read or write in a timestamp: 18 h. 23.040 9.2.3.11 codes the zone as
// two BCD digits and a sign (up to 79 quarters), but no zone is more than
// 14 h from UTC, so a larger value is taken as a corrupt field; the encoder
// refuses what the decoder would reject.
const maxZoneQuarters = 4 * 18

// zones caches the fixed zones of every offset an SCTS can carry (-79..79
// quarter hours), so that decoding a timestamp does not allocate one.
var zones [159]*time.Location

func init() {
	for q := -79; q <= 79; q++ {
		zones[q+79] = makeZone(q * 900)
	}
}

// zoneFor returns a fixed zone for an offset in seconds, named like "+02:00"
// so that logs and tests show the offset the network sent.
func zoneFor(offset int) *time.Location {
	if offset%900 == 0 && offset >= -79*900 && offset <= 79*900 {
		return zones[offset/900+79]
	}
	return makeZone(offset)
}

func makeZone(offset int) *time.Location {
	if offset == 0 {
		return time.FixedZone("+00:00", 0)
	}
	sign := byte('+')
	o := offset
	if o < 0 {
		sign, o = '-', -o
	}
	return time.FixedZone(fmt.Sprintf("%c%02d:%02d", sign, o/3600, o/60%60), offset)
}

// appendTimestamp encodes t as a TP-SCTS in t's own zone. Zones that are not
// whole quarter hours are rounded to the nearest quarter (the instant is
// kept; the wall clock shown follows the rounded zone). Years outside
// 2000..2099 and zones more than 18 h from UTC (maxZoneQuarters) cannot be
// encoded.
func appendTimestamp(dst []byte, t time.Time) ([]byte, error) {
	_, off := t.Zone()
	q := off / 900
	if rem := off % 900; rem >= 450 {
		q++
	} else if rem <= -450 {
		q--
	}
	if q > maxZoneQuarters || q < -maxZoneQuarters {
		return nil, fmt.Errorf("%w: time zone offset %ds out of range for an SMS timestamp", ErrInvalidText, off)
	}
	t = t.In(time.FixedZone("", q*900))
	if t.Year() < 2000 || t.Year() > 2099 {
		return nil, fmt.Errorf("%w: year %d cannot be encoded in an SMS timestamp (2000..2099)", ErrInvalidText, t.Year())
	}
	for _, v := range []int{t.Year() % 100, int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second()} {
		dst = append(dst, swapBCD(v))
	}
	neg := q < 0
	if neg {
		q = -q
	}
	tz := swapBCD(q)
	if neg {
		tz |= 0x08
	}
	return append(dst, tz), nil
}

func swapBCD(v int) byte { return byte(v%10)<<4 | byte(v/10) }

// Relative validity period (23.040 9.2.3.12.1).

// encodeRelativeVP returns the smallest TP-VP whose period is at least d
// (a message is never dropped earlier than asked), capped at 63 weeks.
func encodeRelativeVP(d time.Duration) byte {
	for vp := 0; vp <= 255; vp++ {
		if decodeRelativeVP(byte(vp)) >= d {
			return byte(vp)
		}
	}
	return 255
}

// decodeRelativeVP is the period a relative TP-VP octet stands for.
func decodeRelativeVP(vp byte) time.Duration {
	v := time.Duration(vp)
	switch {
	case vp <= 143:
		return (v + 1) * 5 * time.Minute
	case vp <= 167:
		return 12*time.Hour + (v-143)*30*time.Minute
	case vp <= 196:
		return (v - 166) * 24 * time.Hour
	default:
		return (v - 192) * 7 * 24 * time.Hour
	}
}
