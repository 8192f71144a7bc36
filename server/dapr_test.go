package server_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure/server/api"
)

// The curl of the Dapr async HTTP API example works as written.
func TestDaprSeedCurl(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	body := `{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}`
	r := e.do("POST", "/v1.0-beta1/workflows/dapr/OrderProcessingWorkflow/start?instanceID=12345678", body)
	if r.status != http.StatusAccepted || string(r.body) != `{"instanceID":"12345678"}`+"\n" ||
		r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("start: %d %q %v", r.status, r.body, r.header)
	}
	e.waitDone("12345678")
	var st api.DaprWorkflowState
	e.do("GET", "/v1.0-beta1/workflows/dapr/12345678", nil).want(t, http.StatusOK, &st)
	want := map[string]string{
		"dapr.workflow.custom_status": "",
		"dapr.workflow.input":         body,
		"dapr.workflow.output":        `{"Processed":true}`,
	}
	if st.InstanceID != "12345678" || st.WorkflowName != "OrderProcessingWorkflow" || st.RuntimeStatus != "COMPLETED" ||
		!maps.Equal(st.Properties, want) {
		t.Fatalf("state %+v", st)
	}
	for _, ts := range []string{st.CreatedAt, st.LastUpdatedAt} {
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") {
			t.Fatalf("time %q: %v", ts, err)
		}
	}
	// The exact keys of the document.
	var raw map[string]json.RawMessage
	e.do("GET", "/v1.0/workflows/anything/12345678", nil).want(t, http.StatusOK, &raw)
	keys := strings.Join(slices.Sorted(maps.Keys(raw)), ",")
	if keys != "createdAt,instanceID,lastUpdatedAt,properties,runtimeStatus,workflowName" {
		t.Fatalf("keys %s", keys)
	}
}

// The Dapr resiliency and compensation tutorial: output "1", and the custom
// status is the JSON text of the Go string.
func TestDaprCompensationStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	var started api.DaprStartResponse
	e.do("POST", "/v1.0/workflows/dapr/Compensation/start?instanceID=comp-1", "1").want(t, http.StatusAccepted, &started)
	if started.InstanceID != "comp-1" {
		t.Fatalf("started %+v", started)
	}
	e.waitDone("comp-1")
	r := e.do("GET", "/v1.0/workflows/dapr/comp-1", nil)
	var st api.DaprWorkflowState
	r.want(t, http.StatusOK, &st)
	want := map[string]string{
		"dapr.workflow.input":         "1",
		"dapr.workflow.output":        "1",
		"dapr.workflow.custom_status": `"Compensated minus_one activity with plus_one activity."`,
	}
	if st.RuntimeStatus != "COMPLETED" || !maps.Equal(st.Properties, want) {
		t.Fatalf("state %+v", st)
	}
	if !strings.Contains(string(r.body), `"dapr.workflow.custom_status":"\"Compensated minus_one activity with plus_one activity.\""`) {
		t.Fatalf("custom status not escaped as Dapr does: %s", r.body)
	}
	// The division ran three times before the compensation.
	var h api.History
	e.do("GET", "/api/v1/instances/comp-1/history", nil).want(t, 200, &h)
	attempts := 0
	for _, ev := range h.Events {
		if ev.Type == "TaskFailed" && ev.Name == "division" {
			attempts = len(ev.Attempts)
		}
	}
	if attempts != 3 {
		t.Fatalf("division attempts %d, want 3", attempts)
	}
}

func TestDaprFailureProperties(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.do("POST", "/v1.0-alpha1/workflows/dapr/Failing/start?instanceId=f-1", `"out of stock"`).want(t, http.StatusAccepted, nil)
	e.waitDone("f-1")
	var st api.DaprWorkflowState
	e.do("GET", "/v1.0-alpha1/workflows/dapr/f-1", nil).want(t, http.StatusOK, &st)
	want := map[string]string{
		"dapr.workflow.input":                 `"out of stock"`,
		"dapr.workflow.custom_status":         "",
		"dapr.workflow.failure.error_type":    "OrderError",
		"dapr.workflow.failure.error_message": "out of stock",
		"dapr.workflow.failure.stack_trace":   "",
	}
	if st.RuntimeStatus != "FAILED" || !maps.Equal(st.Properties, want) {
		t.Fatalf("state %+v", st)
	}
}

func TestDaprControlRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	base := "/v1.0-beta1/workflows/dapr/"
	var started api.DaprStartResponse
	e.do("POST", base+"Approval/start", `"bike"`).want(t, http.StatusAccepted, &started)
	id := started.InstanceID
	if id == "" {
		t.Fatal("no generated instance id")
	}
	r := e.do("POST", base+id+"/pause", nil)
	if r.status != http.StatusAccepted || len(r.body) != 0 {
		t.Fatalf("pause: %d %s", r.status, r.body)
	}
	eventually(t, "suspended", func() bool { return e.status(id) == "SUSPENDED" })
	var st api.DaprWorkflowState
	e.do("GET", base+id, nil).want(t, http.StatusOK, &st)
	if st.RuntimeStatus != "SUSPENDED" || st.Properties["dapr.workflow.custom_status"] != `"waiting for approval of bike"` {
		t.Fatalf("paused state %+v", st)
	}
	e.do("POST", base+id+"/raiseEvent/approval", `"Rosa"`).want(t, http.StatusAccepted, nil)
	e.do("POST", base+id+"/resume", nil).want(t, http.StatusAccepted, nil)
	done := e.waitDone(id)
	if string(done.Output) != `"bike approved by Rosa"` {
		t.Fatalf("after resume %+v", done)
	}
	e.do("POST", base+id+"/purge", nil).want(t, http.StatusAccepted, nil)
	var de api.DaprError
	e.do("GET", base+id, nil).want(t, http.StatusNotFound, &de)
	if de.ErrorCode != "ERR_INSTANCE_ID_NOT_FOUND" || de.Message == "" {
		t.Fatalf("after purge %+v", de)
	}

	e.do("POST", base+"Approval/start?instanceID=term-1", `"car"`).want(t, http.StatusAccepted, nil)
	e.do("POST", base+"term-1/terminate", nil).want(t, http.StatusAccepted, nil)
	done = e.waitDone("term-1")
	e.do("GET", base+"term-1", nil).want(t, http.StatusOK, &st)
	if done.Status != "TERMINATED" || st.RuntimeStatus != "TERMINATED" || st.Properties["dapr.workflow.failure.error_type"] != "Terminated" {
		t.Fatalf("terminated %+v", st)
	}
	if _, ok := st.Properties["dapr.workflow.output"]; ok {
		t.Fatalf("terminated instance has an output: %+v", st.Properties)
	}
}

func TestDaprErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{config: func(c *serverConfig) { c.MaxBodyBytes = 64 }})
	base := "/v1.0/workflows/dapr/"
	check := func(r *response, status int, code string) {
		t.Helper()
		var de api.DaprError
		r.want(t, status, &de)
		if de.ErrorCode != code || de.Message == "" {
			t.Fatalf("error %+v, want %s", de, code)
		}
	}
	check(e.do("GET", base+"missing", nil), 404, "ERR_INSTANCE_ID_NOT_FOUND")
	check(e.do("POST", base+"missing/terminate", nil), 404, "ERR_INSTANCE_ID_NOT_FOUND")
	check(e.do("POST", base+"missing/raiseEvent/x", nil), 404, "ERR_INSTANCE_ID_NOT_FOUND")
	check(e.do("POST", base+"missing/pause", nil), 404, "ERR_INSTANCE_ID_NOT_FOUND")
	check(e.do("POST", base+"missing/resume", nil), 404, "ERR_INSTANCE_ID_NOT_FOUND")
	check(e.do("POST", base+"missing/purge", nil), 404, "ERR_INSTANCE_ID_NOT_FOUND")
	check(e.do("POST", base+"Approval/start?instanceID=bad*id", nil), 400, "ERR_INSTANCE_ID_INVALID")
	check(e.do("POST", base+"Approval/start?instanceID=", nil), 400, "ERR_INSTANCE_ID_PROVIDED_MISSING")
	check(e.do("POST", base+"Approval/start?instanceID="+strings.Repeat("x", 300), nil), 400, "ERR_INSTANCE_ID_TOO_LONG")
	check(e.do("POST", base+"Approval/start", strings.Repeat("x", 65)), 413, "ERR_BODY_TOO_LARGE")
	check(e.do("POST", base+"Approval/start?instanceID=bad", "{not json"), 400, "ERR_MALFORMED_REQUEST")
	check(e.do("POST", base+"Approval/start?instanceID=bad", "text"), 400, "ERR_MALFORMED_REQUEST")
	check(e.do("GET", base+"bad", nil), 404, "ERR_INSTANCE_ID_NOT_FOUND")
	e.do("POST", base+"Approval/start?instanceID=dup", `"a"`).want(t, http.StatusAccepted, nil)
	e.do("POST", base+"Approval/start?instanceID=dup", `"a"`).want(t, http.StatusAccepted, nil)
	check(e.do("POST", base+"Approval/start?instanceID=dup", `"b"`), 409, "ERR_START_WORKFLOW")
	check(e.do("POST", base+"dup/purge", nil), 409, "ERR_PURGE_WORKFLOW")
	check(e.do("POST", base+"dup/raiseEvent/approval", "nope"), 400, "ERR_MALFORMED_REQUEST")
	check(e.do("DELETE", base+"dup", nil), 405, "ERR_METHOD_NOT_ALLOWED")
	check(e.do("GET", "/v1.0/state/statestore/k", nil), 404, "ERR_NOT_FOUND")
}

func TestDaprUnknownWorkflow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{config: func(c *serverConfig) { c.Workflows = func() []string { return []string{"Greet", "Approval"} } }})
	var de api.DaprError
	e.do("POST", "/v1.0/workflows/dapr/Nope/start", nil).want(t, 400, &de)
	if de.ErrorCode != "ERR_START_WORKFLOW" || !strings.Contains(de.Message, "Approval, Greet") {
		t.Fatalf("unknown workflow: %+v", de)
	}
}
