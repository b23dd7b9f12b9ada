package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// scriptedHandler answers like the service would, so that the door (codes,
// empty lists, panics, the actor from peer credentials) is tested alone;
// the real service behind this door is tested in package daemon and e2e.
type scriptedHandler struct {
	block chan struct{}
	mu    sync.Mutex
	actor ops.Actor // the actor of the last request
}

func (f *scriptedHandler) saw(a ops.Actor) {
	f.mu.Lock()
	f.actor = a
	f.mu.Unlock()
}

func (f *scriptedHandler) lastActor() ops.Actor {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.actor
}

func (f *scriptedHandler) Send(ctx context.Context, a ops.Actor, r ops.SendRequest) (ops.SendResult, error) {
	f.saw(a)
	switch {
	case r.To == "+15550000001":
		return ops.SendResult{}, ops.Errorf(ops.CodeOptedOut, "opted out")
	case r.To == "boom":
		return ops.SendResult{}, errors.New("disk on fire")
	case r.To == "panic":
		panic("handler bug")
	case r.To == "slow":
		select {
		case <-f.block:
		case <-ctx.Done():
			return ops.SendResult{}, ctx.Err()
		}
	}
	return ops.SendResult{ID: 7, State: "queued", To: "+1******4567", Parts: 1, Encoding: "GSM-7"}, nil
}

func (f *scriptedHandler) Status(ctx context.Context, a ops.Actor) (ops.Status, error) {
	f.saw(a)
	return ops.Status{Version: "test", PID: 42, Running: true, Queue: map[string]int{"queued": 1}}, nil
}

func (f *scriptedHandler) Inbox(ctx context.Context, a ops.Actor, limit int) ([]ops.InboxItem, error) {
	if limit == 0 {
		return nil, nil
	}
	seven := int64(7)
	return []ops.InboxItem{{ID: 1, From: "+15551234567", Text: "C", ReplyTo: &seven}}, nil
}

func (f *scriptedHandler) Unlock(ctx context.Context, a ops.Actor, p []byte) error {
	if string(p) != "correct horse" {
		return ops.Errorf(ops.CodeWrongKey, "wrong passphrase")
	}
	return nil
}

func (f *scriptedHandler) User(ctx context.Context, a ops.Actor, r ops.UserRequest) ([]ops.UserInfo, error) {
	switch {
	case r.Action == ops.UserList:
		return nil, nil
	case r.Username == "taken":
		return nil, ops.Errorf(ops.CodeUserExists, "user taken already exists")
	}
	return []ops.UserInfo{{Username: r.Username, Role: r.Role, Name: r.Name}}, nil
}

func (f *scriptedHandler) RotateDataKey(ctx context.Context, a ops.Actor) (ops.RotateResult, error) {
	return ops.RotateResult{Gen: 2, Resealed: 3}, nil
}

func (f *scriptedHandler) Messages(ctx context.Context, a ops.Actor, fl ops.MessageFilter) ([]ops.Message, error) {
	if fl.State == "none" {
		return nil, nil
	}
	return []ops.Message{{ID: 3, State: fl.State, To: "+1******4567"}}, nil
}

func (f *scriptedHandler) Message(ctx context.Context, a ops.Actor, id int64) (ops.Message, error) {
	if id != 3 {
		return ops.Message{}, ops.Errorf(ops.CodeNotFound, "no message")
	}
	return ops.Message{ID: 3, State: "queued", To: "+15551234567", Text: "hi"}, nil
}

func (f *scriptedHandler) Act(ctx context.Context, a ops.Actor, r ops.MessageAction) (ops.Message, error) {
	if r.Action != ops.ActionCancel {
		return ops.Message{}, ops.Errorf(ops.CodeWrongState, "not now")
	}
	return ops.Message{ID: r.ID, State: "cancelled"}, nil
}

func (f *scriptedHandler) OptOuts(ctx context.Context, a ops.Actor, r ops.OptOutRequest) ([]ops.OptOut, error) {
	if r.Action == ops.OptOutList {
		return nil, nil
	}
	return []ops.OptOut{{Number: "+1******4567", Source: a.String()}}, nil
}

func (f *scriptedHandler) AuditExport(ctx context.Context, a ops.Actor, from, to time.Time, csvOut, sigOut io.Writer) (ops.AuditSummary, error) {
	fmt.Fprint(csvOut, "seq,time\r\n1,x\r\n")
	fmt.Fprint(sigOut, "signature of "+a.String())
	return ops.AuditSummary{Rows: 1, First: 1, Last: 1, From: from}, nil
}

func (f *scriptedHandler) AuditCheck(ctx context.Context, a ops.Actor, heads []string) (ops.AuditCheck, error) {
	if len(heads) > 0 {
		return ops.AuditCheck{Problem: "cut short"}, ops.Errorf(ops.CodeAuditBroken, "broken")
	}
	return ops.AuditCheck{OK: true, Rows: 3}, nil
}

func (f *scriptedHandler) Doctor(ctx context.Context, a ops.Actor, r ops.DoctorRequest) (ops.DoctorReport, error) {
	if r.Action == ops.DoctorDismiss {
		return ops.DoctorReport{OK: false, Problems: []ops.IntegrityProblem{{Table: "messages", ID: r.ID}}}, ops.Errorf(ops.CodeIntegrity, "1 problem")
	}
	return ops.DoctorReport{OK: true}, nil
}

func (f *scriptedHandler) RotateAuditKey(ctx context.Context, a ops.Actor) (string, error) {
	return "RWnew", nil
}

func (f *scriptedHandler) AuditPublicKeys(ctx context.Context, a ops.Actor) ([]string, error) {
	return []string{"RWkey"}, nil
}

func start(t *testing.T) (*Server, *Client, *scriptedHandler) {
	t.Helper()
	dir := t.TempDir()
	h := &scriptedHandler{block: make(chan struct{})}
	s, err := Listen(filepath.Join(dir, "control.sock"), h, nil)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background())
	t.Cleanup(func() { s.Close(time.Second) })
	return s, NewClient(s.Path()), h
}

func TestRoundTrip(t *testing.T) {
	s, c, _ := start(t)
	ctx := context.Background()
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode %04o, want 0600", perm)
	}
	r, err := c.Send(ctx, ops.SendRequest{To: "+15551234567", Text: "hi"})
	if err != nil || r.ID != 7 || r.State != "queued" {
		t.Fatalf("send: %+v %v", r, err)
	}
	_, err = c.Send(ctx, ops.SendRequest{To: "+15550000001", Text: "hi"})
	if ops.CodeOf(err) != ops.CodeOptedOut {
		t.Fatalf("opted out: err %v code %q", err, ops.CodeOf(err))
	}
	_, err = c.Send(ctx, ops.SendRequest{To: "boom"})
	if ops.CodeOf(err) != ops.CodeInternal || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("internal: %v", err)
	}
	_, err = c.Send(ctx, ops.SendRequest{To: "panic"})
	if ops.CodeOf(err) != ops.CodeInternal {
		t.Fatalf("panic: %v", err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.PID != 42 || st.Queue["queued"] != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	items, err := c.Inbox(ctx, 10)
	if err != nil || len(items) != 1 || items[0].ReplyTo == nil || *items[0].ReplyTo != 7 {
		t.Fatalf("inbox %+v %v", items, err)
	}
	if items, err := c.Inbox(ctx, 0); err != nil || len(items) != 0 {
		t.Fatalf("empty inbox must be an empty list: %#v %v", items, err)
	}
	if err := c.Unlock(ctx, []byte("nope")); ops.CodeOf(err) != ops.CodeWrongKey {
		t.Fatalf("unlock wrong: %v", err)
	}
	if err := c.Unlock(ctx, []byte("correct horse")); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if _, err := c.Do(ctx, Request{Op: "reboot"}); ops.CodeOf(err) != ops.CodeInvalidRequest {
		t.Fatalf("unknown op: %v", err)
	}
}

func TestMalformedRequest(t *testing.T) {
	s, _, _ := start(t)
	conn, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("{not json\n"))
	buf := make([]byte, 512)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := conn.Read(buf)
	if !strings.Contains(string(buf[:n]), ops.CodeInvalidRequest) {
		t.Fatalf("answer %q", buf[:n])
	}
}

func TestNotRunning(t *testing.T) {
	dir := t.TempDir()
	c := NewClient(filepath.Join(dir, "control.sock"))
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("no socket: %v", err)
	}
	// A socket file left by a killed daemon: nobody accepts.
	p := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := NewClient(p).Status(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("stale socket: %v", err)
	}
	// Listen replaces the stale socket.
	s, err := Listen(p, &scriptedHandler{}, nil)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	s.Close(time.Second)
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("socket file left after Close: %v", err)
	}
}

func TestRefusesNonSocketFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "control.sock")
	os.WriteFile(p, []byte("x"), 0o600)
	if _, err := Listen(p, &scriptedHandler{}, nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("err %v", err)
	}
}

// TestCloseWaitsThenCuts: Close waits for a request in progress, and cuts it
// after the wait so shutdown stays bounded.
func TestCloseWaitsThenCuts(t *testing.T) {
	s, c, _ := start(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), ops.SendRequest{To: "slow"})
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	s.Close(200 * time.Millisecond)
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := <-errc; err == nil {
		t.Fatal("a request cut off by Close reported success")
	}
}

func TestUserOp(t *testing.T) {
	_, c, _ := start(t)
	ctx := context.Background()
	got, err := c.User(ctx, ops.UserRequest{Action: ops.UserAdd, Username: "alice", Role: "admin", Name: "Alice A.", Password: "long enough secret"})
	if err != nil || len(got) != 1 || got[0].Username != "alice" || got[0].Role != "admin" || got[0].Name != "Alice A." {
		t.Fatalf("add: %+v %v", got, err)
	}
	if _, err := c.User(ctx, ops.UserRequest{Action: ops.UserAdd, Username: "taken"}); ops.CodeOf(err) != ops.CodeUserExists {
		t.Fatalf("add taken: %v, want code %s", err, ops.CodeUserExists)
	}
	if got, err := c.User(ctx, ops.UserRequest{Action: ops.UserList}); err != nil || len(got) != 0 {
		t.Fatalf("list: %#v %v", got, err)
	}
	if r, err := c.RotateDataKey(ctx); err != nil || r.Gen != 2 || r.Resealed != 3 {
		t.Fatalf("rotate: %+v %v", r, err)
	}
	if _, err := c.Do(ctx, Request{Op: OpUser}); ops.CodeOf(err) != ops.CodeInvalidRequest {
		t.Fatalf("user without action: %v", err)
	}
}

// TestActorFromPeerCredentials: the daemon, not the client, names who asks:
// the Unix user at the other end of the socket.
func TestActorFromPeerCredentials(t *testing.T) {
	_, c, h := start(t)
	if _, err := c.Status(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := h.lastActor()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != ops.ActorUnix || a.UID != os.Getuid() || a.Name != me.Username || a.Role != ops.RoleAdmin || a.Addr != fmt.Sprintf("pid %d", os.Getpid()) {
		t.Fatalf("actor %+v; want unix:%s uid %d admin from pid %d", a, me.Username, os.Getuid(), os.Getpid())
	}
	if got := a.String(); got != "unix:"+me.Username {
		t.Errorf("actor string %q", got)
	}
}

// TestInvalidUTF8NeverCrosses: JSON would carry invalid UTF-8 as U+FFFD, so
// the client refuses such a text before it leaves (the handler never sees
// it).
func TestInvalidUTF8NeverCrosses(t *testing.T) {
	_, c, h := start(t)
	_, err := c.Send(context.Background(), ops.SendRequest{To: "+15551234567", Text: "caf\xe9"})
	if ops.CodeOf(err) != ops.CodeInvalidText || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if a := h.lastActor(); a.Kind != "" {
		t.Fatalf("the handler saw the request (actor %+v)", a)
	}
}

func TestMessageAndOptOutOps(t *testing.T) {
	_, c, _ := start(t)
	ctx := context.Background()
	if ms, err := c.Messages(ctx, ops.MessageFilter{State: "uncertain"}); err != nil || len(ms) != 1 || ms[0].State != "uncertain" {
		t.Fatalf("messages: %+v %v", ms, err)
	}
	if ms, err := c.Messages(ctx, ops.MessageFilter{State: "none"}); err != nil || len(ms) != 0 {
		t.Fatalf("no messages must be an empty list: %#v %v", ms, err)
	}
	if m, err := c.Message(ctx, 3); err != nil || m.Text != "hi" {
		t.Fatalf("message: %+v %v", m, err)
	}
	if _, err := c.Message(ctx, 4); ops.CodeOf(err) != ops.CodeNotFound {
		t.Fatalf("missing message: %v", err)
	}
	if m, err := c.Act(ctx, ops.MessageAction{ID: 3, Action: ops.ActionCancel}); err != nil || m.State != "cancelled" {
		t.Fatalf("cancel: %+v %v", m, err)
	}
	if _, err := c.Act(ctx, ops.MessageAction{ID: 3, Action: ops.ActionDismiss}); ops.CodeOf(err) != ops.CodeWrongState {
		t.Fatalf("dismiss: %v", err)
	}
	if _, err := c.Do(ctx, Request{Op: OpAction}); ops.CodeOf(err) != ops.CodeInvalidRequest {
		t.Fatalf("action without body: %v", err)
	}
	if o, err := c.OptOuts(ctx, ops.OptOutRequest{Action: ops.OptOutAdd, Number: "+15551234567"}); err != nil || len(o) != 1 || !strings.HasPrefix(o[0].Source, "unix:") {
		t.Fatalf("optout add: %+v %v", o, err)
	}
	if o, err := c.OptOuts(ctx, ops.OptOutRequest{Action: ops.OptOutList}); err != nil || len(o) != 0 {
		t.Fatalf("optout list: %#v %v", o, err)
	}
}

// TestAuditExportWritesIntoPassedFiles: the files travel with the request
// (SCM_RIGHTS), so the daemon writes where the person asking may write, not
// where the daemon's user may.
func TestAuditExportWritesIntoPassedFiles(t *testing.T) {
	_, c, _ := start(t)
	dir := t.TempDir()
	csvF, err := os.Create(filepath.Join(dir, "a.csv"))
	if err != nil {
		t.Fatal(err)
	}
	sigF, err := os.Create(filepath.Join(dir, "a.csv.minisig"))
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	sum, err := c.AuditExport(context.Background(), from, time.Time{}, csvF, sigF)
	csvF.Close()
	sigF.Close()
	if err != nil || sum.Rows != 1 || !sum.From.Equal(from) {
		t.Fatalf("export: %+v %v", sum, err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "a.csv"))
	sig, _ := os.ReadFile(filepath.Join(dir, "a.csv.minisig"))
	if string(got) != "seq,time\r\n1,x\r\n" || !strings.HasPrefix(string(sig), "signature of unix:") {
		t.Fatalf("files: %q %q", got, sig)
	}
	// Without the files the daemon refuses rather than write nowhere.
	if _, err := c.Do(context.Background(), Request{Op: OpAuditExport}); ops.CodeOf(err) != ops.CodeInvalidRequest {
		t.Fatalf("export without files: %v", err)
	}
	if ch, err := c.AuditCheck(context.Background(), []string{"1:ab"}); ops.CodeOf(err) != ops.CodeAuditBroken || ch.Problem != "cut short" {
		t.Fatalf("a broken check must come back with its result: %+v %v", ch, err)
	}
	if keys, err := c.AuditPublicKeys(context.Background()); err != nil || len(keys) != 1 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	if k, err := c.RotateAuditKey(context.Background()); err != nil || k != "RWnew" {
		t.Fatalf("new key: %v %v", k, err)
	}
	if rep, err := c.Doctor(context.Background(), ops.DoctorRequest{Action: ops.DoctorCheck}); err != nil || !rep.OK {
		t.Fatalf("doctor: %+v %v", rep, err)
	}
	// A report with problems comes back with its error.
	if rep, err := c.Doctor(context.Background(), ops.DoctorRequest{Action: ops.DoctorDismiss, ID: 9}); ops.CodeOf(err) != ops.CodeIntegrity || len(rep.Problems) != 1 || rep.Problems[0].ID != 9 {
		t.Fatalf("doctor with a problem: %+v %v", rep, err)
	}
}
