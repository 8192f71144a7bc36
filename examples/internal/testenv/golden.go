package testenv

import (
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/perduretest"
	"github.com/perdure/perdure/worker"
)

var update = flag.Bool("update", false, "record testdata/*.history.json again from fresh runs")

// UpdateGolden reports whether the golden histories are to be recorded
// again (-update, or PERDURE_UPDATE_GOLDEN=1 for every package at once).
func UpdateGolden() bool { return *update || os.Getenv("PERDURE_UPDATE_GOLDEN") == "1" }

// Record runs the workflow name with input under instance id, calls then
// (if not nil) once it started, waits for the end, and writes the
// histories of its runs to testdata/<id>*.history.json.
func (e *Env) Record(name, id, input string, then func(id string)) {
	e.T.Helper()
	if _, _, err := e.Client.StartWorkflowRaw(e.Ctx, name, json.RawMessage(input), perdure.StartOptions{InstanceID: id}); err != nil {
		e.T.Fatal(err)
	}
	if then != nil {
		then(id)
	}
	e.Wait(id)
	perduretest.RecordHistories(e.T, e.Client, id, "testdata", id)
}

// ReplayGolden replays every testdata/*.history.json against the code
// that register registers.
func ReplayGolden(t *testing.T, register func(*worker.Worker) error) {
	t.Helper()
	r := perduretest.NewReplayer()
	if err := register(r.Worker()); err != nil {
		t.Fatal(err)
	}
	perduretest.ReplayDir(t, r, "testdata")
}
