package durabletask

import (
	"testing"

	"github.com/dapr/durabletask-go/api/protos"
)

// TestMissing checks the SDKs' ways of saying that a worker does not have
// a workflow or an activity, and that ordinary failures are not taken for
// them.
func TestMissing(t *testing.T) {
	for _, c := range []struct {
		typ, msg string
		want     bool
	}{
		{"*errors.errorString", "workflow named 'Pay' is not registered", true},
		{"TaskActivityNotRegistered", "no task activity named 'Pay' was registered", true},
		{"OrchestratorNotRegisteredError", "A 'Pay' orchestrator was not registered.", true},
		{"OrchestratorTaskNotFound", "No orchestrator task named 'Pay' was found.", true},
		{"ActivityTaskNotFound", "No activity task named 'Pay' was found.", true},
		{"Error", "Orchestrator 'Pay' does not exist.", true},
		{"Error", "Activity function 'Pay' is not registered.", true},
		{"Error", "card declined", false},
		{"Error", "Pay: order 17 not found", false},
		{"ValueError", "order 17 not found in the database", false},
		{"", "", false},
	} {
		if got := missing(&protos.TaskFailureDetails{ErrorType: c.typ, ErrorMessage: c.msg}, "Pay"); got != c.want {
			t.Errorf("%s %q: %v, want %v", c.typ, c.msg, got, c.want)
		}
	}
	if missing(nil, "Pay") {
		t.Error("no details taken for a missing name")
	}
}
