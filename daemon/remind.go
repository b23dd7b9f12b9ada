package daemon

import (
	"context"

	"github.com/clinicsms/smsd/ops"
)

// notYet answers the reminder operations until they are built (this file
// is the contract for issue 15's service; it is replaced, not kept).
var notYet = ops.Errorf(ops.CodeInternal, "reminders are not built yet")

// Appointments lists a day's appointments (web.Service).
func (s *Service) Appointments(ctx context.Context, a ops.Actor, f ops.AppointmentFilter) ([]ops.Appointment, error) {
	return nil, notYet
}

// Appointment creates, moves, cancels or shows one appointment.
func (s *Service) Appointment(ctx context.Context, a ops.Actor, r ops.AppointmentRequest) (ops.Appointment, error) {
	return ops.Appointment{}, notYet
}

// Templates lists, checks, saves or deletes templates.
func (s *Service) Templates(ctx context.Context, a ops.Actor, r ops.TemplateRequest) ([]ops.Template, error) {
	return nil, notYet
}

// Import previews or commits a day's list from CSV.
func (s *Service) Import(ctx context.Context, a ops.Actor, r ops.ImportRequest, progress func(done, total int)) (ops.ImportResult, error) {
	return ops.ImportResult{}, notYet
}

// ImportMappings lists the saved column mappings.
func (s *Service) ImportMappings(ctx context.Context, a ops.Actor) ([]ops.ImportMapping, error) {
	return nil, notYet
}

// Report counts a day's reminders and answers.
func (s *Service) Report(ctx context.Context, a ops.Actor, r ops.ReportRequest) (ops.Report, error) {
	return ops.Report{}, notYet
}
