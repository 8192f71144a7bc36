package httpclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/httpclient"
	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/server/servertest"
)

func setup(t *testing.T) (*httpclient.Client, context.Context) {
	t.Helper()
	env := servertest.Start(t)
	c, err := httpclient.New(env.URL, httpclient.WithHTTPClient(env.Server.Client()), httpclient.WithHeader("X-Test", "1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c, ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsBadAddresses(t *testing.T) {
	for _, a := range []string{"ftp://x", "http://", "://"} {
		if _, err := httpclient.New(a); err == nil {
			t.Errorf("%q accepted", a)
		}
	}
	c, err := httpclient.New("127.0.0.1:3500/")
	if err != nil || c.BaseURL() != "http://127.0.0.1:3500" {
		t.Fatalf("bare host: %v %v", c, err)
	}
}

func TestStartWaitGetHistory(t *testing.T) {
	t.Parallel()
	c, ctx := setup(t)
	must(t, c.Health(ctx))
	res, err := c.Start(ctx, api.StartRequest{WorkflowName: "Greet", InstanceID: "hc-1", Input: json.RawMessage(`"Ada"`)}, httpclient.StartOptions{})
	must(t, err)
	if !res.Created || res.Location != "/api/v1/instances/hc-1" || res.Instance.InstanceID != "hc-1" {
		t.Fatalf("start %+v", res)
	}
	inst, err := c.WaitForCompletion(ctx, "hc-1")
	must(t, err)
	if inst.Status != perdure.StatusCompleted || string(inst.Output) != `"Hello, Ada"` {
		t.Fatalf("done %+v", inst)
	}
	got, err := c.Get(ctx, "hc-1")
	must(t, err)
	run, err := c.GetRun(ctx, "hc-1", got.RunID)
	must(t, err)
	if run.RunID != inst.RunID {
		t.Fatalf("run %+v", run)
	}
	h, err := c.History(ctx, "hc-1", httpclient.HistoryOptions{})
	must(t, err)
	if h.Schema != api.SchemaHistory || len(h.Events) < 4 || h.Events[0].Type != "ExecutionStarted" {
		t.Fatalf("history %+v", h)
	}
	page, err := c.History(ctx, "hc-1", httpclient.HistoryOptions{PageSize: 2, RunID: inst.RunID})
	must(t, err)
	next, err := c.History(ctx, "hc-1", httpclient.HistoryOptions{PageSize: 2, PageToken: page.NextPageToken})
	must(t, err)
	if len(page.Events) != 2 || next.Events[0].ID != 3 {
		t.Fatalf("pages %+v %+v", page, next)
	}

	// Start and wait in one call; an idempotent retry.
	res, err = c.Start(ctx, api.StartRequest{WorkflowName: "Greet", Input: json.RawMessage(`"Bo"`)},
		httpclient.StartOptions{Wait: 10 * time.Second, IdempotencyKey: "greet-bo"})
	must(t, err)
	if res.Instance.Status != perdure.StatusCompleted || res.Instance.InstanceID != "greet-bo" {
		t.Fatalf("start and wait %+v", res.Instance)
	}
	res, err = c.Start(ctx, api.StartRequest{WorkflowName: "Greet", Input: json.RawMessage(`"Bo"`)},
		httpclient.StartOptions{IdempotencyKey: "greet-bo"})
	must(t, err)
	if res.Created || res.Instance.RunID == "" {
		t.Fatalf("idempotent retry %+v", res)
	}
}

func TestEventsControlListPurge(t *testing.T) {
	t.Parallel()
	c, ctx := setup(t)
	for _, id := range []string{"ap-1", "ap-2", "ap-3"} {
		_, err := c.Start(ctx, api.StartRequest{WorkflowName: "Approval", InstanceID: id, Input: json.RawMessage(`"pen"`)}, httpclient.StartOptions{})
		must(t, err)
	}
	must(t, c.Suspend(ctx, "ap-1", "hold"))
	must(t, c.RaiseEvent(ctx, "ap-1", "approval", json.RawMessage(`"Eve"`)))
	must(t, c.Resume(ctx, "ap-1", ""))
	inst, err := c.WaitForCompletion(ctx, "ap-1")
	must(t, err)
	if string(inst.Output) != `"pen approved by Eve"` {
		t.Fatalf("ap-1 %+v", inst)
	}
	must(t, c.Terminate(ctx, "ap-2", "not needed"))
	if inst, err = c.WaitForCompletion(ctx, "ap-2"); err != nil || inst.Status != perdure.StatusTerminated {
		t.Fatalf("ap-2 %+v %v", inst, err)
	}
	// Wait returns the current status after the wait.
	inst, err = c.Wait(ctx, "ap-3", 50*time.Millisecond)
	must(t, err)
	if inst.Finished() {
		t.Fatalf("ap-3 %+v", inst)
	}

	list, err := c.List(ctx, httpclient.ListOptions{Statuses: []api.Status{perdure.StatusCompleted, perdure.StatusTerminated},
		InstanceIDPrefix: "ap-", Name: "Approval", CreatedAfter: time.Now().Add(-time.Hour), CreatedBefore: time.Now().Add(time.Hour), PageSize: 1})
	must(t, err)
	if len(list.Instances) != 1 || list.NextPageToken == "" {
		t.Fatalf("list %+v", list)
	}
	list, err = c.List(ctx, httpclient.ListOptions{InstanceID: "ap-3", AllRuns: true, PageToken: ""})
	must(t, err)
	if len(list.Instances) != 1 || list.Instances[0].InstanceID != "ap-3" {
		t.Fatalf("list one %+v", list)
	}

	err = c.Purge(ctx, "ap-3")
	if !errors.Is(err, perdure.ErrStillRunning) {
		t.Fatalf("purge running: %v", err)
	}
	must(t, c.Purge(ctx, "ap-1"))
	n, err := c.PurgeWhere(ctx, api.PurgeRequest{Statuses: []api.Status{perdure.StatusTerminated}})
	must(t, err)
	if n != 1 {
		t.Fatalf("purged %d", n)
	}
	wl, err := c.Workflows(ctx)
	must(t, err)
	if !wl.Known || len(wl.Workflows) != 5 {
		t.Fatalf("workflows %+v", wl)
	}
}

func TestFollowAndActivities(t *testing.T) {
	t.Parallel()
	c, ctx := setup(t)
	_, err := c.Start(ctx, api.StartRequest{WorkflowName: "Async", InstanceID: "as-1", Input: json.RawMessage(`"pkt-hc"`)}, httpclient.StartOptions{})
	must(t, err)
	first := <-servertest.TaskTokens("pkt-hc")
	must(t, c.HeartbeatActivity(ctx, first, json.RawMessage(`{"n":1}`)))
	must(t, c.FailActivity(ctx, first, api.ActivityError{Message: "lost", Type: "Lost"}))
	second := <-servertest.TaskTokens("pkt-hc")
	// The activity hands out its token before its attempt is recorded as
	// waiting for it (PENDING): wait for that record.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		p, err := c.Progress(ctx, "as-1", "", 0)
		must(t, err)
		if len(p.Pending) == 1 && p.Pending[0].State == "PENDING" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attempt 2 is not recorded as pending: %+v", p.Pending)
		}
	}

	var seen []*api.Progress
	done := make(chan error, 1)
	go func() {
		done <- c.Follow(ctx, "as-1", func(p *api.Progress) error {
			seen = append(seen, p)
			return nil
		})
	}()
	time.Sleep(100 * time.Millisecond)
	must(t, c.CompleteActivity(ctx, second, json.RawMessage(`"sent"`)))
	must(t, <-done)
	last := seen[len(seen)-1]
	if len(seen) < 2 || last.Instance.Status != perdure.StatusCompleted || string(last.Instance.Output) != `"sent"` {
		t.Fatalf("followed %d progress documents, last %+v", len(seen), last.Instance)
	}
	if p := seen[0]; len(p.Pending) != 1 || p.Pending[0].TaskToken != second || p.Pending[0].LastFailure == nil {
		t.Fatalf("first progress %+v", p.Pending)
	}
	err = c.CompleteActivity(ctx, second, nil)
	if !errors.Is(err, perdure.ErrTokenRejected) {
		t.Fatalf("second completion: %v", err)
	}
	if err := c.HeartbeatActivity(ctx, "junk", nil); !errors.Is(err, perdure.ErrBadToken) {
		t.Fatalf("junk token: %v", err)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	c, ctx := setup(t)
	_, err := c.Get(ctx, "missing")
	var ae *httpclient.Error
	if !errors.Is(err, perdure.ErrNotFound) || !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Code != api.CodeNotFound ||
		!strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("missing: %v", err)
	}
	_, err = c.Start(ctx, api.StartRequest{WorkflowName: "Nope"}, httpclient.StartOptions{})
	if !errors.As(err, &ae) || ae.Code != api.CodeUnknownWorkflow || !strings.Contains(err.Error(), "Approval, Async, Failing, Flaky, Greet") {
		t.Fatalf("unknown workflow: %v", err)
	}
	_, err = c.Start(ctx, api.StartRequest{WorkflowName: "Approval", InstanceID: "x", Input: json.RawMessage(`"a"`)}, httpclient.StartOptions{})
	must(t, err)
	_, err = c.Start(ctx, api.StartRequest{WorkflowName: "Approval", InstanceID: "x", Input: json.RawMessage(`"b"`)}, httpclient.StartOptions{})
	if !errors.Is(err, perdure.ErrConflict) {
		t.Fatalf("conflict: %v", err)
	}
	must(t, c.Terminate(ctx, "x", ""))
	_, _ = c.WaitForCompletion(ctx, "x")
	if err := c.RaiseEvent(ctx, "x", "approval", nil); !errors.Is(err, perdure.ErrNotRunning) {
		t.Fatalf("raise on finished: %v", err)
	}
	if errors.Is(err, perdure.ErrNotFound) {
		t.Fatal("NOT_RUNNING matched ErrNotFound")
	}

	// Not a Perdure server, and no server at all.
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>nope</html>", http.StatusNotFound)
	}))
	defer html.Close()
	foreign, _ := httpclient.New(html.URL)
	if _, err := foreign.Get(ctx, "x"); !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Code != "" ||
		!strings.Contains(err.Error(), "is the address a Perdure server?") || errors.Is(err, perdure.ErrNotFound) {
		t.Fatalf("foreign server: %v", err)
	}
	other, _ := httpclient.New("http://127.0.0.1:1")
	if err := other.Health(ctx); err == nil || !strings.Contains(err.Error(), "cannot reach the Perdure server at http://127.0.0.1:1") {
		t.Fatalf("no server: %v", err)
	}
}
