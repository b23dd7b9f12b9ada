package queue

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/clinicsms/smsd/crypt"
)

// TestClaimExclusive: many goroutines claim and finish messages at once;
// every message is claimed exactly once. Half of them go through a second
// Store on the same file (a second dispatcher): it must get ErrBusy and
// claim nothing while the first holds the dispatcher lock. Run under -race
// in make test.
func TestClaimExclusive(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	second := e.open(t)
	n, workers := 300, 16
	if testing.Short() {
		n = 120
	}
	batch := make([]NewMessage, n)
	for i := range batch {
		batch[i] = NewMessage{To: fmt.Sprintf("+1555%07d", i), Text: fmt.Sprint("msg ", i)}
	}
	if _, err := s.EnqueueBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	claimed := map[int64]string{}
	var wg sync.WaitGroup
	var busy atomic.Int64
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			modem := fmt.Sprint("m", w)
			st := s
			if w%2 == 1 {
				st = second
			}
			for {
				c, err := st.Claim(ctx, modem)
				if st == second {
					if !errors.Is(err, ErrBusy) || c != nil {
						errs <- fmt.Errorf("second dispatcher claimed: %+v %v", c, err)
					} else {
						busy.Add(1)
					}
					return
				}
				if err != nil {
					errs <- err
					return
				}
				if c == nil {
					return
				}
				mu.Lock()
				if prev, dup := claimed[c.ID]; dup {
					mu.Unlock()
					errs <- fmt.Errorf("message %d claimed by %s and %s", c.ID, prev, modem)
					return
				}
				claimed[c.ID] = modem
				mu.Unlock()
				if err := s.RecordPart(ctx, c.ID, 1, 1, int(c.ID%256)); err != nil {
					errs <- err
					return
				}
				if err := s.MarkSent(ctx, c.ID); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(claimed) != n {
		t.Fatalf("claimed %d of %d", len(claimed), n)
	}
	if busy.Load() != int64(workers/2) {
		t.Fatalf("%d of %d second-dispatcher workers were refused", busy.Load(), workers/2)
	}
	counts, _ := s.Counts(ctx)
	if counts[Sent] != n || counts[Queued] != 0 || counts[Sending] != 0 {
		t.Fatalf("counts %v", counts)
	}
}

func TestIdempotentEnqueue(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	nm := NewMessage{To: "(555) 123-4567", Text: "Hello", IdempotencyKey: "form-42"}
	a, err := s.Enqueue(ctx, nm)
	if err != nil {
		t.Fatal(err)
	}
	nm.To = num // same number, other format
	if a.Existing {
		t.Fatal("first enqueue marked existing")
	}
	b, err := s.Enqueue(ctx, nm)
	if err != nil || b.ID != a.ID || !b.Existing {
		t.Fatalf("second enqueue: %+v %v", b, err)
	}
	// Also after a restart and once the message moved on.
	s.Claim(ctx, "m1")
	s.Close()
	s = e.open(t)
	c, err := s.Enqueue(ctx, nm)
	if err != nil || c.ID != a.ID || c.State != Uncertain {
		t.Fatalf("after reopen: %+v %v", c, err)
	}
	nm.Text = "Different"
	if _, err := s.Enqueue(ctx, nm); !errors.Is(err, ErrIdempotencyConflict) {
		t.Fatalf("reused key for other text: %v", err)
	}
	// Within a batch too.
	res, err := s.EnqueueBatch(ctx, []NewMessage{{To: num, Text: "B", IdempotencyKey: "k"}, {To: num, Text: "B", IdempotencyKey: "k"}})
	if err != nil || res[0].Err != nil || res[1].Err != nil || res[0].Message.ID != res[1].Message.ID {
		t.Fatalf("batch duplicate: %+v %v", res, err)
	}
	if counts, _ := s.Counts(ctx); counts[Queued]+counts[Uncertain] != 2 {
		t.Fatalf("counts %v", counts)
	}
}

func TestOptOutRefusal(t *testing.T) {
	ctx := context.Background()
	_, s := openEnv(t)
	queued := mustEnqueue(t, s, num, "queued before STOP")
	if err := s.OptOutFrom(ctx, "555.123.4567", "sms_stop"); err != nil {
		t.Fatal(err)
	}
	if err := s.OptOut(ctx, num); err != nil {
		t.Fatal("second opt-out:", err)
	}
	if ok, _ := s.IsOptedOut(ctx, "+1 555 123 4567"); !ok {
		t.Fatal("not opted out")
	}
	_, err := s.Enqueue(ctx, NewMessage{To: num, Text: "x"})
	if !errors.Is(err, ErrOptedOut) {
		t.Fatalf("enqueue to opted-out: %v", err)
	}
	if strings.Contains(err.Error(), "5551234567") || !strings.Contains(err.Error(), "+1******4567") || !strings.Contains(err.Error(), "START") {
		t.Fatalf("error not clear or leaks the number: %v", err)
	}
	res, err := s.EnqueueBatch(ctx, []NewMessage{{To: num, Text: "x"}, {To: "+15557654321", Text: "y"}, {To: "12", Text: "z"}})
	if err != nil || !errors.Is(res[0].Err, ErrOptedOut) || res[1].Err != nil || !errors.Is(res[2].Err, ErrInvalidNumber) {
		t.Fatalf("batch: %+v %v", res, err)
	}
	// The message queued before the STOP is not sent: Claim fails it.
	c, err := s.Claim(ctx, "m1")
	if err != nil || c == nil || c.ID == queued.ID {
		t.Fatalf("claim %+v %v", c, err)
	}
	if got := mustState(t, s, queued.ID, Failed); got.LastError != "opted_out" {
		t.Fatalf("last error %q", got.LastError)
	}
	if err := s.OptIn(ctx, num); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, s, num, "after START")
}

func TestInvalidInput(t *testing.T) {
	ctx := context.Background()
	_, s := openEnv(t)
	for _, to := range []string{"", "12", "CLINIC", "+1 555 123 4567 8901 2345", "+15551234567; DROP"} {
		if _, err := s.Enqueue(ctx, NewMessage{To: to, Text: "x"}); !errors.Is(err, ErrInvalidNumber) {
			t.Errorf("%q: %v", to, err)
		}
	}
	for _, text := range []string{"", "   ", strings.Repeat("x", MaxTextBytes+1), "\xff\xfe"} {
		if _, err := s.Enqueue(ctx, NewMessage{To: num, Text: text}); err == nil {
			t.Errorf("text %.10q accepted", text)
		}
	}
}

func TestNormalizeNumber(t *testing.T) {
	for _, tc := range []struct{ in, region, want string }{
		{"+15551234567", "US", "+15551234567"},
		{"(555) 123-4567", "US", "+15551234567"},
		{"07700 900123", "GB", "+447700900123"},
		{"+44 7700 900123", "US", "+447700900123"},
		{"0151 12345678", "DE", "+4915112345678"},
	} {
		got, err := NormalizeNumber(tc.in, tc.region)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeNumber(%q, %s) = %q, %v; want %q", tc.in, tc.region, got, err, tc.want)
		}
	}
}

// TestNormalizeRecipient: a number smsd sends to must be dialable: one
// possible only locally (a US number without its area code) is refused,
// naming what is missing and not the number, where NormalizeNumber (for
// lookups) still takes it; Enqueue, CreateAppointment and the opt-outs
// staff add use the stricter rule and store nothing for it.
func TestNormalizeRecipient(t *testing.T) {
	for _, tc := range []struct{ in, region, want string }{
		{"+15551234567", "US", "+15551234567"},
		{"(202) 555-0100", "US", "+12025550100"},
		{"07700 900123", "GB", "+447700900123"},
		{"0151 12345678", "DE", "+4915112345678"},
		{"555-1234", "US", ""},
		{"5551234", "US", ""},
		{"+1 555 1234", "US", ""},
		{"12", "US", ""},
	} {
		got, err := NormalizeRecipient(tc.in, tc.region)
		switch {
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("NormalizeRecipient(%q, %s) = %q, %v; want %q", tc.in, tc.region, got, err, tc.want)
		case tc.want == "" && !errors.Is(err, ErrInvalidNumber):
			t.Errorf("NormalizeRecipient(%q, %s) = %q, %v; want ErrInvalidNumber", tc.in, tc.region, got, err)
		case tc.want == "" && (strings.Contains(err.Error(), "5551234") || strings.Contains(err.Error(), tc.in)):
			t.Errorf("NormalizeRecipient(%q) error shows the whole number: %v", tc.in, err)
		}
	}
	if _, err := NormalizeRecipient("555-1234", "US"); err == nil || !strings.Contains(err.Error(), "area code") {
		t.Errorf("a number without its area code: %v, want an error saying so", err)
	}
	if e, err := NormalizeNumber("555-1234", "US"); err != nil || e != "+15551234" {
		t.Errorf("NormalizeNumber(555-1234) = %q, %v: lookups must still find numbers stored before the rule", e, err)
	}

	ctx := context.Background()
	e, s := openEnv(t)
	if _, err := s.Enqueue(ctx, NewMessage{To: "555-1234", Text: "x"}); !errors.Is(err, ErrInvalidNumber) {
		t.Errorf("Enqueue to a number without its area code: %v", err)
	}
	at := e.clk.Now().Add(72 * time.Hour)
	if _, err := s.CreateAppointment(ctx, NewAppointment{Name: "A", Phone: "555-1234", At: at}, testPlan(e.clk.Now, 24*time.Hour)); !errors.Is(err, ErrInvalidNumber) {
		t.Errorf("CreateAppointment with a number without its area code: %v", err)
	}
	if n := countRows(t, s, "SELECT (SELECT COUNT(*) FROM messages) + (SELECT COUNT(*) FROM appointments)"); n != 0 {
		t.Errorf("%d rows stored for refused numbers", n)
	}
}

func TestRetention(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	old := map[State]int64{}
	_, unc := into(t, e, s, Sending)
	for _, st := range []State{Sent, Delivered, Undelivered, Failed, Cancelled, Queued} {
		_, id := into(t, e, s, st)
		old[st] = id
	}
	s.Close()
	s = e.open(t) // → uncertain
	in, _ := s.AddInbound(ctx, Inbound{From: num, Text: "C to confirm", SentAt: e.clk.Now()})
	s.OptOut(ctx, "+15550001111")
	e.clk.Add(31 * 24 * time.Hour)
	fresh := mustEnqueue(t, s, "+15550002222", "new")
	// The ciphertexts about to be purged, to look for on disk afterwards.
	var gone [][]byte
	for _, q := range []string{
		"SELECT to_sealed FROM messages WHERE state NOT IN ('queued','uncertain')",
		"SELECT text_sealed FROM messages WHERE state NOT IN ('queued','uncertain')",
		"SELECT from_sealed FROM inbound", "SELECT text_sealed FROM inbound",
	} {
		rows, err := s.w.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var b []byte
			rows.Scan(&b)
			gone = append(gone, b[crypt.Overhead-16:len(b)-4]) // ciphertext body, not the shared header
		}
		rows.Close()
	}
	if len(gone) != 12 {
		t.Fatalf("%d sealed values to purge, want 12", len(gone))
	}
	s.opt.RetentionDays = 30
	n, err := s.PurgeExpired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// secure_delete and the checkpoint after the purge leave no copy of the
	// purged ciphertexts in the database, its WAL or -shm.
	onDisk := func(stage string) {
		for _, suf := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(e.db + suf)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			for i, g := range gone {
				if bytes.Contains(b, g) {
					t.Errorf("%s: purged sealed value %d still in smsd.db%s", stage, i, suf)
				}
			}
		}
	}
	onDisk("after purge")
	// sent, delivered, undelivered, failed, cancelled + 1 inbound
	if n != 6 {
		t.Fatalf("purged %d rows, want 6", n)
	}
	for st, id := range old {
		m := mustState(t, s, id, st)
		wantPurged := st != Queued
		if m.Purged != wantPurged || (wantPurged && (m.To != "" || m.Text != "")) || (!wantPurged && m.Text == "") {
			t.Errorf("%s: purged=%v to=%q", st, m.Purged, m.To)
		}
	}
	if m := mustState(t, s, unc, Uncertain); m.Purged {
		t.Error("uncertain message purged before a staff decision")
	}
	if m, _ := s.Get(ctx, fresh.ID); m.Purged {
		t.Error("fresh message purged")
	}
	gi, err := s.GetInbound(ctx, in.ID)
	if err != nil || !gi.Purged || gi.Text != "" || gi.From != "" {
		t.Fatalf("inbound %+v %v", gi, err)
	}
	if ok, _ := s.IsOptedOut(ctx, "+15550001111"); !ok {
		t.Fatal("opt-out purged")
	}
	counts, _ := s.Counts(ctx)
	if counts[Delivered] != 1 || counts[Cancelled] != 1 {
		t.Fatalf("statistics lost: %v", counts)
	}
	if err := s.Resend(ctx, old[Failed]); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("resend of purged: %v", err)
	}
	if n, _ := s.Purge(ctx, e.clk.Now()); n != 0 {
		t.Fatalf("second purge: %d", n)
	}
	s.Close()
	onDisk("closed")
}

func TestListAndCounts(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	var ids []int64
	for i := range 5 {
		ids = append(ids, mustEnqueue(t, s, num, fmt.Sprint("m", i)).ID)
		e.clk.Add(time.Hour)
	}
	s.Cancel(ctx, ids[1])
	s.Cancel(ctx, ids[3])
	got, err := s.List(ctx, ListFilter{State: Cancelled})
	if err != nil || len(got) != 2 || got[0].ID != ids[3] || got[1].ID != ids[1] || got[0].Text != "m3" {
		t.Fatalf("list cancelled: %+v %v", got, err)
	}
	start := newClock().Now()
	got, _ = s.List(ctx, ListFilter{Since: start.Add(time.Hour), Until: start.Add(3 * time.Hour)})
	if len(got) != 2 || got[0].ID != ids[2] || got[1].ID != ids[1] {
		t.Fatalf("list by date: %+v", got)
	}
	got, _ = s.List(ctx, ListFilter{Limit: 2, NoContent: true})
	if len(got) != 2 || got[0].ID != ids[4] || got[0].Text != "" || got[0].State != Queued {
		t.Fatalf("list no content: %+v", got)
	}
	counts, _ := s.Counts(ctx)
	if counts[Queued] != 3 || counts[Cancelled] != 2 || counts[Sent] != 0 || len(counts) != len(States) {
		t.Fatalf("counts %v", counts)
	}
	// Only the rows returned are opened: damage a queued row, and listing
	// the cancelled ones and counting still work.
	if _, err := s.w.Exec("UPDATE messages SET text_sealed = x'00' WHERE id = ?", ids[0]); err != nil {
		t.Fatal(err)
	}
	if got, err := s.List(ctx, ListFilter{State: Cancelled}); err != nil || len(got) != 2 {
		t.Fatalf("list after damaging another row: %v %v", got, err)
	}
	if counts, err := s.Counts(ctx); err != nil || counts[Queued] != 3 {
		t.Fatal(counts, err)
	}
	// The damaged row is listed as damaged, without content; the others
	// of its page are listed whole.
	got, err = s.List(ctx, ListFilter{State: Queued})
	if err != nil || len(got) != 3 {
		t.Fatalf("list of the damaged row's state: %d messages, %v; want 3", len(got), err)
	}
	for _, m := range got {
		if damaged := m.ID == ids[0]; m.Damaged != damaged || (m.Text == "") != damaged || (m.To == "") != damaged {
			t.Errorf("message %d: damaged %v, to %q, text %q; want damaged=%v and content only when sound", m.ID, m.Damaged, m.To, m.Text, damaged)
		}
	}
	if _, err := s.Get(ctx, ids[0]); !errors.Is(err, ErrTampered) {
		t.Fatalf("the damaged message read on its own: %v, want ErrTampered", err)
	}
}

func TestInboundThreading(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	_, sent := into(t, e, s, Sent)
	e.clk.Add(time.Minute)
	// International format: a national-format sender counts as a US
	// number only when it is a valid one (NormalizeSender), and 555 is no
	// valid area code.
	in, err := s.AddInbound(ctx, Inbound{From: "+15551234567", Text: "C", SentAt: e.clk.Now()})
	if err != nil || in.ReplyTo != sent || in.From != num {
		t.Fatalf("%+v %v", in, err)
	}
	other, _ := s.AddInbound(ctx, Inbound{From: "+15550000000", Text: "who?"})
	alpha, _ := s.AddInbound(ctx, Inbound{From: "CARRIER", Text: "Your bill", Raw: []byte{1, 2, 3}, DecodeError: "bad udh", Incomplete: true})
	if other.ReplyTo != 0 || alpha.ReplyTo != 0 {
		t.Fatal("threaded to an unrelated message")
	}
	// The modem hands the same SMS over again after a restart: not stored twice.
	again, err := s.AddInbound(ctx, Inbound{From: "+1 555 123 4567", Text: "C", SentAt: e.clk.Now()})
	if err != nil || again.ID != in.ID {
		t.Fatalf("duplicate inbound stored as %d (first %d): %v", again.ID, in.ID, err)
	}
	if other2, _ := s.AddInbound(ctx, Inbound{From: num, Text: "C", SentAt: e.clk.Now().Add(time.Second)}); other2.ID == in.ID {
		t.Fatal("a later identical reply was taken for a duplicate")
	}
	box, err := s.Inbox(ctx, 10)
	if err != nil || len(box) != 4 {
		t.Fatal(box, err)
	}
	var a Inbound
	for _, b := range box {
		if b.ID == alpha.ID {
			a = b
		}
	}
	if a.From != "CARRIER" || string(a.Raw) != "\x01\x02\x03" || a.DecodeError != "bad udh" || !a.Incomplete {
		t.Fatalf("%+v", a)
	}
}

func TestSettingsUsersTemplates(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	if _, err := s.Setting(ctx, "help"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	s.SetSetting(ctx, "help", "Call Dr. Who")
	s.SetSetting(ctx, "help", "Call Dr. Lee")
	if v, _ := s.Setting(ctx, "help"); v != "Call Dr. Lee" {
		t.Fatal(v)
	}
	phc, _ := crypt.HashPassword("pw")
	u, err := s.CreateUser(ctx, User{Username: "alice", Name: "Alice A", Role: RoleAdmin, PasswordHash: phc, TOTPSecret: "JBSWY3DPEHPK3PXP"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, User{Username: "ALICE", Role: RoleStaff, PasswordHash: phc}); !errors.Is(err, ErrUserExists) {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, User{Username: "bob", Role: "root", PasswordHash: phc}); err == nil {
		t.Fatal("bad role accepted")
	}
	u.FailedLogins, u.TOTPSecret = 2, ""
	if err := s.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByName(ctx, "Alice")
	if err != nil || got.Name != "Alice A" || got.FailedLogins != 2 || got.TOTPSecret != "" || got.PasswordHash != phc {
		t.Fatalf("%+v %v", got, err)
	}
	if ok, _ := crypt.VerifyPassword(got.PasswordHash, "pw"); !ok {
		t.Fatal("password")
	}
	s.SaveTemplate(ctx, Template{Name: "24h", Body: "Reminder: {time}"})
	s.SaveTemplate(ctx, Template{Name: "24h", Body: "Reminder at {time}"})
	ts, _ := s.Templates(ctx)
	if len(ts) != 1 || ts[0].Body != "Reminder at {time}" {
		t.Fatal(ts)
	}
	if err := s.DeleteTemplate(ctx, "24h"); err != nil {
		t.Fatal(err)
	}
	k1, err := s.SigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = e.open(t)
	k2, err := s.SigningKey(ctx)
	if err != nil || !k1.Equal(k2) {
		t.Fatal("signing key not kept", err)
	}
	sig := minisign.Sign(k2, []byte("x"))
	if !minisign.Verify(crypt.SigningPublicKey(k1), []byte("x"), sig) {
		t.Fatal("signature")
	}
}

// TestSQLiteSettings reads the settings back from the connections the
// store uses: WAL, synchronous=FULL (2), secure_delete, foreign keys and
// the busy timeout on the writer; the readers cannot write at all.
func TestSQLiteSettings(t *testing.T) {
	ctx := context.Background()
	_, s := openEnv(t)
	for _, tc := range []struct {
		name   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer_wal", s.w, "journal_mode", "wal"},
		{"writer_synchronous_full", s.w, "synchronous", "2"},
		{"writer_secure_delete", s.w, "secure_delete", "1"},
		{"writer_foreign_keys", s.w, "foreign_keys", "1"},
		{"writer_busy_timeout", s.w, "busy_timeout", "10000"},
		{"reader_wal", s.r, "journal_mode", "wal"},
		{"reader_busy_timeout", s.r, "busy_timeout", "10000"},
		{"reader_query_only", s.r, "query_only", "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			if err := tc.db.QueryRow("PRAGMA " + tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
			}
		})
	}
	t.Run("foreign_keys_enforced", func(t *testing.T) {
		_, err := s.w.ExecContext(ctx, "INSERT INTO message_parts (message_id, seq, total, mr, accepted_at) VALUES (999, 1, 1, 1, 1)")
		if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
			t.Fatalf("part for a missing message: %v", err)
		}
	})
}

// TestDefaultRegionFromOptions: numbers without a country code take the
// configured region.
func TestDefaultRegionFromOptions(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.opt.DefaultRegion = "gb"
	s := e.open(t)
	m, err := s.Enqueue(ctx, NewMessage{To: "07700 900123", Text: "x"})
	if err != nil || m.To != "+447700900123" {
		t.Fatalf("%+v %v", m, err)
	}
	if got, _ := s.Get(ctx, m.ID); got.To != "+447700900123" {
		t.Fatalf("stored %q", got.To)
	}
}

// TestIdempotentEnqueueConcurrent: many goroutines enqueue with one key at
// once; exactly one message exists and every caller gets its id.
func TestIdempotentEnqueueConcurrent(t *testing.T) {
	ctx := context.Background()
	_, s := openEnv(t)
	const n = 16
	ids := make(chan int64, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := s.Enqueue(ctx, NewMessage{To: num, Text: "once", IdempotencyKey: "double-click"})
			if err != nil {
				errs <- err
				return
			}
			ids <- m.ID
		}()
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for id := range ids {
		seen[id] = true
	}
	if counts, _ := s.Counts(ctx); len(seen) != 1 || counts[Queued] != 1 {
		t.Fatalf("ids %v, counts %v: want one message", seen, counts)
	}
}

// TestListingsShowDamagedRows: one row changed without the key (a sealed
// cell overwritten, or a tagged column edited) never hides the other rows
// of a listing: the outbox, the inbox, the opt-outs and the appointments
// list it as damaged, with none of its sealed content, and list the rest
// whole; reading the row on its own still fails.
func TestListingsShowDamagedRows(t *testing.T) {
	ctx := context.Background()
	e, s := openEnv(t)
	at := e.clk.Now().Add(72 * time.Hour)
	plan := testPlan(e.clk.Now, 24*time.Hour)
	var appts []int64
	for i, n := range []string{"+15550001111", "+15550002222", "+15550003333"} {
		mustEnqueue(t, s, n, fmt.Sprintf("text %d", i))
		if _, err := s.AddInbound(ctx, Inbound{From: n, Text: fmt.Sprintf("reply %d", i), SentAt: e.clk.Now().Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
		if err := s.OptOut(ctx, fmt.Sprintf("+1555000999%d", i)); err != nil {
			t.Fatal(err)
		}
		a, err := s.CreateAppointment(ctx, NewAppointment{Name: fmt.Sprintf("Patient %d", i), Phone: fmt.Sprintf("+1555000444%d", i), At: at.Add(time.Duration(i) * time.Hour)}, plan)
		if err != nil {
			t.Fatal(err)
		}
		appts = append(appts, a.ID)
	}
	cases := []struct {
		name, damage string
		list         func() (ids []int64, damaged map[int64]bool, whole func(i int) bool, err error)
		get          func(id int64) error
		id           int64 // the row damaged
		rows         int
		before       []int64 // rows of the same listing damaged by a case before
	}{
		{"outbox", "UPDATE messages SET to_sealed = randomblob(60) WHERE id = 2", func() ([]int64, map[int64]bool, func(int) bool, error) {
			l, err := s.List(ctx, ListFilter{})
			var ids []int64
			dmg := map[int64]bool{}
			for _, m := range l {
				ids, dmg[m.ID] = append(ids, m.ID), m.Damaged
			}
			return ids, dmg, func(i int) bool { return l[i].Damaged == (l[i].To == "" && l[i].Text == "") }, err
		}, func(id int64) error { _, err := s.Get(ctx, id); return err }, 2, 6, nil}, // 3 sent, 3 reminders
		{"inbox", "UPDATE inbound SET text_sealed = randomblob(60) WHERE id = 2", func() ([]int64, map[int64]bool, func(int) bool, error) {
			l, _, err := s.InboxPage(ctx, InboxQuery{})
			var ids []int64
			dmg := map[int64]bool{}
			for _, m := range l {
				ids, dmg[m.ID] = append(ids, m.ID), m.Damaged
			}
			return ids, dmg, func(i int) bool { return l[i].Damaged == (l[i].From == "" && l[i].Text == "") }, err
		}, func(id int64) error { _, err := s.GetInbound(ctx, id); return err }, 2, 3, nil},
		{"opt-outs", "UPDATE optouts SET number_sealed = randomblob(60) WHERE id = 2", func() ([]int64, map[int64]bool, func(int) bool, error) {
			l, err := s.OptOuts(ctx)
			var ids []int64
			dmg := map[int64]bool{}
			for _, o := range l {
				ids, dmg[o.ID] = append(ids, o.ID), o.Damaged
			}
			return ids, dmg, func(i int) bool { return l[i].Damaged == (l[i].Number == "") }, err
		}, nil, 2, 3, nil},
		{"appointments, a sealed cell", "UPDATE appointments SET name_sealed = randomblob(60) WHERE id = " + fmt.Sprint(appts[1]), appointmentList(ctx, s), func(id int64) error { _, err := s.GetAppointment(ctx, id); return err }, appts[1], 3, nil},
		{"appointments, a tagged column", "UPDATE appointments SET language = 'xx' WHERE id = " + fmt.Sprint(appts[2]), appointmentList(ctx, s), func(id int64) error { _, err := s.GetAppointment(ctx, id); return err }, appts[2], 3, appts[1:2]},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.w.Exec(c.damage); err != nil {
				t.Fatal(err)
			}
			ids, damaged, whole, err := c.list()
			if err != nil || len(ids) != c.rows {
				t.Fatalf("listing after one row was damaged: %v %v, want all %d rows", ids, err, c.rows)
			}
			for i, id := range ids {
				want := id == c.id || slices.Contains(c.before, id)
				if damaged[id] != want {
					t.Errorf("row %d listed damaged=%v, want %v", id, damaged[id], want)
				}
				if !whole(i) {
					t.Errorf("row %d: damaged=%v but its content says otherwise", id, damaged[id])
				}
			}
			if c.get != nil {
				if err := c.get(c.id); !unreadable(err) {
					t.Errorf("the damaged row read on its own: %v, want an integrity error", err)
				}
			}
		})
	}
}

// appointmentList lists every appointment for TestListingsShowDamagedRows.
func appointmentList(ctx context.Context, s *Store) func() ([]int64, map[int64]bool, func(int) bool, error) {
	return func() ([]int64, map[int64]bool, func(int) bool, error) {
		l, err := s.Appointments(ctx, AppointmentQuery{All: true})
		var ids []int64
		dmg := map[int64]bool{}
		for _, a := range l {
			ids, dmg[a.ID] = append(ids, a.ID), a.Damaged
		}
		return ids, dmg, func(i int) bool {
			return l[i].Damaged == (l[i].Name == "" && l[i].Phone == "") && !l[i].At.IsZero() && len(l[i].Reminders) == 1
		}, err
	}
}
