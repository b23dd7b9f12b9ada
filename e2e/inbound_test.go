package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/modem/pdu"
)

// Inbound attacks and awkward senders through the real binary (issue 11):
// every PDU here is typed raw into the emulated modem, as a spoofing sender
// or an odd handset would make the network deliver it.

// scts is a fixed TP-SCTS (23.040 9.2.3.11): 2025-03-04 05:06:07 UTC, in
// swapped semi-octets.
var scts = []byte{0x52, 0x30, 0x40, 0x50, 0x60, 0x70, 0x00}

// numberField encodes a TP-OA (23.040 9.1.2.5): the digit count, the
// type-of-address octet toa, the digits in swapped semi-octets.
func numberField(digits string, toa byte) []byte {
	b := []byte{byte(len(digits)), toa}
	for i := 0; i < len(digits); i += 2 {
		lo, hi := digits[i]-'0', byte(0xF)
		if i+1 < len(digits) {
			hi = digits[i+1] - '0'
		}
		b = append(b, hi<<4|lo)
	}
	return b
}

// concatPart is one SMS-DELIVER part (23.040 9.2.2.1) with an 8-bit
// concatenation element (9.2.3.24.1), SMSC field "00" first as modems print
// it. For GSM-7 (dcs 0x00) units are septets, packed after the header and
// its fill bits; for UCS-2 (dcs 0x08) they are the octets as they travel.
func concatPart(from []byte, dcs byte, ref, total, seq byte, units []byte) []byte {
	udh := []byte{5, 0x00, 3, ref, total, seq}
	b := []byte{0x00, 0x44} // no SMSC; SMS-DELIVER, TP-MMS, TP-UDHI
	b = append(b, from...)
	b = append(b, 0x00, dcs)
	b = append(b, scts...)
	if dcs == 0x08 {
		b = append(b, byte(len(udh)+len(units)))
		b = append(b, udh...)
		return append(b, units...)
	}
	hdr := (len(udh)*8 + 6) / 7 // header septets, fill bits included
	udl := hdr + len(units)
	ud := make([]byte, (udl*7+7)/8)
	copy(ud, udh)
	for i, s := range units { // 23.038 6.1.2.1.1: LSB first
		bit := (hdr + i) * 7
		v := uint16(s&0x7F) << (bit % 8)
		ud[bit/8] |= byte(v)
		if bit%8 > 1 {
			ud[bit/8+1] |= byte(v >> 8)
		}
	}
	b = append(b, byte(udl))
	return append(b, ud...)
}

// single is a one-part GSM-7 SMS-DELIVER from `from` (international or,
// without '+', national digits) with the type-of-address octet toa, SMSC
// field first.
func single(t *testing.T, from string, toa byte, text string) []byte {
	t.Helper()
	tpdu, err := pdu.EncodeDeliver(from, text, time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), nil)
	if err != nil {
		t.Fatal(err)
	}
	tpdu[2] = toa // TP-OA's type of address, right after its digit count
	return append([]byte{0x00}, tpdu...)
}

// inboxFrom returns the inbox's (from, text) pairs.
func (r *rig) inboxFrom() map[string]string {
	out, _, _ := r.cmd("inbox", "-json")
	var items []map[string]any
	json.Unmarshal([]byte(out), &items)
	m := map[string]string{}
	for _, it := range items {
		from, _ := it["from"].(string)
		text, _ := it["text"].(string)
		m[from] = text
	}
	return m
}

// optedOut says whether `smsd send` refuses number as opted out; a number
// that is not refused gets a message queued.
func (r *rig) optedOut(number string) bool {
	_, serr, code := r.cmd("send", "-to", number, "-text", "reminder")
	return code != 0 && strings.Contains(serr, "opted out")
}

// TestInboundFloodDoesNotHideStop: a spoofed sender sends as many orphan
// first parts of two-part messages as the SIM has slots (30), then a
// patient texts STOP. The patient must be opted out at once, not when the
// orphans time out an hour later: the parts go to the store, and the SIM
// stays free for the STOP. On a full SIM the network holds the STOP
// (27.005 §3.4.1, 24.011 memory capacity exceeded), as the emulator models.
func TestInboundFloodDoesNotHideStop(t *testing.T) {
	r := newRig(t)
	r.start()
	spoofed := "+15550009999"
	patient := "+15552000001"
	for ref := 1; ref <= 30; ref++ {
		tpdu, err := pdu.EncodeDeliver(spoofed, "orphan", time.Now(), &pdu.Concat{Ref: uint16(ref), Total: 2, Seq: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.emu.InjectPDU(append([]byte{0x00}, tpdu...)); err != nil {
			t.Fatalf("orphan part %d: %v", ref, err)
		}
	}
	if err := r.emu.Inject(patient, "STOP"); err != nil {
		t.Fatalf("the patient's STOP: %v", err)
	}
	r.waitFor("the patient's STOP in the inbox", 30*time.Second, func() bool { return r.inboxFrom()[patient] == "STOP" })
	if !r.optedOut(patient) {
		t.Errorf("the patient texted STOP behind 30 orphan parts, but smsd send to them is not refused as opted out")
	}
	if got := r.inboxFrom()[spoofed]; got != "" {
		t.Errorf("an orphan part reached the inbox before its reassembly timeout: %q", got)
	}
	r.waitFor("the SIM emptied", 30*time.Second, func() bool { return r.emu.Stored() == 0 && r.emu.Held() == 0 })
	if strings.Contains(r.logs.String(), patient) || strings.Contains(r.logs.String(), spoofed) {
		t.Errorf("daemon log contains a number in clear")
	}
}

// TestInboundNationalSender: a sender in national format becomes E.164
// with the clinic's region (US) only when that gives a valid number;
// otherwise it is kept as received, and a STOP from it opts out nobody.
// Before, "0170123456" (TON national) became +10170123456 and "5551234"
// +15551234, opting out numbers the sender does not have.
func TestInboundNationalSender(t *testing.T) {
	r := newRig(t)
	r.start()
	cases := []struct {
		name, digits string
		toa          byte
		inboxFrom    string // as the inbox shows the sender
		optedOut     string // the number that must (or must not) be opted out
		wantOptOut   bool
	}{
		{"German mobile in national format", "0170123456", 0xA1, "0170123456", "+10170123456", false},
		{"seven-digit local number", "5551234", 0x81, "5551234", "+15551234", false},
		{"valid US number in national format", "2015550123", 0xA1, "+12015550123", "+12015550123", true},
	}
	for _, c := range cases {
		if err := r.emu.InjectPDU(single(t, c.digits, c.toa, "STOP")); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	for _, c := range cases {
		r.waitFor(c.name+": STOP in the inbox", 30*time.Second, func() bool { return r.inboxFrom()[c.inboxFrom] == "STOP" })
	}
	for _, c := range cases {
		if got := r.optedOut(c.optedOut); got != c.wantOptOut {
			t.Errorf("%s: %s opted out = %v, want %v", c.name, c.optedOut, got, c.wantOptOut)
		}
	}
}

// TestInboundSplitCharacters: senders that cut a long message without
// looking at characters split a GSM-7 escape sequence (23.038 6.2.1.1:
// 0x1B then 0x65 is "€") or a UTF-16 surrogate pair between two parts;
// the inbox shows the character whole.
func TestInboundSplitCharacters(t *testing.T) {
	r := newRig(t)
	r.start()
	septets := func(s string) []byte { // ASCII letters, digits, space, ':' are their own septets
		return []byte(s)
	}
	cases := []struct {
		name, from string
		parts      [][]byte
		want       string
	}{
		{"GSM-7 escape before the cut", "15552000011", [][]byte{
			concatPart(numberField("15552000011", 0x91), 0x00, 7, 2, 1, append(septets("Price: 10"), 0x1B)),
			concatPart(numberField("15552000011", 0x91), 0x00, 7, 2, 2, append([]byte{0x65}, septets(" today")...)),
		}, "Price: 10€ today"},
		{"UTF-16 surrogate pair across the cut", "15552000012", [][]byte{
			concatPart(numberField("15552000012", 0x91), 0x08, 9, 2, 1, []byte{0, 'O', 0, 'K', 0, ' ', 0xD8, 0x3D}),
			concatPart(numberField("15552000012", 0x91), 0x08, 9, 2, 2, []byte{0xDE, 0x00, 0, '!'}),
		}, "OK 😀!"},
	}
	for _, c := range cases {
		for _, p := range c.parts {
			if err := r.emu.InjectPDU(p); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
	}
	for _, c := range cases {
		from := "+" + c.from
		r.waitFor(c.name+": message in the inbox", 30*time.Second, func() bool { return r.inboxFrom()[from] != "" })
		if got := r.inboxFrom()[from]; got != c.want {
			t.Errorf("%s: inbox shows %q, want %q", c.name, got, c.want)
		}
	}
}

// TestFCCRevocationWords: every opt-out word the FCC's revocation rule
// (47 CFR 64.1200(a)(10)) counts — STOP, QUIT, END, REVOKE, OPT OUT, CANCEL,
// UNSUBSCRIBE — and the carriers' STOPALL, OPTOUT and OPT-OUT, written as
// patients write them, opt a patient out end to end: from the emulated
// handset through the daemon to a refused send, and nothing more is sent
// to the number after its opt-out than the one text confirming it (a
// second STOP sends nothing). START opts back in with exactly one
// confirmation naming the clinic; a second START sends nothing.
func TestFCCRevocationWords(t *testing.T) {
	r := newRig(t)
	const help = "Example Clinic reminders. Reply STOP to opt out."
	r.addConf(`clinic_name = "Example Clinic"` + "\n" + `help_text = "` + help + `"`)
	r.start()
	words := []string{"STOP", "Quit", "end.", "REVOKE", "Opt out", "cancel!", "UNSUBSCRIBE", "stopall", "OPTOUT", "opt-out."}
	number := func(i int) string { return fmt.Sprintf("+155521000%02d", i+1) }
	// A reminder to each first: the opt-out answers it.
	for i := range words {
		if out, code := r.cmdStdin(number(i)+"\nReminder: your visit is on Monday. Reply STOP to opt out.\n", "send"); code != 0 {
			t.Fatalf("send to %s: exit %d\n%s", number(i), code, out)
		}
	}
	r.waitFor("the reminders on the handset", 30*time.Second, func() bool { return len(r.emu.Handset()) == len(words) })
	for i, w := range words {
		if err := r.emu.Inject(number(i), w); err != nil {
			t.Fatal(err)
		}
	}
	r.waitFor("every opt-out in the inbox", 30*time.Second, func() bool {
		got := r.inboxFrom()
		for i, w := range words {
			if got[number(i)] != w {
				return false
			}
		}
		return true
	})
	for i, w := range words {
		if !r.optedOut(number(i)) {
			t.Errorf("a send after %q was not refused as opted out", w)
		}
	}
	// A marker: HELP from another number. The daemon handles one modem's
	// messages in order, so its answer is queued after anything the
	// opt-outs queued, and goes out after it.
	const other = "+15552100099"
	helpFrom := func(text string, n int) {
		t.Helper()
		if err := r.emu.Inject(other, text); err != nil {
			t.Fatal(err)
		}
		r.waitFor("the HELP marker's answer", 30*time.Second, func() bool { return r.handsetCounts()[other+"|"+help] == n })
	}
	helpFrom("HELP", 1)
	optOut := "You are opted out of messages from Example Clinic. No more will be sent. Reply START to opt back in."
	for i, w := range words {
		if got := r.handsetTo(number(i)); len(got) != 2 || got[1] != optOut {
			t.Errorf("after %q the number got %q besides its reminder, want the one confirmation %q", w, got[1:], optOut)
		}
	}
	// A second opt-out word from an opted-out number sends nothing more.
	if err := r.emu.Inject(number(0), "Stop!"); err != nil {
		t.Fatal(err)
	}
	helpFrom("help", 2)
	if got := r.handsetTo(number(0)); len(got) != 2 {
		t.Errorf("a second STOP: the number got %d texts in all, want 2 (the reminder, one confirmation)", len(got))
	}

	// START, twice, from two of them: one confirmation each, and the
	// number opted back in. HELP after the second START is the marker.
	confirm := "You will get messages from Example Clinic again. Reply STOP to opt out."
	for _, i := range []int{0, 5} {
		if err := r.emu.Inject(number(i), "START"); err != nil {
			t.Fatal(err)
		}
		r.waitFor("the opt-in confirmation", 30*time.Second, func() bool { return r.handsetCounts()[number(i)+"|"+confirm] == 1 })
		if err := r.emu.Inject(number(i), "Start."); err != nil {
			t.Fatal(err)
		}
		if err := r.emu.Inject(number(i), "help"); err != nil {
			t.Fatal(err)
		}
		r.waitFor("the HELP answer after the second START", 30*time.Second, func() bool { return r.handsetCounts()[number(i)+"|"+help] == 1 })
		if n := r.handsetCounts()[number(i)+"|"+confirm]; n != 1 {
			t.Errorf("%s got %d opt-in confirmations after two STARTs, want 1", number(i), n)
		}
		if r.optedOut(number(i)) {
			t.Errorf("%s is still opted out after START", number(i))
		}
	}
}
