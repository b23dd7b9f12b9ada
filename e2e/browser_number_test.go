package e2e

import (
	"strings"
	"testing"
)

// TestBrowserNumberWithoutAreaCode: a US number typed without its area code
// ("555-1234") is refused where a person types it, saying what is missing,
// instead of being queued to "+15551234", which no phone has (the send
// would fail at the network later, and an opt-out of it would leave the
// patient's real number opted in). The form keeps what was typed; nothing
// is stored.
func TestBrowserNumberWithoutAreaCode(t *testing.T) {
	t.Parallel()
	r, _, tb := workRig(t, 0)
	const text = "Reminder: Thursday 9:00"
	id, msg := tb.send(sendForm{To: "555-1234", Text: text})
	if id != 0 || !strings.Contains(msg, "area code") {
		t.Errorf("/send to 555-1234: message %d, error %q; want a refusal naming the area code", id, msg)
	}
	if got := eval[string](tb, `document.querySelector("textarea#text").value`); got != text {
		t.Errorf("after the refusal the text field holds %q, want what was typed", got)
	}
	tb.checkPage("send, number without its area code")

	for _, args := range [][]string{
		{"send", "-to", "555-1234", "-text", text},
		{"optouts", "add", "555-1234"},
	} {
		if out, errs, code := r.cmd(args...); code == 0 || !strings.Contains(errs, "area code") {
			t.Errorf("smsd %s: exit %d, %q %q; want a refusal naming the area code", strings.Join(args, " "), code, out, errs)
		}
	}
	if out := r.run("messages", "-json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("messages stored for refused numbers: %s", out)
	}
	if out := r.run("optouts", "list", "-json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("opt-outs stored for a refused number: %s", out)
	}
}
