package orderprocessing_test

import (
	"testing"

	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/orderprocessing"
)

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first.
func TestGoldenHistories(t *testing.T) {
	if testenv.UpdateGolden() {
		e := testenv.New(t, orderprocessing.Register)
		e.Record(orderprocessing.WorkflowName, "order-processed", `{"Name":"Paperclips","Quantity":1,"TotalCost":9.95}`, nil)
		e.Record(orderprocessing.WorkflowName, "order-short-stock", `{"Name":"Cars","Quantity":100,"TotalCost":100000}`, nil)
	}
	testenv.ReplayGolden(t, orderprocessing.Register)
}
