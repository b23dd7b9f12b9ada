package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/clinicsms/smsd/ops"
	"golang.org/x/sys/unix"
)

// Handler is the service the socket is a door to: every operation takes
// the actor the peer credentials name. Errors it returns cross the socket:
// return an *ops.Error to give the client a code; any other error becomes
// ops.CodeInternal with its message, so it must carry no PHI.
type Handler interface {
	Send(ctx context.Context, a ops.Actor, r ops.SendRequest) (ops.SendResult, error)
	Status(ctx context.Context, a ops.Actor) (ops.Status, error)
	Inbox(ctx context.Context, a ops.Actor, limit int) ([]ops.InboxItem, error)
	Unlock(ctx context.Context, a ops.Actor, passphrase []byte) error
	// User manages staff accounts; it returns the accounts the action
	// touched (every account for list).
	User(ctx context.Context, a ops.Actor, r ops.UserRequest) ([]ops.UserInfo, error)
	// RotateDataKey replaces the data key and seals every row again; it is
	// resumable, so an interrupted call is finished by the next one.
	RotateDataKey(ctx context.Context, a ops.Actor) (ops.RotateResult, error)
	Messages(ctx context.Context, a ops.Actor, f ops.MessageFilter) ([]ops.Message, error)
	Message(ctx context.Context, a ops.Actor, id int64) (ops.Message, error)
	Act(ctx context.Context, a ops.Actor, r ops.MessageAction) (ops.Message, error)
	OptOuts(ctx context.Context, a ops.Actor, r ops.OptOutRequest) ([]ops.OptOut, error)
	AuditExport(ctx context.Context, a ops.Actor, from, to time.Time, csvOut, sigOut io.Writer) (ops.AuditSummary, error)
	AuditCheck(ctx context.Context, a ops.Actor, heads []string) (ops.AuditCheck, error)
	AuditPublicKeys(ctx context.Context, a ops.Actor) ([]string, error)
	RotateAuditKey(ctx context.Context, a ops.Actor) (string, error)
	// Doctor checks the store's integrity, or carries out an admin's
	// decision about what the check found.
	Doctor(ctx context.Context, a ops.Actor, r ops.DoctorRequest) (ops.DoctorReport, error)
}

// Server serves a Handler on a unix socket.
type Server struct {
	h    Handler
	log  *slog.Logger
	ln   *net.UnixListener
	path string
	wg   sync.WaitGroup

	// adminGID is the group whose members may connect besides root and
	// this process's user (AllowGroup); -1 = none.
	adminGID   int
	adminGroup string

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
	return &Server{h: h, log: log.With("component", "control"), ln: ln, path: path, conns: map[net.Conn]struct{}{}, adminGID: -1}, nil
}

// AllowGroup lets the members of the Unix group name use the socket as
// themselves: the socket becomes mode 0660 in that group, and the peer
// check accepts a user whose primary group or /etc/group membership is
// name (read at each connection, so removing a person from the group takes
// effect at once). This process must be a member of name to give the socket
// to it. Call it before Serve.
func (s *Server) AllowGroup(name string) error {
	g, err := user.LookupGroup(name)
	if err != nil {
		return fmt.Errorf("admin group %s: %w (create it with addgroup --system %s, or set admin_group = \"\")", name, err, name)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return fmt.Errorf("admin group %s: gid %q is not a number", name, g.Gid)
	}
	if err := os.Chown(s.path, -1, gid); err != nil {
		return fmt.Errorf("control socket %s: give it to group %s: %w (the daemon's user must be a member of %s: SupplementaryGroups=%s in its unit)", s.path, name, err, name, name)
	}
	if err := os.Chmod(s.path, 0o660); err != nil {
		return fmt.Errorf("control socket %s: %w", s.path, err)
	}
	s.adminGID, s.adminGroup = gid, name
	return nil
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

// peer reads the connecting process's credentials (SO_PEERCRED): root, the
// daemon's own user and the members of the admin group (AllowGroup) may
// connect, and the login they name is the actor of the request.
func (s *Server) peer(c *net.UnixConn) (ops.Actor, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return ops.Actor{UID: -1}, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return ops.Actor{UID: -1}, false
	}
	uid := int(cred.Uid)
	a := UnixActor(uid, int(cred.Pid))
	return a, uid == 0 || uid == os.Getuid() || s.inAdminGroup(uid, int(cred.Gid))
}

// inAdminGroup reports whether a peer is in the admin group: its primary
// group, or a member in the group database now.
func (s *Server) inAdminGroup(uid, gid int) bool {
	if s.adminGID < 0 {
		return false
	}
	if gid == s.adminGID {
		return true
	}
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return false
	}
	ids, err := u.GroupIds()
	if err != nil {
		return false
	}
	return slices.Contains(ids, strconv.Itoa(s.adminGID))
}

// Login names a uid: its login, or "uid N" when it has none (a container
// without the user in /etc/passwd).
func Login(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

// UnixActor is the person at this box's shell: user uid, in process pid.
// Through the socket the daemon names it from the peer credentials; on the
// store directly the command line names itself the same way, so the audit
// trail shows one actor whichever door was taken. Whoever can reach either
// door can read the store, so the role is admin.
func UnixActor(uid, pid int) ops.Actor {
	return ops.Actor{Kind: ops.ActorUnix, UID: uid, Name: Login(uid), Role: ops.RoleAdmin, Addr: fmt.Sprintf("pid %d", pid)}
}

func (s *Server) handle(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(requestTimeout))
	enc := json.NewEncoder(c)
	actor, ok := s.peer(c)
	if !ok {
		s.log.Warn("control socket: refused a client of another user", "uid", actor.UID)
		msg := "permission denied: only root and the smsd user may control smsd (try sudo -u smsd smsd ...)"
		if s.adminGroup != "" {
			msg = fmt.Sprintf("permission denied: only root, the smsd user and members of group %s may control smsd (an admin adds you with sudo adduser %s %s; log in again after)", s.adminGroup, actor.Name, s.adminGroup)
		}
		enc.Encode(Response{Error: ops.Errorf(ops.CodeDenied, msg)})
		return
	}
	// The first read also takes the files a request may carry.
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(2*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	files := receivedFiles(oob[:oobn])
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var req Request
	// An import carries its file: up to maxRequest; every other operation
	// is held to maxMessage.
	lr := &io.LimitedReader{R: io.MultiReader(bytes.NewReader(buf[:n]), c), N: maxRequest}
	dec := json.NewDecoder(lr)
	if err := dec.Decode(&req); err != nil {
		if lr.N == 0 {
			enc.Encode(Response{Error: errTooLarge("", maxRequest)})
			return
		}
		enc.Encode(Response{Error: ops.Errorf(ops.CodeInvalidRequest, "malformed request: "+err.Error())})
		return
	}
	if req.Op != OpImport && dec.InputOffset() > maxMessage {
		enc.Encode(Response{Error: errTooLarge(req.Op, maxMessage)})
		return
	}
	if req.Op == OpAuditExport && len(files) != 2 {
		enc.Encode(Response{Error: ops.Errorf(ops.CodeInvalidRequest, "audit_export: the request must carry two open files (the CSV and its signature)")})
		return
	}
	limit := requestTimeout
	if req.Op == OpRotate || req.Op == OpBackup {
		limit = rotateTimeout
		c.SetDeadline(time.Now().Add(limit))
	}
	if req.Op == OpImport {
		limit = importTimeout
		c.SetDeadline(time.Now().Add(limit))
	}
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	resp := s.dispatch(rctx, actor, req, files)
	if req.Op == OpUnlock {
		clear(buf[:n])
	}
	if err := enc.Encode(resp); err != nil {
		s.log.Debug("control socket: client went away before the answer", "op", req.Op, "err", err)
	}
}

func (s *Server) dispatch(ctx context.Context, a ops.Actor, req Request, files []*os.File) (resp Response) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("control request panicked", "op", req.Op, "panic", fmt.Sprint(p))
			resp = Response{Error: ops.Errorf(ops.CodeInternal, "internal error in smsd serve (see its log)")}
		}
	}()
	missing := func(what string) Response {
		return Response{Error: ops.Errorf(ops.CodeInvalidRequest, req.Op+": no "+what+" given")}
	}
	var err error
	switch req.Op {
	case OpPing:
		return Response{PID: os.Getpid()}
	case OpSend:
		if req.Send == nil {
			return missing("message")
		}
		var r ops.SendResult
		if r, err = s.h.Send(ctx, a, *req.Send); err == nil {
			resp.Send = &r
		}
	case OpStatus:
		var st ops.Status
		if st, err = s.h.Status(ctx, a); err == nil {
			resp.Status = &st
		}
	case OpInbox:
		if resp.Inbox, err = s.h.Inbox(ctx, a, req.Limit); err == nil && resp.Inbox == nil {
			resp.Inbox = []ops.InboxItem{}
		}
	case OpUnlock:
		// Unlock zeroes the passphrase; handle zeroes the first read's
		// buffer, which held it base64-encoded (json.Decoder's own copy
		// is not reachable).
		err = s.h.Unlock(ctx, a, req.Passphrase)
		clear(req.Passphrase)
	case OpUser:
		if req.User == nil {
			return missing("action")
		}
		resp.Users, err = s.h.User(ctx, a, *req.User)
	case OpRotate:
		var r ops.RotateResult
		if r, err = s.h.RotateDataKey(ctx, a); err == nil {
			resp.Rotate = &r
		}
	case OpMessages:
		var f ops.MessageFilter
		if req.Filter != nil {
			f = *req.Filter
		}
		if resp.Messages, err = s.h.Messages(ctx, a, f); err == nil && resp.Messages == nil {
			resp.Messages = []ops.Message{}
		}
	case OpMessage:
		var m ops.Message
		if m, err = s.h.Message(ctx, a, req.ID); err == nil {
			resp.Message = &m
		}
	case OpAction:
		if req.Action == nil {
			return missing("action")
		}
		var m ops.Message
		if m, err = s.h.Act(ctx, a, *req.Action); err == nil {
			resp.Message = &m
		}
	case OpOptOuts:
		if req.OptOut == nil {
			return missing("action")
		}
		if resp.OptOuts, err = s.h.OptOuts(ctx, a, *req.OptOut); err == nil && resp.OptOuts == nil {
			resp.OptOuts = []ops.OptOut{}
		}
	case OpAuditExport:
		var sum ops.AuditSummary
		if sum, err = s.h.AuditExport(ctx, a, req.From, req.To, files[0], files[1]); err == nil {
			resp.Export = &sum
		}
	case OpAuditCheck:
		var c ops.AuditCheck
		c, err = s.h.AuditCheck(ctx, a, req.Heads)
		resp.Check = &c
		if err != nil {
			e := toError(err)
			s.log.Debug("control request failed", "op", req.Op, "code", e.Code)
			return Response{Error: e, Check: &c}
		}
	case OpAuditKeys:
		resp.Keys, err = s.h.AuditPublicKeys(ctx, a)
	case OpDoctor:
		if req.Doctor == nil {
			return missing("action")
		}
		var r ops.DoctorReport
		r, err = s.h.Doctor(ctx, a, *req.Doctor)
		resp.Report = &r
		if err != nil {
			return Response{Error: toError(err), Report: &r}
		}
	case OpBackup:
		return s.backup(ctx, a, req, files)
	case OpAppointments, OpAppointment, OpTemplates, OpImport, OpImportMappings, OpReport:
		return s.remind(ctx, a, req)
	case OpAuditNewKey:
		var k string
		if k, err = s.h.RotateAuditKey(ctx, a); err == nil {
			resp.Keys = []string{k}
		}
	default:
		return Response{Error: ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("unknown operation %q (this smsd knows send, status, inbox, unlock, user, rotate, messages, message, message_action, optouts, audit_export, audit_check, audit_pubkeys, audit_newkey, appointments, appointment, templates, import, import_mappings, report)", req.Op))}
	}
	if err != nil {
		e := toError(err)
		s.log.Debug("control request failed", "op", req.Op, "code", e.Code)
		return Response{Error: e}
	}
	return resp
}

// toError gives err as it crosses the socket.
func toError(err error) *ops.Error {
	var e *ops.Error
	if !errors.As(err, &e) {
		e = ops.Errorf(ops.CodeInternal, err.Error())
	}
	return e
}

// receivedFiles opens the file descriptors a request carried (SCM_RIGHTS).
func receivedFiles(oob []byte) []*os.File {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "passed file"))
		}
	}
	return files
}
