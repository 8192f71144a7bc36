package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/server"
	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/store/sqlitestore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// The test workflows.

type order struct {
	Name      string
	Quantity  int
	TotalCost float64
}

// OrderProcessingWorkflow is the workflow of the Dapr async HTTP API example.
func OrderProcessingWorkflow(ctx workflow.Context, o order) (map[string]bool, error) {
	return map[string]bool{"Processed": o.Quantity > 0}, nil
}

func Hello(ctx context.Context, name string) (string, error) { return "Hello, " + name, nil }

// Greet calls one activity.
func Greet(ctx workflow.Context, name string) (string, error) {
	return workflow.ExecuteActivity(ctx, Hello, name).Get(ctx)
}

// Approval waits for the event "approval" (an hour at most).
func Approval(ctx workflow.Context, item string) (string, error) {
	if err := workflow.SetCustomStatus(ctx, "waiting for approval of "+item); err != nil {
		return "", err
	}
	who, err := workflow.WaitEventWithTimeout[string](ctx, "approval", time.Hour).Get(ctx)
	if err != nil {
		return "", err
	}
	return item + " approved by " + who, nil
}

func MinusOne(ctx context.Context, n int) (int, error) { return n - 1, nil }
func PlusOne(ctx context.Context, n int) (int, error)  { return n + 1, nil }

func Division(ctx context.Context, divisor int) (int, error) {
	if divisor == 0 {
		return 0, activity.NewError("ZeroDivisionError", "division by zero")
	}
	return 100 / divisor, nil
}

// Compensation is the Dapr resiliency and compensation tutorial: the
// division fails three times, and plus_one compensates minus_one.
func Compensation(ctx workflow.Context, n int) (int, error) {
	ctx = workflow.WithRetryPolicy(ctx, workflow.RetryPolicy{InitialInterval: 5 * time.Millisecond, MaximumAttempts: 3})
	n1, err := workflow.ExecuteActivity(ctx, MinusOne, n).Get(ctx)
	if err != nil {
		return 0, err
	}
	if _, err := workflow.ExecuteActivity(ctx, Division, n1).Get(ctx); err != nil {
		n2, err := workflow.ExecuteActivity(ctx, PlusOne, n1).Get(ctx)
		if err != nil {
			return 0, err
		}
		if err := workflow.SetCustomStatus(ctx, "Compensated minus_one activity with plus_one activity."); err != nil {
			return 0, err
		}
		return n2, nil
	}
	return n1, nil
}

// Failing fails with an OrderError.
func Failing(ctx workflow.Context, msg string) (string, error) {
	return "", workflow.NewError("OrderError", "%s", msg)
}

// tokens receives the task token of every Transmit attempt, by packet.
var tokens sync.Map // packet -> chan string

func tokenChan(packet string) chan string {
	ch, _ := tokens.LoadOrStore(packet, make(chan string, 8))
	return ch.(chan string)
}

// Transmit hands its task token to the test and returns "result pending".
func Transmit(ctx context.Context, packet string) (string, error) {
	tokenChan(packet) <- activity.GetInfo(ctx).TaskToken
	return "", activity.ErrResultPending
}

// Async waits for Transmit to be completed by task token.
func Async(ctx workflow.Context, packet string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: workflow.RetryPolicy{InitialInterval: 5 * time.Millisecond, MaximumAttempts: 3}})
	return workflow.ExecuteActivity(ctx, Transmit, packet).Get(ctx)
}

func Broken(ctx context.Context, _ string) (string, error) {
	return "", activity.NewError("Unavailable", "the service is down")
}

// Stuck has an activity that fails and retries an hour later, a timer, an
// event wait and a child: everything progress reports.
func Stuck(ctx workflow.Context, _ string) (string, error) {
	actx := workflow.WithRetryPolicy(ctx, workflow.RetryPolicy{InitialInterval: time.Hour, MaximumAttempts: 5})
	a := workflow.ExecuteActivity(actx, Broken, "x")
	t := workflow.NewTimer(ctx, time.Hour)
	e := workflow.WaitEventWithTimeout[string](ctx, "go", 2*time.Hour)
	c := workflow.ExecuteChildWorkflow(ctx, Approval, "child")
	_, _ = a.Get(ctx)
	_, _ = t.Get(ctx)
	_, _ = e.Get(ctx)
	_, _ = c.Get(ctx)
	return "done", nil
}

func register(w *worker.Worker) error {
	return errors.Join(
		worker.RegisterWorkflow(w, OrderProcessingWorkflow),
		worker.RegisterWorkflow(w, Greet), worker.RegisterActivity(w, Hello),
		worker.RegisterWorkflow(w, Approval),
		worker.RegisterWorkflowAs(w, "Compensation", Compensation),
		worker.RegisterActivityAs(w, "minus_one", MinusOne), worker.RegisterActivityAs(w, "plus_one", PlusOne),
		worker.RegisterActivityAs(w, "division", Division),
		worker.RegisterWorkflow(w, Failing),
		worker.RegisterWorkflow(w, Async), worker.RegisterActivity(w, Transmit),
		worker.RegisterWorkflow(w, Stuck), worker.RegisterActivity(w, Broken),
	)
}

// env is an engine, a worker and the HTTP API on an httptest server.
type env struct {
	t      *testing.T
	st     store.Store
	c      *perdure.Client
	w      *worker.Worker
	srv    *httptest.Server
	url    string
	ctx    context.Context
	client *http.Client
}

type serverConfig = server.Config

type envOptions struct {
	sqlite bool
	config func(*serverConfig)
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t}
	var err error
	if o.sqlite {
		e.st, err = sqlitestore.Open(filepath.Join(t.TempDir(), "perdure.db"), sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
	} else {
		e.st = memstore.New()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	e.ctx = ctx
	e.c, err = perdure.NewClient(perdure.Options{Store: e.st, Logger: testLogger(), LeaseDuration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.w = worker.New(e.c, worker.Options{ShutdownGrace: time.Second})
	if err := register(e.w); err != nil {
		t.Fatal(err)
	}
	if err := e.w.Start(); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Client: e.c, Logger: testLogger()}
	if o.config != nil {
		o.config(&cfg)
	}
	h, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	e.url = e.srv.URL
	// The server's own client: closing another test's server does not
	// touch its connections.
	e.client = e.srv.Client()
	e.client.Timeout = 30 * time.Second
	t.Cleanup(func() {
		e.srv.Close()
		_ = e.w.Stop()
		_ = e.c.Close()
		_ = e.st.Close()
		cancel()
	})
	return e
}

func testLogger() *slog.Logger {
	if os.Getenv("PERDURE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; body is sent as is when it is a string or []byte,
// else encoded as JSON.
func (e *env) do(method, path string, body any, headers ...string) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails unless the response has status, and decodes its body into v.
func (r *response) want(t *testing.T, status int, v any) *response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("decode %s: %v", r.body, err)
		}
	}
	return r
}

// wantError fails unless the response is a native error with status and code.
func (r *response) wantError(t *testing.T, status int, code string, msgContains ...string) api.ErrorDetail {
	t.Helper()
	var body api.ErrorBody
	r.want(t, status, &body)
	if body.Error.Code != code {
		t.Fatalf("error code %q, want %q (message %q)", body.Error.Code, code, body.Error.Message)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	for _, s := range msgContains {
		if !strings.Contains(body.Error.Message, s) {
			t.Fatalf("error message %q does not contain %q", body.Error.Message, s)
		}
	}
	return body.Error
}

// start starts a workflow through the native API and returns its status.
func (e *env) start(name string, input any, id string) *api.Instance {
	e.t.Helper()
	in, _ := json.Marshal(input)
	var inst api.Instance
	e.do("POST", "/api/v1/instances", api.StartRequest{WorkflowName: name, InstanceID: id, Input: in}).want(e.t, http.StatusAccepted, &inst)
	return &inst
}

// waitDone long-polls until the instance has finished.
func (e *env) waitDone(id string) *api.Instance {
	e.t.Helper()
	for {
		var inst api.Instance
		e.do("GET", "/api/v1/instances/"+id+"?wait=10s", nil).want(e.t, http.StatusOK, &inst)
		if inst.Finished() {
			return &inst
		}
		if e.ctx.Err() != nil {
			e.t.Fatalf("instance %s did not finish: %s", id, inst.Status)
		}
	}
}

// eventually polls cond until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) status(id string) api.Status {
	e.t.Helper()
	var inst api.Instance
	e.do("GET", "/api/v1/instances/"+id, nil).want(e.t, http.StatusOK, &inst)
	return inst.Status
}

func (e *env) progress(id string) *api.Progress {
	e.t.Helper()
	var p api.Progress
	e.do("GET", "/api/v1/instances/"+id+"/progress", nil).want(e.t, http.StatusOK, &p)
	return &p
}
