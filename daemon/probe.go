package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/modem"
	"github.com/clinicsms/smsd/ops"
)

// Probe opens the modem at path (a device, or "auto"; "" is the configured
// one), initialises it and reports its health, then closes it. Two programs
// sending AT commands to one modem garble each other's answers, so it
// refuses while a daemon runs for cfg's data directory. The view is filled
// as far as the modem answered, also when err is not nil.
func Probe(ctx context.Context, cfg config.Config, path string) (ops.ModemStatus, error) {
	spec := cfg.ModemSpecs()[0]
	if path == "" {
		path = spec.Path
	}
	if path == "emulator" {
		return ops.ModemStatus{}, errors.New("the configured modem is the built-in emulator: nothing to probe (give -device /dev/ttyUSB2 or -device auto)")
	}
	if _, err := os.Stat(cfg.DataDir); err == nil {
		lock, held, err := LockFile(cfg.LockPath())
		if err == nil && held {
			return ops.ModemStatus{}, errors.New("smsd serve is running and using the modem: see its view with smsd status, or stop it first (systemctl stop smsd)")
		}
		if lock != nil {
			defer lock.Close()
		}
	}
	mc := ModemConfig(&cfg, path, spec.PIN)
	mc.Logger = slog.New(slog.DiscardHandler)
	h, err := modem.Probe(ctx, mc)
	v := HealthView(h)
	v.ID, v.Ready = spec.ID, err == nil && h.Ready
	return v, err
}

// HealthView is a modem's health as status shows it: IMEI masked,
// registration in words.
func HealthView(h modem.Health) ops.ModemStatus {
	return ops.ModemStatus{Ready: h.Ready, Connected: h.Connected, Port: h.Port, Manufacturer: h.Manufacturer, Model: h.Model,
		Revision: h.Revision, IMEI: mask.Serial(h.IMEI), SIM: h.SIM, SMSC: h.SMSC, Operator: h.Operator,
		Registration: h.Registration.String(), SignalDBm: h.SignalDBm, Bars: h.Bars, LastError: h.LastError,
		LastErrorAt: utc(h.LastErrorAt), CheckedAt: utc(h.CheckedAt), Reconnects: h.Reconnects,
		StorageUsed: h.StorageUsed, StorageTotal: h.StorageTotal}
}
