package queue

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/clinicsms/smsd/audit"
)

// migrations[i] takes the schema from user_version i to i+1. Forward only:
// never edit a released step, append a new one. Each runs in its own
// transaction together with the user_version bump.
var migrations = []string{
	// 1: keys, outgoing messages and their parts, settings.
	`CREATE TABLE data_keys (
		gen        INTEGER PRIMARY KEY,
		wrapped    BLOB    NOT NULL,
		created_at INTEGER NOT NULL
	);
	CREATE TABLE messages (
		id              INTEGER PRIMARY KEY,
		state           TEXT    NOT NULL CHECK (state IN ('queued','sending','sent','delivered','undelivered','failed','uncertain','cancelled')),
		to_sealed       BLOB,
		to_index        BLOB,
		text_sealed     BLOB,
		idem_index      BLOB UNIQUE,
		created_at      INTEGER NOT NULL,
		send_at         INTEGER NOT NULL,
		next_attempt_at INTEGER NOT NULL,
		due_at          INTEGER NOT NULL,
		updated_at      INTEGER NOT NULL,
		attempts        INTEGER NOT NULL DEFAULT 0,
		last_error      TEXT    NOT NULL DEFAULT '',
		reference       INTEGER NOT NULL DEFAULT 0,
		parts_total     INTEGER NOT NULL DEFAULT 0,
		modem_id        TEXT    NOT NULL DEFAULT '',
		created_by      TEXT    NOT NULL DEFAULT '',
		purged_at       INTEGER
	);
	CREATE INDEX messages_due ON messages (state, due_at);
	CREATE INDEX messages_created ON messages (created_at);
	CREATE INDEX messages_to ON messages (to_index);
	CREATE TABLE message_parts (
		message_id  INTEGER NOT NULL REFERENCES messages (id),
		seq         INTEGER NOT NULL,
		total       INTEGER NOT NULL,
		mr          INTEGER NOT NULL,
		accepted_at INTEGER NOT NULL,
		report      TEXT    NOT NULL DEFAULT '',
		reported_at INTEGER,
		PRIMARY KEY (message_id, seq)
	) WITHOUT ROWID;
	CREATE INDEX message_parts_mr ON message_parts (mr, accepted_at);
	CREATE TABLE settings (
		id           INTEGER PRIMARY KEY,
		key          TEXT    NOT NULL UNIQUE,
		value_sealed BLOB    NOT NULL,
		updated_at   INTEGER NOT NULL
	);`,
	// 2: inbound messages and opt-outs.
	`CREATE TABLE inbound (
		id                  INTEGER PRIMARY KEY,
		from_sealed         BLOB,
		from_index          BLOB,
		text_sealed         BLOB,
		raw_sealed          BLOB,
		decode_error_sealed BLOB,
		received_at         INTEGER NOT NULL,
		sent_at             INTEGER NOT NULL,
		reply_to            INTEGER REFERENCES messages (id),
		incomplete          INTEGER NOT NULL DEFAULT 0,
		purged_at           INTEGER
	);
	CREATE INDEX inbound_received ON inbound (received_at);
	CREATE TABLE optouts (
		id            INTEGER PRIMARY KEY,
		number_index  BLOB    NOT NULL UNIQUE,
		number_sealed BLOB    NOT NULL,
		created_at    INTEGER NOT NULL,
		source        TEXT    NOT NULL DEFAULT ''
	);`,
	// 3: staff accounts and message templates.
	`CREATE TABLE users (
		id              INTEGER PRIMARY KEY,
		username        TEXT    NOT NULL UNIQUE COLLATE NOCASE,
		name_sealed     BLOB,
		role            TEXT    NOT NULL CHECK (role IN ('admin','staff')),
		password_sealed BLOB    NOT NULL,
		totp_sealed     BLOB,
		disabled        INTEGER NOT NULL DEFAULT 0,
		break_glass     INTEGER NOT NULL DEFAULT 0,
		failed_logins   INTEGER NOT NULL DEFAULT 0,
		locked_until    INTEGER NOT NULL DEFAULT 0,
		created_at      INTEGER NOT NULL,
		updated_at      INTEGER NOT NULL
	);
	CREATE TABLE templates (
		id          INTEGER PRIMARY KEY,
		name        TEXT    NOT NULL UNIQUE,
		body_sealed BLOB    NOT NULL,
		created_at  INTEGER NOT NULL,
		updated_at  INTEGER NOT NULL
	);`,
	// 4: inbound de-duplication. The modem deletes a received SMS from its
	// storage only after AddInbound committed; if smsd dies in between, the
	// same SMS is read again at the next start and must not appear twice.
	`ALTER TABLE inbound ADD COLUMN dedupe_index BLOB;
	CREATE UNIQUE INDEX inbound_dedupe ON inbound (dedupe_index);`,
	// 5: the audit trail, append-only (package audit). Retention never
	// touches it: HIPAA wants it kept six years.
	audit.Schema,
	// 6: row integrity (integrity.go): a version and a tag on every row a
	// decision rests on, and a sealed digest per table. The tags need the
	// key, so Open computes them for existing rows (tagExisting).
	`ALTER TABLE users ADD COLUMN rv INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE users ADD COLUMN tag BLOB;
	ALTER TABLE messages ADD COLUMN rv INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE messages ADD COLUMN tag BLOB;
	ALTER TABLE optouts ADD COLUMN rv INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE optouts ADD COLUMN tag BLOB;
	ALTER TABLE settings ADD COLUMN rv INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE settings ADD COLUMN tag BLOB;
	CREATE TABLE row_digests (
		tbl    TEXT PRIMARY KEY,
		sealed BLOB NOT NULL
	);`,
	// 7: parts of concatenated inbound messages wait here, sealed, not on
	// the SIM (parts.go).
	partsMigration,
	// 8: web sessions and each account's sign-in state (sessions.go).
	sessionsMigration,
	// 9: the front desk's work (issue 14): who marked a received message
	// handled and when, and the JSON API's tokens (work.go, tokens.go).
	workMigration,
	// 10: key custody (issue 16, keymove.go): extra wraps of each data key
	// generation beside data_keys.wrapped — 'pending' (a key move under
	// way, so that a crash leaves the old or the new source working) and
	// 'recovery' (the recovery code's wrap) — and the recovery code's
	// public key, sealed so that it cannot be swapped for another.
	keyCustodyMigration,
	// 11: reminders (issue 15, appointments.go): appointments, imports
	// and their saved column mappings, the link of a reminder (a message)
	// and of a reply to its appointment, templates per language.
	remindMigration,
	// 12: messages_due holds queued messages only (issue 11, write cost).
	// Claim and NextDue ask for state = 'queued' alone; every other
	// lookup by state uses messages_state (9). An entry per message in
	// any state made each claim and each mark-sent move an entry in this
	// index as well as in messages_state: BenchmarkClaimMarkSent wrote
	// ~70 KB per op, ~57 KB with this index partial.
	`DROP INDEX messages_due;
	CREATE INDEX messages_due ON messages (state, due_at) WHERE state = 'queued';`,
}

// SchemaVersion is the user_version this build of smsd writes.
var SchemaVersion = len(migrations)

// sealedColumns lists every sealed column, for key rotation and the
// purge: table → columns.
var sealedColumns = []struct {
	table   string
	columns []string
}{
	{"messages", []string{"to_sealed", "text_sealed"}},
	{"settings", []string{"value_sealed"}},
	{"inbound", []string{"from_sealed", "text_sealed", "raw_sealed", "decode_error_sealed"}},
	{"optouts", []string{"number_sealed"}},
	{"users", []string{"name_sealed", "password_sealed", "totp_sealed"}},
	{"templates", []string{"body_sealed"}},
	{"inbound_parts", []string{"pdu_sealed"}},
	{"sessions", []string{"addr_sealed", "pending_sealed"}},
	{"user_auth", []string{"last_login_addr_sealed", "recovery_sealed"}},
	{"recovery_keys", []string{"pub_sealed"}},
	{"appointments", []string{"name_sealed", "phone_sealed", "provider_sealed", "location_sealed"}},
	{"imports", []string{"digest_sealed", "file_name_sealed"}},
}

// migrate brings the database on conn from its user_version up to target,
// one transaction per step.
func migrate(ctx context.Context, db *sql.DB, target int) error {
	for {
		var v int
		if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if v >= target {
			return nil
		}
		if err := inTx(ctx, db, func(tx *sql.Tx) error {
			// Re-read inside the write lock: another process may have migrated.
			var cur int
			if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
				return err
			}
			if cur != v {
				return nil
			}
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return fmt.Errorf("step %d→%d: %w", v, v+1, err)
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1))
			return err
		}); err != nil {
			return fmt.Errorf("migrate schema from version %d: %w", v, err)
		}
	}
}
