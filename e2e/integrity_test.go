package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/crypt"
)

// TestIntegrityAttacks: someone who can write the database file but has no
// key edits it with SQL while smsd is stopped, then smsd starts. Each
// attack must fail closed (no privilege, no send), and everything the
// attack did not touch goes on.
func TestIntegrityAttacks(t *testing.T) {
	const pw1, pw2 = "first password one", "second password two"
	cases := []struct {
		name string
		// setup runs with the daemon stopped (sends go to the store
		// directly) and returns how many messages must reach the handset.
		setup  func(r *rig) int
		attack string // SQL on the stopped daemon's database
		check  func(t *testing.T, r *rig)
	}{{
		name: "role flip",
		setup: func(r *rig) int {
			r.cmdStdin(pw1+"\n", "user", "add", "-role", "staff", "bob")
			return 0
		},
		attack: "UPDATE users SET role = 'admin' WHERE username = 'bob'",
		check: func(t *testing.T, r *rig) {
			for _, line := range strings.Split(r.run("user", "list"), "\n") {
				if strings.HasPrefix(line, "bob") && strings.Contains(line, "admin") {
					t.Errorf("bob listed as admin after a role flip without the key: %q", line)
				}
			}
			if out, code := r.cmdStdin(pw2+"\n", "user", "passwd", "bob"); code == 0 {
				t.Errorf("a tampered account was rewritten (and so blessed): %q", out)
			}
		},
	}, {
		name: "old password cell restored",
		setup: func(r *rig) int {
			r.cmdStdin(pw1+"\n", "user", "add", "-role", "staff", "bob")
			sqlDo(r.t, filepath.Join(r.data, "smsd.db"), "CREATE TABLE old AS SELECT password_sealed AS p FROM users WHERE username = 'bob'")
			r.cmdStdin(pw2+"\n", "user", "passwd", "bob")
			return 0
		},
		attack: "UPDATE users SET password_sealed = (SELECT p FROM old) WHERE username = 'bob'",
		check:  oldPasswordRefused(pw1),
	}, {
		name: "whole user row restored from an older copy",
		setup: func(r *rig) int {
			r.cmdStdin(pw1+"\n", "user", "add", "-role", "staff", "bob")
			sqlDo(r.t, filepath.Join(r.data, "smsd.db"), "CREATE TABLE old AS SELECT * FROM users WHERE username = 'bob'")
			r.cmdStdin(pw2+"\n", "user", "passwd", "bob")
			return 0
		},
		attack: "DELETE FROM users WHERE username = 'bob'; INSERT INTO users SELECT * FROM old",
		check:  oldPasswordRefused(pw1),
	}, {
		name: "opt-out deleted, then a send",
		setup: func(r *rig) int {
			r.run("optouts", "add", "+15551230005")
			return 0
		},
		attack: "DELETE FROM optouts",
		check: func(t *testing.T, r *rig) {
			if out, errs, code := r.cmd("send", "-to", "+15551230005", "-text", "after the attack"); code == 0 {
				t.Errorf("a send to an opted-out number was queued after its opt-out was deleted: %q %q", out, errs)
			}
			time.Sleep(500 * time.Millisecond) // give a wrongly queued message the chance to go out
			for _, m := range r.emu.Handset() {
				if m.Text == "after the attack" {
					t.Error("the message reached a patient who had opted out")
				}
			}
		},
	}, {
		name: "delivered message set back to queued, parts deleted",
		setup: func(r *rig) int {
			r.run("send", "-to", "+15551230001", "-text", "delivered once")
			r.start()
			r.waitFor("message 1 delivered", 20*time.Second, func() bool { return r.queue()["delivered"] == 1 })
			r.stop()
			r.run("send", "-to", "+15551230002", "-text", "the other one")
			return 2
		},
		attack: "UPDATE messages SET state = 'queued', due_at = 0 WHERE id = 1; DELETE FROM message_parts WHERE message_id = 1",
		check:  onlyOnce("delivered once"),
	}, {
		name: "sealed number copied from another row",
		setup: func(r *rig) int {
			r.run("send", "-to", "+15551230001", "-text", "tampered")
			r.run("send", "-to", "+15551230002", "-text", "the other one")
			return 1
		},
		attack: "UPDATE messages SET to_sealed = (SELECT to_sealed FROM messages WHERE id = 2) WHERE id = 1",
		check:  never("tampered"),
	}, {
		name: "garbage sealed text in a queued message",
		setup: func(r *rig) int {
			r.run("send", "-to", "+15551230001", "-text", "tampered")
			r.run("send", "-to", "+15551230002", "-text", "the other one")
			return 1
		},
		attack: "UPDATE messages SET text_sealed = randomblob(60) WHERE id = 1",
		check:  never("tampered"),
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			r.t = t
			want := c.setup(r)
			sqlDo(t, filepath.Join(r.data, "smsd.db"), c.attack)
			r.start()
			if want > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if _, err := r.emu.WaitHandset(ctx, want); err != nil {
					t.Fatalf("the messages the attack did not touch were not all sent: %v\n%s", err, r.statusText())
				}
			}
			c.check(t, r)
		})
	}
}

// oldPasswordRefused: the account whose password cell (or whole row) was
// put back cannot be used with its old password: the store refuses the
// row instead of returning the old hash.
func oldPasswordRefused(old string) func(t *testing.T, r *rig) {
	return func(t *testing.T, r *rig) {
		r.stop()
		s := r.openStore()
		defer s.Close()
		u, err := s.UserByName(context.Background(), "bob")
		if err == nil {
			if ok, _ := crypt.VerifyPassword(u.PasswordHash, old); ok {
				t.Fatal("the old password opens the account again after its sealed cell was restored without the key")
			}
			t.Fatal("a tampered account row was accepted")
		}
		if !strings.Contains(err.Error(), "integrity") {
			t.Errorf("refused, but not for integrity: %v", err)
		}
	}
}

// onlyOnce: text reached the handset exactly once, and its message was
// quarantined (failed), not sent again.
func onlyOnce(text string) func(t *testing.T, r *rig) {
	return func(t *testing.T, r *rig) {
		n := 0
		for _, m := range r.emu.Handset() {
			if m.Text == text {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%q reached the handset %d times, want once", text, n)
		}
		checkQuarantined(t, r)
	}
}

// never: text never reached the handset, and its message is quarantined.
func never(text string) func(t *testing.T, r *rig) {
	return func(t *testing.T, r *rig) {
		for _, m := range r.emu.Handset() {
			if m.Text == text {
				t.Errorf("%q was sent after its row was tampered with", text)
			}
		}
		checkQuarantined(t, r)
	}
}

// checkQuarantined: smsd status -json counts one quarantined message.
func checkQuarantined(t *testing.T, r *rig) {
	t.Helper()
	out, _, _ := r.cmd("status", "-json")
	var st struct {
		Quarantined int `json:"quarantined"`
	}
	json.Unmarshal([]byte(out), &st)
	if st.Quarantined != 1 {
		t.Errorf("status counts %d quarantined messages, want 1\n%s", st.Quarantined, out)
	}
}
