package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// The daily report: the day's reminder counts and a bar chart of the days
// before it, drawn here as SVG markup in the page (no script, no library,
// no outside host). The geometry is computed in Go; the colours come from
// app.css classes, since the Content-Security-Policy allows no inline
// style.

// reportDays is how many days the chart covers.
const reportDays = 14

// The chart's drawing area, in SVG user units (the viewBox: the browser
// scales it to the page's width).
const (
	chartWidth  = 720
	chartHeight = 240
	chartLeft   = 36 // room for the scale's numbers
	chartBottom = 36 // room for the days' names
	chartTop    = 12
)

// chartSeries are the counts the chart shows per day, in bar order.
var chartSeries = []struct{ Key, Label string }{
	{"sent", "Sent"},
	{"confirmed", "Confirmed"},
	{"failed", "Failed"},
}

// chartBar is one bar.
type chartBar struct {
	X, Y, W, H float64
	Class      string // series-sent, series-confirmed, ...
	Title      string // read by screen readers and shown on hover
}

// chartLabel is a text of the chart.
type chartLabel struct {
	X, Y float64
	Text string
}

// reportChart is the chart's geometry.
type reportChart struct {
	Width, Height int
	Bars          []chartBar
	Days          []chartLabel
	Scale         []chartLabel // the scale's numbers
	Grid          []float64    // y of the scale's lines
	Axis          float64      // y of the baseline
	Left, Right   float64
	Max           int
	Series        []struct{ Key, Label string }
}

// reportCount is d's count of series key.
func reportCount(d ops.ReportDay, key string) int {
	switch key {
	case "sent":
		return d.Sent
	case "delivered":
		return d.Delivered
	case "failed":
		return d.Failed
	case "confirmed":
		return d.Confirmed
	case "reschedule":
		return d.Reschedule
	case "opted_out":
		return d.OptedOut
	}
	return 0
}

// newChart lays out days (oldest first) as groups of bars.
func newChart(days []ops.ReportDay) reportChart {
	c := reportChart{Width: chartWidth, Height: chartHeight, Left: chartLeft, Right: chartWidth - 4, Series: chartSeries}
	c.Axis = float64(chartHeight - chartBottom)
	for _, d := range days {
		for _, s := range chartSeries {
			c.Max = max(c.Max, reportCount(d, s.Key))
		}
	}
	top := niceMax(c.Max)
	plotH := c.Axis - chartTop
	for i := 0; i <= 4; i++ {
		v := top * i / 4
		y := c.Axis - plotH*float64(v)/float64(top)
		c.Grid = append(c.Grid, y)
		c.Scale = append(c.Scale, chartLabel{X: chartLeft - 6, Y: y + 4, Text: strconv.Itoa(v)})
	}
	if len(days) == 0 {
		return c
	}
	group := (c.Right - c.Left) / float64(len(days))
	barW := group * 0.8 / float64(len(chartSeries))
	for i, d := range days {
		x0 := c.Left + group*float64(i) + group*0.1
		for j, s := range chartSeries {
			n := reportCount(d, s.Key)
			h := plotH * float64(n) / float64(top)
			c.Bars = append(c.Bars, chartBar{X: x0 + barW*float64(j), Y: c.Axis - h, W: barW, H: h, Class: "series-" + s.Key,
				Title: d.Date + ": " + strconv.Itoa(n) + " " + s.Label})
		}
		label := d.Date
		if t, err := time.Parse(dateLayout, d.Date); err == nil {
			label = t.Format("2 Jan")
		}
		c.Days = append(c.Days, chartLabel{X: c.Left + group*float64(i) + group/2, Y: c.Axis + 16, Text: label})
	}
	return c
}

// niceMax is the scale's top for a largest count of n: a round number at
// least n, divisible by 4 so the scale's lines fall on whole numbers.
func niceMax(n int) int {
	if n <= 4 {
		return 4
	}
	for _, step := range []int{4, 8, 20, 40, 80, 200, 400, 800, 2000, 4000, 8000, 20000, 40000, 80000, 200000} {
		if n <= step {
			return step
		}
	}
	return (n + 3) / 4 * 4
}

// reportData is the report page's.
type reportData struct {
	Date, Prev, Next string
	Report           ops.Report
	Chart            reportChart
}

// report is GET /report?date=: the day's counts and the chart.
func (s *Server) report(w http.ResponseWriter, r *http.Request, rs *reqSession) {
	q := r.URL.Query()
	d := reportData{Date: q.Get("date")}
	if !validText(d.Date) {
		d.Date = ""
	}
	if d.Date == "" {
		d.Date = s.now().In(s.loc).Format(dateLayout)
	}
	day, err := time.ParseInLocation(dateLayout, d.Date, s.loc)
	if err != nil {
		d.Date = s.now().In(s.loc).Format(dateLayout)
		s.show(w, r, rs, http.StatusBadRequest, "report", pageData{Title: "Report", Error: "The date is not a date (for example 2026-12-03): choose a day with the date picker.", Data: d})
		return
	}
	d.Prev = day.AddDate(0, 0, -1).Format(dateLayout)
	d.Next = day.AddDate(0, 0, 1).Format(dateLayout)
	rep, err := s.svc.Report(r.Context(), rs.Actor, ops.ReportRequest{Date: d.Date, Days: reportDays})
	if err != nil {
		if s.redirectFor(w, r, err) {
			return
		}
		status, msg := s.statusOf(r, err)
		s.show(w, r, rs, status, "report", pageData{Title: "Report", Error: msg, Data: d})
		return
	}
	d.Report = rep
	d.Chart = newChart(rep.Days)
	s.show(w, r, rs, http.StatusOK, "report", pageData{Title: "Report", Data: d})
}
