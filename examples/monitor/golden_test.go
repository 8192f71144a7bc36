package monitor_test

import (
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/monitor"
	"github.com/perdure/perdure/perduretest"
)

var updateGolden = flag.Bool("update", false, "record testdata/*.history.json again from fresh runs")

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first. The monitor continues as new after each check: each
// of its runs has its own file, replayed on its own.
func TestGoldenHistories(t *testing.T) {
	if *updateGolden || os.Getenv("PERDURE_UPDATE_GOLDEN") == "1" {
		e := testenv.New(t, monitor.Register)
		recordGolden(t, e, "monitor-3-cycles", `{"job_id":"job1","healthy_interval_s":0.01,"unhealthy_interval_s":0.01,"max_cycles":3,"health_script":["healthy","unhealthy","unhealthy"]}`)
	}
	r := perduretest.NewReplayer()
	if err := monitor.Register(r.Worker()); err != nil {
		t.Fatal(err)
	}
	perduretest.ReplayDir(t, r, "testdata")
}

// recordGolden runs the workflow with input as instance id and writes the
// histories of its runs to testdata/<id>*.history.json.
func recordGolden(t *testing.T, e *testenv.Env, id, input string) {
	t.Helper()
	if _, _, err := e.Client.StartWorkflowRaw(e.Ctx, monitor.WorkflowName, json.RawMessage(input), perdure.StartOptions{InstanceID: id}); err != nil {
		t.Fatal(err)
	}
	e.Wait(id)
	perduretest.RecordHistories(t, e.Client, id, "testdata", id)
}
