package main

import (
	"context"
	"log/slog"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/web"
)

// webDoor returns the daemon's OpenDoors: the web UI's listener as cfg
// says (none when listen is ""), served until the daemon stops. opened,
// if not nil, learns where it listens.
func webDoor(cfg config.Config, svc *daemon.Service, log *slog.Logger, opened func(web.ListenInfo)) func(context.Context) (func(), error) {
	return func(ctx context.Context) (func(), error) {
		ln, info, err := web.Listen(cfg, log)
		if err != nil || ln == nil {
			return func() {}, err
		}
		loc, _ := cfg.Location() // config.Check refused a bad one already; time.Local then
		srv, err := web.New(web.Options{Service: svc, Log: log, TLS: info.TLS, CAPEM: info.CAPEM, Location: loc, Now: svc.MovedClock()})
		if err != nil {
			ln.Close()
			return nil, err
		}
		log.Info("web UI listening", "url", info.URL, "ca_fingerprint", info.CAFingerprint)
		if opened != nil {
			opened(info)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := srv.Serve(ctx, ln); err != nil {
				log.Error("web UI stopped", "err", err)
			}
		}()
		return func() { <-done }, nil
	}
}
