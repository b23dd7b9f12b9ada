package audit

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"aead.dev/minisign"
)

// Header is the first row of an export.
var Header = []string{"seq", "time", "actor", "role", "client", "action", "object_type", "object_id", "outcome", "detail", "prev_hash", "hash"}

// Summary is what an export's signature vouches for, in its trusted
// comment: the range asked for, how many rows, the first and last sequence
// and hash, and the whole chain's head when it was exported.
type Summary struct {
	From, To    time.Time // zero: unbounded
	Rows        int64
	First, Last int64
	LastHash    [32]byte
	ChainHead   Head
}

// TrustedComment is the summary as the signature's trusted comment: one
// line of key=value words, which `minisign -V` prints.
func (s Summary) TrustedComment() string {
	t := func(x time.Time) string {
		if x.IsZero() {
			return "-"
		}
		return canonicalTime(x).Format(TimeLayout)
	}
	return fmt.Sprintf("smsd audit export from=%s to=%s rows=%d first=%d last=%d last_hash=%s chain_head=%s",
		t(s.From), t(s.To), s.Rows, s.First, s.Last, hex.EncodeToString(s.LastHash[:]), s.ChainHead)
}

// ParseTrustedComment reads a TrustedComment back.
func ParseTrustedComment(c string) (Summary, error) {
	var s Summary
	rest, ok := strings.CutPrefix(c, "smsd audit export ")
	if !ok {
		return s, fmt.Errorf("the signature's trusted comment is not an smsd audit export's: %q", c)
	}
	seen := 0
	for _, f := range strings.Fields(rest) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return s, fmt.Errorf("trusted comment: %q is not key=value", f)
		}
		var err error
		switch k {
		case "from", "to":
			var t time.Time
			if v != "-" {
				t, err = time.Parse(TimeLayout, v)
			}
			if k == "from" {
				s.From = t
			} else {
				s.To = t
			}
		case "rows":
			s.Rows, err = strconv.ParseInt(v, 10, 64)
		case "first":
			s.First, err = strconv.ParseInt(v, 10, 64)
		case "last":
			s.Last, err = strconv.ParseInt(v, 10, 64)
		case "last_hash":
			var b []byte
			if b, err = hex.DecodeString(v); err == nil && len(b) != 32 {
				err = errors.New("not 32 bytes")
			}
			copy(s.LastHash[:], b)
		case "chain_head":
			s.ChainHead, err = ParseHead(v)
		default:
			continue
		}
		if err != nil {
			return s, fmt.Errorf("trusted comment: %s: %w", k, err)
		}
		seen++
	}
	if seen != 7 {
		return s, fmt.Errorf("trusted comment %q lacks fields of an smsd audit export", c)
	}
	return s, nil
}

// Cells a spreadsheet would run as a formula start with one of these
// (OWASP, "CSV injection"). An export prefixes such a cell, and any cell
// that starts with the prefix itself, with one apostrophe: spreadsheets
// show the text as it is, and Restore removes exactly that one apostrophe,
// so verify recomputes each hash over the values the log holds.
const formulaStarts = "=+-@\t\r'"

// Neutralise makes a cell safe to open in a spreadsheet (see formulaStarts).
func Neutralise(s string) string {
	if s != "" && strings.IndexByte(formulaStarts, s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// Restore undoes Neutralise. A cell that a spreadsheet would run, or an
// apostrophe Neutralise would not have added, is an error: the file was
// changed after export.
func Restore(s string) (string, error) {
	if s == "" || strings.IndexByte(formulaStarts, s[0]) < 0 {
		return s, nil
	}
	if s[0] != '\'' {
		return "", fmt.Errorf("the cell %q is not neutralised (it starts with %q)", clip(s), s[:1])
	}
	if len(s) < 2 || strings.IndexByte(formulaStarts, s[1]) < 0 {
		return "", fmt.Errorf("the cell %q has an apostrophe the export did not add", clip(s))
	}
	return s[1:], nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func record(r Row) []string {
	return []string{strconv.FormatInt(r.Seq, 10), r.Time.Format(TimeLayout), Neutralise(r.Actor), Neutralise(r.Role),
		Neutralise(r.Client), Neutralise(r.Action), Neutralise(r.ObjectType), Neutralise(r.ObjectID), Neutralise(r.Outcome),
		Neutralise(r.Detail), hex.EncodeToString(r.PrevHash[:]), hex.EncodeToString(r.Hash[:])}
}

// WriteCSV streams the rows with from <= time < to to w as RFC 4180 CSV
// (UTF-8, CRLF line ends, a header row), cells neutralised, one row in
// memory at a time. head is the whole chain's head, for the summary; q
// should be a read transaction so that head and rows agree.
func WriteCSV(ctx context.Context, q Querier, w io.Writer, from, to time.Time) (Summary, error) {
	head, err := LastHead(ctx, q)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{From: from, To: to, ChainHead: head}
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	if err := cw.Write(Header); err != nil {
		return sum, err
	}
	err = Scan(ctx, q, from, to, func(r Row) error {
		if r.Seq > head.Seq {
			return nil // appended after the head was read
		}
		if sum.Rows == 0 {
			sum.First = r.Seq
		}
		sum.Rows++
		sum.Last, sum.LastHash = r.Seq, r.Hash
		return cw.Write(record(r))
	})
	if err != nil {
		return sum, err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return sum, fmt.Errorf("write the audit export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return sum, fmt.Errorf("write the audit export: %w", err)
	}
	return sum, nil
}

// ExportSigned writes the export to csvOut and its minisign signature
// (prehashed, as `minisign -S -H` makes; `minisign -V` checks it) to
// sigOut, the summary in the trusted comment. It reads the log once.
func ExportSigned(ctx context.Context, q Querier, csvOut, sigOut io.Writer, from, to time.Time, key minisign.PrivateKey) (Summary, error) {
	pr, pw := io.Pipe()
	type result struct {
		sum Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := WriteCSV(ctx, q, pw, from, to)
		pw.CloseWithError(err)
		done <- result{sum, err}
	}()
	mr := minisign.NewReader(pr)
	_, cerr := io.Copy(csvOut, mr)
	if cerr != nil {
		pr.CloseWithError(cerr)
	}
	res := <-done
	if res.err != nil {
		return res.sum, res.err
	}
	if cerr != nil {
		return res.sum, fmt.Errorf("write the audit export: %w", cerr)
	}
	sig := mr.SignWithComments(key, res.sum.TrustedComment(), "signature from smsd audit export")
	if _, err := sigOut.Write(sig); err != nil {
		return res.sum, fmt.Errorf("write the export's signature: %w", err)
	}
	return res.sum, nil
}

// VerifyError says what is wrong with an export; Row is the first row that
// breaks (0 when the fault is not in one row).
type VerifyError struct {
	Row    int64 // sequence of the row, when known
	Line   int   // line of the file
	Reason string
}

func (e *VerifyError) Error() string {
	switch {
	case e.Row > 0:
		return fmt.Sprintf("line %d (row %d): %s", e.Line, e.Row, e.Reason)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return e.Reason
}

// VerifyCSV checks an export read from r against its signature: the
// signature under one of keys, the header, each row's neutralisation and
// hash, the chain from row to row, and the row count, first and last rows
// the trusted comment vouches for. It names the first row that breaks; in a
// file that lacks rows at its start or end (cut at a row boundary), the
// first row missing.
func VerifyCSV(r io.Reader, signature []byte, keys []minisign.PublicKey) (Summary, error) {
	var sig minisign.Signature
	if err := sig.UnmarshalText(signature); err != nil {
		return Summary{}, &VerifyError{Reason: fmt.Sprintf("the signature file is not a minisign signature: %v", err)}
	}
	claim, err := ParseTrustedComment(sig.TrustedComment)
	if err != nil {
		return Summary{}, &VerifyError{Reason: err.Error()}
	}
	mr := minisign.NewReader(r)
	cr := csv.NewReader(mr)
	cr.FieldsPerRecord = len(Header)
	cr.ReuseRecord = true
	var chain Chain
	var firstErr error
	line := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			ve := &VerifyError{Line: line, Reason: fmt.Sprintf("not a well-formed row: %v", err)}
			// A row cut short (or given a cell too many) still reads, with
			// its sequence first: name it.
			if errors.Is(err, csv.ErrFieldCount) && line > 1 && len(rec) > 0 {
				if seq, err := strconv.ParseInt(rec[0], 10, 64); err == nil && seq > 0 {
					ve.Row = seq
				}
			}
			firstErr = ve
			break
		}
		if line == 1 {
			if strings.Join(rec, ",") != strings.Join(Header, ",") {
				firstErr = &VerifyError{Line: 1, Reason: "the header is not an smsd audit export's"}
				break
			}
			continue
		}
		row, err := parseRecord(rec)
		if err != nil {
			firstErr = &VerifyError{Line: line, Row: row.Seq, Reason: err.Error()}
			break
		}
		if err := chain.Add(row); err != nil {
			var be *BreakError
			if errors.As(err, &be) {
				err = errors.New(be.Reason)
			}
			firstErr = &VerifyError{Line: line, Row: row.Seq, Reason: err.Error()}
			break
		}
	}
	if line == 0 {
		firstErr = &VerifyError{Line: 1, Reason: "the file is empty: it has no header"}
	}
	io.Copy(io.Discard, mr)
	signed := false
	for _, k := range keys {
		if mr.Verify(k, signature) {
			signed = true
			break
		}
	}
	got := Summary{From: claim.From, To: claim.To, Rows: chain.Count(), Last: chain.Head().Seq, LastHash: chain.Head().Hash, ChainHead: claim.ChainHead}
	if chain.Count() > 0 {
		got.First = chain.Head().Seq - chain.Count() + 1
	}
	switch {
	case firstErr != nil && !signed:
		return got, fmt.Errorf("%w; and the signature does not match the file", firstErr)
	case firstErr != nil:
		return got, firstErr
	case got.Rows != claim.Rows || got.First != claim.First || got.Last != claim.Last || got.LastHash != claim.LastHash:
		// Checked before the signature: a file cut at a row boundary has
		// no broken row and fails the signature too, and its count says
		// more than the signature alone.
		ve := &VerifyError{Reason: fmt.Sprintf("the file has %d rows (%d to %d), the signature vouches for %d (%d to %d)", got.Rows, got.First, got.Last, claim.Rows, claim.First, claim.Last)}
		ve.Row, ve.Line = firstMissing(got, claim, line)
		if !signed {
			ve.Reason += "; and the signature does not match the file"
		}
		return got, ve
	case !signed:
		return got, &VerifyError{Reason: "the signature does not match the file under the audit public key(s): the file was changed after export, or it was signed by another key"}
	}
	return got, nil
}

// firstMissing names the first row the signature vouches for that the
// file lacks, and the line it would be on (lines: how many the file has),
// when the file holds fewer rows than vouched for, cut at the start or at
// the end; 0, 0 otherwise.
func firstMissing(got, claim Summary, lines int) (int64, int) {
	switch {
	case claim.Rows == 0 || got.Rows >= claim.Rows:
		return 0, 0
	case got.Rows == 0 || got.First > claim.First:
		return claim.First, 2
	case got.Last < claim.Last:
		return got.Last + 1, lines + 1
	}
	return 0, 0
}

func parseRecord(rec []string) (Row, error) {
	var r Row
	var err error
	if r.Seq, err = strconv.ParseInt(rec[0], 10, 64); err != nil || r.Seq <= 0 {
		return Row{}, fmt.Errorf("seq %q is not a row number", clip(rec[0]))
	}
	if r.Time, err = time.Parse(TimeLayout, rec[1]); err != nil {
		return r, fmt.Errorf("time %q is not RFC 3339 with milliseconds", clip(rec[1]))
	}
	fields := []*string{&r.Actor, &r.Role, &r.Client, &r.Action, &r.ObjectType, &r.ObjectID, &r.Outcome, &r.Detail}
	for i, f := range fields {
		v, err := Restore(rec[2+i])
		if err != nil {
			return r, fmt.Errorf("%s: %w", Header[2+i], err)
		}
		*f = v
	}
	for i, dst := range []*[32]byte{&r.PrevHash, &r.Hash} {
		b, err := hex.DecodeString(rec[10+i])
		if err != nil || len(b) != 32 {
			return r, fmt.Errorf("%s %q is not a SHA-256 in hex", Header[10+i], clip(rec[10+i]))
		}
		copy(dst[:], b)
	}
	return r, nil
}
