package remind

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxImportBytes is the largest CSV file ReadCSV reads: 10 MB, some
// 100,000 appointments, far more than a clinic's day; a bigger file is
// more likely a wrong file than a list.
const MaxImportBytes = 10 << 20

// Errors ReadCSV wraps, for callers that answer each differently.
var (
	// ErrFileTooLarge: more than MaxImportBytes.
	ErrFileTooLarge = errors.New("the file is too large")
	// ErrNotText: not text smsd can read (invalid UTF-8 or UTF-16, a NUL
	// byte, a spreadsheet workbook instead of CSV, empty).
	ErrNotText = errors.New("the file is not readable CSV text")
)

// Table is a CSV file as read: how it was written and its rows as text.
type Table struct {
	// Encoding is "UTF-8", "UTF-8 with BOM", "UTF-16LE" or "UTF-16BE".
	Encoding string
	// Delimiter is ",", ";" or "\t".
	Delimiter string
	// Header is the first row, each cell trimmed of spaces.
	Header []string
	// Records are the data rows in file order, rows with every cell empty
	// left out.
	Records []Record
}

// Record is one data row.
type Record struct {
	// Line is the row's first line in the file, from 1 (a quoted cell may
	// span lines).
	Line int
	// Fields are its cells as written (not trimmed); a row may have fewer
	// or more than the header.
	Fields []string
}

// delimiters ReadCSV recognises, in the order it prefers them on a tie.
var delimiters = []rune{',', ';', '\t'}

// ReadCSV reads a day's list as real exports write it: UTF-8 with or without
// a byte-order mark, UTF-16 little- or big-endian (with a BOM, or without one
// when the zero bytes give it away, as Excel's "Unicode text" does), comma,
// semicolon or tab between cells (found from the first rows; an Excel
// "sep=;" first line is honoured), CRLF, LF or old-Mac CR line ends, quoted
// cells with delimiters, quotes ("") and line breaks inside, stray quotes in
// unquoted cells, and rows shorter or longer than the header. It refuses,
// with an error that says what to do, a file over MaxImportBytes
// (ErrFileTooLarge), and one that is not text (ErrNotText): invalid UTF-8 or
// UTF-16 (naming the line), a NUL byte, an Excel workbook, an empty file.
func ReadCSV(data []byte) (Table, error) {
	if len(data) > MaxImportBytes {
		return Table{}, fmt.Errorf("%w: %d bytes, more than the %d (10 MB) an import may have; split the list into smaller files", ErrFileTooLarge, len(data), MaxImportBytes)
	}
	text, enc, err := decodeText(data)
	if err != nil {
		return Table{}, err
	}
	if strings.TrimSpace(text) == "" {
		return Table{}, fmt.Errorf("%w: the file is empty; export the day's list with a header row (name, phone, date, time)", ErrNotText)
	}
	if !strings.Contains(text, "\n") && strings.Contains(text, "\r") {
		text = strings.ReplaceAll(text, "\r", "\n") // classic Mac line ends
	}
	// Excel writes "sep=;" as a first line to name the delimiter.
	skipped := 0
	var delim rune
	if first, rest, ok := strings.Cut(text, "\n"); ok || first != "" {
		f := strings.TrimSpace(strings.TrimSuffix(first, "\r"))
		if len(f) == 5 && strings.EqualFold(f[:4], "sep=") {
			delim = rune(f[4])
			text = rest
			skipped = 1
		}
	}
	if delim == 0 {
		delim = sniffDelimiter(text)
	}
	if !strings.ContainsRune(string(delimiters), delim) {
		return Table{}, fmt.Errorf("%w: the first line asks for %q between cells; smsd reads comma, semicolon or tab", ErrNotText, string(delim))
	}
	t := Table{Encoding: enc, Delimiter: string(delim)}
	r := newReader(text, delim)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return Table{}, fmt.Errorf("%w: line %d: %v; check the quotes on that line", ErrNotText, pe.StartLine+skipped, pe.Err)
			}
			return Table{}, fmt.Errorf("%w: %v", ErrNotText, err)
		}
		line, _ := r.FieldPos(0)
		if blankRecord(rec) {
			continue
		}
		if t.Header == nil {
			t.Header = make([]string, len(rec))
			for i, h := range rec {
				t.Header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF"))
			}
			continue
		}
		t.Records = append(t.Records, Record{Line: line + skipped, Fields: rec})
	}
	if t.Header == nil {
		return Table{}, fmt.Errorf("%w: the file has no rows; export the day's list with a header row (name, phone, date, time)", ErrNotText)
	}
	return t, nil
}

func newReader(text string, delim rune) *csv.Reader {
	r := csv.NewReader(strings.NewReader(text))
	r.Comma = delim
	r.LazyQuotes = true    // O"Brien in an unquoted cell is a name, not an error
	r.FieldsPerRecord = -1 // ragged rows: missing cells are empty
	return r
}

func blankRecord(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// sniffDelimiter picks the delimiter that splits the header into the most
// cells and the first rows into as many as the header; comma when none
// splits anything (a one-column file, which Columns then refuses).
func sniffDelimiter(text string) rune {
	sample := text
	if len(sample) > 64<<10 {
		sample = sample[:64<<10]
	}
	best, bestCells, bestFit := ',', 1, -1.0
	for _, d := range delimiters {
		r := newReader(sample, d)
		var header, rows, fit int
		for rows < 20 {
			rec, err := r.Read()
			if err != nil {
				break
			}
			if header == 0 {
				header = len(rec)
				continue
			}
			rows++
			if len(rec) == header {
				fit++
			}
		}
		if header < 2 {
			continue
		}
		f := 1.0
		if rows > 0 {
			f = float64(fit) / float64(rows)
		}
		if f > bestFit || (f == bestFit && header > bestCells) {
			best, bestCells, bestFit = d, header, f
		}
	}
	return best
}

// decodeText turns the file's bytes into UTF-8 text and names its encoding.
func decodeText(data []byte) (string, string, error) {
	switch {
	case len(data) == 0:
		return "", "", fmt.Errorf("%w: the file is empty; export the day's list with a header row (name, phone, date, time)", ErrNotText)
	case bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("\xD0\xCF\x11\xE0")):
		return "", "", fmt.Errorf("%w: this is a spreadsheet workbook (.xlsx or .xls), not CSV; in the spreadsheet choose Save As, \"CSV UTF-8\", and import that file", ErrNotText)
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE, 0, 0}) || bytes.HasPrefix(data, []byte{0, 0, 0xFE, 0xFF}):
		return "", "", fmt.Errorf("%w: the file is UTF-32, which smsd does not read; save it as \"CSV UTF-8\"", ErrNotText)
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		s, err := checkUTF8(data[3:])
		return s, "UTF-8 with BOM", err
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		s, err := decodeUTF16(data[2:], false)
		return s, "UTF-16LE", err
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		s, err := decodeUTF16(data[2:], true)
		return s, "UTF-16BE", err
	}
	if be, ok := looksUTF16(data); ok {
		s, err := decodeUTF16(data, be)
		if be {
			return s, "UTF-16BE", err
		}
		return s, "UTF-16LE", err
	}
	s, err := checkUTF8(data)
	return s, "UTF-8", err
}

// looksUTF16 tells UTF-16 without a BOM by its zero bytes: in a CSV of
// mostly ASCII, every other byte is zero, the odd ones (little-endian) or
// the even ones (big-endian).
func looksUTF16(data []byte) (bigEndian, ok bool) {
	n := min(len(data), 4096) &^ 1
	if n < 4 {
		return false, false
	}
	var zeroEven, zeroOdd int
	for i := 0; i < n; i += 2 {
		if data[i] == 0 {
			zeroEven++
		}
		if data[i+1] == 0 {
			zeroOdd++
		}
	}
	pairs := n / 2
	switch {
	case zeroOdd*10 >= pairs*7 && zeroEven*10 < pairs:
		return false, true
	case zeroEven*10 >= pairs*7 && zeroOdd*10 < pairs:
		return true, true
	}
	return false, false
}

// checkUTF8 returns data as a string when it is valid UTF-8 without NUL,
// else an error naming the line.
func checkUTF8(data []byte) (string, error) {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			line, col := lineCol(data, i)
			return "", fmt.Errorf("%w: line %d is not valid UTF-8 (byte %d of the line); the file may be in another encoding such as Windows-1252: save it as \"CSV UTF-8\" and import it again", ErrNotText, line, col)
		}
		if r == 0 {
			line, _ := lineCol(data, i)
			return "", fmt.Errorf("%w: line %d has a NUL byte, which no text file has; export the list as CSV again", ErrNotText, line)
		}
		i += size
	}
	return string(data), nil
}

func lineCol(data []byte, off int) (line, col int) {
	line = 1 + bytes.Count(data[:off], []byte{'\n'})
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return line, off - start + 1
}

// decodeUTF16 decodes UTF-16 (after its BOM) to UTF-8, refusing an odd
// length, an unpaired surrogate and NUL.
func decodeUTF16(data []byte, bigEndian bool) (string, error) {
	if len(data)%2 != 0 {
		return "", fmt.Errorf("%w: the file says UTF-16 but ends in half a character; export it again", ErrNotText)
	}
	units := make([]uint16, len(data)/2)
	for i := range units {
		if bigEndian {
			units[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
		} else {
			units[i] = uint16(data[2*i+1])<<8 | uint16(data[2*i])
		}
	}
	var b strings.Builder
	b.Grow(len(units))
	line := 1
	for i := 0; i < len(units); i++ {
		u := units[i]
		var r rune
		switch {
		case u == 0:
			return "", fmt.Errorf("%w: line %d has a NUL character, which no text file has; export the list as CSV again", ErrNotText, line)
		case utf16.IsSurrogate(rune(u)):
			if u < 0xDC00 && i+1 < len(units) && units[i+1] >= 0xDC00 && units[i+1] <= 0xDFFF {
				r = utf16.DecodeRune(rune(u), rune(units[i+1]))
				i++
			} else {
				return "", fmt.Errorf("%w: line %d is not valid UTF-16 (a broken surrogate pair); export the list again, or as \"CSV UTF-8\"", ErrNotText, line)
			}
		default:
			r = rune(u)
		}
		if r == '\n' {
			line++
		}
		b.WriteRune(r)
	}
	return b.String(), nil
}
