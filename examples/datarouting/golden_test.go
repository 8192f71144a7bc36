package datarouting_test

import (
	"testing"

	"github.com/perdure/perdure/examples/datarouting"
	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/perduretest"
	"github.com/perdure/perdure/worker"
)

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first: a packet whose first route fails, delivered by the
// second.
func TestGoldenHistories(t *testing.T) {
	if testenv.UpdateGolden() {
		e, _ := setup(t, seeded())
		e.Record(datarouting.WorkflowName, "routing-second-route",
			`{"ErrorChance":0,"CallbackChance":100,"MaxCallbackDelaySeconds":0.01,"FailRoutes":["RouteA"]}`, nil)
	}
	// Only the workflow is needed: its activities are called by name.
	testenv.ReplayGolden(t, func(w *worker.Worker) error {
		return perduretest.RegisterWorkflowAs(registrar{w}, datarouting.WorkflowName, datarouting.DataRoutingWorkflow)
	})
}

type registrar struct{ w *worker.Worker }

func (r registrar) Worker() *worker.Worker { return r.w }
