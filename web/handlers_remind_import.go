package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/clinicsms/smsd/ops"
)

// A day's list from CSV: the person uploads the file (POST /import), sees
// the preview with each row's problems, and commits the good rows (POST
// /import/{upload}/commit). The commit runs in its own goroutine as a job
// whose progress the job's page shows in a <progress> bar (import.js asks
// GET /import/jobs/{job}/progress; without the script, a reload does).
//
// The uploaded file stays in memory only, between the preview and the
// commit, for the person who uploaded it: it holds PHI, so it is never
// written to disk (the multipart reader keeps it in memory, where
// ParseMultipartForm would spill it to a temporary file).

// maxImportFile is the largest CSV file taken: 10 MB (the service and
// remind.ReadCSV refuse larger files too; this answers before the whole
// file has been read).
const maxImportFile = 10 << 20

// maxImportBody bounds a POST /import: the file and the few form fields
// around it.
const maxImportBody = maxImportFile + maxBody

// How many uploads and jobs are kept, and for how long. A clinic imports
// a list or two a day: the limits bound the memory held (at most
// maxUploads files of 10 MB), never a real day's work.
const (
	maxUploads = 4
	uploadTTL  = 30 * time.Minute
	maxJobs    = 16
	jobTTL     = time.Hour
	// commitTimeout bounds a commit: 10,000 rows take seconds.
	commitTimeout = 5 * time.Minute
)

// importFields are the fields of a row, in the order the mapping form
// shows them.
var importFields = []string{"name", "phone", "date", "time", "provider", "location", "language"}

// importStore holds the uploads waiting for their commit and the commit
// jobs.
type importStore struct {
	mu      sync.Mutex
	uploads map[string]*upload
	jobs    map[string]*importJob
}

func newImportStore() *importStore {
	return &importStore{uploads: map[string]*upload{}, jobs: map[string]*importJob{}}
}

// upload is a previewed file and its mapping, for its owner only.
type upload struct {
	owner   string // ops.Actor.String()
	req     ops.ImportRequest
	created time.Time
}

// importJob is one commit running or done.
type importJob struct {
	owner string

	mu       sync.Mutex
	done     int
	total    int
	finished time.Time // zero while running
	result   ops.ImportResult
	status   int    // of the error, when errMsg is set
	errMsg   string // the service's reason, for people
}

// newID is a random id for an upload or a job: not guessable, so that
// another person cannot reach someone's upload by counting.
func newID() string { return strings.ToLower(rand.Text()) }

// addUpload keeps u and returns its id; the oldest upload goes when
// maxUploads are kept.
func (st *importStore) addUpload(u *upload, now time.Time) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	for id, x := range st.uploads {
		if now.Sub(x.created) > uploadTTL {
			delete(st.uploads, id)
		}
	}
	for len(st.uploads) >= maxUploads {
		oldest := ""
		for id, x := range st.uploads {
			if oldest == "" || x.created.Before(st.uploads[oldest].created) {
				oldest = id
			}
		}
		delete(st.uploads, oldest)
	}
	id := newID()
	st.uploads[id] = u
	return id
}

// takeUpload removes and returns owner's upload id, nil when there is
// none (expired, committed already, or someone else's).
func (st *importStore) takeUpload(id, owner string, now time.Time) *upload {
	st.mu.Lock()
	defer st.mu.Unlock()
	u := st.uploads[id]
	if u == nil || u.owner != owner || now.Sub(u.created) > uploadTTL {
		return nil
	}
	delete(st.uploads, id)
	return u
}

// addJob keeps j and returns its id. Finished jobs older than jobTTL go;
// when maxJobs are kept, the oldest finished one goes, and when none is
// finished it returns "" (too many commits at once).
func (st *importStore) addJob(j *importJob, now time.Time) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	var oldest string
	var oldestAt time.Time
	for id, x := range st.jobs {
		x.mu.Lock()
		fin := x.finished
		x.mu.Unlock()
		if fin.IsZero() {
			continue
		}
		if now.Sub(fin) > jobTTL {
			delete(st.jobs, id)
			continue
		}
		if oldest == "" || fin.Before(oldestAt) {
			oldest, oldestAt = id, fin
		}
	}
	if len(st.jobs) >= maxJobs {
		if oldest == "" {
			return ""
		}
		delete(st.jobs, oldest)
	}
	id := newID()
	st.jobs[id] = j
	return id
}

// job is owner's job id, or nil.
func (st *importStore) job(id, owner string) *importJob {
	st.mu.Lock()
	defer st.mu.Unlock()
	j := st.jobs[id]
	if j == nil || j.owner != owner {
		return nil
	}
	return j
}

// importData is the import page's: the form (saved mappings, the fields
// to map), and after an upload its preview.
type importData struct {
	Mappings    []ops.ImportMapping
	MappingName string
	Mapping     map[string]string
	SaveAs      string
	Fields      []string
	IsAdmin     bool
	FileName    string
	// Preview is the service's answer for the uploaded file; Upload is the
	// id its commit button posts to.
	Preview *ops.ImportResult
	Upload  string
	// Rows are the preview's rows the table shows: every row with a
	// problem and the first previewGood good ones; MoreGood counts the
	// good rows left out.
	Rows     []ops.ImportRow
	MoreGood int
}

// previewGood is how many good rows the preview's table shows: a day's
// list is a few hundred rows at most, and a table of ten thousand would
// make a page of megabytes for nothing to check. Every row with a
// problem is shown.
const previewGood = 500

// newImportData is the import page's form for rs.
func (s *Server) newImportData(r *http.Request, rs *reqSession) importData {
	d := importData{Fields: importFields, IsAdmin: rs.Actor.IsAdmin(), Mapping: map[string]string{}}
	if ms, err := s.svc.ImportMappings(r.Context(), rs.Actor); err == nil {
		d.Mappings = ms
	}
	return d
}

// importForm is GET /import: the upload form.
func (s *Server) importForm(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	s.show(w, r, rs, http.StatusOK, "import", pageData{Title: "Import a day's list", Data: s.newImportData(r, rs)})
}

// readImportForm reads POST /import's multipart form into memory: the
// file (at most maxImportFile bytes) and the mapping fields.
func readImportForm(r *http.Request) (ops.ImportRequest, *formProblem) {
	var req ops.ImportRequest
	tooBig := &formProblem{http.StatusRequestEntityTooLarge,
		fmt.Sprintf("The file is too large: the appliance takes a list of at most %d MB. Split the day's list into smaller files, or export fewer columns. Nothing was imported.", maxImportFile>>20)}
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" || params["boundary"] == "" {
		return req, &formProblem{http.StatusBadRequest, "The form could not be read (it is not a file upload as a browser sends one). Choose the file again and send the form."}
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return req, &formProblem{http.StatusBadRequest, "The form could not be read (it is not a file upload as a browser sends one). Choose the file again and send the form."}
	}
	var sawFile bool
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return req, tooBig
			}
			return req, &formProblem{http.StatusBadRequest, "The form could not be read (the upload was cut short or is not encoded as a browser sends one). Choose the file again and send the form."}
		}
		name := p.FormName()
		if name == "file" {
			sawFile = true
			data, err := io.ReadAll(io.LimitReader(p, maxImportFile+1))
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) || len(data) > maxImportFile {
				return req, tooBig
			}
			if err != nil {
				return req, &formProblem{http.StatusBadRequest, "The file could not be read (the upload was cut short). Choose the file again and send the form."}
			}
			req.Data = data
			fn := path.Base(strings.ReplaceAll(p.FileName(), `\`, "/"))
			if fn == "." || fn == "/" || !utf8.ValidString(fn) {
				fn = ""
			}
			if len(fn) > 200 {
				fn = fn[:200]
			}
			req.FileName = fn
			continue
		}
		v, err := io.ReadAll(io.LimitReader(p, 4<<10))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return req, tooBig
			}
			return req, &formProblem{http.StatusBadRequest, "The form could not be read. Choose the file again and send the form."}
		}
		if !utf8.Valid(v) || !utf8.ValidString(name) {
			return req, &formProblem{http.StatusBadRequest, "A field of the form is not valid text (it is not UTF-8). Nothing was imported; fill in the form again."}
		}
		val := strings.TrimSpace(string(v))
		switch {
		case name == "mapping_name":
			req.MappingName = val
		case name == "save_mapping_as":
			req.SaveMappingAs = val
		case strings.HasPrefix(name, "map_") && slices.Contains(importFields, strings.TrimPrefix(name, "map_")):
			if val != "" {
				if req.Mapping == nil {
					req.Mapping = map[string]string{}
				}
				req.Mapping[strings.TrimPrefix(name, "map_")] = val
			}
		}
	}
	if !sawFile || len(req.Data) == 0 {
		return req, &formProblem{http.StatusBadRequest, "No file was chosen, or the file is empty: choose the day's list (a CSV file exported from the practice system) and send the form again."}
	}
	return req, nil
}

// importPreview is POST /import: the uploaded file's preview, and a
// button that commits its good rows.
func (s *Server) importPreview(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	d := s.newImportData(r, rs)
	req, prob := readImportForm(r)
	if prob != nil {
		if prob.status == http.StatusRequestEntityTooLarge {
			// The rest of the body was not read: the connection closes.
			w.Header().Set("Connection", "close")
		}
		s.show(w, r, rs, prob.status, "import", pageData{Title: "Import a day's list", Error: prob.msg, Data: d})
		return
	}
	d.MappingName, d.SaveAs, d.FileName = req.MappingName, req.SaveMappingAs, req.FileName
	if req.Mapping != nil {
		d.Mapping = req.Mapping
	}
	req.Commit = false
	res, err := s.svc.Import(r.Context(), rs.Actor, req, nil)
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		s.show(w, r, rs, status, "import", pageData{Title: "Import a day's list", Error: msg, Data: d})
		return
	}
	// A mapping saved with this preview need not be saved again.
	saved := req.SaveMappingAs != ""
	req.SaveMappingAs = ""
	d.Preview = &res
	good := 0
	for _, row := range res.Rows {
		if len(row.Problems) == 0 {
			if good >= previewGood {
				d.MoreGood++
				continue
			}
			good++
		}
		d.Rows = append(d.Rows, row)
	}
	if res.Good > 0 && !res.AlreadyImported {
		d.Upload = s.imports.addUpload(&upload{owner: rs.Actor.String(), req: req, created: s.now()}, s.now())
	}
	notice := ""
	if saved {
		notice = "The mapping was saved as “" + d.SaveAs + "”."
		if ms, err := s.svc.ImportMappings(r.Context(), rs.Actor); err == nil {
			d.Mappings = ms
		}
	}
	s.show(w, r, rs, http.StatusOK, "import", pageData{Title: "Import a day's list", Notice: notice, Data: d})
}

// importCommit is POST /import/{upload}/commit: it starts the commit of
// the upload's good rows and sends the browser to the job's page.
func (s *Server) importCommit(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	if _, prob := readForm(r); prob != nil {
		s.errorPageFor(w, r, rs, prob.status, "Not done", prob.msg)
		return
	}
	u := s.imports.takeUpload(r.PathValue("upload"), rs.Actor.String(), s.now())
	if u == nil {
		s.errorPageFor(w, r, rs, http.StatusNotFound, "Not found",
			"This upload is not waiting any more (it was committed already, or it waited longer than 30 minutes). Upload the file again on the import page; a file imported already creates nothing twice.")
		return
	}
	j := &importJob{owner: rs.Actor.String()}
	id := s.imports.addJob(j, s.now())
	if id == "" {
		s.errorPageFor(w, r, rs, http.StatusServiceUnavailable, "Busy",
			"Too many imports are running at once. Wait a minute and upload the file again.")
		return
	}
	req := u.req
	req.Commit = true
	actor := rs.Actor
	go s.runImport(j, actor, req)
	http.Redirect(w, r, "/import/jobs/"+id, http.StatusSeeOther)
}

// runImport commits req for actor and records the outcome in j. It runs
// after the request that started it has ended, so it has its own context.
func (s *Server) runImport(j *importJob, actor ops.Actor, req ops.ImportRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("web: an import commit panicked", "panic", fmt.Sprintf("%T", v))
			j.mu.Lock()
			j.status, j.errMsg, j.finished = http.StatusInternalServerError, "Something went wrong on the appliance while importing. Nothing was imported; an administrator finds the details in the journal (journalctl -u smsd).", s.now()
			j.mu.Unlock()
		}
	}()
	res, err := s.svc.Import(ctx, actor, req, func(done, total int) {
		j.mu.Lock()
		j.done, j.total = done, total
		j.mu.Unlock()
	})
	j.mu.Lock()
	defer j.mu.Unlock()
	j.finished = s.now()
	if err != nil {
		// statusOf names the request in what it logs: this job's.
		r, _ := http.NewRequest(http.MethodPost, "/import/commit", nil)
		j.status, j.errMsg = s.statusOf(r, err)
		return
	}
	// done and total stay as the service last reported them (a file
	// imported already reports nothing: its bar shows full when done).
	j.result = res
}

// importJobData is a job's page.
type importJobData struct {
	ID          string
	Done, Total int
	Finished    bool
	Result      ops.ImportResult
	Skipped     []ops.ImportRow
}

// snapshot is j's state for its page and its progress answer.
func (j *importJob) snapshot(id string) (importJobData, int, string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	d := importJobData{ID: id, Done: j.done, Total: j.total, Finished: !j.finished.IsZero(), Result: j.result}
	for _, row := range j.result.Rows {
		if len(row.Problems) > 0 {
			d.Skipped = append(d.Skipped, row)
		}
	}
	return d, j.status, j.errMsg
}

// importJob is GET /import/jobs/{job}: the commit's progress, and when it
// is done, what it created and the rows it skipped with their reasons.
func (s *Server) importJob(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	j := s.imports.job(r.PathValue("job"), rs.Actor.String())
	if j == nil {
		s.errorPageFor(w, r, rs, http.StatusNotFound, "Not found",
			"There is no such import here: an import's page is kept for an hour after it finished, for the person who started it. The day's appointments show what was imported.")
		return
	}
	d, status, msg := j.snapshot(r.PathValue("job"))
	if msg != "" {
		if !strings.Contains(strings.ToLower(msg), "nothing") {
			// The commit is one transaction: a failed one created nothing.
			msg += " Nothing was imported."
		}
		s.show(w, r, rs, status, "importjob", pageData{Title: "Import not done", Error: msg, Data: d})
		return
	}
	title, notice := "Importing…", ""
	if d.Finished {
		title = "Import done"
		switch {
		case d.Result.AlreadyImported:
			notice = "This file was imported already: nothing new was created."
		default:
			notice = fmt.Sprintf("Imported: %d appointments and %d reminders created.", d.Result.Created, d.Result.Reminders)
		}
	}
	s.show(w, r, rs, http.StatusOK, "importjob", pageData{Title: title, Notice: notice, Data: d})
}

// importProgressJSON is GET /import/jobs/{job}/progress's answer.
type importProgressJSON struct {
	Done     int    `json:"done"`
	Total    int    `json:"total"`
	Finished bool   `json:"finished"`
	Error    string `json:"error,omitempty"`
}

// importProgress answers import.js: the job's progress as JSON. Asking
// does not extend the session (the script asks by itself).
func (s *Server) importProgress(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.scriptSession(w, r)
	if !ok {
		return
	}
	j := s.imports.job(r.PathValue("job"), sess.Actor.String())
	if j == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"code": ops.CodeNotFound, "message": "no such import"})
		return
	}
	d, _, msg := j.snapshot("")
	writeJSON(w, http.StatusOK, importProgressJSON{Done: d.Done, Total: d.Total, Finished: d.Finished, Error: msg})
}
