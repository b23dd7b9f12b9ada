package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/remind"
)

// Reminders (issue 15): appointments (appointments.go), templates
// (templates.go), a day's list from CSV (imports.go) and the daily report
// (report.go). The rules live in package remind (pure: templates, the
// plan, the CSV reader, answers); the store keeps the data (queue); this
// file joins them: the reminder plan of the clinic, the default templates.

// systemActorName is the audit actor of what the daemon does by itself
// (the default templates); defaultReportChartDay the days the report's
// chart shows.
const (
	systemActorName       = "system"
	defaultReportChartDay = 14
)

// remindState is the Service's reminder state: whether the default
// templates were looked at for the open store.
type remindState struct {
	mu     sync.Mutex
	seeded *queue.Store
}

// remindStore is ready() for the reminder operations: the open store, with
// the default templates created once per store for every language that has
// none (remind.DefaultTemplates; audited as the system's template_save).
func (s *Service) remindStore(ctx context.Context) (*queue.Store, error) {
	st, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	s.remind.mu.Lock()
	defer s.remind.mu.Unlock()
	if s.remind.seeded == st {
		return st, nil
	}
	if err := s.seedTemplates(ctx, st); err != nil {
		return nil, fmt.Errorf("create the default templates: %w", err)
	}
	s.remind.seeded = st
	return st, nil
}

// seedTemplates creates the default templates of every language that has
// no template, in one transaction with its audit row.
func (s *Service) seedTemplates(ctx context.Context, st *queue.Store) error {
	var ts []queue.Template
	for _, t := range remind.DefaultTemplates() {
		ts = append(ts, queue.Template{Name: t.Name, Language: t.Language, Body: t.Body, Reminder: t.Reminder, CreatedBy: systemActorName})
	}
	rec := audit.NewRecord(audit.Event{Actor: systemActorName, Action: audit.TemplateSave, ObjectType: "template"})
	n, err := st.SeedTemplates(audit.NewContext(audit.Without(ctx), rec), ts)
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Info("default reminder templates created", "templates", n)
	}
	return nil
}

// location is the clinic's time zone (config timezone).
func (s *Service) location() *time.Location {
	loc, err := s.cfg.Location()
	if err != nil {
		return time.Local // config.Validate refused it at start
	}
	return loc
}

// planBefore is the configured reminder plan (default 48h and 2h).
func (s *Service) planBefore() []time.Duration {
	var out []time.Duration
	for _, d := range s.cfg.ReminderPlan {
		if d.Duration > 0 {
			out = append(out, d.Duration)
		}
	}
	return out
}

// planner returns the store's Planner for appointments made at now: the
// configured plan, deferred out of the hours outside reminder_hours, each
// reminder rendered from the appointment's language's reminder template
// (English when its language has none).
func (s *Service) planner(ctx context.Context, st *queue.Store, now time.Time) (queue.Planner, error) {
	loc := s.location()
	hours, err := remind.ParseHours(s.cfg.ReminderHours, loc)
	if err != nil {
		return nil, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("reminder_hours %q: %v; fix the configuration", s.cfg.ReminderHours, err))
	}
	before := s.planBefore()
	ts, err := st.Templates(ctx)
	if err != nil {
		return nil, err
	}
	bodies := map[string]string{}
	for _, t := range ts {
		if t.Reminder {
			bodies[t.Language] = t.Body
		}
	}
	return func(a queue.Appointment) ([]queue.PlannedReminder, []queue.SkippedSlot, error) {
		body, ok := bodies[a.Language]
		if !ok {
			body, ok = bodies[ops.LangEnglish]
		}
		if !ok {
			return nil, nil, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf(
				"there is no reminder template in %q nor in English: mark a template as the reminder (smsd templates, or the templates page); nothing was created", a.Language))
		}
		text, err := remind.Render(body, remind.AppointmentFields(opsAppointment(a), s.cfg.ClinicName, s.cfg.ClinicPhone, loc))
		if err != nil {
			return nil, nil, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("the reminder template in %q: %v; fix it on the templates page", a.Language, err))
		}
		tooLong := ""
		if _, err := s.checkText(text); err != nil {
			tooLong = "the reminder text would be too long or empty for this appointment: " + ops.CodeOf(err)
		}
		var planned []queue.PlannedReminder
		var skipped []queue.SkippedSlot
		for _, sl := range remind.Plan(a.At, now, before, hours, loc) {
			switch {
			case sl.Skipped != "":
				skipped = append(skipped, queue.SkippedSlot{Before: sl.Before, Why: sl.Skipped})
			case tooLong != "":
				skipped = append(skipped, queue.SkippedSlot{Before: sl.Before, Why: tooLong})
			default:
				planned = append(planned, queue.PlannedReminder{Before: sl.Before, SendAt: sl.At, Text: text})
			}
		}
		return planned, skipped, nil
	}, nil
}

// opsAppointment is a stored appointment as the doors see it (phone in
// full: the caller masks it where a list shows it).
func opsAppointment(a queue.Appointment) ops.Appointment {
	out := ops.Appointment{ID: a.ID, State: a.State, Name: a.Name, Phone: a.Phone, At: utc(a.At), Provider: a.Provider,
		Location: a.Location, Language: a.Language, Answer: a.Answer, AnsweredAt: utc(a.AnsweredAt), ImportID: a.ImportID,
		CreatedBy: a.CreatedBy, CreatedAt: utc(a.CreatedAt), Reminders: []ops.Reminder{}, Damaged: a.Damaged}
	for _, r := range a.Reminders {
		out.Reminders = append(out.Reminders, ops.Reminder{MessageID: r.MessageID, Before: r.Before.String(), SendAt: utc(r.SendAt), State: string(r.State)})
	}
	for _, sk := range a.Skipped {
		out.Reminders = append(out.Reminders, ops.Reminder{Before: sk.Before.String(), Skipped: sk.Why})
	}
	return out
}

// masked is a as a list shows it: the number masked.
func masked(a ops.Appointment) ops.Appointment {
	a.Phone = mask.Number(a.Phone)
	return a
}

// validLanguage gives the language code of an appointment or template:
// "" is English; only the languages the templates ship in are accepted.
func validLanguage(l string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(l)) {
	case "", "en", "english":
		return ops.LangEnglish, nil
	case "es", "spanish", "español", "espanol":
		return ops.LangSpanish, nil
	}
	return "", ops.FieldErrorf(ops.CodeInvalidRequest, "language", fmt.Sprintf("language %q is not one smsd has reminders in (en, es); nothing was changed", clipRunes(l, 20)))
}

// storeError turns the reminder store's errors into ones a person can act
// on; others pass.
func storeError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case ops.CodeOf(err) != "":
		return err
	case errors.Is(err, queue.ErrOptedOut):
		return ops.Errorf(ops.CodeOptedOut, "refused: the patient's number has opted out (replied STOP); no reminder can be sent to it until they text START; nothing was "+what)
	case errors.Is(err, queue.ErrInvalidNumber):
		return ops.Errorf(ops.CodeInvalidNumber, fmt.Sprintf("refused: %v; nothing was %s. Write the number with its country code, e.g. +15551234567", err, what))
	case errors.Is(err, queue.ErrDuplicateAppointment):
		return ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("refused: %v; nothing was %s", err, what))
	case errors.Is(err, queue.ErrAppointmentCancelled):
		return ops.Errorf(ops.CodeWrongState, fmt.Sprintf("refused: %v; nothing was %s", err, what))
	case errors.Is(err, queue.ErrNotFound):
		return ops.Errorf(ops.CodeNotFound, fmt.Sprintf("%v; nothing was %s", err, what))
	case errors.Is(err, queue.ErrIntegrity), errors.Is(err, queue.ErrTampered):
		return ops.Errorf(ops.CodeIntegrity, fmt.Sprintf("%v; nothing was %s; an admin runs smsd doctor", err, what))
	case errors.Is(err, queue.ErrInvalidTransition):
		return ops.Errorf(ops.CodeWrongState, fmt.Sprintf("%v; nothing was %s", err, what))
	}
	return err
}

// checkField refuses a free-text field longer than max characters or not
// UTF-8.
func checkField(name, v string, max int) error {
	if !utf8.ValidString(v) {
		return ops.FieldErrorf(ops.CodeInvalidRequest, name, fmt.Sprintf("the %s is not valid UTF-8 text; nothing was changed", name))
	}
	if n := utf8.RuneCountInString(v); n > max {
		return ops.FieldErrorf(ops.CodeInvalidRequest, name, fmt.Sprintf("the %s has %d characters, at most %d fit a reminder; shorten it; nothing was changed", name, n, max))
	}
	return nil
}
