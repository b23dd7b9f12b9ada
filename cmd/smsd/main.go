// Command smsd is the on-prem SMS appliance for clinics: one binary with a
// subcommand per job (README.md, "Command reference"). This package only
// wires: flags, configuration, which door to the service (package daemon)
// to use, and printing. Every subcommand lives in its own file and
// registers itself with register; the rules live in the service.
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

	"github.com/clinicsms/smsd/daemon"
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

// Exit statuses beyond 0 (done) and 1 (failed).
const (
	// exitUsage: the command line is wrong (as flag does).
	exitUsage = 2
	// exitNotRunning: smsd status found no daemon (LSB "program is not
	// running").
	exitNotRunning = 3
	// exitConfig: a configuration a restart cannot fix (EX_CONFIG of
	// sysexits.h).
	exitConfig = 78
)

// errUsage marks an error whose message already says how to call the
// command; main exits with exitUsage for it.
var errUsage = errors.New("usage")

// errPrinted marks a usage error the flag package has already printed
// (with the command's flags): main exits with exitUsage and prints nothing.
var errPrinted = errors.New("usage error printed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := &cmdEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	if err := daemon.GuardProcess(); err != nil {
		fmt.Fprintf(env.stderr, "smsd: warning: %v; keys in memory are less protected\n", err)
	}
	os.Exit(runMain(ctx, env, os.Args[1:]))
}

// runMain runs the subcommand named by args[0] and returns the exit status.
func runMain(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 {
		printUsage(env.stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		if len(args) > 1 {
			// smsd help CMD is smsd CMD -h.
			if _, ok := commands[args[1]]; ok {
				return runMain(ctx, env, []string{args[1], "-h"})
			}
			fmt.Fprintf(env.stderr, "smsd: unknown command %q; run 'smsd help' for the list\n", args[1])
			return exitUsage
		}
		printUsage(env.stdout)
		return 0
	case "--version", "-version", "-v":
		args = []string{"version"}
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(env.stderr, "smsd: unknown command %q; run 'smsd help' for the list\n", args[0])
		return exitUsage
	}
	err := c.run(ctx, env, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errPrinted):
		return exitUsage
	case errors.Is(err, errNotRunning):
		return exitNotRunning
	case errors.Is(err, modem.ErrPINWrong), errors.Is(err, modem.ErrPUK), errors.Is(err, modem.ErrPINRequired):
		// A restart cannot fix a SIM PIN, and one more wrong try may lock
		// the SIM: the unit's RestartPreventExitStatus keeps systemd from
		// trying (see packaging/smsd.service).
		fmt.Fprintf(env.stderr, "smsd %s: %v\n", c.name, err)
		return exitConfig
	case errors.Is(err, errUsage):
		fmt.Fprintf(env.stderr, "smsd %s: %v\n", c.name, err)
		return exitUsage
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
	width := 0
	for n := range commands {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s %s\n", width, n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'smsd help <command>' (or 'smsd <command> -h') for a command's flags.")
	fmt.Fprintln(w, "SMSD_DATA_DIR, if set, is the data directory when -data-dir is not given.")
}

// printJSON writes v as indented JSON, the form every -json flag prints.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newFlagSet returns a flag set for a subcommand that reports errors instead
// of exiting, and prints its help (usage line, then flags) on env's stderr.
func newFlagSet(env *cmdEnv, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("smsd "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "Usage: "+usage)
		if hasFlags(fs) {
			fmt.Fprintln(env.stderr, "Flags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseFlags parses args with fs. The flag package has then printed any
// error with the usage, so the error that comes back is only for the exit
// status.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errPrinted
	}
	return nil
}

// parseWords parses args with fs and returns the words that are not flags,
// so that flags may come before, between or after a command's words
// (smsd user add alice -role admin).
func parseWords(fs *flag.FlagSet, args []string) ([]string, error) {
	var words []string
	for rest := args; ; {
		if err := parseFlags(fs, rest); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return words, nil
		}
		words, rest = append(words, fs.Arg(0)), fs.Args()[1:]
	}
}

// usageError is a command line that parsed but makes no sense; it names
// what is wrong and shows the usage.
func usageError(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}
