package daemon

import (
	"bytes"
	"context"
	"crypto/subtle"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// The second factor: TOTP (RFC 6238) as every authenticator app reads it
// (SHA-1, 6 digits, 30 s), a code of the step before or after accepted for
// a phone whose clock drifts, and none accepted twice.

// totpOpts are the TOTP parameters.
var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// recoveryCodes is how many one-time recovery codes an enrolment gives;
// recoveryLen their length in base32 characters (50 bits each).
const (
	recoveryCodes = 10
	recoveryLen   = 10
)

// totpIssuer names the appliance in the authenticator app.
const totpIssuer = "smsd"

// totpStep checks code against secret at now and returns the time step
// it belongs to (the latest, when several match), or false.
func totpStep(secret, code string, now time.Time) (int64, bool) {
	// Apps show the code as "123 456"; people type it so.
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, code)
	if secret == "" || len(code) != 6 {
		return 0, false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	base := now.Unix() / int64(totpOpts.Period)
	var found int64
	ok := false
	for d := -int64(totpOpts.Skew); d <= int64(totpOpts.Skew); d++ {
		step := base + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*int64(totpOpts.Period), 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, ok = step, true
		}
	}
	return found, ok
}

// TOTPBegin makes a new second-factor secret for the session's account and
// keeps it, sealed, with the session until TOTPConfirm. It is for a
// session enrolling (StageEnrolTOTP), or an active one whose account has
// no second factor yet; replacing one takes an admin's reset first.
func (s *Service) TOTPBegin(ctx context.Context, token, addr string) (ops.TOTPEnrolment, error) {
	st, x, u, err := s.sessionIn(ctx, token, addr, ops.StageEnrolTOTP, ops.StageActive)
	if err != nil {
		return ops.TOTPEnrolment{}, err
	}
	if u.TOTPSecret != "" {
		return ops.TOTPEnrolment{}, ops.Errorf(ops.CodeWrongState, "this account has a second factor already: to move it to another phone, ask an administrator to reset it")
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: u.Username, Period: totpOpts.Period,
		Digits: totpOpts.Digits, Algorithm: totpOpts.Algorithm, SecretSize: 20})
	if err != nil {
		return ops.TOTPEnrolment{}, fmt.Errorf("make a second-factor secret: %w", err)
	}
	img, err := key.Image(200, 200)
	if err != nil {
		return ops.TOTPEnrolment{}, fmt.Errorf("draw the QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return ops.TOTPEnrolment{}, fmt.Errorf("draw the QR code: %w", err)
	}
	if err := st.SetPendingTOTP(ctx, x.ID, key.Secret()); err != nil {
		return ops.TOTPEnrolment{}, err
	}
	return ops.TOTPEnrolment{URL: key.URL(), Secret: key.Secret(), QRPNG: buf.Bytes()}, nil
}

// TOTPConfirm checks the first code of the secret from TOTPBegin, stores
// the secret (sealed) on the account with new recovery codes (stored only
// hashed, returned this once), ends the account's other sessions (they
// signed in without it) and renews this one, which moves on from
// StageEnrolTOTP.
func (s *Service) TOTPConfirm(ctx context.Context, token, code, addr string) (_ ops.TOTPConfirmed, err error) {
	st, x, u, err := s.sessionIn(ctx, token, addr, ops.StageEnrolTOTP, ops.StageActive)
	if err != nil {
		return ops.TOTPConfirmed{}, err
	}
	ctx, rec := begin(ctx, webActor(u, addr), audit.TOTPEnrol, "user", u.Username)
	defer func() { err = s.finish(ctx, rec, err) }()
	if x.PendingTOTP == "" {
		return ops.TOTPConfirmed{}, ops.Errorf(ops.CodeWrongStage, "no second factor is being set up in this session: start again from the QR code")
	}
	if u.TOTPSecret != "" {
		return ops.TOTPConfirmed{}, ops.Errorf(ops.CodeWrongState, "this account has a second factor already: to move it to another phone, ask an administrator to reset it")
	}
	now := s.now()
	step, ok := totpStep(x.PendingTOTP, code, now)
	if !ok {
		return ops.TOTPConfirmed{}, ops.Errorf(ops.CodeInvalidRequest, "that code does not match: type the 6 digits the app shows now (if it keeps failing, check that the phone's clock is set automatically)")
	}
	codes := make([]string, recoveryCodes)
	for i := range codes {
		c, err := randomCode(recoveryLen)
		if err != nil {
			return ops.TOTPConfirmed{}, err
		}
		codes[i] = groupCode(c, 5)
	}
	policy, err := s.requireTOTP(ctx, st)
	if err != nil {
		return ops.TOTPConfirmed{}, err
	}
	var out ops.TOTPConfirmed
	err = st.Account(ctx, u.ID, now, func(acc *queue.Account) error {
		acc.User.TOTPSecret = x.PendingTOTP
		acc.Auth.TOTPLastStep = step
		stored := make([]string, len(codes))
		for i, c := range codes {
			stored[i] = normCode(c)
		}
		acc.SetRecoveryCodes(stored)
		ended, err := acc.EndSessions(x.ID)
		if err != nil {
			return err
		}
		rec.AddDetail(fmt.Sprintf("%d recovery codes", len(codes)))
		if len(ended) > 0 {
			rec.AddDetail(fmt.Sprintf("%d other session(s) ended", len(ended)))
		}
		nx, tok, err := acc.RenewSession(x.ID, nextStage(acc, policy, true), s.cfg.IdleTimeout.Duration, false)
		if err != nil {
			return err
		}
		out = ops.TOTPConfirmed{RecoveryCodes: codes, Session: s.view(nx, acc.User, addr, tok)}
		return nil
	})
	if err != nil {
		return ops.TOTPConfirmed{}, err
	}
	s.log.Info("second factor enrolled", "username", u.Username, "addr", addr)
	return out, nil
}
