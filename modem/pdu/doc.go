// Package pdu is smsd's SMS codec: it encodes and decodes the transfer-layer
// PDUs (TPDUs) of 3GPP TS 23.040 with the alphabets of 3GPP TS 23.038.
//
// What it covers:
//
//   - SMS-SUBMIT encoding (EncodeSubmit): destination address, TP-MR, TP-SRR,
//     relative TP-VP, automatic choice of GSM 7-bit (with the extension table)
//     or UCS-2 (UTF-16BE, surrogate pairs), 8-bit data on request, and
//     concatenation with 8- or 16-bit references.
//   - SMS-DELIVER, SMS-STATUS-REPORT and SMS-SUBMIT decoding.
//   - CountText, the one part-counting rule shared by the web UI and the modem.
//   - Reassembler, which joins concatenated parts.
//   - Encoders for mobile-terminated PDUs (EncodeDeliver, EncodeStatusReport)
//     so that the modem emulator speaks the same wire format as a network.
//
// Every decoder treats its input as hostile: bad hex, truncated PDUs and
// length fields that lie are reported as errors (wrapping ErrMalformed or
// ErrUnsupported), never as a panic or as garbage text. Errors never contain
// the message text or the phone numbers of the PDU, so they are safe to log.
package pdu
