package fanout_test

import (
	"testing"

	"github.com/perdure/perdure/examples/fanout"
	"github.com/perdure/perdure/examples/internal/testenv"
)

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first.
func TestGoldenHistories(t *testing.T) {
	if testenv.UpdateGolden() {
		e := testenv.New(t, fanout.Register)
		e.Record(fanout.WorkflowName, "fanout-3", `{"items":3,"max_parallel":2}`, nil)
	}
	testenv.ReplayGolden(t, fanout.Register)
}
