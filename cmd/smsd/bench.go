package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/control"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

func init() {
	register(command{name: "bench", summary: "measure click-to-wire latency, drain throughput, idle CPU and RSS against the emulated modem", run: runBench})
}

// runBench runs the daemon in this process against the built-in emulated
// modem (no rate limit, no modem latency) and measures:
//   - click-to-wire: from the control-socket send request (what the web UI
//     and `smsd send` do) to the first byte of AT+CMGS at the emulator, one
//     message at a time with an idle queue;
//   - drain throughput: -drain messages enqueued in one batch until the last
//     reached the handset;
//   - idle CPU over -idle after the drain (busy polling would show here);
//   - RSS after the drain.
func runBench(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "bench", "smsd bench [-n N] [-drain N] [-idle D] | smsd bench -web [-clients N] [-poll D] [-outbox N -api N -browse D -api-rate R -think D]")
	n := fs.Int("n", 200, "single messages for the latency figures")
	drain := fs.Int("drain", 1000, "messages for the throughput and RSS figures")
	idle := fs.Duration("idle", 5*time.Second, "how long to measure idle CPU")
	webFigures := fs.Bool("web", false, "measure the web UI instead: concurrent sign-ins (wall time, peak RSS) and signed-in clients polling their session (p50, p99)")
	clients := fs.Int("clients", 50, "-web: clients signing in at once, then polling")
	poll := fs.Duration("poll", 10*time.Second, "-web: how long the clients poll (0: not at all)")
	outbox := fs.Int("outbox", 0, "-web: fill the outbox with this many messages, then the clients browse it (GET /outbox, older pages, a message now and then)")
	api := fs.Int("api", 0, "-web: API clients posting POST /api/v1/messages meanwhile, one token each")
	browse := fs.Duration("browse", 30*time.Second, "-web: how long the clients browse and the API clients post")
	apiRate := fs.Float64("api-rate", 8, "-web: messages a second each API client posts at most (0: back to back; each token's rate limit is 10/s)")
	think := fs.Duration("think", time.Second, "-web: a browsing client's pause between two pages, as a person reads (0: back to back, a stress test)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *webFigures {
		return runBenchWeb(ctx, env, benchWebOpts{clients: *clients, poll: *poll, outbox: *outbox, api: *api, browse: *browse, apiRate: *apiRate, think: *think})
	}
	dir, err := os.MkdirTemp("", "smsd-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := config.Default()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Modem = "emulator"
	cfg.RateLimit = config.Duration{}
	if err := os.Mkdir(cfg.DataDir, 0o700); err != nil {
		return err
	}
	if err := queue.Init(ctx, cfg.DBPath(), daemon.KeySource(&cfg, nil), daemon.StoreOptions(&cfg, nil)); err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(slog.LevelError)
	d := daemon.New(cfg, slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level})), level)
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- d.Run(runCtx) }()
	defer func() { stop(); <-errc }()

	c := control.NewClient(cfg.SocketPath())
	ready := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, err := c.Status(ctx); err == nil && len(st.Modems) > 0 && st.Modems[0].Ready {
			ready = true
			break
		}
	}
	if !ready {
		return errors.New("the emulated modem did not become ready in 20 s")
	}
	emu, store := d.Emulator(), d.Store()
	wire := make(chan time.Time, 16)
	emu.OnCommand(func(cmd string, at time.Time) {
		if strings.HasPrefix(strings.ToUpper(cmd), "AT+CMGS") {
			select {
			case wire <- at:
			default:
			}
		}
	})

	lat := make([]time.Duration, 0, *n)
	for i := range *n {
		t0 := time.Now()
		if _, err := c.Send(ctx, ops.SendRequest{To: fmt.Sprintf("+1555600%04d", i%10000), Text: "bench"}); err != nil {
			return err
		}
		select {
		case at := <-wire:
			lat = append(lat, at.Sub(t0))
		case <-time.After(10 * time.Second):
			return fmt.Errorf("message %d never reached the wire", i)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := emu.WaitHandset(wctx, i+1)
		cancel()
		if err != nil {
			return err
		}
	}
	slices.Sort(lat)
	fmt.Fprintf(env.stdout, "click-to-wire (%d single messages, idle queue): p50 %v  p99 %v  max %v\n",
		len(lat), pct(lat, 0.50).Round(10*time.Microsecond), pct(lat, 0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))

	emu.OnCommand(nil)
	batch := make([]queue.NewMessage, *drain)
	for i := range batch {
		batch[i] = queue.NewMessage{To: fmt.Sprintf("+1555700%04d", i%10000), Text: fmt.Sprintf("drain %d", i)}
	}
	t0 := time.Now()
	if _, err := store.EnqueueBatch(ctx, batch); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	_, err = emu.WaitHandset(wctx, *n+*drain)
	cancel()
	if err != nil {
		return err
	}
	el := time.Since(t0)
	fmt.Fprintf(env.stdout, "drain: %d messages in %v = %.1f msg/s (no rate limit, no modem latency)\n", *drain, el.Round(time.Millisecond), float64(*drain)/el.Seconds())
	fmt.Fprintf(env.stdout, "RSS after %d messages: %s\n", *n+*drain, rss())

	time.Sleep(time.Second) // let the last status reports settle
	u0 := cpuTime()
	w0 := time.Now()
	time.Sleep(*idle)
	cpu := cpuTime() - u0
	fmt.Fprintf(env.stdout, "idle CPU over %v: %v (%.2f%% of one core; this process: daemon, emulator and store)\n", idle.Round(time.Second), cpu.Round(time.Millisecond), 100*cpu.Seconds()/time.Since(w0).Seconds())
	return nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rss() string { return procStatus("VmRSS") }
