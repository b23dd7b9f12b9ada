package ops

import "time"

// Sign-in and sessions: the vocabulary between the web UI (a door) and the
// service, which owns every rule (password check, lockout, second factor,
// session expiry) and writes every audit row.

// Session stages: what a session may do. Only StageActive reaches PHI; the
// other stages are a sign-in that is not finished yet, and the web UI sends
// every request of such a session to the one page that finishes it.
const (
	StageActive         = "active"          // signed in
	StageTOTP           = "totp"            // the password was right; a TOTP or recovery code must follow
	StageEnrolTOTP      = "enrol_totp"      // a second factor is required and the account has none: enrol first
	StageChangePassword = "change_password" // an admin reset the password: choose a new one first
)

// Error codes of sign-in and sessions.
const (
	// CodeBadLogin: wrong username, password or code, or a locked or
	// disabled account. One code and one message for all of them, so that
	// an answer never tells whether an account exists.
	CodeBadLogin = "bad_login"
	// CodeNoSession: no session has this token, or it ended (idle, lifetime,
	// sign-out, password change, account disabled). Sign in again.
	CodeNoSession = "no_session"
	// CodeSetupDone: the first-run setup is over (an account exists).
	CodeSetupDone = "setup_done"
	// CodeBadSetupCode: the one-time setup code is wrong.
	CodeBadSetupCode = "bad_setup_code"
	// CodeWrongStage: the session cannot do this yet (finish signing in).
	CodeWrongStage = "wrong_stage"
	// CodeBusy: too many sign-ins at once; try again in a moment.
	CodeBusy = "busy"
)

// LoginRequest is a sign-in with username and password.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Addr is the client's address, for the audit row and the journal.
	Addr string `json:"addr"`
}

// SetupRequest creates the first admin while no account exists, with the
// one-time setup code that smsd init printed.
type SetupRequest struct {
	Code     string `json:"code"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Password string `json:"password"`
	Addr     string `json:"addr"`
}

// Session is a web session as the service reports it. Token is the secret
// the browser holds in its cookie; it is set only when the service issued
// a new one (sign-in, each finished stage, a privilege or password change),
// and then the door must replace the cookie. The store keeps only a keyed
// hash of it.
type Session struct {
	Token string `json:"-"`
	// ID names the session in lists without being its token (an admin ends
	// a session by ID).
	ID    string `json:"id"`
	Stage string `json:"stage"`
	// Actor is who the session acts as (Kind ActorWeb, Name the username,
	// UserID, Role, Addr the client address of this request).
	Actor Actor `json:"actor"`
	// BreakGlass: signed in with the emergency account; every page shows it.
	BreakGlass bool      `json:"break_glass"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeen   time.Time `json:"last_seen"`
	// IdleExpires is when the session ends without another request; Expires
	// when it ends in any case (absolute lifetime). The page's countdown
	// shows the earlier; the service is the authority on both.
	IdleExpires time.Time `json:"idle_expires"`
	Expires     time.Time `json:"expires"`
	Addr        string    `json:"addr"` // where it signed in from
}

// Ends is when the session ends if nothing more happens.
func (s Session) Ends() time.Time {
	if s.Expires.Before(s.IdleExpires) {
		return s.Expires
	}
	return s.IdleExpires
}

// TOTPEnrolment is a new second-factor secret waiting for its first code.
type TOTPEnrolment struct {
	// URL is the otpauth:// URL an authenticator app reads from the QR code.
	URL string `json:"url"`
	// Secret is the base32 secret, for typing in by hand.
	Secret string `json:"secret"`
	// QRPNG is the QR code of URL as a PNG image, drawn on the box.
	QRPNG []byte `json:"qr_png"`
}

// TOTPConfirmed is the answer to a confirmed enrolment: the one-time
// recovery codes (shown once, stored hashed) and the session, renewed.
type TOTPConfirmed struct {
	RecoveryCodes []string `json:"recovery_codes"`
	Session       Session  `json:"session"`
}

// Account actions an admin takes in the web UI, beyond UserRequest's add,
// passwd, disable, enable and role (they go in UserRequest.Action too).
const (
	UserResetPassword = "reset_password" // set Password; the user must choose a new one at next sign-in
	UserUnlock        = "unlock"         // end a lockout from failed sign-ins
	UserRequireTOTP   = "require_totp"   // this account must enrol a second factor at next sign-in
	UserResetTOTP     = "reset_totp"     // forget the account's second factor (lost phone)
)

// AccountDetail is an account as the admin's accounts page shows it.
type AccountDetail struct {
	UserInfo
	ID                 int64     `json:"id"`
	MustChangePassword bool      `json:"must_change_password"`
	TOTPRequired       bool      `json:"totp_required"`
	FailedLogins       int       `json:"failed_logins"`
	LastLogin          time.Time `json:"last_login,omitzero"`
	LastLoginAddr      string    `json:"last_login_addr,omitempty"`
	Sessions           []Session `json:"sessions"`
}

// AuthPolicy is the appliance-wide sign-in policy an admin sets.
type AuthPolicy struct {
	// RequireTOTP: every account must use a second factor; one without it
	// enrols at its next sign-in.
	RequireTOTP bool `json:"require_totp"`
	// BreakGlass: the emergency admin account is enabled.
	BreakGlass bool `json:"break_glass"`
}

// BreakGlassUsername is the emergency admin account's username.
const BreakGlassUsername = "breakglass"
