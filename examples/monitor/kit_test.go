package monitor_test

import (
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/monitor"
	"github.com/perdure/perdure/perduretest"
)

// The monitor sleeps a minute when healthy and 5 s when not, and continues
// as new after each check: three cycles run on the virtual clock.
func TestKitContinueAsNew(t *testing.T) {
	env := perduretest.NewEnv(t)
	env.Register(monitor.Register)
	start := env.Now()
	got, err := perduretest.ExecuteWorkflow[monitor.Result](env, monitor.MonitorWorkflow, monitor.JobStatus{
		JobID: "job-1", HealthyIntervalS: 60, UnhealthyIntervalS: 5, MaxCycles: 3,
		HealthScript: []string{"healthy", "unhealthy", "healthy"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.JobID != "job-1" || got.Cycles != 3 || !got.IsHealthy {
		t.Fatalf("got %+v", got)
	}
	// healthy → 60 s, unhealthy → 5 s, and no sleep after the last check.
	if d := env.Now().Sub(start); d != 65*time.Second {
		t.Fatalf("the cycles took %v of workflow time, want 65s", d)
	}
	runs, err := env.Client().ListInstances(t.Context(), perduretestList(env.InstanceID()))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs.Instances) != 3 {
		t.Fatalf("%d runs, want 3 (two continue-as-new)", len(runs.Instances))
	}
}

func perduretestList(id string) perdure.ListFilter {
	return perdure.ListFilter{InstanceID: id, AllRuns: true}
}
