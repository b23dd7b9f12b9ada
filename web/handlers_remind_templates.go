package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/clinicsms/smsd/ops"
)

// The templates page: every template per language with what the service's
// check found in it (unknown placeholders, an opt-out word asked for,
// clinical words, the worst case's parts and encoding). Admins edit, save
// and delete; anyone may check a text without saving it (a plain form
// POST: no script needed).

// templatePlaceholders are the placeholders a template may use, for the
// page's help (the service's check is the rule).
var templatePlaceholders = []string{"name", "date", "time", "provider", "location", "clinic", "phone"}

// templateForm is a template's form as typed, and its check when one was
// asked for.
type templateForm struct {
	ID       int64
	Name     string
	Language string
	Body     string
	Reminder bool
	Check    *ops.TemplateCheck
}

// templateView is one template on the page: as saved, and its form.
type templateView struct {
	Template ops.Template
	Form     templateForm
}

// templateGroup is a language's templates.
type templateGroup struct {
	Code, Label string
	Templates   []templateView
}

// templatesData is the templates page's.
type templatesData struct {
	Groups       []templateGroup
	IsAdmin      bool
	New          templateForm
	Languages    []string
	Placeholders []string
}

// templatesDone are the notices after a template's action (?done=).
var templatesDone = map[string]string{
	"saved":   "Saved.",
	"deleted": "Deleted.",
}

// templates is GET /templates.
func (s *Server) templates(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	s.showTemplates(w, r, rs, http.StatusOK, "", templatesDone[r.URL.Query().Get("done")], nil)
}

// showTemplates lists the templates, with edit (a form as typed, checked
// or refused) shown in its template's place, or in the new template's
// form when its ID is 0.
func (s *Server) showTemplates(w http.ResponseWriter, r *http.Request, rs *reqSession, status int, errMsg, notice string, edit *templateForm) {
	d := templatesData{IsAdmin: rs.Actor.IsAdmin(), Languages: []string{ops.LangEnglish, ops.LangSpanish}, Placeholders: templatePlaceholders,
		New: templateForm{Language: ops.LangEnglish}}
	ts, err := s.svc.Templates(r.Context(), rs.Actor, ops.TemplateRequest{Action: ops.TemplateList})
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		st, msg := s.statusOf(r, err)
		if errMsg == "" {
			status, errMsg = st, msg
		}
	}
	if edit != nil && edit.ID == 0 {
		d.New = *edit
	}
	for _, t := range ts {
		check := t.Check
		v := templateView{Template: t, Form: templateForm{ID: t.ID, Name: t.Name, Language: t.Language, Body: t.Body, Reminder: t.Reminder, Check: &check}}
		if edit != nil && edit.ID == t.ID {
			v.Form = *edit
		}
		i := slices.IndexFunc(d.Groups, func(g templateGroup) bool { return g.Code == t.Language })
		if i < 0 {
			d.Groups = append(d.Groups, templateGroup{Code: t.Language, Label: langLabel(t.Language)})
			i = len(d.Groups) - 1
		}
		d.Groups[i].Templates = append(d.Groups[i].Templates, v)
	}
	slices.SortStableFunc(d.Groups, func(a, b templateGroup) int { return strings.Compare(a.Code, b.Code) })
	s.show(w, r, rs, status, "templates", pageData{Title: "Templates", Error: errMsg, Notice: notice, Data: d})
}

// templateAction is POST /templates: check (anyone; nothing is saved),
// save or delete (admins; the service refuses others).
func (s *Server) templateAction(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	f, prob := readForm(r)
	if prob != nil {
		s.showTemplates(w, r, rs, prob.status, prob.msg, "", nil)
		return
	}
	form := templateForm{Name: strings.TrimSpace(f.Get("name")), Language: f.Get("language"), Body: f.Get("body"), Reminder: f.Get("reminder") == "1"}
	if v := f.Get("id"); v != "" && v != "0" {
		id, ok := positiveID(v)
		if !ok {
			s.showTemplates(w, r, rs, http.StatusBadRequest, "There is no such template: use the page's forms.", "", nil)
			return
		}
		form.ID = id
	}
	req := ops.TemplateRequest{ID: form.ID, Name: form.Name, Language: form.Language, Body: form.Body, Reminder: form.Reminder}
	fail := func(err error) {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		s.showTemplates(w, r, rs, status, msg, "", &form)
	}
	// check asks the service's check for the form's text; false when it
	// answered with an error page already.
	check := func() bool {
		req.Action = ops.TemplateValidate
		ts, err := s.svc.Templates(r.Context(), rs.Actor, req)
		if err != nil {
			fail(err)
			return false
		}
		if len(ts) > 0 {
			c := ts[0].Check
			form.Check = &c
		}
		return true
	}
	switch action := f.Get("action"); action {
	case ops.TemplateValidate:
		if form.Body == "" {
			s.showTemplates(w, r, rs, http.StatusBadRequest, "The template's text is missing: type it, then check it.", "", &form)
			return
		}
		if !check() {
			return
		}
		notice := "Checked, not saved: no problem found."
		if form.Check != nil && !form.Check.OK {
			notice = "Checked, not saved: see the problems below."
		}
		s.showTemplates(w, r, rs, http.StatusOK, "", notice, &form)
	case ops.TemplateSave:
		if name := missing(f, "name", "body"); name != "" {
			s.showTemplates(w, r, rs, http.StatusBadRequest, missingMsg(name), "", &form)
			return
		}
		req.Action = ops.TemplateSave
		if _, err := s.svc.Templates(r.Context(), rs.Actor, req); err != nil {
			// Show what the check finds next to the refusal.
			if ops.CodeOf(err) != ops.CodeDenied {
				c := req
				c.Action = ops.TemplateValidate
				if ts, cerr := s.svc.Templates(r.Context(), rs.Actor, c); cerr == nil && len(ts) > 0 {
					ck := ts[0].Check
					form.Check = &ck
				}
			}
			fail(err)
			return
		}
		http.Redirect(w, r, "/templates?done=saved", http.StatusSeeOther)
	case ops.TemplateDelete:
		if form.ID == 0 {
			s.showTemplates(w, r, rs, http.StatusBadRequest, "There is no such template: use the page's Delete buttons.", "", nil)
			return
		}
		if _, err := s.svc.Templates(r.Context(), rs.Actor, ops.TemplateRequest{Action: ops.TemplateDelete, ID: form.ID}); err != nil {
			fail(err)
			return
		}
		http.Redirect(w, r, "/templates?done=deleted", http.StatusSeeOther)
	case "":
		s.showTemplates(w, r, rs, http.StatusBadRequest, missingMsg("action"), "", &form)
	default:
		s.showTemplates(w, r, rs, http.StatusBadRequest, "There is no such action: use the page's buttons (Check, Save, Delete).", "", &form)
	}
}

// formID is the id prefix of a template's form fields: "tpl-new" or
// "tpl-3".
func formID(id int64) string {
	if id == 0 {
		return "tpl-new"
	}
	return "tpl-" + strconv.FormatInt(id, 10)
}
