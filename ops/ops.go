// Package ops is the vocabulary of the appliance's operations: who asks
// (Actor), what they ask for and what they get back, and the coded errors
// they may meet. The service (package daemon) takes and gives these values;
// its doors (the control socket for the command line, and the web UI)
// only carry them. It has no behaviour and imports only the standard
// library, so a door speaks it without linking SQLite or serial code.
//
// The JSON form of every type here is what `smsd ... -json` prints and
// what the control socket carries: snake_case keys, times in RFC 3339 (UTC),
// no zero times, no PHI beyond what the operation is for.
package ops

import (
	"errors"
	"time"
)

// Actor kinds.
const (
	// ActorUnix is a person at the box's shell: the control socket's peer
	// credentials name them, or the command line ran the store directly.
	ActorUnix = "unix"
	// ActorWeb is a signed-in web user.
	ActorWeb = "web"
	// ActorToken is a practice system calling the JSON API with a token.
	ActorToken = "token"
	// ActorSystem is the daemon itself (inbound STOP, modem events).
	ActorSystem = "system"
)

// Roles an actor may have.
const (
	RoleAdmin = "admin"
	RoleStaff = "staff"
)

// Actor is who asks for an operation, with which role, from where. Every
// operation takes one, so that role checks and (next) the audit trail have
// one place to live.
type Actor struct {
	Kind string `json:"kind"`
	// Name is the Unix login, the web username or the token's name; empty
	// for the system.
	Name string `json:"name,omitempty"`
	// UID is an ActorUnix's user id (0 for root, so Name tells root apart).
	UID int `json:"uid,omitempty"`
	// UserID is the account id of a web user.
	UserID int64  `json:"user_id,omitempty"`
	Role   string `json:"role"`
	// Addr is the client's address: the peer's process id for the control
	// socket ("pid 1234"), the remote address for the web.
	Addr string `json:"addr,omitempty"`
}

// String is the actor as the audit trail and created_by name it:
// "unix:alice", "web:bob", "token:pms", "system".
func (a Actor) String() string {
	if a.Kind == ActorSystem || a.Name == "" {
		return a.Kind
	}
	return a.Kind + ":" + a.Name
}

// IsAdmin reports whether the actor may do what only an admin may.
func (a Actor) IsAdmin() bool { return a.Role == RoleAdmin }

// System is the daemon acting on its own.
var System = Actor{Kind: ActorSystem, Role: RoleAdmin}

// SendRequest enqueues one message.
type SendRequest struct {
	To             string    `json:"to"`
	Text           string    `json:"text"`
	SendAt         time.Time `json:"send_at,omitzero"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	// Template names a saved template (by ID) to fill with Fields instead
	// of Text; the service renders it and checks the result as any text.
	TemplateID int64             `json:"template_id,omitempty"`
	Fields     map[string]string `json:"fields,omitempty"`
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

// Status is the appliance's state as `smsd status` and the web's status
// page show it. It carries no PHI.
type Status struct {
	Version   string    `json:"version"`
	PID       int       `json:"pid,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	DataDir   string    `json:"data_dir"`
	// Running is false when the status was read from the store directly
	// because no daemon answered.
	Running bool `json:"running"`
	// Locked: the store waits for its passphrase (`smsd key unlock`).
	Locked bool `json:"locked"`
	// Starting: the daemon answers but is still opening the store.
	Starting bool `json:"starting"`
	// Alive is the dispatcher's own verdict (what the watchdog hears).
	Alive bool `json:"alive"`
	// Queue counts messages by state.
	Queue map[string]int `json:"queue"`
	// QueueError is set when the counts could not be read.
	QueueError string        `json:"queue_error,omitempty"`
	QuietHours string        `json:"quiet_hours,omitempty"`
	Modems     []ModemStatus `json:"modems"`
	// AuditProblem says why the audit log did not verify at start: a
	// break the compliance officer must hear of (smsd audit check).
	AuditProblem string `json:"audit_problem,omitempty"`
	// Quarantined counts messages taken out of the queue because their
	// row failed its integrity check (changed without the key); they are
	// never sent. smsd doctor lists them.
	Quarantined int `json:"quarantined"`
	// CAFingerprint is the SHA-256 fingerprint (AB:CD:...) of the web UI's
	// local certificate authority, which front-desk PCs trust: clinic IT
	// compares it with what the browser shows. Empty when the data
	// directory holds no CA yet or the admin's own certificate serves.
	CAFingerprint string `json:"ca_fingerprint,omitempty"`
	// Backup is the last backup's outcome (smsd backup, the nightly timer).
	Backup BackupStatus `json:"backup"`
}

// ModemStatus is one modem's health and its send loop's state.
type ModemStatus struct {
	ID    string `json:"id"`
	Ready bool   `json:"ready"`
	// State is what the send loop does: "sending", "idle", "rate limit",
	// "quiet hours", "daily cap", "not ready", ...; Until is when a
	// deferral ends.
	State        string    `json:"state"`
	Until        time.Time `json:"until,omitzero"`
	Connected    bool      `json:"connected"`
	Port         string    `json:"port"`
	Manufacturer string    `json:"manufacturer,omitempty"`
	Model        string    `json:"model,omitempty"`
	Revision     string    `json:"revision,omitempty"`
	// IMEI is masked: only its last digits.
	IMEI string `json:"imei,omitempty"`
	// SIM is the SIM's state as +CPIN says it: "READY", "SIM PIN", ...
	SIM      string `json:"sim,omitempty"`
	SMSC     bool   `json:"smsc"`
	Operator string `json:"operator,omitempty"`
	// Registration in words: "home", "roaming", "searching", "denied", ...
	Registration string    `json:"registration"`
	SignalDBm    int       `json:"signal_dbm,omitempty"`
	Bars         int       `json:"bars"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
	CheckedAt    time.Time `json:"checked_at,omitzero"`
	Reconnects   int       `json:"reconnects"`
	// StorageUsed and StorageTotal are the SIM's message slots in use
	// and in all (AT+CPMS?); 0 when unknown. A full SIM makes the network
	// hold new messages back, STOP replies included.
	StorageUsed  int       `json:"storage_used"`
	StorageTotal int       `json:"storage_total,omitempty"`
	LastBeat     time.Time `json:"last_beat,omitzero"`
	// SentToday counts messages started today, against DailyCap (0: none).
	SentToday int    `json:"sent_today"`
	DailyCap  int    `json:"daily_cap,omitempty"`
	RateLimit string `json:"rate_limit"`
	Sent      int    `json:"sent"`
	Failed    int    `json:"failed"`
	Retried   int    `json:"retried"`
	// Uncertain counts messages that may have gone out unconfirmed.
	Uncertain int `json:"uncertain"`
}

// InboxItem is one received message, opened for the person who asked.
type InboxItem struct {
	ID         int64     `json:"id"`
	From       string    `json:"from"`
	Text       string    `json:"text"`
	ReceivedAt time.Time `json:"received_at"`
	SentAt     time.Time `json:"sent_at,omitzero"`
	// ReplyTo is the id of the reminder this answers, or null.
	ReplyTo     *int64 `json:"reply_to"`
	DecodeError string `json:"decode_error,omitempty"`
	Incomplete  bool   `json:"incomplete,omitempty"`
	// Damaged: the row failed its integrity check (changed without the
	// key, or damaged on disk), so its sealed content is not shown; the
	// rest of the list is. smsd doctor names the row.
	Damaged bool `json:"damaged,omitempty"`
}

// User actions a UserRequest may ask for.
const (
	UserAdd     = "add"
	UserPasswd  = "passwd"
	UserDisable = "disable"
	UserEnable  = "enable"
	UserList    = "list"
	UserRole    = "role"
)

// UserRequest manages a staff account. Password is the new password in
// clear for add and passwd: it crosses only the local socket and is hashed
// (argon2id) before it is stored.
type UserRequest struct {
	Action   string `json:"action"`
	Username string `json:"username,omitempty"`
	Name     string `json:"name,omitempty"`
	Role     string `json:"role,omitempty"`
	Password string `json:"password,omitempty"`
}

// UserInfo is an account as lists show it: never its password hash or
// second-factor secret.
type UserInfo struct {
	Username    string    `json:"username"`
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	Disabled    bool      `json:"disabled"`
	BreakGlass  bool      `json:"break_glass"`
	TOTP        bool      `json:"totp"`
	LockedUntil time.Time `json:"locked_until,omitzero"`
	CreatedAt   time.Time `json:"created_at"`
}

// RotateResult says what a data key rotation did.
type RotateResult struct {
	Gen      uint32 `json:"gen"`      // the data key generation now in use
	Resumed  bool   `json:"resumed"`  // an interrupted rotation was continued
	Resealed int    `json:"resealed"` // rows sealed again under the new key
}

// MessageFilter selects messages for a list. Zero fields do not filter.
type MessageFilter struct {
	State  string    `json:"state,omitempty"`
	Since  time.Time `json:"since,omitzero"` // on created_at: since <= t < until
	Until  time.Time `json:"until,omitzero"`
	Limit  int       `json:"limit,omitempty"` // default 100, at most 10000
	Offset int       `json:"offset,omitempty"`
	// To finds the messages to one number (through the blind index; the
	// number is never compared in clear).
	To string `json:"to,omitempty"`
	// BeforeID lists only messages with a smaller id: keyset paging, as
	// fast on page 1000 as on page 1.
	BeforeID int64 `json:"before_id,omitempty"`
}

// Message is an outgoing message. In a list, To is masked and Text is
// empty; only Message (one message, looked at on purpose) opens them.
type Message struct {
	ID            int64     `json:"id"`
	State         string    `json:"state"`
	To            string    `json:"to"`
	Text          string    `json:"text,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	SendAt        time.Time `json:"send_at,omitzero"`
	UpdatedAt     time.Time `json:"updated_at,omitzero"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	Attempts      int       `json:"attempts"`
	// LastError is an error code or short reason, never PHI.
	LastError     string `json:"last_error,omitempty"`
	PartsTotal    int    `json:"parts_total"`
	PartsAccepted int    `json:"parts_accepted"`
	ModemID       string `json:"modem_id,omitempty"`
	CreatedBy     string `json:"created_by,omitempty"`
	// Purged: the retention policy erased the number and text.
	Purged bool `json:"purged,omitempty"`
	// Damaged: the row failed its integrity check (changed without the
	// key, or damaged on disk), so its sealed content is not shown; the
	// rest of the list is. smsd doctor names the row.
	Damaged bool `json:"damaged,omitempty"`
}

// What a MessageAction may do to a message.
const (
	// ActionCancel stops a queued (or scheduled) message.
	ActionCancel = "cancel"
	// ActionResend queues an uncertain, failed or undelivered message again.
	ActionResend = "resend"
	// ActionDismiss settles an uncertain message as failed without sending.
	ActionDismiss = "dismiss"
)

// MessageAction is a person's decision about one message.
type MessageAction struct {
	ID     int64  `json:"id"`
	Action string `json:"action"`
}

// What an OptOutRequest may do.
const (
	OptOutList   = "list"
	OptOutAdd    = "add"
	OptOutRemove = "remove"
)

// OptOutRequest lists, adds or removes opt-outs. Number is any format the
// clinic's region understands; Reason is a short note for the record (no
// PHI), required to remove one.
type OptOutRequest struct {
	Action string `json:"action"`
	Number string `json:"number,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// OptOut is one number that gets no more messages. Number is masked in
// lists.
type OptOut struct {
	ID        int64     `json:"id"`
	Number    string    `json:"number"`
	CreatedAt time.Time `json:"created_at"`
	// Source says how it came: "sms_stop" (the patient texted STOP),
	// "unix:alice" (staff), ...
	Source string `json:"source,omitempty"`
	// Damaged: the row failed its integrity check (changed without the
	// key, or damaged on disk), so its sealed content is not shown; the
	// rest of the list is. smsd doctor names the row.
	Damaged bool `json:"damaged,omitempty"`
}

// AuditSummary is what an audit export holds, as its signature vouches.
type AuditSummary struct {
	From      time.Time `json:"from,omitzero"`
	To        time.Time `json:"to,omitzero"`
	Rows      int64     `json:"rows"`
	First     int64     `json:"first"`
	Last      int64     `json:"last"`
	ChainHead string    `json:"chain_head"`
}

// AuditCheck is the result of verifying the audit log in the store.
type AuditCheck struct {
	OK          bool   `json:"ok"`
	Head        string `json:"head"`
	Rows        int64  `json:"rows"`
	SignedHeads int    `json:"signed_heads"`
	Problem     string `json:"problem,omitempty"`
}

// What a DoctorRequest may do.
const (
	DoctorCheck   = "check"
	DoctorDismiss = "dismiss"
	DoctorAccept  = "accept"
)

// DoctorRequest checks the store's integrity, dismisses a quarantined
// message (ID), or accepts a table's digest after review (Table).
type DoctorRequest struct {
	Action string `json:"action"`
	ID     int64  `json:"id,omitempty"`
	Table  string `json:"table,omitempty"`
}

// IntegrityProblem is one finding of the integrity check: a table and a row
// id (0: the whole table), never content.
type IntegrityProblem struct {
	Table       string `json:"table"`
	ID          int64  `json:"id,omitempty"`
	Problem     string `json:"problem"`
	Quarantined bool   `json:"quarantined,omitempty"`
}

// DoctorReport is what smsd doctor finds.
type DoctorReport struct {
	OK          bool               `json:"ok"`
	Quarantined int                `json:"quarantined"`
	Problems    []IntegrityProblem `json:"problems"`
	Audit       AuditCheck         `json:"audit"`
}

// Error codes a caller can act on.
const (
	CodeOptedOut       = "opted_out"
	CodeInvalidNumber  = "invalid_number"
	CodeInvalidText    = "invalid_text"
	CodeTooLong        = "too_long"
	CodeInvalidRequest = "invalid_request"
	CodeConflict       = "idempotency_conflict"
	CodeLocked         = "locked"
	CodeWrongKey       = "wrong_key"
	CodeNotLocked      = "not_locked"
	CodeUserExists     = "user_exists"
	CodeNoSuchUser     = "no_such_user"
	CodeNotFound       = "not_found"
	CodeWrongState     = "wrong_state"
	CodeDenied         = "denied"
	CodeAuditBroken    = "audit_broken"
	CodeIntegrity      = "integrity"
	CodeInternal       = "internal"
)

// Error is an error a caller can act on: a code for programs and a message
// for people (no PHI: numbers masked, texts never quoted).
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field is the request field the error is about, by its JSON name
	// ("phone", "at", "name", ...), when it is about one: a form shows the
	// message beside that field.
	Field string `json:"field,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code.
func Errorf(code, message string) *Error { return &Error{Code: code, Message: message} }

// FieldErrorf returns an *Error with the given code about request field
// field.
func FieldErrorf(code, field, message string) *Error {
	return &Error{Code: code, Message: message, Field: field}
}

// FieldOf returns the field of err if it is (or wraps) an *Error, else "".
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// CodeOf returns the code of err if it is (or wraps) an *Error, else "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ErrTextNotUTF8 refuses a text that is not valid UTF-8. JSON would turn
// its bad bytes into U+FFFD on the way to the daemon, so a door checks
// before it carries a text, and the service checks again.
var ErrTextNotUTF8 = Errorf(CodeInvalidText, "the text is not valid UTF-8 (was it saved in another encoding, such as Windows-1252? convert it to UTF-8); nothing was queued")
