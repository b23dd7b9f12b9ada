package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"aead.dev/minisign"

	"github.com/clinicsms/smsd/audit"
)

func init() {
	register(command{name: "audit", summary: "the audit trail: smsd audit export|verify|check|pubkey|newkey", run: runAudit})
}

// headsFlag collects -head values.
type headsFlag []string

func (h *headsFlag) String() string     { return strings.Join(*h, " ") }
func (h *headsFlag) Set(v string) error { *h = append(*h, v); return nil }

var auditActions = map[string]subcommand{
	"export": {usage: "smsd audit export [-from DATE] [-to DATE] -out F.csv   write F.csv and its signature F.csv.minisig"},
	"verify": {usage: "smsd audit verify [-pubkey KEY|FILE] [-sig F.csv.minisig] F.csv   check an export: signature, chain, row count", words: 1},
	"check":  {usage: "smsd audit check [-head SIGNED_HEAD]...   verify the whole log in the store against its signed heads"},
	"pubkey": {usage: "smsd audit pubkey [-all]   the public key to hand to the compliance officer (minisign -P)"},
	"newkey": {usage: "smsd audit newkey   a new signing key (old exports still verify: the old public keys stay listed)"},
}

func runAudit(ctx context.Context, env *cmdEnv, args []string) error {
	var cf commonFlags
	var from, to, out, pubkey, sigPath *string
	var all *bool
	var heads headsFlag
	action, words, err := parseAction(env, "audit", auditActions, []string{"export", "verify", "check", "pubkey", "newkey"}, args,
		func(action string, fs *flag.FlagSet) {
			cf = addCommonFlags(fs, env)
			switch action {
			case "export":
				from = fs.String("from", "", "first day (local date 2026-11-01, or a time); default: the log's start")
				to = fs.String("to", "", "the day after the last (local date), or a time; default: now")
				out = fs.String("out", "", "the CSV file to write; its signature goes to the same name with .minisig")
			case "verify":
				pubkey = fs.String("pubkey", "", "the audit public key (RW...) or a minisign .pub file; default: the keys of this box's store")
				sigPath = fs.String("sig", "", "the signature file (default: F.csv.minisig)")
			case "check":
				fs.Var(&heads, "head", "a signed head from the journal ('audit head signed' lines), to check the log against; repeatable")
			case "pubkey":
				all = fs.Bool("all", false, "also the keys used before a key change (old exports verify with them)")
			}
		})
	if err != nil {
		return err
	}
	switch action {
	case "export":
		return auditExport(ctx, env, cf, *from, *to, *out)
	case "verify":
		return auditVerify(ctx, env, cf, words[0], *sigPath, *pubkey)
	case "check":
		conn, err := cf.connect(ctx, env)
		if err != nil {
			return err
		}
		defer conn.Close()
		res, err := conn.AuditCheck(ctx, heads)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "audit log OK: %d rows, head %s, %d signed head(s) agree\n", res.Rows, res.Head, res.SignedHeads)
		return nil
	case "newkey":
		conn, err := cf.connect(ctx, env)
		if err != nil {
			return err
		}
		defer conn.Close()
		k, err := conn.RotateAuditKey(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "new audit signing key; its public key, for the compliance officer:\n%s\n(exports signed before verify with the old key: smsd audit pubkey -all)\n", k)
		return nil
	default:
		conn, err := cf.connect(ctx, env)
		if err != nil {
			return err
		}
		defer conn.Close()
		keys, err := conn.AuditPublicKeys(ctx)
		if err != nil {
			return err
		}
		if !*all {
			keys = keys[len(keys)-1:]
		}
		for _, k := range keys {
			fmt.Fprintln(env.stdout, k)
		}
		return nil
	}
}

func auditExport(ctx context.Context, env *cmdEnv, cf commonFlags, fromS, toS, out string) error {
	if out == "" {
		return usageError("-out F.csv is needed: where to write the export")
	}
	from, err := parseDay("-from", fromS)
	if err != nil {
		return err
	}
	to, err := parseDay("-to", toS)
	if err != nil {
		return err
	}
	conn, err := cf.connect(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	sigOut := out + ".minisig"
	csvF, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w (an export never overwrites a file: choose another -out)", out, err)
	}
	sigF, err := os.OpenFile(sigOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		csvF.Close()
		os.Remove(out)
		return fmt.Errorf("create %s: %w (an export never overwrites a file: choose another -out)", sigOut, err)
	}
	sum, err := conn.AuditExport(ctx, from, to, csvF, sigF)
	cerr := errors.Join(csvF.Sync(), csvF.Close(), sigF.Sync(), sigF.Close())
	if err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out)
		os.Remove(sigOut)
		return err
	}
	fmt.Fprintf(env.stdout, "wrote %s: %d row(s)", out, sum.Rows)
	if sum.Rows > 0 {
		fmt.Fprintf(env.stdout, ", %d to %d", sum.First, sum.Last)
	}
	fmt.Fprintf(env.stdout, "; chain head %s\nwrote %s\n", sum.ChainHead, sigOut)
	if keys, err := conn.AuditPublicKeys(ctx); err == nil && len(keys) > 0 {
		fmt.Fprintf(env.stdout, "check it with: smsd audit verify %s, or minisign -Vm %s -P %s\n", out, out, keys[len(keys)-1])
	}
	return nil
}

func auditVerify(ctx context.Context, env *cmdEnv, cf commonFlags, path, sigPath, pubkey string) error {
	if sigPath == "" {
		sigPath = path + ".minisig"
	}
	sig, err := os.ReadFile(sigPath)
	if err != nil {
		return fmt.Errorf("read the signature: %w (give -sig FILE if it is elsewhere)", err)
	}
	keys, err := auditKeys(ctx, env, cf, pubkey)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sum, err := audit.VerifyCSV(f, sig, keys)
	if err != nil {
		return fmt.Errorf("%s does NOT verify: %w", path, err)
	}
	fmt.Fprintf(env.stdout, "%s verifies: signed by the audit key, %d row(s)", path, sum.Rows)
	if sum.Rows > 0 {
		fmt.Fprintf(env.stdout, " (%d to %d)", sum.First, sum.Last)
	}
	fmt.Fprintf(env.stdout, ", chain unbroken; the log's head at export was %s\n", sum.ChainHead)
	return nil
}

// auditKeys is -pubkey (a key or a .pub file), else every key of this
// box's store.
func auditKeys(ctx context.Context, env *cmdEnv, cf commonFlags, pubkey string) ([]minisign.PublicKey, error) {
	var texts []string
	switch {
	case strings.HasPrefix(pubkey, "RW"):
		texts = []string{pubkey}
	case pubkey != "":
		k, err := minisign.PublicKeyFromFile(pubkey)
		if err != nil {
			return nil, fmt.Errorf("-pubkey %s: %w (give the key itself, RW..., or a minisign .pub file)", pubkey, err)
		}
		return []minisign.PublicKey{k}, nil
	default:
		conn, err := cf.connect(ctx, env)
		if err != nil {
			return nil, fmt.Errorf("%w (or give the audit public key with -pubkey)", err)
		}
		defer conn.Close()
		if texts, err = conn.AuditPublicKeys(ctx); err != nil {
			return nil, err
		}
	}
	return parseAuditKeys(texts)
}

// parseAuditKeys reads audit public keys in minisign's text form (RW...),
// as the daemon lists them and -pubkey takes them.
func parseAuditKeys(texts []string) ([]minisign.PublicKey, error) {
	keys := make([]minisign.PublicKey, 0, len(texts))
	for _, t := range texts {
		var k minisign.PublicKey
		if err := k.UnmarshalText([]byte(t)); err != nil {
			return nil, fmt.Errorf("audit public key %q: %w", t, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
