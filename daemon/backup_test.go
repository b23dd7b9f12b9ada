package daemon

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/crypt"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// backupTo makes a backup of s into a new directory under parent, as smsd
// backup does through the service: the snapshot into a file handed over,
// then the signed manifest written beside it.
func backupTo(t testing.TB, s *Service, parent string) string {
	t.Helper()
	dir := filepath.Join(parent, fmt.Sprintf("smsd-%d", time.Now().UnixNano()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, queue.BackupDBFile), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	conf := []byte("modem = \"auto\"\n")
	res, err := s.As(admin).Backup(context.Background(), ops.BackupRequest{Dir: dir, Config: conf}, f)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{queue.BackupConfigFile: conf, queue.ManifestFile: res.Manifest, queue.ManifestSigFile: res.Signature} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.As(admin).Backup(context.Background(), ops.BackupRequest{Dir: dir, Done: true}, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// restoredConfig is a configuration for a restore into a new data
// directory (which does not exist yet).
func restoredConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "restored")
	return cfg
}

// TestBackupRestore: a store with messages in every state that matters, a
// reply, an opt-out, a user and a live web session is backed up and
// restored with only the recovery code into a new data directory. Every row
// comes back, the audit chain holds, the message that was being sent is
// uncertain (never sent again on its own), the web session is gone, the
// restored store opens with its new key file and the new recovery code,
// and the old code no longer opens it. Backup and restore are audited.
func TestBackupRestore(t *testing.T) {
	s, _ := authService(t)
	ctx := context.Background()
	st := s.Store()
	oldCode, err := st.NewRecoveryCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	addUser(t, s, "bob", ops.RoleStaff, bobPW)
	login(t, s, "bob", bobPW)
	var ids []int64
	for i := range 3 {
		r, err := s.Send(ctx, admin, ops.SendRequest{To: fmt.Sprintf("+1555010000%d", i), Text: fmt.Sprintf("reminder %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	// Message 1 sent, message 2 being sent when the backup is taken, 3 queued.
	for i := range 2 {
		m, err := st.Claim(ctx, "modem1")
		if err != nil || m == nil || m.ID != ids[i] {
			t.Fatalf("claim: %v %v", m, err)
		}
		if i == 0 {
			if err := st.RecordPart(ctx, m.ID, 1, 1, 7); err != nil {
				t.Fatal(err)
			}
			if err := st.MarkSent(ctx, m.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := st.AddInbound(ctx, queue.Inbound{From: "+15550100000", Text: "C"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OptOuts(ctx, admin, ops.OptOutRequest{Action: ops.OptOutAdd, Number: "+15550100009"}); err != nil {
		t.Fatal(err)
	}
	dir := backupTo(t, s, t.TempDir())
	head, _, err := st.AuditCheck(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bs := BackupState(s.cfg); !bs.OK || bs.LastDir != dir {
		t.Errorf("status after a backup: %+v", bs)
	}

	cfg := restoredConfig(t)
	res, err := Restore(ctx, cfg, RestoreRequest{Dir: dir, Recovery: []byte(oldCode), Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	if res.RecoveryCode == "" || res.RecoveryCode == oldCode || res.KeyFile != cfg.KeyFilePath() || res.Uncertain != 1 {
		t.Fatalf("restore result %+v", res)
	}
	if fi, err := os.Stat(cfg.KeyFilePath()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new key file: %v %v", fi, err)
	}
	// The old code no longer opens the restored store; the new one does.
	if err := queue.CheckKey(ctx, cfg.DBPath(), queue.KeySource{Recovery: []byte(oldCode)}, queue.Options{}); !errors.Is(err, queue.ErrWrongKey) {
		t.Errorf("the old recovery code on the restored store: %v, want ErrWrongKey", err)
	}
	if err := queue.CheckKey(ctx, cfg.DBPath(), queue.KeySource{Recovery: []byte(res.RecoveryCode)}, queue.Options{}); err != nil {
		t.Errorf("the new recovery code: %v", err)
	}

	r, err := OpenDirect(ctx, cfg)
	if err != nil {
		t.Fatalf("the restored store does not open with its new key file: %v", err)
	}
	defer r.Close()
	rs := r.Store()
	want := map[int64]queue.State{ids[0]: queue.Sent, ids[1]: queue.Uncertain, ids[2]: queue.Queued}
	for id, state := range want {
		m, err := rs.Get(ctx, id)
		if err != nil || m.State != state {
			t.Errorf("message %d: %v %v, want %s", id, m.State, err, state)
		}
	}
	if in, err := r.Inbox(ctx, admin, 10); err != nil || len(in) != 1 || in[0].Text != "C" {
		t.Errorf("inbox: %v %v", in, err)
	}
	if oo, err := r.OptOuts(ctx, admin, ops.OptOutRequest{Action: ops.OptOutList}); err != nil || len(oo) != 1 {
		t.Errorf("opt-outs: %v %v", oo, err)
	}
	if us, err := r.User(ctx, admin, ops.UserRequest{Action: ops.UserList}); err != nil || len(us) != 1 || us[0].Username != "bob" {
		t.Errorf("users: %v %v", us, err)
	}
	u, err := rs.UserByName(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if xs, err := rs.Sessions(ctx, u.ID); err != nil || len(xs) != 0 {
		t.Errorf("web sessions came back with the restore: %v %v", xs, err)
	}
	// The whole audit chain of the old store, then the restore's rows.
	rhead, _, err := rs.AuditCheck(ctx)
	if err != nil {
		t.Fatalf("restored audit chain: %v", err)
	}
	if rhead.Seq <= head.Seq-1 {
		t.Errorf("restored audit head %s, the backup's was %s", rhead, head)
	}
	rows := mustRows(t, rs)
	var restored, backedUp, kek, recovery bool
	for _, row := range rows {
		switch {
		case row.Action == audit.Restored && row.Outcome == audit.OK && row.Actor == admin.String() && strings.Contains(row.Detail, "every web session ended"):
			restored = true
		case row.Action == audit.KeyRotate && row.ObjectID == "kek" && row.Actor == admin.String():
			kek = true
		case row.Action == audit.KeyRotate && row.ObjectID == "recovery_code" && row.Actor == admin.String():
			recovery = true
		}
	}
	for _, row := range mustRows(t, st) {
		if row.Action == audit.BackupMade && row.Outcome == audit.OK && row.Actor == admin.String() {
			backedUp = true
		}
	}
	if !restored || !backedUp || !kek || !recovery {
		t.Errorf("audit rows: restore %v, backup %v, new key %v, new recovery code %v", restored, backedUp, kek, recovery)
	}
}

// mustRows reads every audit row of the store (read-only, beside it).
func mustRows(t *testing.T, st *queue.Store) []audit.Row {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+st.Path()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows []audit.Row
	if err := audit.Scan(context.Background(), db, time.Time{}, time.Time{}, func(r audit.Row) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestRestoreRefuses: a wrong recovery code, a non-empty data directory, a
// tampered backup, a key file in the way and a backup re-signed by another
// key are refused, and the data directory is left as it was (missing, or
// empty).
func TestRestoreRefuses(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	code, err := s.Store().NewRecoveryCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := backupTo(t, s, t.TempDir())
	other := openDirect(t)
	otherCode, err := other.Store().NewRecoveryCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A backup whose manifest (hashes right) another store signed.
	resigned := filepath.Join(t.TempDir(), "resigned")
	os.MkdirAll(resigned, 0o700)
	for _, n := range []string{queue.BackupDBFile, queue.BackupConfigFile} {
		b, _ := os.ReadFile(filepath.Join(dir, n))
		os.WriteFile(filepath.Join(resigned, n), b, 0o600)
	}
	v, err := queue.VerifyBackup(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := v.Manifest
	mb, sig, err := other.Store().SignManifest(ctx, &m)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(resigned, queue.ManifestFile), mb, 0o600)
	os.WriteFile(filepath.Join(resigned, queue.ManifestSigFile), sig, 0o600)
	tampered := filepath.Join(t.TempDir(), "tampered")
	os.MkdirAll(tampered, 0o700)
	for _, n := range []string{queue.BackupDBFile, queue.BackupConfigFile, queue.ManifestFile, queue.ManifestSigFile} {
		b, _ := os.ReadFile(filepath.Join(dir, n))
		if n == queue.BackupDBFile {
			b[len(b)/2] ^= 0x40
		}
		os.WriteFile(filepath.Join(tampered, n), b, 0o600)
	}

	for _, tc := range []struct {
		name   string
		dir    string
		code   string
		setup  func(cfg *config.Config) // before the restore
		errHas string
		empty  bool // the data directory exists, empty, before and after
	}{
		{"wrong_code", dir, otherCode, nil, "the recovery code does not open this backup", false},
		{"wrong_code_empty_dir", dir, otherCode, nil, "the recovery code does not open this backup", true},
		{"code_with_a_typo", dir, code[:3] + "Z" + code[4:], nil, "typo", true},
		{"no_code", dir, "", nil, "recovery", true},
		{"tampered", tampered, code, nil, "smsd.db does not match the manifest", false},
		{"resigned_by_another_store", resigned, code, nil, "not an audit key of the database", true},
		{"not_empty", dir, code, func(cfg *config.Config) {
			os.MkdirAll(cfg.DataDir, 0o700)
			os.WriteFile(filepath.Join(cfg.DataDir, "smsd.db"), []byte("x"), 0o600)
		}, "not empty", false},
		{"key_file_in_the_way", dir, code, func(cfg *config.Config) {
			cfg.KeyFile = filepath.Join(t.TempDir(), "old.key")
			os.WriteFile(cfg.KeyFile, []byte(strings.Repeat("ab", 32)), 0o600)
		}, "exists", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := restoredConfig(t)
			if tc.empty {
				os.MkdirAll(cfg.DataDir, 0o700)
			}
			if tc.setup != nil {
				tc.setup(&cfg)
			}
			before, _ := os.ReadDir(cfg.DataDir)
			_, err := Restore(ctx, cfg, RestoreRequest{Dir: tc.dir, Recovery: []byte(tc.code), Actor: admin})
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("restore: %v; want an error saying %q", err, tc.errHas)
			}
			after, serr := os.ReadDir(cfg.DataDir)
			if len(after) != len(before) {
				t.Errorf("the data directory changed: %v -> %v", before, after)
			}
			if !tc.empty && tc.setup == nil && !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("the data directory was made: %v", serr)
			}
		})
	}
}

// BenchmarkBackupRestore200k: a backup (snapshot, manifest, signature) and
// a restore (verify, copy, open by recovery code, new key file, new
// recovery code) of a store of 200,000 messages. The store is made once;
// each iteration backs up and restores it. Reports the database's bytes.
func BenchmarkBackupRestore200k(b *testing.B) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	if err := queue.Init(ctx, cfg.DBPath(), KeySource(&cfg, nil), StoreOptions(&cfg, nil)); err != nil {
		b.Fatal(err)
	}
	s, err := OpenDirect(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	st := s.Store()
	code, err := st.NewRecoveryCode(ctx)
	if err != nil {
		b.Fatal(err)
	}
	const n, batch = 200000, 10000
	for i := 0; i < n; i += batch {
		ms := make([]queue.NewMessage, batch)
		for j := range ms {
			ms[j] = queue.NewMessage{To: fmt.Sprintf("+1555%07d", i+j), Text: "Reminder: your appointment at Riverside Clinic is tomorrow at 9:30. Reply C to confirm, R to reschedule."}
		}
		if _, err := st.EnqueueBatch(ctx, ms); err != nil {
			b.Fatal(err)
		}
	}
	var backup, restore time.Duration
	var bytes int64
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		dir := backupTo(b, s, b.TempDir())
		backup += time.Since(t0)
		fi, _ := os.Stat(filepath.Join(dir, queue.BackupDBFile))
		bytes = fi.Size()
		rcfg := config.Default()
		rcfg.DataDir = filepath.Join(b.TempDir(), "restored")
		t0 = time.Now()
		if _, err := Restore(ctx, rcfg, RestoreRequest{Dir: dir, Recovery: []byte(code), Actor: admin}); err != nil {
			b.Fatal(err)
		}
		restore += time.Since(t0)
	}
	b.ReportMetric(float64(bytes), "db_bytes")
	b.ReportMetric(backup.Seconds()/float64(b.N), "backup_s")
	b.ReportMetric(restore.Seconds()/float64(b.N), "restore_s")
}

// TestBackupStateOnlyWhenDone: smsd status calls a backup good only once
// the command line reports it complete (renamed into place, read back); a
// snapshot whose command line died leaves the last state as it was, and a
// failure shows with its reason.
func TestBackupStateOnlyWhenDone(t *testing.T) {
	s := openDirect(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "smsd-20261202-023000")
	f, err := os.Create(filepath.Join(t.TempDir(), "smsd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := s.As(admin).Backup(ctx, ops.BackupRequest{Dir: dir}, f); err != nil {
		t.Fatal(err)
	}
	if bs := BackupState(s.cfg); !bs.LastAt.IsZero() || bs.OK {
		t.Fatalf("a snapshot alone shows as %+v", bs)
	}
	if _, err := s.As(admin).Backup(ctx, ops.BackupRequest{Dir: dir, Failure: "the backup place /media/x does not exist"}, nil); err == nil {
		t.Fatal("a reported failure came back as a success")
	}
	if bs := BackupState(s.cfg); bs.OK || !strings.Contains(bs.Error, "does not exist") || bs.LastAt.IsZero() {
		t.Fatalf("after a failure: %+v", bs)
	}
	if _, err := s.As(admin).Backup(ctx, ops.BackupRequest{Dir: dir, Done: true}, nil); err != nil {
		t.Fatal(err)
	}
	if bs := BackupState(s.cfg); !bs.OK || bs.LastDir != dir || bs.Error != "" {
		t.Fatalf("after done: %+v", bs)
	}
	staff := ops.Actor{Kind: ops.ActorWeb, Name: "bob", Role: ops.RoleStaff}
	if _, err := s.As(staff).Backup(ctx, ops.BackupRequest{Dir: dir}, f); ops.CodeOf(err) != ops.CodeDenied {
		t.Fatalf("staff asked for a backup: %v", err)
	}
}

// TestRestoreIntoPassphraseStore: with key_source = "passphrase" the
// restored store's new key is the passphrase given after the recovery
// code: without one, or with a weak one, the restore is refused and the
// data directory left as it was (missing); with a strong one the restored
// store opens with that passphrase (and with the new recovery code), not
// with another passphrase, and every message of the backup is in it.
func TestRestoreIntoPassphraseStore(t *testing.T) {
	saved := crypt.PassphraseParams
	crypt.PassphraseParams = crypt.Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}
	t.Cleanup(func() { crypt.PassphraseParams = saved })
	s := openDirect(t)
	ctx := context.Background()
	code, err := s.Store().NewRecoveryCode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Send(ctx, admin, ops.SendRequest{To: "+15550100009", Text: "kept across the restore"})
	if err != nil {
		t.Fatal(err)
	}
	dir := backupTo(t, s, t.TempDir())
	const strong = "violet harbour lantern whistles"

	for _, tc := range []struct {
		name, pass, errHas string
	}{
		{"no passphrase", "", "give the new passphrase"},
		{"weak passphrase", "password", "passphrase too weak"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := restoredConfig(t)
			cfg.KeySource = config.KeyPassphrase
			_, err := Restore(ctx, cfg, RestoreRequest{Dir: dir, Recovery: []byte(code), Passphrase: []byte(tc.pass), Actor: admin})
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("restore: %v; want a refusal saying %q", err, tc.errHas)
			}
			if tc.pass != "" && !strings.Contains(err.Error(), "nothing was changed") {
				t.Errorf("a weak passphrase is refused only after the copy: %v", err)
			}
			if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused restore left the data directory behind: %v", err)
			}
		})
	}

	cfg := restoredConfig(t)
	cfg.KeySource = config.KeyPassphrase
	res, err := Restore(ctx, cfg, RestoreRequest{Dir: dir, Recovery: []byte(code), Passphrase: []byte(strong), Actor: admin})
	if err != nil {
		t.Fatal(err)
	}
	if res.KeySource != config.KeyPassphrase || res.KeyFile != "" || res.RecoveryCode == "" || res.RecoveryCode == code {
		t.Fatalf("restore result: key source %q, key file %q, new code %v", res.KeySource, res.KeyFile, res.RecoveryCode != "" && res.RecoveryCode != code)
	}
	if err := queue.CheckKey(ctx, cfg.DBPath(), KeySource(&cfg, []byte("another long passphrase here")), StoreOptions(&cfg, nil)); !errors.Is(err, queue.ErrWrongKey) {
		t.Errorf("another passphrase: %v, want ErrWrongKey", err)
	}
	if err := queue.CheckKey(ctx, cfg.DBPath(), queue.KeySource{Recovery: []byte(res.RecoveryCode)}, StoreOptions(&cfg, nil)); err != nil {
		t.Errorf("the new recovery code: %v", err)
	}
	st, err := queue.Open(ctx, cfg.DBPath(), KeySource(&cfg, []byte(strong)), StoreOptions(&cfg, nil))
	if err != nil {
		t.Fatalf("open the restored store with its passphrase: %v", err)
	}
	defer st.Close()
	if m, err := st.Get(ctx, r.ID); err != nil || m.Text != "kept across the restore" {
		t.Errorf("the backed-up message after the restore: %+v %v", m, err)
	}
}
