package examples_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples"
	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/worker"
)

// lazyClient completes through the env's client, known once the env runs.
type lazyClient struct{ e *atomic.Pointer[testenv.Env] }

func (c lazyClient) CompleteActivity(ctx context.Context, token string, result any) error {
	return c.e.Load().Client.CompleteActivity(ctx, token, result)
}

func (c lazyClient) FailActivity(ctx context.Context, token string, cause error) error {
	return c.e.Load().Client.FailActivity(ctx, token, cause)
}

func newEnv(t *testing.T) *testenv.Env {
	var ptr atomic.Pointer[testenv.Env]
	logs := testenv.NewRecorder()
	e := testenv.NewWithLogs(t, logs, func(w *worker.Worker) error {
		return examples.Register(w, examples.Options{Completer: lazyClient{&ptr}, Logger: logs.Logger()})
	})
	ptr.Store(e)
	t.Cleanup(examples.Stop)
	return e
}

func TestRegisterEverything(t *testing.T) {
	e := newEnv(t)
	want := slices.Sorted(slices.Values(examples.Workflows()))
	if got := e.Worker.WorkflowNames(); !slices.Equal(got, want) || len(got) != 9 {
		t.Fatalf("workflows %q, want %q", got, want)
	}
	activities := e.Worker.ActivityNames()
	for _, a := range []string{"step1", "step2", "step3", "error_handler", "get_work_batch", "process_work_item", "process_results",
		"notify_activity", "verify_inventory", "process_payment", "update_inventory", "check_status", "send_alert",
		"send_approval_request", "place_order", "minus_one", "division", "plus_one", "book_car", "undo_book_car", "book_hotel",
		"undo_book_hotel", "book_flight", "undo_book_flight", "create_recurring_payment", "create_subscription",
		"GetRouteActivity", "TransmitActivity"} {
		if !slices.Contains(activities, a) {
			t.Errorf("activity %q is not registered", a)
		}
	}
	if len(activities) != 28 {
		t.Errorf("%d activities registered: %q", len(activities), activities)
	}
	if err := examples.Register(worker.New(e.Client, worker.Options{}), examples.Options{}); err == nil ||
		!strings.Contains(err.Error(), "Completer is required") {
		t.Fatalf("register without a completer: %v", err)
	}
	// A second registration on the same worker fails and leaks nothing.
	if err := examples.Register(e.Worker, examples.Options{Completer: e.Client}); err == nil {
		t.Fatalf("registered twice on one worker")
	}
}

func TestRunThroughRegister(t *testing.T) {
	e := newEnv(t)
	inst := e.Run("TaskChainWorkflow", json.RawMessage(`1`))
	if string(inst.Output) != "[2,4,6]" {
		t.Fatalf("task chain: %s %s", inst.Status, inst.Output)
	}
	inst = e.Run("DataRoutingWorkflow", json.RawMessage(`{"ErrorChance":0,"CallbackChance":100,"MaxCallbackDelaySeconds":0.05,"FailRoutes":["RouteA"]}`))
	var out struct {
		Packet struct{ CurrentRouteProvider, Status string }
	}
	if err := inst.DecodeOutput(&out); err != nil || inst.Status != perdure.StatusCompleted ||
		out.Packet.CurrentRouteProvider != "RouteB" || out.Packet.Status != "STATUS_DELIVERED" {
		t.Fatalf("data routing: %s %s %v", inst.Status, inst.Output, err)
	}
	if len(e.Logs.Messages("Transmit service: packet ")) == 0 {
		t.Fatalf("the transmit service did not log to Options.Logger")
	}
}
