package daemon

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/remind"
)

// checkOptions are the options every template check uses: the configured
// word list, max_parts, the clinic's name and phone, and the template's
// language (its longest date and time).
func (s *Service) checkOptions(lang string) remind.CheckOptions {
	return remind.CheckOptions{ClinicalWords: s.cfg.ClinicalWords, MaxParts: s.maxParts(), Language: lang,
		Clinic: s.cfg.ClinicName, ClinicPhone: s.cfg.ClinicPhone}
}

func (s *Service) opsTemplate(t queue.Template) ops.Template {
	return ops.Template{ID: t.ID, Name: t.Name, Language: t.Language, Body: t.Body, Reminder: t.Reminder,
		Check: remind.Check(t.Body, s.checkOptions(t.Language)), UpdatedAt: utc(t.UpdatedAt)}
}

// Templates lists the templates with what Check finds in each (any
// signed-in person; an API token too, to send by template), checks a body
// without saving it, or saves or deletes one (admin; audited template_save
// and template_delete). A body whose check is not OK is refused with its
// problems. The reminder template of a language cannot be deleted while it
// is the one the plan sends: mark another first.
func (s *Service) Templates(ctx context.Context, a ops.Actor, r ops.TemplateRequest) (_ []ops.Template, err error) {
	switch r.Action {
	case ops.TemplateList, "":
		st, err := s.remindStore(ctx)
		if err != nil {
			return nil, err
		}
		ts, err := st.Templates(ctx)
		if err != nil {
			return nil, storeError(err, "shown")
		}
		out := make([]ops.Template, 0, len(ts))
		for _, t := range ts {
			out = append(out, s.opsTemplate(t))
		}
		return out, nil
	case ops.TemplateValidate:
		lang, err := validLanguage(r.Language)
		if err != nil {
			return nil, err
		}
		return []ops.Template{{Name: r.Name, Language: lang, Body: r.Body, Reminder: r.Reminder, Check: remind.Check(r.Body, s.checkOptions(lang))}}, nil
	case ops.TemplateSave, ops.TemplateDelete:
	default:
		return nil, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("unknown template action %q (list, check, save, delete)", clipRunes(r.Action, 20)))
	}
	action := audit.TemplateSave
	if r.Action == ops.TemplateDelete {
		action = audit.TemplateDelete
	}
	objID := ""
	if r.ID != 0 {
		objID = strconv.FormatInt(r.ID, 10)
	}
	ctx, rec := begin(ctx, a, action, "template", objID)
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := requireAdmin(a, "change templates"); err != nil {
		return nil, err
	}
	st, err := s.remindStore(ctx)
	if err != nil {
		return nil, err
	}
	if r.Action == ops.TemplateDelete {
		if r.ID <= 0 {
			return nil, ops.Errorf(ops.CodeInvalidRequest, "say which template to delete (its id); nothing was changed")
		}
		t, err := st.GetTemplate(ctx, r.ID)
		if err != nil {
			return nil, storeError(err, "deleted")
		}
		if t.Reminder {
			return nil, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("template %d is the reminder the plan sends in %q: mark another template of that language as the reminder first; nothing was deleted", t.ID, t.Language))
		}
		rec.AddDetail(fmt.Sprintf("name=%s language=%s", strconv.Quote(clipRunes(t.Name, 60)), t.Language))
		if _, err := st.DeleteTemplateID(ctx, r.ID); err != nil {
			return nil, storeError(err, "deleted")
		}
		return []ops.Template{s.opsTemplate(t)}, nil
	}
	lang, err := validLanguage(r.Language)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSpace(r.Name)
	if name == "" || len(name) > 100 || !validText(name) {
		return nil, ops.Errorf(ops.CodeInvalidRequest, "a template needs a name of 1 to 100 bytes of plain text; nothing was saved")
	}
	rec.AddDetail(fmt.Sprintf("name=%s language=%s reminder=%t", strconv.Quote(clipRunes(name, 60)), lang, r.Reminder))
	c := remind.Check(r.Body, s.checkOptions(lang))
	if !c.OK {
		return nil, ops.Errorf(ops.CodeInvalidRequest, "the template was not saved: "+strings.Join(c.Problems, "; "))
	}
	t, err := st.SaveTemplate(ctx, queue.Template{ID: r.ID, Name: name, Language: lang, Body: r.Body, Reminder: r.Reminder, CreatedBy: a.String()})
	if errors.Is(err, queue.ErrTemplateExists) {
		return nil, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("%v; choose another name, or change that template; nothing was saved", err))
	}
	if err != nil {
		return nil, storeError(err, "saved")
	}
	return []ops.Template{s.opsTemplate(t)}, nil
}

// validText reports whether v is UTF-8 without control characters.
func validText(v string) bool {
	for _, r := range v {
		if r == '\uFFFD' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
