package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Handler does what the requests ask. Errors it returns cross the socket:
// return an *Error (Errorf) to give the client a code; any other error
// becomes CodeInternal with its message, so it must carry no PHI.
type Handler interface {
	Send(ctx context.Context, r SendRequest) (SendResult, error)
	Status(ctx context.Context) (Status, error)
	Inbox(ctx context.Context, limit int) ([]InboxItem, error)
	Unlock(ctx context.Context, passphrase []byte) error
	// User manages staff accounts; it returns the accounts the action
	// touched (every account for list).
	User(ctx context.Context, r UserRequest) ([]UserInfo, error)
	// RotateDataKey replaces the data key and seals every row again; it is
	// resumable, so an interrupted call is finished by the next one.
	RotateDataKey(ctx context.Context) (RotateResult, error)
}

// Server serves a Handler on a unix socket.
type Server struct {
	h    Handler
	log  *slog.Logger
	ln   *net.UnixListener
	path string
	wg   sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	done   bool
	cancel context.CancelFunc // cancels requests in progress at Close
}

// requestTimeout bounds one request (reading it, handling it, answering).
// A data key rotation seals every row again and gets longer.
const (
	requestTimeout = 60 * time.Second
	rotateTimeout  = 30 * time.Minute
)

// Listen creates the socket at path (mode 0600) and returns a Server ready
// to Serve. A socket file left by a daemon that was killed is replaced: the
// caller must make sure no other daemon uses path (smsd serve holds a lock
// file for that).
func Listen(path string, h Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: a file that is not a socket is in the way; move it away", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: remove the stale socket: %w", path, err)
		}
	}
	// The umask decides the mode bind(2) gives the socket; set it around the
	// bind so the socket is never briefly open to others.
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w (check that the data directory exists and is writable by this user)", path, err)
	}
	ln.SetUnlinkOnClose(true)
	return &Server{h: h, log: log.With("component", "control"), ln: ln, path: path, conns: map[net.Conn]struct{}{}}, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Serve accepts connections until Close. It returns nil after Close.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			s.mu.Lock()
			done := s.done
			s.mu.Unlock()
			if done || errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.log.Warn("accept on control socket failed", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handle(ctx, c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops accepting, waits up to wait for requests in progress, then
// cuts the remaining connections and removes the socket file.
func (s *Server) Close(wait time.Duration) error {
	s.mu.Lock()
	s.done = true
	s.mu.Unlock()
	err := s.ln.Close()
	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(wait):
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		if s.cancel != nil {
			s.cancel()
		}
		s.mu.Unlock()
		select {
		case <-finished:
		case <-time.After(time.Second):
		}
	}
	return err
}

// peerAllowed checks the connecting process's uid: root or our own user.
func peerAllowed(c *net.UnixConn) (bool, int) {
	raw, err := c.SyscallConn()
	if err != nil {
		return false, -1
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return false, -1
	}
	uid := int(cred.Uid)
	return uid == 0 || uid == os.Getuid(), uid
}

func (s *Server) handle(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(requestTimeout))
	enc := json.NewEncoder(c)
	if ok, uid := peerAllowed(c); !ok {
		s.log.Warn("control socket: refused a client of another user", "uid", uid)
		enc.Encode(Response{Error: Errorf(CodeInvalidRequest, "permission denied: only root and the smsd user may control smsd (try sudo -u smsd smsd ...)")})
		return
	}
	var req Request
	if err := json.NewDecoder(io.LimitReader(c, maxMessage)).Decode(&req); err != nil {
		enc.Encode(Response{Error: Errorf(CodeInvalidRequest, "malformed request: "+err.Error())})
		return
	}
	limit := requestTimeout
	if req.Op == OpRotate {
		limit = rotateTimeout
		c.SetDeadline(time.Now().Add(limit))
	}
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	resp := s.dispatch(rctx, req)
	if err := enc.Encode(resp); err != nil {
		s.log.Debug("control socket: client went away before the answer", "op", req.Op, "err", err)
	}
}

func (s *Server) dispatch(ctx context.Context, req Request) (resp Response) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("control request panicked", "op", req.Op, "panic", fmt.Sprint(p))
			resp = Response{Error: Errorf(CodeInternal, "internal error in smsd serve (see its log)")}
		}
	}()
	var err error
	switch req.Op {
	case OpSend:
		if req.Send == nil {
			return Response{Error: Errorf(CodeInvalidRequest, "send: no message given")}
		}
		var r SendResult
		if r, err = s.h.Send(ctx, *req.Send); err == nil {
			resp.Send = &r
		}
	case OpStatus:
		var st Status
		if st, err = s.h.Status(ctx); err == nil {
			resp.Status = &st
		}
	case OpInbox:
		var items []InboxItem
		if items, err = s.h.Inbox(ctx, req.Limit); err == nil {
			if items == nil {
				items = []InboxItem{}
			}
			resp.Inbox = items
		}
	case OpUnlock:
		err = s.h.Unlock(ctx, []byte(req.Passphrase))
	case OpUser:
		if req.User == nil {
			return Response{Error: Errorf(CodeInvalidRequest, "user: no action given")}
		}
		resp.Users, err = s.h.User(ctx, *req.User)
	case OpRotate:
		var r RotateResult
		if r, err = s.h.RotateDataKey(ctx); err == nil {
			resp.Rotate = &r
		}
	default:
		return Response{Error: Errorf(CodeInvalidRequest, fmt.Sprintf("unknown operation %q (this smsd knows send, status, inbox, unlock, user, rotate)", req.Op))}
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = Errorf(CodeInternal, err.Error())
		}
		s.log.Debug("control request failed", "op", req.Op, "code", e.Code)
		return Response{Error: e}
	}
	return resp
}
