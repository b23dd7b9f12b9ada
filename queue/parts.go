package queue

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Parts of concatenated inbound messages (23.040 9.2.3.24.1) wait here for
// their siblings, sealed, instead of on the SIM: a SIM holds some 30
// messages, and parts that never complete (a spoofed sender's orphan first
// parts) would fill it for the whole reassembly timeout, while the network
// holds every new message back, a patient's STOP included (24.011 memory
// capacity exceeded). Here a flood costs rows, not SIM slots.
//
// The modem saves each part as it arrives (AddPart) and only then deletes
// it from the SIM or acknowledges it; the reassembly reads the parts back
// (Parts) after a restart; AddInboundFromParts stores the message and
// deletes its parts in one transaction (DeleteParts is for parts that need
// no message: late duplicates, undecodable ones).

// partsMigration is the schema step that creates inbound_parts: the sealed
// TPDU of each part, the modem (of a pool) that received it, a blind index
// of what groups the parts of one message (sender, its type of number,
// reference and total), and when it came.
const partsMigration = `CREATE TABLE inbound_parts (
		id          INTEGER PRIMARY KEY,
		modem_id    TEXT    NOT NULL DEFAULT '',
		group_index BLOB    NOT NULL,
		pdu_sealed  BLOB    NOT NULL,
		received_at INTEGER NOT NULL
	);
	CREATE INDEX inbound_parts_modem ON inbound_parts (modem_id, received_at);`

// InboundPart is one received part of a concatenated message, kept until
// its message is complete or timed out.
type InboundPart struct {
	ID         int64
	ModemID    string
	Group      []byte // blind index of sender, reference and total
	TPDU       []byte // the SMS-DELIVER as received, without the SMSC field
	ReceivedAt time.Time
}

// PartGroup is the blind index AddPart files a part under: parts of one
// message (23.040 9.2.3.24.1: same sender, reference and total) share it,
// and it shows neither the number nor the reference.
func (s *Store) PartGroup(from string, ton byte, ref uint16, total int) []byte {
	return s.idemIndexes(fmt.Sprintf("inbound-part\x00%s\x00%d\x00%d\x00%d", from, ton, ref, total))[0]
}

// AddPart stores one part that modem modemID received, sealed, and returns
// its id. It is committed when AddPart returns nil: only then may the
// modem delete the part from the SIM.
func (s *Store) AddPart(ctx context.Context, modemID string, group, tpdu []byte, receivedAt time.Time) (int64, error) {
	if len(tpdu) == 0 || len(group) == 0 {
		return 0, fmt.Errorf("add inbound part: empty PDU or group")
	}
	if receivedAt.IsZero() {
		receivedAt = s.now()
	}
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if id, err = nextID(ctx, tx, "inbound_parts"); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO inbound_parts (id, modem_id, group_index, pdu_sealed, received_at) VALUES (?, ?, ?, ?, ?)",
			id, clip(modemID), group, s.seal(tpdu, "inbound_parts", "pdu_sealed", id), ms(receivedAt))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("add inbound part: %w", err)
	}
	return id, nil
}

// Parts returns the parts modem modemID received that wait for their
// siblings, oldest first.
func (s *Store) Parts(ctx context.Context, modemID string) ([]InboundPart, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id, modem_id, group_index, pdu_sealed, received_at FROM inbound_parts WHERE modem_id = ? ORDER BY received_at, id", clip(modemID))
	if err != nil {
		return nil, fmt.Errorf("list inbound parts: %w", err)
	}
	defer rows.Close()
	var out []InboundPart
	for rows.Next() {
		var p InboundPart
		var sealed []byte
		var recv int64
		if err := rows.Scan(&p.ID, &p.ModemID, &p.Group, &sealed, &recv); err != nil {
			return nil, err
		}
		b, err := s.open(sealed, "inbound_parts", "pdu_sealed", p.ID)
		if err != nil {
			return nil, fmt.Errorf("inbound part %d: %w", p.ID, err)
		}
		p.TPDU, p.ReceivedAt = []byte(b), fromMS(recv)
		out = append(out, p)
	}
	return out, rows.Err()
}

// PartsWaiting counts the parts waiting for their siblings.
func (s *Store) PartsWaiting(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM inbound_parts").Scan(&n)
	return n, err
}

// DeleteParts deletes parts whose message was stored (or handed on
// incomplete) in one transaction. Ids already gone are no error.
func (s *Store) DeleteParts(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return deletePartsTx(ctx, tx, ids) }); err != nil {
		return fmt.Errorf("delete inbound parts: %w", err)
	}
	return nil
}

// deletePartsTx deletes the parts ids in tx.
func deletePartsTx(ctx context.Context, tx *sql.Tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	q := "DELETE FROM inbound_parts WHERE id IN (?" + strings.Repeat(", ?", len(ids)-1) + ")"
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}
