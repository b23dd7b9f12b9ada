package dispatch

import (
	"context"
	"testing"
	"time"

	"github.com/clinicsms/smsd/modem"
	"github.com/clinicsms/smsd/queue"
)

// TestInboundNationalSenderKeywords: STOP, START and HELP from a sender in
// national format act on the E.164 number only when the region (US) makes
// a valid number of it; otherwise nobody is opted out or in, and no reply
// is queued to a number the sender does not have.
func TestInboundNationalSenderKeywords(t *testing.T) {
	cases := []struct {
		name, from, text string
		number           string // the E.164 number the region would make of from
		preOptOut        bool   // number opted out before the message
		wantOptedOut     bool
		wantQueued       int // replies queued: HELP's answer, or the one opt-out or opt-in confirmation
	}{
		{"STOP from a German mobile in national format", "0170123456", "STOP", "+10170123456", false, false, 0},
		{"STOP from a seven-digit local number", "5551234", "STOP", "+15551234", false, false, 0},
		{"START from a national number that is no US number", "0170123456", "START", "+10170123456", true, true, 0},
		{"HELP from a national number that is no US number", "0170123456", "HELP", "+10170123456", false, false, 0},
		{"STOP from a valid US number in national format", "2015550123", "STOP", "+12015550123", false, true, 1},
		{"START from a valid US number in national format", "2015550123", "START", "+12015550123", true, false, 1},
		{"HELP from a valid US number in national format", "2015550123", "HELP", "+12015550123", false, false, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, withHelp("Example Clinic reminders. Reply STOP to opt out."))
			d, err := New(r.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if c.preOptOut {
				if err := r.store.OptOut(ctx, c.number); err != nil {
					t.Fatal(err)
				}
			}
			in := modem.Inbound{From: c.from, Text: c.text, SentAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), Parts: 1}
			if err := d.loops[0].onInbound(ctx, in); err != nil {
				t.Fatal(err)
			}
			if got, err := r.store.IsOptedOut(ctx, c.number); err != nil || got != c.wantOptedOut {
				t.Errorf("%s opted out = %v (%v), want %v", c.number, got, err, c.wantOptedOut)
			}
			counts, _ := r.store.Counts(ctx)
			if counts[queue.Queued] != c.wantQueued {
				t.Errorf("%d replies queued, want %d", counts[queue.Queued], c.wantQueued)
			}
		})
	}
}
