package web

import (
	"net/http"
	"sync"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// The live-update stream (GET /events): server-sent events that tell a
// page when to refresh what it shows. An event carries no data but its
// kind, as JSON: {"kind":"change"} when the store changed (a message's
// state, a reply), {"kind":"status"} every few seconds (modem health
// changes without a store change), {"kind":"ended"} when the session has
// ended (the page then clears itself). Comments (": ping") keep the
// connection open through idle proxies.
const (
	// maxStreams bounds the open streams: a clinic has a handful of PCs
	// with a few tabs each; more is a runaway script or a scanner.
	maxStreams = 64
	// statusEvery is how often a stream sends "status" and checks that
	// its session is still there.
	statusEvery = 5 * time.Second
	// heartbeatEvery is how often a stream says it is alive.
	heartbeatEvery = 15 * time.Second
	// changeGap is the shortest time between two "change" events: a burst
	// of changes (a batch sent) makes one refresh, not a hundred.
	changeGap = 250 * time.Millisecond
	// lockedRetry is how often the hub asks the service for its change
	// signal while it has none (a locked store).
	lockedRetry = time.Second
)

// streamHub fans the service's change signal out to every open stream.
// Its watcher runs only while a stream is open.
type streamHub struct {
	changes func() <-chan struct{}

	mu     sync.Mutex
	subs   map[chan struct{}]struct{}
	quit   chan struct{} // closed when the last stream leaves
	closed chan struct{} // closed when the server shuts down
	once   sync.Once
}

func newStreamHub(svc Service) *streamHub {
	return &streamHub{changes: svc.Changes, subs: map[chan struct{}]struct{}{}, closed: make(chan struct{})}
}

// subscribe adds a stream: its channel gets a value (never more than one
// waiting) at each change. It returns false when maxStreams are open.
func (h *streamHub) subscribe() (chan struct{}, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= maxStreams {
		return nil, false
	}
	c := make(chan struct{}, 1)
	h.subs[c] = struct{}{}
	if len(h.subs) == 1 {
		h.quit = make(chan struct{})
		go h.watch(h.quit)
	}
	return c, true
}

// unsubscribe removes a stream; the watcher stops with the last one.
func (h *streamHub) unsubscribe(c chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[c]; !ok {
		return
	}
	delete(h.subs, c)
	if len(h.subs) == 0 {
		close(h.quit)
	}
}

// shutdown ends every stream (the server is shutting down).
func (h *streamHub) shutdown() { h.once.Do(func() { close(h.closed) }) }

// watch waits for the service's change signal and passes it on, until
// quit. It takes the signal either way the service gives it: a value sent,
// or a channel closed (and a new one from the next Changes call). The
// next channel is taken before the streams are told, so a change made
// while they are told (or during the gap) is not lost: its channel is
// closed already when watch comes back to it.
func (h *streamHub) watch(quit chan struct{}) {
	ch := h.changes()
	for {
		if ch == nil {
			select {
			case <-quit:
				return
			case <-h.closed:
				return
			case <-time.After(lockedRetry):
				ch = h.changes()
				continue
			}
		}
		select {
		case <-quit:
			return
		case <-h.closed:
			return
		case <-ch:
		}
		ch = h.changes()
		h.mu.Lock()
		for c := range h.subs {
			select {
			case c <- struct{}{}:
			default: // one waits already: the page refreshes once
			}
		}
		h.mu.Unlock()
		select {
		case <-quit:
			return
		case <-h.closed:
			return
		case <-time.After(changeGap):
		}
	}
}

// events is GET /events, the stream of one signed-in page. It does not
// extend the session (looking is not using), and ends when the session
// ends, the client goes or the server shuts down.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.scriptSession(w, r); !ok {
		return
	}
	token := s.token(r) // the stream checks the session again at each status tick
	sub, ok := s.streams.subscribe()
	if !ok {
		w.Header().Set("Retry-After", retryAfter)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"code": ops.CodeBusy, "message": "too many live pages are open: close some tabs"})
		return
	}
	defer s.streams.unsubscribe(sub)

	rc := http.NewResponseController(w)
	// The server's read timeout would end the stream after 30 s (its
	// background read fails and cancels the request); the write timeout
	// is moved forward at each write instead.
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(msg string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write([]byte(msg)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// retry: how long the browser waits before it reconnects.
	if !send("retry: 5000\n: open\n\n") {
		return
	}
	status := time.NewTicker(statusEvery)
	defer status.Stop()
	beat := time.NewTicker(heartbeatEvery)
	defer beat.Stop()
	for {
		var msg string
		select {
		case <-r.Context().Done():
			return
		case <-s.streams.closed:
			return
		case <-sub:
			msg = "data: {\"kind\":\"change\"}\n\n"
		case <-status.C:
			if _, err := s.svc.Session(r.Context(), token, clientAddr(r), false); err != nil {
				switch ops.CodeOf(err) {
				case ops.CodeNoSession, ops.CodeLocked:
					send("data: {\"kind\":\"ended\"}\n\n")
					return
				}
				continue // busy for a moment: ask again at the next tick
			}
			msg = "data: {\"kind\":\"status\"}\n\n"
		case <-beat.C:
			msg = ": ping\n\n"
		}
		if !send(msg) {
			return
		}
	}
}
