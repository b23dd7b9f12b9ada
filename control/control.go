// Package control is the daemon's local control socket: a unix stream socket
// in the data directory (control.sock, mode 0600, in a 0700 directory) over
// which `smsd send`, `smsd status`, `smsd inbox`, `smsd user` and `smsd key unlock` talk to
// the running `smsd serve`. One JSON request per connection, one JSON
// response. Only the daemon's own user and root may connect (checked with
// SO_PEERCRED as well as by the file modes). Nothing here leaves the box.
package control

import (
	"errors"
	"time"

	"github.com/clinicsms/smsd/dispatch"
)

// Operations a Request may ask for.
const (
	OpSend   = "send"
	OpStatus = "status"
	OpInbox  = "inbox"
	OpUnlock = "unlock"
	OpUser   = "user"
	OpRotate = "rotate"
)

// Request is what a client sends.
type Request struct {
	Op         string       `json:"op"`
	Send       *SendRequest `json:"send,omitempty"`
	Limit      int          `json:"limit,omitempty"`      // inbox
	Passphrase string       `json:"passphrase,omitempty"` // unlock
	User       *UserRequest `json:"user,omitempty"`
}

// User actions a UserRequest may ask for.
const (
	UserAdd     = "add"
	UserPasswd  = "passwd"
	UserDisable = "disable"
	UserEnable  = "enable"
	UserList    = "list"
)

// UserRequest manages a staff account (smsd user). Password is the new
// password in clear for add and passwd: it crosses only the local socket
// and is hashed (argon2id) before it is stored.
type UserRequest struct {
	Action   string `json:"action"`
	Username string `json:"username,omitempty"`
	Name     string `json:"name,omitempty"`
	Role     string `json:"role,omitempty"`
	Password string `json:"password,omitempty"`
}

// UserInfo is an account as smsd user list shows it: never its password
// hash or second-factor secret.
type UserInfo struct {
	Username    string    `json:"username"`
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	Disabled    bool      `json:"disabled"`
	BreakGlass  bool      `json:"break_glass,omitempty"`
	TOTP        bool      `json:"totp"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	CreatedAt   time.Time `json:"created_at"`
}

// SendRequest enqueues one message.
type SendRequest struct {
	To             string    `json:"to"`
	Text           string    `json:"text"`
	SendAt         time.Time `json:"send_at,omitzero"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	CreatedBy      string    `json:"created_by,omitempty"`
}

// SendResult describes the queued message. To is masked: the caller knows
// the number, and the answer may end up in a terminal log.
type SendResult struct {
	ID       int64     `json:"id"`
	State    string    `json:"state"`
	To       string    `json:"to"`
	Parts    int       `json:"parts"`
	Encoding string    `json:"encoding"`
	SendAt   time.Time `json:"send_at,omitzero"`
	// Existing is true when the idempotency key matched a message queued
	// before: nothing new was added.
	Existing bool `json:"existing,omitempty"`
}

// Status is the daemon's state for `smsd status`. It carries no PHI.
type Status struct {
	Version   string    `json:"version"`
	PID       int       `json:"pid"`
	StartedAt time.Time `json:"started_at"`
	DataDir   string    `json:"data_dir"`
	// Running is false when the status was read from the store directly
	// because no daemon answered.
	Running bool `json:"running"`
	// Locked: the store waits for its passphrase (`smsd key unlock`).
	Locked bool `json:"locked"`
	// Starting: the daemon answers but is still opening the store.
	Starting bool `json:"starting,omitempty"`
	// Queue counts messages by state.
	Queue    map[string]int   `json:"queue"`
	Dispatch *dispatch.Status `json:"dispatch,omitempty"`
}

// InboxItem is one received message, decrypted for the operator on the box.
type InboxItem struct {
	ID          int64     `json:"id"`
	From        string    `json:"from"`
	Text        string    `json:"text"`
	ReceivedAt  time.Time `json:"received_at"`
	SentAt      time.Time `json:"sent_at,omitzero"`
	ReplyTo     int64     `json:"reply_to"`
	DecodeError string    `json:"decode_error,omitempty"`
	Incomplete  bool      `json:"incomplete,omitempty"`
}

// Response is what the daemon answers. Exactly one of Error or the field for
// the operation is set.
type Response struct {
	Error  *Error        `json:"error,omitempty"`
	Send   *SendResult   `json:"send,omitempty"`
	Status *Status       `json:"status,omitempty"`
	Inbox  []InboxItem   `json:"inbox,omitempty"`
	Users  []UserInfo    `json:"users,omitempty"`
	Rotate *RotateResult `json:"rotate,omitempty"`
}

// RotateResult says what a data key rotation did.
type RotateResult struct {
	Gen      uint32 `json:"gen"`      // the data key generation now in use
	Resumed  bool   `json:"resumed"`  // an interrupted rotation was continued
	Resealed int    `json:"resealed"` // rows sealed again under the new key
}

// Error codes a client can act on.
const (
	CodeOptedOut       = "opted_out"
	CodeInvalidNumber  = "invalid_number"
	CodeInvalidRequest = "invalid_request"
	CodeConflict       = "idempotency_conflict"
	CodeLocked         = "locked"
	CodeWrongKey       = "wrong_key"
	CodeNotLocked      = "not_locked"
	CodeUserExists     = "user_exists"
	CodeNoSuchUser     = "no_such_user"
	CodeInternal       = "internal"
)

// Error is an error as it crosses the socket: a code for programs and a
// message for people (no PHI: numbers masked, texts never quoted).
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code.
func Errorf(code, message string) *Error { return &Error{Code: code, Message: message} }

// CodeOf returns the code of err if it is (or wraps) an *Error, else "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ErrNotRunning means no daemon listens on the socket (no socket file, or
// nobody accepts on it).
var ErrNotRunning = errors.New("smsd serve is not running (no control socket)")

// maxMessage bounds a request or response on the wire.
const maxMessage = 4 << 20
