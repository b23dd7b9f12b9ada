package main

import (
	"strings"
	"testing"
)

func TestParseDemoLine(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		want       demoLine
		err        string
	}{
		{"empty", "   ", demoLine{}, ""},
		{"status", "status", demoLine{verb: "status"}, ""},
		{"verb_case_insensitive", "INBOX", demoLine{verb: "inbox"}, ""},
		{"reply_keeps_inner_spaces", "reply +15551230001  see  you ", demoLine{verb: "reply", number: "+15551230001", text: "see  you"}, ""},
		{"send", "send +15551234567 See you at 9", demoLine{verb: "send", number: "+15551234567", text: "See you at 9"}, ""},
		{"reply_without_text", "reply +15551230001", demoLine{}, "needs a number and a text"},
		{"send_without_anything", "send", demoLine{}, "needs a number and a text"},
		{"unknown", "dance now", demoLine{}, `unknown command "dance"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDemoLine(tc.line)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseDemoLine(%q) error %v, want one containing %q", tc.line, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseDemoLine(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
			}
		})
	}
}

func FuzzParseDemoLine(f *testing.F) {
	for _, s := range []string{"reply +15551230001 STOP", "send +1 x", "status", "", "reply", "\x00 \t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		l, err := parseDemoLine(line)
		if err != nil {
			return
		}
		if (l.verb == "reply" || l.verb == "send") && (l.number == "" || l.text == "") {
			t.Fatalf("parseDemoLine(%q) = %+v: a %s without number or text", line, l, l.verb)
		}
	})
}
