package main

import (
	"flag"
	"fmt"
	"strings"
)

// subcommand is one action of a command that has several (smsd user add,
// smsd message show, ...): its usage line, and the flags of its own that
// setup adds beside the common ones.
type subcommand struct {
	usage string
	// words is how many words (USERNAME, ID, NUMBER) follow the action.
	words int
}

// parseAction finds the action of a command with several and parses its
// own flags: smsd CMD ACTION [flags] [WORDS] [flags]. It returns the action,
// its words, and the flag set with setup's flags parsed. -h without an
// action prints every action's usage.
func parseAction(env *cmdEnv, cmd string, actions map[string]subcommand, order []string, args []string, setup func(action string, fs *flag.FlagSet)) (string, []string, error) {
	all := make([]string, 0, len(order))
	for _, a := range order {
		all = append(all, actions[a].usage)
	}
	overview := strings.Join(all, "\n       ")
	// The action is the first word that names one, so that flags may also
	// come before it (smsd user -data-dir D add alice); a word that is a
	// flag's value is not an action.
	takesValue := func(arg string) bool {
		name := strings.TrimLeft(arg, "-")
		if strings.Contains(name, "=") {
			return false
		}
		for a := range actions {
			probe := flag.NewFlagSet("", flag.ContinueOnError)
			setup(a, probe)
			if f := probe.Lookup(name); f != nil {
				b, isBool := f.Value.(interface{ IsBoolFlag() bool })
				return !(isBool && b.IsBoolFlag())
			}
		}
		return false
	}
	at := -1
	for i := 0; i < len(args); i++ {
		a := args[i]
		if _, ok := actions[a]; ok {
			at = i
			break
		}
		if !strings.HasPrefix(a, "-") {
			return "", nil, usageError("unknown action %q\n%s", a, overview)
		}
		if takesValue(a) {
			i++
		}
	}
	if at < 0 {
		for _, a := range args {
			if a == "-h" || a == "-help" || a == "--help" {
				fmt.Fprintln(env.stderr, "Usage: "+overview)
				fmt.Fprintf(env.stderr, "Run 'smsd %s ACTION -h' for an action's flags.\n", cmd)
				return "", nil, flag.ErrHelp
			}
		}
		return "", nil, usageError("smsd %s needs an action first:\n%s", cmd, overview)
	}
	name := args[at]
	sub := actions[name]
	args = append(append([]string{}, args[:at]...), args[at+1:]...)
	fs := newFlagSet(env, cmd+" "+name, sub.usage)
	setup(name, fs)
	words, err := parseWords(fs, args)
	if err != nil {
		return "", nil, err
	}
	if len(words) != sub.words {
		return "", nil, usageError("%s\n(smsd %s %s takes %d argument(s), got %d)", sub.usage, cmd, name, sub.words, len(words))
	}
	return name, words, nil
}
