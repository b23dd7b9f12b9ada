package web

import (
	"bytes"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestReadSecretField: the unlock form's passphrase read as bytes agrees
// with what net/url makes of the same body, and a body a browser would not
// send is refused.
func TestReadSecretField(t *testing.T) {
	for _, tc := range []struct {
		body    string
		want    string
		wantErr bool
	}{
		{"passphrase=correct+horse+battery+staple", "correct horse battery staple", false},
		{"csrf=x&passphrase=p%C3%A4ss%26word%3D1", "päss&word=1", false},
		{"passphrase=first&passphrase=second", "first", false},
		{"pass%70hrase=escaped+name", "escaped name", false},
		{"other=1", "", false},
		{"passphrase=", "", false},
		{"", "", false},
		{"passphrase=%ZZ", "", true},
		{"passphrase=%4", "", true},
		{"passphrase=%FF%FE", "", true}, // not UTF-8
		{"passphrase=" + strings.Repeat("a", maxBody), "", true},
	} {
		r := httptest.NewRequest("POST", "/unlock", strings.NewReader(tc.body))
		got, err := readSecretField(r, "passphrase")
		if (err != nil) != tc.wantErr || string(got) != tc.want {
			t.Errorf("body %.40q: %q, %v; want %q (error %v)", tc.body, got, err, tc.want, tc.wantErr)
		}
		if tc.want == "" && got != nil {
			t.Errorf("body %.40q: %q, want nil for an empty or absent field", tc.body, got)
		}
	}
}

// FuzzReadSecretField: never panics; where net/url reads the body and the
// value is UTF-8, readSecretField reads the same bytes.
func FuzzReadSecretField(f *testing.F) {
	for _, s := range []string{"passphrase=a+b%20c", "x=1&passphrase=%E2%82%AC", "passphrase=%", "passphrase&passphrase=2", "a=b;passphrase=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/unlock", strings.NewReader(body))
		got, err := readSecretField(r, "passphrase")
		vals, perr := url.ParseQuery(body)
		if perr != nil {
			return // net/url refuses it (e.g. a ';'); ours may read it or not
		}
		want := vals.Get("passphrase")
		if !utf8.ValidString(want) {
			if err == nil {
				t.Fatalf("%q: accepted a value that is not UTF-8", body)
			}
			return
		}
		if err != nil || !bytes.Equal(got, []byte(want)) && !(want == "" && got == nil) {
			t.Fatalf("%q: got %q, %v; net/url reads %q", body, got, err, want)
		}
	})
}
