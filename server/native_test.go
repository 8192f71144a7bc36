package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure/server/api"
)

func TestStartAcceptedThenLongPoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	var inst api.Instance
	r := e.do("POST", "/api/v1/instances", `{"workflowName":"Greet","instanceId":"greet-1","input":  "Ada" }`).
		want(t, http.StatusAccepted, &inst)
	if loc := r.header.Get("Location"); loc != "/api/v1/instances/greet-1" {
		t.Fatalf("Location %q", loc)
	}
	if r.header.Get("Retry-After") != "1" || r.header.Get(api.HeaderCreated) != "true" {
		t.Fatalf("headers %v", r.header)
	}
	if inst.Schema != api.SchemaInstance || inst.InstanceID != "greet-1" || inst.WorkflowName != "Greet" ||
		string(inst.Input) != `"Ada"` || inst.RunID == "" || !inst.Current {
		t.Fatalf("start answered %+v", inst)
	}
	var done api.Instance
	e.do("GET", r.header.Get("Location")+"?wait=10s", nil).want(t, http.StatusOK, &done)
	if done.Status != "COMPLETED" || string(done.Output) != `"Hello, Ada"` || done.CompletedAt == nil || done.Failure != nil {
		t.Fatalf("after wait: %+v", done)
	}

	// Every field of the schema is present, null when unset.
	var raw map[string]json.RawMessage
	e.do("GET", "/api/v1/instances/greet-1", nil).want(t, http.StatusOK, &raw)
	for _, k := range []string{"schema", "instanceId", "runId", "workflowName", "status", "current", "input", "output",
		"customStatus", "failure", "createdAt", "updatedAt", "completedAt", "parentInstanceId", "previousRunId", "taskError"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status JSON has no %q: %s", k, raw)
		}
	}
	if string(raw["customStatus"]) != "null" || string(raw["failure"]) != "null" {
		t.Errorf("unset fields: %s %s", raw["customStatus"], raw["failure"])
	}

	// A specific run by id.
	var run api.Instance
	e.do("GET", "/api/v1/instances/greet-1?runId="+done.RunID, nil).want(t, http.StatusOK, &run)
	if run.RunID != done.RunID || run.Status != "COMPLETED" {
		t.Fatalf("run %+v", run)
	}
	e.do("GET", "/api/v1/instances/greet-1?runId=nope", nil).wantError(t, 404, api.CodeNotFound)
	e.do("GET", "/api/v1/instances/greet-1?runId=x&wait=1s", nil).wantError(t, 400, api.CodeInvalidArgument, "runId")
	e.do("GET", "/api/v1/instances/greet-1?wait=soon", nil).wantError(t, 400, api.CodeInvalidArgument, "wait=")
}

func TestStartAndWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	var inst api.Instance
	r := e.do("POST", "/api/v1/instances?wait=10s", api.StartRequest{WorkflowName: "Greet", Input: json.RawMessage(`"Bob"`)}).
		want(t, http.StatusOK, &inst)
	if inst.Status != "COMPLETED" || string(inst.Output) != `"Hello, Bob"` || r.header.Get("Retry-After") != "" {
		t.Fatalf("start and wait: %+v %v", inst, r.header)
	}
	if len(inst.InstanceID) < 10 {
		t.Fatalf("generated id %q", inst.InstanceID)
	}
	// Not done in time: 202 with the current status.
	start := time.Now()
	r = e.do("POST", "/api/v1/instances?wait=200ms", api.StartRequest{WorkflowName: "Approval", Input: json.RawMessage(`"pc"`)}).
		want(t, http.StatusAccepted, &inst)
	if inst.Finished() || time.Since(start) < 200*time.Millisecond || r.header.Get("Location") == "" {
		t.Fatalf("slow start and wait: %+v after %s", inst, time.Since(start))
	}
}

func TestLongPollReturnsWhenFinished(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.start("Approval", "laptop", "ap-1")
	type result struct {
		inst    api.Instance
		elapsed time.Duration
	}
	got := make(chan result, 1)
	go func() {
		begin := time.Now()
		var inst api.Instance
		e.do("GET", "/api/v1/instances/ap-1?wait=20s", nil).want(t, http.StatusOK, &inst)
		got <- result{inst, time.Since(begin)}
	}()
	eventually(t, "custom status", func() bool {
		var inst api.Instance
		e.do("GET", "/api/v1/instances/ap-1", nil).want(t, 200, &inst)
		return string(inst.CustomStatus) == `"waiting for approval of laptop"`
	})
	time.Sleep(50 * time.Millisecond)
	e.do("POST", "/api/v1/instances/ap-1/events/approval", `"Grace"`).want(t, http.StatusAccepted, nil)
	res := <-got
	if res.inst.Status != "COMPLETED" || string(res.inst.Output) != `"laptop approved by Grace"` || res.elapsed > 10*time.Second {
		t.Fatalf("long poll: %+v after %s", res.inst, res.elapsed)
	}
	// A short wait on a running instance answers its current status.
	e.start("Approval", "desk", "ap-2")
	var inst api.Instance
	e.do("GET", "/api/v1/instances/ap-2?wait=100ms", nil).want(t, http.StatusOK, &inst)
	if inst.Finished() {
		t.Fatalf("ap-2 finished: %+v", inst)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	req := api.StartRequest{WorkflowName: "Approval", Input: json.RawMessage(`"chair"`)}
	var first, second api.Instance
	r := e.do("POST", "/api/v1/instances", req, api.HeaderIdempotencyKey, "order-77").want(t, http.StatusAccepted, &first)
	if first.InstanceID != "order-77" || r.header.Get(api.HeaderCreated) != "true" {
		t.Fatalf("first start %+v %v", first, r.header)
	}
	// The same JSON differently spaced is the same input.
	r = e.do("POST", "/api/v1/instances", `{"workflowName":"Approval", "input": "chair" }`, api.HeaderIdempotencyKey, "order-77").
		want(t, http.StatusAccepted, &second)
	if second.RunID != first.RunID || r.header.Get(api.HeaderCreated) != "false" {
		t.Fatalf("retry started another run: %+v %v", second, r.header)
	}
	e.do("POST", "/api/v1/instances", api.StartRequest{WorkflowName: "Approval", Input: json.RawMessage(`"table"`)},
		api.HeaderIdempotencyKey, "order-77").wantError(t, http.StatusConflict, api.CodeConflict)

	// After it finished, a retry with the key still returns the same run
	// (without the key, the same id would start a new run).
	e.do("POST", "/api/v1/instances/order-77/events/approval", `"Ann"`).want(t, http.StatusAccepted, nil)
	done := e.waitDone("order-77")
	var again api.Instance
	r = e.do("POST", "/api/v1/instances", req, api.HeaderIdempotencyKey, "order-77").want(t, http.StatusOK, &again)
	if again.RunID != first.RunID || again.Status != "COMPLETED" || r.header.Get(api.HeaderCreated) != "false" {
		t.Fatalf("retry after completion: %+v (first run %s, done %+v)", again, first.RunID, done)
	}
	e.do("POST", "/api/v1/instances", api.StartRequest{WorkflowName: "Approval", Input: json.RawMessage(`"sofa"`)},
		api.HeaderIdempotencyKey, "order-77").wantError(t, http.StatusConflict, api.CodeConflict, "Idempotency-Key")

	// With an explicit instance id, the key guards that id.
	var withID api.Instance
	e.do("POST", "/api/v1/instances", api.StartRequest{WorkflowName: "Greet", InstanceID: "g-9", Input: json.RawMessage(`"x"`)},
		api.HeaderIdempotencyKey, "k-1").want(t, http.StatusAccepted, &withID)
	if withID.InstanceID != "g-9" {
		t.Fatalf("explicit id: %+v", withID)
	}
	e.do("POST", "/api/v1/instances", req, api.HeaderIdempotencyKey, "bad/key").wantError(t, 400, api.CodeInvalidArgument, "Idempotency-Key")
}

func TestStartConflictAndNewRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.start("Approval", "a", "same")
	var inst api.Instance
	r := e.do("POST", "/api/v1/instances", api.StartRequest{WorkflowName: "Approval", InstanceID: "same", Input: json.RawMessage(`"a"`)}).
		want(t, http.StatusAccepted, &inst)
	if r.header.Get(api.HeaderCreated) != "false" {
		t.Fatal("an identical start created a run")
	}
	e.do("POST", "/api/v1/instances", api.StartRequest{WorkflowName: "Approval", InstanceID: "same", Input: json.RawMessage(`"b"`)}).
		wantError(t, http.StatusConflict, api.CodeConflict, "already running")

	// A finished instance id starts a new run; the old one stays readable.
	first := e.start("Greet", "x", "rerun")
	e.waitDone("rerun")
	second := e.start("Greet", "y", "rerun")
	if second.RunID == first.RunID {
		t.Fatal("no new run")
	}
	var list api.InstanceList
	e.do("GET", "/api/v1/instances?instanceId=rerun&allRuns=true", nil).want(t, 200, &list)
	if len(list.Instances) != 2 {
		t.Fatalf("all runs: %d", len(list.Instances))
	}
}

func TestListFiltersAndPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	before := time.Now().UTC().Add(-time.Second)
	for i := range 5 {
		e.start("Greet", fmt.Sprint(i), fmt.Sprintf("batch-%d", i))
	}
	for i := range 5 {
		e.waitDone(fmt.Sprintf("batch-%d", i))
	}
	e.start("Approval", "z", "other-1")

	var all []string
	token := ""
	pages := 0
	for {
		var page api.InstanceList
		e.do("GET", "/api/v1/instances?status=COMPLETED&pageSize=2&name=Greet&pageToken="+url.QueryEscape(token), nil).want(t, 200, &page)
		if page.Schema != api.SchemaInstanceList {
			t.Fatalf("schema %q", page.Schema)
		}
		pages++
		for _, in := range page.Instances {
			all = append(all, in.InstanceID)
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	slices.Sort(all)
	if pages != 3 || !slices.Equal(all, []string{"batch-0", "batch-1", "batch-2", "batch-3", "batch-4"}) {
		t.Fatalf("%d pages: %v", pages, all)
	}

	count := func(query string) int {
		t.Helper()
		var page api.InstanceList
		e.do("GET", "/api/v1/instances?"+query, nil).want(t, 200, &page)
		return len(page.Instances)
	}
	checks := map[string]int{
		"instanceIdPrefix=batch-":         5,
		"instanceIdPrefix=other":          1,
		"instanceId=batch-3":              1,
		"status=RUNNING,PENDING":          1,
		"status=RUNNING&status=COMPLETED": 6,
		"name=Approval":                   1,
		"createdAfter=" + url.QueryEscape(before.Format(time.RFC3339Nano)):                6,
		"createdBefore=" + url.QueryEscape(before.Format(time.RFC3339Nano)):               0,
		"createdAfter=" + url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)): 0,
	}
	for q, want := range checks {
		if got := count(q); got != want {
			t.Errorf("%s: %d instances, want %d", q, got, want)
		}
	}
	e.do("GET", "/api/v1/instances?status=DONE", nil).wantError(t, 400, api.CodeInvalidArgument, "RUNNING")
	e.do("GET", "/api/v1/instances?pageToken=garbage", nil).wantError(t, 400, api.CodeInvalidArgument, "nextPageToken")
	e.do("GET", "/api/v1/instances?pageSize=0", nil).wantError(t, 400, api.CodeInvalidArgument, "pageSize")
	e.do("GET", "/api/v1/instances?createdAfter=yesterday", nil).wantError(t, 400, api.CodeInvalidArgument, "RFC 3339")
	e.do("GET", "/api/v1/instances?instanceId=a&instanceIdPrefix=b", nil).wantError(t, 400, api.CodeInvalidArgument)
	e.do("GET", "/api/v1/instances?allRuns=maybe", nil).wantError(t, 400, api.CodeInvalidArgument)
}

func TestHistoryFullAndPaged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.start("Greet", "Hedy", "h-1")
	e.waitDone("h-1")
	var full api.History
	e.do("GET", "/api/v1/instances/h-1/history", nil).want(t, 200, &full)
	if full.Schema != api.SchemaHistory || full.InstanceID != "h-1" || full.WorkflowName != "Greet" || full.Status != "COMPLETED" ||
		full.NextPageToken != "" || len(full.Events) < 4 {
		t.Fatalf("history %+v", full)
	}
	types := []string{}
	for _, ev := range full.Events {
		types = append(types, ev.Type)
	}
	if types[0] != "ExecutionStarted" || !slices.Contains(types, "TaskScheduled") || types[len(types)-1] != "ExecutionCompleted" {
		t.Fatalf("event types %v", types)
	}
	if string(full.Events[0].Input) != `"Hedy"` {
		t.Fatalf("start event input %s", full.Events[0].Input)
	}
	var paged []*api.Event
	token := ""
	for {
		var page api.History
		e.do("GET", "/api/v1/instances/h-1/history?pageSize=2&pageToken="+token, nil).want(t, 200, &page)
		paged = append(paged, page.Events...)
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	a, _ := json.Marshal(full.Events)
	b, _ := json.Marshal(paged)
	if string(a) != string(b) {
		t.Fatalf("pages differ from the full history:\n%s\n%s", a, b)
	}
	// The raw event JSON is the history package's (flat fields).
	var raw struct {
		Events []map[string]any `json:"events"`
	}
	e.do("GET", "/api/v1/instances/h-1/history", nil).want(t, 200, &raw)
	if raw.Events[0]["type"] != "ExecutionStarted" || raw.Events[0]["id"] != 1.0 || raw.Events[0]["input"] != "Hedy" {
		t.Fatalf("raw event %v", raw.Events[0])
	}
	e.do("GET", "/api/v1/instances/h-1/history?pageToken=x", nil).wantError(t, 400, api.CodeInvalidArgument)
	e.do("GET", "/api/v1/instances/nope/history", nil).wantError(t, 404, api.CodeNotFound)
}

func TestRaiseTerminateSuspendResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.start("Approval", "x", "ctl-1")
	e.do("POST", "/api/v1/instances/ctl-1/suspend", `{"reason":"audit"}`).want(t, http.StatusAccepted, nil)
	eventually(t, "suspended", func() bool { return e.status("ctl-1") == "SUSPENDED" })
	e.do("POST", "/api/v1/instances/ctl-1/events/approval", `"Joan"`).want(t, http.StatusAccepted, nil)
	time.Sleep(50 * time.Millisecond)
	if s := e.status("ctl-1"); s != "SUSPENDED" {
		t.Fatalf("status %s while suspended", s)
	}
	p := e.progress("ctl-1")
	if len(p.BufferedEvents) != 1 || p.BufferedEvents[0].Name != "approval" || string(p.BufferedEvents[0].Data) != `"Joan"` {
		t.Fatalf("buffered events %+v", p.BufferedEvents)
	}
	e.do("POST", "/api/v1/instances/ctl-1/resume", nil).want(t, http.StatusAccepted, nil)
	if done := e.waitDone("ctl-1"); string(done.Output) != `"x approved by Joan"` {
		t.Fatalf("after resume %+v", done)
	}
	// Raising on a finished instance, or on none.
	e.do("POST", "/api/v1/instances/ctl-1/events/approval", nil).wantError(t, http.StatusConflict, api.CodeNotRunning, "finished")
	e.do("POST", "/api/v1/instances/none/events/approval", nil).wantError(t, http.StatusNotFound, api.CodeNotFound)
	e.do("POST", "/api/v1/instances/ctl-1/events/approval", `{oops`).wantError(t, 400, api.CodeMalformedJSON, "event data")

	e.start("Approval", "y", "ctl-2")
	e.do("POST", "/api/v1/instances/ctl-2/terminate", `{"reason":"customer cancelled"}`).want(t, http.StatusAccepted, nil)
	done := e.waitDone("ctl-2")
	if done.Status != "TERMINATED" || done.Failure == nil || !strings.Contains(done.Failure.Message, "customer cancelled") {
		t.Fatalf("terminated: %+v %+v", done, done.Failure)
	}
	e.do("POST", "/api/v1/instances/ctl-2/terminate", nil).wantError(t, http.StatusConflict, api.CodeNotRunning)
	e.do("POST", "/api/v1/instances/ctl-2/suspend", `{"reason":1}`).wantError(t, 400, api.CodeInvalidArgument, `"reason"`)
	e.do("POST", "/api/v1/instances/none/resume", nil).wantError(t, http.StatusNotFound, api.CodeNotFound)
}

func TestPurge(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.start("Approval", "p", "pg-run")
	e.do("DELETE", "/api/v1/instances/pg-run", nil).wantError(t, http.StatusConflict, api.CodeStillRunning, "terminate")
	for i := range 3 {
		e.start("Greet", fmt.Sprint(i), fmt.Sprintf("pg-%d", i))
		e.waitDone(fmt.Sprintf("pg-%d", i))
	}
	e.start("Failing", "no", "pg-fail")
	e.waitDone("pg-fail")

	var res api.PurgeResult
	e.do("DELETE", "/api/v1/instances/pg-0", nil).want(t, 200, &res)
	if res.Purged != 1 {
		t.Fatalf("purged %d", res.Purged)
	}
	e.do("DELETE", "/api/v1/instances/pg-0", nil).wantError(t, http.StatusNotFound, api.CodeNotFound)
	e.do("GET", "/api/v1/instances/pg-0", nil).wantError(t, http.StatusNotFound, api.CodeNotFound)

	e.do("POST", "/api/v1/purge", `{}`).wantError(t, 400, api.CodeInvalidArgument, "no filter")
	e.do("POST", "/api/v1/purge", `{"statuses":["RUNNING"]}`).wantError(t, 400, api.CodeInvalidArgument, "not a finished status")
	e.do("POST", "/api/v1/purge", `{"olderThan":"soon"}`).wantError(t, 400, api.CodeInvalidArgument, "olderThan")
	e.do("POST", "/api/v1/purge", `{"olderThan":"1h","finishedBefore":"2024-01-01T00:00:00Z"}`).wantError(t, 400, api.CodeInvalidArgument)
	e.do("POST", "/api/v1/purge", `{"statuses":["COMPLETED"],"olderThan":"1h"}`).want(t, 200, &res)
	if res.Purged != 0 {
		t.Fatalf("purged %d recent instances", res.Purged)
	}
	e.do("POST", "/api/v1/purge", api.PurgeRequest{Statuses: []api.Status{"COMPLETED"}, WorkflowName: "Greet"}).want(t, 200, &res)
	if res.Purged != 2 {
		t.Fatalf("purged %d, want 2", res.Purged)
	}
	e.do("POST", "/api/v1/purge", `{"all":true}`).want(t, 200, &res)
	if res.Purged != 1 || e.status("pg-run") != "RUNNING" {
		t.Fatalf("purge all finished: %d", res.Purged)
	}
}

func TestWorkflowsList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	var wl api.WorkflowList
	e.do("GET", "/api/v1/workflows", nil).want(t, 200, &wl)
	if wl.Known || len(wl.Workflows) != 0 {
		t.Fatalf("without Config.Workflows: %+v", wl)
	}
}
