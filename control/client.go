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
	"unicode/utf8"

	"github.com/clinicsms/smsd/ops"
	"golang.org/x/sys/unix"
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
// comes back as *ops.Error. ErrNotRunning when nobody listens.
func (c *Client) Do(ctx context.Context, req Request) (Response, error) {
	return c.do(ctx, req, nil)
}

// do is Do, passing files along with the request (SCM_RIGHTS).
func (c *Client) do(ctx context.Context, req Request, files []*os.File) (Response, error) {
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
			return Response{}, fmt.Errorf("control socket %s: permission denied (members of the admin group, smsd-admin in the package, use it as themselves: an admin adds you with sudo adduser $USER smsd-admin, then log in again; or run as the smsd user: sudo -u smsd smsd ...)", c.Path)
		}
		return Response{}, fmt.Errorf("control socket %s: %w", c.Path, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		return Response{}, err
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	b = append(b, '\n')
	n, _, werr := conn.(*net.UnixConn).WriteMsgUnix(b, oob, nil)
	if werr == nil && n < len(b) {
		// One sendmsg takes only what fits in the socket's buffer (an
		// import's file does not): the files went with the first bytes,
		// the rest follows.
		_, werr = conn.Write(b[n:])
	}
	// The request may carry a passphrase: do not leave it to the GC.
	clear(b)
	var resp Response
	if err := json.NewDecoder(io.LimitReader(conn, answerLimit(req.Op))).Decode(&resp); err != nil {
		if werr != nil {
			// The daemon may answer and close before the request is read (a
			// refused peer): its answer, when there is one, says why.
			return Response{}, fmt.Errorf("control socket %s: sending the request: %w", c.Path, werr)
		}
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

// Send enqueues a message through the daemon. A text that is not valid
// UTF-8 is refused here: JSON would carry it as U+FFFD.
func (c *Client) Send(ctx context.Context, r ops.SendRequest) (ops.SendResult, error) {
	if !utf8.ValidString(r.Text) {
		return ops.SendResult{}, ops.ErrTextNotUTF8
	}
	resp, err := c.Do(ctx, Request{Op: OpSend, Send: &r})
	if err != nil {
		return ops.SendResult{}, err
	}
	if resp.Send == nil {
		return ops.SendResult{}, errMismatch("a send")
	}
	return *resp.Send, nil
}

// errMismatch is the answer to a daemon that answered without the result
// the request asks for: an older or newer smsd serve than this command.
func errMismatch(what string) error {
	return fmt.Errorf("smsd serve answered %s without a result (a different version of smsd? restart smsd after an upgrade)", what)
}

// Status asks the daemon for its status.
func (c *Client) Status(ctx context.Context) (ops.Status, error) {
	resp, err := c.Do(ctx, Request{Op: OpStatus})
	if err != nil {
		return ops.Status{}, err
	}
	if resp.Status == nil {
		return ops.Status{}, errMismatch("status")
	}
	return *resp.Status, nil
}

// Inbox lists received messages, newest first.
func (c *Client) Inbox(ctx context.Context, limit int) ([]ops.InboxItem, error) {
	resp, err := c.Do(ctx, Request{Op: OpInbox, Limit: limit})
	return resp.Inbox, err
}

// Unlock gives a locked daemon its passphrase.
func (c *Client) Unlock(ctx context.Context, passphrase []byte) error {
	_, err := c.Do(ctx, Request{Op: OpUnlock, Passphrase: passphrase})
	return err
}

// User asks the daemon to manage a staff account.
func (c *Client) User(ctx context.Context, r ops.UserRequest) ([]ops.UserInfo, error) {
	resp, err := c.Do(ctx, Request{Op: OpUser, User: &r})
	return resp.Users, err
}

// RotateDataKey asks the daemon to replace the data key (see
// Handler.RotateDataKey). It waits as long as the daemon allows a rotation.
func (c *Client) RotateDataKey(ctx context.Context) (ops.RotateResult, error) {
	cc := *c
	if cc.Timeout < rotateTimeout {
		cc.Timeout = rotateTimeout
	}
	resp, err := cc.Do(ctx, Request{Op: OpRotate})
	if err != nil {
		return ops.RotateResult{}, err
	}
	if resp.Rotate == nil {
		return ops.RotateResult{}, errMismatch("a rotation")
	}
	return *resp.Rotate, nil
}

// Messages lists outgoing messages (numbers masked, no texts).
func (c *Client) Messages(ctx context.Context, f ops.MessageFilter) ([]ops.Message, error) {
	resp, err := c.Do(ctx, Request{Op: OpMessages, Filter: &f})
	return resp.Messages, err
}

// Message shows one message with its number and text.
func (c *Client) Message(ctx context.Context, id int64) (ops.Message, error) {
	resp, err := c.Do(ctx, Request{Op: OpMessage, ID: id})
	if err != nil {
		return ops.Message{}, err
	}
	if resp.Message == nil {
		return ops.Message{}, errMismatch("a message")
	}
	return *resp.Message, nil
}

// Act cancels, resends or dismisses a message.
func (c *Client) Act(ctx context.Context, r ops.MessageAction) (ops.Message, error) {
	resp, err := c.Do(ctx, Request{Op: OpAction, Action: &r})
	if err != nil {
		return ops.Message{}, err
	}
	if resp.Message == nil {
		return ops.Message{}, errMismatch("a message action")
	}
	return *resp.Message, nil
}

// OptOuts lists, adds or removes opt-outs.
func (c *Client) OptOuts(ctx context.Context, r ops.OptOutRequest) ([]ops.OptOut, error) {
	resp, err := c.Do(ctx, Request{Op: OpOptOuts, OptOut: &r})
	return resp.OptOuts, err
}

// AuditExport asks the daemon to write the audit log's rows with from <=
// time < to into csvOut and its signature into sigOut: files this process
// opened, handed to the daemon over the socket. It waits as long as a
// rotation may take.
func (c *Client) AuditExport(ctx context.Context, from, to time.Time, csvOut, sigOut *os.File) (ops.AuditSummary, error) {
	cc := *c
	if cc.Timeout < rotateTimeout {
		cc.Timeout = rotateTimeout
	}
	resp, err := cc.do(ctx, Request{Op: OpAuditExport, From: from, To: to}, []*os.File{csvOut, sigOut})
	if err != nil {
		return ops.AuditSummary{}, err
	}
	if resp.Export == nil {
		return ops.AuditSummary{}, errMismatch("an audit export")
	}
	return *resp.Export, nil
}

// AuditCheck asks the daemon to verify the audit log against its signed
// heads and heads (from the journal or an export). The result comes back
// also when the log does not verify (with the error).
func (c *Client) AuditCheck(ctx context.Context, heads []string) (ops.AuditCheck, error) {
	cc := *c
	if cc.Timeout < rotateTimeout {
		cc.Timeout = rotateTimeout
	}
	resp, err := cc.Do(ctx, Request{Op: OpAuditCheck, Heads: heads})
	if resp.Check != nil {
		return *resp.Check, err
	}
	if err == nil {
		err = errMismatch("an audit check")
	}
	return ops.AuditCheck{}, err
}

// AuditPublicKeys lists the audit signing keys' public keys.
func (c *Client) AuditPublicKeys(ctx context.Context) ([]string, error) {
	resp, err := c.Do(ctx, Request{Op: OpAuditKeys})
	return resp.Keys, err
}

// RotateAuditKey asks the daemon for a new audit signing key; it returns
// the new public key.
func (c *Client) RotateAuditKey(ctx context.Context) (string, error) {
	resp, err := c.Do(ctx, Request{Op: OpAuditNewKey})
	if err != nil {
		return "", err
	}
	if len(resp.Keys) != 1 {
		return "", errMismatch("a new audit key")
	}
	return resp.Keys[0], nil
}

// Ping reports whether a daemon serves on the socket, and its process id;
// ErrNotRunning when none does. It reads nothing of the store.
func (c *Client) Ping(ctx context.Context) (int, error) {
	resp, err := c.Do(ctx, Request{Op: OpPing})
	return resp.PID, err
}

// Doctor asks the daemon to check the store's integrity or to carry out a
// decision about a finding. The report comes back also with an error.
func (c *Client) Doctor(ctx context.Context, r ops.DoctorRequest) (ops.DoctorReport, error) {
	cc := *c
	if cc.Timeout < rotateTimeout {
		cc.Timeout = rotateTimeout
	}
	resp, err := cc.Do(ctx, Request{Op: OpDoctor, Doctor: &r})
	if resp.Report != nil {
		return *resp.Report, err
	}
	if err == nil {
		err = errMismatch("a doctor request")
	}
	return ops.DoctorReport{}, err
}
