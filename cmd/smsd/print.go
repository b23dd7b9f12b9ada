package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
)

// How a listing shows a row that failed its integrity check (its sealed
// cells did not open, or its tag did not match): the row is listed, its
// content is not, and the help says what to do.
const (
	damagedMark = "(damaged)"
	damagedHelp = "(damaged): failed its integrity check (changed without the key, or damaged on disk); an admin runs `smsd doctor`"
)

// flushListing writes a listing's table out, then says what "(damaged)"
// in it means when a row was.
func flushListing(tw *tabwriter.Writer, w io.Writer, damaged bool) error {
	if err := tw.Flush(); err != nil {
		return err
	}
	if damaged {
		_, err := fmt.Fprintln(w, damagedHelp)
		return err
	}
	return nil
}

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
