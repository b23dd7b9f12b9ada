package daemon

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// benchCSV is a day's list of n rows, numbers starting at first, every
// row good: appointments from the third day on, one a minute from 9:00 to
// 18:59 in the clinic's zone (every reminder of the plan kept).
func benchCSV(n, first int) []byte {
	var b strings.Builder
	b.WriteString("Patient Name,Mobile,Appt Date,Appt Time,Provider,Language\r\n")
	for i := 0; i < n; i++ {
		slot := i % 600
		day := dayAt(3+i/600, 9+slot/60, slot%60)
		lang := "en"
		if i%3 == 0 {
			lang = "es"
		}
		num := first + i
		fmt.Fprintf(&b, "Patient %d Name,(555) %03d-%04d,%s,%s,Dr. Rivera,%s\r\n", i, 200+num/10000, num%10000,
			day.Format("2006-01-02"), day.Format("3:04 PM"), lang)
	}
	return []byte(b.String())
}

// BenchmarkImport10k imports 10,000 rows end to end through the service:
// read and parse the CSV, validate every row, look each number up (opted
// out, duplicate), seal and insert 10,000 appointments and their 20,000
// reminders (the default plan: 48h and 2h before) in one transaction with
// its audit row. Each op imports a new file into the same store. Target
// (issue 15): under 3 s/op here.
func BenchmarkImport10k(b *testing.B) {
	s := openRemind(b)
	ctx := context.Background()
	i := 0
	cpu := cpuTime()
	for b.Loop() {
		b.StopTimer()
		data := benchCSV(10000, i*10000)
		i++
		b.StartTimer()
		res, err := s.Import(ctx, staff, ops.ImportRequest{Data: data, Commit: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if res.Created != 10000 || res.Reminders != 20000 {
			b.Fatalf("created %d appointments and %d reminders, want 10000 and 20000 (first bad row: %+v)", res.Created, res.Reminders, firstBad(res))
		}
	}
	reportCPU(b, cpu)
}

// cpuTime is the CPU time the process used so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU seconds per op since start: on a machine shared
// with other work the wall time per op says more about the neighbours
// than about the code (the setup of each op, outside the timer, counts
// here too, so this is an upper bound).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
}

func firstBad(r ops.ImportResult) ops.ImportRow {
	for _, row := range r.Rows {
		if len(row.Problems) > 0 {
			return row
		}
	}
	return ops.ImportRow{}
}

// BenchmarkReport is the daily report (the day and the 13 before it for
// the chart) over a year of history: 100,000 appointments with 200,000
// reminders spread over 365 days, in every state, and answers. The history
// is made through the store (imports of 10,000), then states and answers
// are set by SQL (the report reads clear columns only, so their integrity
// tags do not matter here). Target (issue 15): under 1 s.
func BenchmarkReport(b *testing.B) {
	s := openRemind(b)
	ctx := context.Background()
	st := s.Store()
	start := time.Now().AddDate(-1, 0, 0)
	for chunk := 0; chunk < 10; chunk++ {
		items := make([]queue.ImportItem, 10000)
		for i := range items {
			n := chunk*10000 + i
			at := start.Add(time.Duration(n) * (365 * 24 * time.Hour / 100000))
			items[i] = queue.ImportItem{Line: i + 2, Appointment: queue.NewAppointment{Name: "Patient", Phone: fmt.Sprintf("+1555%03d%04d", 200+n/10000, n%10000), At: at}}
		}
		plan := func(a queue.Appointment) ([]queue.PlannedReminder, []queue.SkippedSlot, error) {
			return []queue.PlannedReminder{{Before: 48 * time.Hour, SendAt: a.At.Add(-48 * time.Hour), Text: "Hi, a reminder of your visit"},
				{Before: 2 * time.Hour, SendAt: a.At.Add(-2 * time.Hour), Text: "Hi, a reminder of your visit"}}, nil, nil
		}
		if _, err := st.CommitImport(ctx, queue.ImportCommit{Sum: sha256.Sum256([]byte{byte(chunk)}), Rows: len(items), Items: items, Plan: plan}); err != nil {
			b.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite3", s.cfg.DBPath())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`UPDATE messages SET state = CASE id % 10 WHEN 0 THEN 'failed' WHEN 1 THEN 'undelivered' WHEN 2 THEN 'sent' ELSE 'delivered' END WHERE send_at < ` + fmt.Sprint(time.Now().UnixMilli()),
		`UPDATE appointments SET answer = CASE id % 7 WHEN 0 THEN 'reschedule' WHEN 1 THEN 'opted_out' ELSE 'confirmed' END, answered_at = at - 3600000 WHERE id % 2 = 0 AND at < ` + fmt.Sprint(time.Now().UnixMilli()),
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM messages WHERE appointment_id IS NOT NULL").Scan(&n); err != nil || n != 200000 {
		b.Fatalf("%d reminders in the history, want 200000 (%v)", n, err)
	}
	cpu := cpuTime()
	for b.Loop() {
		r, err := s.Report(ctx, staff, ops.ReportRequest{Date: time.Now().In(clinicZone).AddDate(0, 0, -1).Format("2006-01-02")})
		if err != nil {
			b.Fatal(err)
		}
		if r.Sent == 0 || r.Confirmed == 0 || len(r.Days) != 14 {
			b.Fatalf("report: %+v", r.ReportDay)
		}
	}
	reportCPU(b, cpu)
}
