package remind

import (
	"testing"

	"github.com/clinicsms/smsd/ops"
)

func TestMatchAnswer(t *testing.T) {
	tests := []struct {
		text       string
		confirm    []string
		reschedule []string
		want       string
	}{
		{"c", nil, nil, ops.AnswerConfirmed},
		{"C", nil, nil, ops.AnswerConfirmed},
		{" Confirm! ", nil, nil, ops.AnswerConfirmed},
		{"Sí", nil, nil, ops.AnswerConfirmed},
		{"si.", nil, nil, ops.AnswerConfirmed},
		{"SI", nil, nil, ops.AnswerConfirmed},
		{"¡Sí!", nil, nil, ops.AnswerConfirmed},
		{"Si\u0301", nil, nil, ops.AnswerConfirmed}, // í written as i + combining accent
		{"yes 👍", nil, nil, ops.AnswerConfirmed},
		{"YES.", nil, nil, ops.AnswerConfirmed},
		{"R", nil, nil, ops.AnswerReschedule},
		{"reschedule", nil, nil, ops.AnswerReschedule},
		{"Reschedule?", nil, nil, ops.AnswerReschedule},
		// Whole-message match only: a sentence goes to staff.
		{"yes please", nil, nil, ops.AnswerNone},
		{"si, pero tarde", nil, nil, ops.AnswerNone},
		{"can I reschedule", nil, nil, ops.AnswerNone},
		{"Cc", nil, nil, ops.AnswerNone},
		{"", nil, nil, ops.AnswerNone},
		{" !? ", nil, nil, ops.AnswerNone},
		// Opt-out words are never an answer, even when configured.
		{"STOP", []string{"STOP", "C"}, nil, ops.AnswerNone},
		{"cancel", nil, []string{"CANCEL"}, ops.AnswerNone},
		{"opt  out", []string{"OPT OUT"}, nil, ops.AnswerNone},
		// Configured lists replace the defaults; words are folded too.
		{"ok", []string{"OK", "Vale"}, []string{"Cambiar"}, ops.AnswerConfirmed},
		{"VALE", []string{"OK", "Vale"}, []string{"Cambiar"}, ops.AnswerConfirmed},
		{"c", []string{"OK"}, []string{"Cambiar"}, ops.AnswerNone},
		{"cambiar", []string{"OK"}, []string{"Cambiar"}, ops.AnswerReschedule},
		{"new time", []string{"OK"}, []string{"new  time"}, ops.AnswerReschedule},
		{"anything", []string{}, []string{}, ops.AnswerNone},
		{"", []string{""}, []string{""}, ops.AnswerNone},
		// Confirm is tried first when a word is in both lists.
		{"x", []string{"X"}, []string{"X"}, ops.AnswerConfirmed},
	}
	for _, tt := range tests {
		if got := MatchAnswer(tt.text, tt.confirm, tt.reschedule); got != tt.want {
			t.Errorf("MatchAnswer(%q, %q, %q) = %q, want %q", tt.text, tt.confirm, tt.reschedule, got, tt.want)
		}
	}
}

func FuzzMatchAnswer(f *testing.F) {
	for _, s := range []string{"c", " Confirm! ", "Sí", "STOP", "yes please", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := MatchAnswer(s, nil, nil)
		if got != ops.AnswerNone && got != ops.AnswerConfirmed && got != ops.AnswerReschedule {
			t.Fatalf("MatchAnswer(%q) = %q", s, got)
		}
		// Surrounding space and punctuation never change the answer.
		if again := MatchAnswer(" ¡"+s+"! ", nil, nil); again != got {
			t.Fatalf("MatchAnswer(%q) = %q but with punctuation around %q", s, got, again)
		}
	})
}
