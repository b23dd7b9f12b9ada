package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/control"
	"github.com/clinicsms/smsd/dispatch"
	"github.com/clinicsms/smsd/internal/systemd"
	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/modem"
	"github.com/clinicsms/smsd/modem/emulator"
	"github.com/clinicsms/smsd/modem/pdu"
	"github.com/clinicsms/smsd/queue"
)

// daemon is `smsd serve`: the store, the dispatcher and the control socket.
// It also implements control.Handler.
type daemon struct {
	cfg     config.Config
	log     *slog.Logger
	level   *slog.LevelVar
	notify  *systemd.Notifier
	started time.Time
	// emu is the built-in emulated modem (-modem emulator), else nil.
	emu *emulator.Emulator
	// onHandset, if set, gets the emulated handset's messages (demo).
	onHandset func(emulator.HandsetMessage)

	unlockMu sync.Mutex // one unlock at a time
	mu       sync.Mutex
	store    *queue.Store
	disp     *dispatch.Dispatcher
	unlocked chan struct{} // closed once the store is open
}

func newDaemon(cfg config.Config, log *slog.Logger, level *slog.LevelVar) *daemon {
	return &daemon{cfg: cfg, log: log, level: level, notify: systemd.New(log), started: time.Now(), unlocked: make(chan struct{})}
}

// run serves until ctx is done (SIGTERM), then drains and returns.
func (d *daemon) run(ctx context.Context) error {
	if fi, err := os.Stat(d.cfg.DataDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("data directory %s does not exist: run smsd init -data-dir %s first", d.cfg.DataDir, d.cfg.DataDir)
	}
	if _, err := os.Stat(d.cfg.DBPath()); err != nil {
		return fmt.Errorf("no database in %s: run smsd init -data-dir %s first", d.cfg.DataDir, d.cfg.DataDir)
	}
	// The command line tools hold the lock for a moment while they use the
	// store directly; a second daemon holds it for good. Wait a little.
	lock, held, err := lockFile(d.cfg.LockPath())
	for deadline := time.Now().Add(15 * time.Second); err == nil && held && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		lock, held, err = lockFile(d.cfg.LockPath())
	}
	if err != nil {
		return err
	}
	if held {
		return fmt.Errorf("another smsd serve already runs for %s (see systemctl status smsd); stop it first", d.cfg.DataDir)
	}
	defer lock.Close()

	// The socket comes up before the store is opened, so that the command
	// line tools never open the store under a running daemon.
	srv, err := control.Listen(d.cfg.SocketPath(), d, d.log)
	if err != nil {
		return err
	}
	srvDone := make(chan struct{})
	go func() { srv.Serve(context.WithoutCancel(ctx)); close(srvDone) }()
	defer func() { srv.Close(2 * time.Second); <-srvDone }()

	if d.cfg.KeySource != config.KeyPassphrase {
		if err := d.open(ctx, nil); err != nil {
			return err
		}
	} else {
		d.log.Warn("locked mode: the store is protected by a passphrase; nothing is sent until an admin runs smsd key unlock")
		d.notify.Status("locked: waiting for smsd key unlock")
	}
	d.notify.Ready()
	d.log.Info("smsd serving", "version", version, "data_dir", d.cfg.DataDir, "control", d.cfg.SocketPath())

	go d.notify.RunWatchdog(ctx, systemd.WatchdogInterval(), d.alive)

	var runErr error
	select {
	case <-ctx.Done():
	case <-d.unlocked:
		runErr = d.serveUnlocked(ctx)
	}
	d.notify.Stopping()
	d.log.Info("smsd stopping")
	d.mu.Lock()
	s := d.store
	d.mu.Unlock()
	if s != nil {
		s.Close()
	}
	if d.emu != nil {
		d.emu.Close()
	}
	return runErr
}

// serveUnlocked runs the dispatcher and the periodic jobs until ctx is done.
func (d *daemon) serveUnlocked(ctx context.Context) error {
	d.mu.Lock()
	disp, store := d.disp, d.store
	d.mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- disp.Run(ctx) }()
	status := time.NewTicker(5 * time.Second)
	defer status.Stop()
	purge := time.NewTicker(24 * time.Hour)
	defer purge.Stop()
	d.purge(ctx, store)
	d.notify.Status(disp.Status().Summary())
	for {
		select {
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("%w (fix the modem setup, then restart smsd)", err)
			}
			return nil
		case <-status.C:
			d.notify.Status(disp.Status().Summary())
		case <-purge.C:
			d.purge(ctx, store)
		}
	}
}

func (d *daemon) purge(ctx context.Context, s *queue.Store) {
	if n, err := s.PurgeExpired(ctx); err != nil {
		d.log.Error("retention purge failed", "err", err)
	} else if n > 0 {
		d.log.Info("retention: erased the content of old messages", "count", n)
	}
}

// open opens the store and builds the dispatcher; it closes d.unlocked.
func (d *daemon) open(ctx context.Context, passphrase []byte) error {
	s, err := queue.Open(ctx, d.cfg.DBPath(), keySource(&d.cfg, passphrase), storeOptions(&d.cfg, d.log.With("component", "queue")))
	if err != nil {
		return err
	}
	disp, err := d.newDispatcher(s)
	if err != nil {
		s.Close()
		return err
	}
	d.mu.Lock()
	d.store, d.disp = s, disp
	d.mu.Unlock()
	close(d.unlocked)
	return nil
}

// modemConfig is the modem package's configuration for the modem at path.
func modemConfig(cfg *config.Config, path, pin string) modem.Config {
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

func (d *daemon) newDispatcher(s *queue.Store) (*dispatch.Dispatcher, error) {
	loc, _ := d.cfg.Location()
	var quiet *dispatch.QuietHours
	if d.cfg.QuietHours != "" {
		q, err := dispatch.ParseQuietHours(d.cfg.QuietHours, loc)
		if err != nil {
			return nil, err
		}
		quiet = q
	}
	var mcs []dispatch.ModemConfig
	for _, spec := range d.cfg.ModemSpecs() {
		path := spec.Path
		if path == "emulator" {
			if d.emu == nil {
				emu, err := emulator.Start(emulator.Config{Logger: d.log.With("component", "emulator"), OnHandset: d.onHandset})
				if err != nil {
					return nil, fmt.Errorf("start the emulated modem: %w", err)
				}
				d.emu = emu
				d.log.Info("using the built-in emulated modem (no real SMS is sent)", "pty", emu.Path())
			}
			path = d.emu.Path()
		}
		rate := spec.RateLimit
		if rate == 0 {
			rate = -1 // config: 0 = no limit; dispatch: <0 = no limit
		}
		mcs = append(mcs, dispatch.ModemConfig{
			ID:        spec.ID,
			RateLimit: rate,
			DailyCap:  spec.DailyCap,
			Modem:     modemConfig(&d.cfg, path, spec.PIN),
		})
	}
	return dispatch.New(dispatch.Config{
		Store:        s,
		Modems:       mcs,
		HelpText:     d.cfg.HelpText,
		QuietHours:   quiet,
		Location:     loc,
		StallTimeout: d.cfg.StallTimeout.Duration,
		Logger:       d.log,
	})
}

// alive is what the watchdog asks: locked (waiting for a person) counts as
// alive; once running, the dispatcher decides.
func (d *daemon) alive() bool {
	d.mu.Lock()
	disp := d.disp
	d.mu.Unlock()
	if disp == nil {
		return true
	}
	return disp.Alive()
}

// reload applies what is safe to change at run time (SIGHUP): the log level.
func (d *daemon) reload(path string) {
	d.notify.Reloading()
	defer d.notify.Ready()
	cfg, err := config.Load(path)
	if err != nil {
		d.log.Error("SIGHUP: configuration not reloaded; keeping the running one", "err", err)
		return
	}
	// Logged before the new level applies, so that it shows even when the
	// new level is quieter.
	d.log.Info("SIGHUP: configuration reloaded: log_level applied; other settings (modems, rate limits, help text, quiet hours, keys) take effect at the next restart", "log_level", cfg.LogLevel)
	if lvl, err := config.ParseLevel(cfg.LogLevel); err == nil {
		d.level.Set(lvl)
	}
}

// ready returns the open store. The control socket comes up before the
// store is opened (see run), so a request that arrives while a key-file or
// credential store is still opening waits for it rather than being told the
// store is locked; only a passphrase store is refused until it is unlocked.
func (d *daemon) ready(ctx context.Context) (*queue.Store, *dispatch.Dispatcher, error) {
	if d.cfg.KeySource != config.KeyPassphrase {
		select {
		case <-d.unlocked:
		case <-ctx.Done():
			return nil, nil, control.Errorf(control.CodeLocked, "smsd serve is still opening the store; try again in a moment (journalctl -u smsd says why if it does not finish)")
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.store == nil {
		return nil, nil, control.Errorf(control.CodeLocked, "the store is locked (passphrase mode): unlock it with smsd key unlock")
	}
	return d.store, d.disp, nil
}

// Send implements control.Handler.
func (d *daemon) Send(ctx context.Context, r control.SendRequest) (control.SendResult, error) {
	s, _, err := d.ready(ctx)
	if err != nil {
		return control.SendResult{}, err
	}
	return enqueue(ctx, s, r)
}

// enqueue is the one path from a send request into the store (daemon and
// direct mode).
func enqueue(ctx context.Context, s *queue.Store, r control.SendRequest) (control.SendResult, error) {
	m, err := s.Enqueue(ctx, queue.NewMessage{To: r.To, Text: r.Text, SendAt: r.SendAt, IdempotencyKey: r.IdempotencyKey, CreatedBy: r.CreatedBy})
	switch {
	case err == nil:
	case errors.Is(err, queue.ErrOptedOut):
		return control.SendResult{}, control.Errorf(control.CodeOptedOut, err.Error())
	case errors.Is(err, queue.ErrInvalidNumber):
		return control.SendResult{}, control.Errorf(control.CodeInvalidNumber, err.Error())
	case errors.Is(err, queue.ErrIdempotencyConflict):
		return control.SendResult{}, control.Errorf(control.CodeConflict, err.Error())
	default:
		return control.SendResult{}, err
	}
	c := pdu.CountText(m.Text)
	return control.SendResult{ID: m.ID, State: string(m.State), To: mask.Number(m.To), Parts: c.Parts, Encoding: c.Encoding.String(), SendAt: m.SendAt}, nil
}

// Status implements control.Handler.
func (d *daemon) Status(ctx context.Context) (control.Status, error) {
	st := control.Status{Version: version, PID: os.Getpid(), StartedAt: d.started, DataDir: d.cfg.DataDir, Running: true, Queue: map[string]int{}}
	d.mu.Lock()
	disp := d.disp
	d.mu.Unlock()
	if disp == nil {
		// No store yet: waiting for its passphrase, or still opening it.
		st.Locked = d.cfg.KeySource == config.KeyPassphrase
		st.Starting = !st.Locked
		return st, nil
	}
	ds := disp.Status()
	st.Dispatch = &ds
	st.Queue = ds.Queue
	return st, nil
}

// Inbox implements control.Handler.
func (d *daemon) Inbox(ctx context.Context, limit int) ([]control.InboxItem, error) {
	s, _, err := d.ready(ctx)
	if err != nil {
		return nil, err
	}
	return inbox(ctx, s, limit)
}

func inbox(ctx context.Context, s *queue.Store, limit int) ([]control.InboxItem, error) {
	if limit <= 0 {
		limit = 50
	}
	ins, err := s.Inbox(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]control.InboxItem, 0, len(ins))
	for _, in := range ins {
		out = append(out, control.InboxItem{ID: in.ID, From: in.From, Text: in.Text, ReceivedAt: in.ReceivedAt, SentAt: in.SentAt,
			ReplyTo: in.ReplyTo, DecodeError: in.DecodeError, Incomplete: in.Incomplete})
	}
	return out, nil
}

// RotateDataKey implements control.Handler.
func (d *daemon) RotateDataKey(ctx context.Context) (control.RotateResult, error) {
	s, _, err := d.ready(ctx)
	if err != nil {
		return control.RotateResult{}, err
	}
	return rotateDataKey(ctx, s)
}

// rotateDataKey is the one path to a data key rotation (daemon and direct).
func rotateDataKey(ctx context.Context, s *queue.Store) (control.RotateResult, error) {
	st, err := s.RotateDataKey(ctx, 0)
	if err != nil {
		// The rotation resumes where it stopped (queue.Store.RotateDataKey).
		err = fmt.Errorf("%w (nothing is lost: run smsd key rotate again to finish)", err)
	}
	return control.RotateResult{Gen: st.Gen, Resumed: st.Resumed, Resealed: st.Resealed}, err
}

// emulator returns the built-in emulated modem once it runs, else nil.
func (d *daemon) emulator() *emulator.Emulator {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.emu
}

// User implements control.Handler.
func (d *daemon) User(ctx context.Context, r control.UserRequest) ([]control.UserInfo, error) {
	s, _, err := d.ready(ctx)
	if err != nil {
		return nil, err
	}
	return userOp(ctx, s, r)
}

// Unlock implements control.Handler.
func (d *daemon) Unlock(ctx context.Context, passphrase []byte) error {
	d.unlockMu.Lock()
	defer d.unlockMu.Unlock()
	d.mu.Lock()
	open := d.store != nil
	d.mu.Unlock()
	if open {
		return control.Errorf(control.CodeNotLocked, "the store is already unlocked; nothing to do")
	}
	if d.cfg.KeySource != config.KeyPassphrase {
		return control.Errorf(control.CodeNotLocked, "this daemon does not use a passphrase (key_source is "+d.cfg.KeySource+")")
	}
	if err := d.open(ctx, passphrase); err != nil {
		if errors.Is(err, queue.ErrWrongKey) {
			d.log.Warn("unlock refused: wrong passphrase")
			return control.Errorf(control.CodeWrongKey, "wrong passphrase: the store stays locked; try again")
		}
		return err
	}
	d.log.Info("store unlocked; sending starts")
	return nil
}
