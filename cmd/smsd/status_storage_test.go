package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/clinicsms/smsd/ops"
)

// TestPrintStatusStorage: smsd status shows the SIM's message storage and
// says when it is nearly full (80 %), the state in which a flood of parts
// would make the network hold a patient's STOP back.
func TestPrintStatusStorage(t *testing.T) {
	cases := []struct {
		used, total int
		want        string // "" : no storage shown
		warn        bool
	}{
		{3, 30, "SIM storage 3/30", false},
		{23, 30, "SIM storage 23/30", false},
		{24, 30, "SIM storage 24/30", true},
		{30, 30, "SIM storage 30/30", true},
		{0, 0, "", false},
	}
	for _, c := range cases {
		var b bytes.Buffer
		printStatus(&b, ops.Status{Running: true, Modems: []ops.ModemStatus{{ID: "modem1", Ready: true, StorageUsed: c.used, StorageTotal: c.total}}})
		out := b.String()
		if c.want != "" && !strings.Contains(out, c.want) || c.want == "" && strings.Contains(out, "SIM storage") {
			t.Errorf("%d/%d: %q, want %q", c.used, c.total, out, c.want)
		}
		if got := strings.Contains(out, "NEARLY FULL"); got != c.warn {
			t.Errorf("%d/%d: nearly-full warning %v, want %v: %q", c.used, c.total, got, c.warn, out)
		}
	}
}
