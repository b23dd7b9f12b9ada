package web

import (
	"net/http"

	"github.com/clinicsms/smsd/ops"
)

// homeData is the home page's: the appliance's status, which carries no
// PHI (counts, modem health, no number and no text).
type homeData struct {
	Status ops.Status
}

// home shows the appliance's state.
func (s *Server) home(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	st, err := s.svc.Status(r.Context(), rs.Actor)
	if err != nil {
		s.fail(w, r, rs, err)
		return
	}
	p := pageData{Title: "Home", Data: homeData{Status: st}}
	if r.URL.Query().Get("done") == "password" {
		p.Notice = "Your password is changed. Your other sessions were signed out."
	}
	s.show(w, r, rs, http.StatusOK, "home", p)
}
