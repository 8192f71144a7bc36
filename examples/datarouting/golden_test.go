package datarouting_test

import (
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/datarouting"
	"github.com/perdure/perdure/perduretest"
)

var updateGolden = flag.Bool("update", false, "record testdata/*.history.json again from fresh runs")

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first: a packet whose first route fails, delivered by the
// second.
func TestGoldenHistories(t *testing.T) {
	if *updateGolden || os.Getenv("PERDURE_UPDATE_GOLDEN") == "1" {
		e, _ := setup(t, seeded())
		const id = "routing-second-route"
		input := `{"ErrorChance":0,"CallbackChance":100,"MaxCallbackDelaySeconds":0.01,"FailRoutes":["RouteA"]}`
		if _, _, err := e.Client.StartWorkflowRaw(e.Ctx, datarouting.WorkflowName, json.RawMessage(input), perdure.StartOptions{InstanceID: id}); err != nil {
			t.Fatal(err)
		}
		e.Wait(id)
		perduretest.RecordHistories(t, e.Client, id, "testdata", id)
	}
	// Only the workflow is needed: its activities are registered under
	// their Go names, or called by name.
	r := perduretest.NewReplayer()
	if err := perduretest.RegisterWorkflowAs(r, datarouting.WorkflowName, datarouting.DataRoutingWorkflow); err != nil {
		t.Fatal(err)
	}
	perduretest.ReplayDir(t, r, "testdata")
}
