package control

import (
	"context"

	"github.com/clinicsms/smsd/ops"
)

// The reminder operations over the socket (contract; replaced by the real
// requests).

var notYet = ops.Errorf(ops.CodeInternal, "reminders are not built yet")

// Appointments lists a day's appointments.
func (c *Client) Appointments(ctx context.Context, f ops.AppointmentFilter) ([]ops.Appointment, error) {
	return nil, notYet
}

// Appointment changes or shows one appointment.
func (c *Client) Appointment(ctx context.Context, r ops.AppointmentRequest) (ops.Appointment, error) {
	return ops.Appointment{}, notYet
}

// Templates manages templates.
func (c *Client) Templates(ctx context.Context, r ops.TemplateRequest) ([]ops.Template, error) {
	return nil, notYet
}

// Import previews or commits a CSV list.
func (c *Client) Import(ctx context.Context, r ops.ImportRequest) (ops.ImportResult, error) {
	return ops.ImportResult{}, notYet
}

// Report is the daily report.
func (c *Client) Report(ctx context.Context, r ops.ReportRequest) (ops.Report, error) {
	return ops.Report{}, notYet
}
