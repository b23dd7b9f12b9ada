package pdu

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/clinicsms/smsd/internal/testutil"
)

func TestFirstNonGSM7(t *testing.T) {
	tests := []struct {
		name string
		text string
		at   int
		r    rune
	}{
		{"empty", "", -1, 0},
		{"ascii", "See you at 9", -1, 0},
		{"extension_chars", "€[]{}^~\\|", -1, 0},
		{"gsm7_accents", "àéèìòùÄÖÑÜ", -1, 0},
		{"c_cedilla_first", "ça va", 0, 'ç'},
		{"after_euro", "€5 for ç", 7, 'ç'},
		{"emoji_index_in_runes", "ok 😀 😀", 3, '😀'},
		{"cyrillic", "Привет", 0, 'П'},
		{"invalid_utf8", "ab\xffc", 2, utf8.RuneError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at, r := FirstNonGSM7(tc.text)
			if at != tc.at || r != tc.r {
				t.Fatalf("FirstNonGSM7(%q) = %d %q, want %d %q", tc.text, at, r, tc.at, tc.r)
			}
			if (at >= 0) != (CountText(tc.text).Encoding == UCS2) {
				t.Fatalf("FirstNonGSM7 says %d, CountText's encoding is %v", at, CountText(tc.text).Encoding)
			}
		})
	}
}

// TestFirstNonGSM7AgreesOnCorpus: over the golden PDU corpus, each SMS-SUBMIT's
// text (its parts joined) has a non-GSM-7 character exactly when the PDU
// is in UCS-2, and re-encoding the text gives the same encoding and parts.
func TestFirstNonGSM7AgreesOnCorpus(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "golden_pdus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	type msg struct {
		name  string
		texts []string
		encs  []Encoding
	}
	var msgs []*msg
	var kind string
	for _, line := range strings.Split(string(raw), "\n") {
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.Contains(line, " "):
			var name string
			kind, name, _ = strings.Cut(line, " ")
			if kind == "submit" {
				msgs = append(msgs, &msg{name: name})
			}
		case kind == "submit":
			s, err := DecodeSubmit(testutil.MustHex(t, line))
			if err != nil {
				t.Fatalf("%s: %v", msgs[len(msgs)-1].name, err)
			}
			m := msgs[len(msgs)-1]
			m.texts, m.encs = append(m.texts, s.Text), append(m.encs, s.Encoding)
		}
	}
	if len(msgs) < 5 {
		t.Fatalf("only %d SMS-SUBMITs in the corpus", len(msgs))
	}
	checked := 0
	for _, m := range msgs {
		if m.encs[0] == Bit8 {
			continue
		}
		text := strings.Join(m.texts, "")
		at, _ := FirstNonGSM7(text)
		if (at >= 0) != (m.encs[0] == UCS2) {
			t.Errorf("%s: FirstNonGSM7 = %d but the PDU is %v", m.name, at, m.encs[0])
		}
		c := CountText(text)
		if c.Encoding != m.encs[0] || c.Parts != len(m.texts) {
			t.Errorf("%s: CountText says %v in %d parts, the corpus has %v in %d", m.name, c.Encoding, c.Parts, m.encs[0], len(m.texts))
		}
		checked++
	}
	t.Logf("%d SMS-SUBMITs checked", checked)
}

// FuzzFirstNonGSM7: the character FirstNonGSM7 names is the one that makes
// EncodeSubmit choose UCS-2, and the text before it is GSM-7 on its own.
func FuzzFirstNonGSM7(f *testing.F) {
	for _, tc := range xcheckTexts {
		f.Add(tc.text)
	}
	f.Add("€ and ç")
	f.Add("😀")
	f.Fuzz(func(t *testing.T, text string) {
		at, r := FirstNonGSM7(text)
		c := CountText(text)
		if (at >= 0) != (c.Encoding == UCS2) {
			t.Fatalf("FirstNonGSM7 %d, CountText %v", at, c.Encoding)
		}
		if at < 0 {
			return
		}
		runes := []rune(text)
		if runes[at] != r {
			t.Fatalf("index %d holds %q, not %q", at, runes[at], r)
		}
		if CountText(string(runes[:at])).Encoding != GSM7 {
			t.Fatalf("the text before index %d is not GSM-7 on its own", at)
		}
		if !utf8.ValidString(text) {
			return
		}
		parts, err := EncodeSubmit("+15551234567", text, SubmitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := DecodeSubmit(parts[0].TPDU)
		if err != nil || s.Encoding != UCS2 {
			t.Fatalf("EncodeSubmit chose %v (%v)", s.Encoding, err)
		}
	})
}
