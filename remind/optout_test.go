package remind_test

import (
	"testing"

	"github.com/clinicsms/smsd/dispatch"
	"github.com/clinicsms/smsd/remind"
)

// remind.OptOutWords is the list dispatch acts on: each word opts a sender
// out there, and a word dispatch drops from its list fails here.
func TestOptOutWordsAreDispatchs(t *testing.T) {
	for _, w := range remind.OptOutWords {
		if k := dispatch.ParseKeyword(w); k != dispatch.KeywordStop {
			t.Errorf("dispatch.ParseKeyword(%q) = %v, want stop: remind.OptOutWords and dispatch disagree", w, k)
		}
	}
	// And what dispatch counts as an opt-out, a template is checked for.
	for _, w := range []string{"stop", "Quit", "END", "revoke", "opt out", "optout", "opt-out", "cancel", "unsubscribe", "stopall"} {
		if dispatch.ParseKeyword(w) != dispatch.KeywordStop {
			continue
		}
		if c := remind.Check("Reply "+w+" to cancel your visit.", remind.CheckOptions{}); c.OK {
			t.Errorf("dispatch opts out on %q but Check allows asking for it to cancel", w)
		}
	}
}
