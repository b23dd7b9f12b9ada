package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestParseTarget: the -to of smsd key move, the good forms and the
// refusals a person gets for the usual slips.
func TestParseTarget(t *testing.T) {
	for _, c := range []struct {
		spec, kind, arg, err string
	}{
		{"file:/media/smsd-key/smsd.key", "file", "/media/smsd-key/smsd.key", ""},
		{"passphrase", "passphrase", "", ""},
		{"credential", "credential", "smsd.key", ""},
		{"credential:tpm.key", "credential", "tpm.key", ""},
		{"", "", "", "needs -to"},
		{"file:", "", "", "needs the new key file's path"},
		{"file:smsd.key", "", "", "absolute path"},
		{"passphrase:x", "", "", "takes no argument"},
		{"credential:a/b", "", "", "plain file name"},
		{"usb", "", "", "not file:PATH"},
	} {
		kind, arg, err := parseTarget(c.spec)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want an error mentioning %q", c.spec, err, c.err)
			}
			continue
		}
		if err != nil || kind != c.kind || arg != c.arg {
			t.Errorf("%q: %q %q %v, want %q %q", c.spec, kind, arg, err, c.kind, c.arg)
		}
	}
}

// FuzzParseTarget: any -to is either refused or names a known kind with a
// usable argument.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"file:/x", "passphrase", "credential:x", "file:", ":", "credential:/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, arg, err := parseTarget(s)
		if err != nil {
			return
		}
		switch kind {
		case "file":
			if !strings.HasPrefix(arg, "/") {
				t.Fatalf("%q: relative key file %q accepted", s, arg)
			}
		case "credential":
			if arg == "" || strings.ContainsAny(arg, "/\x00") {
				t.Fatalf("%q: credential name %q accepted", s, arg)
			}
		case "passphrase":
			if arg != "" {
				t.Fatalf("%q: passphrase with argument %q", s, arg)
			}
		default:
			t.Fatalf("%q: unknown kind %q accepted", s, kind)
		}
	})
}

// TestReadSecretLine: one line per call from one pipe (a passphrase, then
// another), CRLF and a missing final newline handled, nothing read ahead.
func TestReadSecretLine(t *testing.T) {
	r := iotest.OneByteReader(strings.NewReader("current pass\r\nnew passphrase here\nlast"))
	for _, want := range []string{"current pass", "new passphrase here", "last"} {
		got, err := readSecretLine(r)
		if err != nil || string(got) != want {
			t.Fatalf("got %q %v, want %q", got, err, want)
		}
	}
	if _, err := readSecretLine(r); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last line: %v", err)
	}
	// It reads no further than the line: the rest is left for the next.
	br := bytes.NewReader([]byte("one\ntwo\n"))
	readSecretLine(br)
	if br.Len() != 4 {
		t.Fatalf("read ahead: %d bytes left, want 4", br.Len())
	}
	if _, err := readSecretLine(strings.NewReader(strings.Repeat("x", maxSecretLine+1))); err == nil {
		t.Fatal("an over-long line was accepted")
	}
}

// FuzzReadSecretLine: never panics; a line never holds a newline and is
// never longer than the limit.
func FuzzReadSecretLine(f *testing.F) {
	f.Add("a\nb")
	f.Add("\r\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := readSecretLine(strings.NewReader(s))
		if err != nil {
			return
		}
		if bytes.IndexByte(got, '\n') >= 0 || len(got) > maxSecretLine {
			t.Fatalf("%q → %q", s, got)
		}
	})
}
