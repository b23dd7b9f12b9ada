package queue

import (
	"context"
	"testing"
)

func TestLifeSmoke(t *testing.T) {
	ctx := context.Background()
	_, s := openEnv(t)
	m := mustEnqueue(t, s, "(201) 555-0123", "Your appointment is tomorrow at 9")
	if m.To != "+12015550123" {
		t.Fatalf("To = %q", m.To)
	}
	c, err := s.Claim(ctx, "m1")
	if err != nil || c == nil || c.ID != m.ID || c.State != Sending || c.Reference == 0 || c.Attempts != 1 {
		t.Fatalf("claim: %+v %v", c, err)
	}
	if err := s.RecordPart(ctx, m.ID, 1, 1, 42); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSent(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	id, err := s.RecordStatusReport(ctx, 42, "2015550123", true, true)
	if err != nil || id != m.ID {
		t.Fatal(id, err)
	}
	got := mustState(t, s, m.ID, Delivered)
	if got.Text != m.Text || got.To != m.To {
		t.Fatalf("%+v", got)
	}
}
