package daemon

import (
	"context"
	"os"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// As is the Service as one actor sees it: the operations without the actor
// argument, so that it and *control.Client both serve as Ops.
type As struct {
	s *Service
	a ops.Actor
}

// As returns the Service's operations on behalf of a.
func (s *Service) As(a ops.Actor) As { return As{s: s, a: a} }

// Send queues a message (Service.Send).
func (x As) Send(ctx context.Context, r ops.SendRequest) (ops.SendResult, error) {
	return x.s.Send(ctx, x.a, r)
}

// Status is the appliance's state (Service.Status).
func (x As) Status(ctx context.Context) (ops.Status, error) { return x.s.Status(ctx, x.a) }

// Inbox lists received messages (Service.Inbox).
func (x As) Inbox(ctx context.Context, limit int) ([]ops.InboxItem, error) {
	return x.s.Inbox(ctx, x.a, limit)
}

// User manages accounts (Service.User).
func (x As) User(ctx context.Context, r ops.UserRequest) ([]ops.UserInfo, error) {
	return x.s.User(ctx, x.a, r)
}

// RotateDataKey replaces the data key (Service.RotateDataKey).
func (x As) RotateDataKey(ctx context.Context) (ops.RotateResult, error) {
	return x.s.RotateDataKey(ctx, x.a)
}

// Messages lists outgoing messages (Service.Messages).
func (x As) Messages(ctx context.Context, f ops.MessageFilter) ([]ops.Message, error) {
	return x.s.Messages(ctx, x.a, f)
}

// Message shows one message (Service.Message).
func (x As) Message(ctx context.Context, id int64) (ops.Message, error) {
	return x.s.Message(ctx, x.a, id)
}

// Act decides about one message (Service.Act).
func (x As) Act(ctx context.Context, r ops.MessageAction) (ops.Message, error) {
	return x.s.Act(ctx, x.a, r)
}

// OptOuts lists or changes opt-outs (Service.OptOuts).
func (x As) OptOuts(ctx context.Context, r ops.OptOutRequest) ([]ops.OptOut, error) {
	return x.s.OptOuts(ctx, x.a, r)
}

// AuditExport writes a signed audit export (Service.AuditExport).
func (x As) AuditExport(ctx context.Context, from, to time.Time, csvOut, sigOut *os.File) (ops.AuditSummary, error) {
	return x.s.AuditExport(ctx, x.a, from, to, csvOut, sigOut)
}

// AuditCheck verifies the audit log (Service.AuditCheck).
func (x As) AuditCheck(ctx context.Context, heads []string) (ops.AuditCheck, error) {
	return x.s.AuditCheck(ctx, x.a, heads)
}

// RotateAuditKey makes a new audit signing key (Service.RotateAuditKey).
func (x As) RotateAuditKey(ctx context.Context) (string, error) { return x.s.RotateAuditKey(ctx, x.a) }

// Doctor checks the store's integrity (Service.Doctor).
func (x As) Doctor(ctx context.Context, r ops.DoctorRequest) (ops.DoctorReport, error) {
	return x.s.Doctor(ctx, x.a, r)
}

// AuditPublicKeys lists the audit public keys (Service.AuditPublicKeys).
func (x As) AuditPublicKeys(ctx context.Context) ([]string, error) {
	return x.s.AuditPublicKeys(ctx, x.a)
}

// Appointments lists a day's appointments (Service.Appointments).
func (x As) Appointments(ctx context.Context, f ops.AppointmentFilter) ([]ops.Appointment, error) {
	return x.s.Appointments(ctx, x.a, f)
}

// Appointment changes or shows one appointment (Service.Appointment).
func (x As) Appointment(ctx context.Context, r ops.AppointmentRequest) (ops.Appointment, error) {
	return x.s.Appointment(ctx, x.a, r)
}

// Templates manages templates (Service.Templates).
func (x As) Templates(ctx context.Context, r ops.TemplateRequest) ([]ops.Template, error) {
	return x.s.Templates(ctx, x.a, r)
}

// Import previews or commits a CSV list (Service.Import).
func (x As) Import(ctx context.Context, r ops.ImportRequest) (ops.ImportResult, error) {
	return x.s.Import(ctx, x.a, r, nil)
}

// Report is the daily report (Service.Report).
func (x As) Report(ctx context.Context, r ops.ReportRequest) (ops.Report, error) {
	return x.s.Report(ctx, x.a, r)
}
