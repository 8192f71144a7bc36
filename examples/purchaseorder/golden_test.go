package purchaseorder_test

import (
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/purchaseorder"
	"github.com/perdure/perdure/perduretest"
)

var updateGolden = flag.Bool("update", false, "record testdata/*.history.json again from fresh runs")

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first: an order approved at once, one approved by a human
// and one whose approval timed out.
func TestGoldenHistories(t *testing.T) {
	if *updateGolden || os.Getenv("PERDURE_UPDATE_GOLDEN") == "1" {
		e := testenv.New(t, purchaseorder.Register)
		recordGolden(t, e, "order-auto-approved", `{"cost":500,"product":"Paperclips","quantity":100}`, nil)
		recordGolden(t, e, "order-approved", `{"cost":2500,"product":"Laptops","quantity":2}`, func(id string) {
			e.Eventually("the approval wait", func() bool {
				inst, err := e.Client.GetInstance(e.Ctx, id)
				return err == nil && strings.HasPrefix(string(inst.CustomStatus), `"Waiting for approval until `)
			})
			if err := e.Client.RaiseEventRaw(e.Ctx, id, purchaseorder.ApprovalEvent, []byte(`{"approver":"Jane Doe"}`)); err != nil {
				t.Fatal(err)
			}
		})
		recordGolden(t, e, "order-approval-timed-out", `{"cost":2500,"product":"Laptops","quantity":2,"approval_timeout_s":0.05}`, nil)
	}
	r := perduretest.NewReplayer()
	if err := purchaseorder.Register(r.Worker()); err != nil {
		t.Fatal(err)
	}
	perduretest.ReplayDir(t, r, "testdata")
}

// recordGolden runs the workflow with input as instance id, calls then
// (if any) once it started, and writes the history of its run to
// testdata/<id>.history.json.
func recordGolden(t *testing.T, e *testenv.Env, id, input string, then func(id string)) {
	t.Helper()
	if _, _, err := e.Client.StartWorkflowRaw(e.Ctx, purchaseorder.WorkflowName, json.RawMessage(input), perdure.StartOptions{InstanceID: id}); err != nil {
		t.Fatal(err)
	}
	if then != nil {
		then(id)
	}
	e.Wait(id)
	perduretest.RecordHistories(t, e.Client, id, "testdata", id)
}
