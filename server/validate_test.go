package server_test

import (
	"net/http"
	"testing"
)

// With ValidateInput (perdure dev passes the worker's), an input of the
// wrong type is refused with 400 and no instance is created.
func TestWrongInputTypeIsRefused(t *testing.T) {
	var e *env
	e = newEnv(t, envOptions{config: func(c *serverConfig) {
		c.ValidateInput = func(name string, input []byte) error { return e.w.ValidateInput(name, input) }
	}})
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/instances", `{"workflowName":"OrderProcessingWorkflow","instanceId":"typed-1","input":{"Quantity":"many"}}`},
		{"POST", "/v1.0-beta1/workflows/dapr/OrderProcessingWorkflow/start?instanceID=typed-2", `["not","an","order"]`},
	} {
		r := e.do(tc.method, tc.path, tc.body)
		if r.status != http.StatusBadRequest {
			t.Fatalf("%s %s: status %d, want 400: %s", tc.method, tc.path, r.status, r.body)
		}
	}
	for _, id := range []string{"typed-1", "typed-2"} {
		if r := e.do("GET", "/api/v1/instances/"+id, nil); r.status != http.StatusNotFound {
			t.Fatalf("instance %s exists after a refused start: %d %s", id, r.status, r.body)
		}
	}
	if r := e.do("POST", "/v1.0-beta1/workflows/dapr/OrderProcessingWorkflow/start?instanceID=typed-3", `{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}`); r.status != http.StatusAccepted {
		t.Fatalf("a good input was refused: %d %s", r.status, r.body)
	}
}
