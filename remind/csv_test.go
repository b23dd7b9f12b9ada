package remind

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/clinicsms/smsd/ops"
)

var update = flag.Bool("update", false, "rewrite testdata/*.csv from messyFiles and testdata/*.golden.json from what the code reads")

// messyFile is one committed export in testdata, the Go text it is made
// from (so the odd bytes are readable here), and what each of its rows
// must be found to have wrong: line -> problem codes, in order.
type messyFile struct {
	name     string
	region   string
	zone     string
	mapping  Mapping
	encoding string // the Table's Encoding
	delim    string
	bytes    func() []byte
	// problems per data line; a line not listed must be good. Lines the
	// reader leaves out (blank) are not listed.
	problems map[int][]string
	good     int    // rows without problems
	refused  string // for a file ReadCSV must refuse: a word of the error
}

func utf16Bytes(s string, bigEndian bool) []byte {
	var b bytes.Buffer
	bom := []byte{0xFF, 0xFE}
	if bigEndian {
		bom = []byte{0xFE, 0xFF}
	}
	b.Write(bom)
	for _, u := range utf16.Encode([]rune(s)) {
		if bigEndian {
			b.WriteByte(byte(u >> 8))
			b.WriteByte(byte(u))
		} else {
			b.WriteByte(byte(u))
			b.WriteByte(byte(u >> 8))
		}
	}
	return b.Bytes()
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

var messyFiles = []messyFile{
	{
		// What Excel's "CSV UTF-8" writes: a BOM, commas, CRLF; a US
		// practice system's numbers without +1 and dates in several forms.
		name: "excel_bom_comma_crlf", region: "US", zone: "America/New_York",
		encoding: "UTF-8 with BOM", delim: ",",
		bytes: func() []byte {
			return append([]byte{0xEF, 0xBB, 0xBF}, crlf(`Patient Name,Mobile,Appt Date,Appt Time,Provider,Location,Language
"Lopez, Ana",(201) 555-0123,12/03/2026,3:00 PM,Dr. Ruiz,Main St,Español
Ben Smith,2015550124,2026-12-03,15:00,,,en
Carla Díaz,+1 201-555-0125,12/3/26,9:30am,Dr. Ruiz,,es
Dan Old,201.555.0126,11/20/2026,10:00 AM,,,
Eve Bad,12345,12/04/2026,11:00 AM,,,
Fay Nodate,201 555 0127,,2:00 PM,,,
Ana Lopez,+12015550123,2026-12-03,15:00,,,
Gus,201-555-0128,13/03/2026,25:00,,,fr
Łucja Nowak,'2015550129,12/05/2026,8:00 am,,Annex,english
Hal,"=""2015550130""",December 7 2026,12:00 PM,,,
Ida,555-0131,12/08/2026,3 PM,,,
`)...)
		},
		problems: map[int][]string{
			5:  {ops.ProblemPast},
			6:  {ops.ProblemBadNumber},
			7:  {ops.ProblemMissingField},
			8:  {ops.ProblemDuplicateRow},
			9:  {ops.ProblemBadDate, ops.ProblemBadTime, ops.ProblemBadLanguage},
			12: {ops.ProblemBadNumber},
		},
		good: 5,
	},
	{
		// A Spanish practice system: semicolons, LF, day-first dates, a
		// name and an address with line breaks inside quotes, a stray
		// quote in an unquoted name, Spanish headers with accents.
		name: "semicolon_quoted_newlines", region: "ES", zone: "Europe/Madrid",
		encoding: "UTF-8", delim: ";",
		bytes: func() []byte {
			return []byte(`Nombre;Teléfono;Fecha;Hora;Médico;Ubicación;Idioma
"García López; María";612 345 678;03/12/2026;15:00;Dra. Ruiz;"Edificio A
Planta 2";es
José "Pepe" Martín;+34 699 111 222;3.12.2026;9.30;;;español
"Ana
Belén";611222333;2026-12-04;17h30;;;
Luis;611 222 334;12/31/2026;10:00;;;
Marta;611222335;04/12/2026;;;;
Nuria;12;05/12/2026;10:00;;;xx
Olga;611222336;29/11/2026;10:00;;;
`)
		},
		problems: map[int][]string{
			7:  {ops.ProblemBadDate},
			8:  {ops.ProblemMissingField},
			9:  {ops.ProblemBadNumber, ops.ProblemBadLanguage},
			10: {ops.ProblemPast},
		},
		good: 3,
	},
	{
		// Excel's "Unicode Text": UTF-16LE with a BOM, tabs, CRLF; first
		// and last names apart; an emoji (a surrogate pair); a time the
		// clocks skip (2:30 AM on 14 March 2027 in New York); a short row.
		name: "unicode_text_utf16le_tab", region: "US", zone: "America/New_York",
		encoding: "UTF-16LE", delim: "\t",
		bytes: func() []byte {
			return utf16Bytes(crlf("First Name\tLast Name\tCell\tDate\tTime\tDoctor\n"+
				"Ana\tLópez\t201-555-0140\t12/03/2026\t3:00 PM\tDr. Ruiz\n"+
				"Ben\tKim\t(201) 555-0141\t12/03/2026\t3 PM\tDr. 李\n"+
				"Chloé\t\t201 555 0142\t03/14/2027\t2:30 AM\t\n"+
				"\t\t201 555 0143\t12/04/2026\t10:00 AM\t\n"+
				"Dee\tO'Neil\t\t12/04/2026\t10:30 AM\t\n"+
				"Emoji\t😀 Test\t201-555-0144\t12/04/2026\t11:00 AM\t\n"+
				"Fin\tLast\t201-555-0145\n"), false)
		},
		problems: map[int][]string{
			4: {ops.ProblemBadTime},
			5: {ops.ProblemMissingField},
			6: {ops.ProblemMissingField},
			8: {ops.ProblemMissingField, ops.ProblemMissingField},
		},
		good: 3,
	},
	{
		// UTF-16BE with a BOM, commas, LF, date and time in one column.
		name: "utf16be_datetime", region: "US", zone: "America/New_York",
		encoding: "UTF-16BE", delim: ",",
		bytes: func() []byte {
			return utf16Bytes(`Name,Phone,Appointment,Lang
Ana,2015550150,12/03/2026 3:00 PM,en
Ben,2015550151,2026-12-03T15:30:00,es
Cy,2015550152,"Dec 4, 2026 9:00 AM",
Di,2015550153,12/04/2026,
Ed,2015550154,tomorrow 3pm,
`, true)
		},
		problems: map[int][]string{
			5: {ops.ProblemBadTime},
			6: {ops.ProblemBadDate},
		},
		good: 3,
	},
	{
		// Excel's "sep=;" first line, blank and empty rows, padded cells,
		// ragged rows, a mapping for the columns no synonym knows, and
		// values too long for a reminder.
		name: "excel_sep_ragged_mapped", region: "US", zone: "America/Chicago",
		mapping:  Mapping{"name": "Pt", "phone": "Contact #", "date": "Visit On", "time": "At"},
		encoding: "UTF-8", delim: ";",
		bytes: func() []byte {
			long := strings.Repeat("x", MaxNameLen+1)
			return []byte("sep=;\nPt;Contact #;Visit On;At;Location\n" +
				"  Ana Ruiz  ;  201 555 0160 ; 12/03/2026 ; 3:00 PM ;Main\n" +
				"\n" +
				long + ";2015550161;12/03/2026;4:00 PM;\n" +
				"Bo;2015550162;12/03/2026;4:00 PM;Annex;extra;more\n" +
				";;;;\n" +
				"Cy;2015550163;12/03/2026;5:00 PM;" + strings.Repeat("y", MaxLocationLen+1) + "\n" +
				"Di;2015550164;12/03/2026\n")
		},
		problems: map[int][]string{
			5: {ops.ProblemTooLong},
			8: {ops.ProblemTooLong},
			9: {ops.ProblemMissingField},
		},
		good: 2,
	},
	{
		// A file saved as Windows-1252 (José as 4A 6F 73 E9): refused,
		// naming the line.
		name: "windows1252_refused", region: "US", zone: "America/New_York",
		bytes: func() []byte {
			return []byte("name,phone,date,time\r\nAna,2015550170,12/03/2026,3:00 PM\r\nJos\xe9,2015550171,12/03/2026,3:00 PM\r\n")
		},
		refused: "line 3 is not valid UTF-8",
	},
}

// now is the import's clock in the tests: 1 December 2026, 09:00 local.
func testNow(loc *time.Location) time.Time { return time.Date(2026, 12, 1, 9, 0, 0, 0, loc) }

type goldenProblem struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

type goldenRow struct {
	Line     int             `json:"line"`
	Name     string          `json:"name"`
	Phone    string          `json:"phone"`
	At       string          `json:"at,omitempty"`
	Provider string          `json:"provider,omitempty"`
	Location string          `json:"location,omitempty"`
	Language string          `json:"language"`
	Problems []goldenProblem `json:"problems,omitempty"`
}

type goldenImport struct {
	File      string            `json:"file"`
	Region    string            `json:"region"`
	Zone      string            `json:"zone"`
	Now       string            `json:"now"`
	Error     string            `json:"error,omitempty"`
	Encoding  string            `json:"encoding,omitempty"`
	Delimiter string            `json:"delimiter,omitempty"`
	Header    []string          `json:"header,omitempty"`
	Columns   map[string]string `json:"columns,omitempty"`
	Rows      []goldenRow       `json:"rows,omitempty"`
}

func TestMessyFiles(t *testing.T) {
	for _, mf := range messyFiles {
		t.Run(mf.name, func(t *testing.T) {
			path := filepath.Join("testdata", mf.name+".csv")
			if *update {
				if err := os.WriteFile(path, mf.bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestMessyFiles -update to write it)", err)
			}
			if !bytes.Equal(data, mf.bytes()) {
				t.Fatalf("%s differs from messyFiles[%s]; run with -update if the change is meant", path, mf.name)
			}
			loc := mustLoc(t, mf.zone)
			now := testNow(loc)
			g := goldenImport{File: mf.name + ".csv", Region: mf.region, Zone: mf.zone, Now: now.Format(time.RFC3339)}
			tb, err := ReadCSV(data)
			if mf.refused != "" {
				if err == nil || !strings.Contains(err.Error(), mf.refused) || !errors.Is(err, ErrNotText) {
					t.Fatalf("ReadCSV error = %v, want ErrNotText saying %q", err, mf.refused)
				}
				g.Error = err.Error()
				checkGoldenJSON(t, mf.name, g)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tb.Encoding != mf.encoding || tb.Delimiter != mf.delim {
				t.Errorf("read as %s with %q, want %s with %q", tb.Encoding, tb.Delimiter, mf.encoding, mf.delim)
			}
			cols, err := tb.Columns(mf.mapping)
			if err != nil {
				t.Fatal(err)
			}
			rows := ParseRows(tb, cols, loc, mf.region, now)
			good := 0
			for _, r := range rows {
				var codes []string
				for _, p := range r.Problems {
					codes = append(codes, p.Code)
					if p.Message == "" {
						t.Errorf("line %d: problem %s without a message", r.Line, p.Code)
					}
				}
				if want := mf.problems[r.Line]; strings.Join(codes, ",") != strings.Join(want, ",") {
					t.Errorf("line %d: problems %v, want %v (%+v)", r.Line, codes, want, r.Problems)
				}
				if r.OK() {
					good++
					if !strings.HasPrefix(r.Phone, "+") || r.At.IsZero() || r.Name == "" || r.At.Location() != loc {
						t.Errorf("line %d is good but incomplete: %+v", r.Line, r)
					}
				}
			}
			if good != mf.good {
				t.Errorf("%d good rows, want %d", good, mf.good)
			}
			// Every line with expected problems was read.
			for line := range mf.problems {
				found := false
				for _, r := range rows {
					found = found || r.Line == line
				}
				if !found {
					t.Errorf("no row read at line %d", line)
				}
			}
			g.Encoding, g.Delimiter, g.Header = tb.Encoding, tb.Delimiter, tb.Header
			g.Columns = map[string]string{}
			for f, i := range cols {
				g.Columns[f] = tb.Header[i]
			}
			for _, r := range rows {
				gr := goldenRow{Line: r.Line, Name: r.Name, Phone: r.Phone, Provider: r.Provider, Location: r.Location, Language: r.Language}
				if !r.At.IsZero() {
					gr.At = r.At.Format(time.RFC3339)
				}
				for _, p := range r.Problems {
					gr.Problems = append(gr.Problems, goldenProblem(p))
				}
				g.Rows = append(g.Rows, gr)
			}
			checkGoldenJSON(t, mf.name, g)
		})
	}
}

// The reader's findings on the files in detail, beyond problem codes.
func TestMessyFilesValues(t *testing.T) {
	read := func(name string) ([]Row, *time.Location) {
		t.Helper()
		for _, mf := range messyFiles {
			if mf.name != name {
				continue
			}
			tb, err := ReadCSV(mf.bytes())
			if err != nil {
				t.Fatal(err)
			}
			cols, err := tb.Columns(mf.mapping)
			if err != nil {
				t.Fatal(err)
			}
			loc := mustLoc(t, mf.zone)
			return ParseRows(tb, cols, loc, mf.region, testNow(loc)), loc
		}
		t.Fatalf("no file %s", name)
		return nil, nil
	}
	byLine := func(rows []Row, line int) Row {
		for _, r := range rows {
			if r.Line == line {
				return r
			}
		}
		t.Fatalf("no row at line %d", line)
		return Row{}
	}
	wall := func(r Row, loc *time.Location) string { return r.At.In(loc).Format("2006-01-02 15:04") }

	rows, loc := read("excel_bom_comma_crlf")
	if r := byLine(rows, 2); r.Name != "Lopez, Ana" || r.Phone != "+12015550123" || wall(r, loc) != "2026-12-03 15:00" || r.Language != "es" || r.Provider != "Dr. Ruiz" {
		t.Errorf("line 2 = %+v", r)
	}
	if r := byLine(rows, 4); r.Phone != "+12015550125" || wall(r, loc) != "2026-12-03 09:30" {
		t.Errorf("line 4 (12/3/26 9:30am) = %+v", r)
	}
	if r := byLine(rows, 10); r.Phone != "+12015550129" || wall(r, loc) != "2026-12-05 08:00" || r.Language != "en" {
		t.Errorf("line 10 ('number, 8:00 am, english) = %+v", r)
	}
	if r := byLine(rows, 11); r.Phone != "+12015550130" || wall(r, loc) != "2026-12-07 12:00" {
		t.Errorf("line 11 (=\"number\", December 7 2026, 12:00 PM) = %+v", r)
	}
	if r := byLine(rows, 8); !strings.Contains(r.Problems[0].Message, "line 2") {
		t.Errorf("the duplicate does not name its first line: %+v", r.Problems)
	}

	rows, loc = read("semicolon_quoted_newlines")
	if r := byLine(rows, 2); r.Name != "García López; María" || r.Phone != "+34612345678" || wall(r, loc) != "2026-12-03 15:00" || r.Location != "Edificio A Planta 2" {
		t.Errorf("line 2 = %+v", r)
	}
	if r := byLine(rows, 4); r.Name != `José "Pepe" Martín` || wall(r, loc) != "2026-12-03 09:30" || r.Language != "es" {
		t.Errorf("line 4 = %+v", r)
	}
	if r := byLine(rows, 5); r.Name != "Ana Belén" || wall(r, loc) != "2026-12-04 17:30" {
		t.Errorf("line 5 = %+v", r)
	}

	rows, _ = read("unicode_text_utf16le_tab")
	if r := byLine(rows, 2); r.Name != "Ana López" {
		t.Errorf("first and last name: %+v", r)
	}
	if r := byLine(rows, 3); r.Provider != "Dr. 李" {
		t.Errorf("provider: %+v", r)
	}
	if r := byLine(rows, 7); r.Name != "Emoji 😀 Test" {
		t.Errorf("a surrogate pair: %+v", r)
	}
	if r := byLine(rows, 4); !strings.Contains(r.Problems[0].Message, "clocks go forward") {
		t.Errorf("the DST gap is not explained: %+v", r.Problems)
	}

	rows, loc = read("utf16be_datetime")
	if r := byLine(rows, 3); wall(r, loc) != "2026-12-03 15:30" || r.Language != "es" {
		t.Errorf("ISO datetime: %+v", r)
	}
	if r := byLine(rows, 4); wall(r, loc) != "2026-12-04 09:00" {
		t.Errorf("Dec 4, 2026 9:00 AM: %+v", r)
	}

	rows, loc = read("excel_sep_ragged_mapped")
	if r := byLine(rows, 3); r.Name != "Ana Ruiz" || r.Phone != "+12015550160" || wall(r, loc) != "2026-12-03 15:00" || r.Location != "Main" {
		t.Errorf("padded cells: %+v", r)
	}
}

// checkGoldenJSON compares g with testdata/name.golden.json, or rewrites it
// under -update.
func checkGoldenJSON(t *testing.T, name string, g goldenImport) {
	t.Helper()
	got, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to write it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is meant):\ngot:\n%s", path, got)
	}
}

func TestReadCSVRefuses(t *testing.T) {
	tooBig := bytes.Repeat([]byte("a"), MaxImportBytes+1)
	tests := []struct {
		name string
		data []byte
		is   error
		say  string
	}{
		{"10MB_plus_1", tooBig, ErrFileTooLarge, "10 MB"},
		{"invalid_utf8_line_2", []byte("name,phone\nJos\xe9,1\n"), ErrNotText, "line 2 is not valid UTF-8"},
		{"truncated_utf8", []byte("name,phone\nAna,\xc3"), ErrNotText, "line 2 is not valid UTF-8"},
		{"nul_byte", []byte("name,phone\nA\x00na,1\n"), ErrNotText, "NUL"},
		{"utf16_odd_length", append([]byte{0xFF, 0xFE}, 'a', 0, 'b'), ErrNotText, "half a character"},
		{"utf16_lone_surrogate", append([]byte{0xFF, 0xFE}, 'a', 0, '\n', 0, 0x00, 0xD8, 'b', 0), ErrNotText, "line 2 is not valid UTF-16"},
		{"utf32", []byte{0xFF, 0xFE, 0, 0, 'a', 0, 0, 0}, ErrNotText, "UTF-32"},
		{"xlsx", []byte("PK\x03\x04rest of a zip"), ErrNotText, "CSV UTF-8"},
		{"empty", nil, ErrNotText, "empty"},
		{"only_blank_lines", []byte("\r\n\r\n  \n"), ErrNotText, "empty"},
		{"only_delimiters", []byte(";;;\n;;;\n"), ErrNotText, "no rows"},
		{"bad_sep_line", []byte("sep=|\na|b\n"), ErrNotText, "comma, semicolon or tab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCSV(tt.data)
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.say) {
				t.Fatalf("ReadCSV error = %v, want %v saying %q", err, tt.is, tt.say)
			}
		})
	}
	// Exactly MaxImportBytes is read.
	exact := append([]byte("name,phone,date,time\n"), bytes.Repeat([]byte("x"), MaxImportBytes-21)...)
	if _, err := ReadCSV(exact); err != nil {
		t.Fatalf("a file of exactly %d bytes: %v", MaxImportBytes, err)
	}
}

func TestReadCSVForms(t *testing.T) {
	tests := []struct {
		name     string
		data     []byte
		encoding string
		delim    string
		header   string
		records  string // Line:cells|cells;...
	}{
		{"plain_lf", []byte("a,b\n1,2\n"), "UTF-8", ",", "a|b", "2:1|2"},
		{"old_mac_cr", []byte("a;b\r1;2\r3;4\r"), "UTF-8", ";", "a|b", "2:1|2;3:3|4"},
		{"utf16le_without_bom", utf16Bytes("a\tb\r\n1\t2\r\n", false)[2:], "UTF-16LE", "\t", "a|b", "2:1|2"},
		{"utf16be_without_bom", utf16Bytes("a,b\n1,2\n", true)[2:], "UTF-16BE", ",", "a|b", "2:1|2"},
		{"semicolon_with_decimal_commas", []byte("name;amount;date\nAna;1,5;x\nBo;2,5;y\n"), "UTF-8", ";", "name|amount|date", "2:Ana|1,5|x;3:Bo|2,5|y"},
		{"comma_with_semicolons_in_quotes", []byte("a,b\n\"x;y\",2\n"), "UTF-8", ",", "a|b", "2:x;y|2"},
		{"quoted_newline_then_row", []byte("a,b\n\"1\n1\",2\n3,4\n"), "UTF-8", ",", "a|b", "2:1\n1|2;4:3|4"},
		{"escaped_quotes", []byte("a,b\n\"say \"\"hi\"\"\",2\n"), "UTF-8", ",", "a|b", "2:say \"hi\"|2"},
		{"header_after_blank_lines", []byte("\n\n a , b \n1,2\n"), "UTF-8", ",", "a|b", "4:1|2"},
		{"double_bom", []byte("\xEF\xBB\xBF\uFEFFa,b\n1,2\n"), "UTF-8 with BOM", ",", "a|b", "2:1|2"},
		{"one_column", []byte("name\nAna\n"), "UTF-8", ",", "name", "2:Ana"},
		{"header_only", []byte("a,b\r\n"), "UTF-8", ",", "a|b", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb, err := ReadCSV(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			var recs []string
			for _, r := range tb.Records {
				recs = append(recs, fmt.Sprintf("%d:%s", r.Line, strings.Join(r.Fields, "|")))
			}
			if tb.Encoding != tt.encoding || tb.Delimiter != tt.delim || strings.Join(tb.Header, "|") != tt.header || strings.Join(recs, ";") != tt.records {
				t.Fatalf("got %s %q header %q records %q; want %s %q %q %q", tb.Encoding, tb.Delimiter, strings.Join(tb.Header, "|"), strings.Join(recs, ";"), tt.encoding, tt.delim, tt.header, tt.records)
			}
		})
	}
}

func TestColumns(t *testing.T) {
	tests := []struct {
		name    string
		header  string // comma-separated
		m       Mapping
		want    string // field=index sorted, or "error: words"
		wantErr string
	}{
		{"plain", "name,phone,date,time", nil, "date=2 name=0 phone=1 time=3", ""},
		{"synonyms_case_space_punct", "Patient's Name, MOBILE #,Appt. Date,appointment time,Doctor,Site,Preferred Language", nil,
			"date=2 language=6 location=5 name=0 phone=1 provider=4 time=3", ""},
		{"spanish_accents", "Nombre,Teléfono,Fecha,Hora,Médico,Ubicación,Idioma", nil,
			"date=2 language=6 location=5 name=0 phone=1 provider=4 time=3", ""},
		{"first_last", "First Name,Last Name,Cell,Date,Time", nil, "date=3 first_name=0 last_name=1 phone=2 time=4", ""},
		{"full_name_wins_over_parts", "First Name,Patient Name,Cell,Date,Time", nil, "date=3 name=1 phone=2 time=4", ""},
		{"datetime_column", "Name,Phone,Appointment", nil, "datetime=2 name=0 phone=1", ""},
		{"date_without_time_reads_both", "Name,Phone,Date", nil, "datetime=2 name=0 phone=1", ""},
		{"date_and_time_win_over_datetime", "Name,Phone,Appointment,Date,Time", nil, "date=3 name=0 phone=1 time=4", ""},
		{"mapping", "Pt,Contact #,Visit On,At,Phone", Mapping{"name": "pt", "phone": "CONTACT #", "date": "Visit On", "time": "At"},
			"date=2 name=0 phone=1 time=3", ""},
		{"mapping_empty_value_ignored", "name,phone,date,time", Mapping{"provider": ""}, "date=2 name=0 phone=1 time=3", ""},
		{"missing_phone_lists_headers", "Name,Date,Time,Notes", nil, "", `no column for phone (phone, mobile, cell); name the columns so, or map them; the file's columns are "Name", "Date", "Time", "Notes"`},
		{"missing_several", "Foo,Bar", nil, "", "no column for name (patient, patient name, or first name and last name), phone (phone, mobile, cell), date (date, appointment date), time (time, appointment time)"},
		{"no_header_row_hides_cells", "Ana Lopez,2015550123,12/03/2026,3:00 PM", nil, "", "the first row looks like data"},
		{"mapping_unknown_field", "name,phone,date,time", Mapping{"birthday": "x"}, "", `the mapping names "birthday", which is not a field`},
		{"mapping_missing_header", "name,phone,date,time", Mapping{"phone": "Cell"}, "", `reads phone from a column "Cell", which this file does not have`},
		{"mapping_same_column_twice", "a,b,c,d", Mapping{"name": "a", "phone": "a"}, "", "give each its own column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := Table{Header: strings.Split(tt.header, ",")}
			for i := range tb.Header {
				tb.Header[i] = strings.TrimSpace(tb.Header[i])
			}
			cols, err := tb.Columns(tt.m)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrColumns) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want ErrColumns saying %q", err, tt.wantErr)
				}
				if strings.Contains(tt.name, "hides") && strings.Contains(err.Error(), "2015550123") {
					t.Fatalf("error shows a cell of the first row: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for f, i := range cols {
				got = append(got, fmt.Sprintf("%s=%d", f, i))
			}
			sort.Strings(got)
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("Columns = %s, want %s", strings.Join(got, " "), tt.want)
			}
		})
	}
}

func TestParseDateAndClock(t *testing.T) {
	dates := []struct {
		in   string
		mdy  bool
		want string // "" = not a date
	}{
		{"2026-12-03", true, "2026-12-03"},
		{"2026/12/3", false, "2026-12-03"},
		{"12/03/2026", true, "2026-12-03"},
		{"12/03/2026", false, "2026-03-12"},
		{"12-03-2026", true, "2026-12-03"},
		{"12/3/26", true, "2026-12-03"},
		{"03.12.2026", true, "2026-12-03"}, // dots: day first everywhere
		{"Dec 3, 2026", true, "2026-12-03"},
		{"3 December 2026", true, "2026-12-03"},
		{"Thursday, December 3rd, 2026", true, "2026-12-03"},
		{"3 dic 2026", false, "2026-12-03"},
		{"jueves 3 de diciembre de 2026", false, "2026-12-03"},
		{"Sept 30 2026", true, "2026-09-30"},
		{"13/03/2026", true, ""},
		{"02/29/2026", true, ""},
		{"02/29/2028", true, "2028-02-29"},
		{"31/04/2026", false, ""},
		{"2026-13-01", true, ""},
		{"tomorrow", true, ""},
		{"Dec 2026", true, ""},
		{"Dec Jan 3 2026", true, ""},
		{"3/12", true, ""},
		{"1/2/3/4", true, ""},
		{"", true, ""},
	}
	for _, tt := range dates {
		y, m, d, ok := parseDate(tt.in, tt.mdy)
		got := ""
		if ok {
			got = fmt.Sprintf("%04d-%02d-%02d", y, m, d)
		}
		if got != tt.want {
			t.Errorf("parseDate(%q, mdy %v) = %q, want %q", tt.in, tt.mdy, got, tt.want)
		}
	}
	clocks := []struct{ in, want string }{
		{"15:00", "15:00"}, {"9:05", "09:05"}, {"15.00", "15:00"}, {"15h30", "15:30"}, {"15:00:59", "15:00"},
		{"1500", "15:00"}, {"0930", "09:30"}, {"3:00 PM", "15:00"}, {"3:00pm", "15:00"}, {"3 PM", "15:00"},
		{"3pm", "15:00"}, {"3 p. m.", "15:00"}, {"9:30 a.m.", "09:30"}, {"12:00 AM", "00:00"}, {"12:15 PM", "12:15"},
		{"24:00", ""}, {"23:60", ""}, {"13:00 PM", ""}, {"0:30 AM", ""}, {"noon", ""}, {"3", ""}, {"930", ""}, {"", ""},
		{"15:00:60", ""},
	}
	for _, tt := range clocks {
		h, m, ok := parseClock(tt.in)
		got := ""
		if ok {
			got = fmt.Sprintf("%02d:%02d", h, m)
		}
		if got != tt.want {
			t.Errorf("parseClock(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeNumber(t *testing.T) {
	tests := []struct{ in, region, want, err string }{
		{"(201) 555-0123", "US", "+12015550123", ""},
		{"201.555.0123", "US", "+12015550123", ""},
		{"+1 201 555 0123", "ES", "+12015550123", ""},
		{"'2015550123", "US", "+12015550123", ""},
		{`="2015550123"`, "US", "+12015550123", ""},
		{"612 345 678", "ES", "+34612345678", ""},
		{"555-0131", "US", "", "no area code"},
		{"12345", "US", "", "wrong length"},
		{"201-555-0123 ext 4", "US", "", "only digits"},
		{"", "US", "", "empty"},
		{strings.Repeat("1", 41), "US", "", "too long"},
	}
	for _, tt := range tests {
		got, err := normalizeNumber(tt.in, tt.region)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("normalizeNumber(%q) = %q, %v; want error saying %q", tt.in, got, err, tt.err)
			}
			if err != nil && len(tt.in) > 4 && strings.Contains(err.Error(), tt.in) {
				t.Errorf("the error shows the number: %v", err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("normalizeNumber(%q, %s) = %q, %v; want %q", tt.in, tt.region, got, err, tt.want)
		}
	}
}

func TestParseRowsLanguage(t *testing.T) {
	for in, want := range map[string]string{"": "en", "EN": "en", "English": "en", "inglés": "en", "es": "es", "es-MX": "es",
		"Español": "es", "espanol": "es", "SPA": "es", "castellano": "es", "fr": "", "xx": ""} {
		got, ok := parseLanguage(in)
		if (want == "") == ok || got != want {
			t.Errorf("parseLanguage(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}

func FuzzReadCSV(f *testing.F) {
	for _, mf := range messyFiles {
		f.Add(mf.bytes())
	}
	for _, s := range []string{"", "\xEF\xBB\xBF", "\xFF\xFE", "\xFE\xFF\x00", "sep=;\n", "a,\"b\nc", "\"", "a\rb\r", "\x00a\x00b"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := ReadCSV(data)
		if err != nil {
			if !errors.Is(err, ErrNotText) && !errors.Is(err, ErrFileTooLarge) {
				t.Fatalf("error %v wraps neither ErrNotText nor ErrFileTooLarge", err)
			}
			return
		}
		// Never accept invalid UTF-8: what is read as UTF-8 was valid.
		if strings.HasPrefix(tb.Encoding, "UTF-8") && !utf8.Valid(bytes.TrimPrefix(data, []byte{0xEF, 0xBB, 0xBF})) {
			t.Fatalf("accepted invalid UTF-8 as %s", tb.Encoding)
		}
		cells := append([]string(nil), tb.Header...)
		last := 0
		for _, r := range tb.Records {
			if r.Line < last || r.Line < 1 {
				t.Fatalf("record lines go backwards: %d after %d", r.Line, last)
			}
			last = r.Line
			cells = append(cells, r.Fields...)
		}
		for _, c := range cells {
			if !utf8.ValidString(c) || strings.ContainsRune(c, 0) {
				t.Fatalf("cell %q is not clean UTF-8", c)
			}
		}
		if tb.Delimiter != "," && tb.Delimiter != ";" && tb.Delimiter != "\t" {
			t.Fatalf("delimiter %q", tb.Delimiter)
		}
	})
}

func FuzzParseRows(f *testing.F) {
	for _, mf := range messyFiles {
		f.Add(mf.bytes(), "US")
	}
	f.Add([]byte("name,phone,date,time\nAna,+34 612 345 678,03/12/2026,15:00\n"), "ES")
	f.Add([]byte("name,phone,appointment\nAna,2015550123,Dec 3 2026 3 PM\n"), "GB")
	ny := mustLoc(f, "America/New_York")
	now := testNow(ny)
	known := setOf(ops.ProblemBadNumber, ops.ProblemMissingField, ops.ProblemBadDate, ops.ProblemBadTime, ops.ProblemPast,
		ops.ProblemDuplicateRow, ops.ProblemBadLanguage, ops.ProblemTooLong)
	f.Fuzz(func(t *testing.T, data []byte, region string) {
		tb, err := ReadCSV(data)
		if err != nil {
			return
		}
		cols, err := tb.Columns(nil)
		if err != nil {
			return
		}
		rows := ParseRows(tb, cols, ny, region, now)
		if len(rows) != len(tb.Records) {
			t.Fatalf("%d rows for %d records", len(rows), len(tb.Records))
		}
		for _, r := range rows {
			for _, p := range r.Problems {
				if !known[p.Code] {
					t.Fatalf("unknown problem code %q", p.Code)
				}
				if p.Message == "" {
					t.Fatalf("problem %s without a message", p.Code)
				}
			}
			if r.OK() {
				if !strings.HasPrefix(r.Phone, "+") || r.At.IsZero() || r.At.Before(now) || r.Name == "" {
					t.Fatalf("a good row that is not: %+v", r)
				}
				if utf8.RuneCountInString(r.Name) > MaxNameLen || strings.ContainsAny(r.Name, "\r\n\t") {
					t.Fatalf("a good row's name: %q", r.Name)
				}
				if r.Language != ops.LangEnglish && r.Language != ops.LangSpanish {
					t.Fatalf("language %q", r.Language)
				}
			}
		}
	})
}

// BenchmarkReadAndParse10k reads and checks a day's list of 10,000 rows
// (a busy group practice's week), as an import preview does: decode,
// split, find columns, normalise numbers, parse dates and times.
func BenchmarkReadAndParse10k(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("\xEF\xBB\xBFPatient Name,Mobile,Appt Date,Appt Time,Provider,Location,Language\r\n")
	for i := range 10000 {
		fmt.Fprintf(&buf, "\"Patient %d, Test\",(201) 555-%04d,12/%02d/2026,%d:%02d %s,Dr. Ruiz,Main St,%s\r\n",
			i, i%10000, 2+i%28, 1+i%12, (i*7)%60, []string{"AM", "PM"}[i%2], []string{"en", "es"}[i%2])
	}
	data := buf.Bytes()
	ny := mustLoc(b, "America/New_York")
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, ny)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		tb, err := ReadCSV(data)
		if err != nil {
			b.Fatal(err)
		}
		cols, err := tb.Columns(nil)
		if err != nil {
			b.Fatal(err)
		}
		rows := ParseRows(tb, cols, ny, "US", now)
		if len(rows) != 10000 {
			b.Fatalf("%d rows", len(rows))
		}
	}
	// CPU time as well as wall time: on a machine shared with other work
	// (as this one often is), ns/op measures the queue for the cores.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A long list is parsed on several cores; the answer is the one a single
// core gives, duplicates across the cores' shares included.
func TestParseRowsParallelSameAsSerial(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString("name,phone,date,time\n")
	const n = 2 * parallelRows
	for i := range n {
		num := i
		if i == n-3 {
			num = 5 // the same number and time as row 5, in the last share
		}
		fmt.Fprintf(&buf, "P%d,(201) 555-%04d,12/%02d/2026,%d:00 PM\n", i, num, 2+num%20, 1+num%9)
	}
	tb, err := ReadCSV(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	cols, err := tb.Columns(nil)
	if err != nil {
		t.Fatal(err)
	}
	ny := mustLoc(t, "America/New_York")
	parse := func(procs int) []Row {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		return ParseRows(tb, cols, ny, "US", testNow(ny))
	}
	serial, parallel := parse(1), parse(2)
	if !reflect.DeepEqual(serial, parallel) {
		t.Fatal("ParseRows on 2 cores differs from 1 core")
	}
	bad := 0
	for _, r := range parallel {
		if !r.OK() {
			bad++
			if r.Line != n-3+2 || r.Problems[0].Code != ops.ProblemDuplicateRow || !strings.Contains(r.Problems[0].Message, "line 7") {
				t.Errorf("line %d: %+v", r.Line, r.Problems)
			}
		}
	}
	if bad != 1 {
		t.Errorf("%d bad rows, want the one duplicate", bad)
	}
}
