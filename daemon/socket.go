package daemon

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"syscall"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/control"
)

// The control socket serves the reminder operations (control.remind) from
// the Service itself.
var _ control.RemindHandler = (*Service)(nil)

// socketDir makes sure the control socket's directory exists when it is
// not the data directory (the packaged /run/smsd, which systemd's
// RuntimeDirectory= makes before the daemon starts): it creates it 0750 if
// it can, and says how to make it otherwise. own reports that the
// directory is the socket's alone (the packaged one, or made here), so
// that shareSocket may open it to the admin group; a directory such as
// /run or /tmp named by control_socket is never touched.
func (s *Service) socketDir() (own bool, err error) {
	dir := filepath.Clean(filepath.Dir(s.cfg.SocketPath()))
	if dir == filepath.Clean(s.cfg.DataDir) {
		return false, nil
	}
	err = os.Mkdir(dir, 0o750)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrExist):
		return dir == filepath.Dir(config.PackagedSocket), nil
	}
	return false, fmt.Errorf("control socket directory %s: %w (the unit's RuntimeDirectory=smsd makes it; outside systemd: install -d -m 0750 -o smsd %s)", dir, err, dir)
}

// shareSocket opens the control socket to the members of admin_group: the
// socket 0660 in that group and, when the socket has a directory of its own
// (ownDir: not the data directory, which stays 0700), that directory 0750
// in the group, so that they can reach it and nobody else can. Without the group
// (not created, or the daemon not a member) only root and the daemon's
// user can connect, and the log says why.
func (s *Service) shareSocket(srv *control.Server, ownDir bool) {
	name := s.cfg.AdminGroup
	if name == "" {
		return
	}
	if err := srv.AllowGroup(name); err != nil {
		var unknown user.UnknownGroupError
		if errors.As(err, &unknown) {
			// A box without the group (a trial outside the package).
			s.log.Info("control socket: only root and this user can use it", "err", err)
		} else {
			s.log.Warn("control socket: only root and this user can use it", "err", err)
		}
		return
	}
	dir := filepath.Dir(srv.Path())
	if !ownDir {
		s.log.Info("control socket open to the admin group", "path", srv.Path(), "group", name)
		return
	}
	fi, err := os.Stat(srv.Path())
	if err != nil {
		return
	}
	gid := int(fi.Sys().(*syscall.Stat_t).Gid)
	if err := os.Chown(dir, -1, gid); err != nil {
		s.log.Warn("control socket: its directory stays closed to the admin group", "dir", dir, "err", err)
		return
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		s.log.Warn("control socket: its directory stays closed to the admin group", "dir", dir, "err", err)
		return
	}
	s.log.Info("control socket open to the admin group", "path", srv.Path(), "group", name)
}
