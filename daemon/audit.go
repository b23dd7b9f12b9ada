package daemon

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/ops"
)

// event is an audit event of the actor, before its outcome is known.
func event(a ops.Actor, action, objType, objID string) audit.Event {
	return audit.Event{Actor: a.String(), Role: a.Role, Client: a.Addr, Action: action, ObjectType: objType, ObjectID: objID}
}

// begin starts the audit record of an action: the store writes its row in
// the action's own transaction (see queue.Store.tx).
func begin(ctx context.Context, a ops.Actor, action, objType, objID string) (context.Context, *audit.Record) {
	rec := audit.NewRecord(event(a, action, objType, objID))
	return audit.NewContext(ctx, rec), rec
}

// finish writes the row of an action whose transaction did not write it:
// one refused or failed before it changed anything (outcome denied or
// failed, with the error's code), or one that changes nothing (a view).
// It returns err, or the audit error when the row could not be written.
func (s *Service) finish(ctx context.Context, rec *audit.Record, err error) error {
	if _, ok := rec.Written(); ok {
		return err
	}
	e := rec.Event()
	switch code := ops.CodeOf(err); {
	case err == nil:
	case code == ops.CodeDenied:
		e.Outcome, e.Detail = audit.Denied, join(e.Detail, code)
	case code != "":
		e.Outcome, e.Detail = audit.Failed, join(e.Detail, code)
	default:
		e.Outcome, e.Detail = audit.Failed, join(e.Detail, "error")
	}
	s.mu.Lock()
	st := s.store
	s.mu.Unlock()
	if st == nil {
		// Locked or still opening: there is no log to write to. The journal
		// keeps what happened.
		s.log.Warn("audit: no store to record an action in", "action", e.Action, "actor", e.Actor, "outcome", e.Outcome)
		return err
	}
	if _, aerr := st.Audit(context.WithoutCancel(ctx), e); aerr != nil {
		s.log.Error("audit: could not record an action", "action", e.Action, "actor", e.Actor, "err", aerr)
		if err == nil {
			return fmt.Errorf("the audit log could not record this (%v); nothing was shown", aerr)
		}
	}
	return err
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// AuditExport writes the audit log's rows with from <= time < to as CSV to
// csvOut and its minisign signature to sigOut (admins only), records the
// export and signs the chain's head.
func (s *Service) AuditExport(ctx context.Context, a ops.Actor, from, to time.Time, csvOut, sigOut io.Writer) (ops.AuditSummary, error) {
	ctx, rec := begin(ctx, a, audit.AuditExport, "audit_log", "")
	if err := requireAdmin(a, "export the audit log"); err != nil {
		return ops.AuditSummary{}, s.finish(ctx, rec, err)
	}
	st, err := s.ready(ctx)
	if err != nil {
		return ops.AuditSummary{}, err
	}
	sum, err := st.AuditExport(audit.Without(ctx), csvOut, sigOut, from, to, event(a, audit.AuditExport, "", ""))
	if err != nil {
		return ops.AuditSummary{}, s.finish(ctx, rec, err)
	}
	sh, err := st.SignAuditHead(ctx, audit.Event{Actor: a.String(), Role: a.Role, Client: a.Addr})
	if err != nil {
		return ops.AuditSummary{}, err
	}
	s.logSignedHead(sh, "export")
	return summaryView(sum), nil
}

// AuditCheck verifies the whole audit chain in the store against every
// signed head (and those given, from the journal or an export); it records
// the check. A break comes back as an error of code audit_broken.
func (s *Service) AuditCheck(ctx context.Context, a ops.Actor, heads []string) (ops.AuditCheck, error) {
	ctx, rec := begin(ctx, a, audit.AuditCheck, "audit_log", "")
	st, err := s.ready(ctx)
	if err != nil {
		return ops.AuditCheck{}, err
	}
	var outside []audit.SignedHead
	for _, h := range heads {
		sh, err := ParseSignedHead(h)
		if err != nil {
			return ops.AuditCheck{}, s.finish(ctx, rec, ops.Errorf(ops.CodeInvalidRequest, err.Error()))
		}
		outside = append(outside, sh)
	}
	head, n, err := st.AuditCheck(ctx, outside...)
	res := ops.AuditCheck{Head: head.String(), Rows: head.Seq, SignedHeads: n, OK: err == nil}
	if err != nil {
		res.Problem = err.Error()
		rec.AddDetail(err.Error())
		s.log.Error("AUDIT LOG BROKEN: the audit trail does not verify; keep the box as it is and tell the compliance officer", "err", err, "actor", a.String())
		return res, s.finish(ctx, rec, ops.Errorf(ops.CodeAuditBroken, "the audit log does not verify: "+err.Error()))
	}
	rec.AddDetail(fmt.Sprintf("head=%s signed_heads=%d", head, n))
	return res, s.finish(ctx, rec, nil)
}

// AuditPublicKeys lists the audit signing keys' public keys ("RW..."), the
// current one last: what an auditor needs to check an export.
func (s *Service) AuditPublicKeys(ctx context.Context, a ops.Actor) ([]string, error) {
	st, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := st.AuditPublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k.String())
	}
	return out, nil
}

// ParseSignedHead reads a signed head as the journal prints it, one token
// an admin can copy: "SEQ:HASH@TIME#SIGNATURE", the minisign signature
// base64url-encoded.
func ParseSignedHead(s string) (audit.SignedHead, error) {
	const form = "a signed head is SEQ:HASH@TIME#SIGNATURE, as the journal's 'audit head signed' line gives it"
	headAt, sig, ok := strings.Cut(strings.TrimSpace(s), "#")
	if !ok {
		return audit.SignedHead{}, errors.New(form)
	}
	head, at, ok := strings.Cut(headAt, "@")
	if !ok {
		return audit.SignedHead{}, errors.New(form)
	}
	h, err := audit.ParseHead(head)
	if err != nil {
		return audit.SignedHead{}, err
	}
	t, err := time.Parse(audit.TimeLayout, at)
	if err != nil {
		return audit.SignedHead{}, fmt.Errorf("signed head time %q: %w", at, err)
	}
	text, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return audit.SignedHead{}, fmt.Errorf("signed head: the signature is not base64url: %w (%s)", err, form)
	}
	return audit.SignedHead{Head: h, At: t, Signature: string(text)}, nil
}

// FormatSignedHead is the one-token form ParseSignedHead reads.
func FormatSignedHead(sh audit.SignedHead) string {
	return sh.Head.String() + "@" + sh.At.Format(audit.TimeLayout) + "#" + base64.RawURLEncoding.EncodeToString([]byte(sh.Signature))
}

// logSignedHead puts a signed head in the journal, off the store: a later
// rewrite of the log disagrees with it (smsd audit check -head).
func (s *Service) logSignedHead(sh audit.SignedHead, why string) {
	s.log.Info("audit head signed", "why", why, "seq", sh.Seq, "head", FormatSignedHead(sh))
}

// signHead signs the head as the system (daily, and at start).
func (s *Service) signHead(ctx context.Context, why string) {
	st := s.Store()
	if st == nil {
		return
	}
	sh, err := st.SignAuditHead(ctx, audit.Event{Actor: ops.System.String(), Role: ops.System.Role, Detail: why})
	if err != nil {
		s.log.Error("audit: could not sign the head", "err", err)
		return
	}
	s.logSignedHead(sh, why)
}

func summaryView(sum audit.Summary) ops.AuditSummary {
	return ops.AuditSummary{From: utc(sum.From), To: utc(sum.To), Rows: sum.Rows, First: sum.First, Last: sum.Last, ChainHead: sum.ChainHead.String()}
}

// RotateAuditKey makes a new audit signing key (admins only); the old
// public keys stay listed, so exports signed before still verify. It
// returns the new public key.
func (s *Service) RotateAuditKey(ctx context.Context, a ops.Actor) (_ string, err error) {
	ctx, rec := begin(ctx, a, audit.KeyRotate, "key", "audit_signing_key")
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := requireAdmin(a, "change the audit signing key"); err != nil {
		return "", err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return "", err
	}
	pub, err := st.RotateSigningKey(ctx)
	if err != nil {
		return "", err
	}
	s.log.Info("new audit signing key; hand its public key to the compliance officer", "public_key", pub.String(), "actor", a.String())
	return pub.String(), nil
}
