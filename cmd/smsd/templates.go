package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/clinicsms/smsd/ops"
)

func init() {
	register(command{name: "templates", summary: "message templates: smsd templates list|check|save|delete (body on standard input)", run: runTemplates})
}

var templateActions = map[string]subcommand{
	ops.TemplateList:     {usage: "smsd templates list [-json]                          every template, with its check", words: 0},
	ops.TemplateValidate: {usage: "smsd templates check [-lang en|es] < BODY            check a body without saving it (exit 1 if it would be refused)", words: 0},
	ops.TemplateSave:     {usage: "smsd templates save -name N [-lang en|es] [-reminder] [-id ID] < BODY   save a template (admin)", words: 0},
	ops.TemplateDelete:   {usage: "smsd templates delete ID                             delete a template (admin)", words: 1},
}

// errTemplateRefused: smsd templates check found a problem that would
// refuse a save (exit 1 after the report).
var errTemplateRefused = errors.New("the template would be refused (see the problems above)")

func runTemplates(ctx context.Context, env *cmdEnv, args []string) error {
	var cf commonFlags
	var asJSON, reminder *bool
	var name, lang *string
	var id *int64
	action, words, err := parseAction(env, "templates", templateActions,
		[]string{ops.TemplateList, ops.TemplateValidate, ops.TemplateSave, ops.TemplateDelete}, args,
		func(action string, fs *flag.FlagSet) {
			cf = addCommonFlags(fs, env)
			asJSON = fs.Bool("json", false, "print JSON")
			if action == ops.TemplateValidate || action == ops.TemplateSave {
				lang = fs.String("lang", ops.LangEnglish, "the template's language: en or es")
			}
			if action == ops.TemplateSave {
				name = fs.String("name", "", "the template's name, e.g. \"Reminder\"")
				reminder = fs.Bool("reminder", false, "make it the template the reminder plan sends in its language")
				id = fs.Int64("id", 0, "change the template with this id (default: a new one)")
			}
		})
	if err != nil {
		return err
	}
	req := ops.TemplateRequest{Action: action}
	switch action {
	case ops.TemplateDelete:
		n, err := strconv.ParseInt(words[0], 10, 64)
		if err != nil || n <= 0 {
			return usageError("%q is not a template id (a number, as smsd templates list shows them)", words[0])
		}
		req.ID = n
	case ops.TemplateValidate, ops.TemplateSave:
		if isTerminal(env.stdin) {
			fmt.Fprintln(env.stderr, "Type the template's text; end with Ctrl-D. Placeholders: {name} {date} {time} {provider} {location} {clinic} {phone}.")
		}
		if req.Body, err = readBody(env.stdin); err != nil {
			return usageError("%v", err)
		}
		req.Language = *lang
		if action == ops.TemplateSave {
			if strings.TrimSpace(*name) == "" {
				return usageError("give the template a -name, e.g. -name Reminder")
			}
			req.Name, req.Reminder, req.ID = *name, *reminder, *id
		}
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	ts, err := conn.Templates(ctx, req)
	if err != nil {
		return err
	}
	if *asJSON {
		if ts == nil {
			ts = []ops.Template{}
		}
		if err := printJSON(env.stdout, ts); err != nil {
			return err
		}
		if action == ops.TemplateValidate && len(ts) == 1 && !ts[0].Check.OK {
			return errTemplateRefused
		}
		return nil
	}
	switch action {
	case ops.TemplateValidate:
		if len(ts) != 1 {
			return fmt.Errorf("smsd serve answered the check with %d templates (a different version of smsd?)", len(ts))
		}
		printCheck(env.stdout, ts[0].Check)
		if !ts[0].Check.OK {
			return errTemplateRefused
		}
	case ops.TemplateSave:
		for _, t := range ts {
			fmt.Fprintf(env.stdout, "template %d %q (%s) saved\n", t.ID, safe(t.Name), safe(t.Language))
			printCheck(env.stdout, t.Check)
		}
	case ops.TemplateDelete:
		fmt.Fprintf(env.stdout, "template %d deleted\n", req.ID)
	default:
		if len(ts) == 0 {
			fmt.Fprintln(env.stdout, "no templates")
			return nil
		}
		tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tLANG\tNAME\tREMINDER\tWORST CASE\tCHECK\tBODY")
		for _, t := range ts {
			rem := "-"
			if t.Reminder {
				rem = "yes"
			}
			check := "ok"
			if !t.Check.OK {
				check = "refused"
			} else if len(t.Check.Clinical) > 0 {
				check = "warning"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%q\n", t.ID, safe(t.Language), safe(t.Name), rem, worstCase(t.Check.WorstCase), check, t.Body)
		}
		return tw.Flush()
	}
	return nil
}

// printCheck shows what the service found in a template body.
func printCheck(w io.Writer, c ops.TemplateCheck) {
	verdict := "ok"
	if !c.OK {
		verdict = "refused"
	}
	fmt.Fprintf(w, "check: %s; worst case %s\n", verdict, worstCase(c.WorstCase))
	for _, p := range c.Problems {
		fmt.Fprintf(w, "  %s\n", safe(p))
	}
}

// worstCase shows a worst-case fill's cost: "2 parts GSM-7".
func worstCase(tc ops.TextCount) string {
	if tc.Parts == 0 {
		return "-"
	}
	s := fmt.Sprintf("%d part(s) %s", tc.Parts, tc.Encoding)
	if tc.TooLong {
		s += fmt.Sprintf(", over the %d-part limit", tc.MaxParts)
	}
	return s
}

// maxBodyInput bounds a template body read from standard input.
const maxBodyInput = 64 << 10

// readBody reads a template's text from r (the final line break dropped).
func readBody(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBodyInput+1))
	if err != nil {
		return "", fmt.Errorf("reading the template from standard input: %w", err)
	}
	if len(b) > maxBodyInput {
		return "", fmt.Errorf("standard input holds more than %d KiB: a template is one message", maxBodyInput>>10)
	}
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	s = strings.TrimSuffix(s, "\n")
	if strings.TrimSpace(s) == "" {
		return "", errors.New("no template on standard input: give its text, e.g. smsd templates check < reminder.txt")
	}
	return s, nil
}
