package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/clinicsms/smsd/ops"
)

// TestUsernameRules: usernames are folded to lower case and kept to
// [a-z0-9._-], 1 to 32 characters, starting with a letter; display names
// refuse control characters. Each refused case is one an attacker would try:
// a line break that forges a log or audit line, an escape sequence that
// rewrites a terminal, a look-alike letter, shell syntax.
func TestUsernameRules(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	add := func(username, name string) ([]ops.UserInfo, error) {
		return s.User(ctx, admin, ops.UserRequest{Action: ops.UserAdd, Username: username, Name: name, Password: "a long enough password"})
	}
	for _, tc := range []struct {
		name, username, display string
		want                    string // the stored username; "" = refused
		err                     string
	}{
		{"plain", "alice", "Alice Admin", "alice", ""},
		{"folded to lower case", "Bob.Smith", "Bob Smith", "bob.smith", ""},
		{"digits, underscore, hyphen", "  j_doe-2  ", "Jo Doe", "j_doe-2", ""},
		{"accents in the display name", "zoe", "Zoë Ångström-Núñez", "zoe", ""},
		{"32 characters", "a" + strings.Repeat("b", 31), "", "a" + strings.Repeat("b", 31), ""},
		{"fold makes a taken name", "ALICE", "", "", "already exists"},
		{"empty", " ", "", "", "empty"},
		{"33 characters", "a" + strings.Repeat("b", 32), "", "", "too long"},
		{"starts with a digit", "1alice", "", "", "must start with a letter"},
		{"starts with a dot", ".alice", "", "", "must start with a letter"},
		{"line break forges a log line", "eve\nadmin created", "", "", "use only letters"},
		{"carriage return", "eve\rroot", "", "", "use only letters"},
		{"terminal escape", "eve\x1b[2J", "", "", "use only letters"},
		{"space", "eve admin", "", "", "use only letters"},
		{"shell syntax", "eve;rm", "", "", "use only letters"},
		{"look-alike letter (Cyrillic a)", "\u0430lice", "", "", "must start with a letter"},
		{"NUL", "eve\x00", "", "", "use only letters"},
		{"name with a line break", "mallory", "Mallory\nroot", "", "control character"},
		{"name with an escape", "mallory", "\x1b]0;pwned\x07", "", "control character"},
		{"name with a tab", "mallory", "Mal\tlory", "", "control character"},
		{"name not UTF-8", "mallory", "caf\xe9", "", "not valid UTF-8"},
		{"name too long", "mallory", strings.Repeat("n", MaxNameLen+1), "", "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			us, err := add(tc.username, tc.display)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("add %q (name %q): %v, %v; want refused saying %q", tc.username, tc.display, us, err, tc.err)
				}
				if strings.ContainsAny(err.Error(), "\n\r\x1b\x00") {
					t.Errorf("the error carries a control character as it is: %q", err.Error())
				}
				return
			}
			if err != nil || len(us) != 1 || us[0].Username != tc.want {
				t.Fatalf("add %q: %v, %v; want stored as %q", tc.username, us, err, tc.want)
			}
		})
	}
	// An unknown name with a control character comes back quoted.
	if _, err := s.User(ctx, admin, ops.UserRequest{Action: ops.UserDisable, Username: "eve\x1b[2J"}); ops.CodeOf(err) != ops.CodeNoSuchUser || strings.ContainsAny(err.Error(), "\x1b") || !strings.Contains(err.Error(), `"eve\x1b[2j"`) {
		t.Errorf("disable of a name with an escape: %v", err)
	}
	// The other actions find an account whatever the case it is typed in.
	if us, err := s.User(ctx, admin, ops.UserRequest{Action: ops.UserDisable, Username: "BOB.SMITH"}); err != nil || len(us) != 1 || us[0].Username != "bob.smith" || !us[0].Disabled {
		t.Errorf("disable BOB.SMITH: %v, %v", us, err)
	}
	us, err := s.User(ctx, admin, ops.UserRequest{Action: ops.UserList})
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 5 {
		t.Errorf("%d accounts, want the 5 accepted ones only: %v", len(us), us)
	}
}
