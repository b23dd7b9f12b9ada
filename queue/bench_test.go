package queue

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
	cost := startCost(b)
	for b.Loop() {
		if _, err := s.Enqueue(ctx, NewMessage{To: fmt.Sprintf("+1555%07d", i%10000000), Text: "Reminder: your appointment is tomorrow at 9:30. Reply C to confirm."}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	cost.report()
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
// transactions, what the dispatcher did per single-part message before
// RecordLastPart; kept to compare the store op for op with the one before
// the row tags).
func BenchmarkClaimMarkSent(b *testing.B) {
	benchClaimSend(b, func(s *Store, c *Message) error {
		if err := s.RecordPart(context.Background(), c.ID, 1, 1, int(c.ID%256)); err != nil {
			return err
		}
		return s.MarkSent(context.Background(), c.ID)
	})
}

// BenchmarkClaimSend: claim + RecordLastPart per op (two transactions, what
// the dispatcher does per single-part message).
func BenchmarkClaimSend(b *testing.B) {
	benchClaimSend(b, func(s *Store, c *Message) error {
		return s.RecordLastPart(context.Background(), c.ID, 1, 1, int(c.ID%256))
	})
}

// benchClaimSend claims messages one by one from a queue of 5,000 (filled
// again, off the clock, when empty) and sends each with send.
func benchClaimSend(b *testing.B, send func(s *Store, c *Message) error) {
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
	cost := startCost(b)
	for b.Loop() {
		c, err := s.Claim(ctx, "m1")
		if err != nil {
			b.Fatal(err)
		}
		if c == nil {
			b.StopTimer()
			cost.pause()
			fill()
			cost.resume()
			b.StartTimer()
			continue
		}
		if err := send(s, c); err != nil {
			b.Fatal(err)
		}
	}
	cost.report()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// costMeter measures what the ops of a benchmark cost the process, beside
// the wall time: CPU time (user and system, getrusage; the system part
// includes SQLite's writes and fsyncs as the kernel runs them) and the
// bytes handed to write calls (/proc/self/io wchar: WAL frames, -shm,
// checkpoints). On a shared machine whose disk latency swings several-fold
// from run to run, these follow the work an op does where ns/op follows
// the neighbours: compare before and after on them too.
type costMeter struct {
	b         *testing.B
	cpu, cpu0 time.Duration
	w, w0     int64
	haveWchar bool
}

func startCost(b *testing.B) *costMeter {
	m := &costMeter{b: b}
	_, m.haveWchar = wchar()
	m.resume()
	return m
}

// pause leaves out what follows (work between ops, under b.StopTimer)
// until resume.
func (m *costMeter) pause() {
	m.cpu += cpuTime() - m.cpu0
	w, _ := wchar()
	m.w += w - m.w0
}

func (m *costMeter) resume() {
	m.cpu0 = cpuTime()
	m.w0, _ = wchar()
}

// report adds cpu-us/op and (where /proc/self/io exists) wB/op.
func (m *costMeter) report() {
	m.pause()
	n := float64(m.b.N)
	m.b.ReportMetric(float64(m.cpu.Microseconds())/n, "cpu-us/op")
	if m.haveWchar {
		m.b.ReportMetric(float64(m.w)/n, "wB/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// wchar is /proc/self/io's wchar, and whether there is one.
func wchar() (int64, bool) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// procIO returns a counter from /proc/self/io: "wchar" is every byte this
// process passed to write(2)-family calls (SQLite's WAL appends, -shm
// updates, checkpoints into the main file); "write_bytes" is what the
// kernel accounted as sent to the storage layer (page-cache pages this
// process dirtied that belong to a block device; 0 on tmpfs).
func procIO(b *testing.B, field string) int64 {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+": "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	b.Skipf("no %s in /proc/self/io", field)
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
// (five transactions, five fsyncs of the WAL). It reports bytes written to
// disk per message life, measured four ways:
//
//   - walB/msg: the WAL file's growth (frames of a 24-byte header plus a
//     4 KiB page; automatic checkpoints are off while measuring, so the
//     growth is exactly the frames the lives appended);
//   - wB/msg: /proc/self/io wchar, every byte the process handed to write
//     calls: the WAL frames, -shm updates and the forced checkpoint that
//     copies the pages into the main file at the end;
//   - diskB/msg: /proc/self/io write_bytes, what the kernel accounted to
//     the block device for this process (the real write load on an SD
//     card, before the device's own write amplification);
//   - growth/msg: how much the main file grew once checkpointed (the
//     space a message costs for as long as it is kept).
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
	size0, w0, d0 := fileSize(s.path), procIO(b, "wchar"), procIO(b, "write_bytes")
	i := 0
	for b.Loop() {
		life(b, ctx, s, i)
		i++
	}
	wal := fileSize(s.path + "-wal")
	if _, err := s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	// The checkpoint's writes reach the device's accounting once they are
	// flushed from the page cache: sync the main file before reading it.
	if f, err := os.OpenFile(s.path, os.O_RDWR, 0); err == nil {
		f.Sync()
		f.Close()
	}
	s.w.Exec("PRAGMA wal_autocheckpoint = 1000")
	b.ReportMetric(float64(wal)/float64(b.N), "walB/msg")
	b.ReportMetric(float64(procIO(b, "wchar")-w0)/float64(b.N), "wB/msg")
	b.ReportMetric(float64(procIO(b, "write_bytes")-d0)/float64(b.N), "diskB/msg")
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
