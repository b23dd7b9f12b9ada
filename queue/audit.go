package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"aead.dev/minisign"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/crypt"
)

// The audit signing key is a setting, sealed like every setting under the
// data key (which the key-encryption key wraps), so it is exactly as safe as
// the data and follows the data key through rotations. The public keys of
// every signing key the store ever had stay listed, so exports signed before
// a new key still verify.
const (
	signingKeySetting = "audit.signing_key"
	publicKeysSetting = "audit.public_keys"
)

// Audit appends one event to the audit log in a transaction of its own: for
// what is not a change of the store (a view, a refusal, a modem event). A
// change's row goes in the change's own transaction (audit.NewContext).
func (s *Store) Audit(ctx context.Context, e audit.Event) (audit.Row, error) {
	ctx = audit.Without(ctx)
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	var row audit.Row
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		row, err = audit.Append(ctx, tx, e)
		return err
	})
	return row, err
}

// SigningKey returns the audit signing key, generating it (and listing its
// public key) on first use.
func (s *Store) SigningKey(ctx context.Context) (minisign.PrivateKey, error) {
	var key minisign.PrivateKey
	err := s.tx(audit.Without(ctx), func(tx *sql.Tx) error {
		var err error
		key, err = s.signingKeyTx(ctx, tx, false)
		return err
	})
	return key, err
}

// RotateSigningKey makes a new audit signing key; the old public keys stay
// listed. The event, if any, is recorded with it.
func (s *Store) RotateSigningKey(ctx context.Context) (minisign.PublicKey, error) {
	var key minisign.PrivateKey
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		key, err = s.signingKeyTx(ctx, tx, true)
		return err
	})
	return key.Public().(minisign.PublicKey), err
}

func (s *Store) signingKeyTx(ctx context.Context, tx *sql.Tx, fresh bool) (minisign.PrivateKey, error) {
	var key minisign.PrivateKey
	if !fresh {
		txt, err := s.settingTx(ctx, tx, signingKeySetting)
		if err == nil {
			return key, key.UnmarshalText([]byte(txt))
		}
		if !errors.Is(err, ErrNotFound) {
			return key, err
		}
	}
	key, err := crypt.NewSigningKey()
	if err != nil {
		return key, err
	}
	txt, err := key.MarshalText()
	if err != nil {
		return key, err
	}
	if err := s.setSettingTx(ctx, tx, signingKeySetting, string(txt)); err != nil {
		return key, err
	}
	list, err := s.settingTx(ctx, tx, publicKeysSetting)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return key, err
	}
	pub := key.Public().(minisign.PublicKey).String()
	if list != "" {
		list += "\n"
	}
	if err := s.setSettingTx(ctx, tx, publicKeysSetting, list+pub); err != nil {
		return key, err
	}
	s.log.Info("made an audit signing key", "public_key", pub)
	return key, nil
}

// AuditPublicKeys lists the public keys of every audit signing key this
// store had, the current one last (made now if there is none yet).
func (s *Store) AuditPublicKeys(ctx context.Context) ([]minisign.PublicKey, error) {
	if _, err := s.SigningKey(ctx); err != nil {
		return nil, err
	}
	list, err := s.Setting(ctx, publicKeysSetting)
	if err != nil {
		return nil, err
	}
	var keys []minisign.PublicKey
	for _, line := range strings.Split(list, "\n") {
		var k minisign.PublicKey
		if err := k.UnmarshalText([]byte(strings.TrimSpace(line))); err != nil {
			return nil, fmt.Errorf("audit public key %q: %w", line, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// SignAuditHead signs the audit chain's head and keeps the signed head, with
// a head_signed row (from e) recording it, in one transaction.
func (s *Store) SignAuditHead(ctx context.Context, e audit.Event) (audit.SignedHead, error) {
	key, err := s.SigningKey(ctx)
	if err != nil {
		return audit.SignedHead{}, err
	}
	ctx = audit.Without(ctx)
	var sh audit.SignedHead
	err = s.tx(ctx, func(tx *sql.Tx) error {
		head, err := audit.LastHead(ctx, tx)
		if err != nil {
			return err
		}
		if sh, err = audit.SignHead(ctx, tx, key, head, s.now()); err != nil {
			return err
		}
		e.Action, e.ObjectType, e.ObjectID = audit.HeadSigned, "audit_head", head.String()
		if e.Time.IsZero() {
			e.Time = s.now()
		}
		_, err = audit.Append(ctx, tx, e)
		return err
	})
	return sh, err
}

// AuditCheck verifies the whole audit chain and every signed head (those
// kept in the store and any given from outside); it returns the head and
// how many signed heads agreed.
func (s *Store) AuditCheck(ctx context.Context, outside ...audit.SignedHead) (audit.Head, int, error) {
	keys, err := s.AuditPublicKeys(ctx)
	if err != nil {
		return audit.Head{}, 0, err
	}
	return audit.CheckHeads(ctx, s.r, keys, outside...)
}

// AuditExport writes the rows with from <= time < to as signed CSV (see
// audit.ExportSigned) from one consistent read of the log, then records the
// export (e, action audit_export) and signs the chain's head.
func (s *Store) AuditExport(ctx context.Context, csvOut, sigOut io.Writer, from, to time.Time, e audit.Event) (audit.Summary, error) {
	key, err := s.SigningKey(ctx)
	if err != nil {
		return audit.Summary{}, err
	}
	rtx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return audit.Summary{}, err
	}
	sum, err := audit.ExportSigned(ctx, rtx, csvOut, sigOut, from, to, key)
	rtx.Rollback()
	if err != nil {
		return sum, err
	}
	e.Action, e.ObjectType = audit.AuditExport, "audit_log"
	e.ObjectID = fmt.Sprintf("%d-%d", sum.First, sum.Last)
	e.Detail = fmt.Sprintf("rows=%d chain_head=%s", sum.Rows, sum.ChainHead)
	if _, err := s.Audit(ctx, e); err != nil {
		return sum, err
	}
	return sum, nil
}
