package monitor_test

import (
	"testing"

	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/monitor"
)

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first. The monitor continues as new after each check: each
// of its runs has its own file, replayed on its own.
func TestGoldenHistories(t *testing.T) {
	if testenv.UpdateGolden() {
		e := testenv.New(t, monitor.Register)
		e.Record(monitor.WorkflowName, "monitor-3-cycles", `{"job_id":"job1","healthy_interval_s":0.01,"unhealthy_interval_s":0.01,"max_cycles":3,"health_script":["healthy","unhealthy","unhealthy"]}`, nil)
	}
	testenv.ReplayGolden(t, monitor.Register)
}
