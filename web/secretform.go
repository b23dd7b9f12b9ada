package web

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"unicode/utf8"
)

// errSecretForm is a form whose secret could not be read: not a browser's
// url-encoded form, a bad escape, too large, or not UTF-8.
var errSecretForm = errors.New("the form could not be read")

// readSecretField reads an application/x-www-form-urlencoded body and
// returns the value of field name as bytes, never as a string: the caller
// zeroes it after use, and so is the body read here. A passphrase read with
// r.ParseForm would stay in memory as strings the program cannot clear
// (issue "Key custody": the passphrase is zeroed after use). It returns
// nil, nil when the field is absent or empty.
func readSecretField(r *http.Request, name string) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	defer clear(body)
	if err != nil || len(body) > maxBody {
		return nil, errSecretForm
	}
	var found []byte
	for pair := range bytes.SplitSeq(body, []byte("&")) {
		k, v, _ := bytes.Cut(pair, []byte("="))
		key, err := unescapeForm(k)
		if err != nil {
			return nil, err
		}
		if string(key) == name { // the first one counts, as url.Values.Get
			if found, err = unescapeForm(v); err != nil {
				return nil, err
			}
			break
		}
	}
	if found != nil && !utf8.Valid(found) {
		clear(found)
		return nil, errSecretForm
	}
	if len(found) == 0 {
		return nil, nil
	}
	return found, nil
}

// unescapeForm decodes one url-encoded value ('+' is a space, %XX a byte)
// into a new slice.
func unescapeForm(v []byte) ([]byte, error) {
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '+':
			out = append(out, ' ')
		case '%':
			if i+2 >= len(v) || unhex(v[i+1]) < 0 || unhex(v[i+2]) < 0 {
				clear(out)
				return nil, errSecretForm
			}
			out = append(out, byte(unhex(v[i+1])<<4|unhex(v[i+2])))
			i += 2
		default:
			out = append(out, c)
		}
	}
	return out, nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
