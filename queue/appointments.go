package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/mask"
)

// Reminders (issue 15): appointments, the reminder messages planned for
// them, replies threaded to them. A reminder is an ordinary message (table
// messages) that carries its appointment's id and the plan's offset, so the
// dispatcher sends it as it sends any message, at its send_at.

// remindMigration is schema step 11 (schema.go).
//
//   - appointments: the visit. Name, phone, provider and location are
//     sealed (padded: their length says something about a patient); the
//     phone also has a blind index, for the duplicate check (same phone,
//     same time) and reply threading. The time, language, state and answer
//     stay in clear: the lists by day, the report and the dispatcher need
//     them, and none of them names anyone. skipped is the plan's slots that
//     could not be kept, as JSON of offsets and generic sentences (no PHI).
//   - messages.appointment_id and plan_before link a reminder to its
//     appointment (untagged: the messages' tag order is fixed by the rows
//     already tagged; a forged link can only thread a reply wrongly or have
//     an appointment's cancel cancel a queued message, which shows in the
//     audit trail). messages_reminders serves the report: it counts by
//     send_at and state from the index alone.
//   - inbound.appointment_id: a reply threaded to an appointment.
//   - imports: one row per committed file, found by a keyed hash of the
//     file's SHA-256 (digest_index, UNIQUE: the same file twice creates
//     nothing); the SHA-256 itself is kept sealed so that a key rotation can
//     compute the index under the new key.
//   - import_mappings: saved column mappings. Only column headers and field
//     names: no PHI, kept in clear, untagged (a forged mapping only maps
//     columns wrongly, which the preview shows).
//   - templates gets a language and a reminder flag; its name becomes
//     unique per language (the table is rebuilt: SQLite cannot drop a
//     UNIQUE column constraint). At most one reminder template per language.
const remindMigration = `CREATE TABLE imports (
		id               INTEGER PRIMARY KEY,
		digest_index     BLOB    NOT NULL UNIQUE,
		digest_sealed    BLOB    NOT NULL,
		file_name_sealed BLOB,
		rows             INTEGER NOT NULL DEFAULT 0,
		created          INTEGER NOT NULL DEFAULT 0,
		skipped          INTEGER NOT NULL DEFAULT 0,
		reminders        INTEGER NOT NULL DEFAULT 0,
		created_by       TEXT    NOT NULL DEFAULT '',
		created_at       INTEGER NOT NULL,
		rv               INTEGER NOT NULL DEFAULT 0,
		tag              BLOB
	);
	CREATE TABLE appointments (
		id              INTEGER PRIMARY KEY,
		state           TEXT    NOT NULL CHECK (state IN ('scheduled','cancelled')),
		name_sealed     BLOB,
		phone_sealed    BLOB,
		phone_index     BLOB,
		provider_sealed BLOB,
		location_sealed BLOB,
		at              INTEGER NOT NULL,
		language        TEXT    NOT NULL DEFAULT 'en',
		answer          TEXT    NOT NULL DEFAULT '',
		answered_at     INTEGER NOT NULL DEFAULT 0,
		skipped         TEXT    NOT NULL DEFAULT '',
		import_id       INTEGER REFERENCES imports (id),
		created_by      TEXT    NOT NULL DEFAULT '',
		created_at      INTEGER NOT NULL,
		updated_at      INTEGER NOT NULL,
		purged_at       INTEGER,
		rv              INTEGER NOT NULL DEFAULT 0,
		tag             BLOB
	);
	CREATE INDEX appointments_at ON appointments (at);
	CREATE INDEX appointments_phone ON appointments (phone_index, at);
	CREATE INDEX appointments_import ON appointments (import_id) WHERE import_id IS NOT NULL;
	CREATE INDEX appointments_answered ON appointments (answered_at, answer) WHERE answered_at > 0;
	ALTER TABLE messages ADD COLUMN appointment_id INTEGER REFERENCES appointments (id);
	ALTER TABLE messages ADD COLUMN plan_before INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX messages_appointment ON messages (appointment_id) WHERE appointment_id IS NOT NULL;
	CREATE INDEX messages_reminders ON messages (send_at, state) WHERE appointment_id IS NOT NULL;
	ALTER TABLE inbound ADD COLUMN appointment_id INTEGER REFERENCES appointments (id);
	CREATE TABLE import_mappings (
		id         INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL UNIQUE,
		columns    TEXT    NOT NULL,
		created_by TEXT    NOT NULL DEFAULT '',
		updated_at INTEGER NOT NULL
	);
	CREATE TABLE templates_v11 (
		id          INTEGER PRIMARY KEY,
		name        TEXT    NOT NULL,
		language    TEXT    NOT NULL DEFAULT 'en',
		body_sealed BLOB    NOT NULL,
		reminder    INTEGER NOT NULL DEFAULT 0,
		created_by  TEXT    NOT NULL DEFAULT '',
		created_at  INTEGER NOT NULL,
		updated_at  INTEGER NOT NULL,
		rv          INTEGER NOT NULL DEFAULT 0,
		tag         BLOB,
		UNIQUE (name, language)
	);
	INSERT INTO templates_v11 (id, name, language, body_sealed, created_at, updated_at)
		SELECT id, name, 'en', body_sealed, created_at, updated_at FROM templates;
	DROP TABLE templates;
	ALTER TABLE templates_v11 RENAME TO templates;
	CREATE UNIQUE INDEX templates_reminder ON templates (language) WHERE reminder = 1;`

func init() {
	// The appointment's cells say something about a patient by their
	// length alone (a long name, a provider's name): sealed padded, like
	// the messages' cells (store.go paddedColumns).
	for _, c := range []string{"name_sealed", "phone_sealed", "provider_sealed", "location_sealed"} {
		paddedColumns["appointments."+c] = true
	}
	paddedColumns["imports.file_name_sealed"] = true
}

// Appointment states.
const (
	AppointmentScheduled = "scheduled"
	AppointmentCancelled = "cancelled"
)

// Answers a reply can set on an appointment (ops.Answer*).
const (
	AnswerConfirmed  = "confirmed"
	AnswerReschedule = "reschedule"
	AnswerOptedOut   = "opted_out"
)

// Errors of the appointment operations (errors.Is).
var (
	// ErrDuplicateAppointment: a scheduled appointment for the same phone
	// at the same time exists.
	ErrDuplicateAppointment = errors.New("an appointment for this phone number at this time exists already")
	// ErrAppointmentCancelled: the appointment was cancelled; it cannot be
	// moved or cancelled again.
	ErrAppointmentCancelled = errors.New("the appointment was cancelled")
)

// Appointment is a visit as stored, opened. Name, Phone, Provider and
// Location are "" once purged by retention (Purged).
type Appointment struct {
	ID                              int64
	State                           string
	Name, Phone, Provider, Location string
	At                              time.Time
	Language                        string
	Answer                          string
	AnsweredAt                      time.Time
	ImportID                        int64
	CreatedBy                       string
	CreatedAt, UpdatedAt            time.Time
	Purged                          bool
	// Skipped is the plan's slots that were not kept, as planned.
	Skipped []SkippedSlot
	// Reminders is the appointment's reminder messages (filled by
	// GetAppointment and Appointments): while it is scheduled, the ones not
	// cancelled; once cancelled, all of them.
	Reminders []ReminderMessage
	// Damaged is set only by Appointments: the row failed its integrity
	// check or a sealed cell did not open, so only its id, state and time
	// (as stored, unvouched for) and its reminders are filled.
	Damaged bool
}

// SkippedSlot is a slot of the reminder plan that was not kept, and why
// (a sentence without PHI: "its time passed before the appointment was made").
type SkippedSlot struct {
	Before time.Duration `json:"before"`
	Why    string        `json:"why"`
}

// ReminderMessage is a reminder as queued: its message and the plan offset.
type ReminderMessage struct {
	MessageID int64
	Before    time.Duration
	SendAt    time.Time
	State     State
}

// PlannedReminder is one reminder to queue: when, and its text (rendered
// by the caller from the appointment's language's template).
type PlannedReminder struct {
	Before time.Duration
	SendAt time.Time
	Text   string
}

// Planner plans an appointment's reminders: the texts to queue and the
// slots skipped. The store calls it inside the transaction that creates or
// moves the appointment, with the appointment as it will be stored.
type Planner func(a Appointment) ([]PlannedReminder, []SkippedSlot, error)

// NewAppointment is what CreateAppointment takes. Phone is normalised to
// E.164.
type NewAppointment struct {
	Name, Phone, Provider, Location string
	At                              time.Time
	Language                        string
	CreatedBy                       string
}

// appointment tag columns (tagSpecs): decision columns and sealed cells.
var appointmentTagCols = []string{"state", "name_sealed", "phone_sealed", "phone_index", "provider_sealed", "location_sealed",
	"at", "language", "answer", "answered_at", "import_id", "created_by", "purged_at"}

// MaxAppointmentField bounds a name, provider or location (bytes).
const MaxAppointmentField = 200

func checkNewAppointment(a NewAppointment) error {
	if strings.TrimSpace(a.Name) == "" {
		return errors.New("the patient's name is empty")
	}
	for _, f := range []struct{ name, v string }{{"name", a.Name}, {"provider", a.Provider}, {"location", a.Location}} {
		if len(f.v) > MaxAppointmentField {
			return fmt.Errorf("the %s is longer than %d bytes", f.name, MaxAppointmentField)
		}
	}
	if a.At.IsZero() {
		return errors.New("the appointment has no time")
	}
	return nil
}

// CreateAppointment stores one appointment and queues its reminders
// (plan) in one transaction. An opted-out number is ErrOptedOut, a
// scheduled appointment for the same number at the same time
// ErrDuplicateAppointment; nothing is stored then.
func (s *Store) CreateAppointment(ctx context.Context, a NewAppointment, plan Planner) (Appointment, error) {
	var out Appointment
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.checkOptOuts(ctx, tx); err != nil {
			return err
		}
		ids, err := s.newIDs(ctx, tx)
		if err != nil {
			return err
		}
		out, err = s.createAppointmentTx(ctx, tx, a, 0, plan, ids)
		if rec := audit.FromContext(ctx); rec != nil && err == nil {
			rec.SetObject("appointment", strconv.FormatInt(out.ID, 10))
			rec.AddDetail(fmt.Sprintf("to=%s reminders=%d skipped=%d", mask.Number(out.Phone), len(out.Reminders), len(out.Skipped)))
		}
		return err
	})
	if err != nil {
		return Appointment{}, err
	}
	s.notify()
	return out, nil
}

// txIDs hands out the next ids of a transaction that inserts many rows.
type txIDs struct{ appt, msg int64 }

func (s *Store) newIDs(ctx context.Context, tx *sql.Tx) (*txIDs, error) {
	a, err := nextID(ctx, tx, "appointments")
	if err != nil {
		return nil, err
	}
	m, err := nextID(ctx, tx, "messages")
	if err != nil {
		return nil, err
	}
	return &txIDs{appt: a, msg: m}, nil
}

// DuplicateAppointment reports whether a scheduled appointment for e164 at
// at exists, through q (found by blind index).
func (s *Store) duplicateTx(ctx context.Context, q querier, e164 string, at time.Time) (bool, error) {
	query, args := inList("SELECT COUNT(*) FROM appointments WHERE phone_index IN ", s.indexes(e164))
	query += " AND at = ? AND state = 'scheduled'"
	var n int
	if err := q.QueryRowContext(ctx, query, append(args, ms(at))...).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// createAppointmentTx inserts a (its phone normalised) and its reminders in
// tx, taking ids from ids.
func (s *Store) createAppointmentTx(ctx context.Context, tx *sql.Tx, a NewAppointment, importID int64, plan Planner, ids *txIDs) (Appointment, error) {
	if err := checkNewAppointment(a); err != nil {
		return Appointment{}, err
	}
	phone, err := NormalizeRecipient(a.Phone, s.opt.DefaultRegion)
	if err != nil {
		return Appointment{}, err
	}
	idx := s.indexes(phone)
	// Opted out, and booked already at that time, in one statement (an
	// import asks this for every row).
	qo, argsO := inList("SELECT (SELECT COUNT(*) FROM optouts WHERE number_index IN ", idx)
	qd, argsD := inList("), (SELECT COUNT(*) FROM appointments WHERE phone_index IN ", idx)
	var optedOut, dups int
	if err := tx.QueryRowContext(ctx, qo+qd+" AND at = ? AND state = 'scheduled')",
		append(append(argsO, argsD...), ms(a.At))...).Scan(&optedOut, &dups); err != nil {
		return Appointment{}, err
	}
	if optedOut > 0 {
		return Appointment{}, fmt.Errorf("%w (%s)", ErrOptedOut, mask.Number(phone))
	}
	if dups > 0 {
		return Appointment{}, fmt.Errorf("%w (%s at %s)", ErrDuplicateAppointment, mask.Number(phone), a.At.UTC().Format(time.RFC3339))
	}
	if a.Language == "" {
		a.Language = "en"
	}
	id := ids.appt
	now := s.now()
	ap := Appointment{ID: id, State: AppointmentScheduled, Name: a.Name, Phone: phone, Provider: a.Provider, Location: a.Location,
		At: fromMS(ms(a.At)), Language: a.Language, ImportID: importID, CreatedBy: a.CreatedBy, CreatedAt: fromMS(ms(now)), UpdatedAt: fromMS(ms(now))}
	var planned []PlannedReminder
	if plan != nil {
		if planned, ap.Skipped, err = plan(ap); err != nil {
			return Appointment{}, err
		}
	}
	skipped, err := skippedJSON(ap.Skipped)
	if err != nil {
		return Appointment{}, err
	}
	nameS := s.seal([]byte(a.Name), "appointments", "name_sealed", id)
	phoneS := s.seal([]byte(phone), "appointments", "phone_sealed", id)
	provS := s.sealOptional(a.Provider, "appointments", "provider_sealed", id)
	locS := s.sealOptional(a.Location, "appointments", "location_sealed", id)
	var imp any
	if importID != 0 {
		imp = importID
	}
	tag, err := s.tagNew(ctx, tx, "appointments", id, AppointmentScheduled, nameS, phoneS, idx[0], nullable(provS), nullable(locS),
		ms(a.At), a.Language, "", int64(0), imp, a.CreatedBy, nil)
	if err != nil {
		return Appointment{}, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO appointments (id, state, name_sealed, phone_sealed, phone_index, provider_sealed,
		location_sealed, at, language, skipped, import_id, created_by, created_at, updated_at, rv, tag)
		VALUES (?, 'scheduled', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`,
		id, nameS, phoneS, idx[0], provS, locS, ms(a.At), a.Language, skipped, imp, a.CreatedBy, ms(now), ms(now), tag); err != nil {
		return Appointment{}, err
	}
	ids.appt++
	if ap.Reminders, err = s.queueReminders(ctx, tx, ap, planned, ids); err != nil {
		return Appointment{}, err
	}
	return ap, nil
}

// sealOptional seals v, or gives NULL for "".
func (s *Store) sealOptional(v, table, column string, id int64) []byte {
	if v == "" {
		return nil
	}
	return s.seal([]byte(v), table, column, id)
}

// nullable is b as a tagged column reads it back: NULL when b is nil.
func nullable(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

func skippedJSON(sk []SkippedSlot) (string, error) {
	if len(sk) == 0 {
		return "", nil
	}
	b, err := json.Marshal(sk)
	return string(b), err
}

// queueReminders queues the planned reminders of ap in tx as messages
// linked to it. ap's phone is E.164 already and was checked against the
// opt-outs in this transaction, so each reminder is inserted as Enqueue
// inserts a message (sealed, tagged at version 1) without normalising and
// looking the number up again: an import of 10,000 rows queues 20,000 of
// them, and those lookups were a third of its time.
func (s *Store) queueReminders(ctx context.Context, tx *sql.Tx, ap Appointment, planned []PlannedReminder, ids *txIDs) ([]ReminderMessage, error) {
	var out []ReminderMessage
	if len(planned) == 0 {
		return nil, nil
	}
	idx := s.indexes(ap.Phone)[0]
	now := s.now()
	// One INSERT for all of them: an import queues two reminders a row.
	var q strings.Builder
	q.WriteString(`INSERT INTO messages (id, state, to_sealed, to_index, text_sealed, created_at, send_at,
		next_attempt_at, due_at, updated_at, created_by, appointment_id, plan_before, rv, tag) VALUES `)
	args := make([]any, 0, 14*len(planned))
	for i, p := range planned {
		if strings.TrimSpace(p.Text) == "" || len(p.Text) > MaxTextBytes || !utf8.ValidString(p.Text) {
			return nil, fmt.Errorf("appointment %d: reminder %s before: %w: empty, longer than %d bytes or not UTF-8", ap.ID, p.Before, errBadText, MaxTextBytes)
		}
		id := ids.msg
		sendAt := p.SendAt
		if sendAt.IsZero() {
			sendAt = now
		}
		toS, textS := s.seal([]byte(ap.Phone), "messages", "to_sealed", id), s.seal([]byte(p.Text), "messages", "text_sealed", id)
		// As enqueueTx: state, to_sealed, to_index, text_sealed, attempts,
		// reference, parts_total, created_by, purged_at.
		tag, err := s.tagNew(ctx, tx, "messages", id, string(Queued), toS, idx, textS, int64(0), int64(0), int64(0), ap.CreatedBy, nil)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)")
		args = append(args, id, toS, idx, textS, ms(now), ms(sendAt), ms(sendAt), ms(sendAt), ms(now), ap.CreatedBy, ap.ID, p.Before.Milliseconds(), tag)
		ids.msg++
		out = append(out, ReminderMessage{MessageID: id, Before: p.Before, SendAt: fromMS(ms(sendAt)), State: Queued})
	}
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		return nil, err
	}
	return out, nil
}

// cancelRemindersTx cancels appointment id's queued reminders in tx. A
// reminder that fails its integrity check is quarantined instead.
func (s *Store) cancelRemindersTx(ctx context.Context, tx *sql.Tx, id int64) (int, error) {
	mids, err := idsWhere(ctx, tx, "SELECT id FROM messages WHERE appointment_id = ? AND state = 'queued'", id)
	if err != nil {
		return 0, err
	}
	sp, _ := specFor("messages")
	n := 0
	for _, mid := range mids {
		r, err := readRow(ctx, tx, sp, "id = ?", mid)
		if err != nil {
			return 0, err
		}
		if err := s.checkRow(r); err != nil {
			if !errors.Is(err, ErrIntegrity) {
				return 0, err
			}
			if err := s.quarantine(ctx, tx, mid, err); err != nil {
				return 0, err
			}
			continue
		}
		if err := s.writeRow(ctx, tx, r, rowWrite{set: []colVal{{"state", string(Cancelled)}},
			extra: "updated_at = ?, last_error = 'cancelled'", args: []any{ms(s.now())}}); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// readAppointmentTx reads and checks appointment id's row in tx.
func (s *Store) readAppointmentTx(ctx context.Context, q querier, id int64) (*taggedRow, error) {
	sp, _ := specFor("appointments")
	r, err := readRow(ctx, q, sp, "id = ?", id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("appointment %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if err := s.checkRow(r); err != nil {
		return nil, fmt.Errorf("appointment %d: %w", id, err)
	}
	return r, nil
}

// CancelAppointment cancels appointment id and its queued reminders in one
// transaction. Reminders already sent stay as they are. It returns the
// appointment as it is now.
func (s *Store) CancelAppointment(ctx context.Context, id int64) (Appointment, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := s.readAppointmentTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if r.val("state") == AppointmentCancelled {
			return fmt.Errorf("appointment %d: %w", id, ErrAppointmentCancelled)
		}
		n, err := s.cancelRemindersTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if rec := audit.FromContext(ctx); rec != nil {
			rec.SetObject("appointment", strconv.FormatInt(id, 10))
			rec.AddDetail(fmt.Sprintf("reminders_cancelled=%d", n))
		}
		return s.writeRow(ctx, tx, r, rowWrite{set: []colVal{{"state", AppointmentCancelled}},
			extra: "updated_at = ?", args: []any{ms(s.now())}})
	})
	if err != nil {
		return Appointment{}, err
	}
	s.updated()
	return s.GetAppointment(ctx, id)
}

// MoveAppointment moves appointment id to at in one transaction: its
// queued reminders are cancelled and plan's queued for the new time (a
// reminder already sent stays sent). A confirmation or a rescheduling
// request was for the old time, so the answer is cleared; an opt-out stays.
// Moving onto the time of another scheduled appointment of the same number
// is ErrDuplicateAppointment.
func (s *Store) MoveAppointment(ctx context.Context, id int64, at time.Time, plan Planner) (Appointment, error) {
	if at.IsZero() {
		return Appointment{}, errors.New("the new time is missing")
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.checkOptOuts(ctx, tx); err != nil {
			return err
		}
		r, err := s.readAppointmentTx(ctx, tx, id)
		if err != nil {
			return err
		}
		ap, err := s.appointmentFromRow(ctx, tx, r)
		if err != nil {
			return err
		}
		if ap.State == AppointmentCancelled {
			return fmt.Errorf("appointment %d: %w", id, ErrAppointmentCancelled)
		}
		if ap.Purged {
			return fmt.Errorf("appointment %d: its content was purged by the retention policy: %w", id, ErrInvalidTransition)
		}
		if ms(at) != ms(ap.At) {
			if dup, err := s.duplicateTx(ctx, tx, ap.Phone, at); err != nil {
				return err
			} else if dup {
				return fmt.Errorf("%w (%s at %s)", ErrDuplicateAppointment, mask.Number(ap.Phone), at.UTC().Format(time.RFC3339))
			}
		}
		n, err := s.cancelRemindersTx(ctx, tx, id)
		if err != nil {
			return err
		}
		old := ap.At
		ap.At = fromMS(ms(at))
		if ap.Answer != AnswerOptedOut {
			ap.Answer, ap.AnsweredAt = "", time.Time{}
		}
		var planned []PlannedReminder
		ap.Skipped = nil
		if plan != nil {
			if planned, ap.Skipped, err = plan(ap); err != nil {
				return err
			}
		}
		optedOut, err := optedOutTx(ctx, tx, s.indexes(ap.Phone))
		if err != nil {
			return err
		}
		if optedOut {
			// The patient opted out since: the appointment moves, nothing
			// is queued for it.
			for _, p := range planned {
				ap.Skipped = append(ap.Skipped, SkippedSlot{Before: p.Before, Why: "the patient opted out of text messages"})
			}
			planned = nil
		}
		skipped, err := skippedJSON(ap.Skipped)
		if err != nil {
			return err
		}
		ids, err := s.newIDs(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := s.queueReminders(ctx, tx, ap, planned, ids); err != nil {
			return err
		}
		if rec := audit.FromContext(ctx); rec != nil {
			rec.SetObject("appointment", strconv.FormatInt(id, 10))
			rec.AddDetail(fmt.Sprintf("moved_by=%s reminders_cancelled=%d reminders_queued=%d skipped=%d",
				ap.At.Sub(old), n, len(planned), len(ap.Skipped)))
		}
		return s.writeRow(ctx, tx, r, rowWrite{
			set:   []colVal{{"at", ms(ap.At)}, {"answer", ap.Answer}, {"answered_at", ms(ap.AnsweredAt)}},
			extra: "updated_at = ?, skipped = ?", args: []any{ms(s.now()), skipped}})
	})
	if err != nil {
		return Appointment{}, err
	}
	s.notify()
	return s.GetAppointment(ctx, id)
}

// appointmentFromRow opens a checked appointment row.
func (s *Store) appointmentFromRow(ctx context.Context, q querier, r *taggedRow) (Appointment, error) {
	a := Appointment{ID: r.id}
	a.State, _ = r.val("state").(string)
	var err error
	for _, c := range []struct {
		col string
		dst *string
	}{{"name_sealed", &a.Name}, {"phone_sealed", &a.Phone}, {"provider_sealed", &a.Provider}, {"location_sealed", &a.Location}} {
		b, _ := r.val(c.col).([]byte)
		if *c.dst, err = s.open(b, "appointments", c.col, r.id); err != nil {
			return Appointment{}, err
		}
	}
	at, _ := r.val("at").(int64)
	a.At = fromMS(at)
	a.Language, _ = r.val("language").(string)
	a.Answer, _ = r.val("answer").(string)
	ans, _ := r.val("answered_at").(int64)
	a.AnsweredAt = fromMS(ans)
	a.ImportID, _ = r.val("import_id").(int64)
	a.CreatedBy, _ = r.val("created_by").(string)
	a.Purged = r.val("purged_at") != nil
	var created, updated int64
	var skipped string
	if err := q.QueryRowContext(ctx, "SELECT created_at, updated_at, skipped FROM appointments WHERE id = ?", r.id).Scan(&created, &updated, &skipped); err != nil {
		return Appointment{}, err
	}
	a.CreatedAt, a.UpdatedAt = fromMS(created), fromMS(updated)
	if skipped != "" {
		if err := json.Unmarshal([]byte(skipped), &a.Skipped); err != nil {
			return Appointment{}, fmt.Errorf("appointment %d: skipped slots: %w", r.id, err)
		}
	}
	return a, nil
}

// GetAppointment returns appointment id, opened and checked, with its
// reminders.
func (s *Store) GetAppointment(ctx context.Context, id int64) (Appointment, error) {
	var a Appointment
	err := s.inSnapshot(ctx, s.r, func(q querier) error {
		r, err := s.readAppointmentTx(ctx, q, id)
		if err != nil {
			return err
		}
		if a, err = s.appointmentFromRow(ctx, q, r); err != nil {
			return err
		}
		rs, err := s.remindersOf(ctx, q, []int64{id})
		if err != nil {
			return err
		}
		a.Reminders = visibleReminders(a, rs[id])
		return nil
	})
	return a, err
}

// visibleReminders is what an appointment shows of its reminders: while it
// is scheduled, the ones not cancelled (a move cancels the old plan's).
func visibleReminders(a Appointment, rs []ReminderMessage) []ReminderMessage {
	if a.State == AppointmentCancelled {
		return rs
	}
	out := rs[:0:0]
	for _, r := range rs {
		if r.State != Cancelled {
			out = append(out, r)
		}
	}
	return out
}

// remindersOf returns the reminder messages of the appointments ids, by
// appointment, in send order. Nothing sealed is opened.
func (s *Store) remindersOf(ctx context.Context, q querier, ids []int64) (map[int64][]ReminderMessage, error) {
	out := map[int64][]ReminderMessage{}
	for len(ids) > 0 {
		n := min(len(ids), 500)
		chunk := ids[:n]
		ids = ids[n:]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.QueryContext(ctx, "SELECT id, appointment_id, plan_before, send_at, state FROM messages WHERE appointment_id IN ("+
			strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+") ORDER BY appointment_id, send_at, id", args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var r ReminderMessage
			var aid, before, sendAt int64
			var st string
			if err := rows.Scan(&r.MessageID, &aid, &before, &sendAt, &st); err != nil {
				rows.Close()
				return nil, err
			}
			r.Before, r.SendAt, r.State = time.Duration(before)*time.Millisecond, fromMS(sendAt), State(st)
			out[aid] = append(out[aid], r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// AppointmentQuery selects appointments for Appointments. Zero fields do
// not filter.
type AppointmentQuery struct {
	From, To time.Time // From <= at < To
	ImportID int64
	// All lists cancelled appointments too.
	All   bool
	Limit int // default 1000, at most 20000
}

// Appointments lists appointments by time, opened and checked, with their
// reminders. A row that fails its integrity check, or whose sealed cells
// do not open, is listed as Damaged: one bad row never hides a day's list.
func (s *Store) Appointments(ctx context.Context, f AppointmentQuery) ([]Appointment, error) {
	var where []string
	var args []any
	if !f.From.IsZero() {
		where, args = append(where, "at >= ?"), append(args, ms(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "at < ?"), append(args, ms(f.To))
	}
	if f.ImportID != 0 {
		where, args = append(where, "import_id = ?"), append(args, f.ImportID)
	}
	if !f.All {
		where = append(where, "state = 'scheduled'")
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	f.Limit = min(f.Limit, 20000)
	q := "SELECT id FROM appointments"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY at, id LIMIT ?"
	args = append(args, f.Limit)
	var out []Appointment
	err := s.inSnapshot(ctx, s.r, func(qr querier) error {
		ids, err := idsWhere(ctx, qr, q, args...)
		if err != nil {
			return err
		}
		sp, _ := specFor("appointments")
		for _, id := range ids {
			r, err := readRow(ctx, qr, sp, "id = ?", id)
			if err != nil {
				return err
			}
			err = s.checkRow(r)
			var a Appointment
			if err == nil {
				a, err = s.appointmentFromRow(ctx, qr, r)
			}
			if unreadable(err) {
				a = Appointment{ID: id, Damaged: true}
				a.State, _ = r.val("state").(string)
				at, _ := r.val("at").(int64)
				a.At = fromMS(at)
				err = nil
			}
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		rs, err := s.remindersOf(ctx, qr, ids)
		if err != nil {
			return err
		}
		for i := range out {
			out[i].Reminders = visibleReminders(out[i], rs[out[i].ID])
		}
		return nil
	})
	return out, err
}

// ThreadReply links inbound message inboundID (from the number whose blind
// index the store computes from e164) to the appointment of the latest
// reminder sent to that number before the reply arrived (state sent,
// delivered or undelivered; reminders only, i.e. messages with an
// appointment), and when answer != "" sets the appointment's answer
// (AnswerConfirmed, AnswerReschedule, AnswerOptedOut) and answered_at, in
// one transaction with an audit row (actor system, action
// appointment_answer). It returns the appointment id, or 0 when no
// reminder was sent to that number (no error, no audit row).
//
// A confirmation or a rescheduling request that arrives after the
// appointment's time, or for a cancelled appointment, is threaded but does
// not change the answer (it can no longer be acted on; the inbox shows it
// to the staff, and the audit row says "late"). An opt-out is recorded
// whatever the time: it is about the patient, not the visit.
func (s *Store) ThreadReply(ctx context.Context, inboundID int64, e164 string, answer string) (int64, error) {
	switch answer {
	case "", AnswerConfirmed, AnswerReschedule, AnswerOptedOut:
	default:
		return 0, fmt.Errorf("thread reply: unknown answer %q", answer)
	}
	var apptID int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		received := s.now()
		if inboundID != 0 {
			var rcv int64
			err := tx.QueryRowContext(ctx, "SELECT received_at FROM inbound WHERE id = ?", inboundID).Scan(&rcv)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("inbound message %d: %w", inboundID, ErrNotFound)
			}
			if err != nil {
				return err
			}
			received = fromMS(rcv)
		}
		q, args := inList(`SELECT m.appointment_id FROM messages m WHERE m.to_index IN `, s.indexes(e164))
		q += ` AND m.appointment_id IS NOT NULL AND m.state IN ('sent','delivered','undelivered')
			AND COALESCE((SELECT MIN(accepted_at) FROM message_parts WHERE message_id = m.id), m.updated_at) <= ?
			ORDER BY COALESCE((SELECT MIN(accepted_at) FROM message_parts WHERE message_id = m.id), m.updated_at) DESC, m.id DESC LIMIT 1`
		err := tx.QueryRowContext(ctx, q, append(args, ms(received))...).Scan(&apptID)
		if errors.Is(err, sql.ErrNoRows) {
			apptID = 0
			return nil
		}
		if err != nil {
			return err
		}
		if inboundID != 0 {
			if _, err := tx.ExecContext(ctx, "UPDATE inbound SET appointment_id = ? WHERE id = ?", apptID, inboundID); err != nil {
				return err
			}
		}
		rec := audit.NewRecord(audit.Event{Actor: "system", Action: audit.AppointmentAnswer, ObjectType: "appointment", ObjectID: strconv.FormatInt(apptID, 10)})
		if inboundID != 0 {
			rec.AddDetail("inbound=" + strconv.FormatInt(inboundID, 10))
		}
		r, err := s.readAppointmentTx(ctx, tx, apptID)
		if err != nil {
			return err
		}
		at, _ := r.val("at").(int64)
		state, _ := r.val("state").(string)
		switch {
		case answer == "":
			rec.AddDetail("threaded")
		case answer != AnswerOptedOut && (received.After(fromMS(at)) || state != AppointmentScheduled):
			rec.AddDetail("answer=" + answer + " late: not recorded (the appointment's time passed or it was cancelled)")
		default:
			rec.AddDetail("answer=" + answer)
			if err := s.writeRow(ctx, tx, r, rowWrite{set: []colVal{{"answer", answer}, {"answered_at", ms(received)}},
				extra: "updated_at = ?", args: []any{ms(s.now())}}); err != nil {
				return err
			}
		}
		return rec.AppendIn(ctx, tx, s.now())
	})
	if err != nil {
		return 0, fmt.Errorf("thread reply: %w", err)
	}
	if apptID != 0 {
		s.updated()
	}
	return apptID, nil
}

// InboundAppointments returns the appointment each of the inbound
// messages ids is threaded to (ThreadReply); ids not threaded are absent.
func (s *Store) InboundAppointments(ctx context.Context, ids []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.r.QueryContext(ctx, "SELECT id, appointment_id FROM inbound WHERE appointment_id IS NOT NULL AND id IN ("+
		strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")+")", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, a int64
		if err := rows.Scan(&id, &a); err != nil {
			return nil, err
		}
		out[id] = a
	}
	return out, rows.Err()
}

// purgeAppointmentsTx erases the sealed cells (and the phone's blind
// index) of appointments whose time is before cut, as Purge does for
// messages; the rows stay for the report. It returns how many.
func (s *Store) purgeAppointmentsTx(ctx context.Context, tx *sql.Tx, cut, now int64) (int64, error) {
	ids, err := idsWhere(ctx, tx, "SELECT id FROM appointments WHERE purged_at IS NULL AND at < ?", cut)
	if err != nil {
		return 0, err
	}
	sp, _ := specFor("appointments")
	var n int64
	for _, id := range ids {
		r, err := readRow(ctx, tx, sp, "id = ?", id)
		if err != nil {
			return 0, err
		}
		if err := s.checkRow(r); err != nil {
			// Not tagged again as if it were sound: doctor lists it.
			// (The log names no table: the word for a visit is kept out
			// of logs, which are checked for what message texts say.)
			s.log.Error("retention: a row failed its integrity check and was not purged; smsd doctor names it", "row", id)
			continue
		}
		if err := s.writeRow(ctx, tx, r, rowWrite{set: []colVal{{"name_sealed", nil}, {"phone_sealed", nil}, {"phone_index", nil},
			{"provider_sealed", nil}, {"location_sealed", nil}, {"purged_at", now}}}); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}
