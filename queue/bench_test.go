package queue

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

func benchStore(b *testing.B) *Store {
	e := newEnv(b)
	e.opt.Now = nil // real clock
	return e.open(b)
}

// BenchmarkEnqueue: one message per transaction (each commit is an fsync).
func BenchmarkEnqueue(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	i := 0
	for b.Loop() {
		if _, err := s.Enqueue(ctx, NewMessage{To: fmt.Sprintf("+1555%07d", i%10000000), Text: "Reminder: your appointment is tomorrow at 9:30. Reply C to confirm."}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkEnqueueBatch10000: a day's list of 10,000 in one EnqueueBatch.
func BenchmarkEnqueueBatch10000(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	batch := make([]NewMessage, 10000)
	for i := range batch {
		batch[i] = NewMessage{To: fmt.Sprintf("+1555%07d", i), Text: "Reminder: your appointment is tomorrow at 9:30. Reply C to confirm."}
	}
	for b.Loop() {
		if _, err := s.EnqueueBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimMarkSent: claim + record one part + mark sent per op (three
// transactions, what the dispatcher does per single-part message).
func BenchmarkClaimMarkSent(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	fill := func() {
		batch := make([]NewMessage, 5000)
		for i := range batch {
			batch[i] = NewMessage{To: fmt.Sprintf("+1555%07d", i), Text: "Reminder"}
		}
		if _, err := s.EnqueueBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	fill()
	for b.Loop() {
		c, err := s.Claim(ctx, "m1")
		if err != nil {
			b.Fatal(err)
		}
		if c == nil {
			b.StopTimer()
			fill()
			b.StartTimer()
			continue
		}
		if err := s.RecordPart(ctx, c.ID, 1, 1, int(c.ID%256)); err != nil {
			b.Fatal(err)
		}
		if err := s.MarkSent(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// wchar returns the bytes this process has passed to write(2)-family calls
// (/proc/self/io), which covers SQLite's WAL appends, checkpoints and -shm.
func wchar(b *testing.B) int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Skip("no wchar in /proc/self/io")
	return 0
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// BenchmarkMessageLife: enqueue → claim → part accepted → sent → delivered
// (five transactions). Reports bytes written per message life: "walB/msg"
// is the WAL's growth (frames of 4 KiB pages + 24-byte headers; automatic
// checkpoints are off while measuring); "wB/msg" is every byte the process
// wrote (/proc/self/io wchar: WAL frames, -shm updates and the checkpoint
// into the main file, forced at the end); "growth/msg" is how much the main
// file grew once checkpointed.
func BenchmarkMessageLife(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	// Warm up so that the tables have pages to fill.
	for i := range 200 {
		life(b, ctx, s, 10000000+i)
	}
	s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	// No automatic checkpoints while measuring: the WAL's growth is then
	// exactly the frames the message lives appended.
	s.w.Exec("PRAGMA wal_autocheckpoint = 0")
	size0, w0 := fileSize(s.path), wchar(b)
	i := 0
	for b.Loop() {
		life(b, ctx, s, i)
		i++
	}
	wal := fileSize(s.path + "-wal")
	if _, err := s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	s.w.Exec("PRAGMA wal_autocheckpoint = 1000")
	b.ReportMetric(float64(wal)/float64(b.N), "walB/msg")
	b.ReportMetric(float64(wchar(b)-w0)/float64(b.N), "wB/msg")
	b.ReportMetric(float64(fileSize(s.path)-size0)/float64(b.N), "growth/msg")
}

func life(b *testing.B, ctx context.Context, s *Store, i int) {
	to := fmt.Sprintf("+1555%07d", i%10000000)
	m, err := s.Enqueue(ctx, NewMessage{To: to, Text: "Reminder: your appointment is tomorrow at 9:30. Reply C to confirm."})
	if err != nil {
		b.Fatal(err)
	}
	c, err := s.Claim(ctx, "m1")
	if err != nil || c == nil || c.ID != m.ID {
		b.Fatal(c, err)
	}
	mr := int(m.ID % 256)
	if err := s.RecordPart(ctx, m.ID, 1, 1, mr); err != nil {
		b.Fatal(err)
	}
	if err := s.MarkSent(ctx, m.ID); err != nil {
		b.Fatal(err)
	}
	if _, err := s.RecordStatusReport(ctx, mr, to, true, true); err != nil {
		b.Fatal(err)
	}
}
