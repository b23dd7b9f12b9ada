package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/remind"
)

// dayBounds is the day date (YYYY-MM-DD; "" today) in loc as [from, to):
// a DST day is 23 or 25 hours long.
func (s *Service) dayBounds(date string, loc *time.Location) (time.Time, time.Time, error) {
	var d time.Time
	if strings.TrimSpace(date) == "" {
		d = s.now().In(loc)
	} else {
		var err error
		if d, err = time.ParseInLocation("2006-01-02", strings.TrimSpace(date), loc); err != nil {
			return time.Time{}, time.Time{}, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("date %q is not a day written YYYY-MM-DD (e.g. 2026-12-03)", clipRunes(date, 20)))
		}
	}
	from := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
	return from, from.AddDate(0, 0, 1), nil
}

// Appointments lists the appointments of a day in the clinic's time zone
// (or of one import), by time, with their reminders; the numbers masked.
// Names are shown, so the list is an audited view (appointment_list,
// naming the day and the count). An API token may not.
func (s *Service) Appointments(ctx context.Context, a ops.Actor, f ops.AppointmentFilter) (_ []ops.Appointment, err error) {
	ctx, rec := begin(ctx, a, audit.AppointmentList, "appointment", "")
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := refuseToken(a, "list appointments"); err != nil {
		return nil, err
	}
	q := queue.AppointmentQuery{ImportID: f.ImportID, All: f.All, Limit: 20000}
	if f.ImportID == 0 || f.Date != "" {
		from, to, err := s.dayBounds(f.Date, s.location())
		if err != nil {
			return nil, err
		}
		q.From, q.To = from, to
		rec.AddDetail("date=" + from.Format("2006-01-02"))
	}
	if f.ImportID != 0 {
		rec.AddDetail("import=" + strconv.FormatInt(f.ImportID, 10))
	}
	st, err := s.remindStore(ctx)
	if err != nil {
		return nil, err
	}
	as, err := st.Appointments(ctx, q)
	if err != nil {
		return nil, storeError(err, "shown")
	}
	rec.AddDetail(fmt.Sprintf("shown=%d", len(as)))
	out := make([]ops.Appointment, 0, len(as))
	for _, ap := range as {
		out = append(out, masked(opsAppointment(ap)))
	}
	return out, nil
}

// Appointment creates, moves, cancels or shows one appointment. Creating
// plans and queues its reminders (config reminder_plan, reminder_hours,
// the language's reminder template) in the same transaction; moving
// cancels the queued ones and plans again; cancelling cancels them. Show
// opens it with the number unmasked (appointment_view). Every action is
// audited in its own transaction; the details carry the masked number at
// most. An API token may not.
func (s *Service) Appointment(ctx context.Context, a ops.Actor, r ops.AppointmentRequest) (_ ops.Appointment, err error) {
	action := map[string]string{ops.AppointmentCreate: audit.AppointmentCreate, ops.AppointmentMove: audit.AppointmentMove,
		ops.AppointmentCancel: audit.AppointmentCancel, ops.AppointmentShow: audit.AppointmentView}[r.Action]
	if action == "" {
		action = "appointment_" + clipRunes(r.Action, 20)
	}
	objID := ""
	if r.ID != 0 {
		objID = strconv.FormatInt(r.ID, 10)
	}
	ctx, rec := begin(ctx, a, action, "appointment", objID)
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := refuseToken(a, "change or open appointments"); err != nil {
		return ops.Appointment{}, err
	}
	now := s.now()
	switch r.Action {
	case ops.AppointmentCreate:
		return s.createAppointment(ctx, a, r, now)
	case ops.AppointmentMove, ops.AppointmentCancel, ops.AppointmentShow:
		if r.ID <= 0 {
			return ops.Appointment{}, ops.Errorf(ops.CodeInvalidRequest, "say which appointment (its id); nothing was changed")
		}
	default:
		return ops.Appointment{}, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("unknown appointment action %q (create, move, cancel, show)", clipRunes(r.Action, 20)))
	}
	st, err := s.remindStore(ctx)
	if err != nil {
		return ops.Appointment{}, err
	}
	var ap queue.Appointment
	switch r.Action {
	case ops.AppointmentShow:
		ap, err = st.GetAppointment(ctx, r.ID)
		if err != nil {
			return ops.Appointment{}, storeError(err, "shown")
		}
		return opsAppointment(ap), nil
	case ops.AppointmentCancel:
		ap, err = st.CancelAppointment(ctx, r.ID)
		if err != nil {
			return ops.Appointment{}, storeError(err, "changed")
		}
	case ops.AppointmentMove:
		if r.At.IsZero() {
			return ops.Appointment{}, ops.Errorf(ops.CodeInvalidRequest, "say the new time (at); nothing was changed")
		}
		if r.At.Before(now) {
			return ops.Appointment{}, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("the new time, %s, is in the past; nothing was changed", r.At.UTC().Format(time.RFC3339)))
		}
		plan, err := s.planner(ctx, st, now)
		if err != nil {
			return ops.Appointment{}, err
		}
		ap, err = st.MoveAppointment(ctx, r.ID, r.At, plan)
		if err != nil {
			return ops.Appointment{}, storeError(err, "changed")
		}
	}
	return masked(opsAppointment(ap)), nil
}

// createAppointment is Appointment's create.
func (s *Service) createAppointment(ctx context.Context, a ops.Actor, r ops.AppointmentRequest, now time.Time) (ops.Appointment, error) {
	name := strings.TrimSpace(r.Name)
	if name == "" {
		return ops.Appointment{}, ops.FieldErrorf(ops.CodeInvalidRequest, "name", "the patient's name is missing; nothing was created")
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"name", name, remind.MaxNameLen}, {"provider", r.Provider, remind.MaxProviderLen}, {"location", r.Location, remind.MaxLocationLen}} {
		if err := checkField(f.name, f.v, f.max); err != nil {
			return ops.Appointment{}, err
		}
	}
	if r.At.IsZero() {
		return ops.Appointment{}, ops.FieldErrorf(ops.CodeInvalidRequest, "at", "the appointment's time (at) is missing; nothing was created")
	}
	if r.At.Before(now) {
		return ops.Appointment{}, ops.FieldErrorf(ops.CodeInvalidRequest, "at", fmt.Sprintf("the appointment's time, %s, is in the past; nothing was created", r.At.UTC().Format(time.RFC3339)))
	}
	lang, err := validLanguage(r.Language)
	if err != nil {
		return ops.Appointment{}, err
	}
	st, err := s.remindStore(ctx)
	if err != nil {
		return ops.Appointment{}, err
	}
	plan, err := s.planner(ctx, st, now)
	if err != nil {
		return ops.Appointment{}, err
	}
	ap, err := st.CreateAppointment(ctx, queue.NewAppointment{Name: name, Phone: r.Phone, Provider: strings.TrimSpace(r.Provider),
		Location: strings.TrimSpace(r.Location), At: r.At, Language: lang, CreatedBy: a.String()}, plan)
	if err != nil {
		return ops.Appointment{}, createError(err)
	}
	return masked(opsAppointment(ap)), nil
}

// createError is storeError for a new appointment, naming the request
// field a refusal is about: the number (bad, or opted out) or the time (an
// appointment for the number at that time exists already: the time is
// what the desk changes).
func createError(err error) error {
	field := ""
	switch {
	case errors.Is(err, queue.ErrInvalidNumber), errors.Is(err, queue.ErrOptedOut):
		field = "phone"
	case errors.Is(err, queue.ErrDuplicateAppointment):
		field = "at"
	}
	err = storeError(err, "created")
	var e *ops.Error
	if field == "" || !errors.As(err, &e) {
		return err
	}
	return ops.FieldErrorf(e.Code, field, e.Message)
}
