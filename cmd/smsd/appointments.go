package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clinicsms/smsd/ops"
)

func init() {
	register(command{name: "appointments", summary: "a day's appointments, their reminders and answers ([-date YYYY-MM-DD] [-json])", run: runAppointments})
	register(command{name: "appointment", summary: "one appointment: smsd appointment add < PATIENT, or show|cancel|move ID", run: runAppointment})
}

func runAppointments(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "appointments", "smsd appointments [-date YYYY-MM-DD] [-import ID] [-all] [-json]")
	cf := addCommonFlags(fs, env)
	date := fs.String("date", "", "the day, in the clinic's time zone (default today)")
	importID := fs.Int64("import", 0, "only the appointments one import created (its number, as smsd import -commit prints it)")
	all := fs.Bool("all", false, "cancelled appointments too")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q", fs.Arg(0))
	}
	if *date != "" {
		if _, err := time.Parse(time.DateOnly, *date); err != nil {
			return usageError("-date %q is not a day: use YYYY-MM-DD, e.g. 2026-12-03", *date)
		}
	}
	zone := clinicZone(cf)
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	as, err := conn.Appointments(ctx, ops.AppointmentFilter{Date: *date, ImportID: *importID, All: *all})
	if err != nil {
		return err
	}
	if *asJSON {
		if as == nil {
			as = []ops.Appointment{}
		}
		return printJSON(env.stdout, as)
	}
	if len(as) == 0 {
		fmt.Fprintln(env.stdout, "no appointments")
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWHEN\tSTATE\tNAME\tPHONE\tLANG\tANSWER\tREMINDERS")
	for _, a := range as {
		name, phone := safe(clip(a.Name, 30)), maskedPhone(a.Phone)
		if a.Damaged {
			name, phone = damagedMark, "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, inZone(a.At, zone), safe(a.State), name, phone,
			safe(a.Language), answerText(a.Answer), reminderSummary(a.Reminders, zone))
	}
	return flushListing(tw, env.stdout, slices.ContainsFunc(as, func(a ops.Appointment) bool { return a.Damaged }))
}

// answerText shows a patient's answer ("-" for none yet).
func answerText(a string) string {
	if a == "" {
		return "-"
	}
	return safe(a)
}

// reminderSummary shows an appointment's reminders in one cell: each one's
// time and state, or why it was skipped.
func reminderSummary(rs []ops.Reminder, zone *time.Location) string {
	if len(rs) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(rs))
	for _, r := range rs {
		switch {
		case r.Skipped != "":
			parts = append(parts, "skipped")
		default:
			state := r.State
			if state == "" {
				state = "planned"
			}
			parts = append(parts, inZone(r.SendAt, zone)+" "+safe(state))
		}
	}
	return strings.Join(parts, "; ")
}

// appointmentAdd is the word of smsd appointment add (the service's
// ops.AppointmentCreate).
const appointmentAdd = "add"

var appointmentActions = map[string]subcommand{
	appointmentAdd: {usage: "smsd appointment add -at TIME [-provider P] [-location L] [-language en|es] [-json] < PATIENT\n" +
		"         (PATIENT: the number on the first line, the name on the second)   a new appointment and its reminders", words: 0},
	ops.AppointmentShow:   {usage: "smsd appointment show ID [-json]          the appointment with its number (audited), reminders and answer", words: 1},
	ops.AppointmentCancel: {usage: "smsd appointment cancel ID                cancel it and its reminders not yet sent", words: 1},
	ops.AppointmentMove:   {usage: "smsd appointment move ID -at 2026-12-03T15:00   move it; its reminders are planned again", words: 1},
}

// maxPatientInput bounds what smsd appointment add reads from standard
// input: a number and a name are far shorter.
const maxPatientInput = 4 << 10

func runAppointment(ctx context.Context, env *cmdEnv, args []string) error {
	var cf commonFlags
	var asJSON *bool
	var at, provider, location, language *string
	action, words, err := parseAction(env, "appointment", appointmentActions,
		[]string{appointmentAdd, ops.AppointmentShow, ops.AppointmentCancel, ops.AppointmentMove}, args,
		func(action string, fs *flag.FlagSet) {
			cf = addCommonFlags(fs, env)
			asJSON = fs.Bool("json", false, "print JSON")
			switch action {
			case ops.AppointmentMove:
				at = fs.String("at", "", "the new time: 2026-12-03T15:00 (the clinic's local time), RFC 3339, or a delay such as 2h")
			case appointmentAdd:
				at = fs.String("at", "", "the appointment's time: 2026-12-03T15:00 (the clinic's local time), RFC 3339, or a delay such as 2h")
				provider = fs.String("provider", "", "who the patient sees, e.g. \"Dr. Kim\" (optional)")
				location = fs.String("location", "", "where, e.g. \"Main St\" (optional)")
				language = fs.String("language", ops.LangEnglish, "the patient's language, for the reminders: en or es")
			}
		})
	if err != nil {
		return err
	}
	if action == appointmentAdd {
		return addAppointment(ctx, env, cf, *asJSON, *at, ops.AppointmentRequest{Action: ops.AppointmentCreate,
			Provider: *provider, Location: *location, Language: *language})
	}
	id, err := strconv.ParseInt(words[0], 10, 64)
	if err != nil || id <= 0 {
		return usageError("%q is not an appointment id (a number, as smsd appointments lists them)", words[0])
	}
	zone := clinicZone(cf)
	req := ops.AppointmentRequest{Action: action, ID: id}
	if action == ops.AppointmentMove {
		if req.At, err = parseWhen(*at, zone, time.Now()); err != nil {
			return usageError("%v", err)
		}
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	a, err := conn.Appointment(ctx, req)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.stdout, a)
	}
	switch action {
	case ops.AppointmentCancel:
		fmt.Fprintf(env.stdout, "appointment %d cancelled, with its reminders not yet sent\n", a.ID)
	case ops.AppointmentMove:
		fmt.Fprintf(env.stdout, "appointment %d moved to %s; reminders: %s\n", a.ID, inZone(a.At, zone), reminderSummary(a.Reminders, zone))
	default:
		printAppointment(env.stdout, a, zone)
	}
	return nil
}

// addAppointment is smsd appointment add: the patient's number and name
// from standard input (never the command line, which every user of the
// box sees), the rest from the flags; it prints the appointment with its
// planned reminders, the number masked.
func addAppointment(ctx context.Context, env *cmdEnv, cf commonFlags, asJSON bool, at string, req ops.AppointmentRequest) error {
	zone := clinicZone(cf)
	if strings.TrimSpace(at) == "" {
		return usageError("-at is required: the appointment's time, e.g. -at 2026-12-03T15:00 (the clinic's local time)")
	}
	var err error
	if req.At, err = parseWhen(at, zone, time.Now()); err != nil {
		return usageError("%v", err)
	}
	if isTerminal(env.stdin) {
		fmt.Fprintln(env.stderr, "Type the patient's number on the first line and the name on the second; end with Ctrl-D.")
	}
	if req.Phone, req.Name, err = readPatient(env.stdin); err != nil {
		return usageError("%v", err)
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	a, err := conn.Appointment(ctx, req)
	if err != nil {
		return err
	}
	if asJSON {
		if err := printJSON(env.stdout, a); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(env.stdout, "appointment %d added\n", a.ID)
		printAppointment(env.stdout, a, zone)
	}
	if conn.Direct && slices.ContainsFunc(a.Reminders, func(r ops.Reminder) bool { return r.Skipped == "" }) {
		fmt.Fprintln(env.stderr, "smsd appointment: note: smsd serve is not running: the reminders go out when it runs, at their time")
	}
	return nil
}

// readPatient reads a patient from r: the number on the first line, the
// name on the second. Anything after is refused rather than guessed at (a
// second patient, a text pasted by mistake).
func readPatient(r io.Reader) (number, name string, err error) {
	b, err := io.ReadAll(io.LimitReader(r, maxPatientInput+1))
	if err != nil {
		return "", "", fmt.Errorf("reading the patient from standard input: %w", err)
	}
	if len(b) > maxPatientInput {
		return "", "", fmt.Errorf("standard input holds more than %d KiB: give one patient, the number on the first line and the name on the second", maxPatientInput>>10)
	}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	switch {
	case len(lines) == 0:
		return "", "", errors.New("no patient on standard input: give the number on the first line and the name on the second, e.g. printf '%s\\n' +15551234567 'Ana Lopez' | smsd appointment add -at 2026-12-03T15:00")
	case strings.TrimSpace(lines[0]) == "":
		return "", "", errors.New("the first line of standard input is empty: it must be the number, with its country code (+15551234567)")
	case len(lines) == 1 || strings.TrimSpace(lines[1]) == "":
		return "", "", errors.New("no name on the second line of standard input: the number goes on the first line, the patient's name on the second")
	case len(lines) > 2:
		return "", "", fmt.Errorf("standard input has %d lines: give one patient, the number on the first line and the name on the second", len(lines))
	}
	return strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1]), nil
}

// parseWhen reads an appointment time: a local date and time on the
// clinic's clock, RFC 3339, or a delay from now (as smsd send -at).
func parseWhen(s string, zone *time.Location, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("-at is required: the new time, e.g. -at 2026-12-03T15:00")
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("-at %q is not in the future: a delay is how long from now, such as 2h", s)
		}
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, zone); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("-at %q is not a time: use 2026-12-03T15:00 (the clinic's local time), 2026-12-03T15:00:00-05:00, or a delay such as 2h", s)
}

func printAppointment(w io.Writer, a ops.Appointment, zone *time.Location) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("id:", strconv.FormatInt(a.ID, 10))
	row("state:", safe(a.State))
	row("when:", inZone(a.At, zone))
	row("name:", safe(a.Name))
	row("phone:", safe(a.Phone))
	if a.Provider != "" {
		row("provider:", safe(a.Provider))
	}
	if a.Location != "" {
		row("location:", safe(a.Location))
	}
	row("language:", safe(a.Language))
	answer := answerText(a.Answer)
	if !a.AnsweredAt.IsZero() {
		answer += " at " + inZone(a.AnsweredAt, zone)
	}
	row("answer:", answer)
	if a.ImportID != 0 {
		row("import:", strconv.FormatInt(a.ImportID, 10))
	}
	row("created:", inZone(a.CreatedAt, zone)+" by "+safe(a.CreatedBy))
	for i, r := range a.Reminders {
		v := fmt.Sprintf("%s before: ", safe(r.Before))
		switch {
		case r.Skipped != "":
			v += "skipped (" + safe(r.Skipped) + ")"
		default:
			state := r.State
			if state == "" {
				state = "planned"
			}
			v += inZone(r.SendAt, zone) + ", " + safe(state)
			if r.MessageID != 0 {
				v += fmt.Sprintf(" (message %d)", r.MessageID)
			}
		}
		row(fmt.Sprintf("reminder %d:", i+1), v)
	}
	tw.Flush()
}
