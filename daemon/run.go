package daemon

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/control"
	"github.com/clinicsms/smsd/dispatch"
	"github.com/clinicsms/smsd/internal/systemd"
	"github.com/clinicsms/smsd/internal/version"
	"github.com/clinicsms/smsd/modem"
	"github.com/clinicsms/smsd/modem/emulator"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/quiet"
)

// lockWait is how long Run waits for the serve lock that a command line
// tool holds for a moment while it uses the store directly.
const lockWait = 15 * time.Second

// Run is `smsd serve`: it takes the data directory's lock, opens the
// control socket, opens the store (or waits for its passphrase), runs the
// dispatcher and the periodic jobs until ctx is done (SIGTERM), then drains
// and returns.
func (s *Service) Run(ctx context.Context) error {
	if fi, err := os.Stat(s.cfg.DataDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("data directory %s does not exist: run smsd init -data-dir %s first", s.cfg.DataDir, s.cfg.DataDir)
	}
	if _, err := os.Stat(s.cfg.DBPath()); err != nil {
		return fmt.Errorf("no database in %s: run smsd init -data-dir %s first", s.cfg.DataDir, s.cfg.DataDir)
	}
	// A live daemon answers on the socket: refuse at once rather than wait
	// for a lock it will never give up.
	probe := &control.Client{Path: s.cfg.SocketPath(), Timeout: 2 * time.Second}
	if pid, err := probe.Ping(ctx); err == nil {
		return fmt.Errorf("another smsd serve (pid %d) already runs for %s (see systemctl status smsd); stop it first", pid, s.cfg.DataDir)
	}
	lock, held, err := LockFile(s.cfg.LockPath())
	for deadline := time.Now().Add(lockWait); err == nil && held && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		lock, held, err = LockFile(s.cfg.LockPath())
	}
	if err != nil {
		return err
	}
	if held {
		return fmt.Errorf("another process holds %s for more than %v (another smsd serve starting or stuck? see systemctl status smsd); stop it first", s.cfg.LockPath(), lockWait)
	}
	defer lock.Close()

	// The socket comes up before the store is opened, so that the command
	// line tools never open the store under a running daemon.
	ownDir, err := s.socketDir()
	if err != nil {
		return err
	}
	srv, err := control.Listen(s.cfg.SocketPath(), s, s.log)
	if err != nil {
		return err
	}
	s.shareSocket(srv, ownDir)
	srvDone := make(chan struct{})
	go func() { srv.Serve(context.WithoutCancel(ctx)); close(srvDone) }()
	defer func() { srv.Close(2 * time.Second); <-srvDone }()

	// The other doors (the web UI) open once this is the one serve of the
	// data directory, and close before the store does.
	shutDoors := func() {}
	if s.OpenDoors != nil {
		doorCtx, cancelDoors := context.WithCancel(context.WithoutCancel(ctx))
		wait, err := s.OpenDoors(doorCtx)
		if err != nil {
			cancelDoors()
			return err
		}
		shutDoors = sync.OnceFunc(func() { cancelDoors(); wait() })
		defer shutDoors()
	}

	if s.cfg.KeySource != config.KeyPassphrase {
		if err := s.open(ctx, nil); err != nil {
			if ctx.Err() != nil {
				// SIGTERM while the store was still opening (a long first
				// integrity pass): a stop asked for, not a failure.
				s.notify.Stopping()
				s.log.Info("smsd stopping before the store was open")
				return nil
			}
			return err
		}
	} else {
		s.log.Warn("locked mode: the store is protected by a passphrase; nothing is sent until an admin runs smsd key unlock")
		s.notify.Status("locked: waiting for smsd key unlock")
	}
	s.notify.Ready()
	s.log.Info("smsd serving", "version", version.Version, "data_dir", s.cfg.DataDir, "control", s.cfg.SocketPath())

	go s.notify.RunWatchdog(ctx, systemd.WatchdogInterval(), s.alive)

	var runErr error
	select {
	case <-ctx.Done():
	case <-s.unlocked:
		runErr = s.serveUnlocked(ctx)
	}
	s.notify.Stopping()
	s.log.Info("smsd stopping")
	shutDoors()
	s.mu.Lock()
	st, emu := s.store, s.emu
	s.mu.Unlock()
	if st != nil {
		st.Close()
	}
	if emu != nil {
		emu.Close()
	}
	return runErr
}

// serveUnlocked runs the dispatcher and the periodic jobs until ctx is done.
func (s *Service) serveUnlocked(ctx context.Context) error {
	s.mu.Lock()
	disp, store := s.disp, s.store
	s.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- disp.Run(ctx) }()
	status := time.NewTicker(5 * time.Second)
	defer status.Stop()
	purge := time.NewTicker(24 * time.Hour)
	defer purge.Stop()
	sweep := time.NewTicker(sweepInterval)
	defer sweep.Stop()
	s.startAudit(ctx, store)
	s.purge(ctx, store)
	s.logSetupCode(ctx, store)
	s.sweepSessions(ctx)
	s.notify.Status(disp.Status().Summary())
	for {
		select {
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("%w (fix the modem setup, then restart smsd)", err)
			}
			return nil
		case <-status.C:
			s.notify.Status(disp.Status().Summary())
		case <-sweep.C:
			s.sweepSessions(ctx)
		case <-purge.C:
			s.purge(ctx, store)
			s.signHead(ctx, "daily")
		}
	}
}

func (s *Service) purge(ctx context.Context, st *queue.Store) {
	if n, err := st.PurgeExpired(ctx); err != nil {
		s.log.Error("retention purge failed", "err", err)
	} else if n > 0 {
		s.log.Info("retention: erased the content of old messages", "count", n)
	}
}

// open opens the store and builds the dispatcher; it closes s.unlocked.
func (s *Service) open(ctx context.Context, passphrase []byte) error {
	opt := StoreOptions(&s.cfg, s.log.With("component", "queue"))
	opt.Now = s.movedClock() // the test clock (SetClockOffset) moves the store's too
	st, err := queue.Open(ctx, s.cfg.DBPath(), KeySource(&s.cfg, passphrase), opt)
	if err != nil {
		return err
	}
	disp, err := s.newDispatcher(st)
	if err != nil {
		st.Close()
		return err
	}
	s.mu.Lock()
	s.store, s.disp = st, disp
	s.mu.Unlock()
	close(s.unlocked)
	return nil
}

// ModemConfig is the modem package's configuration for the modem at path.
func ModemConfig(cfg *config.Config, path, pin string) modem.Config {
	return modem.Config{
		Path:           path,
		Baud:           cfg.Baud,
		PIN:            pin,
		CommandTimeout: cfg.CommandTimeout.Duration,
		SendTimeout:    cfg.SendTimeout.Duration,
		MaxParts:       cfg.MaxParts,
		StatusReports:  cfg.StatusReports,
		Validity:       cfg.Validity.Duration,
		HealthInterval: cfg.HealthInterval.Duration,
		ReconnectMax:   cfg.ReconnectMax.Duration,
	}
}

func (s *Service) newDispatcher(st *queue.Store) (*dispatch.Dispatcher, error) {
	loc, _ := s.cfg.Location()
	var q *quiet.Hours
	if s.cfg.QuietHours != "" {
		var err error
		if q, err = quiet.Parse(s.cfg.QuietHours, loc); err != nil {
			return nil, err
		}
	}
	var mcs []dispatch.ModemConfig
	for _, spec := range s.cfg.ModemSpecs() {
		path := spec.Path
		if path == "emulator" {
			emu, err := s.startEmulator()
			if err != nil {
				return nil, err
			}
			path = emu.Path()
		}
		rate := spec.RateLimit
		if rate == 0 {
			rate = -1 // config: 0 = no limit; dispatch: <0 = no limit
		}
		mcs = append(mcs, dispatch.ModemConfig{
			ID:        spec.ID,
			RateLimit: rate,
			DailyCap:  spec.DailyCap,
			Modem:     ModemConfig(&s.cfg, path, spec.PIN),
		})
	}
	return dispatch.New(dispatch.Config{
		Store:        st,
		Modems:       mcs,
		HelpText:     s.cfg.HelpText,
		QuietHours:   q,
		Location:     loc,
		StallTimeout: s.cfg.StallTimeout.Duration,
		Logger:       s.log,
		// Replies that answer a reminder, and the clinic the opt-in
		// confirmation names.
		ConfirmWords:    s.cfg.ConfirmWords,
		RescheduleWords: s.cfg.RescheduleWords,
		ClinicName:      s.cfg.ClinicName,
		Now:             s.movedClock(),
	})
}

// startEmulator starts the built-in emulated modem once.
func (s *Service) startEmulator() (*emulator.Emulator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.emu != nil {
		return s.emu, nil
	}
	emu, err := emulator.Start(emulator.Config{Logger: s.log.With("component", "emulator"), OnHandset: s.OnHandset})
	if err != nil {
		return nil, fmt.Errorf("start the emulated modem: %w", err)
	}
	s.emu = emu
	s.log.Info("using the built-in emulated modem (no real SMS is sent)", "pty", emu.Path())
	return emu, nil
}

// alive is what the watchdog asks: locked (waiting for a person) counts as
// alive; once running, the dispatcher decides.
func (s *Service) alive() bool {
	s.mu.Lock()
	disp := s.disp
	s.mu.Unlock()
	if disp == nil {
		return true
	}
	return disp.Alive()
}

// Reload applies what is safe to change at run time (SIGHUP): the log
// level, read again from the configuration file at path.
func (s *Service) Reload(path string) {
	s.notify.Reloading()
	defer s.notify.Ready()
	cfg, err := config.Load(path)
	if err != nil {
		s.log.Error("SIGHUP: configuration not reloaded; keeping the running one", "err", err)
		return
	}
	// Logged before the new level applies, so that it shows even when the
	// new level is quieter.
	s.log.Info("SIGHUP: configuration reloaded: log_level applied; other settings (modems, rate limits, help text, quiet hours, keys) take effect at the next restart", "log_level", cfg.LogLevel)
	if lvl, err := config.ParseLevel(cfg.LogLevel); err == nil {
		s.level.Set(lvl)
	}
	if st := s.Store(); st != nil {
		if _, err := st.Audit(context.Background(), audit.Event{Actor: ops.System.String(), Role: ops.System.Role, Action: audit.ConfigChange,
			ObjectType: "config", ObjectID: path, Detail: "SIGHUP: log_level=" + cfg.LogLevel}); err != nil {
			s.log.Error("audit: could not record the reload", "err", err)
		}
	}
}

// startAudit records the start, checks the audit chain against every signed
// head, and signs the head. A broken chain is raised loudly (journal,
// status, its own row) but does not stop sending: reminders that stop would
// harm patients, while the evidence of tampering is kept where it is for
// the compliance officer, and every new row still chains on.
func (s *Service) startAudit(ctx context.Context, st *queue.Store) {
	if _, err := st.Audit(ctx, audit.Event{Actor: ops.System.String(), Role: ops.System.Role, Action: audit.Start,
		ObjectType: "appliance", Detail: "smsd " + version.Version + " serving"}); err != nil {
		s.log.Error("audit: could not record the start", "err", err)
	}
	head, n, err := st.AuditCheck(ctx)
	e := audit.Event{Actor: ops.System.String(), Role: ops.System.Role, Action: audit.AuditCheck, ObjectType: "audit_log", Detail: fmt.Sprintf("at start: head=%s signed_heads=%d", head, n)}
	if err != nil {
		e.Outcome, e.Detail = audit.Failed, "at start: "+err.Error()
		s.mu.Lock()
		s.auditProblem = err.Error()
		s.mu.Unlock()
		s.log.Error("AUDIT LOG BROKEN: the audit trail does not verify; sending goes on; keep the box as it is and tell the compliance officer (smsd audit check says where)", "err", err)
		s.notify.Status("AUDIT LOG BROKEN: see smsd audit check")
	}
	if _, err := st.Audit(ctx, e); err != nil {
		s.log.Error("audit: could not record the start check", "err", err)
	}
	s.signHead(ctx, "start")
}
