package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/control"
	"github.com/clinicsms/smsd/queue"
)

// commonFlags are the flags every command that touches a store takes.
type commonFlags struct {
	config  *string
	dataDir *string
}

func addCommonFlags(fs *flag.FlagSet) commonFlags {
	return commonFlags{
		config:  fs.String("config", "", "configuration file (default "+config.DefaultPath+" if it exists)"),
		dataDir: fs.String("data-dir", "", "data directory: database, key file, control socket (default "+config.DefaultDataDir+")"),
	}
}

// load reads the configuration and applies the common flags over it.
func (c commonFlags) load() (config.Config, error) {
	cfg, err := config.Load(*c.config)
	if err != nil {
		return cfg, err
	}
	if *c.dataDir != "" {
		cfg.DataDir = *c.dataDir
	}
	return cfg, cfg.Validate()
}

// keySource turns the configuration into the store's key source. A
// passphrase store opened without a passphrase gives queue.ErrLocked.
func keySource(cfg *config.Config, passphrase []byte) queue.KeySource {
	switch cfg.KeySource {
	case config.KeyCredential:
		return queue.KeySource{Credential: cfg.KeyCredential}
	case config.KeyPassphrase:
		return queue.KeySource{Passphrase: passphrase}
	default:
		return queue.KeySource{KeyFile: cfg.KeyFilePath()}
	}
}

func storeOptions(cfg *config.Config, log *slog.Logger) queue.Options {
	return queue.Options{DefaultRegion: cfg.DefaultRegion, MaxAttempts: cfg.MaxAttempts, RetentionDays: cfg.RetentionDays, Logger: log}
}

// lockFile takes the data directory's serve lock (flock, released by the
// kernel even on SIGKILL). held reports that another process has it.
func lockFile(path string) (f *os.File, held bool, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w (does the data directory exist? run smsd init)", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, false, nil
}

// withStoreOrDaemon runs viaDaemon when smsd serve runs for this data
// directory, else opens the store directly (holding the serve lock so a
// daemon starting meanwhile waits) and runs direct. This order matters:
// opening the store turns `sending` into `uncertain`, which must never
// happen under a running daemon's feet.
func withStoreOrDaemon(ctx context.Context, cfg *config.Config, viaDaemon func(*control.Client) error, direct func(*queue.Store) error) error {
	client := control.NewClient(cfg.SocketPath())
	if _, err := os.Stat(cfg.DataDir); err != nil {
		return fmt.Errorf("data directory %s: %w (run smsd init, or give -data-dir)", cfg.DataDir, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := viaDaemon(client)
		if !errors.Is(err, control.ErrNotRunning) {
			return err
		}
		lock, held, lerr := lockFile(cfg.LockPath())
		if lerr != nil {
			return lerr
		}
		if held {
			// A daemon holds the lock but its socket is not up yet (it is
			// starting or stopping): wait for it.
			if time.Now().After(deadline) {
				return errors.New("smsd serve holds the data directory but does not answer on its control socket (is it starting, stopping or stuck? see journalctl -u smsd)")
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		defer lock.Close()
		s, err := queue.Open(ctx, cfg.DBPath(), keySource(cfg, nil), storeOptions(cfg, slog.New(slog.DiscardHandler)))
		if err != nil {
			if errors.Is(err, queue.ErrLocked) {
				return errors.New("the store is protected by a passphrase and smsd serve is not running: start it (systemctl start smsd) and unlock it with smsd key unlock")
			}
			return err
		}
		defer s.Close()
		return direct(s)
	}
}

// sendError turns enqueue errors into what an operator can act on.
func sendError(err error) error {
	switch {
	case errors.Is(err, queue.ErrOptedOut), control.CodeOf(err) == control.CodeOptedOut:
		return errors.New("refused: the recipient has opted out (replied STOP); nothing was queued. They can opt back in by texting START")
	case errors.Is(err, queue.ErrInvalidNumber), control.CodeOf(err) == control.CodeInvalidNumber:
		return fmt.Errorf("refused: %v; nothing was queued. Write the number with its country code, e.g. -to +15551234567", err)
	case errors.Is(err, queue.ErrIdempotencyConflict), control.CodeOf(err) == control.CodeConflict:
		return fmt.Errorf("refused: %v; use a new -idempotency-key for a different message", err)
	case control.CodeOf(err) == control.CodeLocked:
		return fmt.Errorf("%v; nothing was queued", err)
	}
	return err
}
