package daemon

import (
	"context"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/ops"
)

// notYet answers a web sign-in method whose service side is being built.
func notYet(what string) error {
	return ops.Errorf(ops.CodeInternal, what+" is not built yet in this version of smsd")
}

// Locked reports whether the store waits for its passphrase (key_source
// passphrase, not unlocked yet): nothing but Unlock works until then.
func (s *Service) Locked() bool {
	return s.cfg.KeySource == config.KeyPassphrase && s.Store() == nil
}

// SetupNeeded reports whether no account exists yet (first run).
func (s *Service) SetupNeeded(ctx context.Context) (bool, error) { return false, notYet("setup") }

// Setup creates the first admin with the one-time setup code and signs
// them in.
func (s *Service) Setup(ctx context.Context, r ops.SetupRequest) (ops.Session, error) {
	return ops.Session{}, notYet("setup")
}

// Login checks a username and password and starts a session.
func (s *Service) Login(ctx context.Context, r ops.LoginRequest) (ops.Session, error) {
	return ops.Session{}, notYet("sign-in")
}

// Session finds the session of token; touch extends its idle timeout.
func (s *Service) Session(ctx context.Context, token, addr string, touch bool) (ops.Session, error) {
	return ops.Session{}, notYet("sessions")
}

// LoginTOTP finishes StageTOTP with a TOTP code or a recovery code.
func (s *Service) LoginTOTP(ctx context.Context, token, code, addr string) (ops.Session, error) {
	return ops.Session{}, notYet("TOTP sign-in")
}

// Logout ends the session of token.
func (s *Service) Logout(ctx context.Context, token, addr string) error { return notYet("sign-out") }

// ChangePassword changes the session's own password.
func (s *Service) ChangePassword(ctx context.Context, token, oldPassword, newPassword, addr string) (ops.Session, error) {
	return ops.Session{}, notYet("password change")
}

// TOTPBegin makes a new second-factor secret for the session's account.
func (s *Service) TOTPBegin(ctx context.Context, token, addr string) (ops.TOTPEnrolment, error) {
	return ops.TOTPEnrolment{}, notYet("TOTP enrolment")
}

// TOTPConfirm checks the first code of the secret from TOTPBegin.
func (s *Service) TOTPConfirm(ctx context.Context, token, code, addr string) (ops.TOTPConfirmed, error) {
	return ops.TOTPConfirmed{}, notYet("TOTP enrolment")
}

// Accounts lists every account with its sign-in details (admin).
func (s *Service) Accounts(ctx context.Context, a ops.Actor) ([]ops.AccountDetail, error) {
	return nil, notYet("the accounts list")
}

// EndSession ends another session by its ID (admin).
func (s *Service) EndSession(ctx context.Context, a ops.Actor, id string) error {
	return notYet("ending a session")
}

// AuthPolicy returns the sign-in policy, after setting it when set is not
// nil (admin).
func (s *Service) AuthPolicy(ctx context.Context, a ops.Actor, set *ops.AuthPolicy) (ops.AuthPolicy, string, error) {
	return ops.AuthPolicy{}, "", notYet("the sign-in policy")
}
