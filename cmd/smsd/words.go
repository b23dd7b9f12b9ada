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
// its words, and the flag set with setup's flags parsed. -h before an action
// prints every action's usage.
func parseAction(env *cmdEnv, cmd string, actions map[string]subcommand, order []string, args []string, setup func(action string, fs *flag.FlagSet)) (string, []string, error) {
	all := make([]string, 0, len(order))
	for _, a := range order {
		all = append(all, actions[a].usage)
	}
	overview := strings.Join(all, "\n       ")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintln(env.stderr, "Usage: "+overview)
			fmt.Fprintf(env.stderr, "Run 'smsd %s ACTION -h' for an action's flags.\n", cmd)
			return "", nil, flag.ErrHelp
		}
		return "", nil, usageError("smsd %s needs an action first:\n%s", cmd, overview)
	}
	name := args[0]
	sub, ok := actions[name]
	if !ok {
		return "", nil, usageError("unknown action %q\n%s", name, overview)
	}
	fs := newFlagSet(env, cmd+" "+name, sub.usage)
	setup(name, fs)
	words, err := parseWords(fs, args[1:])
	if err != nil {
		return "", nil, err
	}
	if len(words) != sub.words {
		return "", nil, usageError("%s\n(smsd %s %s takes %d argument(s), got %d)", sub.usage, cmd, name, sub.words, len(words))
	}
	return name, words, nil
}
