package web

import (
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/clinicsms/smsd/ops"
)

// enrolData is the second-factor enrolment page's: the new secret (QR and
// text) before the first code, the recovery codes after it.
type enrolData struct {
	// QR is the otpauth URL's QR code as a data: URL (the CSP allows data:
	// images; nothing is fetched from elsewhere).
	QR     template.URL
	Secret string
	// Again: a code did not match; the secret shown before still waits.
	Again bool
	// Required: the session must enrol before it goes anywhere else.
	Required      bool
	RecoveryCodes []string
	Continue      string
}

// enrolForm makes a new secret for the session's account and shows it.
// Each visit makes a new one; the service keeps the latest with the
// session until a code confirms it. A GET that makes something is safe
// here: the secret is stored nowhere until a code confirms it, and the
// SameSite=Strict cookie keeps another site's link from reaching it.
func (s *Server) enrolForm(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	en, err := s.svc.TOTPBegin(r.Context(), rs.token, clientAddr(r))
	if err != nil {
		s.fail(w, r, rs, err)
		return
	}
	d := enrolData{Secret: en.Secret, Required: rs.Stage == ops.StageEnrolTOTP}
	if len(en.QRPNG) > 0 {
		// Built here from the service's PNG bytes, so it is safe as a URL.
		d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(en.QRPNG))
	}
	s.show(w, r, rs, http.StatusOK, "enrol", pageData{Title: "Set up a second factor", Data: d})
}

// enrol confirms the secret with its first code and shows the recovery
// codes, once.
func (s *Server) enrol(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	again := func(status int, msg string) {
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfter)
		}
		// The QR code is not drawn again: the service keeps the secret,
		// not its picture. The person who scanned it types the next code;
		// the page links to a new secret for one who did not.
		s.show(w, r, rs, status, "enrol", pageData{Title: "Set up a second factor", Error: msg,
			Data: enrolData{Again: true, Required: rs.Stage == ops.StageEnrolTOTP}})
	}
	f, bad := readForm(r)
	if bad != nil {
		again(bad.status, bad.msg)
		return
	}
	if f.Get("code") == "" {
		again(http.StatusBadRequest, missingMsg("code"))
		return
	}
	conf, err := s.svc.TOTPConfirm(r.Context(), rs.token, f.Get("code"), clientAddr(r))
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		again(s.statusOf(r, err))
		return
	}
	s.renewed(w, rs, conf.Session)
	s.show(w, r, rs, http.StatusOK, "enrol", pageData{Title: "Second factor set up",
		Notice: "Your second factor is set up. Keep the recovery codes below somewhere safe.",
		Data:   enrolData{RecoveryCodes: conf.RecoveryCodes, Continue: stagePath(rs.Stage)}})
}

// passwordData is the password page's.
type passwordData struct {
	// Required: an admin reset the password; a new one comes first.
	Required bool
}

// passwordForm asks for the current and a new password.
func (s *Server) passwordForm(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	s.show(w, r, rs, http.StatusOK, "password", pageData{Title: "Change your password",
		Data: passwordData{Required: rs.Stage == ops.StageChangePassword}})
}

// password changes the session's own password. The service ends the
// account's other sessions and renews this one.
func (s *Server) password(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	again := func(status int, msg string) {
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfter)
		}
		s.show(w, r, rs, status, "password", pageData{Title: "Change your password", Error: msg,
			Data: passwordData{Required: rs.Stage == ops.StageChangePassword}})
	}
	f, bad := readForm(r)
	if bad != nil {
		again(bad.status, bad.msg)
		return
	}
	if m := missing(f, "old_password", "new_password", "new_password2"); m != "" {
		again(http.StatusBadRequest, missingMsg(m))
		return
	}
	if f.Get("new_password") != f.Get("new_password2") {
		again(http.StatusBadRequest, "The two new passwords differ: type the same new password in both fields.")
		return
	}
	sess, err := s.svc.ChangePassword(r.Context(), rs.token, f.Get("old_password"), f.Get("new_password"), clientAddr(r))
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		again(s.statusOf(r, err))
		return
	}
	s.renewed(w, rs, sess)
	to := stagePath(rs.Stage)
	if to == "/" {
		to = "/?done=password"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
