package remind

import (
	"strings"
	"unicode"

	"github.com/clinicsms/smsd/ops"
)

// DefaultConfirmWords are the replies that confirm when the configuration
// gives none (config confirm_words has the same default); a fresh copy each
// call.
func DefaultConfirmWords() []string { return []string{"C", "CONFIRM", "YES", "SI", "SÍ"} }

// DefaultRescheduleWords are the replies that ask for a new time when the
// configuration gives none (config reschedule_words has the same default);
// a fresh copy each call.
func DefaultRescheduleWords() []string { return []string{"R", "RESCHEDULE"} }

// MatchAnswer classifies a patient's reply to a reminder: ops.AnswerConfirmed
// when the whole message is one of confirm, ops.AnswerReschedule when it is
// one of reschedule, else "" (the reply lands in the inbox for staff).
// The whole message must be the word: it is compared trimmed of white space,
// punctuation and symbols around it (phones add "!", "." or an emoji), with
// runs of spaces inside counted as one, without case and without accents
// ("Sí", "si.", " Confirm! " match). A sentence such as "yes please" or "si,
// pero tarde" is not an answer: guessing at free text could confirm a visit
// the patient meant to question. An opt-out word (OptOutWords) never
// matches, even if configured, because opting out takes precedence. nil
// lists mean the defaults; confirm is tried before reschedule.
func MatchAnswer(text string, confirm, reschedule []string) string {
	if confirm == nil {
		confirm = DefaultConfirmWords()
	}
	if reschedule == nil {
		reschedule = DefaultRescheduleWords()
	}
	got := normalizeReply(text)
	if got == "" {
		return ops.AnswerNone
	}
	for _, w := range OptOutWords {
		if got == normalizeReply(w) {
			return ops.AnswerNone
		}
	}
	for _, w := range confirm {
		if n := normalizeReply(w); n != "" && n == got {
			return ops.AnswerConfirmed
		}
	}
	for _, w := range reschedule {
		if n := normalizeReply(w); n != "" && n == got {
			return ops.AnswerReschedule
		}
	}
	return ops.AnswerNone
}

// normalizeReply trims what surrounds a reply's word as dispatch's
// ParseKeyword does (space, punctuation, symbols, combining marks, format
// characters such as a zero-width joiner), folds case and accents, and
// makes inner runs of spaces one.
func normalizeReply(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Cf, r)
	})
	return strings.Join(strings.Fields(foldString(s)), " ")
}
