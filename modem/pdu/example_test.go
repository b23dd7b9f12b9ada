package pdu_test

import (
	"fmt"
	"time"

	"github.com/clinicsms/smsd/modem/pdu"
)

// What the web UI shows under the text box, and what the modem will send.
func ExampleCountText() {
	c := pdu.CountText("Your appointment is tomorrow at 10:30. Copay 20€.")
	fmt.Println(c.Encoding, c.Chars, c.Parts, c.Remaining)
	c = pdu.CountText("Rendez-vous demain à 10h30 ✔")
	fmt.Println(c.Encoding, c.Chars, c.Parts, c.Remaining)
	// Output:
	// GSM-7 50 1 110
	// UCS-2 28 1 42
}

// The modem layer sends each part with AT+CMGS=<len(TPDU)> and "00" (use the
// SIM's SMSC) in front of the hex TPDU. (This PDU was checked with gammu:
// SMS-SUBMIT to +15551234567, "See you at 10:30", status report requested.)
func ExampleEncodeSubmit() {
	parts, err := pdu.EncodeSubmit("+15551234567", "See you at 10:30", pdu.SubmitOptions{StatusReport: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range parts {
		fmt.Printf("AT+CMGS=%d  00%s\n", len(p.TPDU), pdu.EncodeHex(p.TPDU))
	}
	// Output:
	// AT+CMGS=27  0021000B915155214365F7000010D37219947FD741613A2806D3CD60
}

// A PDU as AT+CMGL prints it: SMSC field, then an SMS-DELIVER.
func ExampleDecode() {
	raw, _ := pdu.DecodeHex("07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07")
	_, tpdu, err := pdu.SplitSMSC(raw)
	if err != nil {
		fmt.Println(err)
		return
	}
	msg, err := pdu.Decode(tpdu)
	if err != nil {
		fmt.Println(err)
		return
	}
	switch m := msg.(type) {
	case *pdu.Deliver:
		fmt.Println(m.Text, m.Timestamp.Format(time.RFC3339))
	case *pdu.StatusReport:
		fmt.Println(m.Outcome)
	}
	// Output:
	// How are you? 2002-08-26T19:37:41Z
}
