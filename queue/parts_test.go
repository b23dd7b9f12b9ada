package queue

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestInboundParts: parts are stored sealed (the TPDU never in clear in the
// file), filed under their modem, read back oldest first, and deleted by
// id; the group index is the same for the parts of one message and differs
// for another sender, reference or total.
func TestInboundParts(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	g := s.PartGroup("+15550009999", 1, 7, 2)
	for _, other := range [][]byte{
		s.PartGroup("+15550009998", 1, 7, 2),
		s.PartGroup("+15550009999", 2, 7, 2),
		s.PartGroup("+15550009999", 1, 8, 2),
		s.PartGroup("+15550009999", 1, 7, 3),
	} {
		if bytes.Equal(g, other) {
			t.Errorf("two messages share a group index")
		}
	}
	if !bytes.Equal(g, s.PartGroup("+15550009999", 1, 7, 2)) {
		t.Errorf("the parts of one message got different group indexes")
	}
	secret := []byte("PDU-BYTES-OF-A-PATIENT")
	adds := []struct {
		modem string
		tpdu  []byte
	}{
		{"m1", append(secret, 1)},
		{"m2", append(secret, 2)},
		{"m1", append(secret, 3)},
	}
	var ids []int64
	for i, a := range adds {
		id, err := s.AddPart(ctx, a.modem, g, a.tpdu, e.clk.Now().Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var clear int
	s.w.QueryRow("SELECT COUNT(*) FROM inbound_parts WHERE instr(pdu_sealed, ?) > 0", secret).Scan(&clear)
	if clear != 0 {
		t.Errorf("%d parts stored in clear", clear)
	}
	cases := []struct {
		modem string
		want  []int64
	}{
		{"m1", []int64{ids[0], ids[2]}},
		{"m2", []int64{ids[1]}},
		{"m3", nil},
	}
	for _, c := range cases {
		got, err := s.Parts(ctx, c.modem)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(c.want) {
			t.Fatalf("%s: %d parts, want %d", c.modem, len(got), len(c.want))
		}
		for i, p := range got {
			if p.ID != c.want[i] || !bytes.HasPrefix(p.TPDU, secret) || !bytes.Equal(p.Group, g) || p.ModemID != c.modem {
				t.Errorf("%s part %d: %+v", c.modem, i, p)
			}
		}
	}
	if err := s.DeleteParts(ctx, []int64{ids[0], ids[1], 999}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PartsWaiting(ctx); err != nil || n != 1 {
		t.Errorf("%d parts waiting (%v), want 1", n, err)
	}
	if got, _ := s.Parts(ctx, "m1"); len(got) != 1 || got[0].ID != ids[2] {
		t.Errorf("after delete: %+v", got)
	}
	if _, err := s.AddPart(ctx, "m1", g, nil, time.Time{}); err == nil {
		t.Error("an empty part was stored")
	}
}

// TestAddInboundFromPartsOneTransaction: the reassembled message and the
// deletion of its parts commit together. A failure at the deletion (what a
// crash between two transactions would have left: the message stored and
// its parts still waiting, handed on again after a restart) leaves
// neither change; the retry stores the message once and the parts are
// gone. A message stored before (an older run) still has its parts
// deleted, and is not stored twice.
func TestAddInboundFromPartsOneTransaction(t *testing.T) {
	e, s := openEnv(t)
	ctx := context.Background()
	g := s.PartGroup("+15550001234", 1, 3, 2)
	var ids []int64
	for i := range 2 {
		id, err := s.AddPart(ctx, "m1", g, []byte{byte(i + 1)}, e.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	count := func(table string) int {
		var n int
		if err := s.w.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	in := Inbound{From: "+15550001234", Text: "Cancel my visit", SentAt: e.clk.Now()}

	if _, err := s.w.Exec("CREATE TRIGGER crash_between BEFORE DELETE ON inbound_parts BEGIN SELECT RAISE(ABORT, 'crash between'); END"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddInboundFromParts(ctx, in, ids); err == nil {
		t.Fatal("AddInboundFromParts succeeded though deleting the parts failed")
	}
	if n, p := count("inbound"), count("inbound_parts"); n != 0 || p != 2 {
		t.Fatalf("after a failed deletion: %d inbound rows, %d parts; want 0 and 2 (nothing committed)", n, p)
	}
	if _, err := s.w.Exec("DROP TRIGGER crash_between"); err != nil {
		t.Fatal(err)
	}
	stored, err := s.AddInboundFromParts(ctx, in, ids)
	if err != nil {
		t.Fatal(err)
	}
	if n, p := count("inbound"), count("inbound_parts"); n != 1 || p != 0 {
		t.Fatalf("after the retry: %d inbound rows, %d parts; want 1 and 0", n, p)
	}
	if got, err := s.GetInbound(ctx, stored.ID); err != nil || got.Text != in.Text {
		t.Fatalf("stored %+v, %v", got, err)
	}

	// Left by an older run: the message stored, its parts not deleted.
	id3, err := s.AddPart(ctx, "m1", g, []byte{3}, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.AddInboundFromParts(ctx, in, []int64{id3})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != stored.ID || count("inbound") != 1 || count("inbound_parts") != 0 {
		t.Fatalf("message stored again as %d (first %d), %d rows, %d parts", again.ID, stored.ID, count("inbound"), count("inbound_parts"))
	}
}
