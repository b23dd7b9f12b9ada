package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"aead.dev/minisign"
)

// SignedHead is a chain head signed at a time: what the daemon signs daily
// and at each export, keeps in the store, and writes to the journal.
type SignedHead struct {
	Head
	At time.Time
	// Signature is the minisign signature (text form) of HeadMessage.
	Signature string
}

// HeadMessage is the message a head's signature covers.
func HeadMessage(h Head, at time.Time) []byte {
	return []byte("smsd audit head " + h.String() + " at " + canonicalTime(at).Format(TimeLayout) + "\n")
}

// SignHead signs h with key and keeps the signed head in the store (inside
// tx, with the action that signed it).
func SignHead(ctx context.Context, tx Execer, key minisign.PrivateKey, h Head, at time.Time) (SignedHead, error) {
	at = canonicalTime(at)
	msg := HeadMessage(h, at)
	sig := minisign.SignWithComments(key, msg, strings.TrimSpace(string(msg)), "smsd audit head")
	sh := SignedHead{Head: h, At: at, Signature: string(sig)}
	if _, err := tx.ExecContext(ctx, "INSERT INTO audit_heads (seq, hash, signed_at, signature) VALUES (?, ?, ?, ?)",
		h.Seq, h.Hash[:], at.UnixMilli(), sh.Signature); err != nil {
		return SignedHead{}, fmt.Errorf("keep the signed audit head: %w", err)
	}
	return sh, nil
}

// Heads lists the signed heads kept in the store, oldest first.
func Heads(ctx context.Context, q Querier) ([]SignedHead, error) {
	rows, err := q.QueryContext(ctx, "SELECT seq, hash, signed_at, signature FROM audit_heads ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("read the signed audit heads: %w", err)
	}
	defer rows.Close()
	var out []SignedHead
	for rows.Next() {
		var sh SignedHead
		var hash []byte
		var at int64
		if err := rows.Scan(&sh.Seq, &hash, &at, &sh.Signature); err != nil {
			return nil, err
		}
		copy(sh.Hash[:], hash)
		sh.At = time.UnixMilli(at).UTC()
		out = append(out, sh)
	}
	return out, rows.Err()
}

// VerifyHead checks a signed head's signature under any of keys.
func VerifyHead(sh SignedHead, keys []minisign.PublicKey) bool {
	msg := HeadMessage(sh.Head, sh.At)
	for _, k := range keys {
		if minisign.Verify(k, msg, []byte(sh.Signature)) {
			return true
		}
	}
	return false
}

// ErrHeadMismatch: the log disagrees with a head signed earlier.
var ErrHeadMismatch = errors.New("the audit log disagrees with a head signed earlier")

// CheckHeads verifies the whole log (Check) and then every signed head in
// the store, and any given from outside the box (a head from the journal or
// an export): each must be signed by one of keys and name a row the log
// still has, with the same hash. A log cut short or rewritten since fails
// here even when its own chain holds.
func CheckHeads(ctx context.Context, q Querier, keys []minisign.PublicKey, outside ...SignedHead) (Head, int, error) {
	head, err := Check(ctx, q)
	if err != nil {
		return head, 0, err
	}
	heads, err := Heads(ctx, q)
	if err != nil {
		return head, 0, err
	}
	heads = append(heads, outside...)
	for _, sh := range heads {
		if !VerifyHead(sh, keys) {
			return head, 0, fmt.Errorf("%w: the head of row %d signed at %s has no valid signature by the audit keys", ErrHeadMismatch, sh.Seq, sh.At.Format(TimeLayout))
		}
		if sh.Seq > head.Seq {
			return head, 0, fmt.Errorf("%w: a head signed at %s names row %d, but the log ends at row %d: it was cut short", ErrHeadMismatch, sh.At.Format(TimeLayout), sh.Seq, head.Seq)
		}
		if sh.Seq == 0 {
			continue
		}
		var hash []byte
		if err := q.QueryRowContext(ctx, "SELECT hash FROM audit_log WHERE seq = ?", sh.Seq).Scan(&hash); err != nil {
			return head, 0, fmt.Errorf("%w: row %d, signed at %s, is gone", ErrHeadMismatch, sh.Seq, sh.At.Format(TimeLayout))
		}
		if string(hash) != string(sh.Hash[:]) {
			return head, 0, fmt.Errorf("%w: row %d is not the row signed at %s: the log was rewritten from there or before", ErrHeadMismatch, sh.Seq, sh.At.Format(TimeLayout))
		}
	}
	return head, len(heads), nil
}
