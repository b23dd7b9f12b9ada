package dispatch

import (
	"context"
	"testing"
	"time"

	"github.com/clinicsms/smsd/modem/pdu"
)

// TestInboundMultipartPartsLeaveWithMessage: a two-part reply is joined
// from the parts kept in the store; the message and the deletion of its
// parts commit together, so once the inbox shows it no part waits.
func TestInboundMultipartPartsLeaveWithMessage(t *testing.T) {
	r := newRig(t)
	r.start()
	r.waitReady()
	for seq, text := range []string{"Please move my ", "appointment"} {
		tpdu, err := pdu.EncodeDeliver(alice, text, time.Now(), &pdu.Concat{Ref: 41, Total: 2, Seq: seq + 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.emus[0].InjectPDU(append([]byte{0x00}, tpdu...)); err != nil {
			t.Fatal(err)
		}
	}
	in := r.waitInbox(1)
	if in[0].Text != "Please move my appointment" || in[0].Incomplete {
		t.Errorf("inbox: %q incomplete %v", in[0].Text, in[0].Incomplete)
	}
	if n, err := r.store.PartsWaiting(context.Background()); err != nil || n != 0 {
		t.Errorf("%d parts still waiting (%v) once the message is stored", n, err)
	}
}
