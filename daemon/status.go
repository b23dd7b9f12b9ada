package daemon

import (
	"context"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/dispatch"
	"github.com/clinicsms/smsd/internal/version"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/web/localca"
)

// Status is the appliance's state: the daemon's, its modems' and the
// queue's depth by state. A Service opened directly (no daemon) reports
// the queue only, with Running false. It carries no PHI.
func (s *Service) Status(ctx context.Context, a ops.Actor) (_ ops.Status, err error) {
	ctx, rec := begin(ctx, a, audit.StatusView, "appliance", "")
	defer func() {
		if s.Store() != nil {
			err = s.finish(ctx, rec, err)
		}
	}()
	st := ops.Status{Version: version.Version, PID: s.pid(), DataDir: s.cfg.DataDir, Running: s.daemon, Queue: map[string]int{}, Modems: []ops.ModemStatus{}}
	if s.daemon {
		st.StartedAt = s.started.UTC()
	}
	s.mu.Lock()
	disp, store := s.disp, s.store
	st.AuditProblem = s.auditProblem
	s.mu.Unlock()
	switch {
	case disp != nil:
		statusFromDispatch(&st, disp.Status())
	case store != nil:
		counts, err := store.Counts(ctx)
		if err != nil {
			return st, err
		}
		for k, v := range counts {
			st.Queue[string(k)] = v
		}
	default:
		// No store yet: waiting for its passphrase, or still opening it.
		st.Locked = s.cfg.KeySource == config.KeyPassphrase
		st.Starting = !st.Locked
	}
	if s.cfg.TLSCert == "" {
		// Only a CA that exists: status never makes one. A damaged ca.pem
		// shows no fingerprint here; smsd serve refuses it loudly at start.
		if fp, err := localca.Fingerprint(s.cfg.DataDir); err == nil {
			st.CAFingerprint = fp
		}
	}
	st.Backup = BackupState(s.cfg)
	if store != nil {
		n, err := store.Quarantined(ctx)
		if err != nil {
			return st, err
		}
		st.Quarantined = n
	}
	return st, nil
}

// statusFromDispatch copies the dispatcher's snapshot into the view.
func statusFromDispatch(st *ops.Status, ds dispatch.Status) {
	st.Alive, st.QueueError, st.QuietHours = ds.Alive, ds.QueueError, ds.QuietHours
	for k, v := range ds.Queue {
		st.Queue[k] = v
	}
	for _, m := range ds.Modems {
		v := HealthView(m.Health)
		v.IMEI = m.Health.IMEI // dispatch.Status masked it already
		v.ID, v.Ready, v.State, v.Until, v.LastBeat = m.ID, m.Ready, m.State, utc(m.Until), utc(m.LastBeat)
		v.SentToday, v.DailyCap, v.RateLimit = m.StartedDay, m.DailyCap, m.RateLimit
		v.Sent, v.Failed, v.Retried, v.Uncertain = m.Sent, m.Failed, m.Retried, m.Uncertain
		if m.LastError != "" {
			v.LastError = m.LastError // the loop's error code says more than the modem's last answer
		}
		st.Modems = append(st.Modems, v)
	}
}
