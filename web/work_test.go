package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/web"
)

// Numbers of the tests (the ones the other tests use).
const (
	patientA = "+15551234567"
	patientB = "+15557654321"
)

// workSite is a signed-in staff browser over a real service.
func workSite(t *testing.T) (*daemon.Service, *browser) {
	t.Helper()
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleStaff)
	b := newSite(t, svc, siteOptions{}).browser()
	b.signIn("alice", "/")
	return svc, b
}

// sendForm posts the send form and returns the new message's id.
func sendForm(t *testing.T, b *browser, to, patient, text, sendAt string) int64 {
	t.Helper()
	a := b.post("/send", url.Values{"to": {to}, "patient": {patient}, "text": {text}, "send_at": {sendAt}})
	m := regexp.MustCompile(`^/messages/(\d+)\?done=queued$`).FindStringSubmatch(a.location)
	if a.status != http.StatusSeeOther || m == nil {
		t.Fatalf("send to %s: %d to %q, want 303 to /messages/N?done=queued: #error %q", to, a.status, a.location, errorText(a.body))
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return id
}

// dataIDs are the data-id attributes of a page, in order.
func dataIDs(body string) []int64 {
	var out []int64
	for _, m := range regexp.MustCompile(`data-id="(\d+)"`).FindAllStringSubmatch(body, -1) {
		id, _ := strconv.ParseInt(m[1], 10, 64)
		out = append(out, id)
	}
	return out
}

// hrefOf is the unescaped href of the link with id, "" when there is none.
func hrefOf(body, id string) string {
	m := regexp.MustCompile(`id="` + id + `" href="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// TestWorkPagesNeedSignIn: without a session every work page and action
// goes to sign in and changes nothing; the stream answers 401.
func TestWorkPagesNeedSignIn(t *testing.T) {
	svc := openService(t)
	b := newSite(t, svc, siteOptions{}).browser()
	for _, tc := range []struct{ method, path string }{
		{"GET", "/send"}, {"POST", "/send"}, {"POST", "/send/count"}, {"GET", "/outbox"}, {"GET", "/messages/1"},
		{"POST", "/messages/1"}, {"GET", "/inbox"}, {"POST", "/inbox/1"}, {"POST", "/inbox/1/reply"},
		{"GET", "/optouts"}, {"POST", "/optouts"}, {"GET", "/status"},
	} {
		var a answer
		if tc.method == "POST" {
			a = b.post(tc.path, url.Values{"to": {patientA}, "text": {"hi"}, "action": {"add"}, "number": {patientA}})
		} else {
			a = b.get(tc.path)
		}
		if a.status != http.StatusSeeOther || a.location != "/signin" {
			t.Errorf("%s %s without a session: %d to %q, want 303 to /signin", tc.method, tc.path, a.status, a.location)
		}
	}
	if a := b.get("/events"); a.status != http.StatusUnauthorized || !strings.Contains(a.body, ops.CodeNoSession) {
		t.Errorf("GET /events without a session: %d %s", a.status, a.body)
	}
	if ms, err := svc.Messages(context.Background(), root, ops.MessageFilter{}); err != nil || len(ms) != 0 {
		t.Errorf("refused POSTs queued messages: %v %v", ms, err)
	}
	if os, err := svc.OptOuts(context.Background(), root, ops.OptOutRequest{Action: ops.OptOutList}); err != nil || len(os) != 0 {
		t.Errorf("refused POSTs added opt-outs: %v %v", os, err)
	}
}

// TestWorkPagesForStaff: staff (not only admins) open every work page;
// each has its contract's ids and the navigation to the others.
func TestWorkPagesForStaff(t *testing.T) {
	_, b := workSite(t)
	for _, tc := range []struct {
		path string
		ids  []string
	}{
		{"/send", []string{"send", "to", "patient", "text", "send-at", "send-submit", "counter"}},
		{"/outbox", []string{"outbox", "outbox-filter", "state", "since", "until", "find", "filter-submit"}},
		{"/inbox", []string{"inbox"}},
		{"/optouts", []string{"optouts", "optout-add", "optout-number", "optout-reason", "optout-add-submit"}},
		{"/status", []string{"modems", "queue", "state", "locked", "backup"}},
		{"/", []string{"queue"}},
	} {
		a := b.get(tc.path)
		if a.status != http.StatusOK {
			t.Errorf("GET %s as staff: %d: %s", tc.path, a.status, errorText(a.body))
			continue
		}
		for _, id := range tc.ids {
			if !hasID(a.body, id) {
				t.Errorf("GET %s: no #%s", tc.path, id)
			}
		}
		for _, href := range []string{"/send", "/outbox", "/inbox", "/optouts", "/status"} {
			if !strings.Contains(a.body, `href="`+href+`"`) {
				t.Errorf("GET %s: the navigation has no link to %s", tc.path, href)
			}
		}
		if strings.Contains(a.body, `href="/accounts"`) {
			t.Errorf("GET %s: staff see the admins' Accounts link", tc.path)
		}
		if !hasID(a.body, "inbox-unread") || textOf(t, a.body, "inbox-unread") != "0" {
			t.Errorf("GET %s: the unread badge is not there or not 0", tc.path)
		}
	}
	if a := b.get("/send"); !strings.Contains(a.body, `id="to" name="to" type="tel"`) || !strings.Contains(a.body, `type="datetime-local"`) {
		t.Error("the send page's number is not type=tel or send-at is not datetime-local")
	}
}

// TestSend: a message queued from the form lands on its own page with
// "Queued", its number and its text; the look is audited.
func TestSend(t *testing.T) {
	svc, b := workSite(t)
	id := sendForm(t, b, patientA, "Ana", "Hello {name}, your appointment is tomorrow at 9:30.", "")
	a := b.get(fmt.Sprintf("/messages/%d?done=queued", id))
	if a.status != http.StatusOK {
		t.Fatalf("the message page: %d %s", a.status, a.body)
	}
	if got := textOf(t, a.body, "notice"); got != "Queued" {
		t.Errorf("#notice %q, want Queued", got)
	}
	if got := textOf(t, a.body, "message-to"); got != patientA {
		t.Errorf("#message-to %q, want %s", got, patientA)
	}
	if got := textOf(t, a.body, "message-text"); got != "Hello Ana, your appointment is tomorrow at 9:30." {
		t.Errorf("#message-text %q", got)
	}
	if got := textOf(t, a.body, "message-state"); got != "queued" {
		t.Errorf("#message-state %q", got)
	}
	if !strings.Contains(a.body, `name="action" value="cancel"`) || strings.Contains(a.body, `value="resend"`) || strings.Contains(a.body, `value="dismiss"`) {
		t.Error("a queued message offers other actions than cancel")
	}
	if !auditHas(t, svc, "message_view", strconv.FormatInt(id, 10), "web:alice") {
		t.Error("no message_view audit row for the look at the message")
	}
	// The outbox lists it masked and without its text.
	o := b.get("/outbox")
	if !strings.Contains(o.body, fmt.Sprintf(`data-id="%d"`, id)) {
		t.Fatalf("the outbox does not list message %d", id)
	}
	if strings.Contains(html.UnescapeString(o.body), patientA) || strings.Contains(o.body, "appointment is tomorrow") {
		t.Error("the outbox shows the full number or the text")
	}
	// A scheduled message, in the clinic's time.
	at := time.Now().Add(48 * time.Hour).Format("2006-01-02T15:04")
	sid := sendForm(t, b, patientB, "", "Reminder", at)
	m, err := svc.Message(context.Background(), root, sid)
	if err != nil || m.SendAt.IsZero() || m.SendAt.Local().Format("2006-01-02T15:04") != at {
		t.Errorf("scheduled message: %+v %v, want send_at %s", m, err, at)
	}
}

// auditHas reports whether the audit log has a row of action on object id
// by actor.
func auditHas(t *testing.T, svc *daemon.Service, action, id, actor string) bool {
	t.Helper()
	var csv, sig bytes.Buffer
	if _, err := svc.AuditExport(context.Background(), root, time.Time{}, time.Time{}, &csv, &sig); err != nil {
		t.Fatalf("audit export: %v", err)
	}
	for _, line := range strings.Split(csv.String(), "\n") {
		if strings.Contains(line, ","+action+",") && (id == "" || strings.Contains(line, ","+id+",")) && strings.Contains(line, actor) {
			return true
		}
	}
	return false
}

// TestSendRefused: bad input is a 4xx with a message in #error and the
// form kept as typed; nothing is queued.
func TestSendRefused(t *testing.T) {
	svc, b := workSite(t)
	if _, err := svc.OptOuts(context.Background(), root, ops.OptOutRequest{Action: ops.OptOutAdd, Number: patientB}); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-48 * time.Hour).Format("2006-01-02T15:04")
	for _, tc := range []struct {
		name                    string
		to, patient, text, when string
		status                  int
		want                    string // in #error
	}{
		{"opted_out", patientB, "", "Hello", "", 400, "opted out"},
		{"invalid_number", "12", "", "Hello", "", 400, "refused"},
		{"letters_for_number", "call me", "", "Hello", "", 400, "refused"},
		{"missing_number", "", "", "Hello", "", 400, "number is missing"},
		{"missing_text", patientA, "", "", "", 400, "text is missing"},
		{"bad_send_at", patientA, "", "Hello", "tomorrow", 400, "not a date and time"},
		{"send_at_in_the_past", patientA, "", "Hello", past, 400, "in the past"},
		{"name_without_patient", patientA, "", "Hello {name}", "", 400, "{name}"},
		{"too_long", patientA, "", strings.Repeat("€", 600), "", 400, "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := b.post("/send", url.Values{"to": {tc.to}, "patient": {tc.patient}, "text": {tc.text}, "send_at": {tc.when}})
			if a.status != tc.status || !strings.Contains(strings.ToLower(errorText(a.body)), strings.ToLower(tc.want)) {
				t.Fatalf("%d #error %q, want %d with %q", a.status, errorText(a.body), tc.status, tc.want)
			}
			if !hasID(a.body, "send") {
				t.Error("the form is not shown again")
			}
			if m := regexp.MustCompile(`id="to"[^>]*value="([^"]*)"`).FindStringSubmatch(a.body); m == nil || html.UnescapeString(m[1]) != tc.to {
				t.Error("the number typed is not kept")
			}
		})
	}
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"invalid_utf8", "to=%2B12025550143&text=%ff%fe", 400},
		{"huge", "to=%2B12025550143&text=" + strings.Repeat("a", 70<<10), 413},
		{"not_a_form", "%zz", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := b.postWith("/send", tc.body, map[string]string{"Sec-Fetch-Site": "same-origin"})
			if a.status != tc.status || errorText(a.body) == "" {
				t.Errorf("%d #error %q, want %d with a message", a.status, errorText(a.body), tc.status)
			}
		})
	}
	if ms, _ := svc.Messages(context.Background(), root, ops.MessageFilter{}); len(ms) != 0 {
		t.Errorf("refused sends queued %d messages", len(ms))
	}
}

// TestSendCount: the counter's endpoint answers exactly the service's
// CountText; bad input is a 4xx JSON error.
func TestSendCount(t *testing.T) {
	svc, b := workSite(t)
	for _, text := range []string{"", "Hello", strings.Repeat("a", 160), strings.Repeat("a", 161), "Price: 5€ [ok]",
		"Olá, até amanhã", "Ça va? Zürich", "Привет", "📅 tomorrow", "ﬁ", strings.Repeat("é", 400), "a\u202eb"} {
		a := b.post("/send/count", url.Values{"text": {text}})
		if a.status != http.StatusOK || a.header.Get("Content-Type") != "application/json" {
			t.Fatalf("count %q: %d %s", text, a.status, a.body)
		}
		var got ops.TextCount
		if err := json.Unmarshal([]byte(a.body), &got); err != nil {
			t.Fatal(err)
		}
		if want := svc.CountText(context.Background(), text); got != want {
			t.Errorf("count %q: %+v, the service says %+v", text, got, want)
		}
	}
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"invalid_utf8", "text=%ff", 400},
		{"huge", "text=" + strings.Repeat("a", 70<<10), 413},
	} {
		a := b.postWith("/send/count", tc.body, map[string]string{"Sec-Fetch-Site": "same-origin"})
		if a.status != tc.status || !strings.Contains(a.body, `"message"`) {
			t.Errorf("%s: %d %s, want %d JSON", tc.name, a.status, a.body, tc.status)
		}
	}
	if a := b.postWith("/send/count", "text=hi", map[string]string{"Sec-Fetch-Site": "cross-site"}); a.status != http.StatusForbidden {
		t.Errorf("a cross-site count: %d", a.status)
	}
}

// TestOutboxPaging: walking a#older from the newest page shows every
// message once, newest first, 50 a page; filters narrow the list; bad
// filters are a 400 with a message.
func TestOutboxPaging(t *testing.T) {
	svc, b := workSite(t)
	ctx := context.Background()
	const n = 123
	want := map[int64]bool{}
	for i := range n {
		to := patientA
		if i%3 == 0 {
			to = patientB
		}
		r, err := svc.Send(ctx, root, ops.SendRequest{To: to, Text: fmt.Sprintf("message %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		want[r.ID] = true
	}
	seen := map[int64]bool{}
	var last int64 = 1 << 62
	path, pages := "/outbox", 0
	for path != "" {
		a := b.get(path)
		if a.status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, a.status, errorText(a.body))
		}
		ids := dataIDs(a.body)
		if len(ids) > 50 {
			t.Errorf("GET %s: %d rows, want at most 50", path, len(ids))
		}
		for _, id := range ids {
			if seen[id] || id >= last {
				t.Errorf("GET %s: message %d again or out of order (after %d)", path, id, last)
			}
			seen[id], last = true, id
		}
		if pages > 0 && !hasID(a.body, "newer") {
			t.Errorf("GET %s: no a#newer on an older page", path)
		}
		pages++
		path = hrefOf(a.body, "older")
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if pages != 3 || len(seen) != n {
		t.Errorf("%d pages with %d messages, want 3 with %d", pages, len(seen), n)
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("message %d never shown", id)
		}
	}
	// Find by number: only patientB's 41 messages.
	found := map[int64]bool{}
	for path := "/outbox?find=" + url.QueryEscape(patientB); path != ""; {
		a := b.get(path)
		for _, id := range dataIDs(a.body) {
			found[id] = true
		}
		path = hrefOf(a.body, "older")
	}
	if len(found) != (n+2)/3 {
		t.Errorf("find %s: %d messages, want %d", patientB, len(found), (n+2)/3)
	}
	today := time.Now().Format("2006-01-02")
	if a := b.get("/outbox?state=queued&since=" + today + "&until=" + today); a.status != http.StatusOK || len(dataIDs(a.body)) != 50 {
		t.Errorf("queued today: %d, %d rows", a.status, len(dataIDs(a.body)))
	}
	if a := b.get("/outbox?state=delivered"); a.status != http.StatusOK || len(dataIDs(a.body)) != 0 {
		t.Errorf("delivered: %d, %d rows", a.status, len(dataIDs(a.body)))
	}
	for _, q := range []string{"state=bogus", "since=yesterday", "until=2026-13-45", "before=abc", "before=-4", "before=0",
		"since=2026-12-05&until=2026-12-01", "find=%ff", "find=not+a+number", "state=%3Cscript%3E"} {
		a := b.get("/outbox?" + q)
		if a.status < 400 || a.status >= 500 || errorText(a.body) == "" {
			t.Errorf("GET /outbox?%s: %d #error %q, want a 4xx with a message", q, a.status, errorText(a.body))
		}
		if strings.Contains(a.body, "<script>") {
			t.Errorf("GET /outbox?%s echoes markup", q)
		}
	}
}

// TestMessageActions: a message offers only the actions of its state and
// they work; a wrong one is a 409, a bad one a 400, a bad id a 404.
func TestMessageActions(t *testing.T) {
	svc, b := workSite(t)
	ctx := context.Background()
	at := time.Now().Add(72 * time.Hour).Format("2006-01-02T15:04")
	id := sendForm(t, b, patientA, "", "See you", at)
	page := fmt.Sprintf("/messages/%d", id)
	a := b.get(page)
	if !hasID(a.body, "message-scheduled") || !strings.Contains(a.body, `value="cancel"`) {
		t.Errorf("a scheduled message: no schedule shown or no cancel")
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
	}{
		{"no_action", url.Values{}, 400},
		{"bogus_action", url.Values{"action": {"explode"}}, 400},
		{"resend_a_queued_one", url.Values{"action": {"resend"}}, 409},
		{"dismiss_a_queued_one", url.Values{"action": {"dismiss"}}, 409},
	} {
		if a := b.post(page, tc.form); a.status != tc.status || errorText(a.body) == "" {
			t.Errorf("%s: %d #error %q, want %d with a message", tc.name, a.status, errorText(a.body), tc.status)
		}
	}
	a = b.post(page, url.Values{"action": {"cancel"}})
	if a.status != http.StatusSeeOther || a.location != page+"?done=cancel" {
		t.Fatalf("cancel: %d to %q: %s", a.status, a.location, errorText(a.body))
	}
	a = b.get(a.location)
	if textOf(t, a.body, "message-state") != "cancelled" || !strings.HasPrefix(textOf(t, a.body, "notice"), "Cancelled") || strings.Contains(a.body, `name="action"`) {
		t.Errorf("after cancel: state %q, notice %q, actions left: %v", textOf(t, a.body, "message-state"), textOf(t, a.body, "notice"), strings.Contains(a.body, `name="action"`))
	}
	if a := b.post(page, url.Values{"action": {"cancel"}}); a.status != http.StatusConflict {
		t.Errorf("cancel twice: %d", a.status)
	}
	// An uncertain message: resend and dismiss; a failed one: resend.
	st := svc.Store()
	u := sendForm(t, b, patientB, "", "Uncertain one", "")
	if m, err := st.Claim(ctx, "m1"); err != nil || m == nil || m.ID != u {
		t.Fatalf("claim: %v %v", m, err)
	}
	if err := st.MarkUncertain(ctx, u, "timeout"); err != nil {
		t.Fatal(err)
	}
	a = b.get(fmt.Sprintf("/messages/%d", u))
	if !strings.Contains(a.body, `value="resend"`) || !strings.Contains(a.body, `value="dismiss"`) || strings.Contains(a.body, `value="cancel"`) {
		t.Error("an uncertain message does not offer exactly resend and dismiss")
	}
	if a := b.post(fmt.Sprintf("/messages/%d", u), url.Values{"action": {"dismiss"}}); a.status != http.StatusSeeOther {
		t.Errorf("dismiss: %d %s", a.status, errorText(a.body))
	}
	if m, _ := svc.Message(ctx, root, u); m.State != string(queue.Failed) {
		t.Errorf("dismissed message is %s", m.State)
	}
	a = b.get(fmt.Sprintf("/messages/%d", u))
	if !strings.Contains(a.body, `value="resend"`) || strings.Contains(a.body, `value="dismiss"`) {
		t.Error("a failed message does not offer exactly resend")
	}
	if a := b.post(fmt.Sprintf("/messages/%d", u), url.Values{"action": {"resend"}}); a.status != http.StatusSeeOther {
		t.Errorf("resend: %d %s", a.status, errorText(a.body))
	}
	if m, _ := svc.Message(ctx, root, u); m.State != string(queue.Queued) {
		t.Errorf("resent message is %s", m.State)
	}
	for _, p := range []string{"/messages/abc", "/messages/0", "/messages/-1", "/messages/99999", "/messages/1e3", "/messages/99999999999999999999"} {
		if a := b.get(p); a.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, a.status)
		}
		if a := b.post(p, url.Values{"action": {"cancel"}}); a.status != http.StatusNotFound {
			t.Errorf("POST %s: %d", p, a.status)
		}
	}
}

// TestInbox: replies are listed with their sender and text, threaded to
// the reminder they answer, keywords marked; handled and reply work; the
// unread badge counts what is not handled.
func TestInbox(t *testing.T) {
	svc, b := workSite(t)
	ctx := context.Background()
	st := svc.Store()
	rem := sendForm(t, b, patientA, "", "Your appointment is tomorrow. Reply C to confirm.", "")
	if m, err := st.Claim(ctx, "m1"); err != nil || m == nil {
		t.Fatalf("claim: %v %v", m, err)
	}
	if err := st.MarkSent(ctx, rem); err != nil {
		t.Fatal(err)
	}
	yes, err := st.AddInbound(ctx, queue.Inbound{From: patientA, Text: "Yes", SentAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.AddInbound(ctx, queue.Inbound{From: patientB, Text: "Who is this?", SentAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	a := b.get("/inbox")
	if a.status != http.StatusOK {
		t.Fatalf("GET /inbox: %d %s", a.status, errorText(a.body))
	}
	if ids := dataIDs(a.body); len(ids) != 2 || ids[0] != other.ID || ids[1] != yes.ID {
		t.Errorf("inbox rows %v, want [%d %d]", ids, other.ID, yes.ID)
	}
	plain := html.UnescapeString(a.body)
	for _, want := range []string{patientA, "Yes", patientB, "Who is this?", fmt.Sprintf(`href="/messages/%d"`, rem), `class="badge keyword-confirm"`,
		`name="action" value="handled"`, fmt.Sprintf(`action="/inbox/%d/reply"`, yes.ID), `class="reply"`} {
		if !strings.Contains(plain, want) {
			t.Errorf("the inbox has no %q", want)
		}
	}
	if got := textOf(t, a.body, "inbox-unread"); got != "2" {
		t.Errorf("#inbox-unread %q, want 2", got)
	}
	if a := b.post(fmt.Sprintf("/inbox/%d", yes.ID), url.Values{"action": {"handled"}}); a.status != http.StatusSeeOther || a.location != "/inbox?done=handled" {
		t.Fatalf("mark handled: %d to %q: %s", a.status, a.location, errorText(a.body))
	}
	a = b.get("/inbox?done=handled")
	if got := textOf(t, a.body, "inbox-unread"); got != "1" {
		t.Errorf("#inbox-unread after handling one: %q", got)
	}
	if u := b.get("/inbox?unhandled=1"); !slicesEqual(dataIDs(u.body), []int64{other.ID}) {
		t.Errorf("only unhandled: %v", dataIDs(u.body))
	}
	// A reply to the sender, queued to their number.
	if a := b.post(fmt.Sprintf("/inbox/%d/reply", other.ID), url.Values{"text": {"This is the clinic."}}); a.status != http.StatusSeeOther || a.location != "/inbox?done=reply" {
		t.Fatalf("reply: %d to %q: %s", a.status, a.location, errorText(a.body))
	}
	ms, err := svc.Messages(ctx, root, ops.MessageFilter{To: patientB})
	if err != nil || len(ms) != 1 {
		t.Errorf("the reply is not queued to the sender: %v %v", ms, err)
	}
	for _, tc := range []struct {
		name, path string
		form       url.Values
		status     int
	}{
		{"empty_reply", fmt.Sprintf("/inbox/%d/reply", other.ID), url.Values{"text": {"  "}}, 400},
		{"no_action", fmt.Sprintf("/inbox/%d", other.ID), url.Values{}, 400},
		{"bogus_action", fmt.Sprintf("/inbox/%d", other.ID), url.Values{"action": {"delete"}}, 400},
		{"bad_id", "/inbox/abc", url.Values{"action": {"handled"}}, 404},
		{"bad_id_reply", "/inbox/abc/reply", url.Values{"text": {"hi"}}, 404},
		{"no_such_reply", "/inbox/99999", url.Values{"action": {"handled"}}, 404},
		{"reply_to_none", "/inbox/99999/reply", url.Values{"text": {"hi"}}, 404},
	} {
		if a := b.post(tc.path, tc.form); a.status != tc.status || errorText(a.body) == "" {
			t.Errorf("%s: %d #error %q, want %d with a message", tc.name, a.status, errorText(a.body), tc.status)
		}
	}
	for _, q := range []string{"before=abc", "before=-1"} {
		if a := b.get("/inbox?" + q); a.status != http.StatusBadRequest || errorText(a.body) == "" {
			t.Errorf("GET /inbox?%s: %d", q, a.status)
		}
	}
}

func slicesEqual(a, b []int64) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// TestOptOutsPage: add, list (masked), refuse a removal without reason,
// remove with one.
func TestOptOutsPage(t *testing.T) {
	svc, b := workSite(t)
	ctx := context.Background()
	a := b.post("/optouts", url.Values{"action": {"add"}, "number": {patientA}, "reason": {"asked at the desk"}})
	if a.status != http.StatusSeeOther || a.location != "/optouts?done=add" {
		t.Fatalf("add: %d to %q: %s", a.status, a.location, errorText(a.body))
	}
	a = b.get("/optouts?done=add")
	if len(dataIDs(a.body)) != 1 || strings.Contains(html.UnescapeString(a.body), patientA) || !strings.Contains(a.body, "4567") {
		t.Errorf("the list does not show one masked number: %v", dataIDs(a.body))
	}
	if !strings.Contains(a.body, `name="reason"`) || !strings.Contains(a.body, `name="action" value="remove"`) {
		t.Error("no remove form with a reason on the row")
	}
	if _, err := svc.Send(ctx, root, ops.SendRequest{To: patientA, Text: "hi"}); ops.CodeOf(err) != ops.CodeOptedOut {
		t.Errorf("send after the opt-out: %v", err)
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
	}{
		{"remove_without_reason", url.Values{"action": {"remove"}, "number": {patientA}}, 400},
		{"add_without_number", url.Values{"action": {"add"}}, 400},
		{"add_bad_number", url.Values{"action": {"add"}, "number": {"not a number"}}, 400},
		{"bogus_action", url.Values{"action": {"purge"}, "number": {patientA}}, 400},
	} {
		if a := b.post("/optouts", tc.form); a.status != tc.status || errorText(a.body) == "" {
			t.Errorf("%s: %d #error %q, want %d with a message", tc.name, a.status, errorText(a.body), tc.status)
		}
	}
	if a := b.postWith("/optouts", "action=add&number=%ff", map[string]string{"Sec-Fetch-Site": "same-origin"}); a.status != http.StatusBadRequest {
		t.Errorf("invalid UTF-8: %d", a.status)
	}
	a = b.post("/optouts", url.Values{"action": {"remove"}, "number": {patientA}, "reason": {"patient asked at the desk"}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", a.status, errorText(a.body))
	}
	if os, _ := svc.OptOuts(ctx, root, ops.OptOutRequest{Action: ops.OptOutList}); len(os) != 0 {
		t.Errorf("after remove: %v", os)
	}
	if !auditHas(t, svc, "optout_remove", "", "web:alice") {
		t.Error("no optout_remove audit row")
	}
}

// TestLiveRefreshDoesNotExtend: the script's refresh of a live page
// (X-Smsd-Live) does not extend the session; the person's own load does.
func TestLiveRefreshDoesNotExtend(t *testing.T) {
	_, b := workSite(t)
	first := decodeSession(t, b.get("/session"))
	time.Sleep(1100 * time.Millisecond)
	for _, p := range []string{"/outbox", "/inbox", "/status"} {
		req, _ := http.NewRequest(http.MethodGet, b.site.srv.URL+p, nil)
		req.Header.Set("X-Smsd-Live", "1")
		if a := b.do(req); a.status != http.StatusOK {
			t.Errorf("live refresh of %s: %d", p, a.status)
		}
	}
	if again := decodeSession(t, b.get("/session")); !again.IdleExpires.Equal(first.IdleExpires) {
		t.Errorf("a live refresh extended the session: %v, then %v", first.IdleExpires, again.IdleExpires)
	}
	b.get("/outbox")
	if again := decodeSession(t, b.get("/session")); !again.IdleExpires.After(first.IdleExpires) {
		t.Errorf("loading the outbox did not extend the session")
	}
}

// stream is an open GET /events, read line by line in the background.
type stream struct {
	events chan string // each event's data
	done   chan struct{}
	cancel context.CancelFunc
}

// openEvents opens the live stream with the browser's cookie.
func openEvents(t *testing.T, b *browser) *stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.site.srv.URL+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := b.c.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("GET /events: %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	checkHeaders(t, "GET /events", answer{status: resp.StatusCode, header: resp.Header}, b.site.tls)
	s := &stream{events: make(chan string, 100), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				s.events <- d
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-s.done })
	return s
}

// waitFor waits for an event of kind; false when the stream ended or the
// (generous) deadline passed first.
func (s *stream) waitFor(kind string) bool {
	deadline := time.After(45 * time.Second)
	for {
		select {
		case d := <-s.events:
			var e struct{ Kind string }
			if json.Unmarshal([]byte(d), &e) == nil && e.Kind == kind {
				return true
			}
		case <-s.done:
			for {
				select {
				case d := <-s.events:
					if strings.Contains(d, `"`+kind+`"`) {
						return true
					}
				default:
					return false
				}
			}
		case <-deadline:
			return false
		}
	}
}

// TestEvents: a signed-in page's stream gets a "change" after a send and
// "status" ticks, does not extend the session, and ends ("ended") when
// the session does.
func TestEvents(t *testing.T) {
	svc, b := workSite(t)
	first := decodeSession(t, b.get("/session"))
	s := openEvents(t, b)
	if _, err := svc.Send(context.Background(), root, ops.SendRequest{To: patientA, Text: "Live"}); err != nil {
		t.Fatal(err)
	}
	if !s.waitFor("change") {
		t.Fatal("no change event after a send")
	}
	if !s.waitFor("status") {
		t.Fatal("no status event")
	}
	if again := decodeSession(t, b.get("/session")); !again.IdleExpires.Equal(first.IdleExpires) {
		t.Errorf("the stream extended the session: %v, then %v", first.IdleExpires, again.IdleExpires)
	}
	// Signing out (in another tab: the same cookie) ends the stream.
	other := b.site.browser()
	other.setCookie(b.cookie())
	other.post("/signout", nil)
	if !s.waitFor("ended") {
		t.Error("the stream did not say ended after sign-out")
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Error("the stream did not end after the session ended")
	}
}

// xssCorpus are hostile strings a patient's name, a text or a reply may
// hold.
var xssCorpus = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`javascript:alert(1)`,
	`<svg onload=alert(1)>`,
	"\u202eevil\u202c",
	`{{.}}`,
	`</textarea><script>alert(2)</script>`,
	`' onmouseover='alert(3)`,
	`<a href="javascript:alert(4)">x</a>`,
	`<iframe src=//example.com>`,
}

// TestXSSCorpus: hostile names, texts and replies are shown escaped on
// every page that shows them: no tag, no handler attribute, no
// javascript: link of theirs survives.
func TestXSSCorpus(t *testing.T) {
	svc, b := workSite(t)
	ctx := context.Background()
	var ids []int64
	for _, x := range xssCorpus {
		ids = append(ids, sendForm(t, b, patientA, x, "Hi {name} "+x, ""))
		if _, err := svc.Store().AddInbound(ctx, queue.Inbound{From: patientA, Text: x, SentAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	pages := []string{"/outbox", "/inbox", "/status", "/optouts"}
	for _, id := range ids {
		pages = append(pages, fmt.Sprintf("/messages/%d", id))
	}
	for _, p := range pages {
		body := rawGet(t, b, p)
		checkInert(t, p, body)
	}
	// A refused form shows what was typed again, escaped.
	for _, x := range xssCorpus {
		a := rawPost(t, b, "/send", url.Values{"to": {x}, "patient": {x}, "text": {x}})
		checkInert(t, "POST /send "+x, a)
	}
	for _, x := range xssCorpus {
		a := rawPost(t, b, "/optouts", url.Values{"action": {"add"}, "number": {x}, "reason": {x}})
		checkInert(t, "POST /optouts "+x, a)
	}
	// The message page shows the text as it was, once unescaped.
	body := rawGet(t, b, fmt.Sprintf("/messages/%d", ids[0]))
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the message page does not show the script text escaped")
	}
}

// checkInert fails for anything of the corpus that a browser would run.
func checkInert(t *testing.T, what, body string) {
	t.Helper()
	low := strings.ToLower(body)
	for _, bad := range []string{"<script>alert", "<img src=x", "<svg onload", "<iframe", `href="javascript:`, "onerror=alert(1)>", "onmouseover='", "</textarea><script"} {
		if strings.Contains(low, bad) {
			t.Errorf("%s: the page holds %q unescaped", what, bad)
		}
	}
	// Attributes of the page's own tags, their quoted values left out (a
	// value holds the corpus escaped, and that is fine).
	for _, tag := range regexp.MustCompile(`<[a-zA-Z][^>]*>`).FindAllString(body, -1) {
		bare := regexp.MustCompile(`"[^"]*"`).ReplaceAllString(tag, `""`)
		if m := regexp.MustCompile(`(?i)\son[a-z]+\s*=|\s(src|href)\s*=\s*[^"\s>]`).FindString(bare); m != "" {
			t.Errorf("%s: a tag with an attribute of the corpus: %q", what, tag)
		}
	}
	if n := strings.Count(low, "<script"); n != len(scriptTag.FindAllString(body, -1)) {
		t.Errorf("%s: a <script> that is not the page's own", what)
	}
	for _, m := range scriptTag.FindAllStringSubmatch(body, -1) {
		if !strings.Contains(m[1], `src="/static/`) {
			t.Errorf("%s: a script not from /static/: %q", what, m[0])
		}
	}
	// An RTL override in the page's text is inside a <bdi> (or a form
	// field's value), so it cannot turn the text around it.
	for i := strings.Index(body, "\u202e"); i >= 0; {
		open := strings.LastIndex(body[:i], "<")
		tag := body[open:i]
		if !strings.Contains(tag, ">") || !(strings.HasPrefix(tag, "<bdi") || strings.HasPrefix(tag, "<textarea")) {
			if strings.Contains(tag, ">") {
				t.Errorf("%s: an RTL override outside an isolate: %q", what, tag)
			}
		}
		next := strings.Index(body[i+1:], "\u202e")
		if next < 0 {
			break
		}
		i += 1 + next
	}
}

// rawGet and rawPost fetch a page without the harness's page checks (which
// refuse the text "javascript:" even escaped as text), checking the status.
func rawGet(t *testing.T, b *browser, path string) string {
	t.Helper()
	resp, err := b.c.Get(b.site.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d", path, resp.StatusCode)
	}
	return string(body)
}

func rawPost(t *testing.T, b *browser, path string, form url.Values) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.site.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Errorf("POST %s: %d", path, resp.StatusCode)
	}
	return string(body)
}

// TestEventsBounded: the open streams are bounded; one more is a 503
// with Retry-After, and a stream that closes frees its place.
func TestEventsBounded(t *testing.T) {
	_, b := workSite(t)
	const max = 64 // web's maxStreams
	streams := make([]*stream, 0, max)
	for range max {
		streams = append(streams, openEvents(t, b))
	}
	b.allow5xx = map[int]bool{http.StatusServiceUnavailable: true}
	a := b.get("/events")
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || !strings.Contains(a.body, `"message"`) {
		t.Fatalf("stream %d: %d %q %s, want 503 with Retry-After", max+1, a.status, a.header.Get("Retry-After"), a.body)
	}
	streams[0].cancel()
	<-streams[0].done
	// The server sees the client go at its next write at the latest (a
	// status tick): ask until the place is free.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.site.srv.URL+"/events", nil)
		resp, err := b.c.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		status := resp.StatusCode
		cancel()
		resp.Body.Close()
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream's place was not freed: %d", status)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestEventsEndOnShutdown: a server shutting down ends its open streams at
// once (they would otherwise hold the shutdown for its whole grace
// period).
func TestEventsEndOnShutdown(t *testing.T) {
	svc := openService(t)
	addUser(t, svc, "alice", ops.RoleStaff)
	ws, err := web.New(web.Options{Service: svc, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ws.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPost, base+"/signin", strings.NewReader(url.Values{"username": {"alice"}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}
	resp, err = c.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /events: %d", resp.StatusCode)
	}
	ended := make(chan struct{})
	go func() {
		io.Copy(io.Discard, resp.Body)
		close(ended)
	}()
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return")
	}
	// The grace period is 5 s: a stream left open would have used it all.
	if d := time.Since(start); d > 4500*time.Millisecond {
		t.Errorf("shutting down with an open stream took %v: the stream held it", d)
	}
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		t.Error("the stream did not end with the server")
	}
}

// TestStatusBackup: the status page says what the last backup did — no
// place set, none yet, good, or failed (with the last good one) — as
// smsd status does, so the front desk sees a failing nightly backup.
func TestStatusBackup(t *testing.T) {
	ctx := context.Background()
	place := t.TempDir()
	for _, tc := range []struct {
		name   string
		dir    string
		record func(svc *daemon.Service)
		want   string
	}{
		{"no place", "", nil, "No backup place is set"},
		{"none yet", place, nil, "No backup yet to " + place},
		{"good", place, func(svc *daemon.Service) {
			if _, err := svc.Backup(ctx, ops.System, ops.BackupRequest{Dir: filepath.Join(place, "smsd-20261202-020000"), Done: true}, nil); err != nil {
				t.Fatal(err)
			}
		}, "to " + filepath.Join(place, "smsd-20261202-020000") + ": good"},
		{"failed", place, func(svc *daemon.Service) {
			svc.Backup(ctx, ops.System, ops.BackupRequest{Dir: filepath.Join(place, "smsd-20261202-020000"), Failure: "the backup place is full"}, nil)
		}, "failed: the backup place is full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc := openServiceWith(t, func(c *config.Config) { c.BackupDir = tc.dir })
			addUser(t, svc, "alice", ops.RoleStaff)
			if tc.record != nil {
				tc.record(svc)
			}
			b := newSite(t, svc, siteOptions{}).browser()
			b.signIn("alice", "/")
			a := b.get("/status")
			if a.status != http.StatusOK || !strings.Contains(a.body, tc.want) {
				t.Errorf("GET /status: %d, want %q in #backup: %s", a.status, tc.want, between(a.body, `id="backup"`, "</p>"))
			}
		})
	}
}

// between is the part of s from the first from up to the next to.
func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return "(no " + from + ")"
	}
	s = s[i:]
	if j := strings.Index(s, to); j >= 0 {
		return s[:j]
	}
	return s
}
