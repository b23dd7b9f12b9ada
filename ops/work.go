package ops

import "time"

// The front desk's daily work (web UI pages and the JSON API): the
// vocabulary beyond sends, lists and decisions that the command line
// already uses.

// TextCount is what sending a text costs, as modem/pdu will send it: the
// send page's counter shows it as the person types. One source of truth:
// the service computes it with pdu.CountText.
type TextCount struct {
	Encoding string `json:"encoding"` // "GSM-7" or "UCS-2"
	// Chars is the length in the encoding's units (septets for GSM-7, an
	// extension character such as € counting 2; UTF-16 units for UCS-2).
	Chars     int  `json:"chars"`
	Parts     int  `json:"parts"`
	Remaining int  `json:"remaining"` // units still free in the last part
	MaxParts  int  `json:"max_parts"` // the configured longest message
	TooLong   bool `json:"too_long"`
	// UCS2At is the index (in runes, from 0) of the first character that
	// forces UCS-2, or -1; UCS2Char is that character.
	UCS2At   int    `json:"ucs2_at"`
	UCS2Char string `json:"ucs2_char,omitempty"`
}

// InboxFilter selects received messages.
type InboxFilter struct {
	// SinceID lists only messages with a larger id (the API's ?since=).
	SinceID int64 `json:"since_id,omitempty"`
	// Unhandled lists only messages nobody marked handled.
	Unhandled bool `json:"unhandled,omitempty"`
	Limit     int  `json:"limit,omitempty"` // default 100, at most 1000
	// Before lists only messages with a smaller id (paging back).
	Before int64 `json:"before,omitempty"`
	// CountOnly asks only for the count of unhandled messages (a page's
	// unread badge): no message is opened, so it is no audited view.
	CountOnly bool `json:"count_only,omitempty"`
}

// InboxEntry is a received message as the inbox page and the API show it.
type InboxEntry struct {
	InboxItem
	// Keyword is what the reply meant to smsd: "stop", "start", "help",
	// "confirm", "reschedule" or "" (plain text).
	Keyword   string    `json:"keyword,omitempty"`
	Handled   bool      `json:"handled"`
	HandledBy string    `json:"handled_by,omitempty"`
	HandledAt time.Time `json:"handled_at,omitzero"`
	// AppointmentID threads the reply to the appointment whose reminder
	// was the latest sent to that number, or 0.
	AppointmentID int64 `json:"appointment_id,omitempty"`
}

// Inbox is a page of the inbox with the count of unhandled messages.
type Inbox struct {
	Entries   []InboxEntry `json:"entries"`
	Unhandled int          `json:"unhandled"`
}

// API tokens: one per integration (a practice-management system).
const (
	TokenCreate = "create"
	TokenRevoke = "revoke"
	TokenList   = "list"
)

// TokenRequest manages API tokens (admin).
type TokenRequest struct {
	Action string `json:"action"`
	// Name names the integration ("pms"); the audit trail's actor is
	// token:<name>. Lower case letters, digits, dot, hyphen, underscore.
	Name string `json:"name"`
}

// Token is an API token as lists show it; Secret is set only in the answer
// to a create, the one time it is shown (the store keeps a keyed hash).
type Token struct {
	Name      string    `json:"name"`
	Secret    string    `json:"secret,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	Revoked   bool      `json:"revoked"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}
