package main

import (
	"strconv"
	"strings"
	"unicode"
)

// safe makes a field fit to print on a terminal: control characters (an
// alphanumeric sender or a modem's answer can carry CR, LF or ESC) are
// shown escaped, never sent to the terminal as they are.
func safe(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
