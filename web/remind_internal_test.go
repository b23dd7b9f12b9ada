package web

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/clinicsms/smsd/ops"
)

// importRequest is a POST /import of body with the given content type,
// its body bounded as the server bounds it.
func importRequest(body []byte, contentType string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "/import", bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	r.Body = http.MaxBytesReader(nil, r.Body, maxImportBody)
	return r
}

// multipartBody is a browser's upload of data as file name with fields.
func multipartBody(t testing.TB, name string, data []byte, fields map[string]string) ([]byte, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// TestReadImportForm: the upload's file, name and mapping are read as
// sent; what is not a browser's upload is refused with a status and a
// sentence.
func TestReadImportForm(t *testing.T) {
	csv := []byte("name,phone,date,time\r\nAna,+15551230401,2030-01-02,09:00\r\n")
	body, ct := multipartBody(t, `C:\exports\day 1.csv`, csv, map[string]string{
		"map_phone": " Mobile ", "map_date": "", "map_secret": "x", "mapping_name": "PracticeOne", "save_mapping_as": "Mine",
	})
	req, prob := readImportForm(importRequest(body, ct))
	if prob != nil {
		t.Fatalf("a good upload refused: %+v", prob)
	}
	if !bytes.Equal(req.Data, csv) || req.FileName != "day 1.csv" || req.MappingName != "PracticeOne" || req.SaveMappingAs != "Mine" {
		t.Errorf("read %+v", req)
	}
	if len(req.Mapping) != 1 || req.Mapping["phone"] != "Mobile" {
		t.Errorf("mapping %v, want only phone=Mobile (empty fields and unknown ones left out)", req.Mapping)
	}

	big, bct := multipartBody(t, "big.csv", bytes.Repeat([]byte("a"), maxImportFile+1), nil)
	empty, ect := multipartBody(t, "x.csv", nil, nil)
	for _, tc := range []struct {
		name   string
		body   []byte
		ct     string
		status int
	}{
		{"over_10_MB", big, bct, http.StatusRequestEntityTooLarge},
		{"url_encoded", []byte("file=abc"), "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"no_boundary", body, "multipart/form-data", http.StatusBadRequest},
		{"cut_short", body[:len(body)/2], ct, http.StatusBadRequest},
		{"empty_file", empty, ect, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, prob := readImportForm(importRequest(tc.body, tc.ct))
			if prob == nil || prob.status != tc.status || prob.msg == "" {
				t.Errorf("got %+v, want %d with a message", prob, tc.status)
			}
		})
	}
}

// FuzzReadImportForm: any body, as multipart with a fixed boundary, is
// read or refused with a 4xx and a message, never a panic; what is read
// keeps to the limits.
func FuzzReadImportForm(f *testing.F) {
	good, ct := multipartBody(f, "day.csv", []byte("name,phone\r\nAna,+1555\r\n"), map[string]string{"map_name": "Patient"})
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	f.Add(good)
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\xff.csv\"\r\n\r\nx\r\n--" + boundary + "--\r\n"))
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"map_phone\"\r\n\r\n\xfe\r\n--" + boundary + "--\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		req, prob := readImportForm(importRequest(body, ct))
		if prob != nil {
			if prob.status < 400 || prob.status >= 500 || prob.msg == "" {
				t.Fatalf("refused with %+v", prob)
			}
			return
		}
		if len(req.Data) == 0 || len(req.Data) > maxImportFile {
			t.Fatalf("read a file of %d bytes", len(req.Data))
		}
		for k := range req.Mapping {
			if !slices.Contains(importFields, k) {
				t.Fatalf("mapping of unknown field %q", k)
			}
		}
		if strings.ContainsAny(req.FileName, `/\`) {
			t.Fatalf("file name %q keeps a path", req.FileName)
		}
	})
}

// TestChart: bars stand on the baseline, inside the drawing, one per
// series and day, their heights in proportion to the counts; the scale's
// top is at least the largest count.
func TestChart(t *testing.T) {
	for _, tc := range []struct {
		name string
		days []ops.ReportDay
	}{
		{"empty", nil},
		{"zeros", []ops.ReportDay{{Date: "2026-12-01"}, {Date: "2026-12-02"}}},
		{"one", []ops.ReportDay{{Date: "2026-12-01", Sent: 1, Confirmed: 1}}},
		{"busy", []ops.ReportDay{{Date: "2026-11-30", Sent: 812, Confirmed: 400, Failed: 3}, {Date: "2026-12-01", Sent: 97, Failed: 97}}},
		{"huge", []ops.ReportDay{{Date: "2026-12-01", Sent: 1234567, Confirmed: 5}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newChart(tc.days)
			if len(c.Bars) != len(tc.days)*len(chartSeries) || len(c.Days) != len(tc.days) {
				t.Fatalf("%d bars and %d day labels for %d days", len(c.Bars), len(c.Days), len(tc.days))
			}
			top := niceMax(c.Max)
			if top < c.Max || top%4 != 0 {
				t.Errorf("scale top %d for a largest count of %d", top, c.Max)
			}
			plot := c.Axis - chartTop
			for i, b := range c.Bars {
				d := tc.days[i/len(chartSeries)]
				n := reportCount(d, chartSeries[i%len(chartSeries)].Key)
				if b.Y+b.H != c.Axis || b.H < 0 || b.Y < chartTop-0.001 || b.X < c.Left || b.X+b.W > c.Right+0.001 {
					t.Errorf("bar %d (%+v) is not on the baseline inside the drawing", i, b)
				}
				if want := plot * float64(n) / float64(top); b.H < want-0.001 || b.H > want+0.001 {
					t.Errorf("bar %d for %d: height %v, want %v", i, n, b.H, want)
				}
				if !strings.Contains(b.Title, d.Date) {
					t.Errorf("bar %d's title %q does not name its day", i, b.Title)
				}
			}
		})
	}
}

// TestBeforeLabel: the plan's offsets in words.
func TestBeforeLabel(t *testing.T) {
	for in, want := range map[string]string{
		"48h0m0s": "2 days before", "24h0m0s": "1 day before", "2h0m0s": "2 hours before", "1h0m0s": "1 hour before",
		"30m0s": "30 minutes before", "90m": "90 minutes before", "junk": "junk",
	} {
		if got := beforeLabel(in); got != want {
			t.Errorf("beforeLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
