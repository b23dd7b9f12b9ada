package ops

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestActorString(t *testing.T) {
	for _, tc := range []struct {
		a    Actor
		want string
	}{
		{Actor{Kind: ActorUnix, Name: "alice", UID: 1000}, "unix:alice"},
		{Actor{Kind: ActorWeb, Name: "bob"}, "web:bob"},
		{Actor{Kind: ActorToken, Name: "pms"}, "token:pms"},
		{System, "system"},
		{Actor{Kind: ActorUnix}, "unix"},
	} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.a, got, tc.want)
		}
	}
	if !System.IsAdmin() || (Actor{Role: RoleStaff}).IsAdmin() {
		t.Error("IsAdmin")
	}
}

func TestCodeOf(t *testing.T) {
	e := Errorf(CodeOptedOut, "refused")
	if CodeOf(fmt.Errorf("send: %w", e)) != CodeOptedOut || CodeOf(fmt.Errorf("plain")) != "" || CodeOf(nil) != "" {
		t.Fatal("CodeOf does not see through wrapping, or sees a code where there is none")
	}
}

// TestJSONShape: what -json prints is snake_case with no zero times, so a
// script can rely on it.
func TestJSONShape(t *testing.T) {
	seven := int64(7)
	for _, v := range []any{
		Status{Version: "x", DataDir: "/d", Queue: map[string]int{}, Modems: []ModemStatus{{ID: "m", Registration: "home"}}, CAFingerprint: "AB:CD"},
		InboxItem{ID: 1, ReceivedAt: time.Unix(1, 0).UTC(), ReplyTo: &seven},
		Message{ID: 1, CreatedAt: time.Unix(1, 0).UTC()},
		UserInfo{Username: "a", CreatedAt: time.Unix(1, 0).UTC()},
		OptOut{ID: 1, CreatedAt: time.Unix(1, 0).UTC()},
		SendResult{ID: 1},
		AuditSummary{},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		for k := range m {
			if strings.ToLower(k) != k || strings.Contains(k, "-") {
				t.Errorf("%T: key %q is not snake_case", v, k)
			}
		}
		if strings.Contains(string(b), "0001-01-01") {
			t.Errorf("%T: a zero time in %s", v, b)
		}
	}
}
