package subscription_test

import (
	"testing"

	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/subscription"
)

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first.
func TestGoldenHistories(t *testing.T) {
	if testenv.UpdateGolden() {
		e := testenv.New(t, subscription.Register)
		e.Record(subscription.WorkflowName, "subscription", `{"user_id":"Sam Beckett","credit_card":"1234-5678-9012-3456","subscriptions":["Netflix","Disney+"],"failure_rate":0}`, nil)
	}
	testenv.ReplayGolden(t, subscription.Register)
}
