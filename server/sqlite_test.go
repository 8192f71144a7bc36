package server_test

import (
	"maps"
	"net/http"
	"testing"

	"github.com/perdure/perdure/server/api"
)

// The API on the embedded SQLite store: start, long-poll, list, history,
// events, completion by token, the Dapr status and purge.
func TestSQLiteStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{sqlite: true})
	var inst api.Instance
	e.do("POST", "/api/v1/instances?wait=10s", `{"workflowName":"Greet","instanceId":"sq-1","input":"Lin"}`).want(t, http.StatusOK, &inst)
	if inst.Status != "COMPLETED" || string(inst.Output) != `"Hello, Lin"` {
		t.Fatalf("start and wait %+v", inst)
	}
	e.do("POST", "/v1.0/workflows/dapr/Compensation/start?instanceID=sq-comp", "1").want(t, http.StatusAccepted, nil)
	e.start("Approval", "lamp", "sq-ap")
	e.do("POST", "/api/v1/instances/sq-ap/events/approval", `"Kim"`).want(t, http.StatusAccepted, nil)
	e.start("Async", "pkt-sqlite", "sq-async")
	tok := <-tokenChan("pkt-sqlite")
	e.do("POST", "/api/v1/activities/complete", api.CompleteActivityRequest{TaskToken: tok, Result: []byte(`"ok"`)}).want(t, http.StatusAccepted, nil)
	for id, out := range map[string]string{"sq-ap": `"lamp approved by Kim"`, "sq-async": `"ok"`, "sq-comp": `1`} {
		if done := e.waitDone(id); string(done.Output) != out {
			t.Fatalf("%s output %s, want %s", id, done.Output, out)
		}
	}
	var st api.DaprWorkflowState
	e.do("GET", "/v1.0/workflows/dapr/sq-comp", nil).want(t, http.StatusOK, &st)
	if !maps.Equal(st.Properties, map[string]string{"dapr.workflow.input": "1", "dapr.workflow.output": "1",
		"dapr.workflow.custom_status": `"Compensated minus_one activity with plus_one activity."`}) {
		t.Fatalf("dapr state %+v", st)
	}
	var page api.InstanceList
	e.do("GET", "/api/v1/instances?instanceIdPrefix=sq-&pageSize=2", nil).want(t, http.StatusOK, &page)
	if len(page.Instances) != 2 || page.NextPageToken == "" {
		t.Fatalf("page %+v", page)
	}
	e.do("GET", "/api/v1/instances?instanceIdPrefix=sq-&pageSize=2&pageToken="+page.NextPageToken, nil).want(t, http.StatusOK, &page)
	if len(page.Instances) != 2 || page.NextPageToken != "" {
		t.Fatalf("second page %+v", page)
	}
	var h api.History
	e.do("GET", "/api/v1/instances/sq-1/history?pageSize=3", nil).want(t, http.StatusOK, &h)
	if len(h.Events) != 3 || h.NextPageToken != "3" {
		t.Fatalf("history page %+v", h)
	}
	var res api.PurgeResult
	e.do("POST", "/api/v1/purge", `{"statuses":["COMPLETED"]}`).want(t, http.StatusOK, &res)
	if res.Purged != 4 {
		t.Fatalf("purged %d", res.Purged)
	}
}
