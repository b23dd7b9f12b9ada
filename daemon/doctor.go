package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// Doctor is smsd doctor (admins only): "check" verifies the store's row
// integrity (tags, table digests, sealed cells) and the audit chain, and
// reports what fails, never content; "dismiss" erases a quarantined
// message's untrusted content and settles it; "accept" recomputes a table's
// digest after an admin reviewed what the check reported (a table put back
// from an older copy stops sending until then: it fails closed). Every one
// is audited. A check that finds problems returns the report with an error
// of code integrity, so that the command exits 1.
func (s *Service) Doctor(ctx context.Context, a ops.Actor, r ops.DoctorRequest) (_ ops.DoctorReport, err error) {
	var rec *audit.Record
	switch r.Action {
	case ops.DoctorCheck, "":
		ctx, rec = begin(ctx, a, audit.IntegrityCheck, "store", "")
	case ops.DoctorDismiss:
		ctx, rec = begin(ctx, a, audit.QuarantineDismiss, "message", strconv.FormatInt(r.ID, 10))
	case ops.DoctorAccept:
		ctx, rec = begin(ctx, a, audit.DigestAccept, "table", r.Table)
	default:
		return ops.DoctorReport{}, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("unknown doctor action %q (check, dismiss, accept)", r.Action))
	}
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := requireAdmin(a, "run smsd doctor"); err != nil {
		return ops.DoctorReport{}, err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return ops.DoctorReport{}, err
	}
	switch r.Action {
	case ops.DoctorDismiss:
		if err := st.DismissQuarantined(ctx, r.ID); err != nil {
			var te *queue.TransitionError
			switch {
			case errors.Is(err, queue.ErrNotFound):
				return ops.DoctorReport{}, ops.Errorf(ops.CodeNotFound, fmt.Sprintf("no message %d (see smsd doctor)", r.ID))
			case errors.As(err, &te):
				return ops.DoctorReport{}, ops.Errorf(ops.CodeWrongState, fmt.Sprintf("message %d is not quarantined for integrity (it is %s): only those can be dismissed here; nothing was changed", r.ID, te.From))
			}
			return ops.DoctorReport{}, err
		}
		s.log.Warn("quarantined message dismissed: its content was erased", "id", r.ID, "actor", a.String())
	case ops.DoctorAccept:
		if err := st.AcceptDigest(ctx, r.Table); err != nil {
			return ops.DoctorReport{}, ops.Errorf(ops.CodeInvalidRequest, err.Error())
		}
		s.log.Warn("integrity digest accepted after review: the table as it is now is trusted", "table", r.Table, "actor", a.String())
	}
	rep, err := s.integrityReport(audit.Without(ctx), st)
	if err != nil {
		return rep, err
	}
	if r.Action == ops.DoctorCheck || r.Action == "" {
		rec.AddDetail(fmt.Sprintf("problems=%d quarantined=%d audit_ok=%t", len(rep.Problems), rep.Quarantined, rep.Audit.OK))
		if !rep.OK {
			return rep, ops.Errorf(ops.CodeIntegrity, fmt.Sprintf("%d integrity problem(s) found (see the report)", len(rep.Problems)+boolInt(!rep.Audit.OK)))
		}
	}
	return rep, nil
}

// integrityReport checks the store and the audit chain.
func (s *Service) integrityReport(ctx context.Context, st *queue.Store) (ops.DoctorReport, error) {
	probs, err := st.CheckIntegrity(ctx)
	if err != nil {
		return ops.DoctorReport{}, err
	}
	n, err := st.Quarantined(ctx)
	if err != nil {
		return ops.DoctorReport{}, err
	}
	rep := ops.DoctorReport{Quarantined: n, Problems: []ops.IntegrityProblem{}}
	for _, p := range probs {
		rep.Problems = append(rep.Problems, ops.IntegrityProblem{Table: p.Table, ID: p.ID, Problem: p.Problem, Quarantined: p.Quarantined})
	}
	head, heads, aerr := st.AuditCheck(ctx)
	rep.Audit = ops.AuditCheck{OK: aerr == nil, Head: head.String(), Rows: head.Seq, SignedHeads: heads}
	if aerr != nil {
		rep.Audit.Problem = aerr.Error()
	}
	rep.OK = len(rep.Problems) == 0 && rep.Audit.OK
	return rep, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
