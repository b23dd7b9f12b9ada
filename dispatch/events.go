package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/modem"
)

// modemWatchInterval is how often the dispatcher looks at each modem's
// health for events worth an audit row. A drop shorter than this still
// shows, in the modem's reconnect counter.
const modemWatchInterval = time.Second

// recordModemEvent writes a modem_event row (actor system). The audit
// trail keeps when the box could and could not send: init, unplug, replug,
// a refused PIN.
func (d *Dispatcher) recordModemEvent(ctx context.Context, id, outcome, detail string) {
	if _, err := d.store.Audit(context.WithoutCancel(ctx), audit.Event{Actor: "system", Action: audit.ModemEvent, ObjectType: "modem",
		ObjectID: id, Outcome: outcome, Detail: detail}); err != nil {
		d.log.Error("audit: could not record a modem event", "modem", id, "event", detail, "err", err)
	}
}

// watchModem turns changes of the modem's health into audit rows until ctx
// ends.
func (l *loop) watchModem(ctx context.Context) {
	t := time.NewTicker(modemWatchInterval)
	defer t.Stop()
	var last modem.Health
	seen := false
	for {
		h := l.m.Health()
		switch {
		case !seen && h.Connected:
			l.d.recordModemEvent(ctx, l.id, audit.OK, fmt.Sprintf("init: connected and initialised (%s %s, SIM %s)", h.Manufacturer, h.Model, h.SIM))
			seen = true
		case seen && last.Connected && !h.Connected:
			l.d.recordModemEvent(ctx, l.id, audit.Failed, "unplug: connection lost ("+lastErrorCode(h)+")")
		case seen && !last.Connected && h.Connected:
			l.d.recordModemEvent(ctx, l.id, audit.OK, "replug: reconnected and initialised")
		case seen && h.Connected && h.Reconnects > last.Reconnects:
			l.d.recordModemEvent(ctx, l.id, audit.OK, "connection lost and regained")
		}
		if seen || h.Connected {
			last = h
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lastErrorCode is the modem's last error as a short code for the log.
func lastErrorCode(h modem.Health) string {
	if h.LastError == "" {
		return "no error recorded"
	}
	return h.LastError
}

// modemStopDetail says why a modem stopped for good, for its audit row.
func modemStopDetail(err error) string {
	switch {
	case errors.Is(err, modem.ErrPINWrong):
		return "PIN refused: the SIM did not accept the configured PIN (it is not tried again)"
	case errors.Is(err, modem.ErrPUK):
		return "PIN refused: the SIM wants its PUK"
	case errors.Is(err, modem.ErrPINRequired):
		return "PIN refused: the SIM wants a PIN and none is configured"
	}
	return "stopped: " + err.Error()
}
