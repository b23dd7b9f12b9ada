package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clinicsms/smsd/internal/testutil"
	"github.com/clinicsms/smsd/modem/emulator"
	"github.com/clinicsms/smsd/queue"
)

// newRigCode is newRig, also returning the recovery code smsd init printed.
func newRigCode(t *testing.T) (*rig, string) {
	t.Helper()
	dir := t.TempDir()
	r := &rig{t: t, dir: dir, data: filepath.Join(dir, "data"), conf: filepath.Join(dir, "smsd.toml")}
	emu, err := emulator.Start(emulator.Config{Link: filepath.Join(dir, "tty"), StatusReportDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.emu = emu
	t.Cleanup(func() { emu.Close() })
	conf := fmt.Sprintf("modem = %q\nrate_limit = \"0s\"\ncommand_timeout = \"1s\"\nsend_timeout = \"3s\"\nhealth_interval = \"1s\"\nreconnect_max = \"500ms\"\nstall_timeout = \"20s\"\n", emu.Path())
	if err := os.WriteFile(r.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code := r.cmd("init")
	if code != 0 {
		t.Fatalf("smsd init: exit %d\n%s%s", code, out, errs)
	}
	m := regexp.MustCompile(`(?m)^Recovery code: (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("smsd init printed no line starting 'Recovery code: ':\n%s", out)
	}
	t.Cleanup(func() { r.stop() })
	return r, m[1]
}

// smsdIn runs smsd with stdin in, the rig's config and data directory data;
// it returns stdout, stderr and the exit code.
func (r *rig) smsdIn(data, in string, args ...string) (string, string, int) {
	r.t.Helper()
	return r.smsdWith(data, strings.NewReader(in), args...)
}

var backupDirRe = regexp.MustCompile(`(?m)^backup written: (\S+) `)

// copyBackup copies backup src to a new directory and applies change.
func copyBackup(t *testing.T, src string, change func(dir string)) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), filepath.Base(src))
	os.MkdirAll(dir, 0o700)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(src, e.Name()))
		os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600)
	}
	change(dir)
	return dir
}

// TestBackupRestore: backups taken while sends and inbound messages run
// against the emulated modem, then a restore onto a fresh data directory
// with only the recovery code. The restored store holds every message,
// reply, opt-out, user and audit row of the backup with the audit chain
// intact, and goes on sending without a duplicate: what was sent at backup
// time is never sent again, what was being sent is uncertain (not sent),
// what was queued goes out exactly once. Tampered, truncated and mixed-up
// backups and a wrong recovery code are refused, the data directory left
// untouched; no backup file holds the PHI canary in clear; a backup on the
// data's own file system is refused without -force.
func TestBackupRestore(t *testing.T) {
	r, code := newRigCode(t)
	// A slow modem: the queue stays busy during the backups.
	r.emu.SetLatency(15 * time.Millisecond)
	r.start()
	const canaryNum, canaryText, canaryReply, canaryName = "+15558675309", "Canary Quixotebottom: colonoscopy prep at 7", "Quixotebottom says C", "Zebulon Canaryfeather"
	if out, errs, code := r.smsdIn(r.data, canaryNum+"\n"+canaryText+"\n", "send"); code != 0 {
		t.Fatalf("send: %s%s", out, errs)
	}
	r.waitFor("the canary sent", 30*time.Second, func() bool { return r.handsetCounts()[canaryNum+"|"+canaryText] == 1 })
	if err := r.emu.Inject(canaryNum, canaryReply); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := r.smsdIn(r.data, "+15558675310\n", "optouts", "add", "-"); code != 0 {
		t.Fatalf("optouts add: %s%s", out, errs)
	}
	if out, errs, code := r.smsdIn(r.data, "a long enough password\n", "user", "add", "-role", "staff", "-name", canaryName, "zeb"); code != 0 {
		t.Fatalf("user add: %s%s", out, errs)
	}
	r.waitFor("the canary's reply", 20*time.Second, func() bool { out, _, _ := r.cmd("inbox", "-json"); return strings.Contains(out, canaryReply) })

	// Load: sends through the daemon and inbound messages, until stopped.
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var loadErr error
	var mu sync.Mutex
	sends, replies := 0, 0
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			c := exec.Command(smsdBin, "send", "-config", r.conf, "-data-dir", r.data)
			c.Stdin = strings.NewReader(fmt.Sprintf("+1555300%04d\nload message %d\n", i%50, i))
			if out, err := c.CombinedOutput(); err != nil {
				mu.Lock()
				loadErr = fmt.Errorf("load send %d: %v: %s", i, err, out)
				mu.Unlock()
				return
			}
			mu.Lock()
			sends++
			mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			if err := r.emu.Inject(fmt.Sprintf("+1555300%04d", i%50), fmt.Sprintf("load reply %d", i)); err != nil {
				mu.Lock()
				loadErr = err
				mu.Unlock()
				return
			}
			mu.Lock()
			replies++
			mu.Unlock()
			time.Sleep(30 * time.Millisecond)
		}
	}()
	loaded := func(n int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return sends >= n && replies >= n || loadErr != nil
		}
	}
	r.waitFor("load under way", 60*time.Second, loaded(10))

	place := filepath.Join(r.dir, "stick")
	os.MkdirAll(place, 0o700)
	// Not on the data's own file system, unless -force.
	out, errs, rc := r.cmd("backup", "-out", place)
	if rc != 1 || !strings.Contains(errs, "same file system as the data directory") || !strings.Contains(errs, "-force") {
		t.Fatalf("backup onto the data's file system: exit %d\n%s%s", rc, out, errs)
	}
	if st := r.run("status"); !strings.Contains(st, "THE LAST BACKUP FAILED") {
		t.Errorf("smsd status does not report the failed backup:\n%s", st)
	}
	var backups []string
	for i := range 2 {
		out := r.run("backup", "-out", place, "-force")
		m := backupDirRe.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("backup %d: %s", i, out)
		}
		backups = append(backups, m[1])
		r.waitFor("more load", 60*time.Second, loaded(10*(i+2)))
	}
	stopLoad()
	wg.Wait()
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	t.Logf("load: %d sends, %d replies; backups %v", sends, replies, backups)
	if st := r.run("status", "-json"); !strings.Contains(st, `"last_dir": "`+backups[1]+`"`) || !strings.Contains(st, `"ok": true`) {
		t.Errorf("smsd status -json after the backups: %s", st)
	}
	b := backups[0]
	var m queue.Manifest
	if mb, err := os.ReadFile(filepath.Join(b, queue.ManifestFile)); err != nil || json.Unmarshal(mb, &m) != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.Counts["messages"] < 5 || m.Counts["inbound"] < 3 || m.Counts["optouts"] != 1 || m.Counts["users"] != 1 {
		t.Fatalf("the backup under load counts %v", m.Counts)
	}

	// The PHI canary is in no backup file in clear.
	for _, dir := range backups {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			raw, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			for _, phi := range []string{canaryNum, "8675309", "8675310", "Quixotebottom", "colonoscopy", "Canaryfeather", "load message", "load reply"} {
				if bytes.Contains(raw, []byte(phi)) {
					t.Errorf("%s/%s holds %q in clear", filepath.Base(dir), e.Name(), phi)
				}
			}
		}
	}

	// Verify: the good one, then damaged copies.
	if out := r.run("backup", "verify", b); !strings.Contains(out, "verifies") || !strings.Contains(out, "one of this box's audit keys") {
		t.Errorf("backup verify: %s", out)
	}
	flipDB := func(dir string) {
		p := filepath.Join(dir, queue.BackupDBFile)
		raw, _ := os.ReadFile(p)
		raw[len(raw)/3] ^= 0x10
		os.WriteFile(p, raw, 0o600)
	}
	bad := []struct{ name, dir, says string }{
		{"tampered", copyBackup(t, b, flipDB), "smsd.db does not match the manifest"},
		{"truncated", copyBackup(t, b, func(dir string) { os.Truncate(filepath.Join(dir, queue.BackupDBFile), 8192) }), "smsd.db is truncated"},
		{"mixed_up", copyBackup(t, b, func(dir string) {
			raw, _ := os.ReadFile(filepath.Join(backups[1], queue.BackupDBFile))
			os.WriteFile(filepath.Join(dir, queue.BackupDBFile), raw, 0o600)
		}), "smsd.db"},
		{"manifest_edited", copyBackup(t, b, func(dir string) {
			p := filepath.Join(dir, queue.ManifestFile)
			raw, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(raw, []byte(`"optouts": 1`), []byte(`"optouts": 0`), 1), 0o600)
		}), "manifest.json.minisig"},
	}
	for _, tc := range bad {
		out, errs, rc := r.cmd("backup", "verify", tc.dir)
		if rc != 1 || !strings.Contains(errs, "does NOT verify") || !strings.Contains(errs, tc.says) {
			t.Errorf("backup verify of the %s backup: exit %d, stdout %q, stderr %q; want exit 1 naming %q", tc.name, rc, out, errs, tc.says)
		}
	}

	// Restore refusals leave the data directory as it was (not there).
	restored := filepath.Join(r.dir, "restored")
	out, errs, rc = r.smsdIn(filepath.Join(r.dir, "other"), "", "init")
	otherCode := regexp.MustCompile(`(?m)^Recovery code: (\S+)$`).FindStringSubmatch(out)
	if rc != 0 || otherCode == nil {
		t.Fatalf("init of another store: %d %s%s", rc, out, errs)
	}
	for _, tc := range []struct{ name, dir, code, says string }{
		{"another_stores_code", b, otherCode[1], "the recovery code does not open this backup"},
		{"code_with_a_typo", b, "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA", "recovery code"},
		{"tampered", bad[0].dir, code, "does NOT verify"},
		{"mixed_up", bad[2].dir, code, "does NOT verify"},
	} {
		out, errs, rc := r.smsdIn(restored, tc.code+"\n", "restore", tc.dir)
		if rc == 0 || !strings.Contains(errs, tc.says) || strings.Contains(out, "Recovery code:") {
			t.Errorf("restore (%s): exit %d, stdout %q, stderr %q; want a refusal saying %q", tc.name, rc, out, errs, tc.says)
		}
		if _, err := os.Stat(restored); !os.IsNotExist(err) {
			t.Fatalf("restore (%s) touched the data directory: %v", tc.name, err)
		}
	}

	// The original daemon stops (the box is lost); the restore.
	r.stop()
	out, errs, rc = r.smsdIn(restored, code+"\n", "restore", b)
	if rc != 0 {
		t.Fatalf("restore: exit %d\n%s%s", rc, out, errs)
	}
	nm := regexp.MustCompile(`(?m)^Recovery code: (\S+)$`).FindStringSubmatch(out)
	if nm == nil || nm[1] == code {
		t.Fatalf("restore printed no new recovery code:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(restored, "smsd.key")); err != nil {
		t.Fatalf("no new key file: %v", err)
	}
	r2 := &rig{t: t, dir: r.dir, data: restored, conf: r.conf, emu: r.emu, listen: r.listen}
	t.Cleanup(func() { r2.stop() })

	// Every row of the backup is there.
	var inbox []map[string]any
	if err := json.Unmarshal([]byte(r2.run("inbox", "-json", "-n", "10000")), &inbox); err != nil {
		t.Fatal(err)
	}
	if int64(len(inbox)) != m.Counts["inbound"] || !strings.Contains(r2.run("inbox", "-json"), canaryReply) {
		t.Errorf("restored inbox: %d replies, the backup had %d (canary reply there: %v)", len(inbox), m.Counts["inbound"], strings.Contains(r2.run("inbox", "-json"), canaryReply))
	}
	var msgs []map[string]any
	if err := json.Unmarshal([]byte(r2.run("messages", "-json", "-n", "10000")), &msgs); err != nil {
		t.Fatal(err)
	}
	if int64(len(msgs)) != m.Counts["messages"] {
		t.Errorf("restored store: %d messages, the backup had %d", len(msgs), m.Counts["messages"])
	}
	var oo []map[string]any
	if err := json.Unmarshal([]byte(r2.run("optouts", "list", "-json")), &oo); err != nil || len(oo) != 1 {
		t.Errorf("restored opt-outs: %v %v", oo, err)
	}
	if us := r2.run("user", "list", "-json"); !strings.Contains(us, `"zeb"`) || !strings.Contains(us, canaryName) {
		t.Errorf("restored users: %s", us)
	}
	check := r2.run("audit", "check")
	hm := regexp.MustCompile(`audit log OK: (\d+) rows`).FindStringSubmatch(check)
	if hm == nil {
		t.Fatalf("audit check on the restored store: %s", check)
	}
	var rows int64
	fmt.Sscan(hm[1], &rows)
	if rows <= m.Counts["audit_log"] {
		t.Errorf("restored audit log has %d rows, the backup %d plus the restore's", rows, m.Counts["audit_log"])
	}

	// The restored store keeps sending, without a duplicate.
	s := r2.openStore()
	all, err := s.List(context.Background(), queue.ListFilter{Limit: 10000})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	states := map[queue.State]int{}
	for _, msg := range all {
		states[msg.State]++
	}
	if states[queue.Queued] == 0 || states[queue.Sent]+states[queue.Delivered] == 0 || states[queue.Sending] != 0 {
		t.Fatalf("restored states %v: want some queued and some sent, none sending", states)
	}
	before := r.handsetCounts()
	r2.start()
	r2.waitFor("the restored queue drained", 90*time.Second, func() bool {
		q := r2.queue()
		return q != nil && q["queued"] == 0 && q["sending"] == 0
	})
	r2.stop()
	after := r.handsetCounts()
	for _, msg := range all {
		key := msg.To + "|" + msg.Text
		got := after[key] - before[key]
		want := 0
		if msg.State == queue.Queued {
			want = 1
		}
		if got != want {
			t.Errorf("message %d (%s at restore) went out %d time(s) after the restore, want %d", msg.ID, msg.State, got, want)
		}
	}
	t.Logf("restored: states at restore %v; %d messages, %d replies, audit %d rows", states, len(all), len(inbox), rows)

	// With no daemon, smsd backup opens the store itself.
	if out := r2.run("backup", "-out", place, "-force"); !backupDirRe.MatchString(out) {
		t.Errorf("backup with no daemon: %s", out)
	}

	// An auditor checks a manifest with Debian's minisign and the audit
	// public key; one changed byte and it refuses.
	mini := testutil.RequireTool(t, "minisign", "apt-get install minisign")
	pub := strings.TrimSpace(r2.run("audit", "pubkey"))
	if out, err := exec.Command(mini, "-Vm", filepath.Join(b, queue.ManifestFile), "-P", pub).CombinedOutput(); err != nil {
		t.Errorf("minisign -V refuses the manifest: %v\n%s", err, out)
	}
	edited := bad[3].dir
	if out, err := exec.Command(mini, "-Vm", filepath.Join(edited, queue.ManifestFile), "-P", pub).CombinedOutput(); err == nil {
		t.Errorf("minisign -V accepts an edited manifest:\n%s", out)
	}
}

// TestBackupKilled: smsd backup killed at random moments (a power cut of
// the command, a stick pulled) never leaves a directory that looks like a
// backup and is not: every smsd-* directory verifies, anything else it
// left is a .smsd-tmp-* directory; smsd status never calls a killed backup
// good. The daemon goes on serving.
func TestBackupKilled(t *testing.T) {
	r := newRig(t)
	s := r.openStore()
	// 20,000 messages: a snapshot long enough to be cut.
	for j := range 2 {
		batch := make([]queue.NewMessage, 10000)
		for i := range batch {
			batch[i] = queue.NewMessage{To: fmt.Sprintf("+1555%d%06d", 4+j, i), Text: fmt.Sprintf("reminder %d for tomorrow at 9", i), SendAt: time.Now().Add(24 * time.Hour)}
		}
		if _, err := s.EnqueueBatch(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	r.start()
	place := filepath.Join(r.dir, "stick")
	os.MkdirAll(place, 0o700)
	complete := regexp.MustCompile(`^smsd-[0-9]{8}-[0-9]{6}(-[0-9]+)?$`)
	kills, left := 0, 0
	for i := range 12 {
		c := exec.Command(smsdBin, "backup", "-config", r.conf, "-data-dir", r.data, "-out", place, "-force")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(250)) * time.Millisecond)
		if c.Process.Kill() == nil {
			kills++
		}
		c.Wait()
		entries, _ := os.ReadDir(place)
		left = 0
		for _, e := range entries {
			switch {
			case complete.MatchString(e.Name()):
				if out, errs, rc := r.cmd("backup", "verify", filepath.Join(place, e.Name())); rc != 0 {
					t.Fatalf("after kill %d: %s looks like a backup but does not verify: %s%s", i, e.Name(), out, errs)
				}
			case strings.HasPrefix(e.Name(), ".smsd-tmp-"):
				left++
			default:
				t.Fatalf("after kill %d: %s in the backup place", i, e.Name())
			}
		}
		var st struct {
			Backup struct {
				OK      bool   `json:"ok"`
				LastDir string `json:"last_dir"`
			} `json:"backup"`
		}
		json.Unmarshal([]byte(r.run("status", "-json")), &st)
		if st.Backup.LastDir != "" {
			if _, err := os.Stat(filepath.Join(st.Backup.LastDir, queue.ManifestFile)); err != nil {
				t.Fatalf("after kill %d: smsd status names %s as the last good backup, which is not complete: %v", i, st.Backup.LastDir, err)
			}
		}
	}
	entries, _ := os.ReadDir(place)
	t.Logf("%d kills: %d entries in the backup place, %d of them half-written (the kill came during the backup)", kills, len(entries), left)
	if out := r.run("backup", "-out", place, "-force"); !backupDirRe.MatchString(out) {
		t.Errorf("a backup after the kills: %s", out)
	}
}

// TestRestoreIntoPassphraseStore: a clinic whose new box keeps its key as
// a passphrase (key_source = "passphrase") restores with the recovery code
// and the new passphrase on the next line. smsd restore refuses a weak
// passphrase (and a missing one) before touching the data directory; with
// a strong one no key file is written, the restored daemon starts locked,
// refuses another passphrase, unlocks with the new one, and has the
// backup's message.
func TestRestoreIntoPassphraseStore(t *testing.T) {
	r, code := newRigCode(t)
	r.start()
	if out, errs, rc := r.smsdIn(r.data, "+15558675310\nkept across the restore\n", "send"); rc != 0 {
		t.Fatalf("send: %s%s", out, errs)
	}
	r.waitFor("the message sent", 30*time.Second, func() bool { return r.handsetCounts()["+15558675310|kept across the restore"] == 1 })
	place := filepath.Join(r.dir, "stick")
	os.MkdirAll(place, 0o700)
	bm := backupDirRe.FindStringSubmatch(r.run("backup", "-out", place, "-force"))
	if bm == nil {
		t.Fatal("no backup written")
	}
	r.stop()

	// The new box: its configuration says passphrase.
	conf, err := os.ReadFile(r.conf)
	if err != nil {
		t.Fatal(err)
	}
	r2 := &rig{t: t, dir: r.dir, data: filepath.Join(r.dir, "restored"), conf: filepath.Join(r.dir, "passphrase.toml"), emu: r.emu}
	if err := os.WriteFile(r2.conf, append(conf, "key_source = \"passphrase\"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r2.stop() })
	const pass = "violet harbour lantern whistles"
	for _, tc := range []struct{ name, in, says string }{
		{"no passphrase", code + "\n", "give the new passphrase"},
		{"weak passphrase", code + "\npassword\n", "too weak"},
	} {
		out, errs, rc := r2.smsdIn(r2.data, tc.in, "restore", bm[1])
		if rc == 0 || !strings.Contains(errs, tc.says) || strings.Contains(out, "Recovery code:") {
			t.Errorf("restore (%s): exit %d, %q %q; want a refusal saying %q", tc.name, rc, out, errs, tc.says)
		}
		if _, err := os.Stat(r2.data); !os.IsNotExist(err) {
			t.Fatalf("restore (%s) touched the data directory: %v", tc.name, err)
		}
	}
	out, errs, rc := r2.smsdIn(r2.data, code+"\n"+pass+"\n", "restore", bm[1])
	if rc != 0 || !regexp.MustCompile(`(?m)^Recovery code: \S+$`).MatchString(out) {
		t.Fatalf("restore with a passphrase: exit %d\n%s%s", rc, out, errs)
	}
	if _, err := os.Stat(filepath.Join(r2.data, "smsd.key")); !os.IsNotExist(err) {
		t.Errorf("a passphrase restore wrote a key file: %v", err)
	}
	r2.start()
	if st := r2.statusText(); !strings.Contains(st, "LOCKED") {
		t.Errorf("the restored passphrase store started unlocked: %s", st)
	}
	if out, rc := r2.cmdStdin("another long passphrase here\n", "key", "unlock"); rc == 0 {
		t.Errorf("unlock with another passphrase: exit 0 %q", out)
	}
	if out, rc := r2.cmdStdin(pass+"\n", "key", "unlock"); rc != 0 {
		t.Fatalf("unlock with the new passphrase: exit %d %q", rc, out)
	}
	if out := r2.run("messages"); !strings.Contains(out, "+1******5310") {
		t.Errorf("the restored store's messages do not include the backed-up one:\n%s", out)
	}
}
