package control

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clinicsms/smsd/ops"
)

// remindHandler is scriptedHandler with the reminder operations, answering
// as the service would (the real service is tested in package daemon and
// e2e); it keeps what the last import carried.
type remindHandler struct {
	*scriptedHandler
	gotImport ops.ImportRequest
}

func (h *remindHandler) Appointments(ctx context.Context, a ops.Actor, f ops.AppointmentFilter) ([]ops.Appointment, error) {
	h.saw(a)
	if f.Date == "2000-01-01" {
		return nil, nil
	}
	return []ops.Appointment{{ID: 1, Phone: "+1******4567", Language: ops.LangEnglish, Reminders: []ops.Reminder{{Before: "48h0m0s"}}}}, nil
}

func (h *remindHandler) Appointment(ctx context.Context, a ops.Actor, r ops.AppointmentRequest) (ops.Appointment, error) {
	if r.ID != 1 {
		return ops.Appointment{}, ops.Errorf(ops.CodeNotFound, "no appointment")
	}
	state := ops.AppointmentScheduled
	if r.Action == ops.AppointmentCancel {
		state = ops.AppointmentCancelled
	}
	return ops.Appointment{ID: 1, State: state}, nil
}

func (h *remindHandler) Templates(ctx context.Context, a ops.Actor, r ops.TemplateRequest) ([]ops.Template, error) {
	if r.Action == ops.TemplateValidate && strings.Contains(r.Body, "{nmae}") {
		return []ops.Template{{Body: r.Body, Check: ops.TemplateCheck{Unknown: []string{"nmae"}}}}, nil
	}
	return nil, nil
}

func (h *remindHandler) Import(ctx context.Context, a ops.Actor, r ops.ImportRequest, progress func(done, total int)) (ops.ImportResult, error) {
	h.gotImport = r
	return ops.ImportResult{Committed: r.Commit, Encoding: "UTF-8", Delimiter: ",", Rows: []ops.ImportRow{{Line: 2}}, Good: 1}, nil
}

func (h *remindHandler) ImportMappings(ctx context.Context, a ops.Actor) ([]ops.ImportMapping, error) {
	return nil, nil
}

func (h *remindHandler) Report(ctx context.Context, a ops.Actor, r ops.ReportRequest) (ops.Report, error) {
	return ops.Report{ReportDay: ops.ReportDay{Date: r.Date, Sent: 3}}, nil
}

func startRemind(t *testing.T) (*Server, *Client, *remindHandler) {
	t.Helper()
	h := &remindHandler{scriptedHandler: &scriptedHandler{block: make(chan struct{})}}
	s, err := Listen(filepath.Join(t.TempDir(), "control.sock"), h, nil)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(context.Background())
	t.Cleanup(func() { s.Close(time.Second) })
	return s, NewClient(s.Path()), h
}

// TestRemindOps: every reminder operation crosses the socket both ways,
// with the actor from the peer credentials, empty lists as lists, and the
// service's error codes.
func TestRemindOps(t *testing.T) {
	_, c, h := startRemind(t)
	ctx := context.Background()
	as, err := c.Appointments(ctx, ops.AppointmentFilter{Date: "2026-12-03"})
	if err != nil || len(as) != 1 || as[0].Reminders[0].Before != "48h0m0s" {
		t.Fatalf("appointments: %+v %v", as, err)
	}
	if a := h.lastActor(); a.Kind != ops.ActorUnix {
		t.Errorf("the service saw actor %+v, want the unix peer", a)
	}
	if as, err := c.Appointments(ctx, ops.AppointmentFilter{Date: "2000-01-01"}); err != nil || as == nil || len(as) != 0 {
		t.Fatalf("no appointments must be an empty list: %#v %v", as, err)
	}
	if ap, err := c.Appointment(ctx, ops.AppointmentRequest{Action: ops.AppointmentCancel, ID: 1}); err != nil || ap.State != ops.AppointmentCancelled {
		t.Fatalf("cancel: %+v %v", ap, err)
	}
	if _, err := c.Appointment(ctx, ops.AppointmentRequest{Action: ops.AppointmentShow, ID: 9}); ops.CodeOf(err) != ops.CodeNotFound {
		t.Fatalf("missing appointment: %v", err)
	}
	if ts, err := c.Templates(ctx, ops.TemplateRequest{Action: ops.TemplateValidate, Body: "Hi {nmae}"}); err != nil || len(ts) != 1 || ts[0].Check.Unknown[0] != "nmae" {
		t.Fatalf("template check: %+v %v", ts, err)
	}
	data := []byte("name,phone,date,time\r\nAna,555 0100,2026-12-03,15:00\r\n")
	res, err := c.Import(ctx, ops.ImportRequest{Data: data, FileName: "day.csv", Commit: true, Mapping: map[string]string{"phone": "Mobile"}})
	if err != nil || !res.Committed || res.Good != 1 {
		t.Fatalf("import: %+v %v", res, err)
	}
	if !bytes.Equal(h.gotImport.Data, data) || h.gotImport.Mapping["phone"] != "Mobile" || h.gotImport.FileName != "day.csv" {
		t.Errorf("the service got %+v", h.gotImport)
	}
	if ms, err := c.ImportMappings(ctx); err != nil || ms == nil {
		t.Fatalf("mappings: %#v %v", ms, err)
	}
	if r, err := c.Report(ctx, ops.ReportRequest{Date: "2026-12-03"}); err != nil || r.Sent != 3 || r.Date != "2026-12-03" {
		t.Fatalf("report: %+v %v", r, err)
	}
	for _, op := range []string{OpAppointment, OpTemplates, OpImport} {
		if _, err := c.Do(ctx, Request{Op: op}); ops.CodeOf(err) != ops.CodeInvalidRequest {
			t.Errorf("%s without a body: %v", op, err)
		}
	}
}

// TestImportSizeLimit: a file of exactly the limit crosses (the socket's
// own limit is raised for it); one byte more is refused with a sentence
// that says what to do, by the client before sending and by the server
// when another client sends it; other operations keep the small limit.
func TestImportSizeLimit(t *testing.T) {
	s, c, h := startRemind(t)
	ctx := context.Background()
	full := bytes.Repeat([]byte("a"), MaxImportBytes)
	if _, err := c.Import(ctx, ops.ImportRequest{Data: full}); err != nil {
		t.Fatalf("a file of %d bytes: %v", len(full), err)
	}
	if len(h.gotImport.Data) != MaxImportBytes {
		t.Fatalf("the service got %d bytes", len(h.gotImport.Data))
	}
	over := append(full, 'b')
	h.gotImport = ops.ImportRequest{}
	_, err := c.Import(ctx, ops.ImportRequest{Data: over})
	if ops.CodeOf(err) != ops.CodeTooLong || !strings.Contains(err.Error(), "at most 10 MB") || !strings.Contains(err.Error(), "split") {
		t.Fatalf("a file over the limit, client side: %v", err)
	}
	// Past the client's own check: the server refuses it too.
	_, err = c.Do(ctx, Request{Op: OpImport, Remind: &RemindRequest{Import: &ops.ImportRequest{Data: over}}})
	if ops.CodeOf(err) != ops.CodeTooLong || !strings.Contains(err.Error(), "at most 10 MB") {
		t.Fatalf("a file over the limit, server side: %v", err)
	}
	if h.gotImport.Data != nil {
		t.Errorf("the service saw the file over the limit")
	}
	// Far beyond the wire limit: the server stops reading and says why.
	huge := bytes.Repeat([]byte("a"), maxRequest)
	b, _ := json.Marshal(Request{Op: OpImport, Remind: &RemindRequest{Import: &ops.ImportRequest{Data: huge}}})
	if msg := rawAnswer(t, s.Path(), b); !strings.Contains(msg, ops.CodeTooLong) || !strings.Contains(msg, "at most 10 MB") {
		t.Errorf("a request beyond the wire limit: %s", msg)
	}
	// Another operation is still held to the small limit.
	_, err = c.Send(ctx, ops.SendRequest{To: "+15551234567", Text: strings.Repeat("x", maxMessage)})
	if ops.CodeOf(err) != ops.CodeTooLong {
		t.Fatalf("a send of %d bytes: %v", maxMessage, err)
	}
}

// TestNoRemindHandler: a service without the reminder operations answers
// them with an error, not a crash or a silent empty answer.
func TestNoRemindHandler(t *testing.T) {
	_, c, _ := start(t)
	if _, err := c.Appointments(context.Background(), ops.AppointmentFilter{}); ops.CodeOf(err) != ops.CodeInvalidRequest || !strings.Contains(err.Error(), "no reminders") {
		t.Fatalf("appointments on a service without reminders: %v", err)
	}
}

// rawAnswer writes b to the socket as one request, as another client
// would, and returns the answer as text.
func rawAnswer(t *testing.T, path string, b []byte) string {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	go conn.Write(append(b, '\n'))
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	if resp.Error == nil {
		return "no error"
	}
	return resp.Error.Code + ": " + resp.Error.Message
}
