package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clinicsms/smsd/control"
	"github.com/clinicsms/smsd/mask"
	"github.com/clinicsms/smsd/ops"
)

func init() {
	register(command{name: "import", summary: "a day's appointments from CSV: smsd import F.csv (preview), then -commit", run: runImport})
}

const importUsage = `smsd import F.csv [-commit] [-json] [-mapping NAME] [-map field=Header ...] [-save-mapping NAME]
       (F.csv "-" reads standard input)
Without -commit it changes nothing: it shows how each row was read and what is wrong with it.
-commit creates the good rows' appointments and their reminders and lists the rows it skipped.
Importing the same file again creates nothing new.`

// importFields are the fields a column can be mapped to (-map field=Header).
var importFields = []string{"name", "phone", "date", "time", "provider", "location", "language"}

// mapFlag collects -map field=Header, repeatable.
type mapFlag map[string]string

func (m mapFlag) String() string { return "" }

func (m mapFlag) Set(s string) error {
	field, header, ok := strings.Cut(s, "=")
	field = strings.ToLower(strings.TrimSpace(field))
	if !ok || strings.TrimSpace(header) == "" {
		return fmt.Errorf("%q is not field=Header (e.g. -map phone=\"Mobile No\")", s)
	}
	if !slices.Contains(importFields, field) {
		return fmt.Errorf("%q is not a field; the fields are %s", field, strings.Join(importFields, ", "))
	}
	m[field] = strings.TrimSpace(header)
	return nil
}

func runImport(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "import", importUsage)
	cf := addCommonFlags(fs, env)
	commit := fs.Bool("commit", false, "create the good rows' appointments and reminders (without it: a preview that changes nothing)")
	asJSON := fs.Bool("json", false, "print JSON (every row with its problems)")
	mappingName := fs.String("mapping", "", "use the column mapping saved under this name")
	saveAs := fs.String("save-mapping", "", "save the -map columns under this name for the next files (admin)")
	maps := mapFlag{}
	fs.Var(maps, "map", "read a field from a column: field=Header, e.g. -map phone=\"Mobile No\" (repeatable; fields: "+strings.Join(importFields, ", ")+")")
	words, err := parseWords(fs, args)
	if err != nil {
		return err
	}
	if len(words) != 1 {
		return usageError("give one CSV file (or - for standard input)\nUsage: %s", importUsage)
	}
	if *saveAs != "" && len(maps) == 0 {
		return usageError("-save-mapping %q saves the -map columns: give at least one -map field=Header", *saveAs)
	}
	data, name, err := readImportFile(env, words[0])
	if err != nil {
		return err
	}
	req := ops.ImportRequest{Data: data, FileName: name, MappingName: *mappingName, SaveMappingAs: *saveAs, Commit: *commit}
	if len(maps) > 0 {
		req.Mapping = maps
	}
	zone := clinicZone(cf)
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := conn.Import(ctx, req)
	if err != nil {
		return err
	}
	if *asJSON {
		if res.Rows == nil {
			res.Rows = []ops.ImportRow{}
		}
		return printJSON(env.stdout, res)
	}
	printImport(env.stdout, name, res, zone)
	if *commit && conn.Direct && res.Reminders > 0 {
		fmt.Fprintln(env.stderr, "smsd import: note: smsd serve is not running: the reminders go out when it runs, at their time")
	}
	return nil
}

// readImportFile reads the CSV file at path ("-": standard input), at most
// control.MaxImportBytes; name is what the audit trail and the output call
// it (the file's base name: the directory may name a patient or a person).
func readImportFile(env *cmdEnv, path string) (data []byte, name string, err error) {
	var r io.Reader
	if path == "-" {
		r, name = env.stdin, "standard input"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, "", fmt.Errorf("open the list: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return nil, "", fmt.Errorf("%s is a directory: give the CSV file", path)
		}
		r, name = f, filepath.Base(path)
	}
	data, err = io.ReadAll(io.LimitReader(r, control.MaxImportBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > control.MaxImportBytes {
		return nil, "", fmt.Errorf("%s is larger than %d MB, the most one import takes: split the list into smaller files (one per day)", name, control.MaxImportBytes>>20)
	}
	if len(data) == 0 {
		return nil, "", errors.New(name + " is empty: export the day's list from the practice system as CSV with a header row")
	}
	return data, name, nil
}

// printImport shows an import as a table: each row's line, name, masked
// number, time and problems, then what happened. Names are shown (it is the
// staff's own file, on the clinic's box, and they need them to fix a row);
// numbers are masked like every list of smsd's. Nothing of it is logged.
func printImport(w io.Writer, name string, res ops.ImportResult, zone *time.Location) {
	cols := make([]string, 0, len(res.Columns))
	for _, f := range importFields {
		if h, ok := res.Columns[f]; ok {
			cols = append(cols, fmt.Sprintf("%s=%q", f, h))
		}
	}
	fmt.Fprintf(w, "%s: %s, delimiter %s, columns %s\n", safe(name), safe(res.Encoding), delimiterName(res.Delimiter), safe(strings.Join(cols, " ")))
	if res.AlreadyImported {
		fmt.Fprintf(w, "this file was imported before (import %d): nothing new was created\n", res.ImportID)
		return
	}
	if len(res.Rows) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LINE\tNAME\tPHONE\tWHEN\tLANG\tSTATUS")
		for _, r := range res.Rows {
			status := "ok"
			switch {
			case r.AppointmentID != 0:
				status = fmt.Sprintf("appointment %d", r.AppointmentID)
			case len(r.Problems) > 0:
				status = problemCodes(r.Problems)
				if res.Committed {
					status = "skipped: " + status
				}
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Line, safe(clip(r.Name, 30)), maskedPhone(r.Phone), inZone(r.At, zone), safe(r.Language), safe(status))
		}
		tw.Flush()
	}
	var problems []string
	for _, r := range res.Rows {
		for _, p := range r.Problems {
			problems = append(problems, fmt.Sprintf("  line %d: %s", r.Line, safe(p.Message)))
		}
	}
	if len(problems) > 0 {
		if res.Committed {
			fmt.Fprintln(w, "skipped rows:")
		} else {
			fmt.Fprintln(w, "problems:")
		}
		for _, p := range problems {
			fmt.Fprintln(w, p)
		}
	}
	switch {
	case res.Committed:
		fmt.Fprintf(w, "import %d: created %d appointment(s) and %d reminder(s); %d row(s) skipped\n", res.ImportID, res.Created, res.Reminders, res.Bad)
	case res.Good == 0:
		fmt.Fprintf(w, "%d row(s): none can be imported; fix the file (or map its columns with -map) and try again\n", len(res.Rows))
	default:
		fmt.Fprintf(w, "%d row(s): %d good, %d with problems. Nothing was imported yet: run again with -commit to create the %d good one(s)\n", len(res.Rows), res.Good, res.Bad, res.Good)
	}
}

// problemCodes lists a row's problem codes ("bad_number,in_the_past").
func problemCodes(ps []ops.ImportProblem) string {
	codes := make([]string, 0, len(ps))
	for _, p := range ps {
		codes = append(codes, p.Code)
	}
	return strings.Join(codes, ",")
}

// maskedPhone masks a number for a list ("-" when there is none); a number
// the service masked already stays as it is.
func maskedPhone(p string) string {
	switch {
	case strings.TrimSpace(p) == "":
		return "-"
	case strings.Contains(p, "*"):
		return safe(p)
	}
	return safe(mask.Number(p))
}

func delimiterName(d string) string {
	switch d {
	case "\t":
		return "tab"
	case "":
		return "-"
	}
	return fmt.Sprintf("%q", d)
}

// clip shortens s to n characters for a table column.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// inZone shows t on the clinic's clock.
func inZone(t time.Time, zone *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(zone).Format("2006-01-02 15:04")
}

// clinicZone is the clinic's time zone from the configuration (appointment
// times are the clinic's); the system's when the configuration cannot be
// read.
func clinicZone(cf commonFlags) *time.Location {
	cfg, err := cf.load()
	if err != nil {
		return time.Local
	}
	loc, err := cfg.Location()
	if err != nil {
		return time.Local
	}
	return loc
}
