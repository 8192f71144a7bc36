package resiliency_test

import (
	"testing"

	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/resiliency"
)

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first.
func TestGoldenHistories(t *testing.T) {
	if testenv.UpdateGolden() {
		e := testenv.New(t, resiliency.Register)
		e.Record(resiliency.WorkflowName, "resiliency-5", `5`, nil)
		e.Record(resiliency.WorkflowName, "resiliency-1", `1`, nil)
	}
	testenv.ReplayGolden(t, resiliency.Register)
}
