package resiliency_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/resiliency"
)

func TestMain(m *testing.M) {
	if p := resiliency.RetryPolicy(); p.MaximumAttempts != 3 || p.InitialInterval != 2*time.Second {
		panic("the default retry policy is not the tutorial's")
	}
	resiliency.FirstRetryInterval = 10 * time.Millisecond
	os.Exit(m.Run())
}

func TestDivisionSucceeds(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, resiliency.Register)
	inst := e.Run(resiliency.WorkflowName, json.RawMessage(`5`))
	if inst.Status != perdure.StatusCompleted || string(inst.Output) != "25" || len(inst.CustomStatus) != 0 {
		t.Fatalf("%s output %s custom status %s", inst.Status, inst.Output, inst.CustomStatus)
	}
	want := []string{"minus_one: Received input: 5.", "division: Received divisor: 4."}
	if got := e.Logs.Messages(": Received "); !slices.Equal(got, want) {
		t.Fatalf("logs %q, want %q", got, want)
	}
}

func TestDivisionByZeroIsCompensated(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, resiliency.Register)
	inst := e.Run(resiliency.WorkflowName, json.RawMessage(`1`))
	if inst.Status != perdure.StatusCompleted || string(inst.Output) != "1" {
		t.Fatalf("%s output %s failure %+v", inst.Status, inst.Output, inst.Failure)
	}
	if got, want := string(inst.CustomStatus), `"Compensated minus_one activity with plus_one activity."`; got != want {
		t.Fatalf("custom status %s, want %s", got, want)
	}
	want := []string{
		"minus_one: Received input: 1.",
		"division: Received divisor: 0.",
		"division: Received divisor: 0.",
		"division: Received divisor: 0.",
		"plus_one: Received input: 0.",
	}
	if got := e.Logs.Messages(": Received "); !slices.Equal(got, want) {
		t.Fatalf("logs %q, want %q", got, want)
	}
	errs := e.Logs.Messages("Error: ")
	if len(errs) != 1 || !strings.Contains(errs[0], `activity "division" failed after 3 attempts: division by zero`) {
		t.Fatalf("workflow error log %q", errs)
	}
	// The three attempts are in the division's history event.
	hist, err := e.Client.History(e.Ctx, inst.InstanceID, "")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range hist {
		if ev.Name == resiliency.DivisionName && len(ev.Attempts) == 3 {
			found = true
		}
	}
	if !found {
		t.Fatalf("no division event with 3 attempts in the history")
	}
}
