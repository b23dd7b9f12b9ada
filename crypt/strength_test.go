package crypt

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckPassphrase: what the security review cracked, and what people
// reach for, is refused with a reason; ordinary passphrases of a few words
// pass.
func TestCheckPassphrase(t *testing.T) {
	for _, c := range []struct {
		pass string
		ok   bool
		msg  string
	}{
		{"password", false, "it has 8 characters; use at least 12"},
		{"8charsAA", false, "at least 12"},
		{"Tr0ub4d!", false, "at least 12"},
		{"passwordpassword", false, "well-known password"},
		{"Password123!", false, "well-known password"},
		{"P@ssw0rd2024!!", false, "well-known password"},
		{"!!smsdsmsdsmsd!!", false, "well-known password"},
		{"qwertyuiopasdf", false, "keyboard runs"},
		{"1234567890123", false, "keyboard runs"},
		{"abcdefghijklmnop", false, "keyboard runs"},
		{"aaaaaaaaaaaaaaaa", false, "repeats 1"},
		{"abababababababab", false, "repeats 2"},
		{"passwordclinic1", false, "common words"},
		{"correct horse battery staple", false, "well-known"},
		{"a long passphrase for tests", true, ""},
		{"blue tractor quietly sings", true, ""},
		{"the clinic's long passphrase", true, ""},
		{"Zebra-kettle-moon-47", true, ""},
		{"ночь улица фонарь аптека", true, ""},
	} {
		err := CheckPassphrase([]byte(c.pass))
		if c.ok {
			if err != nil {
				t.Errorf("%q refused: %v", c.pass, err)
			}
			continue
		}
		if !errors.Is(err, ErrWeakPassphrase) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: %v, want a refusal mentioning %q", c.pass, err, c.msg)
		}
		if err != nil && strings.Contains(err.Error(), c.pass) {
			t.Errorf("the refusal of %q repeats the passphrase", c.pass)
		}
	}
	if err := CheckPassphrase([]byte("abc\xffdefghijklmnop")); !errors.Is(err, ErrWeakPassphrase) {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

// FuzzCheckPassphrase: any input is judged without panicking, and nothing
// shorter than the minimum passes.
func FuzzCheckPassphrase(f *testing.F) {
	for _, s := range []string{"password", "blue tractor quietly sings", "", "\xff\xfe", "aaaaaaaaaaaaaa"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckPassphrase([]byte(s))
		if err == nil && len([]rune(s)) < MinPassphraseLen {
			t.Fatalf("%q (%d characters) passed", s, len([]rune(s)))
		}
	})
}
