package pdu

import (
	"slices"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// DefaultReassemblyTimeout is how long the Reassembler waits for missing
// parts when Timeout is 0. Networks normally deliver all parts within
// seconds, but a handset that was off may get them hours apart; a day keeps
// such messages whole without holding fragments forever.
const DefaultReassemblyTimeout = 24 * time.Hour

// Reassembler joins the parts of concatenated messages: in any order,
// duplicates ignored, incomplete ones handed out by Expire after Timeout.
// Parts belong together when sender (number and type), reference and total
// agree (23.040 9.2.3.24.1). It is not safe for concurrent use. The zero value is ready.
//
// A UCS-2 character outside the BMP that a sender cut between two parts (the
// high surrogate ending one part, the low one starting the next) is joined
// back into one character; each part on its own shows U+FFFD for its half.
// Likewise a GSM-7 escape sequence cut after its escape (23.038 6.2.1.1):
// the escape ending one part is decoded with the septets of the next, so
// "€" arrives as "€", not as a space and an "e". Everything else is the
// parts' texts joined as each decoded on its own.
//
// A duplicate is ignored even when it arrives after its message was
// completed (an SC that missed the acknowledgement delivers the part again;
// TP-RD, 23.040 9.2.3.25, guards only the SC against repeated SUBMITs): the
// Reassembler remembers completed messages for Timeout, and a part equal to
// one of theirs (same sequence number, text, data and SCTS) is dropped and
// its key handed out by Discarded. A different part under the same key is a
// new message that reuses the reference, and is assembled as usual.
type Reassembler struct {
	// Timeout is how long after its first part an incomplete message is
	// kept, and how long a completed one is remembered to recognise late
	// duplicates; 0 means DefaultReassemblyTimeout.
	Timeout time.Duration

	pending   map[reassemblyKey]*partial
	done      map[reassemblyKey]*completed
	discarded []any
}

// completed is a message already handed out, kept to recognise late
// duplicates of its parts.
type completed struct {
	at    time.Time
	parts []*Deliver // index seq-1
}

// Assembled is a complete message, or an incomplete one that timed out.
type Assembled struct {
	// From is the sender of the parts.
	From Address
	// Text is the joined text of the parts present, in order.
	Text string
	// Timestamp is the SCTS of the first part (by sequence number) present.
	Timestamp time.Time
	// Parts is the total the message announced (1 for a single SMS).
	Parts int
	// Missing lists the 1-based parts that never came; empty when complete.
	Missing []int
	// Keys are the keys given to Add with the parts present (one per part,
	// duplicates included, in arrival order), so that the caller can delete
	// them from modem storage once the message is stored.
	Keys []any

	key reassemblyKey // where Add filed it: Reopen forgets it by this
}

type reassemblyKey struct {
	from  string
	ton   byte
	ref   uint16
	total int
}

type partial struct {
	first time.Time
	parts []*Deliver // index seq-1
	keys  []any
}

func (r *Reassembler) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultReassemblyTimeout
}

// Add gives the Reassembler one received part. A message without
// concatenation header is returned at once. A part completing its message
// returns (message, true); otherwise (nil, false) and the part is kept. A
// duplicate of a part still waiting (same sequence number again) is ignored
// except that its key is recorded in the message's Keys, so the caller can
// still delete it from modem storage. A duplicate of a part of a message
// already completed returns (nil, false) and its key goes to Discarded.
func (r *Reassembler) Add(d *Deliver, key any, now time.Time) (*Assembled, bool) {
	if d.Concat == nil || d.Concat.Total <= 1 || d.Concat.Seq < 1 || d.Concat.Seq > d.Concat.Total {
		// Not concatenated, or a header DecodeDeliver would not produce:
		// shown on its own rather than dropped.
		return &Assembled{From: d.From, Text: d.Text, Timestamp: d.Timestamp, Parts: 1, Keys: []any{key}}, true
	}
	if r.pending == nil {
		r.pending = make(map[reassemblyKey]*partial)
	}
	k := reassemblyKey{from: d.From.Number, ton: d.From.TON, ref: d.Concat.Ref, total: d.Concat.Total}
	p := r.pending[k]
	if c := r.done[k]; c != nil && p == nil {
		if now.Sub(c.at) < r.timeout() && samePart(c.parts[d.Concat.Seq-1], d) {
			if key != nil {
				r.discarded = append(r.discarded, key)
			}
			return nil, false
		}
		// Not a copy of what was handed out: a new message reusing the
		// reference (8-bit references wrap after 256 messages).
		delete(r.done, k)
	}
	if p == nil {
		p = &partial{first: now, parts: make([]*Deliver, d.Concat.Total)}
		r.pending[k] = p
	}
	p.keys = append(p.keys, key)
	if p.parts[d.Concat.Seq-1] == nil {
		p.parts[d.Concat.Seq-1] = d
	}
	for _, part := range p.parts {
		if part == nil {
			return nil, false
		}
	}
	delete(r.pending, k)
	if r.done == nil {
		r.done = make(map[reassemblyKey]*completed)
	}
	r.done[k] = &completed{at: now, parts: p.parts}
	a := p.assemble()
	a.key = k
	return a, true
}

// Reopen forgets that a was handed out, for a caller that could not store
// it (its handler failed) and keeps its parts to offer them again: without
// Reopen the parts offered again would be taken for late duplicates of a
// message already handed on, handed out by Discarded and deleted, and the
// message lost. Call it before any other Add. An incomplete message
// (Expire) was never remembered and needs no Reopen.
func (r *Reassembler) Reopen(a *Assembled) {
	if a != nil && a.Parts > 1 && len(a.Missing) == 0 {
		delete(r.done, a.key)
	}
}

// samePart reports whether b is a copy of the part a: a network repeating a
// delivery sends the same TPDU, so text, data and SCTS all agree.
func samePart(a, b *Deliver) bool {
	return a != nil && a.Text == b.Text && string(a.Data) == string(b.Data) && a.Timestamp.Equal(b.Timestamp)
}

// Discarded returns the keys of parts dropped as late duplicates of a
// completed message since the last call, and forgets them. The caller
// deletes them from modem storage: their message was already handed on.
func (r *Reassembler) Discarded() []any {
	k := r.discarded
	r.discarded = nil
	return k
}

// Expire returns the incomplete messages whose first part arrived more than
// Timeout before now, with Missing set, and forgets them. Nothing is dropped
// silently: the caller stores what came and marks it incomplete.
func (r *Reassembler) Expire(now time.Time) []*Assembled {
	var out []*Assembled
	for k, p := range r.pending {
		if now.Sub(p.first) >= r.timeout() {
			out = append(out, p.assemble())
			delete(r.pending, k)
		}
	}
	for k, c := range r.done {
		if now.Sub(c.at) >= r.timeout() {
			delete(r.done, k)
		}
	}
	slices.SortFunc(out, func(a, b *Assembled) int { return a.Timestamp.Compare(b.Timestamp) })
	return out
}

// Pending is the number of incomplete messages held (completed messages
// remembered for duplicate detection do not count).
func (r *Reassembler) Pending() int { return len(r.pending) }

func (p *partial) assemble() *Assembled {
	a := &Assembled{Parts: len(p.parts), Keys: p.keys}
	var out []byte
	var prev *Deliver // the part before this one, nil when missing
	for i, part := range p.parts {
		if part == nil {
			a.Missing = append(a.Missing, i+1)
			prev = nil
			continue
		}
		if a.Timestamp.IsZero() {
			a.From, a.Timestamp = part.From, part.Timestamp
		}
		text := part.Text
		const half = string(utf8.RuneError) // how decodeUCS2 shows each half
		if prev != nil && prev.split.tail != 0 && part.split.head != 0 &&
			strings.HasSuffix(string(out), half) && strings.HasPrefix(text, half) {
			out = out[:len(out)-len(half)]
			out = utf8.AppendRune(out, utf16.DecodeRune(rune(prev.split.tail), rune(part.split.head)))
			text = text[len(half):]
		}
		if prev != nil && prev.split.escTail && part.split.septets != nil && strings.HasSuffix(string(out), " ") {
			// The escape that ended the part before is the first septet
			// of this one's text: decode them together (23.038 6.2.1.1).
			out = out[:len(out)-1]
			text = decodeGSM7(append([]byte{gsm7Escape}, part.split.septets...))
		}
		out = append(out, text...)
		prev = part
	}
	a.Text = string(out)
	return a
}
