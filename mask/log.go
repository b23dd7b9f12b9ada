package mask

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync/atomic"
)

// How Log writes a phone number (config key log_numbers).
const (
	// LogPseudonym: a keyed pseudonym, "n:" and 8 hex digits of an
	// HMAC-SHA256 of the number under a random key made when the process
	// starts. The same number gives the same pseudonym for as long as the
	// daemon runs, so its lines can be followed; nothing in the log, and no
	// list of every possible number, turns it back into the number, and
	// after a restart the same number gets another one.
	LogPseudonym = "pseudonym"
	// LogMasked: Number's form, "+1******4567": the country and the last
	// four digits, which with a clinic's patient list can name the patient.
	LogMasked = "masked"
)

type logMode struct {
	masked bool
	key    []byte
}

var mode atomic.Pointer[logMode]

func init() {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("mask: no randomness for the log pseudonym key: " + err.Error())
	}
	mode.Store(&logMode{key: key})
}

// SetLogNumbers chooses how Log writes numbers: LogPseudonym (the default)
// or LogMasked. Any other value is LogPseudonym. It keeps the process's key,
// so pseudonyms stay the same when it is called again.
func SetLogNumbers(how string) {
	old := mode.Load()
	mode.Store(&logMode{masked: how == LogMasked, key: old.key})
}

// Log gives a phone number as a log line may carry it: a keyed pseudonym
// ("n:1f3a9c07") by default, the masked number when SetLogNumbers chose
// LogMasked. Spaces and punctuation do not change the pseudonym
// ("+1 555-123-4567" is "+15551234567"); an empty number stays empty.
func Log(n string) string {
	m := mode.Load()
	if m.masked {
		return Number(n)
	}
	n = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '(', ')', '.', '/':
			return -1
		}
		return r
	}, strings.TrimSpace(n))
	if n == "" {
		return ""
	}
	h := hmac.New(sha256.New, m.key)
	h.Write([]byte(n))
	return "n:" + hex.EncodeToString(h.Sum(nil)[:4])
}
