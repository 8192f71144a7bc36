package perduretest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/perduretest"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// Hello is an activity.
func Hello(_ context.Context, name string) (string, error) { return "Hello, " + name, nil }

// Greeting is a workflow: it calls Hello and adds an exclamation mark.
func Greeting(ctx workflow.Context, name string) (string, error) {
	s, err := workflow.ExecuteActivity(ctx, Hello, name).Get(ctx)
	return s + "!", err
}

// greetingHistory is the history of a run of Greeting, as
// `perdure workflow history greeting-1 --output json` prints it (shortened).
const greetingHistory = `{
  "schema": "perdure.history/v1",
  "instanceId": "greeting-1",
  "runId": "0194a3c2-5b1e-7c1d-9f00-3a2b1c0d4e5f",
  "workflowName": "Greeting",
  "status": "COMPLETED",
  "events": [
    {"id": 1, "type": "ExecutionStarted", "time": "2026-01-02T10:00:00Z", "name": "Greeting", "input": "Ann"},
    {"id": 2, "type": "TaskScheduled", "time": "2026-01-02T10:00:00Z", "seq": 1, "name": "Hello", "input": "Ann", "source": "app/greeting.go:21"},
    {"id": 3, "type": "TaskCompleted", "time": "2026-01-02T10:00:01Z", "seq": 1, "name": "Hello", "result": "Hello, Ann"},
    {"id": 4, "type": "ExecutionCompleted", "time": "2026-01-02T10:00:01Z", "status": "COMPLETED", "result": "Hello, Ann!"}
  ],
  "nextPageToken": ""
}`

// A history replays against the code that recorded it.
func ExampleReplayer() {
	r := perduretest.NewReplayer()
	if err := perduretest.RegisterWorkflow(r, Greeting); err != nil {
		panic(err)
	}
	// In a test: err := r.ReplayFile("testdata/greeting-1.history.json")
	err := r.ReplayJSON([]byte(greetingHistory))
	fmt.Println("replayed:", err)
	// Output: replayed: <nil>
}

// Bonjour is an activity the new code calls instead of Hello.
func Bonjour(_ context.Context, name string) (string, error) { return "Bonjour, " + name, nil }

// GreetingInFrench calls Bonjour where the recorded runs called Hello.
func GreetingInFrench(ctx workflow.Context, name string) (string, error) {
	s, err := workflow.ExecuteActivity(ctx, Bonjour, name).Get(ctx)
	return s + "!", err
}

// A change that breaks determinism fails the replay with the engine's diff:
// the step, what the history recorded and what the code asks for now, each
// with its place in the code.
func ExampleReplayer_breakingChange() {
	r := perduretest.NewReplayer()
	if err := perduretest.RegisterWorkflowAs(r, "Greeting", GreetingInFrench); err != nil {
		panic(err)
	}
	err := r.ReplayJSON([]byte(greetingHistory))

	var nd *perduretest.NondeterminismError
	if errors.As(err, &nd) {
		fmt.Println("step:", nd.Step)
		fmt.Println("history recorded:", nd.Recorded, "at", nd.RecordedAt)
		fmt.Println("code asked for:", nd.Got)
	}
	fmt.Println(strings.SplitN(err.Error(), "\n", 2)[0])
	// Output:
	// step: 1
	// history recorded: activity "Hello" at app/greeting.go:21
	// code asked for: activity "Bonjour"
	// replay (workflow Greeting, instance greeting-1, run 0194a3c2-5b1e-7c1d-9f00-3a2b1c0d4e5f): non-deterministic workflow code at step 1:
}

// GreetingLoud makes the same steps as Greeting but returns another result.
func GreetingLoud(ctx workflow.Context, name string) (string, error) {
	s, err := Greeting(ctx, name)
	return strings.ToUpper(s), err
}

// A change that makes the same steps but ends a recorded run differently is
// reported too.
func ExampleReplayer_anotherResult() {
	r := perduretest.NewReplayer()
	if err := perduretest.RegisterWorkflowAs(r, "Greeting", GreetingLoud); err != nil {
		panic(err)
	}
	err := r.ReplayJSON([]byte(greetingHistory))

	var oe *perduretest.OutcomeError
	if errors.As(err, &oe) {
		fmt.Println("history recorded:", oe.Recorded)
		fmt.Println("code returned:", oe.Got)
	}
	// Output:
	// history recorded: completed with result "Hello, Ann!"
	// code returned: completed with result "HELLO, ANN!"
}

// Histories that are not a whole history of one run are refused with an
// error that says what to do.
func ExampleParseHistory() {
	_, err := perduretest.ParseHistory([]byte(`{"schema": "perdure.instance/v1", "instanceId": "greeting-1"}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, perduretest.ErrInvalidHistory))
	// Output:
	// invalid history: the document's schema is "perdure.instance/v1", not "perdure.history/v1": export the history with `perdure workflow history ID --output json` (or GET /api/v1/instances/{id}/history)
	// true
}

// A test that runs a workflow can export its history, to save with
// WriteHistoryFile (or RecordHistories) and replay later.
func ExampleExportHistory() {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()
	c, err := perdure.NewClient(perdure.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	w := worker.New(c, worker.Options{})
	if err := errors.Join(worker.RegisterWorkflow(w, Greeting), worker.RegisterActivity(w, Hello)); err != nil {
		panic(err)
	}
	if err := w.Start(); err != nil {
		panic(err)
	}
	defer w.Stop()

	id, err := c.StartWorkflow(ctx, Greeting, "Ann", perdure.StartOptions{InstanceID: "greeting-1"})
	if err != nil {
		panic(err)
	}
	if _, err := c.WaitForCompletion(ctx, id); err != nil {
		panic(err)
	}
	h, err := perduretest.ExportHistory(ctx, c, id, "")
	if err != nil {
		panic(err)
	}
	fmt.Println(h.Schema, h.WorkflowName, h.Status)
	for _, ev := range h.Events {
		fmt.Println(ev.ID, ev.Type)
	}

	r := perduretest.NewReplayer()
	if err := perduretest.RegisterWorkflow(r, Greeting); err != nil {
		panic(err)
	}
	fmt.Println("replayed:", r.ReplayHistory(h))
	// Output:
	// perdure.history/v1 Greeting COMPLETED
	// 1 ExecutionStarted
	// 2 TaskScheduled
	// 3 TaskCompleted
	// 4 ExecutionCompleted
	// replayed: <nil>
}
