package daemon

import (
	"context"
	"fmt"

	"github.com/clinicsms/smsd/audit"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
)

// maxReportDays bounds the chart (a year and a day).
const maxReportDays = 366

// Report counts a day's reminders (sent, delivered, failed, still
// pending) and answers (confirmed, rescheduling asked, opted out), and the
// same for the days before it for the chart (Days, default 14). Days are
// the clinic's (config timezone), so a DST day has 23 or 25 hours. A
// reminder counts on the day it was due to go out (its send_at, after
// quiet hours); an answer on the day it came in. Only clear columns are
// read, from indexes: no sealed cell is opened. The view is audited
// (report_view) though it shows no PHI: who looked at the clinic's figures
// when. An API token may not.
func (s *Service) Report(ctx context.Context, a ops.Actor, r ops.ReportRequest) (_ ops.Report, err error) {
	ctx, rec := begin(ctx, a, audit.ReportView, "report", "")
	defer func() { err = s.finish(ctx, rec, err) }()
	if err := refuseToken(a, "see the report"); err != nil {
		return ops.Report{}, err
	}
	days := r.Days
	if days == 0 {
		days = defaultReportChartDay
	}
	if days < 1 || days > maxReportDays {
		return ops.Report{}, ops.Errorf(ops.CodeInvalidRequest, fmt.Sprintf("days %d: the chart covers 1 to %d days", r.Days, maxReportDays))
	}
	loc := s.location()
	from, _, err := s.dayBounds(r.Date, loc)
	if err != nil {
		return ops.Report{}, err
	}
	rec.SetObject("report", from.Format("2006-01-02"))
	rec.AddDetail(fmt.Sprintf("days=%d", days))
	periods := make([]queue.Period, days)
	for i := range periods {
		d := from.AddDate(0, 0, i-(days-1))
		periods[i] = queue.Period{From: d, To: d.AddDate(0, 0, 1)}
	}
	st, err := s.ready(ctx)
	if err != nil {
		return ops.Report{}, err
	}
	counts, err := st.ReminderReport(ctx, periods)
	if err != nil {
		return ops.Report{}, err
	}
	out := ops.Report{Days: make([]ops.ReportDay, days)}
	for i, c := range counts {
		out.Days[i] = ops.ReportDay{Date: periods[i].From.Format("2006-01-02"), Sent: c.Sent(), Delivered: c.ByState[queue.Delivered],
			Failed: c.Failed(), Confirmed: c.Answers[queue.AnswerConfirmed], Reschedule: c.Answers[queue.AnswerReschedule],
			OptedOut: c.Answers[queue.AnswerOptedOut]}
	}
	out.ReportDay = out.Days[days-1]
	out.Pending = counts[days-1].Pending()
	return out, nil
}
