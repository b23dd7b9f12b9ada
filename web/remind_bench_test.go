package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/config"
	"github.com/clinicsms/smsd/daemon"
	"github.com/clinicsms/smsd/ops"
	"github.com/clinicsms/smsd/queue"
	"github.com/clinicsms/smsd/web"
)

// BenchmarkWebImport10k is a day's list of 10,000 rows through the web UI
// end to end, as a person does it: the upload and its preview page, the
// commit, and the job's progress asked until it is done (parse, validate,
// seal and insert in the service; the multipart reading, the preview's
// table and the job in the web UI). One op is one whole import of a new
// file.
//
//	go test ./web -run '^$' -bench BenchmarkWebImport10k -benchtime 3x
func BenchmarkWebImport10k(b *testing.B) {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	ctx := context.Background()
	if err := queue.Init(ctx, cfg.DBPath(), daemon.KeySource(&cfg, nil), daemon.StoreOptions(&cfg, nil)); err != nil {
		b.Fatal(err)
	}
	svc, err := daemon.OpenDirect(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.User(ctx, root, ops.UserRequest{Action: ops.UserAdd, Username: "alice", Name: "Alice", Role: ops.RoleStaff, Password: password}); err != nil {
		b.Fatal(err)
	}
	ws, err := web.New(web.Options{Service: svc})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(ws.Handler())
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path, ct string, body io.Reader) (int, string, string) {
		req, _ := http.NewRequest(method, srv.URL+path, body)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(out)
	}
	if st, loc, _ := do("POST", "/signin", "application/x-www-form-urlencoded", strings.NewReader(url.Values{"username": {"alice"}, "password": {password}}.Encode())); st != http.StatusSeeOther || loc != "/" {
		b.Fatalf("sign in: %d %s", st, loc)
	}
	commitRe := regexp.MustCompile(`id="import-commit" method="post" action="([^"]+)"`)
	var preview, commit time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		day := time.Now().AddDate(0, 0, 3+i).Format("2006-01-02")
		var csv bytes.Buffer
		csv.WriteString("name,phone,date,time,provider\r\n")
		for r := range 10000 {
			fmt.Fprintf(&csv, "Patient %d,+1555%07d,%s,%02d:%02d,Dr %d\r\n", r, 1000000+r, day, 8+r%10, r%60, r%7)
		}
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "day.csv")
		fw.Write(csv.Bytes())
		mw.Close()
		b.StartTimer()

		t0 := time.Now()
		st, _, page := do("POST", "/import", mw.FormDataContentType(), &body)
		preview += time.Since(t0)
		t0 = time.Now()
		m := commitRe.FindStringSubmatch(page)
		if st != http.StatusOK || m == nil {
			b.Fatalf("preview: %d %.300s", st, page)
		}
		st, job, _ := do("POST", m[1], "application/x-www-form-urlencoded", nil)
		if st != http.StatusSeeOther {
			b.Fatalf("commit: %d", st)
		}
		for {
			_, _, js := do("GET", job+"/progress", "", nil)
			var p struct {
				Done, Total int
				Finished    bool
				Error       string
			}
			if err := json.Unmarshal([]byte(js), &p); err != nil {
				b.Fatal(err)
			}
			if p.Finished {
				if p.Error != "" || p.Done != 10000 {
					b.Fatalf("the import: %+v", p)
				}
				commit += time.Since(t0)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The two halves a person waits for: the preview page, and the
	// commit from its button to the job's end (polled every 10 ms).
	b.ReportMetric(float64(preview.Milliseconds())/float64(b.N), "preview-ms/op")
	b.ReportMetric(float64(commit.Milliseconds())/float64(b.N), "commit-ms/op")
}
