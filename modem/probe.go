package modem

import (
	"context"
	"errors"
)

// Probe opens the modem of cfg once, initialises it (entering cfg.PIN if the
// SIM asks), reads its health and closes it again: what `smsd modem probe`
// shows. It does not read or delete stored messages. With Path "auto" it
// reports the port it found in Health.Port.
func Probe(ctx context.Context, cfg Config) (Health, error) {
	m, err := New(cfg)
	if err != nil {
		return Health{}, err
	}
	port, path, err := m.open(ctx)
	if err != nil {
		return m.Health(), err
	}
	at := newATEngine(port, m.log, newURCQueue())
	defer at.Close()
	m.mu.Lock()
	m.health.Port = path
	m.mu.Unlock()
	if err := m.initModem(ctx, at); err != nil {
		h := m.Health()
		h.LastError = err.Error()
		return h, err
	}
	m.mu.Lock()
	m.health.Connected = true
	m.health.Ready = m.health.Registration.Registered()
	h := m.health
	m.mu.Unlock()
	if !h.Ready {
		return h, &Error{Op: "probe", CMS: -1, CME: -1, Transient: true,
			Err: errors.New("modem answers but is not registered on the network (" + h.Registration.String() + "): check the SIM, the antenna and coverage")}
	}
	return h, nil
}
