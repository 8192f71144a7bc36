package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/perdure/perdure/server/api"
)

func TestCounts(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, id := range []string{"c-1", "c-2"} {
		if r := e.do("POST", "/api/v1/instances", map[string]any{"workflowName": "Approval", "instanceId": id, "input": "x"}); r.status != http.StatusAccepted {
			t.Fatalf("start: %d %s", r.status, r.body)
		}
	}
	if r := e.do("POST", "/api/v1/instances?wait=10s", map[string]any{"workflowName": "Greet", "instanceId": "c-3", "input": "y"}); r.status != http.StatusOK {
		t.Fatalf("start and wait: %d %s", r.status, r.body)
	}
	var c api.InstanceCounts
	r := e.do("GET", "/api/v1/instances/counts?instanceIdPrefix=c-", nil)
	if err := json.Unmarshal(r.body, &c); err != nil || r.status != 200 {
		t.Fatalf("counts: %d %s", r.status, r.body)
	}
	if c.Schema != api.SchemaInstanceCounts || c.Total != 3 || c.Counts["COMPLETED"] != 1 || c.Counts["RUNNING"]+c.Counts["PENDING"] != 2 {
		t.Fatalf("counts %+v", c)
	}
	if r := e.do("GET", "/api/v1/instances/counts?createdAfter=yesterday", nil); r.status != http.StatusBadRequest {
		t.Fatalf("bad filter: %d %s", r.status, r.body)
	}
}
