package pdu

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for every decode entry point. Seed corpora live in
// testdata/fuzz/FuzzXxx (regenerate with `go test -run TestFuzzSeeds -update`).
// Each target checks more than "no panic": an error must wrap ErrMalformed
// or ErrUnsupported, and a success must give valid UTF-8 text and sane
// concatenation fields.

var update = flag.Bool("update", false, "rewrite the committed fuzz seed corpora in testdata/fuzz")

func checkDecodeErr(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("error wraps neither ErrMalformed nor ErrUnsupported: %v", err)
	}
}

func checkConcat(t *testing.T, c *Concat) {
	t.Helper()
	if c != nil && (c.Seq < 1 || c.Seq > c.Total || c.Total > 255) {
		t.Fatalf("bad concat %+v", *c)
	}
}

func checkUTF8(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("decoded text is not valid UTF-8: %q", s)
	}
}

func FuzzDecodeDeliver(f *testing.F) {
	addSeeds(f, "FuzzDecodeDeliver")
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDeliver(b)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		checkUTF8(t, d.Text)
		checkUTF8(t, d.From.Number)
		checkConcat(t, d.Concat)
		if d.Class < -1 || d.Class > 3 {
			t.Fatalf("class %d", d.Class)
		}
		// Whatever decodes must survive the Reassembler.
		var r Reassembler
		r.Add(d, nil, d.Timestamp)
	})
}

func FuzzDecodeSubmit(f *testing.F) {
	addSeeds(f, "FuzzDecodeSubmit")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSubmit(b)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		checkUTF8(t, s.Text)
		checkUTF8(t, s.To.Number)
		checkConcat(t, s.Concat)
	})
}

func FuzzDecodeStatusReport(f *testing.F) {
	addSeeds(f, "FuzzDecodeStatusReport")
	f.Fuzz(func(t *testing.T, b []byte) {
		sr, err := DecodeStatusReport(b)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		if sr.Outcome != OutcomeOf(sr.Status) {
			t.Fatalf("outcome %v for status %#x", sr.Outcome, sr.Status)
		}
		checkUTF8(t, sr.Recipient.Number)
	})
}

func FuzzDecode(f *testing.F) {
	addSeeds(f, "FuzzDecode")
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Decode(b)
		checkDecodeErr(t, err)
		if err == nil {
			switch v.(type) {
			case *Deliver, *StatusReport:
			default:
				t.Fatalf("Decode returned %T", v)
			}
		}
	})
}

// FuzzSplitSMSC takes the PDU as modems print it (hex text or binary), then
// decodes the rest the way the modem layer does.
func FuzzSplitSMSC(f *testing.F) {
	addSeeds(f, "FuzzSplitSMSC")
	f.Fuzz(func(t *testing.T, b []byte) {
		smsc, tpdu, err := SplitSMSC(b)
		checkDecodeErr(t, err)
		if err != nil {
			return
		}
		checkUTF8(t, smsc)
		_, err = Decode(tpdu)
		checkDecodeErr(t, err)
	})
}

func FuzzDecodeHex(f *testing.F) {
	addSeeds(f, "FuzzDecodeHex")
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := DecodeHex(string(b))
		checkDecodeErr(t, err)
		if err == nil && !strings.EqualFold(EncodeHex(out), strings.TrimSpace(string(b))) {
			t.Fatalf("hex round trip: %q → %X", b, out)
		}
	})
}

// FuzzEncodeRoundTrip: for any text, what EncodeSubmit accepts decodes back
// to the same text, in the number of parts CountText predicts.
func FuzzEncodeRoundTrip(f *testing.F) {
	for _, tc := range xcheckTexts {
		f.Add(tc.text, uint16(1), false)
	}
	f.Add(strings.Repeat("€", 81), uint16(300), true)
	f.Fuzz(func(t *testing.T, text string, ref uint16, ref16 bool) {
		parts, err := EncodeSubmit("+15551234567", text, SubmitOptions{Reference: ref, Ref16: ref16})
		if !utf8.ValidString(text) {
			if !errors.Is(err, ErrInvalidText) {
				t.Fatalf("invalid UTF-8 accepted: %v", err)
			}
			return
		}
		if errors.Is(err, ErrTooManyParts) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if c := CountText(text); !ref16 && c.Parts != len(parts) {
			t.Fatalf("CountText %d parts, EncodeSubmit %d", c.Parts, len(parts))
		}
		var sb strings.Builder
		for _, p := range parts {
			s, err := DecodeSubmit(p.TPDU)
			if err != nil {
				t.Fatal(err)
			}
			sb.WriteString(s.Text)
		}
		if sb.String() != text {
			t.Fatalf("round trip %q → %q", text, sb.String())
		}
	})
}

// seedPDUs are the seeds per target, as hex TPDUs: the known-good vectors,
// every type, and a few broken ones.
func seedPDUs() map[string][]string {
	tpdus := append([]string{}, validTPDUs...)
	tpdus = append(tpdus,
		"040B915155214365F700106211425100000002E834",                                      // class 0
		"000B915155214365F77FF662114251000000"+"03C0FFEE",                                 // 8-bit class 2
		"440B915155214365F7000062114251000000"+"150F240100080412340302050400000000009D06", // 16-bit concat + unknown IEs
		"040B915155214365F7000062114251000000"+"069BF286B70902",                           // escapes
		"010005912143F500000BC8329BFD06DDDF723619",                                        // submit
		"31070A81602143658700000B02EF35",                                                  // submit srr vp
		"41000B915155214365F700000F050003420202C2E170381C0E8701",                          // submit concat
		"06000B910221815716F2709021510121807090215101718000"+"0700000"+"2E834",            // status report with PI
		"040B915155214365F7002062114251000000"+"00",                                       // compressed
		"440B915155214365F7000462114251000000"+"020500",                                   // lying UDHL
		"",
		"09000B915155214365F70000"+"03103254000000"+"02E834",                         // submit, enhanced VP HH:MM:SS
		"19000B915155214365F70000"+"62114251000000"+"02E834",                         // submit, absolute VP
		"06070B910221815716F2709021510121807090215101718046"+"87000008"+"0400480069", // status, extended TP-PI, UCS-2 UD
		"040B915155214365F7000862114251000000"+"06D83D0042DE00",                      // broken surrogates
	)
	withSMSC := []string{
		"07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07",
		"0011000B916407281553F80000AA0AE8329BFD4697D9EC37",
		"0181000491515500006211420103000002E834",
		"0C91", "07914477581006",
	}
	return map[string][]string{
		"FuzzDecodeDeliver":      tpdus,
		"FuzzDecodeSubmit":       tpdus,
		"FuzzDecodeStatusReport": tpdus,
		"FuzzDecode":             tpdus,
		"FuzzSplitSMSC":          withSMSC,
		"FuzzDecodeHex":          append(withSMSC, "0G", "0", " 0a0B\n"),
	}
}

// addSeeds adds the in-code seeds; the committed files in testdata/fuzz are
// added by the fuzzing engine itself.
func addSeeds(f *testing.F, target string) {
	for _, h := range seedPDUs()[target] {
		if target == "FuzzDecodeHex" || target == "FuzzSplitSMSC" {
			f.Add([]byte(h))
			if target == "FuzzDecodeHex" {
				continue
			}
		}
		if b, err := DecodeHex(h); err == nil {
			f.Add(b)
		}
	}
}

// TestFuzzSeeds checks that every seed of seedPDUs (and of the cross-check
// corpus, for FuzzEncodeRoundTrip) is committed in testdata/fuzz, so that a
// plain `go test` replays them and a fuzzing run starts from them; with
// -update it rewrites them. Files the fuzzer added (crashers kept as
// regression seeds) are left alone.
func TestFuzzSeeds(t *testing.T) {
	for target, seeds := range seedPDUs() {
		var bodies []string
		for i, h := range seeds {
			var v []byte
			if target == "FuzzDecodeHex" || target == "FuzzSplitSMSC" {
				v = []byte(h)
			} else if b, err := DecodeHex(h); err == nil {
				v = b
			} else {
				t.Fatalf("seed %d of %s is not hex: %v", i, target, err)
			}
			bodies = append(bodies, fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", v))
		}
		syncCorpus(t, filepath.Join("testdata", "fuzz", target), bodies)
	}
	var bodies []string
	for i, tc := range xcheckTexts {
		bodies = append(bodies, fmt.Sprintf("go test fuzz v1\nstring(%q)\nuint16(%d)\nbool(%v)\n", tc.text, 40+i, i%2 == 1))
	}
	syncCorpus(t, filepath.Join("testdata", "fuzz", "FuzzEncodeRoundTrip"), bodies)
}

// syncCorpus writes bodies as dir/seedNN with -update, then checks that
// each of them is committed there.
func syncCorpus(t *testing.T, dir string, bodies []string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, body := range bodies {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("%s: no committed seed corpus (run go test -run TestFuzzSeeds -update ./modem/pdu/): %v", dir, err)
	}
	have := map[string]bool{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		have[string(b)] = true
	}
	for i, body := range bodies {
		if !have[body] {
			t.Errorf("%s: seed %d is not committed (run go test -run TestFuzzSeeds -update ./modem/pdu/)", dir, i)
		}
	}
}
