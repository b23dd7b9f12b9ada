package pdu

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/internal/testutil"
)

// The golden file pins the exact PDUs smsd sends and the emulator delivers
// for the cross-check corpus, so that any change to the wire format shows up
// as a readable diff. Its content is not taken on trust: every PDU in it is
// also decoded by gammu (TestGoldenPDUsDecodeInGammu). Regenerate with
// `go test ./modem/pdu/ -run TestGolden -update` and review the diff.
func TestGoldenPDUs(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("# modem/pdu golden PDUs: name, then one hex TPDU per part (no SMSC field)\n")
	ts := time.Date(2026, 11, 24, 10, 30, 0, 0, time.FixedZone("", -5*3600))
	for i, tc := range xcheckTexts {
		parts, err := EncodeSubmit("+15551234567", tc.text, SubmitOptions{Reference: uint16(i + 1), StatusReport: true, Validity: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "\nsubmit %s\n", tc.name)
		for _, p := range parts {
			fmt.Fprintf(&sb, "%s\n", EncodeHex(p.TPDU))
		}
		tpdus, err := EncodeDeliverParts("CLINIC", tc.text, ts, uint16(0x100+i))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "deliver %s\n", tc.name)
		for _, p := range tpdus {
			fmt.Fprintf(&sb, "%s\n", EncodeHex(p))
		}
	}
	sr, err := EncodeStatusReport(StatusReport{MR: 42, Recipient: Address{Number: "+15551234567"}, SCTS: ts, Discharge: ts.Add(time.Minute), Status: 0x00})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&sb, "\nstatus-report delivered\n%s\n", EncodeHex(sr))

	path := filepath.Join("testdata", "golden_pdus.txt")
	if *update {
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	if got := sb.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s line %d differs (run with -update if the change is intended):\n got %s\nwant %s", path, i+1, g, w)
			}
		}
	}
}

func TestGoldenPDUsDecodeInGammu(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "golden_pdus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	type entry struct{ kind, name, hex string }
	var entries []entry
	var reqs []gammuReq
	var kind, name string
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.Contains(line, " "):
			kind, name, _ = strings.Cut(line, " ")
		default:
			entries = append(entries, entry{kind, name, line})
			reqs = append(reqs, gammuReq{Op: "decode", PDU: "00" + line})
		}
	}
	resps := runGammu(t, reqs)
	for i, e := range entries {
		r := resps[i]
		want := map[string]struct{ typ, number string }{
			"submit":        {"Submit", "+15551234567"},
			"deliver":       {"Deliver", "CLINIC"},
			"status-report": {"Status_Report", "+15551234567"},
		}[e.kind]
		if !r.OK || r.Type != want.typ || r.Number != want.number {
			t.Errorf("%s %s %s: gammu says %+v", e.kind, e.name, e.hex, r)
			continue
		}
		b := testutil.MustHex(t, e.hex)
		var text string
		switch e.kind {
		case "submit":
			s, err := DecodeSubmit(b)
			if err != nil {
				t.Fatal(err)
			}
			text = s.Text
		case "deliver":
			d, err := DecodeDeliver(b)
			if err != nil {
				t.Fatal(err)
			}
			text = d.Text
		case "status-report":
			// gammu puts its own wording ("Delivered") in Text.
			if r.Status != 0 || r.MR != 42 {
				t.Errorf("status report: gammu says TP-ST %d MR %d", r.Status, r.MR)
			}
			continue
		}
		if !gammuText(r.Text, text) {
			t.Errorf("%s %s: gammu text %q, ours %q", e.kind, e.name, r.Text, text)
		}
	}
}
