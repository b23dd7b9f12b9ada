// Package audit is smsd's audit trail: an append-only, hash-chained log of
// who sent, saw or changed what, in the same SQLite store as the data it is
// about, so that an action and its row commit in one transaction (the store
// appends the row inside the action's own transaction: see NewContext).
//
// Each row carries the SHA-256 of a canonical, length-prefixed encoding of
// itself and of the previous row's hash, so an edited, deleted or reordered
// row breaks the chain at that row (Check). Triggers refuse UPDATE and
// DELETE. Someone who holds the box can still rewrite the whole chain, so its
// head is signed (minisign) at every export and daily, and the signed heads
// leave the box (the journal, the exports); a rewritten log then disagrees
// with heads already out. Export writes the log as RFC 4180 CSV with a
// minisign signature that any auditor can check with `minisign -V`.
//
// No column holds PHI in clear: numbers at most masked, never a text or a
// name; object ids point at the sealed rows. The package is a leaf over
// database/sql: it knows nothing of the queue's tables.
package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Actions the log records. Every one of them has a producer and a test
// (e2e.TestEveryActionAudited), or says in that test which issue brings it.
const (
	LoginOK        = "login_ok"
	LoginFail      = "login_fail"
	Lockout        = "lockout"
	Logout         = "logout"
	AutoLogout     = "auto_logout"
	MessageCreate  = "message_create"
	MessageView    = "message_view"
	MessageList    = "message_list"
	MessageCancel  = "message_cancel"
	MessageResend  = "message_resend"
	MessageDismiss = "message_dismiss"
	InboxView      = "inbox_view"
	StatusView     = "status_view"
	OptOutList     = "optout_list"
	OptOutAdd      = "optout_add"
	OptOutRemove   = "optout_remove"
	UserList       = "user_list"
	UserCreate     = "user_create"
	UserDisable    = "user_disable"
	UserEnable     = "user_enable"
	RoleChange     = "role_change"
	PasswordChange = "password_change"
	TOTPEnrol      = "totp_enrol"
	TokenCreate    = "token_create"
	TokenRevoke    = "token_revoke"
	KeyRotate      = "key_rotate"
	Unlock         = "unlock"
	BreakGlassUse  = "breakglass_use"
	ModemEvent     = "modem_event"
	ConfigChange   = "config_change"
	AuditExport    = "audit_export"
	AuditCheck     = "audit_check"
	HeadSigned     = "head_signed"
	Start          = "start"
	// IntegrityCheck, QuarantineDismiss and DigestAccept are smsd doctor's:
	// the store's row integrity checked, a quarantined message dismissed,
	// a table's digest accepted after review.
	IntegrityCheck    = "integrity_check"
	QuarantineDismiss = "quarantine_dismiss"
	DigestAccept      = "digest_accept"
	// Setup is the first-run setup (the first admin, with the one-time
	// code); SessionEnd an admin ending another's session, or every
	// session ended because the sessions failed their integrity check;
	// UserUnlock an admin ending a lockout; TOTPRequire and TOTPReset an
	// admin requiring an account's second factor or forgetting it.
	Setup       = "setup"
	SessionEnd  = "session_end"
	UserUnlock  = "user_unlock"
	TOTPRequire = "totp_require"
	TOTPReset   = "totp_reset"
	// InboxHandle is a received message marked handled, or not handled
	// again (the inbox page).
	InboxHandle = "inbox_handle"
	// BackupMade is a signed backup written (smsd backup, or the nightly
	// timer), or one that failed; Restored a store restored from a backup
	// onto a new data directory.
	BackupMade = "backup"
	Restored   = "restore"
	// The reminders' actions (package daemon, issue 15). AppointmentList
	// is a day's (or an import's) appointments shown, names included;
	// AppointmentView one appointment opened with its number unmasked;
	// AppointmentCreate, AppointmentMove and AppointmentCancel change one
	// (and its queued reminders) in the same transaction.
	AppointmentList   = "appointment_list"
	AppointmentCreate = "appointment_create"
	AppointmentMove   = "appointment_move"
	AppointmentCancel = "appointment_cancel"
	AppointmentView   = "appointment_view"
	// AppointmentAnswer is a patient's reply (confirm, reschedule) matched
	// to the latest reminder sent to the number and recorded on its
	// appointment, by the system (queue.Store.ThreadReply).
	AppointmentAnswer = "appointment_answer"
	// ImportPreview is a day's list read from CSV and checked, nothing
	// changed; ImportCommit its good rows' appointments created (or
	// nothing, for a file already imported); ImportMappingSave a practice
	// system's column mapping kept under a name.
	ImportPreview     = "import_preview"
	ImportCommit      = "import_commit"
	ImportMappingSave = "import_mapping_save"
	// TemplateSave is a message template created or changed (the system's
	// when it creates the default ones); TemplateDelete one deleted.
	TemplateSave   = "template_save"
	TemplateDelete = "template_delete"
	// ReportView is the daily report shown (smsd report, the report page).
	ReportView = "report_view"
)

// Actions lists every action, for the test that each has a producer.
var Actions = []string{LoginOK, LoginFail, Lockout, Logout, AutoLogout, MessageCreate, MessageView, MessageList,
	MessageCancel, MessageResend, MessageDismiss, InboxView, StatusView, OptOutList, OptOutAdd,
	OptOutRemove, UserList, UserCreate, UserDisable, UserEnable, RoleChange, PasswordChange, TOTPEnrol, TokenCreate,
	TokenRevoke, KeyRotate, Unlock, BreakGlassUse, ModemEvent, ConfigChange, AuditExport, AuditCheck, HeadSigned, Start,
	IntegrityCheck, QuarantineDismiss, DigestAccept, Setup, SessionEnd, UserUnlock, TOTPRequire, TOTPReset, InboxHandle, BackupMade, Restored,
	AppointmentList, AppointmentCreate, AppointmentMove, AppointmentCancel, AppointmentView, AppointmentAnswer,
	ImportPreview, ImportCommit, ImportMappingSave, TemplateSave, TemplateDelete, ReportView}

// Outcomes of an action.
const (
	OK     = "ok"
	Denied = "denied" // the actor may not do this
	Failed = "failed" // it was refused or went wrong
)

// Event is what happened, as the log keeps it. No field may hold PHI in
// clear.
type Event struct {
	// Time is when; zero: when the row is appended.
	Time time.Time
	// Actor is "unix:<login>", "web:<user>", "token:<name>" or "system".
	Actor string
	// Role is the actor's role: admin, staff, or "" for the system.
	Role string
	// Client is where the actor asked from: "pid 1234", an IP address.
	Client     string
	Action     string
	ObjectType string // "message", "user", "optout", "key", "modem", ...
	ObjectID   string
	Outcome    string // OK, Denied, Failed; "" is OK
	Detail     string
}

// Row is one row of the log.
type Row struct {
	Seq int64
	Event
	PrevHash, Hash [32]byte
}

// TimeLayout is how times are written: UTC, RFC 3339 with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Canonical time: the log keeps milliseconds in UTC.
func canonicalTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// HashRow is the row's hash: SHA-256 over a version tag and every field,
// each as a 4-byte big-endian length and its bytes, the previous hash last.
// Length prefixes make the encoding unambiguous: no two rows encode alike.
func HashRow(seq int64, e Event, prev [32]byte) [32]byte {
	h := sha256.New()
	var n [4]byte
	put := func(s string) {
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put("smsd-audit-v1")
	for _, f := range []string{strconv.FormatInt(seq, 10), canonicalTime(e.Time).Format(TimeLayout), e.Actor, e.Role, e.Client,
		e.Action, e.ObjectType, e.ObjectID, e.Outcome, e.Detail} {
		put(f)
	}
	put(string(prev[:]))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// clean escapes what a field must not hold: control characters (a CR or
// LF would not survive a CSV reader unchanged, and a terminal would run an
// ESC) and bytes that are not UTF-8, each as \xNN.
func (e Event) clean() Event {
	for _, f := range []*string{&e.Actor, &e.Role, &e.Client, &e.Action, &e.ObjectType, &e.ObjectID, &e.Outcome, &e.Detail} {
		*f = escapeControls(*f)
	}
	return e
}

func escapeControls(s string) string {
	clean := utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || unicode.IsControl(r) {
			for _, c := range []byte(s[i : i+n]) {
				fmt.Fprintf(&b, "\\x%02x", c)
			}
			i += n
			continue
		}
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
}

// Schema creates the log and its signed heads, append-only. The store runs
// it as one of its migrations. Besides UPDATE and DELETE, the triggers
// refuse an INSERT onto an existing key: INSERT OR REPLACE deletes the old
// row without firing a DELETE trigger (SQLite fires it only under
// recursive_triggers).
const Schema = `CREATE TABLE audit_log (
	seq         INTEGER PRIMARY KEY,
	at          INTEGER NOT NULL,
	actor       TEXT    NOT NULL,
	role        TEXT    NOT NULL,
	client      TEXT    NOT NULL,
	action      TEXT    NOT NULL,
	object_type TEXT    NOT NULL,
	object_id   TEXT    NOT NULL,
	outcome     TEXT    NOT NULL,
	detail      TEXT    NOT NULL,
	prev_hash   BLOB    NOT NULL,
	hash        BLOB    NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: rows cannot be changed'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: rows cannot be deleted'); END;
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log WHEN EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: rows cannot be replaced'); END;
CREATE TABLE audit_heads (
	id        INTEGER PRIMARY KEY,
	seq       INTEGER NOT NULL,
	hash      BLOB    NOT NULL,
	signed_at INTEGER NOT NULL,
	signature TEXT    NOT NULL
);
CREATE TRIGGER audit_heads_no_update BEFORE UPDATE ON audit_heads
BEGIN SELECT RAISE(ABORT, 'signed audit heads cannot be changed'); END;
CREATE TRIGGER audit_heads_no_delete BEFORE DELETE ON audit_heads
BEGIN SELECT RAISE(ABORT, 'signed audit heads cannot be deleted'); END;
CREATE TRIGGER audit_heads_no_replace BEFORE INSERT ON audit_heads WHEN EXISTS (SELECT 1 FROM audit_heads WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'signed audit heads cannot be replaced'); END;`

// Querier is what reading the log needs: a *sql.DB, *sql.Tx or *sql.Conn.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Execer is what appending needs: in practice the *sql.Tx of the action.
type Execer interface {
	Querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Head is the chain's last row: its sequence and hash. The zero Head is the
// empty chain.
type Head struct {
	Seq  int64
	Hash [32]byte
}

// String is the head as exports and the journal show it: "seq:hexhash".
func (h Head) String() string {
	return strconv.FormatInt(h.Seq, 10) + ":" + hex.EncodeToString(h.Hash[:])
}

// ParseHead reads a Head's String.
func ParseHead(s string) (Head, error) {
	seq, hx, ok := cutColon(s)
	if !ok {
		return Head{}, fmt.Errorf("audit head %q: want SEQ:HASH", s)
	}
	n, err := strconv.ParseInt(seq, 10, 64)
	if err != nil || n < 0 {
		return Head{}, fmt.Errorf("audit head %q: bad sequence", s)
	}
	b, err := hex.DecodeString(hx)
	if err != nil || len(b) != 32 {
		return Head{}, fmt.Errorf("audit head %q: bad hash", s)
	}
	h := Head{Seq: n}
	copy(h.Hash[:], b)
	return h, nil
}

func cutColon(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// LastHead reads the chain's head (the zero Head for an empty log).
func LastHead(ctx context.Context, q Querier) (Head, error) {
	var h Head
	var hash []byte
	err := q.QueryRowContext(ctx, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").Scan(&h.Seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return Head{}, nil
	}
	if err != nil {
		return Head{}, fmt.Errorf("read the audit log's head: %w", err)
	}
	copy(h.Hash[:], hash)
	return h, nil
}

// Append adds e to the log inside tx, chained to the head it reads there
// (the store's transactions are BEGIN IMMEDIATE, so no other writer moves
// the head meanwhile). A zero time is now; a zero outcome is OK.
func Append(ctx context.Context, tx Execer, e Event) (Row, error) {
	if e.Action == "" {
		return Row{}, errors.New("audit: an event without an action")
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = canonicalTime(e.Time)
	if e.Outcome == "" {
		e.Outcome = OK
	}
	e = e.clean()
	head, err := LastHead(ctx, tx)
	if err != nil {
		return Row{}, err
	}
	r := Row{Seq: head.Seq + 1, Event: e, PrevHash: head.Hash}
	r.Hash = HashRow(r.Seq, e, r.PrevHash)
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (seq, at, actor, role, client, action, object_type, object_id, outcome, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, e.Time.UnixMilli(), e.Actor, e.Role, e.Client, e.Action, e.ObjectType, e.ObjectID, e.Outcome, e.Detail, r.PrevHash[:], r.Hash[:]); err != nil {
		return Row{}, fmt.Errorf("append to the audit log: %w", err)
	}
	return r, nil
}

// Scan calls fn for each row with from <= time < to (zero: no bound), in
// sequence order, reading them one at a time.
func Scan(ctx context.Context, q Querier, from, to time.Time, fn func(Row) error) error {
	query := "SELECT seq, at, actor, role, client, action, object_type, object_id, outcome, detail, prev_hash, hash FROM audit_log"
	var where []string
	var args []any
	if !from.IsZero() {
		where, args = append(where, "at >= ?"), append(args, from.UnixMilli())
	}
	if !to.IsZero() {
		where, args = append(where, "at < ?"), append(args, to.UnixMilli())
	}
	for i, w := range where {
		if i == 0 {
			query += " WHERE " + w
		} else {
			query += " AND " + w
		}
	}
	rows, err := q.QueryContext(ctx, query+" ORDER BY seq", args...)
	if err != nil {
		return fmt.Errorf("read the audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r Row
		var at int64
		var prev, hash []byte
		if err := rows.Scan(&r.Seq, &at, &r.Actor, &r.Role, &r.Client, &r.Action, &r.ObjectType, &r.ObjectID, &r.Outcome, &r.Detail, &prev, &hash); err != nil {
			return fmt.Errorf("read the audit log: %w", err)
		}
		r.Time = time.UnixMilli(at).UTC()
		copy(r.PrevHash[:], prev)
		copy(r.Hash[:], hash)
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// BreakError names the first row at which the chain does not hold.
type BreakError struct {
	Seq    int64
	Reason string
}

func (e *BreakError) Error() string {
	return fmt.Sprintf("the audit chain breaks at row %d: %s", e.Seq, e.Reason)
}

// Chain checks rows one by one as they come, in order: each row's hash is
// its own, its previous hash is the row before's, and sequence numbers run
// on without a gap. The first row may start anywhere (an export of a range);
// Start sets where the whole log must start.
type Chain struct {
	// FromStart: the first row must be sequence 1 with a zero previous hash.
	FromStart bool
	last      Head
	n         int64
}

// Add checks the next row; a *BreakError says where it breaks.
func (c *Chain) Add(r Row) error {
	switch {
	case c.n == 0 && c.FromStart && r.Seq != 1:
		return &BreakError{Seq: r.Seq, Reason: fmt.Sprintf("the log starts at row %d: rows 1 to %d are missing", r.Seq, r.Seq-1)}
	case c.n == 0 && c.FromStart && r.PrevHash != [32]byte{}:
		return &BreakError{Seq: r.Seq, Reason: "the first row does not start the chain"}
	case c.n > 0 && r.Seq != c.last.Seq+1:
		return &BreakError{Seq: r.Seq, Reason: fmt.Sprintf("it follows row %d: rows are missing or out of order", c.last.Seq)}
	case c.n > 0 && r.PrevHash != c.last.Hash:
		return &BreakError{Seq: r.Seq, Reason: fmt.Sprintf("its previous hash is not row %d's hash: a row was removed, reordered or changed", c.last.Seq)}
	}
	if HashRow(r.Seq, r.Event, r.PrevHash) != r.Hash {
		return &BreakError{Seq: r.Seq, Reason: "its content does not match its hash: the row was changed"}
	}
	c.last, c.n = Head{Seq: r.Seq, Hash: r.Hash}, c.n+1
	return nil
}

// Head is the last row added.
func (c *Chain) Head() Head { return c.last }

// Count is how many rows were added.
func (c *Chain) Count() int64 { return c.n }

// Check verifies the whole log in the store and returns its head.
func Check(ctx context.Context, q Querier) (Head, error) {
	c := Chain{FromStart: true}
	if err := Scan(ctx, q, time.Time{}, time.Time{}, c.Add); err != nil {
		return c.Head(), err
	}
	return c.Head(), nil
}
