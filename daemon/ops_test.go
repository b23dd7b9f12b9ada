package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/dispatch"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// openDirect makes a store in a temporary data directory and opens it as
// the command line does when no daemon runs.
func openDirect(t *testing.T) *Service {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	ctx := context.Background()
	if err := queue.Init(ctx, cfg.DBPath(), KeySource(&cfg, nil), StoreOptions(&cfg, nil)); err != nil {
		t.Fatal(err)
	}
	s, err := OpenDirect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func count(t *testing.T, s *Service) int {
	t.Helper()
	ms, err := s.Store().List(context.Background(), queue.ListFilter{NoContent: true})
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// TestSendRefuses: what the modem or the dispatcher would refuse later,
// when nobody is there to hear it, is refused at enqueue with a code and a
// message that says what to do; nothing is queued.
func TestSendRefuses(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	if _, err := s.OptOuts(ctx, admin, ops.OptOutRequest{Action: ops.OptOutAdd, Number: "+15550000009"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, to, text string
		at             time.Time
		code, says     string
	}{
		{"gsm7_919_chars_is_7_parts", "+15551234567", strings.Repeat("a", 919), time.Time{}, ops.CodeTooLong, "at most 6 parts: 918 characters in GSM-7"},
		{"ucs2_403_chars_is_7_parts", "+15551234567", strings.Repeat("ж", 403), time.Time{}, ops.CodeTooLong, "or 402 when it needs UCS-2"},
		{"emoji_count_two", "+15551234567", strings.Repeat("🙂", 202), time.Time{}, ops.CodeTooLong, "7 parts in UCS-2"},
		{"not_utf8", "+15551234567", "caf\xe9", time.Time{}, ops.CodeInvalidText, "not valid UTF-8"},
		{"empty", "+15551234567", "", time.Time{}, ops.CodeInvalidText, "empty"},
		{"a_year_ago", "+15551234567", "x", now.AddDate(-1, 0, 0), ops.CodeInvalidRequest, "in the past"},
		{"opted_out", "+15550000009", "x", time.Time{}, ops.CodeOptedOut, "opted out"},
		{"invalid_number", "12", "x", time.Time{}, ops.CodeInvalidNumber, "country code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Send(ctx, admin, ops.SendRequest{To: tc.to, Text: tc.text, SendAt: tc.at})
			if ops.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "nothing was queued") {
				t.Fatalf("error %v (code %q); want code %s saying %q and that nothing was queued", err, ops.CodeOf(err), tc.code, tc.says)
			}
			if strings.Contains(err.Error(), tc.to) && len(tc.to) > 4 {
				t.Errorf("the error shows the number: %v", err)
			}
			if n := count(t, s); n != 0 {
				t.Fatalf("%d message(s) queued", n)
			}
		})
	}
	// What fits is taken: the longest texts of 6 parts, due a moment ago.
	for _, text := range []string{strings.Repeat("a", 918), strings.Repeat("ж", 402), strings.Repeat("€", 456)} { // an escape pair never straddles two parts: 76 € a part
		r, err := s.Send(ctx, admin, ops.SendRequest{To: "+15551234567", Text: text, SendAt: now.Add(-30 * time.Second)})
		if err != nil || r.Parts != 6 {
			t.Fatalf("a 6-part text (%d runes): %+v %v", len([]rune(text)), r, err)
		}
	}
}

// TestMessageDecisions: each decision is taken only in the states it is
// for, and names the state when refused, changing nothing.
func TestMessageDecisions(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	st := s.Store()
	queued, err := s.Send(ctx, admin, ops.SendRequest{To: "+15551234567", Text: "one"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Send(ctx, admin, ops.SendRequest{To: "+15551234568", Text: "two"})
	if err != nil {
		t.Fatal(err)
	}
	// The second one goes uncertain, as when the daemon died mid-send.
	m, err := st.Claim(ctx, "modem1")
	if err != nil || m == nil {
		t.Fatalf("claim: %v %v", m, err)
	}
	if m.ID != second.ID {
		// Claim takes the oldest first; make the claimed one the uncertain one.
		second.ID, queued.ID = m.ID, second.ID
	}
	if err := st.MarkUncertain(ctx, m.ID, "timeout"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id              int64
		action, code    string
		wantState, says string
	}{
		{second.ID, ops.ActionCancel, ops.CodeWrongState, "", "is uncertain: cancel is only for a message that is queued"},
		{queued.ID, ops.ActionDismiss, ops.CodeWrongState, "", "is queued: dismiss is only for a message that is uncertain"},
		{queued.ID, ops.ActionResend, ops.CodeWrongState, "", "is queued: resend"},
		{99, ops.ActionCancel, ops.CodeNotFound, "", "no message 99"},
		{queued.ID, "delete", ops.CodeInvalidRequest, "", "unknown action"},
		{queued.ID, ops.ActionCancel, "", "cancelled", ""},
		{second.ID, ops.ActionResend, "", "queued", ""},
	} {
		before, _ := st.Get(ctx, tc.id)
		got, err := s.Act(ctx, admin, ops.MessageAction{ID: tc.id, Action: tc.action})
		if tc.code != "" {
			if ops.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%s %d: %v; want %s saying %q", tc.action, tc.id, err, tc.code, tc.says)
			}
			if after, _ := st.Get(ctx, tc.id); after.State != before.State || after.UpdatedAt != before.UpdatedAt {
				t.Errorf("%s %d refused but the message changed: %s -> %s", tc.action, tc.id, before.State, after.State)
			}
			continue
		}
		if err != nil || got.State != tc.wantState || got.Text != "" || !strings.Contains(got.To, "******") {
			t.Errorf("%s %d: %+v %v; want state %s, masked number, no text", tc.action, tc.id, got, err, tc.wantState)
		}
	}
	// Dismiss settles an uncertain message as failed.
	m, _ = st.Claim(ctx, "modem1")
	if err := st.MarkUncertain(ctx, m.ID, "timeout"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Act(ctx, admin, ops.MessageAction{ID: m.ID, Action: ops.ActionDismiss}); err != nil || got.State != "failed" || got.LastError != "dismissed" {
		t.Fatalf("dismiss: %+v %v", got, err)
	}
}

// TestListsMaskShowOpens: a list never opens a patient's text and shows the
// number masked; Message, asked for one message, opens both.
func TestListsMaskShowOpens(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	r, err := s.Send(ctx, admin, ops.SendRequest{To: "+15551234567", Text: "Your test results are in"})
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.Messages(ctx, admin, ops.MessageFilter{})
	if err != nil || len(list) != 1 || list[0].Text != "" || list[0].To != "+1******4567" || list[0].CreatedBy != "unix:alice" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if list, err := s.Messages(ctx, admin, ops.MessageFilter{State: "delivered"}); err != nil || len(list) != 0 {
		t.Fatalf("delivered: %+v %v", list, err)
	}
	if _, err := s.Messages(ctx, admin, ops.MessageFilter{State: "lost"}); ops.CodeOf(err) != ops.CodeInvalidRequest {
		t.Fatalf("unknown state: %v", err)
	}
	m, err := s.Message(ctx, admin, r.ID)
	if err != nil || m.Text != "Your test results are in" || m.To != "+15551234567" {
		t.Fatalf("show: %+v %v", m, err)
	}
}

// TestOptOutsByStaff: an opt-out added by a person blocks sends and names
// who added it; removing one needs a reason.
func TestOptOutsByStaff(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	staff := ops.Actor{Kind: ops.ActorWeb, Name: "bob", Role: ops.RoleStaff}
	if _, err := s.OptOuts(ctx, staff, ops.OptOutRequest{Action: ops.OptOutAdd, Number: "(555) 123-4567"}); err != nil {
		t.Fatal(err)
	}
	list, err := s.OptOuts(ctx, staff, ops.OptOutRequest{Action: ops.OptOutList})
	if err != nil || len(list) != 1 || list[0].Number != "+1******4567" || list[0].Source != "web:bob" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := s.Send(ctx, staff, ops.SendRequest{To: "+15551234567", Text: "x"}); ops.CodeOf(err) != ops.CodeOptedOut {
		t.Fatalf("send to an opted-out number: %v", err)
	}
	if _, err := s.OptOuts(ctx, staff, ops.OptOutRequest{Action: ops.OptOutRemove, Number: "+15551234567", Reason: "  "}); ops.CodeOf(err) != ops.CodeInvalidRequest {
		t.Fatalf("remove without reason: %v", err)
	}
	if _, err := s.OptOuts(ctx, staff, ops.OptOutRequest{Action: ops.OptOutRemove, Number: "+15551234567", Reason: "asked at the desk"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(ctx, staff, ops.SendRequest{To: "+15551234567", Text: "x"}); err != nil {
		t.Fatalf("send after opt-in: %v", err)
	}
	if _, err := s.OptOuts(ctx, staff, ops.OptOutRequest{Action: ops.OptOutAdd, Number: "555"}); ops.CodeOf(err) != ops.CodeInvalidNumber {
		t.Fatalf("bad number: %v", err)
	}
}

// TestAdminOnly: a staff member cannot manage accounts, rotate keys or
// unlock the store; an admin can.
func TestAdminOnly(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	staff := ops.Actor{Kind: ops.ActorWeb, Name: "bob", Role: ops.RoleStaff}
	if _, err := s.User(ctx, staff, ops.UserRequest{Action: ops.UserList}); ops.CodeOf(err) != ops.CodeDenied {
		t.Errorf("staff lists users: %v", err)
	}
	if _, err := s.User(ctx, staff, ops.UserRequest{Action: ops.UserAdd, Username: "eve", Role: "admin", Password: "a long enough password"}); ops.CodeOf(err) != ops.CodeDenied {
		t.Errorf("staff adds an admin: %v", err)
	}
	if _, err := s.RotateDataKey(ctx, staff); ops.CodeOf(err) != ops.CodeDenied {
		t.Errorf("staff rotates the key: %v", err)
	}
	if err := s.Unlock(ctx, staff, []byte("x")); ops.CodeOf(err) != ops.CodeDenied {
		t.Errorf("staff unlocks: %v", err)
	}
	if us, err := s.User(ctx, admin, ops.UserRequest{Action: ops.UserList}); err != nil || len(us) != 0 {
		t.Errorf("admin lists users: %v %v", us, err)
	}
	if _, err := s.User(ctx, admin, ops.UserRequest{Action: ops.UserAdd, Username: "carol", Password: "short"}); ops.CodeOf(err) != ops.CodeInvalidRequest || !strings.Contains(err.Error(), "too short") {
		t.Errorf("short password: %v", err)
	}
}

// TestConfigDefaultsMatchDispatch: config is a leaf, so it spells the
// dispatcher's defaults as literals; they must stay equal.
func TestConfigDefaultsMatchDispatch(t *testing.T) {
	d := config.Default()
	if d.StallTimeout.Duration != dispatch.DefaultStallTimeout || d.RateLimit.Duration != dispatch.DefaultRateLimit {
		t.Fatalf("config defaults stall %v rate %v; dispatch's %v %v", d.StallTimeout, d.RateLimit, dispatch.DefaultStallTimeout, dispatch.DefaultRateLimit)
	}
}
