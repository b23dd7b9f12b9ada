package ops

import "time"

// Reminders (issue "Reminders"): appointments, templates, a day's list from
// CSV, replies that confirm, and the daily report. The service keeps every
// rule; the command line, the web UI and the JSON API carry these types.

// Languages a template and an appointment can have. "en" is the default for
// an appointment without one.
const (
	LangEnglish = "en"
	LangSpanish = "es"
)

// Appointment states. A cancelled appointment's queued reminders are
// cancelled with it.
const (
	AppointmentScheduled = "scheduled"
	AppointmentCancelled = "cancelled"
)

// A patient's answer to a reminder, as matched by the service.
const (
	AnswerNone       = ""
	AnswerConfirmed  = "confirmed"
	AnswerReschedule = "reschedule"
	AnswerOptedOut   = "opted_out"
)

// Appointment is a patient's visit and the reminders planned for it. Name,
// Phone, Provider and Location are PHI: sealed in the store, shown only to
// staff who opened the appointment (an audited view); lists carry the
// number masked.
type Appointment struct {
	ID       int64     `json:"id"`
	State    string    `json:"state"`
	Name     string    `json:"name"`
	Phone    string    `json:"phone"` // E.164, masked in lists
	At       time.Time `json:"at"`
	Provider string    `json:"provider,omitempty"`
	Location string    `json:"location,omitempty"`
	Language string    `json:"language"`
	// Answer is the patient's latest answer (AnswerConfirmed, ...), matched
	// from a reply to one of this appointment's reminders.
	Answer     string     `json:"answer,omitempty"`
	AnsweredAt time.Time  `json:"answered_at,omitzero"`
	Reminders  []Reminder `json:"reminders"`
	// ImportID is the import that created it, or 0.
	ImportID  int64     `json:"import_id,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	// Damaged: the row failed its integrity check (changed without the
	// key, or damaged on disk), so its name, number, provider and place
	// are not shown (its time and state are as stored, unvouched for); the
	// rest of the list is. smsd doctor names the row.
	Damaged bool `json:"damaged,omitempty"`
}

// Reminder is one planned reminder: a queued message of its appointment, or
// a slot of the plan that could not be kept (Skipped says why, e.g. its
// window passed before the appointment was made).
type Reminder struct {
	MessageID int64 `json:"message_id,omitempty"`
	// Before is the plan's offset ("48h0m0s"); SendAt is when it goes out,
	// after quiet hours moved it.
	Before  string    `json:"before"`
	SendAt  time.Time `json:"send_at,omitzero"`
	State   string    `json:"state,omitempty"` // the message's state
	Skipped string    `json:"skipped,omitempty"`
}

// AppointmentFilter selects appointments.
type AppointmentFilter struct {
	// Date is a day in the clinic's time zone, YYYY-MM-DD; "" is today.
	Date string `json:"date,omitempty"`
	// ImportID lists only the appointments of one import.
	ImportID int64 `json:"import_id,omitempty"`
	// All lists cancelled appointments too.
	All bool `json:"all,omitempty"`
}

// Appointment actions.
const (
	AppointmentCreate = "create"
	AppointmentMove   = "move"
	AppointmentCancel = "cancel"
	AppointmentShow   = "show" // opens one appointment, number unmasked (audited)
)

// AppointmentRequest creates, moves, cancels or shows one appointment.
// Moving re-plans its queued reminders; cancelling cancels them.
type AppointmentRequest struct {
	Action   string    `json:"action"`
	ID       int64     `json:"id,omitempty"` // move, cancel, show
	Name     string    `json:"name,omitempty"`
	Phone    string    `json:"phone,omitempty"`
	At       time.Time `json:"at,omitzero"` // create, move
	Provider string    `json:"provider,omitempty"`
	Location string    `json:"location,omitempty"`
	Language string    `json:"language,omitempty"`
}

// Template actions.
const (
	TemplateList     = "list"
	TemplateSave     = "save"   // create (ID 0) or change
	TemplateDelete   = "delete" // by ID
	TemplateValidate = "check"  // check Body without saving: one Template back
)

// TemplateRequest manages message templates (saving and deleting: admin).
type TemplateRequest struct {
	Action   string `json:"action"`
	ID       int64  `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Language string `json:"language,omitempty"`
	Body     string `json:"body,omitempty"`
	// Reminder makes this the template the reminder plan sends in its
	// language (one per language).
	Reminder bool `json:"reminder,omitempty"`
}

// Template is a message with placeholders ({name}, {date}, {time},
// {provider}, {location}, {clinic}, {phone}), in one language.
type Template struct {
	ID        int64         `json:"id"`
	Name      string        `json:"name"`
	Language  string        `json:"language"`
	Body      string        `json:"body"`
	Reminder  bool          `json:"reminder"`
	Check     TemplateCheck `json:"check"`
	UpdatedAt time.Time     `json:"updated_at,omitzero"`
}

// TemplateCheck is what the service found in a template body. Errors
// (Unknown, OptOutWord, TooLong) refuse a save; Clinical is a warning.
type TemplateCheck struct {
	OK bool `json:"ok"`
	// Unknown lists placeholders that are not known ("{nmae}").
	Unknown []string `json:"unknown,omitempty"`
	// OptOutWord is an opt-out word the template asks the patient to
	// text (e.g. "reply CANCEL to cancel"): that reply would opt them out.
	OptOutWord string `json:"opt_out_word,omitempty"`
	// Clinical lists words of the minimum-necessary list (a diagnosis, a
	// test, a drug) found in the text: a warning, not an error.
	Clinical []string `json:"clinical,omitempty"`
	// WorstCase is the cost with every placeholder at its longest
	// allowed value (and a non-GSM name, for the encoding).
	WorstCase TextCount `json:"worst_case"`
	// Problems says each finding as a sentence a person can act on.
	Problems []string `json:"problems,omitempty"`
}

// ImportRequest previews or commits a day's list from a CSV file.
type ImportRequest struct {
	// Data is the file's bytes (at most 10 MB); FileName is for the audit
	// trail and messages only.
	Data     []byte `json:"data"`
	FileName string `json:"file_name,omitempty"`
	// Mapping maps a field (name, phone, date, time, provider, location,
	// language) to a column header of the file; fields not mapped are found
	// by their usual headers. MappingName uses a saved mapping;
	// SaveMappingAs saves Mapping (admin).
	Mapping       map[string]string `json:"mapping,omitempty"`
	MappingName   string            `json:"mapping_name,omitempty"`
	SaveMappingAs string            `json:"save_mapping_as,omitempty"`
	// Commit creates the good rows' appointments and reminders in one
	// transaction; without it the answer is only a preview.
	Commit bool `json:"commit,omitempty"`
}

// Import row problem codes.
const (
	ProblemBadNumber    = "bad_number"
	ProblemOptedOut     = "opted_out"
	ProblemMissingField = "missing_field"
	ProblemBadDate      = "bad_date"
	ProblemBadTime      = "bad_time"
	ProblemPast         = "in_the_past"
	ProblemDuplicate    = "duplicate" // of an existing appointment, same phone and time
	ProblemDuplicateRow = "duplicate_row"
	ProblemBadLanguage  = "bad_language"
	ProblemTooLong      = "too_long"
)

// ImportProblem is one thing wrong with a row.
type ImportProblem struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// ImportRow is one data row of the file as understood.
type ImportRow struct {
	Line     int             `json:"line"` // the row's first line in the file, from 1
	Name     string          `json:"name"`
	Phone    string          `json:"phone"` // E.164 when valid, else as written
	At       time.Time       `json:"at,omitzero"`
	Provider string          `json:"provider,omitempty"`
	Location string          `json:"location,omitempty"`
	Language string          `json:"language,omitempty"`
	Problems []ImportProblem `json:"problems,omitempty"`
	// AppointmentID is set for a row the commit created.
	AppointmentID int64 `json:"appointment_id,omitempty"`
}

// ImportResult is the preview, or the outcome of a commit.
type ImportResult struct {
	ImportID  int64 `json:"import_id,omitempty"`
	Committed bool  `json:"committed"`
	// AlreadyImported: this very file was committed before (ImportID names
	// that import); nothing new was created.
	AlreadyImported bool   `json:"already_imported,omitempty"`
	Encoding        string `json:"encoding"`  // "UTF-8", "UTF-8 with BOM", "UTF-16LE", ...
	Delimiter       string `json:"delimiter"` // ",", ";", "\t"
	// Columns maps each field to the header it was read from.
	Columns   map[string]string `json:"columns"`
	Rows      []ImportRow       `json:"rows"`
	Good      int               `json:"good"`
	Bad       int               `json:"bad"`
	Created   int               `json:"created"`   // appointments created by this commit
	Reminders int               `json:"reminders"` // reminders queued by this commit
}

// ImportMapping is a saved column mapping for a practice system's export.
type ImportMapping struct {
	Name    string            `json:"name"`
	Columns map[string]string `json:"columns"`
}

// ReportRequest asks for the report of one day.
type ReportRequest struct {
	Date string `json:"date,omitempty"` // YYYY-MM-DD in the clinic's zone; "" is today
	// Days is how many days back the chart covers (default 14).
	Days int `json:"days,omitempty"`
}

// ReportDay is one day's reminder counts.
type ReportDay struct {
	Date       string `json:"date"`
	Sent       int    `json:"sent"`
	Delivered  int    `json:"delivered"`
	Failed     int    `json:"failed"`
	Confirmed  int    `json:"confirmed"`
	Reschedule int    `json:"reschedule"`
	OptedOut   int    `json:"opted_out"`
}

// Report is the daily report: the day's counts and the days before it for
// the chart.
type Report struct {
	ReportDay
	Pending int         `json:"pending"` // reminders of the day still queued
	Days    []ReportDay `json:"days"`    // oldest first, ending with Date
}
