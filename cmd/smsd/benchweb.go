package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
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
func runBenchWeb(ctx context.Context, env *cmdEnv, o benchWebOpts) error {
	clients, poll := o.clients, o.poll
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
	var secrets []string
	if o.outbox > 0 || o.api > 0 {
		if secrets, err = benchWorkData(ctx, env, cfg, o.outbox, o.api); err != nil {
			return err
		}
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

	if poll > 0 {
		if err := benchPolls(env, jars, u, poll); err != nil {
			return err
		}
	}
	if o.outbox > 0 || o.api > 0 {
		return benchBrowse(env, jars, tr, u, secrets, o)
	}
	return nil
}

// benchPolls has the signed-in clients ask GET /session (what each page's
// countdown does) back to back for poll.
func benchPolls(env *cmdEnv, jars []*http.Client, u string, poll time.Duration) error {
	clients := len(jars)
	errs := make([]error, clients)
	var wg sync.WaitGroup
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

// benchWebOpts are smsd bench -web's flags.
type benchWebOpts struct {
	clients int           // browsers signing in at once, then polling and browsing
	poll    time.Duration // how long they poll GET /session (0: not at all)
	// The front desk's work (issue "Web UI, part 2"): an outbox of outbox
	// messages that the clients browse for browse while api API clients
	// post messages, each at most apiRate a second (0: back to back).
	outbox  int
	api     int
	browse  time.Duration
	apiRate float64
	// think is how long a browsing client waits between two pages (each
	// wait drawn between half and one and a half of it; 0: back to back).
	think time.Duration
}

// benchWorkData fills the store before the daemon starts: n messages in
// the outbox and one API token per API client (their secrets returned).
// The messages are scheduled a year ahead, so that the dispatcher leaves
// them queued and the outbox stays 100,000 long while it is browsed.
func benchWorkData(ctx context.Context, env *cmdEnv, cfg config.Config, n, api int) ([]string, error) {
	svc, err := daemon.OpenDirect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer svc.Close()
	if n > 0 {
		fmt.Fprintf(env.stdout, "filling the outbox with %d messages...\n", n)
		t0 := time.Now()
		at := time.Now().AddDate(1, 0, 0)
		const batch = 2000
		for i := 0; i < n; i += batch {
			ms := make([]queue.NewMessage, 0, batch)
			for j := i; j < min(n, i+batch); j++ {
				ms = append(ms, queue.NewMessage{To: fmt.Sprintf("+1555%07d", j%10_000_000), Text: fmt.Sprintf("Reminder %d: your appointment is on Friday at 10:30. Reply C to confirm.", j), SendAt: at, CreatedBy: "bench"})
			}
			if _, err := svc.Store().EnqueueBatch(ctx, ms); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(env.stdout, "filled in %v\n", time.Since(t0).Round(time.Millisecond))
	}
	var secrets []string
	for i := range api {
		toks, err := svc.Tokens(ctx, daemon.Shell(), ops.TokenRequest{Action: ops.TokenCreate, Name: fmt.Sprintf("bench-api-%02d", i)})
		if err != nil {
			return nil, fmt.Errorf("creating an API token: %w", err)
		}
		if len(toks) == 0 || toks[0].Secret == "" {
			return nil, errors.New("creating an API token returned no secret")
		}
		secrets = append(secrets, toks[0].Secret)
	}
	return secrets, nil
}

var (
	dataIDRe = regexp.MustCompile(`data-id="(\d+)"`)
	olderRe  = regexp.MustCompile(`<a[^>]*\bid="older"[^>]*>`)
	hrefRe   = regexp.MustCompile(`\bhref="([^"]*)"`)
)

// latencies collects one kind of request's latencies.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// benchBrowse runs the signed-in clients browsing the outbox (its first
// page, then older pages by the page's own a#older link, and now and then
// one message's page) while the API clients post messages, for o.browse;
// it prints p50 and p99 of each kind and the process's RSS.
func benchBrowse(env *cmdEnv, jars []*http.Client, tr *http.Transport, u string, secrets []string, o benchWebOpts) error {
	tr.MaxIdleConnsPerHost = len(jars) + len(secrets)
	var post latencies
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		if len(errs) < 10 {
			errs = append(errs, err)
		}
		mu.Unlock()
	}
	get := func(c *http.Client, path string, l *latencies, rng *rand.Rand, think time.Duration) ([]byte, bool) {
		if think > 0 {
			time.Sleep(think/2 + time.Duration(rng.Int64N(int64(think))))
		}
		t0 := time.Now()
		resp, err := c.Get(u + path)
		if err != nil {
			fail(err)
			return nil, false
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if p, _, _ := strings.Cut(path, "?"); err != nil || resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/"+p {
			fail(fmt.Errorf("GET /%s: %s at %s %v: %s", path, resp.Status, resp.Request.URL.Path, err, pageError(b)))
			return nil, false
		}
		l.add(d)
		return b, true
	}
	// browse is one client's visit until end: the outbox's first page,
	// one to five older pages, now and then a message of a page.
	browse := func(c *http.Client, seed uint64, end time.Time, think time.Duration, pages []latencies) {
		rng := rand.New(rand.NewPCG(seed, 14))
		for time.Now().Before(end) {
			page, ok := get(c, "outbox", &pages[0], rng, think)
			if !ok {
				return
			}
			if len(dataIDRe.FindAll(page, 2)) == 0 {
				fail(errors.New("the outbox's first page shows no message"))
				return
			}
			for n := 1 + rng.IntN(5); n > 0 && time.Now().Before(end); n-- {
				if ids := dataIDRe.FindAllSubmatch(page, -1); len(ids) > 0 && rng.IntN(5) == 0 {
					id := string(ids[rng.IntN(len(ids))][1])
					if _, ok := get(c, "messages/"+id, &pages[2], rng, think); !ok {
						return
					}
				}
				a := olderRe.Find(page)
				if a == nil {
					break
				}
				h := hrefRe.FindSubmatch(a)
				if h == nil {
					break
				}
				href := html.UnescapeString(string(h[1]))
				if len(href) > 0 && href[0] == '/' {
					href = href[1:]
				}
				if page, ok = get(c, href, &pages[1], rng, think); !ok {
					return
				}
			}
		}
	}
	line := func(what string, ds []time.Duration) {
		fmt.Fprintf(env.stdout, "  %-32s %6d  p50 %-9v p99 %-9v max %v\n", what, len(ds),
			pct(ds, 0.50).Round(10*time.Microsecond), pct(ds, 0.99).Round(10*time.Microsecond), pct(ds, 1).Round(10*time.Microsecond))
	}

	// One client alone, back to back: what a page costs without a queue
	// in front of it.
	alone := make([]latencies, 3)
	c0 := cpuTime()
	browse(jars[0], 999, time.Now().Add(5*time.Second), 0, alone)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var all []time.Duration
	for i := range alone {
		all = append(all, alone[i].d...)
	}
	fmt.Fprintf(env.stdout, "one client alone browsing an outbox of %d messages back to back for 5s: %.2f ms of CPU a page (this process)\n", o.outbox, float64((cpuTime()-c0).Microseconds())/1000/float64(max(1, len(all))))
	line("every page", all)

	var rejected, posted int
	rssBefore := procStatus("VmRSS")
	resetPeakRSS()
	pages := make([]latencies, 3)
	first, older, msgPage := &pages[0], &pages[1], &pages[2]
	cpu0, wall0 := cpuTime(), time.Now()
	end := time.Now().Add(o.browse)
	for i, c := range jars {
		wg.Go(func() { browse(c, uint64(i), end, o.think, pages) })
	}
	for j, secret := range secrets {
		wg.Go(func() {
			var every time.Duration
			if o.apiRate > 0 {
				every = time.Duration(float64(time.Second) / o.apiRate)
			}
			client := &http.Client{Transport: tr, Timeout: time.Minute}
			next := time.Now()
			for k := 0; time.Now().Before(end); k++ {
				if every > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(every)
				}
				body, _ := json.Marshal(map[string]string{"to": fmt.Sprintf("+1555300%04d", (j*1000+k)%10000), "text": fmt.Sprintf("API reminder %d/%d: your appointment is tomorrow.", j, k)})
				req, _ := http.NewRequest("POST", u+"api/v1/messages", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+secret)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d-%d", j, k))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					fail(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				switch {
				case resp.StatusCode == http.StatusTooManyRequests:
					mu.Lock()
					rejected++
					mu.Unlock()
					wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
					time.Sleep(time.Duration(max(wait, 1)) * time.Second)
				case resp.StatusCode/100 != 2:
					fail(fmt.Errorf("POST /api/v1/messages: %s: %s", resp.Status, b))
					return
				default:
					post.add(d)
					mu.Lock()
					posted++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	var every []time.Duration
	every = append(append(append(every, first.d...), older.d...), msgPage.d...)
	think := "back to back"
	if o.think > 0 {
		think = fmt.Sprintf("%v between pages on average", o.think)
	}
	fmt.Fprintf(env.stdout, "an outbox of %d messages, %d signed-in clients browsing (%s) and %d API clients posting (at most %g/s each, one token each) for %v:\n",
		o.outbox, len(jars), think, len(secrets), o.apiRate, o.browse)
	line("GET /outbox (first page)", first.d)
	line("GET /outbox?before= (older)", older.d)
	line("GET /messages/{id}", msgPage.d)
	line("every page", every)
	line("POST /api/v1/messages", post.d)
	fmt.Fprintf(env.stdout, "  pages %.0f/s, API messages %.0f/s, %d API calls told 429 (rate limit); RSS before %s, now %s, peak meanwhile %s\n",
		float64(len(every))/wall.Seconds(), float64(posted)/wall.Seconds(), rejected, rssBefore, procStatus("VmRSS"), procStatus("VmHWM"))
	fmt.Fprintf(env.stdout, "  this process used %.2f cores meanwhile (%v of CPU in %v)\n", cpu.Seconds()/wall.Seconds(), cpu.Round(time.Millisecond), wall.Round(time.Millisecond))
	return nil
}
