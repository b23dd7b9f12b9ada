package control

import (
	"context"
	"io"
	"os"

	"github.com/clinicsms/smsd/ops"
)

// OpBackup asks for a signed snapshot of the store. It comes with one open
// file (SCM_RIGHTS), the backup's smsd.db, which the daemon writes: the
// person asking made it where they may write (a USB stick the sandboxed
// daemon cannot reach). A request whose Backup.Failure or Backup.Done is
// set carries no file: it reports a backup that failed in the command
// line, or one complete.
const OpBackup = "backup"

// BackupHandler is the service's backup operation. A Handler without it
// answers OpBackup with an error.
type BackupHandler interface {
	Backup(ctx context.Context, a ops.Actor, r ops.BackupRequest, dbOut io.Writer) (ops.BackupResult, error)
}

// backup serves OpBackup.
func (s *Server) backup(ctx context.Context, a ops.Actor, req Request, files []*os.File) Response {
	h, ok := s.h.(BackupHandler)
	if !ok {
		return Response{Error: ops.Errorf(ops.CodeInvalidRequest, "this smsd serve cannot make backups")}
	}
	if req.Backup == nil {
		return Response{Error: ops.Errorf(ops.CodeInvalidRequest, "backup: no request given")}
	}
	var w io.Writer
	switch {
	case req.Backup.Failure != "" || req.Backup.Done:
	case len(files) != 1:
		return Response{Error: ops.Errorf(ops.CodeInvalidRequest, "backup: the request must carry one open file (the backup's smsd.db)")}
	default:
		w = files[0]
	}
	r, err := h.Backup(ctx, a, *req.Backup, w)
	if err != nil {
		e := toError(err)
		s.log.Debug("control request failed", "op", req.Op, "code", e.Code)
		return Response{Error: e}
	}
	return Response{Backup: &r}
}

// Backup asks the daemon for a snapshot of the store written into dbOut (a
// file this process opened) and the signed manifest; with r.Failure set and
// dbOut nil it only reports a failed backup. It waits as long as a
// rotation may take.
func (c *Client) Backup(ctx context.Context, r ops.BackupRequest, dbOut *os.File) (ops.BackupResult, error) {
	cc := *c
	if cc.Timeout < rotateTimeout {
		cc.Timeout = rotateTimeout
	}
	var files []*os.File
	if dbOut != nil {
		files = []*os.File{dbOut}
	}
	resp, err := cc.do(ctx, Request{Op: OpBackup, Backup: &r}, files)
	if err != nil {
		return ops.BackupResult{}, err
	}
	if resp.Backup == nil {
		return ops.BackupResult{}, errMismatch("a backup")
	}
	return *resp.Backup, nil
}
