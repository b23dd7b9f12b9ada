package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/modem/pdu"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

var staff = ops.Actor{Kind: ops.ActorWeb, Name: "bob", Role: ops.RoleStaff, Addr: "192.0.2.8"}

// countTexts are texts around every rule of the counter: GSM-7, its
// extension table (€ counts 2, never split), UCS-2, surrogate pairs, part
// boundaries and the configured maximum.
var countTexts = []string{
	"",
	"Reminder: Dr. Rivera tomorrow at 9:00",
	strings.Repeat("a", 160),
	strings.Repeat("a", 161),
	strings.Repeat("a", 306),
	strings.Repeat("a", 307),
	strings.Repeat("a", 918),
	strings.Repeat("a", 919),
	"€",
	strings.Repeat("€", 80),
	strings.Repeat("€", 81),
	strings.Repeat("€", 456),
	strings.Repeat("€", 457),
	"[]{}^~\\|",
	"àéèìòùÄÖÑÜß",
	"ça va",
	"Привет",
	strings.Repeat("ж", 70),
	strings.Repeat("ж", 71),
	strings.Repeat("ж", 402),
	strings.Repeat("ж", 403),
	"😀",
	strings.Repeat("😀", 35),
	strings.Repeat("😀", 36),
	strings.Repeat("a", 100) + "😀",
	"See you € 5 then 😀",
	"\u202eRTL override",
}

// TestCountTextIsWhatTheModemSends: for each text the counter's parts and
// encoding are what pdu.EncodeSubmit really makes, UCS2At names the first
// character EncodeSubmit cannot send in GSM-7, and TooLong is exactly when
// EncodeSubmit with the configured maximum refuses it.
func TestCountTextIsWhatTheModemSends(t *testing.T) {
	s := &Service{cfg: config.Default()}
	for _, text := range countTexts {
		name := fmt.Sprintf("%.12s_%d", text, utf8.RuneCountInString(text))
		t.Run(name, func(t *testing.T) { checkCount(t, s, text) })
	}
}

func checkCount(t *testing.T, s *Service, text string) {
	t.Helper()
	c := s.CountText(context.Background(), text)
	if c.MaxParts != 6 {
		t.Fatalf("MaxParts %d, want the configured 6", c.MaxParts)
	}
	parts, err := pdu.EncodeSubmit("+15551234567", text, pdu.SubmitOptions{})
	if !utf8.ValidString(text) {
		if err == nil {
			t.Fatal("EncodeSubmit took invalid UTF-8")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != c.Parts {
		t.Fatalf("CountText says %d parts, EncodeSubmit made %d", c.Parts, len(parts))
	}
	sub, err := pdu.DecodeSubmit(parts[0].TPDU)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Encoding.String() != c.Encoding {
		t.Fatalf("CountText says %s, EncodeSubmit used %s", c.Encoding, sub.Encoding)
	}
	runes := []rune(text)
	switch {
	case c.Encoding == "GSM-7" && (c.UCS2At != -1 || c.UCS2Char != ""):
		t.Fatalf("GSM-7, yet UCS2At %d %q", c.UCS2At, c.UCS2Char)
	case c.Encoding == "UCS-2":
		if c.UCS2At < 0 || c.UCS2At >= len(runes) || string(runes[c.UCS2At]) != c.UCS2Char {
			t.Fatalf("UCS-2, UCS2At %d %q does not name a character of the text", c.UCS2At, c.UCS2Char)
		}
		// The text before it is GSM-7 on its own: it is the first.
		before, err := pdu.EncodeSubmit("+15551234567", string(runes[:c.UCS2At])+"a", pdu.SubmitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sub, _ := pdu.DecodeSubmit(before[0].TPDU); sub.Encoding != pdu.GSM7 {
			t.Fatalf("the text before UCS2At %d is already %s", c.UCS2At, sub.Encoding)
		}
	}
	_, err = pdu.EncodeSubmit("+15551234567", text, pdu.SubmitOptions{MaxParts: c.MaxParts})
	if refused := errors.Is(err, pdu.ErrTooManyParts) || len(text) > queue.MaxTextBytes; refused != c.TooLong {
		t.Fatalf("TooLong %v, EncodeSubmit with MaxParts %d: %v", c.TooLong, c.MaxParts, err)
	}
	// Send agrees: what the counter calls too long is refused as such.
	if _, err := s.checkText(text); text != "" && (ops.CodeOf(err) == ops.CodeTooLong) != c.TooLong {
		t.Fatalf("TooLong %v, Send's check says %v", c.TooLong, err)
	}
}

// FuzzCountText: the counter agrees with EncodeSubmit on any text.
func FuzzCountText(f *testing.F) {
	for _, text := range countTexts {
		f.Add(text)
	}
	s := &Service{cfg: config.Default()}
	f.Fuzz(func(t *testing.T, text string) { checkCount(t, s, text) })
}

// TestMessagesFindAndPage: find by number through the blind index, however
// the number is written; an invalid one is refused with what to do; the
// audit row has the number masked; a token may not list.
func TestMessagesFindAndPage(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	for i, to := range []string{"+15551234567", "+15557654321", "(555) 123-4567", "+1 555 123 4567"} {
		if _, err := s.Send(ctx, staff, ops.SendRequest{To: to, Text: fmt.Sprintf("text %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, to string
		want     int
		code     string
	}{
		{"e164", "+15551234567", 3, ""},
		{"national_form", "555-123-4567", 3, ""},
		{"other", "+15557654321", 1, ""},
		{"none", "+15550000000", 0, ""},
		{"invalid", "12", 0, ops.CodeInvalidNumber},
		{"letters", "call me", 0, ops.CodeInvalidNumber},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := s.Messages(ctx, staff, ops.MessageFilter{To: tc.to})
			if ops.CodeOf(err) != tc.code {
				t.Fatalf("%v (code %q), want code %q", err, ops.CodeOf(err), tc.code)
			}
			if tc.code != "" {
				if !strings.Contains(err.Error(), "country code") {
					t.Fatalf("the error does not say what to do: %v", err)
				}
				return
			}
			if len(ms) != tc.want {
				t.Fatalf("%d messages, want %d", len(ms), tc.want)
			}
			for _, m := range ms {
				if m.Text != "" || strings.Contains(m.To, "234567") {
					t.Fatalf("a list shows PHI: %+v", m)
				}
			}
		})
	}
	rows := rowsOf(t, s, audit.MessageList)
	if len(rows) != 6 {
		t.Fatalf("%d message_list rows, want 6", len(rows))
	}
	if !strings.Contains(rows[0].Detail, "to=+1******4567") || rows[4].Outcome != audit.Failed {
		t.Fatalf("audit rows: %+v", rows)
	}
	tok := tokenActor(t, s, "pms")
	_, err := s.Messages(ctx, tok, ops.MessageFilter{})
	wantCode(t, "a token lists messages", err, ops.CodeDenied)
	_, err = s.Messages(ctx, staff, ops.MessageFilter{BeforeID: -1})
	wantCode(t, "a negative before_id", err, ops.CodeInvalidRequest)
}

// TestKeysetPaging: paging back by id returns every message exactly once,
// newest first, while new ones keep arriving (they are newer than page 1,
// so never shift a later page as OFFSET paging would).
func TestKeysetPaging(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	st := s.Store()
	var batch []queue.NewMessage
	for i := range 230 {
		batch = append(batch, queue.NewMessage{To: fmt.Sprintf("+1555100%04d", i), Text: "x"})
	}
	if _, err := st.EnqueueBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	before, err := s.Messages(ctx, staff, ops.MessageFilter{Limit: 1000})
	if err != nil || len(before) != 230 {
		t.Fatalf("%d %v", len(before), err)
	}
	stop, first := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var arrived int
	wg.Add(1)
	go func() { // new messages while the pages are read
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Send(ctx, staff, ops.SendRequest{To: fmt.Sprintf("+1555200%04d", i), Text: "new"}); err != nil {
				t.Error(err)
				return
			}
			if arrived++; arrived == 1 {
				close(first)
			}
		}
	}()
	<-first
	seen := map[int64]int{}
	var last int64
	pages := 0
	for {
		page, err := s.Messages(ctx, staff, ops.MessageFilter{Limit: 17, BeforeID: last})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		pages++
		for i, m := range page {
			if i > 0 && m.ID >= page[i-1].ID {
				t.Fatalf("page %d is not newest first: %d after %d", pages, m.ID, page[i-1].ID)
			}
			seen[m.ID]++
		}
		last = page[len(page)-1].ID
	}
	close(stop)
	wg.Wait()
	if arrived < 2 {
		t.Fatalf("only %d new messages arrived while paging", arrived)
	}
	for _, m := range before {
		if seen[m.ID] != 1 {
			t.Errorf("message %d seen %d times", m.ID, seen[m.ID])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("message %d seen %d times", id, n)
		}
	}
	t.Logf("%d pages, %d messages seen, %d arrived while paging", pages, len(seen), arrived)
}

// inbound stores a received message as the dispatcher does.
func inbound(t *testing.T, s *Service, from, text string) queue.Inbound {
	t.Helper()
	in, err := s.Store().AddInbound(context.Background(), queue.Inbound{From: from, Text: text, SentAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// sendAndMarkSent queues a message and takes it through the modem's
// states to sent, as the dispatcher would.
func sendAndMarkSent(t *testing.T, s *Service, to, text string) int64 {
	t.Helper()
	ctx := context.Background()
	r, err := s.Send(ctx, staff, ops.SendRequest{To: to, Text: text})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Store().Claim(ctx, "modem1")
	if err != nil || m == nil || m.ID != r.ID {
		t.Fatalf("claim: %+v %v", m, err)
	}
	if err := s.Store().MarkSent(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// TestInbox: replies are opened, threaded to the reminder they answer,
// classified, marked handled and counted; paging by id in both directions;
// the views and marks are audited without PHI; a token may list but not
// mark.
func TestInbox(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	reminder := sendAndMarkSent(t, s, "+15551234567", "Dr. Rivera tomorrow at 9")
	texts := []struct{ text, keyword string }{
		{"Yes!", "confirm"},
		{"c.", "confirm"},
		{"SI", "confirm"},
		{"r", "reschedule"},
		{"STOP", "stop"},
		{"Stop by at 3?", ""},
		{"start", "start"},
		{"help", "help"},
		{"Yes, but later", ""},
		{"hello there", ""},
	}
	var ids []int64
	for _, tc := range texts {
		ids = append(ids, inbound(t, s, "+15551234567", tc.text).ID)
	}
	other := inbound(t, s, "CLINIC", "an alphanumeric sender")

	box, err := s.InboxList(ctx, staff, ops.InboxFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(box.Entries) != 11 || box.Unhandled != 11 {
		t.Fatalf("%d entries, %d unhandled", len(box.Entries), box.Unhandled)
	}
	if box.Entries[0].ID != other.ID {
		t.Fatalf("not newest first: %d", box.Entries[0].ID)
	}
	for i, tc := range texts {
		e := box.Entries[len(texts)-i]
		if e.ID != ids[i] || e.Text != tc.text || e.From != "+15551234567" || e.Keyword != tc.keyword {
			t.Errorf("entry %d: %+v, want text %q keyword %q", i, e, tc.text, tc.keyword)
		}
		if e.ReplyTo == nil || *e.ReplyTo != reminder {
			t.Errorf("entry %d not threaded to reminder %d: %v", i, reminder, e.ReplyTo)
		}
	}

	// Mark handled, and back; the count follows.
	if err := s.MarkHandled(ctx, staff, ids[0], true); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkHandled(ctx, staff, ids[1], true); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkHandled(ctx, admin, ids[1], false); err != nil {
		t.Fatal(err)
	}
	box, err = s.InboxList(ctx, staff, ops.InboxFilter{Unhandled: true})
	if err != nil {
		t.Fatal(err)
	}
	if box.Unhandled != 10 || len(box.Entries) != 10 {
		t.Fatalf("after marks: %d unhandled, %d shown", box.Unhandled, len(box.Entries))
	}
	all, _ := s.InboxList(ctx, staff, ops.InboxFilter{})
	for _, e := range all.Entries {
		switch e.ID {
		case ids[0]:
			if !e.Handled || e.HandledBy != "web:bob" || e.HandledAt.IsZero() {
				t.Fatalf("handled entry %+v", e)
			}
		default:
			if e.Handled || e.HandledBy != "" || !e.HandledAt.IsZero() {
				t.Fatalf("unhandled entry %+v", e)
			}
		}
	}

	// Paging: back with Before, forward (oldest first) with SinceID.
	page, err := s.InboxList(ctx, staff, ops.InboxFilter{Limit: 4, Before: ids[5]})
	if err != nil || len(page.Entries) != 4 || page.Entries[0].ID != ids[4] || page.Entries[3].ID != ids[1] {
		t.Fatalf("before: %+v %v", page.Entries, err)
	}
	page, err = s.InboxList(ctx, staff, ops.InboxFilter{Limit: 3, SinceID: ids[2]})
	if err != nil || len(page.Entries) != 3 || page.Entries[0].ID != ids[3] || page.Entries[2].ID != ids[5] {
		t.Fatalf("since: %+v %v", page.Entries, err)
	}
	for _, f := range []ops.InboxFilter{{Limit: -1}, {SinceID: -2}, {Limit: 5000}} {
		_, err := s.InboxList(ctx, staff, f)
		wantCode(t, fmt.Sprintf("filter %+v", f), err, ops.CodeInvalidRequest)
	}

	// Refusals.
	wantCode(t, "mark an unknown id", s.MarkHandled(ctx, staff, 9999, true), ops.CodeNotFound)
	tok := tokenActor(t, s, "pms")
	if box, err := s.InboxList(ctx, tok, ops.InboxFilter{SinceID: ids[8]}); err != nil || len(box.Entries) != 2 {
		t.Fatalf("a token lists the inbox: %+v %v", box, err)
	}
	wantCode(t, "a token marks handled", s.MarkHandled(ctx, tok, ids[2], true), ops.CodeDenied)

	// Audited: each view names the ids shown, each mark its id; the token's
	// view is the token's row.
	views := rowsOf(t, s, audit.InboxView)
	if len(views) != 9 { // 5 lists, 3 refused filters, the token's list
		t.Fatalf("%d inbox_view rows", len(views))
	}
	if v := views[0]; v.Actor != "web:bob" || v.ObjectID != fmt.Sprintf("%d-%d", ids[0], other.ID) || !strings.Contains(v.Detail, "shown=11 unhandled=11") {
		t.Fatalf("first view row %+v", v)
	}
	if v := views[len(views)-1]; v.Actor != "token:pms" || v.Role != ops.RoleStaff {
		t.Fatalf("token view row %+v", v)
	}
	marks := rowsOf(t, s, audit.InboxHandle)
	if len(marks) != 5 || marks[0].ObjectID != fmt.Sprint(ids[0]) || marks[2].Detail != "not handled" || marks[3].Outcome != audit.Failed || marks[4].Outcome != audit.Denied {
		t.Fatalf("inbox_handle rows %+v", marks)
	}
	noPHIInAudit(t, s, "+15551234567", "5551234567", "Dr. Rivera", "Stop by at 3", "hello there", "alphanumeric")
}

// TestInboxBadgeNotAudited: the unread badge every page shows counts the
// unhandled replies without opening one, so it writes no audit row; a view
// that opens replies does.
func TestInboxBadgeNotAudited(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	inbound(t, s, "+15551234567", "C")
	inbound(t, s, "+15551234567", "STOP")
	before := len(rowsOf(t, s, audit.InboxView))
	for range 3 {
		box, err := s.InboxList(ctx, staff, ops.InboxFilter{CountOnly: true})
		if err != nil || box.Unhandled != 2 || len(box.Entries) != 0 {
			t.Fatalf("badge count: %+v %v", box, err)
		}
	}
	if n := len(rowsOf(t, s, audit.InboxView)) - before; n != 0 {
		t.Errorf("the badge wrote %d inbox_view rows, want 0", n)
	}
	if _, err := s.InboxList(ctx, staff, ops.InboxFilter{}); err != nil {
		t.Fatal(err)
	}
	if n := len(rowsOf(t, s, audit.InboxView)) - before; n != 1 {
		t.Errorf("a view that opens replies wrote %d inbox_view rows, want 1", n)
	}
}

// noPHIInAudit fails if any audit row holds one of the strings.
func noPHIInAudit(t *testing.T, s *Service, phi ...string) {
	t.Helper()
	for _, r := range auditRows(t, s) {
		row := strings.Join([]string{r.Actor, r.Client, r.Action, r.ObjectType, r.ObjectID, r.Detail}, "|")
		for _, p := range phi {
			if strings.Contains(row, p) {
				t.Errorf("audit row %d (%s) holds %q: %s", r.Seq, r.Action, p, row)
			}
		}
	}
}

// TestReply: a reply goes to the received message's sender under Send's
// rules and audit row; the answer masks the number; an opted-out sender,
// an alphanumeric one, an unknown id and a token are refused.
func TestReply(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	in := inbound(t, s, "+15551234567", "Can I come at 10 instead?")
	res, err := s.Reply(ctx, staff, in.ID, "Yes, 10 is fine")
	if err != nil {
		t.Fatal(err)
	}
	if res.To != "+1******4567" || res.State != "queued" || res.Parts != 1 {
		t.Fatalf("reply result %+v", res)
	}
	m, err := s.Store().Get(ctx, res.ID)
	if err != nil || m.To != "+15551234567" || m.Text != "Yes, 10 is fine" || m.CreatedBy != "web:bob" {
		t.Fatalf("queued reply %+v %v", m, err)
	}

	stop := inbound(t, s, "+15557654321", "STOP")
	if _, err := s.OptOuts(ctx, admin, ops.OptOutRequest{Action: ops.OptOutAdd, Number: "+15557654321"}); err != nil {
		t.Fatal(err)
	}
	alpha := inbound(t, s, "PHARMACY", "Your order is ready")
	for _, tc := range []struct {
		name  string
		a     ops.Actor
		id    int64
		text  string
		code  string
		words string
	}{
		{"opted_out", staff, stop.ID, "sorry to see you go", ops.CodeOptedOut, "opted out"},
		{"alphanumeric_sender", staff, alpha.ID, "hi", ops.CodeInvalidNumber, "not a phone number"},
		{"unknown_id", staff, 9999, "hi", ops.CodeNotFound, "no received message 9999"},
		{"empty_text", staff, in.ID, "", ops.CodeInvalidText, "empty"},
		{"too_long", staff, in.ID, strings.Repeat("a", 919), ops.CodeTooLong, "too long"},
		{"token", tokenActor(t, s, "pms"), in.ID, "hi", ops.CodeDenied, "API token may not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Reply(ctx, tc.a, tc.id, tc.text)
			if ops.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.words) {
				t.Fatalf("%v (code %q), want code %s saying %q", err, ops.CodeOf(err), tc.code, tc.words)
			}
			if strings.Contains(err.Error(), "7654321") || strings.Contains(err.Error(), "PHARMACY") {
				t.Fatalf("the error shows the sender: %v", err)
			}
		})
	}
	if n := count(t, s); n != 1 {
		t.Fatalf("%d messages queued, want the one reply", n)
	}
	rows := rowsOf(t, s, audit.MessageCreate)
	if len(rows) != 7 || !strings.HasPrefix(rows[0].Detail, fmt.Sprintf("reply to inbound %d;", in.ID)) || rows[0].ObjectID != fmt.Sprint(res.ID) || rows[0].Actor != "web:bob" {
		t.Fatalf("message_create rows %+v", rows)
	}
	for _, r := range rows[1:] {
		if r.Outcome == audit.OK || !strings.HasPrefix(r.Detail, "reply to inbound ") {
			t.Fatalf("refused reply's row %+v", r)
		}
	}
	noPHIInAudit(t, s, "+15551234567", "5557654321", "PHARMACY", "10 is fine", "sorry to see")
}

// TestChangesWakeEveryListener: two listeners of Changes are both woken by
// a send, by the dispatcher's state changes (claim, sent, delivered) and by
// a received message; the dispatcher's own wake-up (Store.Changed) is not
// taken from it; a view wakes nobody, so a live page does not wake itself.
func TestChangesWakeEveryListener(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	st := s.Store()
	// Drain a wake-up of the dispatcher left from opening, if any.
	select {
	case <-st.Changed():
	default:
	}
	woken := func(what string, fn func()) {
		t.Helper()
		a, b := s.Changes(), s.Changes()
		if a == nil || b == nil {
			t.Fatal("no channel")
		}
		fn()
		for i, ch := range []<-chan struct{}{a, b} {
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: listener %d not woken", what, i+1)
			}
		}
	}
	var id int64
	woken("a send", func() {
		r, err := s.Send(ctx, staff, ops.SendRequest{To: "+15551234567", Text: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		id = r.ID
	})
	select {
	case <-st.Changed():
	default:
		t.Fatal("the dispatcher's wake-up was taken")
	}
	woken("a claim", func() {
		if m, err := st.Claim(ctx, "modem1"); err != nil || m == nil {
			t.Fatal(m, err)
		}
	})
	woken("a part accepted", func() {
		if err := st.RecordPart(ctx, id, 1, 1, 42); err != nil {
			t.Fatal(err)
		}
	})
	woken("sent", func() {
		if err := st.MarkSent(ctx, id); err != nil {
			t.Fatal(err)
		}
	})
	woken("delivered", func() {
		if _, err := st.RecordStatusReport(ctx, 42, "+15551234567", true, true); err != nil {
			t.Fatal(err)
		}
	})
	if m, _ := st.Get(ctx, id); m.State != queue.Delivered {
		t.Fatalf("state %s", m.State)
	}
	woken("a reply", func() { inbound(t, s, "+15551234567", "C") })
	woken("a handled mark", func() {
		box, _ := s.InboxList(ctx, staff, ops.InboxFilter{})
		if err := s.MarkHandled(ctx, staff, box.Entries[0].ID, true); err != nil {
			t.Fatal(err)
		}
	})
	woken("an opt-out", func() {
		if _, err := s.OptOuts(ctx, staff, ops.OptOutRequest{Action: ops.OptOutAdd, Number: "+15550001111"}); err != nil {
			t.Fatal(err)
		}
	})
	// Views change nothing and wake nobody.
	ch := s.Changes()
	if _, err := s.InboxList(ctx, staff, ops.InboxFilter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Message(ctx, staff, id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("a view woke the listeners")
	case <-time.After(50 * time.Millisecond):
	}
}

// TestChangesWhileLocked: before the store opens, Changes is the channel
// that closes when it does, so a page open in locked mode refreshes then.
func TestChangesWhileLocked(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	d := New(cfg, nil, nil)
	ch := d.Changes()
	if ch == nil {
		t.Fatal("nil while opening")
	}
	select {
	case <-ch:
		t.Fatal("closed before the store opened")
	default:
	}
	close(d.unlocked) // as open does, once the store is open
	select {
	case <-ch:
	default:
		t.Fatal("not closed when the store opened")
	}
}
