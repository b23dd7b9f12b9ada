package control

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type fakeHandler struct {
	block chan struct{}
}

func (f *fakeHandler) Send(ctx context.Context, r SendRequest) (SendResult, error) {
	switch {
	case r.To == "+15550000001":
		return SendResult{}, Errorf(CodeOptedOut, "opted out")
	case r.To == "boom":
		return SendResult{}, errors.New("disk on fire")
	case r.To == "panic":
		panic("handler bug")
	case r.To == "slow":
		select {
		case <-f.block:
		case <-ctx.Done():
			return SendResult{}, ctx.Err()
		}
	}
	return SendResult{ID: 7, State: "queued", To: "+1******4567", Parts: 1, Encoding: "GSM-7"}, nil
}

func (f *fakeHandler) Status(ctx context.Context) (Status, error) {
	return Status{Version: "test", PID: 42, Running: true, Queue: map[string]int{"queued": 1}}, nil
}

func (f *fakeHandler) Inbox(ctx context.Context, limit int) ([]InboxItem, error) {
	if limit == 0 {
		return nil, nil
	}
	return []InboxItem{{ID: 1, From: "+15551234567", Text: "C", ReplyTo: 7}}, nil
}

func (f *fakeHandler) Unlock(ctx context.Context, p []byte) error {
	if string(p) != "correct horse" {
		return Errorf(CodeWrongKey, "wrong passphrase")
	}
	return nil
}

func (f *fakeHandler) User(ctx context.Context, r UserRequest) ([]UserInfo, error) {
	switch {
	case r.Action == UserList:
		return nil, nil
	case r.Username == "taken":
		return nil, Errorf(CodeUserExists, "user taken already exists")
	}
	return []UserInfo{{Username: r.Username, Role: r.Role, Name: r.Name}}, nil
}

func (f *fakeHandler) RotateDataKey(ctx context.Context) (RotateResult, error) {
	return RotateResult{Gen: 2, Resealed: 3}, nil
}

func start(t *testing.T) (*Server, *Client, *fakeHandler) {
	t.Helper()
	dir := t.TempDir()
	h := &fakeHandler{block: make(chan struct{})}
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
	r, err := c.Send(ctx, SendRequest{To: "+15551234567", Text: "hi"})
	if err != nil || r.ID != 7 || r.State != "queued" {
		t.Fatalf("send: %+v %v", r, err)
	}
	_, err = c.Send(ctx, SendRequest{To: "+15550000001", Text: "hi"})
	if CodeOf(err) != CodeOptedOut {
		t.Fatalf("opted out: err %v code %q", err, CodeOf(err))
	}
	_, err = c.Send(ctx, SendRequest{To: "boom"})
	if CodeOf(err) != CodeInternal || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("internal: %v", err)
	}
	_, err = c.Send(ctx, SendRequest{To: "panic"})
	if CodeOf(err) != CodeInternal {
		t.Fatalf("panic: %v", err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.PID != 42 || st.Queue["queued"] != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	items, err := c.Inbox(ctx, 10)
	if err != nil || len(items) != 1 || items[0].ReplyTo != 7 {
		t.Fatalf("inbox %+v %v", items, err)
	}
	if items, err := c.Inbox(ctx, 0); err != nil || len(items) != 0 {
		t.Fatalf("empty inbox must be an empty list: %#v %v", items, err)
	}
	if err := c.Unlock(ctx, []byte("nope")); CodeOf(err) != CodeWrongKey {
		t.Fatalf("unlock wrong: %v", err)
	}
	if err := c.Unlock(ctx, []byte("correct horse")); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if _, err := c.Do(ctx, Request{Op: "reboot"}); CodeOf(err) != CodeInvalidRequest {
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
	if !strings.Contains(string(buf[:n]), CodeInvalidRequest) {
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
	s, err := Listen(p, &fakeHandler{}, nil)
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
	if _, err := Listen(p, &fakeHandler{}, nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("err %v", err)
	}
}

// TestCloseWaitsThenCuts: Close waits for a request in progress, and cuts it
// after the wait so shutdown stays bounded.
func TestCloseWaitsThenCuts(t *testing.T) {
	s, c, _ := start(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Send(context.Background(), SendRequest{To: "slow"})
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
	got, err := c.User(ctx, UserRequest{Action: UserAdd, Username: "alice", Role: "admin", Name: "Alice A.", Password: "long enough secret"})
	if err != nil || len(got) != 1 || got[0].Username != "alice" || got[0].Role != "admin" || got[0].Name != "Alice A." {
		t.Fatalf("add: %+v %v", got, err)
	}
	if _, err := c.User(ctx, UserRequest{Action: UserAdd, Username: "taken"}); CodeOf(err) != CodeUserExists {
		t.Fatalf("add taken: %v, want code %s", err, CodeUserExists)
	}
	if got, err := c.User(ctx, UserRequest{Action: UserList}); err != nil || len(got) != 0 {
		t.Fatalf("list: %#v %v", got, err)
	}
	if r, err := c.RotateDataKey(ctx); err != nil || r.Gen != 2 || r.Resealed != 3 {
		t.Fatalf("rotate: %+v %v", r, err)
	}
	if _, err := c.Do(ctx, Request{Op: OpUser}); CodeOf(err) != CodeInvalidRequest {
		t.Fatalf("user without action: %v", err)
	}
}
