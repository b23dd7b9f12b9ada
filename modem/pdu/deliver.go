package pdu

import (
	"fmt"
	"time"
)

// Deliver is a decoded SMS-DELIVER (23.040 9.2.2.1): a message from a phone
// or a sender name to us.
type Deliver struct {
	// SMSC is the service centre address when the PDU came with one (set by
	// the caller from SplitSMSC; DecodeDeliver leaves it empty).
	SMSC string
	// From is TP-OA, the originator: a number or a sender name (23.040 9.1.2.5).
	From Address
	// Timestamp is TP-SCTS, in the time zone the network gave; the zero
	// time when the field is malformed (TimestampErr says why).
	Timestamp time.Time
	// TimestampErr is the ErrMalformed reason when TP-SCTS has a bad digit,
	// date or zone: the message is still decoded, the time is unknown.
	TimestampErr error
	// Encoding is the alphabet TP-DCS names (23.038 chapter 4).
	Encoding Encoding
	// Class is the message class from TP-DCS (0 flash .. 3), -1 when none.
	Class int
	Text  string // for GSM-7 and UCS-2
	Data  []byte // for 8-bit
	// Concat is set for a part of a concatenated message.
	Concat *Concat
	// PID is TP-PID, the protocol identifier (23.040 9.2.3.9).
	PID byte
	// MoreMessages is true when TP-MMS says more messages are waiting in the SC.
	MoreMessages bool
	// StatusReport is TP-SRI: the sender asked for a status report.
	StatusReport bool

	// split is a surrogate pair cut at this part's edges, which the
	// Reassembler joins with the neighbouring part.
	split splitPair
}

// DecodeDeliver decodes an SMS-DELIVER TPDU (without the SMSC field; see
// SplitSMSC).
func DecodeDeliver(tpdu []byte) (*Deliver, error) {
	d, err := decodeDeliver(tpdu)
	if err != nil {
		return nil, fmt.Errorf("decode SMS-DELIVER: %w", err)
	}
	return d, nil
}

func decodeDeliver(tpdu []byte) (*Deliver, error) {
	r := &reader{b: tpdu}
	first, err := r.byte("first octet")
	if err != nil {
		return nil, err
	}
	if first&mtiMask != mtiDeliver {
		return nil, unsupported("TP-MTI %d is not SMS-DELIVER", first&mtiMask)
	}
	d := &Deliver{MoreMessages: first&bitMMS == 0, StatusReport: first&bitSRI != 0}
	if d.From, err = readAddress(r, "TP-OA"); err != nil {
		return nil, err
	}
	if d.PID, err = r.byte("TP-PID"); err != nil {
		return nil, err
	}
	dcsByte, err := r.byte("TP-DCS")
	if err != nil {
		return nil, err
	}
	if d.Timestamp, d.TimestampErr, err = readServiceTimestamp(r, "TP-SCTS"); err != nil {
		return nil, err
	}
	dcs, err := parseDCS(dcsByte)
	if err != nil {
		return nil, err
	}
	d.Encoding, d.Class = dcs.enc, dcs.class
	ud, err := readUserData(r, dcs.enc, first&bitUDHI != 0)
	if err != nil {
		return nil, err
	}
	d.Text, d.Data, d.Concat, d.split = ud.text, ud.data, ud.concat, ud.split
	return d, nil
}

// Decode decodes a mobile-terminated TPDU (without the SMSC field) by its
// TP-MTI: it returns *Deliver or *StatusReport. An SMS-SUBMIT-REPORT or a
// reserved type is ErrUnsupported.
func Decode(tpdu []byte) (any, error) {
	if len(tpdu) == 0 {
		return nil, fmt.Errorf("decode TPDU: %w", malformed("empty"))
	}
	switch tpdu[0] & mtiMask {
	case mtiDeliver:
		return DecodeDeliver(tpdu)
	case mtiStatus:
		return DecodeStatusReport(tpdu)
	}
	return nil, fmt.Errorf("decode TPDU: %w", unsupported("TP-MTI %d is not SMS-DELIVER or SMS-STATUS-REPORT", tpdu[0]&mtiMask))
}

// EncodeDeliver encodes one SMS-DELIVER TPDU (without the SMSC field), as a
// network would hand it to a phone. from is "+E164", national digits, or an
// alphanumeric sender name (at most 11 GSM-7 characters). The encoding is
// chosen as for EncodeSubmit. With concat set, a concatenation header is
// added (8-bit reference if Ref < 256, else 16-bit). The text must fit in
// one part; use EncodeDeliverParts for long texts.
func EncodeDeliver(from string, text string, ts time.Time, concat *Concat) ([]byte, error) {
	if err := checkText(text); err != nil {
		return nil, fmt.Errorf("encode SMS-DELIVER: %w", err)
	}
	ref16 := concat != nil && concat.Ref > 0xFF
	p := planText(text, ref16)
	single, multi := capacity(p.enc, ref16)
	limit := single
	if concat != nil {
		limit = multi
	}
	if len(p.data) > limit {
		return nil, fmt.Errorf("encode SMS-DELIVER: %w: text needs %d units, one part holds %d (use EncodeDeliverParts)", ErrInvalidText, len(p.data), limit)
	}
	var udh []byte
	if concat != nil {
		if concat.Total < 1 || concat.Total > maxConcatParts || concat.Seq < 1 || concat.Seq > concat.Total {
			return nil, fmt.Errorf("encode SMS-DELIVER: %w: concatenation part %d of %d", ErrInvalidText, concat.Seq, concat.Total)
		}
		udh = concatUDH(concat.Ref, ref16, concat.Total, concat.Seq)
	}
	return encodeDeliver(from, p.enc, p.data, udh, ts)
}

func encodeDeliver(from string, enc Encoding, units, udh []byte, ts time.Time) ([]byte, error) {
	first := byte(mtiDeliver | bitMMS) // TP-MMS=1: no more messages waiting
	if udh != nil {
		first |= bitUDHI
	}
	b := make([]byte, 0, 32+maxUDOctets)
	b = append(b, first)
	b, err := encodeAddress(b, from, true)
	if err != nil {
		return nil, fmt.Errorf("encode SMS-DELIVER: %w", err)
	}
	b = append(b, 0x00, dcsFor(enc))
	if b, err = appendTimestamp(b, ts); err != nil {
		return nil, fmt.Errorf("encode SMS-DELIVER: %w", err)
	}
	return appendUserData(b, enc, udh, units), nil
}

// EncodeDeliverParts encodes text as as many SMS-DELIVER TPDUs as it needs,
// split like EncodeSubmit splits (never inside an escape sequence or a
// surrogate pair), with concatenation reference ref (8-bit element if
// ref < 256, else 16-bit).
func EncodeDeliverParts(from, text string, ts time.Time, ref uint16) ([][]byte, error) {
	if err := checkText(text); err != nil {
		return nil, fmt.Errorf("encode SMS-DELIVER: %w", err)
	}
	ref16 := ref > 0xFF
	p := planText(text, ref16)
	n := p.parts()
	if n > maxConcatParts {
		return nil, fmt.Errorf("encode SMS-DELIVER: %w: %d parts needed, at most %d possible", ErrTooManyParts, n, maxConcatParts)
	}
	out := make([][]byte, n)
	for i := range out {
		var udh []byte
		if n > 1 {
			udh = concatUDH(ref, ref16, n, i+1)
		}
		b, err := encodeDeliver(from, p.enc, p.part(i), udh, ts)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}
