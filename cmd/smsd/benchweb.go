package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/web"
)

// runBenchWeb measures the web UI's front door in this process (the
// daemon, the built-in emulated modem and the web UI on a loopback port;
// the clients are goroutines with a cookie jar each, as browsers):
//   - sign-ins: clients accounts sign in at once; wall time until the last
//     is in, each sign-in's latency, and the process's peak RSS meanwhile
//     (argon2id takes 32 MiB per check; login_concurrency bounds them);
//   - session polls: the signed-in clients ask GET /session (what each
//     page's countdown does) back to back for poll; p50 and p99.
func runBenchWeb(ctx context.Context, env *cmdEnv, clients int, poll time.Duration) error {
	dir, err := os.MkdirTemp("", "smsd-bench-web-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Modem = "emulator"
	cfg.Listen = "127.0.0.1:0"
	if err := os.Mkdir(cfg.DataDir, 0o700); err != nil {
		return err
	}
	if err := queue.Init(ctx, cfg.DBPath(), daemon.KeySource(&cfg, nil), daemon.StoreOptions(&cfg, nil)); err != nil {
		return err
	}
	const password = "bench-password-1234"
	fmt.Fprintf(env.stdout, "creating %d accounts...\n", clients)
	if err := benchAccounts(ctx, cfg, clients, password); err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(slog.LevelError)
	log := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
	d := daemon.New(cfg, log, level)
	base := make(chan string, 1)
	d.OpenDoors = webDoor(cfg, d, log, func(info web.ListenInfo) { base <- info.URL })
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- d.Run(runCtx) }()
	defer func() { stop(); <-errc }()
	var u string
	select {
	case u = <-base:
	case err := <-errc:
		return fmt.Errorf("the daemon stopped: %v", err)
	case <-time.After(30 * time.Second):
		return errors.New("the web UI did not come up in 30 s")
	}
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	jars := make([]*http.Client, clients)
	for i := range jars {
		jar, _ := cookiejar.New(nil)
		jars[i] = &http.Client{Jar: jar, Transport: tr, Timeout: time.Minute}
	}
	// The store must be open before the clock starts (a sign-in waits
	// for it otherwise).
	for deadline := time.Now().Add(30 * time.Second); d.Store() == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("the store did not open in 30 s")
		}
	}

	// The accounts' own hashing is garbage by now: return it, so that
	// the peak below is the sign-ins'.
	debug.FreeOSMemory()
	resetPeakRSS()
	before := procStatus("VmRSS")
	lat := make([]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range clients {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			errs[i] = signIn(jars[i], u, benchUser(i), password)
			lat[i] = time.Since(t0)
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	wall := time.Since(t0)
	// A sign-in told "busy" (no free check slot within the wait) is the
	// bound at work, reported; anything else is a failure. Those clients
	// try again one by one, so that every client polls below.
	busy := 0
	for i, err := range errs {
		if err != nil && !errors.Is(err, errBusySignIn) {
			return err
		}
		if err != nil {
			busy++
			if errs[i] = signIn(jars[i], u, benchUser(i), password); errs[i] != nil {
				return errs[i]
			}
		}
	}
	fmt.Fprintf(env.stdout, "%d concurrent sign-ins (login_concurrency %d): wall %v; each p50 %v p99 %v; %d told busy; RSS before %s, peak %s\n",
		clients, cfg.LoginConcurrency, wall.Round(time.Millisecond), pct(lat, 0.50).Round(time.Millisecond), pct(lat, 0.99).Round(time.Millisecond),
		busy, before, procStatus("VmHWM"))

	var mu sync.Mutex
	var polls []time.Duration
	end := time.Now().Add(poll)
	for i := range clients {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(end) {
				t0 := time.Now()
				resp, err := jars[i].Get(u + "session")
				if err != nil {
					errs[i] = err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs[i] = fmt.Errorf("GET /session of %s: %s", benchUser(i), resp.Status)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			polls = append(polls, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%d signed-in clients polling GET /session back to back for %v: %d polls (%.0f/s), p50 %v p99 %v; RSS %s\n",
		clients, poll, len(polls), float64(len(polls))/poll.Seconds(), pct(polls, 0.50).Round(10*time.Microsecond), pct(polls, 0.99).Round(10*time.Microsecond), procStatus("VmRSS"))
	return nil
}

func benchUser(i int) string { return fmt.Sprintf("bench%02d", i) }

// benchAccounts creates the bench's staff accounts, on the store directly
// before the daemon starts.
func benchAccounts(ctx context.Context, cfg config.Config, n int, password string) error {
	svc, err := daemon.OpenDirect(ctx, cfg)
	if err != nil {
		return err
	}
	defer svc.Close()
	for i := range n {
		if _, err := svc.User(ctx, daemon.Shell(), ops.UserRequest{Action: ops.UserAdd, Username: benchUser(i), Role: ops.RoleStaff, Password: password}); err != nil {
			return err
		}
	}
	return nil
}

// pct is the p-quantile of ds (sorted here).
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(p*float64(len(ds))))]
}

// resetPeakRSS starts VmHWM afresh (Linux: clear_refs 5).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// procStatus is one field of /proc/self/status, such as VmRSS.
func procStatus(field string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// pageError is the #error message of a page, for a failed request's report.
func pageError(page []byte) string {
	_, after, ok := strings.Cut(string(page), `id="error"`)
	if !ok {
		return "(no error message on the page)"
	}
	_, msg, _ := strings.Cut(after, ">")
	msg, _, _ = strings.Cut(msg, "<")
	return strings.TrimSpace(msg)
}

// errBusySignIn: the sign-in was answered 503, no free check slot.
var errBusySignIn = errors.New("told busy")

// signIn posts the sign-in form as a browser does (following the redirect
// to the home page).
func signIn(c *http.Client, base, username, password string) error {
	resp, err := c.PostForm(base+"signin", url.Values{"username": {username}, "password": {password}})
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		return fmt.Errorf("sign-in of %s: %w", username, errBusySignIn)
	case resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/":
		return fmt.Errorf("sign-in of %s: %s at %s: %s", username, resp.Status, resp.Request.URL, pageError(b))
	}
	return nil
}
