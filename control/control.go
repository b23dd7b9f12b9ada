// Package control is the daemon's local control socket: a unix stream socket
// in the data directory (control.sock, mode 0600, in a 0700 directory) over
// which the command line (`smsd send`, `status`, `inbox`, `messages`,
// `message`, `optouts`, `user`, `key`) talks to the running `smsd serve`.
// One JSON request per connection, one JSON response. Only the daemon's own
// user and root may connect (checked with SO_PEERCRED as well as by the file
// modes); the peer credentials name the actor of every request, so the
// client cannot choose who it claims to be. Nothing here leaves the box.
//
// control is a door, not a rule: it carries package ops's values to the
// service (Handler) and back, and links neither SQLite nor serial code.
package control

import (
	"errors"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// Operations a Request may ask for.
const (
	OpSend     = "send"
	OpStatus   = "status"
	OpInbox    = "inbox"
	OpUnlock   = "unlock"
	OpUser     = "user"
	OpRotate   = "rotate"
	OpMessages = "messages"
	OpMessage  = "message"
	OpAction   = "message_action"
	OpOptOuts  = "optouts"
	// OpAuditExport comes with two open files (SCM_RIGHTS): the CSV and
	// its signature, which the daemon writes; the person asking opened
	// them where they may write, so the daemon needs no access there.
	// OpPing asks whether a daemon serves here, and its pid, without
	// touching the store (no audit row: nobody looked at anything).
	OpPing        = "ping"
	OpDoctor      = "doctor"
	OpAuditExport = "audit_export"
	OpAuditCheck  = "audit_check"
	OpAuditKeys   = "audit_pubkeys"
	OpAuditNewKey = "audit_newkey"
)

// Request is what a client sends.
type Request struct {
	Op         string             `json:"op"`
	Send       *ops.SendRequest   `json:"send,omitempty"`
	Limit      int                `json:"limit,omitempty"`      // inbox
	Passphrase []byte             `json:"passphrase,omitempty"` // unlock: bytes (base64 in JSON), zeroed after use, never a string
	User       *ops.UserRequest   `json:"user,omitempty"`
	Filter     *ops.MessageFilter `json:"filter,omitempty"` // messages
	ID         int64              `json:"id,omitempty"`     // message
	Action     *ops.MessageAction `json:"action,omitempty"`
	OptOut     *ops.OptOutRequest `json:"optout,omitempty"`
	From       time.Time          `json:"from,omitzero"`    // audit export
	To         time.Time          `json:"to,omitzero"`      // audit export
	Heads      []string           `json:"heads,omitempty"`  // audit check: signed heads from outside
	Doctor     *ops.DoctorRequest `json:"doctor,omitempty"` // doctor
	Backup     *ops.BackupRequest `json:"backup,omitempty"` // backup
	Remind     *RemindRequest     `json:"remind,omitempty"` // the reminder operations (remind.go)
}

// Response is what the daemon answers. Exactly one of Error or the field for
// the operation is set.
type Response struct {
	Error    *ops.Error        `json:"error,omitempty"`
	Send     *ops.SendResult   `json:"send,omitempty"`
	Status   *ops.Status       `json:"status,omitempty"`
	Inbox    []ops.InboxItem   `json:"inbox,omitempty"`
	Users    []ops.UserInfo    `json:"users,omitempty"`
	Rotate   *ops.RotateResult `json:"rotate,omitempty"`
	Messages []ops.Message     `json:"messages,omitempty"`
	Message  *ops.Message      `json:"message,omitempty"`
	OptOuts  []ops.OptOut      `json:"optouts,omitempty"`
	Export   *ops.AuditSummary `json:"export,omitempty"`
	Check    *ops.AuditCheck   `json:"check,omitempty"`
	Keys     []string          `json:"keys,omitempty"`
	PID      int               `json:"pid,omitempty"` // ping
	Report   *ops.DoctorReport `json:"report,omitempty"`
	Backup   *ops.BackupResult `json:"backup,omitempty"`
	Remind   *RemindResponse   `json:"remind,omitempty"`
}

// ErrNotRunning means no daemon listens on the socket (no socket file, or
// nobody accepts on it).
var ErrNotRunning = errors.New("smsd serve is not running (no control socket)")

// maxMessage bounds a request or response on the wire.
const maxMessage = 4 << 20
