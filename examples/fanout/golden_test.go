package fanout_test

import (
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/fanout"
	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/perduretest"
)

var updateGolden = flag.Bool("update", false, "record testdata/*.history.json again from fresh runs")

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first.
func TestGoldenHistories(t *testing.T) {
	if *updateGolden || os.Getenv("PERDURE_UPDATE_GOLDEN") == "1" {
		e := testenv.New(t, fanout.Register)
		recordGolden(t, e, "fanout-3", `{"items":3,"max_parallel":2}`)
	}
	r := perduretest.NewReplayer()
	if err := fanout.Register(r.Worker()); err != nil {
		t.Fatal(err)
	}
	perduretest.ReplayDir(t, r, "testdata")
}

// recordGolden runs the workflow with input as instance id and writes the
// histories of its runs to testdata/<id>*.history.json.
func recordGolden(t *testing.T, e *testenv.Env, id, input string) {
	t.Helper()
	if _, _, err := e.Client.StartWorkflowRaw(e.Ctx, fanout.WorkflowName, json.RawMessage(input), perdure.StartOptions{InstanceID: id}); err != nil {
		t.Fatal(err)
	}
	e.Wait(id)
	perduretest.RecordHistories(t, e.Client, id, "testdata", id)
}
