package bookingsaga_test

import (
	"testing"

	"github.com/perdure/perdure/examples/bookingsaga"
	"github.com/perdure/perdure/examples/internal/testenv"
)

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first.
func TestGoldenHistories(t *testing.T) {
	if testenv.UpdateGolden() {
		e := testenv.New(t, bookingsaga.Register)
		e.Record(bookingsaga.WorkflowName, "saga-forward", `{"car":"Hertz Compact","hotel":"Hilton Seattle","flight":"Alaska Airlines 123","flight_failures":2}`, nil)
		e.Record(bookingsaga.WorkflowName, "saga-backward", `{"car":"Hertz Compact","hotel":"Hilton Seattle","flight":"invalid"}`, nil)
	}
	testenv.ReplayGolden(t, bookingsaga.Register)
}
