package control

import (
	"context"
	"fmt"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// The reminder operations (issue "Reminders"): appointments, templates, a
// day's list from CSV, and the daily report.
const (
	OpAppointments   = "appointments"
	OpAppointment    = "appointment"
	OpTemplates      = "templates"
	OpImport         = "import"
	OpImportMappings = "import_mappings"
	OpReport         = "report"
)

// MaxImportBytes is the largest CSV file OpImport carries (10 MB, as the
// service's own limit, remind.MaxImportBytes; a test holds them equal). A
// larger file is refused by the client before it is sent, and by the
// server if another client sends one.
const MaxImportBytes = 10 << 20

// maxRequest bounds a request on the wire: an import's file travels in it,
// base64-encoded by JSON (4/3 of its size), so this is above maxMessage.
// Every other operation is still held to maxMessage once decoded.
const maxRequest = (MaxImportBytes/3+1)*4 + maxMessage

// maxImportAnswer bounds an import's or an appointment list's answer: a
// preview names every row of the file (a 10 MB file has up to some 200,000
// short rows), far more than maxMessage.
const maxImportAnswer = 256 << 20

// importTimeout bounds an import (parse, check and, with commit, seal and
// insert every row) on both sides of the socket.
const importTimeout = 10 * time.Minute

// errTooLarge is the answer to a request beyond maxRequest (or, for an
// operation other than import, beyond maxMessage).
func errTooLarge(op string, limit int) *ops.Error {
	if op == OpImport || op == "" {
		return ops.Errorf(ops.CodeTooLong, fmt.Sprintf("the request is larger than %d MB: an import file may be at most %d MB (split the list into smaller files)", limit>>20, MaxImportBytes>>20))
	}
	return ops.Errorf(ops.CodeTooLong, fmt.Sprintf("%s: the request is larger than %d MB", op, limit>>20))
}

// RemindRequest carries a reminder operation's request: the field for Op
// is set.
type RemindRequest struct {
	Appointments *ops.AppointmentFilter  `json:"appointments,omitempty"`
	Appointment  *ops.AppointmentRequest `json:"appointment,omitempty"`
	Template     *ops.TemplateRequest    `json:"template,omitempty"`
	Import       *ops.ImportRequest      `json:"import,omitempty"`
	Report       *ops.ReportRequest      `json:"report,omitempty"`
}

// RemindResponse carries a reminder operation's answer.
type RemindResponse struct {
	Appointments []ops.Appointment   `json:"appointments,omitempty"`
	Appointment  *ops.Appointment    `json:"appointment,omitempty"`
	Templates    []ops.Template      `json:"templates,omitempty"`
	Import       *ops.ImportResult   `json:"import,omitempty"`
	Mappings     []ops.ImportMapping `json:"mappings,omitempty"`
	Report       *ops.Report         `json:"report,omitempty"`
}

// RemindHandler is the service's reminder operations (package daemon's
// Service has them). A Handler without them answers the reminder
// operations with an error.
type RemindHandler interface {
	Appointments(ctx context.Context, a ops.Actor, f ops.AppointmentFilter) ([]ops.Appointment, error)
	Appointment(ctx context.Context, a ops.Actor, r ops.AppointmentRequest) (ops.Appointment, error)
	Templates(ctx context.Context, a ops.Actor, r ops.TemplateRequest) ([]ops.Template, error)
	// Import previews or commits a CSV list; progress, if not nil, hears
	// how far a commit got (the socket passes nil: one answer at the end).
	Import(ctx context.Context, a ops.Actor, r ops.ImportRequest, progress func(done, total int)) (ops.ImportResult, error)
	ImportMappings(ctx context.Context, a ops.Actor) ([]ops.ImportMapping, error)
	Report(ctx context.Context, a ops.Actor, r ops.ReportRequest) (ops.Report, error)
}

// remind serves the reminder operations.
func (s *Server) remind(ctx context.Context, a ops.Actor, req Request) Response {
	h, ok := s.h.(RemindHandler)
	if !ok {
		return Response{Error: ops.Errorf(ops.CodeInvalidRequest, "this smsd serve has no reminders (restart it after the upgrade)")}
	}
	missing := func(what string) Response {
		return Response{Error: ops.Errorf(ops.CodeInvalidRequest, req.Op+": no "+what+" given")}
	}
	var r RemindRequest
	if req.Remind != nil {
		r = *req.Remind
	}
	out := &RemindResponse{}
	var err error
	switch req.Op {
	case OpAppointments:
		var f ops.AppointmentFilter
		if r.Appointments != nil {
			f = *r.Appointments
		}
		if out.Appointments, err = h.Appointments(ctx, a, f); err == nil && out.Appointments == nil {
			out.Appointments = []ops.Appointment{}
		}
	case OpAppointment:
		if r.Appointment == nil {
			return missing("action")
		}
		var ap ops.Appointment
		if ap, err = h.Appointment(ctx, a, *r.Appointment); err == nil {
			out.Appointment = &ap
		}
	case OpTemplates:
		if r.Template == nil {
			return missing("action")
		}
		if out.Templates, err = h.Templates(ctx, a, *r.Template); err == nil && out.Templates == nil {
			out.Templates = []ops.Template{}
		}
	case OpImport:
		if r.Import == nil {
			return missing("file")
		}
		if len(r.Import.Data) > MaxImportBytes {
			return Response{Error: importTooLarge(len(r.Import.Data))}
		}
		var res ops.ImportResult
		if res, err = h.Import(ctx, a, *r.Import, nil); err == nil {
			out.Import = &res
		}
	case OpImportMappings:
		if out.Mappings, err = h.ImportMappings(ctx, a); err == nil && out.Mappings == nil {
			out.Mappings = []ops.ImportMapping{}
		}
	case OpReport:
		var rr ops.ReportRequest
		if r.Report != nil {
			rr = *r.Report
		}
		var rep ops.Report
		if rep, err = h.Report(ctx, a, rr); err == nil {
			out.Report = &rep
		}
	}
	if err != nil {
		e := toError(err)
		s.log.Debug("control request failed", "op", req.Op, "code", e.Code)
		return Response{Error: e}
	}
	return Response{Remind: out}
}

// importTooLarge refuses a file over MaxImportBytes.
func importTooLarge(n int) *ops.Error {
	return ops.Errorf(ops.CodeTooLong, fmt.Sprintf("the file is %.1f MB; at most %d MB can be imported at once (split the list into smaller files, e.g. one per day)", float64(n)/(1<<20), MaxImportBytes>>20))
}

// answerLimit is how large an answer to op may be.
func answerLimit(op string) int64 {
	switch op {
	case OpImport, OpAppointments, OpReport:
		return maxImportAnswer
	}
	return maxMessage
}

// remindDo sends a reminder request and returns its answer; a daemon that
// answers without one is another version of smsd.
func (c *Client) remindDo(ctx context.Context, op string, r RemindRequest, what string) (*RemindResponse, error) {
	cc := *c
	if op == OpImport && cc.Timeout < importTimeout {
		cc.Timeout = importTimeout
	}
	resp, err := cc.Do(ctx, Request{Op: op, Remind: &r})
	if err != nil {
		return nil, err
	}
	if resp.Remind == nil {
		return nil, errMismatch(what)
	}
	return resp.Remind, nil
}

// Appointments lists a day's appointments (numbers masked).
func (c *Client) Appointments(ctx context.Context, f ops.AppointmentFilter) ([]ops.Appointment, error) {
	out, err := c.remindDo(ctx, OpAppointments, RemindRequest{Appointments: &f}, "an appointment list")
	if err != nil {
		return nil, err
	}
	if out.Appointments == nil {
		out.Appointments = []ops.Appointment{}
	}
	return out.Appointments, nil
}

// Appointment creates, moves, cancels or shows one appointment.
func (c *Client) Appointment(ctx context.Context, r ops.AppointmentRequest) (ops.Appointment, error) {
	out, err := c.remindDo(ctx, OpAppointment, RemindRequest{Appointment: &r}, "an appointment")
	if err != nil {
		return ops.Appointment{}, err
	}
	if out.Appointment == nil {
		return ops.Appointment{}, errMismatch("an appointment")
	}
	return *out.Appointment, nil
}

// Templates lists, checks, saves or deletes templates.
func (c *Client) Templates(ctx context.Context, r ops.TemplateRequest) ([]ops.Template, error) {
	out, err := c.remindDo(ctx, OpTemplates, RemindRequest{Template: &r}, "a template request")
	if err != nil {
		return nil, err
	}
	if out.Templates == nil {
		out.Templates = []ops.Template{}
	}
	return out.Templates, nil
}

// Import previews or commits a CSV list. A file over MaxImportBytes is
// refused here, before it is sent.
func (c *Client) Import(ctx context.Context, r ops.ImportRequest) (ops.ImportResult, error) {
	if len(r.Data) > MaxImportBytes {
		return ops.ImportResult{}, importTooLarge(len(r.Data))
	}
	out, err := c.remindDo(ctx, OpImport, RemindRequest{Import: &r}, "an import")
	if err != nil {
		return ops.ImportResult{}, err
	}
	if out.Import == nil {
		return ops.ImportResult{}, errMismatch("an import")
	}
	return *out.Import, nil
}

// ImportMappings lists the saved column mappings.
func (c *Client) ImportMappings(ctx context.Context) ([]ops.ImportMapping, error) {
	out, err := c.remindDo(ctx, OpImportMappings, RemindRequest{}, "the import mappings")
	if err != nil {
		return nil, err
	}
	if out.Mappings == nil {
		out.Mappings = []ops.ImportMapping{}
	}
	return out.Mappings, nil
}

// Report is the daily report of reminders and answers.
func (c *Client) Report(ctx context.Context, r ops.ReportRequest) (ops.Report, error) {
	out, err := c.remindDo(ctx, OpReport, RemindRequest{Report: &r}, "a report")
	if err != nil {
		return ops.Report{}, err
	}
	if out.Report == nil {
		return ops.Report{}, errMismatch("a report")
	}
	return *out.Report, nil
}
