package crypt

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// TestRecoveryCodeForm: what a person writes down — seven groups of five
// Crockford characters — and every way of typing it back that must work.
func TestRecoveryCodeForm(t *testing.T) {
	code, k, err := NewRecoveryCode()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){6}$`).MatchString(code) {
		t.Fatalf("code %q is not 7 groups of 5 Crockford characters", code)
	}
	for _, typed := range []string{
		code,
		strings.ToLower(code),
		strings.ReplaceAll(code, "-", " "),
		strings.ReplaceAll(code, "-", ""),
		"Recovery code: " + code + "\n",
		strings.NewReplacer("0", "o", "1", "l").Replace(code),
		"  " + strings.ReplaceAll(code, "-", " - ") + "  ",
	} {
		k2, err := ParseRecoveryCode([]byte(typed))
		if err != nil {
			t.Fatalf("%q: %v", typed, err)
		}
		if string(k2.Public()) != string(k.Public()) {
			t.Fatalf("%q derives another key", typed)
		}
	}
	other, _, _ := NewRecoveryCode()
	if other == code {
		t.Fatal("two codes alike")
	}
}

// TestRecoveryCodeTypos: every single-character change in any group is
// caught and named by its group; so are swapped groups, a wrong length and
// a character that no code has.
func TestRecoveryCodeTypos(t *testing.T) {
	code, _, err := NewRecoveryCode()
	if err != nil {
		t.Fatal(err)
	}
	compact := strings.ReplaceAll(code, "-", "")
	for i := range compact {
		for _, c := range crockford {
			if byte(c) == compact[i] {
				continue
			}
			b := []byte(compact)
			b[i] = byte(c)
			_, err := ParseRecoveryCode(b)
			want := "typo in group " + string(rune('1'+i/5))
			if !errors.Is(err, ErrBadRecoveryCode) || !strings.Contains(err.Error(), want) {
				t.Fatalf("char %d → %c: %v, want %q", i, c, err, want)
			}
		}
	}
	groups := strings.Split(code, "-")
	groups[0], groups[1] = groups[1], groups[0]
	if groups[0] != groups[1] {
		if _, err := ParseRecoveryCode([]byte(strings.Join(groups, "-"))); !errors.Is(err, ErrBadRecoveryCode) {
			t.Fatalf("swapped groups accepted: %v", err)
		}
	}
	for _, c := range []struct{ typed, msg string }{
		{code[:len(code)-6], "has 30 characters; a recovery code has 35"},
		{code + "-ABCDE", "has 40 characters"},
		{"U" + code[1:], "character 'U' in group 1"},
		{code[:7] + "*" + code[8:], "character '*' in group 2"},
		{"", "has 0 characters"},
	} {
		if _, err := ParseRecoveryCode([]byte(c.typed)); !errors.Is(err, ErrBadRecoveryCode) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: %v, want %q", c.typed, err, c.msg)
		}
	}
}

// TestRecoveryWrap: a data key wrapped for a code's public key opens with
// the code and no other; the record survives marshalling, and a changed
// ephemeral key (the salt, bound as associated data) is a wrong key.
func TestRecoveryWrap(t *testing.T) {
	dk, _ := NewDataKey()
	_, k, _ := NewRecoveryCode()
	_, other, _ := NewRecoveryCode()
	w, err := WrapForRecovery(dk, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	b, err := w.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var w2 WrappedKey
	if err := w2.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	got, err := UnwrapRecovery(w2, k)
	if err != nil || got != dk {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := UnwrapRecovery(w2, other); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("another code: %v", err)
	}
	w2.Salt[0] ^= 1
	if _, err := UnwrapRecovery(w2, k); err == nil {
		t.Fatal("a changed ephemeral key still opens")
	}
	if _, err := UnwrapRecovery(WrappedKey{Method: MethodKeyFile}, k); err == nil {
		t.Fatal("a key-file wrap taken as a recovery wrap")
	}
}

// FuzzParseRecoveryCode: typed input never panics, and what parses is
// exactly 35 code characters whose groups check.
func FuzzParseRecoveryCode(f *testing.F) {
	code, _, _ := NewRecoveryCode()
	f.Add(code)
	f.Add("recovery code: " + strings.ToLower(code))
	f.Add("")
	f.Add("UUUUU")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseRecoveryCode([]byte(s))
		if err != nil {
			if !errors.Is(err, ErrBadRecoveryCode) {
				t.Fatalf("%q: error not ErrBadRecoveryCode: %v", s, err)
			}
			return
		}
		if len(k.Public()) != 32 {
			t.Fatal("bad key")
		}
	})
}
