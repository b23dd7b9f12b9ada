package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// noEcho turns off echo when r is a terminal and returns the function that
// turns it back on (nil when r is not a terminal).
func noEcho(r io.Reader) func() {
	f, ok := r.(*os.File)
	if !ok {
		return nil
	}
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil
	}
	t := *old
	t.Lflag &^= unix.ECHO
	if unix.IoctlSetTermios(fd, unix.TCSETS, &t) != nil {
		return nil
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }
}

// isTerminal reports whether r is a terminal (a person typing, not a pipe).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// maxSecretLine bounds a secret read from stdin.
const maxSecretLine = 1024

// readSecretLine reads one line from r as bytes, one byte at a time: no
// buffer reads ahead (so several secrets can come one per line from one
// pipe), and nothing is held as a string, so the caller can zero what it
// got with clear. The line ends at \n or at the end of input; a trailing
// \r is dropped. What it read past is zeroed.
func readSecretLine(r io.Reader) ([]byte, error) {
	buf := make([]byte, 0, 128)
	var one [1]byte
	for {
		n, err := r.Read(one[:])
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			if len(buf) >= maxSecretLine {
				clear(buf)
				return nil, fmt.Errorf("the line is longer than %d bytes", maxSecretLine)
			}
			if len(buf) == cap(buf) {
				nb := make([]byte, len(buf), 2*cap(buf))
				copy(nb, buf)
				clear(buf)
				buf = nb
			}
			buf = append(buf, one[0])
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(buf) == 0 {
				return nil, io.EOF
			}
			break
		}
		if err != nil {
			clear(buf)
			return nil, err
		}
	}
	if len(buf) > 0 && buf[len(buf)-1] == '\r' {
		buf[len(buf)-1] = 0
		buf = buf[:len(buf)-1]
	}
	return buf, nil
}
