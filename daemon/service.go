// Package daemon is the running appliance and the one service behind every
// door. It opens the store (key file, systemd credential or passphrase),
// holds the locked-mode state, runs the dispatcher and the periodic jobs,
// and owns every operation a person can ask for: send, status, inbox,
// messages and the decisions about them, opt-outs, accounts, keys. Each
// operation takes an ops.Actor, so role checks (and the audit trail) live
// here once. The control socket (package control) and the web UI are thin
// doors that declare the small interface they consume; neither holds a rule
// of its own, and cmd/smsd only wires and prints.
package daemon

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/dispatch"
	"github.com/clinicsms/smsd/internal/systemd"
	"github.com/clinicsms/smsd/modem/emulator"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// Service is the appliance: a store, and when it runs as `smsd serve`
// (Run) the dispatcher, the modems and the control socket. A Service opened
// by OpenDirect has the store only: the command line uses it when no daemon
// runs, with the same operations and rules.
type Service struct {
	cfg     config.Config
	log     *slog.Logger
	level   *slog.LevelVar
	notify  *systemd.Notifier
	started time.Time
	// daemon: Run serves this Service (false for OpenDirect).
	daemon bool
	// OnHandset, if set before Run, gets the emulated handset's messages
	// (smsd demo prints them).
	OnHandset func(emulator.HandsetMessage)
	// OpenDoors, if set before Run, opens the doors other than the control
	// socket (cmd/smsd wires the web UI here, so that daemon never imports
	// it). Run calls it once it holds the data directory's lock, and at the
	// end cancels its context and calls wait before closing the store.
	OpenDoors func(ctx context.Context) (wait func(), err error)
	// now is the clock for validation (tests move it).
	now func() time.Time
	// clockOffset is the test clock's offset (SetClockOffset); 0 = none.
	clockOffset time.Duration

	unlockMu sync.Mutex // one unlock at a time
	mu       sync.Mutex
	store    *queue.Store
	disp     *dispatch.Dispatcher
	emu      *emulator.Emulator
	unlocked chan struct{} // closed once the store is open
	release  func()        // OpenDirect: the serve lock
	// auditProblem is why the audit chain did not verify at start ("": it
	// did, or it was not checked).
	auditProblem string
	// auth is the sign-in machinery's state (auth.go).
	auth authState
	// remind is the reminders' state (remind.go).
	remind remindState
}

// New returns the Service `smsd serve` runs (see Run). level, if not nil,
// is the logger's level, which a reload (SIGHUP) changes.
func New(cfg config.Config, log *slog.Logger, level *slog.LevelVar) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if level == nil {
		level = new(slog.LevelVar)
	}
	return &Service{cfg: cfg, log: log, level: level, notify: systemd.New(log), started: time.Now(), daemon: true,
		now: time.Now, unlocked: make(chan struct{})}
}

// Config is the configuration the Service runs with.
func (s *Service) Config() config.Config { return s.cfg }

// Emulator returns the built-in emulated modem once it runs, else nil.
func (s *Service) Emulator() *emulator.Emulator {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.emu
}

// Store returns the open store, or nil while locked or opening. It is for
// tools that measure the appliance (smsd bench), not for doors: a door
// goes through the operations, where the rules are.
func (s *Service) Store() *queue.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store
}

// ready returns the open store. The control socket comes up before the
// store is opened (see Run), so a request that arrives while a key-file or
// credential store is still opening waits for it rather than being told the
// store is locked; only a passphrase store is refused until it is unlocked.
func (s *Service) ready(ctx context.Context) (*queue.Store, error) {
	if s.cfg.KeySource != config.KeyPassphrase {
		select {
		case <-s.unlocked:
		case <-ctx.Done():
			return nil, ops.Errorf(ops.CodeLocked, "smsd serve is still opening the store; try again in a moment (journalctl -u smsd says why if it does not finish)")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store == nil {
		return nil, ops.Errorf(ops.CodeLocked, "the store is locked (passphrase mode): unlock it with smsd key unlock")
	}
	return s.store, nil
}

// requireAdmin refuses an operation only an admin may ask for.
func requireAdmin(a ops.Actor, what string) error {
	if a.IsAdmin() {
		return nil
	}
	return ops.Errorf(ops.CodeDenied, "permission denied: only an administrator may "+what)
}

// Close closes a Service opened by OpenDirect: the store, then the lock.
// (A daemon's Service closes itself when Run returns.)
func (s *Service) Close() error {
	s.mu.Lock()
	st, release := s.store, s.release
	s.store, s.release = nil, nil
	s.mu.Unlock()
	var err error
	if st != nil {
		err = st.Close()
	}
	if release != nil {
		release()
	}
	return err
}

// pid is the process id status shows for a daemon.
func (s *Service) pid() int {
	if !s.daemon {
		return 0
	}
	return os.Getpid()
}
