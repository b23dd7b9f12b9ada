package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrowserDamagedRows: one row of each list changed without the key
// while smsd runs (a sealed cell overwritten with SQL, as a damaged card or
// an attacker with the file would) never hides the others. The outbox, the
// inbox, the opt-outs and the day's appointments list it as damaged, with
// none of its content and no action on it, and the rest whole, in the
// browser (axe-clean) and on the command line; the damaged message opened
// on its own is refused without its content.
func TestBrowserDamagedRows(t *testing.T) {
	t.Parallel()
	r, _, tb := workRig(t, 0, `timezone = "UTC"`)
	r.run("send", "-to", "+15551230601", "-text", "first reminder")
	r.run("send", "-to", "+15551230602", "-text", "second reminder")
	r.waitFor("both delivered", liveWait, func() bool { return r.queue()["delivered"] == 2 })
	for _, reply := range []struct{ from, text string }{{"+15551230601", "see you then"}, {"+15551230602", "thanks a lot"}} {
		if err := r.emu.Inject(reply.from, reply.text); err != nil {
			t.Fatal(err)
		}
	}
	r.waitFor("both replies stored", liveWait, func() bool {
		out, _, _ := r.cmd("inbox", "-json")
		return strings.Count(out, `"id"`) == 2
	})
	r.run("optouts", "add", "+15551230611")
	r.run("optouts", "add", "+15551230612")
	// Three days ahead at noon and one: the reminders (2 days and 2 hours
	// before) fall inside the default reminder hours whenever this runs.
	day := time.Now().UTC().AddDate(0, 0, 3).Format("2006-01-02")
	for _, p := range []struct{ patient, at string }{{"+15551230621\nAda Damaged\n", "T12:00"}, {"+15551230622\nBo Whole\n", "T13:00"}} {
		if out, code := r.cmdStdin(p.patient, "appointment", "add", "-at", day+p.at); code != 0 {
			t.Fatalf("smsd appointment add: exit %d\n%s", code, out)
		}
	}

	db := filepath.Join(r.data, "smsd.db") + "?_busy_timeout=10000"
	sqlDo(t, db, `UPDATE messages SET text_sealed = randomblob(60) WHERE id = 1;
		UPDATE inbound SET from_sealed = randomblob(60) WHERE id = (SELECT MIN(id) FROM inbound);
		UPDATE optouts SET number_sealed = randomblob(60) WHERE id = (SELECT MIN(id) FROM optouts);
		UPDATE appointments SET name_sealed = randomblob(60) WHERE id = (SELECT MIN(id) FROM appointments)`)

	// The browser: each page lists every row, the damaged one marked.
	pages := []struct {
		name, path, rows, whole string
		want                    int
	}{
		{"outbox", "/outbox", "table#outbox tr[data-id]", "+1******0602", 6}, // 2 sends, 4 reminders
		{"inbox", "/inbox", "ol#inbox li[data-id]", "thanks a lot", 2},
		{"opt-outs", "/optouts", "table#optouts tr[data-id]", "+1******0612", 2},
		{"appointments", "/appointments?date=" + day, "table#appointments tr[data-id]", "Bo Whole", 2},
	}
	for _, p := range pages {
		tb.open(p.path)
		rows := eval[int](tb, fmt.Sprintf(`document.querySelectorAll(%q).length`, p.rows))
		damaged := eval[int](tb, fmt.Sprintf(`document.querySelectorAll(%q).length`, p.rows+" .badge.damaged"))
		if rows != p.want || damaged != 1 {
			t.Errorf("%s lists %d rows, %d marked damaged; want %d rows, 1 damaged\n%s", p.name, rows, damaged, p.want, tb.where())
		}
		if body := tb.text("main"); !strings.Contains(body, p.whole) || !strings.Contains(body, "smsd doctor") {
			t.Errorf("%s does not show the sound row's %q, or does not say to run smsd doctor:\n%s", p.name, p.whole, body)
		}
		tb.checkPage(p.name + " with a damaged row")
	}
	// No way to act on a damaged reply or appointment from its list.
	tb.open("/inbox")
	if n := eval[int](tb, `[...document.querySelectorAll("ol#inbox li[data-id]")].filter(li => li.querySelector(".badge.damaged") && li.querySelector("textarea")).length`); n != 0 {
		t.Errorf("the damaged reply offers a reply form (its number is unreadable)")
	}
	tb.open("/appointments?date=" + day)
	if n := eval[int](tb, `[...document.querySelectorAll("table#appointments tr[data-id]")].filter(tr => tr.querySelector(".badge.damaged") && tr.querySelector("button")).length`); n != 0 {
		t.Errorf("the damaged appointment offers move or cancel")
	}
	// Opened on its own, the damaged message is refused, its text unshown.
	tb.open("/messages/1")
	if body := tb.text("main"); strings.Contains(body, "first reminder") || !strings.Contains(strings.ToLower(body), "integrity") {
		t.Errorf("the damaged message's own page: %q, want a refusal naming the integrity check", body)
	}

	// The command line lists the same, and its JSON says which.
	for _, c := range []struct {
		args  []string
		whole string
	}{
		{[]string{"messages"}, "+1******0602"},
		{[]string{"inbox"}, "thanks a lot"},
		{[]string{"optouts", "list"}, "+1******0612"},
		{[]string{"appointments", "-date", day}, "Bo Whole"},
	} {
		out := r.run(c.args...)
		if !strings.Contains(out, "(damaged)") || !strings.Contains(out, "smsd doctor") || !strings.Contains(out, c.whole) {
			t.Errorf("smsd %s: want the damaged row marked, the help, and %q:\n%s", strings.Join(c.args, " "), c.whole, out)
		}
	}
	var ms []struct {
		ID      int64 `json:"id"`
		Damaged bool  `json:"damaged"`
	}
	if err := json.Unmarshal([]byte(r.run("messages", "-json")), &ms); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Damaged != (m.ID == 1) {
			t.Errorf("smsd messages -json: message %d damaged=%v", m.ID, m.Damaged)
		}
	}
	if out, errs, code := r.cmd("message", "show", "1"); code == 0 || strings.Contains(out+errs, "first reminder") {
		t.Errorf("smsd message show 1 of the damaged message: exit %d, %q %q", code, out, errs)
	}
}
