// Package queue is smsd's encrypted SQLite store: outgoing messages and their
// state machine, the schedule, inbound messages, opt-outs, users, templates
// and settings.
//
// # Files and SQLite settings
//
// One database file (conventionally <data-dir>/smsd.db, plus its -wal and
// -shm) opened with journal_mode=WAL, synchronous=FULL, secure_delete=ON,
// foreign_keys=ON and a busy timeout. All writes go through one connection
// (so goroutines of one process queue in Go instead of spinning on
// SQLITE_BUSY) and every state change is one BEGIN IMMEDIATE transaction;
// other processes (`smsd send` talking to the store directly) wait on the
// busy timeout. The schema is versioned by PRAGMA user_version and migrated
// forward only, each step in its own transaction.
//
// # What is sealed
//
// Every PHI field (numbers, message texts, inbound texts and raw PDUs,
// decode errors, staff display names, password hashes, TOTP secrets,
// template bodies, settings) is sealed with crypt.Sealer, bound to its table,
// column and row id. Ids, states, times, counters, modem ids and error codes
// are in clear, which is what scheduling, listing and counting need. Numbers
// are looked up by keyed blind index; idempotency keys by a keyed hash.
//
// # Keys
//
// See KeySource for where the key-encryption key comes from. The data key is
// stored wrapped in the data_keys table; Open unwraps it before writing
// anything, so a wrong key leaves the files untouched.
//
// # A message's life
//
//	queued ──Claim──▶ sending ──MarkSent──▶ sent ──RecordStatusReport──▶ delivered | undelivered
//	   ▲                 │ MarkRetry (attempts left) / Release → queued
//	   │                 │ MarkRetry (attempts exhausted) / MarkFailed → failed
//	   └──── Resend ─────┤ MarkUncertain, or store reopened while sending → uncertain (Resend or Dismiss)
//	queued ──Cancel──▶ cancelled;  queued ──Claim finds the number opted out──▶ failed
//
// RecordPart records each part the SMSC accepted while sending;
// RecordLastPart records the part that completes a message and does
// MarkSent's move in the same transaction (the dispatcher's way).
// Resend applies to uncertain, failed and undelivered messages; Dismiss
// turns uncertain into failed. Anything else is ErrInvalidTransition.
package queue
