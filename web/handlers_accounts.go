package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"

	"github.com/clinicsms/smsd/ops"
)

// accountsData is the accounts page's.
type accountsData struct {
	Accounts []ops.AccountDetail
	Policy   ops.AuthPolicy
	// BreakGlassPassword is the emergency account's new password, shown
	// once, right after it was enabled.
	BreakGlassPassword string
	// Add is what the add form held when it was refused (never the
	// password).
	Add addForm
	// Self is the signed-in admin's current session, marked in the list.
	Self string
	// noticeFor is the account a notice from the address names: the notice
	// shows only when that account exists, so a crafted link cannot make
	// the page claim a change to an account that is not there.
	noticeFor string
}

// addForm is the add-account form's fields as typed.
type addForm struct {
	Username, Name, Role string
}

// Notices after an account change, by action; %s is the username.
var accountNotices = map[string]string{
	ops.UserDisable:       "Account %s is disabled.",
	ops.UserEnable:        "Account %s is enabled.",
	ops.UserUnlock:        "Account %s is unlocked: it can sign in again.",
	ops.UserRequireTOTP:   "Account %s must set up a second factor at its next sign-in.",
	ops.UserResetTOTP:     "The second factor of %s is reset: it sets up a new one when one is required.",
	ops.UserRole:          "The role of %s is changed.",
	ops.UserResetPassword: "The password of %s is reset: they choose a new one at their next sign-in.",
	ops.UserAdd:           "Account %s is added.",
	"end_session":         "The session of %s is ended.",
	"end_sessions":        "The sessions of %s are ended.",
}

// Notices after a policy change.
var policyNotices = map[string]string{
	"policy":             "The sign-in policy is saved.",
	"breakglass_disable": "The emergency (break-glass) account is disabled.",
}

// accounts shows every account with its sign-in details and sessions.
func (s *Server) accounts(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	notice := ""
	var d accountsData
	q := r.URL.Query()
	if msg, ok := policyNotices[q.Get("done")]; ok {
		notice = msg
	} else if msg, ok := accountNotices[q.Get("done")]; ok && q.Get("user") != "" {
		notice, d.noticeFor = fmt.Sprintf(msg, q.Get("user")), q.Get("user")
	}
	s.accountsPage(w, r, rs, http.StatusOK, "", notice, d)
}

// accountsPage draws the accounts page with a status, an error or a
// notice, and what the page shows besides the lists (d's other fields).
func (s *Server) accountsPage(w http.ResponseWriter, r *http.Request, rs *reqSession, status int, errMsg, notice string, d accountsData) {
	accts, err := s.svc.Accounts(r.Context(), rs.Actor)
	if err != nil {
		s.fail(w, r, rs, err)
		return
	}
	pol, _, err := s.svc.AuthPolicy(r.Context(), rs.Actor, nil)
	if err != nil {
		s.fail(w, r, rs, err)
		return
	}
	d.Accounts, d.Policy, d.Self = accts, pol, rs.ID
	if d.noticeFor != "" && !slices.ContainsFunc(accts, func(a ops.AccountDetail) bool { return a.Username == d.noticeFor }) {
		notice = ""
	}
	if d.Add.Role == "" {
		d.Add.Role = ops.RoleStaff
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
	}
	s.show(w, r, rs, status, "accounts", pageData{Title: "Accounts", Error: errMsg, Notice: notice, Data: d})
}

// done sends the browser back to the accounts page with a notice, so that
// reloading it does not send the form again.
func done(w http.ResponseWriter, r *http.Request, action, username string) {
	v := url.Values{"done": {action}}
	if username != "" {
		v.Set("user", username)
	}
	http.Redirect(w, r, "/accounts?"+v.Encode(), http.StatusSeeOther)
}

// addUser adds an account.
func (s *Server) addUser(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	f, bad := readForm(r)
	if bad != nil {
		s.accountsPage(w, r, rs, bad.status, bad.msg, "", accountsData{})
		return
	}
	add := addForm{Username: f.Get("username"), Name: f.Get("name"), Role: f.Get("role")}
	if m := missing(f, "username", "name", "password"); m != "" {
		s.accountsPage(w, r, rs, http.StatusBadRequest, missingMsg(m), "", accountsData{Add: add})
		return
	}
	if add.Role == "" {
		add.Role = ops.RoleStaff
	}
	users, err := s.svc.User(r.Context(), rs.Actor, ops.UserRequest{Action: ops.UserAdd, Username: add.Username, Name: add.Name, Role: add.Role, Password: f.Get("password")})
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		s.accountsPage(w, r, rs, status, msg, "", accountsData{Add: add})
		return
	}
	name := add.Username
	if len(users) > 0 {
		name = users[0].Username // as stored: folded to lower case
	}
	done(w, r, ops.UserAdd, name)
}

// accountAction takes one admin action on one account.
func (s *Server) accountAction(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	username := r.PathValue("username")
	f, bad := readForm(r)
	if bad != nil {
		s.accountsPage(w, r, rs, bad.status, bad.msg, "", accountsData{})
		return
	}
	refuse := func(msg string) { s.accountsPage(w, r, rs, http.StatusBadRequest, msg, "", accountsData{}) }
	ctx := r.Context()
	action := f.Get("action")
	var err error
	switch action {
	case ops.UserDisable, ops.UserEnable, ops.UserUnlock, ops.UserRequireTOTP, ops.UserResetTOTP:
		_, err = s.svc.User(ctx, rs.Actor, ops.UserRequest{Action: action, Username: username})
	case ops.UserRole:
		if f.Get("role") == "" {
			refuse(missingMsg("role"))
			return
		}
		_, err = s.svc.User(ctx, rs.Actor, ops.UserRequest{Action: action, Username: username, Role: f.Get("role")})
	case ops.UserResetPassword:
		if f.Get("password") == "" {
			refuse("The new password for " + username + " is missing: type one in the field beside Reset password.")
			return
		}
		_, err = s.svc.User(ctx, rs.Actor, ops.UserRequest{Action: action, Username: username, Password: f.Get("password")})
	case "end_session":
		if f.Get("session") == "" {
			refuse(missingMsg("session"))
			return
		}
		err = s.svc.EndSession(ctx, rs.Actor, f.Get("session"))
	case "end_sessions":
		err = s.endSessions(r, rs, username)
	case "":
		refuse(missingMsg("action"))
		return
	default:
		refuse(fmt.Sprintf("Unknown action %q: use the buttons of the accounts page.", action))
		return
	}
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		s.accountsPage(w, r, rs, status, msg, "", accountsData{})
		return
	}
	done(w, r, action, username)
}

// endSessions ends every session of an account, one by one (the service
// ends a session by its ID and audits each).
func (s *Server) endSessions(r *http.Request, rs *reqSession, username string) error {
	accts, err := s.svc.Accounts(r.Context(), rs.Actor)
	if err != nil {
		return err
	}
	for _, a := range accts {
		if a.Username != username {
			continue
		}
		for _, sess := range a.Sessions {
			if err := s.svc.EndSession(r.Context(), rs.Actor, sess.ID); err != nil && ops.CodeOf(err) != ops.CodeNoSession {
				return err
			}
		}
		return nil
	}
	return ops.Errorf(ops.CodeNoSuchUser, fmt.Sprintf("no account %s: it may have been removed; reload the accounts page", username))
}

// policy sets the sign-in policy: required second factor, and the
// break-glass account on or off.
func (s *Server) policy(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	f, bad := readForm(r)
	if bad != nil {
		s.accountsPage(w, r, rs, bad.status, bad.msg, "", accountsData{})
		return
	}
	ctx := r.Context()
	pol, _, err := s.svc.AuthPolicy(ctx, rs.Actor, nil)
	if err != nil {
		s.fail(w, r, rs, err)
		return
	}
	action := f.Get("action")
	switch action {
	case "policy":
		pol.RequireTOTP = f.Get("require_totp") != ""
	case "breakglass_enable":
		pol.BreakGlass = true
	case "breakglass_disable":
		pol.BreakGlass = false
	case "":
		s.accountsPage(w, r, rs, http.StatusBadRequest, missingMsg("action"), "", accountsData{})
		return
	default:
		s.accountsPage(w, r, rs, http.StatusBadRequest, fmt.Sprintf("Unknown action %q: use the buttons of the accounts page.", action), "", accountsData{})
		return
	}
	_, password, err := s.svc.AuthPolicy(ctx, rs.Actor, &pol)
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		s.accountsPage(w, r, rs, status, msg, "", accountsData{})
		return
	}
	if action == "breakglass_enable" {
		// The password exists only in this answer: no redirect (it would
		// have to carry it in the address), the page itself shows it once.
		notice := "The emergency (break-glass) account is enabled."
		if password != "" {
			notice += " Its password is shown below, once: write it down, seal it in an envelope and keep it where the clinic's emergency procedure says."
		}
		s.accountsPage(w, r, rs, http.StatusOK, "", notice, accountsData{BreakGlassPassword: password})
		return
	}
	done(w, r, action, "")
}
