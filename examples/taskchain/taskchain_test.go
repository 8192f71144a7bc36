package taskchain_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/taskchain"
)

func TestChainOfThree(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, taskchain.Register)
	got := testenv.Result[[]int](e, taskchain.WorkflowName, json.RawMessage(`1`))
	if !slices.Equal(got, []int{2, 4, 6}) {
		t.Fatalf("got %v, want [2 4 6]", got)
	}
	want := []string{"Step 1: Received input: 1.", "Step 2: Received input: 2.", "Step 3: Received input: 4."}
	if got := e.Logs.Messages("Step "); !slices.Equal(got, want) {
		t.Fatalf("logs %q, want %q", got, want)
	}
	if n := len(e.Logs.Messages("error handler")); n != 0 {
		t.Fatalf("error handler ran %d times", n)
	}
	rec, _ := e.Logs.Find("Step 1: Received input: 1.")
	if rec.Attrs["activity"] != taskchain.Step1Name {
		t.Fatalf("step 1 logged with attributes %v", rec.Attrs)
	}
}

func TestNegativeInputRunsErrorHandlerAndFails(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, taskchain.Register)
	inst := e.Run(taskchain.WorkflowName, -3)
	if inst.Status != perdure.StatusFailed {
		t.Fatalf("status %s, want FAILED", inst.Status)
	}
	if f := inst.Failure; f.ActivityName != "step1" || f.Attempts != 1 || f.Cause == nil || f.Cause.Type != "NegativeInput" ||
		!strings.Contains(f.Message, "step1: negative input -3 is not supported") {
		t.Fatalf("failure %+v", f)
	}
	handled := e.Logs.Messages("Executing error handler: ")
	if len(handled) != 1 || !strings.Contains(handled[0], "step1: negative input -3 is not supported") || !strings.HasSuffix(handled[0], ".") {
		t.Fatalf("error handler logs %q", handled)
	}
	if got := e.Logs.Messages("Step "); !slices.Equal(got, []string{"Step 1: Received input: -3."}) {
		t.Fatalf("step logs %q", got)
	}
}
