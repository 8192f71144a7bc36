package durabletask

import (
	"testing"
	"time"

	"github.com/dapr/durabletask-go/api/protos"
	"google.golang.org/protobuf/proto"

	"github.com/perdure/perdure/internal/history"
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

// TestRunHistoryExtend: a history converted once and extended task by
// task is the history converted whole, WorkflowStarted events included.
func TestRunHistoryExtend(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(typ string, seq int64, at time.Duration) *history.Event {
		return &history.Event{Type: typ, Time: t0.Add(at), Data: history.Data{Seq: seq, Name: "a", InstanceID: "i"}}
	}
	tasks := [][]*history.Event{
		{ev(history.ExecutionStarted, 0, 0), ev(history.TaskScheduled, 1, 0)},
		{ev(history.TaskCompleted, 1, time.Second), ev(history.TimerCreated, 2, time.Second)},
		{ev(history.TimerFired, 2, 2*time.Second), ev(history.ExecutionCompleted, 0, 2*time.Second)},
	}
	h := newRunHistory(tasks[0])
	var all []*history.Event
	all = append(all, tasks[0]...)
	for _, task := range tasks[1:] {
		h = h.extend(task)
		all = append(all, task...)
	}
	whole, _ := historyOf(all, time.Time{})
	if len(h.dt) != len(whole) || len(h.dt) != 9 {
		t.Fatalf("extended to %d events, whole %d, want 9 (6 events and 3 WorkflowStarted)", len(h.dt), len(whole))
	}
	for i := range whole {
		if !proto.Equal(h.dt[i], whole[i]) {
			t.Fatalf("event %d: extended %v, whole %v", i, h.dt[i], whole[i])
		}
	}
	if len(h.past) != len(all) {
		t.Fatalf("past has %d events, want %d", len(h.past), len(all))
	}
}
