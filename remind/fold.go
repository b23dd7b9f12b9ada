package remind

import (
	"strings"
	"unicode"
)

// fold maps a letter to its plain upper-case ASCII form where one exists
// (á → A, ñ → N, ü → U), so that words compare the way a person reads
// them: "Sí" is "SI", "cáncer" is "CANCER". Letters without such a form are
// upper-cased and kept. The table is small on purpose: it covers the
// languages smsd ships (English, Spanish) and their neighbours; the
// standard library has no Unicode decomposition.
func fold(r rune) rune {
	r = unicode.ToUpper(r)
	switch r {
	case 'Á', 'À', 'Â', 'Ä', 'Ã', 'Å':
		return 'A'
	case 'É', 'È', 'Ê', 'Ë':
		return 'E'
	case 'Í', 'Ì', 'Î', 'Ï':
		return 'I'
	case 'Ó', 'Ò', 'Ô', 'Ö', 'Õ':
		return 'O'
	case 'Ú', 'Ù', 'Û', 'Ü':
		return 'U'
	case 'Ñ':
		return 'N'
	case 'Ç':
		return 'C'
	}
	return r
}

// foldString folds every letter of s (see fold).
func foldString(s string) string {
	return strings.Map(fold, s)
}

// isWordRune is a letter or digit: what a word is made of in the template
// checks and in header matching.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// words splits s into words as written (letters and digits; an apostrophe
// or a hyphen between two letters stays inside the word, so "opt-out" and
// "don't" are one word each).
func words(s string) []string {
	var out []string
	rs := []rune(s)
	start := -1
	for i, r := range rs {
		in := isWordRune(r)
		if !in && (r == '-' || r == '\'' || r == '’') && start >= 0 && i+1 < len(rs) && isWordRune(rs[i+1]) {
			in = true
		}
		if in {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, string(rs[start:i]))
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, string(rs[start:]))
	}
	return out
}
