package web

import (
	"context"

	"github.com/clinicsms/smsd/ops"
)

// Service is what the web UI needs of the appliance (package daemon
// implements it; cmd/smsd wires the two). Every rule lives behind it: the
// password check and its lockout, the second factor, the sessions and
// their expiry, the role checks and every audit row. The web UI only
// carries requests and answers between a browser and these methods.
//
// Methods that take a session token act for that session's person; the
// service finds the session, checks its stage and writes the audit row.
// Errors are *ops.Error values with a Code the pages turn into a status.
type Service interface {
	// Locked reports whether the store waits for its passphrase (locked
	// mode): nothing but Unlock works until it is given.
	Locked() bool
	// Unlock opens a locked store with its passphrase. In the web UI the
	// passphrase is the credential: accounts cannot be checked while the
	// store is locked.
	Unlock(ctx context.Context, a ops.Actor, passphrase []byte) error

	// SetupNeeded reports whether no account exists yet (first run).
	SetupNeeded(ctx context.Context) (bool, error)
	// Setup creates the first admin with the one-time setup code and
	// signs them in.
	Setup(ctx context.Context, r ops.SetupRequest) (ops.Session, error)

	// Login checks a username and password and starts a session, in stage
	// StageActive or a stage that must be finished first.
	Login(ctx context.Context, r ops.LoginRequest) (ops.Session, error)
	// Session finds the session of token. touch is true for a request the
	// person made (it extends the idle timeout) and false for the page's
	// own check of the countdown, which must not extend it. An ended session
	// is CodeNoSession (and an idle one writes its auto_logout row).
	Session(ctx context.Context, token, addr string, touch bool) (ops.Session, error)
	// LoginTOTP finishes StageTOTP with a TOTP code or a recovery code.
	LoginTOTP(ctx context.Context, token, code, addr string) (ops.Session, error)
	// Logout ends the session of token.
	Logout(ctx context.Context, token, addr string) error
	// ChangePassword changes the session's own password (StageActive or
	// StageChangePassword); it ends the user's other sessions and renews
	// this one.
	ChangePassword(ctx context.Context, token, oldPassword, newPassword, addr string) (ops.Session, error)
	// TOTPBegin makes a new secret for the session's account and keeps it
	// with the session until TOTPConfirm.
	TOTPBegin(ctx context.Context, token, addr string) (ops.TOTPEnrolment, error)
	// TOTPConfirm checks the first code of the secret from TOTPBegin,
	// stores it and returns the recovery codes.
	TOTPConfirm(ctx context.Context, token, code, addr string) (ops.TOTPConfirmed, error)

	// Accounts lists every account with its sign-in details and sessions
	// (admin).
	Accounts(ctx context.Context, a ops.Actor) ([]ops.AccountDetail, error)
	// User changes an account (admin): ops.UserAdd, UserDisable,
	// UserEnable, UserRole, UserResetPassword, UserUnlock, UserRequireTOTP,
	// UserResetTOTP.
	User(ctx context.Context, a ops.Actor, r ops.UserRequest) ([]ops.UserInfo, error)
	// EndSession ends another session by its ID (admin).
	EndSession(ctx context.Context, a ops.Actor, id string) error
	// AuthPolicy returns the sign-in policy, after setting it when set is
	// not nil (admin). Enabling break-glass returns the emergency account's
	// new password, once, for a sealed envelope.
	AuthPolicy(ctx context.Context, a ops.Actor, set *ops.AuthPolicy) (ops.AuthPolicy, string, error)

	// Status is the appliance's state for the home page.
	Status(ctx context.Context, a ops.Actor) (ops.Status, error)

	// The front desk's work (issue "Web UI, part 2"); the JSON API uses
	// the same methods with a token's actor.

	// CountText is what a text costs as the modem will send it (the send
	// page's counter).
	CountText(ctx context.Context, text string) ops.TextCount
	// SettingFields are the placeholders a send by template fills from
	// the appliance's settings ({clinic}, {phone}), as Send fills them:
	// the send page's preview and counter show the text that goes out.
	SettingFields(ctx context.Context) map[string]string
	// Send queues one message (opted-out and invalid numbers refused).
	Send(ctx context.Context, a ops.Actor, r ops.SendRequest) (ops.SendResult, error)
	// Messages lists outgoing messages, numbers masked, no text.
	Messages(ctx context.Context, a ops.Actor, f ops.MessageFilter) ([]ops.Message, error)
	// Message opens one message, number and text (an audited view).
	Message(ctx context.Context, a ops.Actor, id int64) (ops.Message, error)
	// Act cancels, resends or dismisses a message.
	Act(ctx context.Context, a ops.Actor, r ops.MessageAction) (ops.Message, error)
	// InboxList lists received messages, opened (an audited view), with the
	// count of unhandled ones.
	InboxList(ctx context.Context, a ops.Actor, f ops.InboxFilter) (ops.Inbox, error)
	// MarkHandled marks a received message handled (or not).
	MarkHandled(ctx context.Context, a ops.Actor, id int64, handled bool) error
	// Reply queues a text to the sender of received message id; the
	// number never leaves the service.
	Reply(ctx context.Context, a ops.Actor, id int64, text string) (ops.SendResult, error)
	// OptOuts lists (masked), adds or removes (with a reason) opt-outs.
	OptOuts(ctx context.Context, a ops.Actor, r ops.OptOutRequest) ([]ops.OptOut, error)
	// Changes is closed or signalled when the store changes (a message's
	// state, a reply): live pages refresh then. It may be nil while the
	// store is locked.
	Changes() <-chan struct{}
	// Tokens creates, lists and revokes API tokens (admin).
	Tokens(ctx context.Context, a ops.Actor, r ops.TokenRequest) ([]ops.Token, error)
	// TokenActor finds the integration of a bearer token: an actor of
	// Kind ActorToken, or CodeNoSession for an unknown or revoked one.
	TokenActor(ctx context.Context, secret, addr string) (ops.Actor, error)

	// Reminders (issue "Reminders").

	// Appointments lists the appointments of a day (an audited view: names
	// are opened; numbers masked).
	Appointments(ctx context.Context, a ops.Actor, f ops.AppointmentFilter) ([]ops.Appointment, error)
	// Appointment creates, moves, cancels or shows one appointment.
	Appointment(ctx context.Context, a ops.Actor, r ops.AppointmentRequest) (ops.Appointment, error)
	// Templates lists, checks, saves or deletes templates.
	Templates(ctx context.Context, a ops.Actor, r ops.TemplateRequest) ([]ops.Template, error)
	// Import previews or commits a day's list from CSV. progress, when not
	// nil, is called as rows are sealed and inserted (done of total); the
	// commit is one transaction, so nothing is created until it returns.
	Import(ctx context.Context, a ops.Actor, r ops.ImportRequest, progress func(done, total int)) (ops.ImportResult, error)
	// ImportMappings lists the saved column mappings.
	ImportMappings(ctx context.Context, a ops.Actor) ([]ops.ImportMapping, error)
	// Report counts a day's reminders and answers, with the days before it.
	Report(ctx context.Context, a ops.Actor, r ops.ReportRequest) (ops.Report, error)
}
