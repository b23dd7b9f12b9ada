package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Client talks to a daemon's control socket.
type Client struct {
	Path string
	// Timeout bounds one request; default 30 s.
	Timeout time.Duration
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client { return &Client{Path: path} }

// Do sends one request and returns the daemon's response; a daemon error
// comes back as *Error. ErrNotRunning when nobody listens.
func (c *Client) Do(ctx context.Context, req Request) (Response, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return Response{}, ErrNotRunning
		}
		if errors.Is(err, os.ErrPermission) {
			return Response{}, fmt.Errorf("control socket %s: permission denied (run as the smsd user: sudo -u smsd smsd ...)", c.Path)
		}
		return Response{}, fmt.Errorf("control socket %s: %w", c.Path, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return Response{}, fmt.Errorf("control socket %s: sending the request: %w", c.Path, err)
	}
	var resp Response
	if err := json.NewDecoder(io.LimitReader(conn, maxMessage)).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			return Response{}, fmt.Errorf("smsd serve did not answer within %v (is it stuck? see journalctl -u smsd)", timeout)
		}
		return Response{}, fmt.Errorf("control socket %s: reading the answer: %w (did smsd serve stop?)", c.Path, err)
	}
	if resp.Error != nil {
		return resp, resp.Error
	}
	return resp, nil
}

// Send enqueues a message through the daemon.
func (c *Client) Send(ctx context.Context, r SendRequest) (SendResult, error) {
	resp, err := c.Do(ctx, Request{Op: OpSend, Send: &r})
	if err != nil {
		return SendResult{}, err
	}
	if resp.Send == nil {
		return SendResult{}, errors.New("smsd serve answered a send without a result (version mismatch? restart smsd)")
	}
	return *resp.Send, nil
}

// Status asks the daemon for its status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	resp, err := c.Do(ctx, Request{Op: OpStatus})
	if err != nil {
		return Status{}, err
	}
	if resp.Status == nil {
		return Status{}, errors.New("smsd serve answered status without one (version mismatch? restart smsd)")
	}
	return *resp.Status, nil
}

// Inbox lists received messages, newest first.
func (c *Client) Inbox(ctx context.Context, limit int) ([]InboxItem, error) {
	resp, err := c.Do(ctx, Request{Op: OpInbox, Limit: limit})
	if err != nil {
		return nil, err
	}
	return resp.Inbox, nil
}

// Unlock gives a locked daemon its passphrase.
func (c *Client) Unlock(ctx context.Context, passphrase []byte) error {
	_, err := c.Do(ctx, Request{Op: OpUnlock, Passphrase: string(passphrase)})
	return err
}

// User asks the daemon to manage a staff account.
func (c *Client) User(ctx context.Context, r UserRequest) ([]UserInfo, error) {
	resp, err := c.Do(ctx, Request{Op: OpUser, User: &r})
	if err != nil {
		return nil, err
	}
	return resp.Users, nil
}

// RotateDataKey asks the daemon to replace the data key (see
// Handler.RotateDataKey). It waits as long as the daemon allows a rotation.
func (c *Client) RotateDataKey(ctx context.Context) (RotateResult, error) {
	cc := *c
	if cc.Timeout < rotateTimeout {
		cc.Timeout = rotateTimeout
	}
	resp, err := cc.Do(ctx, Request{Op: OpRotate})
	if err != nil {
		return RotateResult{}, err
	}
	if resp.Rotate == nil {
		return RotateResult{}, errors.New("smsd serve answered a rotation without a result (version mismatch? restart smsd)")
	}
	return *resp.Rotate, nil
}
