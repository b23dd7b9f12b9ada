package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/remind"
)

// Import previews or commits a day's list from CSV. The file is read and
// each row checked by package remind (encoding, delimiter, headers, dates,
// times, numbers, duplicates inside the file); the store adds what only it
// knows (the number opted out, an appointment for the same number and time
// exists). A preview writes nothing but its audit row (import_preview). A
// commit creates the good rows' appointments and reminders in one
// transaction with its audit row (import_commit): nothing is ever half
// imported. The same file committed again creates nothing and comes back
// AlreadyImported, naming the first import. progress, if not nil, hears
// how far the commit got (rows done of rows to create); it is called from
// inside the store's transaction and must return quickly.
func (s *Service) Import(ctx context.Context, a ops.Actor, r ops.ImportRequest, progress func(done, total int)) (_ ops.ImportResult, err error) {
	action := audit.ImportPreview
	if r.Commit {
		action = audit.ImportCommit
	}
	ctx, rec := begin(ctx, a, action, "import", "")
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := refuseToken(a, "import appointments"); err != nil {
		return ops.ImportResult{}, err
	}
	if len(r.Data) > remind.MaxImportBytes {
		return ops.ImportResult{}, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf(
			"the file is %.1f MB; at most %d MB can be imported at once: export one day (or split the file) and import each part; nothing was imported",
			float64(len(r.Data))/(1<<20), remind.MaxImportBytes>>20))
	}
	if len(r.Data) == 0 {
		return ops.ImportResult{}, ops.Errorf(ops.CodeInvalidRequest, "the file is empty; nothing was imported")
	}
	st, err := s.remindStore(ctx)
	if err != nil {
		return ops.ImportResult{}, err
	}
	mapping := remind.Mapping{}
	if r.MappingName != "" {
		m, err := st.ImportMappingByName(ctx, r.MappingName)
		if err != nil {
			return ops.ImportResult{}, storeError(err, "imported")
		}
		for k, v := range m.Columns {
			mapping[k] = v
		}
	}
	for k, v := range r.Mapping {
		mapping[strings.ToLower(strings.TrimSpace(k))] = v
	}
	if r.SaveMappingAs != "" {
		if err := s.saveMapping(ctx, a, st, r.SaveMappingAs, mapping); err != nil {
			return ops.ImportResult{}, err
		}
	}
	t, err := remind.ReadCSV(r.Data)
	if err != nil {
		return ops.ImportResult{}, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("the file cannot be read: %v; nothing was imported", err))
	}
	cols, err := t.Columns(mapping)
	if err != nil {
		return ops.ImportResult{}, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("%v; nothing was imported (a mapping can name the columns)", err))
	}
	now := s.now()
	rows := remind.ParseRows(t, cols, s.location(), s.cfg.DefaultRegion, now)
	res := ops.ImportResult{Encoding: t.Encoding, Delimiter: t.Delimiter, Columns: map[string]string{}, Rows: make([]ops.ImportRow, len(rows))}
	for field, i := range cols {
		if i >= 0 && i < len(t.Header) {
			res.Columns[field] = t.Header[i]
		}
	}
	// What the store knows: opted out, an appointment already there. A
	// commit asks the store inside its transaction instead (and names the
	// rows it refuses), so the lookups are not made twice.
	var phones []string
	var ats []int
	for i, row := range rows {
		if row.Phone != "" && !row.At.IsZero() && !hasProblem(row.Problems, ops.ProblemBadNumber) {
			phones = append(phones, row.Phone)
			ats = append(ats, i)
		}
	}
	times := make([]time.Time, 0, len(ats))
	for _, i := range ats {
		times = append(times, rows[i].At)
	}
	checks := make([]queue.ImportCheck, len(phones))
	if !r.Commit {
		if checks, err = st.CheckImport(ctx, phones, times); err != nil {
			return ops.ImportResult{}, err
		}
	}
	for k, i := range ats {
		if checks[k].OptedOut {
			rows[i].Problems = append(rows[i].Problems, ops.ImportProblem{Code: ops.ProblemOptedOut, Field: "phone",
				Message: "the patient opted out of text messages (replied STOP); no reminder can be sent until they text START"})
		}
		if checks[k].Duplicate {
			rows[i].Problems = append(rows[i].Problems, ops.ImportProblem{Code: ops.ProblemDuplicate, Field: "time",
				Message: "an appointment for this number at this time exists already"})
		}
	}
	var items []queue.ImportItem
	for i, row := range rows {
		res.Rows[i] = ops.ImportRow{Line: row.Line, Name: row.Name, Phone: row.Phone, At: utc(row.At), Provider: row.Provider,
			Location: row.Location, Language: row.Language, Problems: row.Problems}
		if len(row.Problems) == 0 {
			items = append(items, queue.ImportItem{Line: row.Line, Appointment: queue.NewAppointment{Name: row.Name, Phone: row.Phone,
				Provider: row.Provider, Location: row.Location, At: row.At, Language: row.Language}})
		}
	}
	sum := sha256.Sum256(r.Data)
	prior, found, err := st.FindImport(ctx, sum)
	if err != nil {
		return ops.ImportResult{}, err
	}
	if found {
		res.ImportID, res.AlreadyImported = prior.ID, true
	}
	if !r.Commit || found {
		countRows(&res)
		rec.AddDetail(fmt.Sprintf("rows=%d good=%d bad=%d", len(res.Rows), res.Good, res.Bad))
		if found {
			rec.SetObject("import", strconv.FormatInt(prior.ID, 10))
			// Committed stays false: this call committed nothing.
			rec.AddDetail("already_imported")
		}
		return res, nil
	}
	plan, err := s.planner(ctx, st, now)
	if err != nil {
		return ops.ImportResult{}, err
	}
	out, err := st.CommitImport(ctx, queue.ImportCommit{Sum: sum, FileName: r.FileName, CreatedBy: a.String(), Rows: len(rows),
		Items: items, Plan: plan, Progress: progress})
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return ops.ImportResult{}, fmt.Errorf("the import was stopped before it finished; nothing was imported: %w", err)
		}
		return ops.ImportResult{}, storeError(err, "imported")
	}
	res.ImportID, res.AlreadyImported = out.Import.ID, out.Existing
	res.Committed = true
	for i := range res.Rows {
		line := res.Rows[i].Line
		if id, ok := out.Created[line]; ok {
			res.Rows[i].AppointmentID = id
		}
		if e, ok := out.Refused[line]; ok {
			// Opted out or booked since the preview: named, not created.
			code := ops.ProblemDuplicate
			switch {
			case errors.Is(e, queue.ErrOptedOut):
				code = ops.ProblemOptedOut
			case errors.Is(e, queue.ErrInvalidNumber):
				code = ops.ProblemBadNumber
			}
			res.Rows[i].Problems = append(res.Rows[i].Problems, ops.ImportProblem{Code: code, Field: "phone", Message: strings.ReplaceAll(e.Error(), res.Rows[i].Phone, mask.Number(res.Rows[i].Phone))})
		}
	}
	countRows(&res)
	res.Created, res.Reminders = len(out.Created), out.Reminders
	return res, nil
}

func countRows(res *ops.ImportResult) {
	res.Good, res.Bad = 0, 0
	for _, row := range res.Rows {
		if len(row.Problems) == 0 {
			res.Good++
		} else {
			res.Bad++
		}
	}
}

func hasProblem(ps []ops.ImportProblem, code string) bool {
	for _, p := range ps {
		if p.Code == code {
			return true
		}
	}
	return false
}

// importFields are the fields a mapping may name.
var importFields = map[string]bool{"name": true, "first_name": true, "last_name": true, "phone": true, "date": true, "time": true, "provider": true, "location": true, "language": true, "datetime": true}

// saveMapping saves a column mapping (admin; audited import_mapping_save).
func (s *Service) saveMapping(ctx context.Context, a ops.Actor, st *queue.Store, name string, m remind.Mapping) (err error) {
	ctx, rec := begin(audit.Without(ctx), a, audit.ImportMappingSave, "import_mapping", "")
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := requireAdmin(a, "save a column mapping"); err != nil {
		return err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || !validText(name) {
		return ops.Errorf(ops.CodeInvalidRequest, "a mapping needs a name of 1 to 100 bytes of plain text; nothing was imported")
	}
	var fields []string
	for f, h := range m {
		if !importFields[f] {
			return ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("%q is not a field a mapping can name (name, first_name, last_name, phone, datetime, date, time, provider, location, language); nothing was imported", clipRunes(f, 30)))
		}
		if len(h) > 200 || !validText(h) {
			return ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("the header mapped to %s is not a plain column header; nothing was imported", f))
		}
		fields = append(fields, f)
	}
	sort.Strings(fields)
	rec.SetObject("import_mapping", name)
	rec.AddDetail("fields=" + strings.Join(fields, ","))
	return st.SaveImportMapping(ctx, queue.ImportMapping{Name: name, Columns: m}, a.String())
}

// ImportMappings lists the saved column mappings (any signed-in person).
func (s *Service) ImportMappings(ctx context.Context, a ops.Actor) ([]ops.ImportMapping, error) {
	if err := refuseToken(a, "import appointments"); err != nil {
		return nil, err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := st.ImportMappings(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ops.ImportMapping, 0, len(ms))
	for _, m := range ms {
		out = append(out, ops.ImportMapping{Name: m.Name, Columns: m.Columns})
	}
	return out, nil
}
