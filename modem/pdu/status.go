package pdu

import (
	"errors"
	"fmt"
	"time"
)

// Outcome is what a status report means for the message (23.040 9.2.3.15).
// The zero value is "unknown" so that an unset Outcome never reads as
// delivered.
type Outcome int

const (
	// Delivered: the transaction is complete (TP-ST 0x00..0x1F): received by
	// the handset, or forwarded/replaced by the SC.
	Delivered Outcome = iota + 1
	// Pending: a temporary error, the SC is still trying (TP-ST 0x20..0x3F).
	// A final report follows.
	Pending
	// Failed: a permanent error, or a temporary one after which the SC gave
	// up (TP-ST 0x40..0x7F, and reserved values 0x80..0xFF).
	Failed
)

// String returns "delivered", "pending", "failed" or "unknown".
func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Pending:
		return "pending"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Final reports whether no further report will follow for this part.
func (o Outcome) Final() bool { return o == Delivered || o == Failed }

// OutcomeOf maps a TP-ST value to its outcome (23.040 9.2.3.15):
//
//	0x00..0x1F  short message transaction completed          → Delivered
//	0x20..0x3F  temporary error, SC still trying             → Pending
//	0x40..0x5F  permanent error, SC not making more attempts → Failed
//	0x60..0x7F  temporary error, SC not making more attempts → Failed
//	0x80..0xFF  reserved                                      → Failed
//
// Within each range, reserved and SC-specific values take the meaning of
// their range, since bits 6..5 carry the class of the status. Values with bit
// 7 set have no defined class; smsd counts them as failed, since a message
// wrongly shown as delivered is worse for a clinic than one shown as failed
// (staff can resend; nobody looks again at a "delivered" reminder).
func OutcomeOf(st byte) Outcome {
	switch {
	case st <= 0x1F:
		return Delivered
	case st <= 0x3F:
		return Pending
	default:
		return Failed
	}
}

// StatusReport is a decoded SMS-STATUS-REPORT (23.040 9.2.2.3).
type StatusReport struct {
	// MR is the TP-MR of the SMS-SUBMIT this report is about.
	MR byte
	// Recipient is TP-RA, the destination of that SMS-SUBMIT (23.040 9.2.3.14).
	Recipient Address
	// SCTS is when the SC received the submitted message; Discharge when it
	// delivered it (or the time of the last failed attempt). Either is the
	// zero time when its field is malformed (TimestampErr says why).
	SCTS, Discharge time.Time
	// TimestampErr is the ErrMalformed reason when TP-SCTS or TP-DT has a
	// bad digit, date or zone: the report still decodes, since its outcome
	// is what matters.
	TimestampErr error
	// Status is TP-ST (23.040 9.2.3.15).
	Status byte
	// Outcome is what Status means for the message (see OutcomeOf).
	Outcome Outcome
}

// DecodeStatusReport decodes an SMS-STATUS-REPORT TPDU (without the SMSC
// field; see SplitSMSC). The optional TP-PI and the fields it announces are
// read and checked but not returned.
func DecodeStatusReport(tpdu []byte) (*StatusReport, error) {
	s, err := decodeStatusReport(tpdu)
	if err != nil {
		return nil, fmt.Errorf("decode SMS-STATUS-REPORT: %w", err)
	}
	return s, nil
}

func decodeStatusReport(tpdu []byte) (*StatusReport, error) {
	r := &reader{b: tpdu}
	first, err := r.byte("first octet")
	if err != nil {
		return nil, err
	}
	if first&mtiMask != mtiStatus {
		return nil, unsupported("TP-MTI %d is not SMS-STATUS-REPORT", first&mtiMask)
	}
	s := &StatusReport{}
	if s.MR, err = r.byte("TP-MR"); err != nil {
		return nil, err
	}
	if s.Recipient, err = readAddress(r, "TP-RA"); err != nil {
		return nil, err
	}
	var badSCTS, badDT error
	if s.SCTS, badSCTS, err = readServiceTimestamp(r, "TP-SCTS"); err != nil {
		return nil, err
	}
	if s.Discharge, badDT, err = readServiceTimestamp(r, "TP-DT"); err != nil {
		return nil, err
	}
	s.TimestampErr = errors.Join(badSCTS, badDT)
	if s.Status, err = r.byte("TP-ST"); err != nil {
		return nil, err
	}
	s.Outcome = OutcomeOf(s.Status)
	if len(r.rest()) == 0 {
		return s, nil
	}
	// TP-PI (23.040 9.2.3.27) and what it announces. Bit 7 is an extension
	// flag: further TP-PI octets follow; their meaning is not defined yet.
	pi, _ := r.byte("TP-PI")
	for ext := pi; ext&0x80 != 0; {
		if ext, err = r.byte("TP-PI extension"); err != nil {
			return nil, err
		}
	}
	if pi&0x01 != 0 {
		if _, err := r.byte("TP-PID"); err != nil {
			return nil, err
		}
	}
	enc := GSM7
	if pi&0x02 != 0 {
		b, err := r.byte("TP-DCS")
		if err != nil {
			return nil, err
		}
		dcs, err := parseDCS(b)
		if err != nil {
			return nil, err
		}
		enc = dcs.enc
	}
	if pi&0x04 != 0 {
		if _, err := readUserData(r, enc, first&bitUDHI != 0); err != nil {
			return nil, err
		}
	}
	if len(r.rest()) != 0 {
		return nil, malformed("%d octets after the last field", len(r.rest()))
	}
	return s, nil
}

// EncodeStatusReport encodes an SMS-STATUS-REPORT TPDU (without the SMSC
// field) as a network sends it; the emulator uses it. Status is sent as
// given, except that a zero Status with Outcome Pending or Failed sends a
// representative value (0x20 congestion, 0x40 remote procedure error).
// Zero times are sent as the current time.
func EncodeStatusReport(sr StatusReport) ([]byte, error) {
	st := sr.Status
	if st == 0 {
		switch sr.Outcome {
		case Pending:
			st = 0x20
		case Failed:
			st = 0x40
		}
	}
	b := make([]byte, 0, 32)
	b = append(b, mtiStatus|bitMMS, sr.MR)
	b, err := encodeAddress(b, sr.Recipient.Number, false)
	if err != nil {
		return nil, fmt.Errorf("encode SMS-STATUS-REPORT: %w", err)
	}
	for _, t := range []time.Time{sr.SCTS, sr.Discharge} {
		if t.IsZero() {
			t = time.Now()
		}
		if b, err = appendTimestamp(b, t); err != nil {
			return nil, fmt.Errorf("encode SMS-STATUS-REPORT: %w", err)
		}
	}
	return append(b, st), nil
}
