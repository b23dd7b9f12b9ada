package main

import (
	"strings"
	"testing"
)

// TestReadMessage: the number is the first line of standard input and the
// text every line after it; a message missing either is refused with what
// is missing.
func TestReadMessage(t *testing.T) {
	for _, tc := range []struct {
		name, in, number, text, err string
	}{
		{"plain", "+15551234567\nSee you at 9\n", "+15551234567", "See you at 9", ""},
		{"no final newline", "+15551234567\nSee you at 9", "+15551234567", "See you at 9", ""},
		{"several lines", "+15551234567\nSee you at 9.\nReply C to confirm.\n", "+15551234567", "See you at 9.\nReply C to confirm.", ""},
		{"CRLF", "+15551234567\r\nSee you at 9.\r\nReply C.\r\n", "+15551234567", "See you at 9.\nReply C.", ""},
		{"spaces around the number", "  +1 555 123 4567 \nHi\n", "+1 555 123 4567", "Hi", ""},
		{"text keeps its blank lines", "+15551234567\nA\n\nB\n", "+15551234567", "A\n\nB", ""},
		{"empty", "", "", "", "no message on standard input"},
		{"number only", "+15551234567\n", "", "", "no text after the number"},
		{"empty first line", "\nSee you at 9\n", "", "", "first line of standard input is empty"},
		{"too much", "+15551234567\n" + strings.Repeat("x", maxMessageInput), "", "", "more than 256 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, txt, err := readMessage(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("readMessage: %q, %q, %v; want an error saying %q", n, txt, err, tc.err)
				}
				return
			}
			if err != nil || n != tc.number || txt != tc.text {
				t.Errorf("readMessage = %q, %q, %v; want %q, %q", n, txt, err, tc.number, tc.text)
			}
		})
	}
}

// TestArgvWarning: a number or a text given as an argument is queued, and
// the command says on stderr why not to, and how to pipe it in instead;
// given on standard input, nothing is said.
func TestArgvWarning(t *testing.T) {
	data := t.TempDir() + "/data"
	d := []string{"-config", "/dev/null", "-data-dir", data}
	if _, errs, code := run(t, "", append([]string{"init"}, d...)...); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		warn  bool
	}{
		{"send argv", []string{"send", "-to", "+15551234567", "-text", "See you at 9"}, "", true},
		{"send stdin", []string{"send"}, "+15551234567\nSee you at 9\n", false},
		{"optouts add argv", []string{"optouts", "add", "+15557654321"}, "", true},
		{"optouts remove stdin", []string{"optouts", "remove", "-reason", "asked", "-"}, "+15557654321\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := run(t, tc.stdin, append(tc.args, d...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			warned := strings.Contains(errs, "visible to every user of this box in ps") && strings.Contains(errs, "sudo's log") && strings.Contains(errs, "pipe")
			if warned != tc.warn {
				t.Errorf("warned %v, want %v; stderr:\n%s", warned, tc.warn, errs)
			}
		})
	}
}
