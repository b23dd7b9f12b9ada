// Command smsd is the on-prem SMS appliance for clinics: one binary with a
// subcommand per job (see DESIGN.md, "Command line"). This package only wires
// the parts together; every subcommand lives in its own file and registers
// itself with register.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/clinicsms/smsd/modem"
)

// command is one subcommand: its name, a one-line summary for the help text,
// and the function that runs it with the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cmdEnv, args []string) error
}

// cmdEnv is what a subcommand may touch of the process: its output streams
// and environment, so that tests can run subcommands in-process.
type cmdEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

var commands = map[string]command{}

// register adds a subcommand; each subcommand file calls it from init.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("smsd: subcommand registered twice: " + c.name)
	}
	commands[c.name] = c
}

// exitConfig is the exit status for a configuration a restart cannot fix
// (EX_CONFIG of sysexits.h).
const exitConfig = 78

// errUsage marks an error whose message already says how to call the command;
// main exits with status 2 for it, as flag does.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cmdEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(runMain(ctx, env, os.Args[1:]))
}

// runMain runs the subcommand named by args[0] and returns the exit status.
func runMain(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		printUsage(env.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "smsd: unknown command %q; run 'smsd help' for the list\n", args[0])
		return 2
	}
	err := c.run(ctx, env, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errNotRunning):
		return 3
	case errors.Is(err, modem.ErrPINWrong), errors.Is(err, modem.ErrPUK), errors.Is(err, modem.ErrPINRequired):
		// A restart cannot fix a SIM PIN, and one more wrong try may lock
		// the SIM: the unit's RestartPreventExitStatus keeps systemd from
		// trying (see packaging/smsd.service).
		fmt.Fprintf(env.stderr, "smsd %s: %v\n", c.name, err)
		return exitConfig
	case errors.Is(err, errUsage):
		fmt.Fprintf(env.stderr, "smsd %s: %v\n", c.name, err)
		return 2
	default:
		fmt.Fprintf(env.stderr, "smsd %s: %v\n", c.name, err)
		return 1
	}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "smsd: an on-prem SMS appliance for clinics")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: smsd <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'smsd <command> -h' for a command's flags.")
}

// printJSON writes v as indented JSON, the form every -json flag prints.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseWords parses args with fs and returns the words that are not flags,
// so that flags may come before, between or after a command's words
// (smsd user -data-dir D add alice -role admin).
func parseWords(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return words, nil
		}
		words, rest = append(words, fs.Arg(0)), fs.Args()[1:]
	}
}

// newFlagSet returns a flag set for a subcommand that reports errors instead
// of exiting, and prints its help on env's stderr.
func newFlagSet(env *cmdEnv, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("smsd "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	return fs
}
