package crypt

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"unicode"
	"unicode/utf8"
)

// MinPassphraseLen is the shortest passphrase CheckPassphrase accepts, in
// characters. With argon2id at PassphraseParams an offline attacker pays
// about a second of a Pi's CPU and 256 MiB per guess; that only helps a
// passphrase that is not among the first few billion guesses, which a
// short one always is.
const MinPassphraseLen = 12

// minPassphraseBits is the least estimated entropy (see estimateBits)
// CheckPassphrase accepts: 2^50 guesses at argon2id's cost is out of reach
// of anyone who steals a clinic's SD card.
const minPassphraseBits = 50

// ErrWeakPassphrase means a new passphrase was refused by CheckPassphrase.
var ErrWeakPassphrase = errors.New("passphrase too weak")

// weakWords are the passwords that lead every cracking list, words that a
// clinic's staff would reach for, and keyboard walks. A passphrase that is
// one of them (after the normalisation in CheckPassphrase), or one of them
// repeated, is refused whatever its length.
var weakWords = []string{
	"password", "passw0rd", "passphrase", "123456", "12345678", "123456789", "1234567890", "qwerty", "qwertyuiop",
	"asdfghjkl", "zxcvbnm", "abc123", "iloveyou", "admin", "administrator", "welcome", "letmein", "monkey", "dragon",
	"football", "baseball", "sunshine", "princess", "master", "shadow", "trustno1", "superman", "batman", "secret",
	"changeme", "default", "login", "access", "starwars", "whatever", "qazwsx", "1q2w3e4r", "1qaz2wsx", "zaq12wsx",
	"clinic", "medical", "doctor", "health", "hospital", "patient", "nurse", "reception", "frontdesk", "smsd",
	"raspberry", "raspberrypi", "pi", "ubuntu", "debian", "linux", "root", "toor", "test", "testing", "summer",
	"winter", "spring", "autumn", "january", "february", "december", "hello", "helloworld", "correcthorsebatterystaple",
	"opensesame", "mypassword", "yourpassword", "thepassword", "newpassword", "p@ssword", "letmeinplease",
}

// keyboardRuns are rows and sequences whose runs (forwards or backwards)
// count as one guess each.
var keyboardRuns = []string{
	"`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./", "abcdefghijklmnopqrstuvwxyz",
	"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "qazwsxedcrfvtgbyhnujmikolp",
}

// CheckPassphrase refuses a new passphrase that an offline attacker with
// the database would guess early: shorter than MinPassphraseLen
// characters, one of weakWords (ignoring case, l33t spelling, and digits
// or symbols at the ends) or such a word repeated, made of one or two
// characters or of keyboard walks, or under minPassphraseBits bits by a
// simple estimate that counts each repeat, walk and dictionary word as
// one guess. The error says what to do and never echoes the passphrase.
func CheckPassphrase(p []byte) error {
	if !utf8.Valid(p) {
		return fmt.Errorf("%w: it is not valid UTF-8 text", ErrWeakPassphrase)
	}
	n := utf8.RuneCount(p)
	if n < MinPassphraseLen {
		return fmt.Errorf("%w: it has %d characters; use at least %d (four or five random words are easy to type and hard to guess)", ErrWeakPassphrase, n, MinPassphraseLen)
	}
	norm := normalise(p)
	defer clear(norm)
	if len(norm) > 0 && isWeakWord(norm) {
		return fmt.Errorf("%w: it is a well-known password (or one with digits or symbols added), which is among the first guesses; choose four or five random words", ErrWeakPassphrase)
	}
	distinct := map[rune]bool{}
	for _, r := range string(p) {
		distinct[unicode.ToLower(r)] = true
	}
	if len(distinct) <= 3 {
		return fmt.Errorf("%w: it repeats %d character(s); choose four or five random words", ErrWeakPassphrase, len(distinct))
	}
	if b := estimateBits(p); b < minPassphraseBits {
		return fmt.Errorf("%w: it is made of repeats, keyboard runs or common words (about %.0f bits; %d needed); choose four or five random words", ErrWeakPassphrase, b, minPassphraseBits)
	}
	return nil
}

// normalise lowercases, strips digits and symbols from both ends
// ("Password123!" → "password"), undoes common l33t spellings and drops
// spaces and dashes.
func normalise(p []byte) []byte {
	lo := bytes.ToLower(p)
	defer clear(lo)
	start, end := 0, len(lo)
	for start < end && !isLetter(lo[start]) {
		start++
	}
	for end > start && !isLetter(lo[end-1]) {
		end--
	}
	return normaliseInner(lo[start:end])
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 0x80 }

// normaliseInner undoes l33t spellings and drops separators.
func normaliseInner(p []byte) []byte {
	out := make([]byte, 0, len(p))
	for _, c := range p {
		switch c {
		case '0':
			c = 'o'
		case '1', '!', '|':
			c = 'i'
		case '3':
			c = 'e'
		case '4', '@':
			c = 'a'
		case '5', '$':
			c = 's'
		case '7', '+':
			c = 't'
		case ' ', '-', '_', '.':
			continue
		}
		out = append(out, c)
	}
	return out
}

// isWeakWord: norm is a weak word, or one repeated ("passwordpassword").
func isWeakWord(norm []byte) bool {
	for _, w := range weakWords {
		wn := normaliseInner([]byte(w))
		if len(norm)%len(wn) != 0 {
			continue
		}
		if bytes.Equal(norm, bytes.Repeat(wn, len(norm)/len(wn))) {
			return true
		}
	}
	return false
}

// estimateBits is a deliberately pessimistic entropy estimate: each
// character costs log2 of the alphabet it draws from (lowercase 26, plus
// 26 for uppercase, 10 for digits, 33 for symbols and space, 100 for other
// letters), except a character that repeats the one before, continues a
// keyboard or alphabet run, or lies inside a weak word found in the
// passphrase, which costs 1 bit.
func estimateBits(p []byte) float64 {
	s := []rune(string(bytes.ToLower(p)))
	pool := 0
	var lower, upper, digit, sym, other bool
	for _, r := range string(p) {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		case r < 0x80:
			sym = true
		default:
			other = true
		}
	}
	for _, on := range []struct {
		b bool
		n int
	}{{lower, 26}, {upper, 26}, {digit, 10}, {sym, 33}, {other, 100}} {
		if on.b {
			pool += on.n
		}
	}
	cheap := make([]bool, len(s))
	// Dictionary words inside the passphrase: the word costs one guess.
	low := string(s)
	for _, w := range weakWords {
		if len(w) < 4 {
			continue
		}
		for i := 0; i+len(w) <= len(low); i++ {
			if low[i:i+len(w)] == w {
				// Byte offsets equal rune offsets only in ASCII; mark
				// conservatively by runes of the ASCII prefix.
				if utf8.RuneCountInString(low[:i]) == i {
					for j := i + 1; j < i+len(w); j++ {
						cheap[j] = true
					}
				}
			}
		}
	}
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] || inRun(s[i-1], s[i]) {
			cheap[i] = true
		}
	}
	per := math.Log2(float64(max(pool, 2)))
	bits := 0.0
	for _, c := range cheap {
		if c {
			bits++
		} else {
			bits += per
		}
	}
	return bits
}

// inRun reports whether b follows a (or precedes it) on a keyboard row or
// in the alphabet.
func inRun(a, b rune) bool {
	for _, row := range keyboardRuns {
		for i := 0; i+1 < len(row); i++ {
			x, y := rune(row[i]), rune(row[i+1])
			if (a == x && b == y) || (a == y && b == x) {
				return true
			}
		}
	}
	return false
}
