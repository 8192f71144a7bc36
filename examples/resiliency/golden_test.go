package resiliency_test

import (
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/resiliency"
	"github.com/perdure/perdure/perduretest"
)

var updateGolden = flag.Bool("update", false, "record testdata/*.history.json again from fresh runs")

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first.
func TestGoldenHistories(t *testing.T) {
	if *updateGolden || os.Getenv("PERDURE_UPDATE_GOLDEN") == "1" {
		e := testenv.New(t, resiliency.Register)
		recordGolden(t, e, "resiliency-5", `5`)
		recordGolden(t, e, "resiliency-1", `1`)
	}
	r := perduretest.NewReplayer()
	if err := resiliency.Register(r.Worker()); err != nil {
		t.Fatal(err)
	}
	perduretest.ReplayDir(t, r, "testdata")
}

// recordGolden runs the workflow with input as instance id and writes the
// histories of its runs to testdata/<id>*.history.json.
func recordGolden(t *testing.T, e *testenv.Env, id, input string) {
	t.Helper()
	if _, _, err := e.Client.StartWorkflowRaw(e.Ctx, resiliency.WorkflowName, json.RawMessage(input), perdure.StartOptions{InstanceID: id}); err != nil {
		t.Fatal(err)
	}
	e.Wait(id)
	perduretest.RecordHistories(t, e.Client, id, "testdata", id)
}
