package ops

import "time"

// BackupRequest asks the service for a signed snapshot of the store (smsd
// backup). The command line makes the backup's directory and files; the
// service writes the database's snapshot into the file it is handed, and
// signs a manifest of every file. Neither carries PHI.
type BackupRequest struct {
	// Dir is the backup's directory as it will be named when complete
	// (for the audit row and smsd status; a path, no PHI).
	Dir string `json:"dir"`
	// Config is the configuration file's content, which the command line
	// writes beside the snapshot; the manifest lists its size and hash.
	// Nil: no configuration file was readable, none is in the backup.
	Config []byte `json:"config,omitempty"`
	// Failure, when set, reports a backup that failed before or after the
	// snapshot (no backup place, a full stick): the service records it
	// (audit row, smsd status, journal) and makes no snapshot.
	Failure string `json:"failure,omitempty"`
	// Done, when set, reports that the backup in Dir is complete: renamed
	// into place and read back. Only then does smsd status call it good (a
	// command line killed after the snapshot leaves no good backup behind).
	Done bool `json:"done,omitempty"`
}

// BackupResult is a snapshot made: the manifest to write as
// manifest.json and its signature (manifest.json.minisig).
type BackupResult struct {
	Manifest  []byte    `json:"manifest"`
	Signature []byte    `json:"signature"`
	CreatedAt time.Time `json:"created_at"`
	// Bytes is the snapshot's size.
	Bytes     int64  `json:"bytes"`
	AuditHead string `json:"audit_head"`
	PublicKey string `json:"public_key"`
}

// BackupStatus is the last backup's outcome, as smsd status shows it.
type BackupStatus struct {
	// Configured: backup_dir is set (the nightly timer has a place).
	Configured bool `json:"configured"`
	// Place is backup_dir.
	Place  string    `json:"place,omitempty"`
	LastAt time.Time `json:"last_at,omitzero"`
	OK     bool      `json:"ok"`
	Error  string    `json:"error,omitempty"`
	// LastDir is the last backup written; LastOKAt when it was made.
	LastDir  string    `json:"last_dir,omitempty"`
	LastOKAt time.Time `json:"last_ok_at,omitzero"`
}
