package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/clinicsms/smsd/ops"
)

func init() {
	register(command{name: "send", summary: "queue a message: smsd send [-at TIME] < message (number on the first line, then the text)", run: runSend})
}

const sendUsage = `smsd send [-at TIME] [-idempotency-key K] < MESSAGE
       (MESSAGE: the number on the first line, the text on the lines after it)
       smsd send -to NUMBER -text TEXT ...   (works, with a warning: both are then visible to every user)`

// warnArgv is what a command that was given a phone number or a message
// text as an argument prints on stderr: arguments are not private. what
// names them ("the number and the text"), how says how to pipe them in.
func warnArgv(w io.Writer, cmd, what string, plural bool, how string) {
	verbs, them := "is visible to every user of this box in ps, and stays", "it"
	if plural {
		verbs, them = "are visible to every user of this box in ps, and stay", "them"
	}
	fmt.Fprintf(w, "%s: warning: %s given on the command line %s in shell history and in sudo's log; pipe %s in instead: %s\n", cmd, what, verbs, them, how)
}

// maxMessageInput bounds what send reads from standard input: far more than
// the longest message (255 parts), so a runaway pipe is refused, not queued.
const maxMessageInput = 256 << 10

func runSend(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlagSet(env, "send", sendUsage)
	cf := addCommonFlags(fs, env)
	to := fs.String("to", "", "recipient, with country code (visible to every user in ps: prefer the number on standard input's first line)")
	text := fs.String("text", "", "message text, UTF-8 (visible to every user in ps: prefer standard input)")
	at := fs.String("at", "", "send later: 2026-11-25T09:00 (local), RFC 3339, or a delay such as 2h")
	idem := fs.String("idempotency-key", "", "a key that makes repeating this command queue the message only once")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q: give the number on the first line of standard input and the text after it (smsd send < message.txt)", fs.Arg(0))
	}
	sendAt, err := parseAt(*at, time.Now())
	if err != nil {
		return usageError("%v", err)
	}
	req := ops.SendRequest{SendAt: sendAt, IdempotencyKey: *idem}
	switch {
	case *to != "" && *text != "":
		warnArgv(env.stderr, "smsd send", "the number and the text", true,
			"printf '%s\\n' NUMBER 'TEXT' | smsd send, or smsd send < message.txt (number on the first line, then the text)")
		req.To, req.Text = *to, *text
	case *to != "" || *text != "":
		return usageError("give both -to and -text, or neither and the message on standard input: the number on the first line, the text after it (smsd send < message.txt)")
	default:
		if isTerminal(env.stdin) {
			fmt.Fprintln(env.stderr, "Type the number on the first line and the text after it; end with Ctrl-D.")
		}
		if req.To, req.Text, err = readMessage(env.stdin); err != nil {
			return usageError("%v", err)
		}
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := conn.Send(ctx, req)
	if err != nil {
		return err
	}
	verb := "queued"
	if res.Existing {
		verb = "already queued (same idempotency key):"
	}
	fmt.Fprintf(env.stdout, "%s message %d to %s (%d part(s), %s)", verb, res.ID, safe(res.To), res.Parts, safe(res.Encoding))
	if !res.SendAt.IsZero() && res.SendAt.After(time.Now()) {
		fmt.Fprintf(env.stdout, ", to be sent at %s", res.SendAt.Local().Format("2006-01-02 15:04"))
	}
	fmt.Fprintln(env.stdout)
	if conn.Direct {
		fmt.Fprintln(env.stderr, "smsd send: note: smsd serve is not running: the message goes out when it starts")
	}
	return nil
}

// readMessage reads a message from r: the number on the first line, the
// text on the lines after it (line breaks kept as LF, the final one
// dropped).
func readMessage(r io.Reader) (number, text string, err error) {
	b, err := io.ReadAll(io.LimitReader(r, maxMessageInput+1))
	if err != nil {
		return "", "", fmt.Errorf("reading the message from standard input: %w", err)
	}
	if len(b) > maxMessageInput {
		return "", "", fmt.Errorf("standard input holds more than %d KiB: give one message, the number on the first line and the text after it", maxMessageInput>>10)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	number, text, _ = strings.Cut(s, "\n")
	number = strings.TrimSpace(number)
	text = strings.ReplaceAll(text, "\r\n", "\n")
	switch {
	case number == "" && text == "":
		return "", "", errors.New("no message on standard input: give the number on the first line and the text after it, e.g. smsd send < message.txt")
	case number == "":
		return "", "", errors.New("the first line of standard input is empty: it must be the number, with its country code (+15551234567)")
	case text == "":
		return "", "", errors.New("no text after the number on standard input: the text goes on the lines after the number")
	}
	return number, text, nil
}

// readNumber reads one phone number from r, alone on its line.
func readNumber(r io.Reader) (string, error) {
	sc := bufio.NewScanner(io.LimitReader(r, 4096))
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return "", fmt.Errorf("reading the number from standard input: %w", err)
		}
		return "", errors.New("no number on standard input: give it alone on the first line, e.g. echo +15551234567 | smsd optouts add -")
	}
	n := strings.TrimSpace(sc.Text())
	if n == "" {
		return "", errors.New("the first line of standard input is empty: it must be the number, with its country code (+15551234567)")
	}
	return n, nil
}

// parseAt reads -at: empty (now), a delay ("2h"), RFC 3339, or a local
// date and time.
func parseAt(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("-at %q is in the past", s)
		}
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("-at %q is not a time: use 2026-11-25T09:00 (local time), 2026-11-25T09:00:00-05:00, or a delay such as 2h", s)
}
