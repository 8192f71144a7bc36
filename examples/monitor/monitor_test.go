package monitor_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/monitor"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil))) // check_status called outside a worker
	os.Exit(m.Run())
}

func TestScriptedMonitor(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, monitor.Register)
	id := e.Start(monitor.WorkflowName, json.RawMessage(`{"job_id":"job1","healthy_interval_s":0.03,"unhealthy_interval_s":0.01,"max_cycles":5,
		"health_script":["healthy","unhealthy","unhealthy","healthy","unhealthy"]}`))
	inst := e.Wait(id)
	if inst.Status != perdure.StatusCompleted || string(inst.Output) != `{"job_id":"job1","is_healthy":false,"cycles":5}` {
		t.Fatalf("%s output %s failure %+v", inst.Status, inst.Output, inst.Failure)
	}
	want := []string{"Job 'job1' is healthy.", "Job 'job1' is unhealthy.", "Job 'job1' is unhealthy.", "Job 'job1' is healthy.", "Job 'job1' is unhealthy."}
	if got := e.Logs.Prefixed("Job 'job1' is "); !slices.Equal(got, want) {
		t.Fatalf("logs %q, want %q", got, want)
	}
	// One alert each time the job became unhealthy, not while it stayed so.
	if got := e.Logs.Messages("*** Alert: "); !slices.Equal(got, []string{"*** Alert: Job 'job1' is unhealthy!", "*** Alert: Job 'job1' is unhealthy!"}) {
		t.Fatalf("alerts %q", got)
	}
	// Every check ran in its own run, chained by continue-as-new.
	runs := runsOf(t, e, id)
	if len(runs) != 5 {
		t.Fatalf("%d runs, want 5", len(runs))
	}
	for i, r := range runs {
		want := perdure.StatusContinuedAsNew
		if i == len(runs)-1 {
			want = perdure.StatusCompleted
		}
		if r.Status != want {
			t.Fatalf("run %d is %s, want %s", i, r.Status, want)
		}
	}
	var last monitor.JobStatus
	if err := runs[4].DecodeInput(&last); err != nil || last.Cycles != 4 || last.IsHealthy == nil || !*last.IsHealthy {
		t.Fatalf("last run's input %+v, %v", last, err)
	}
	if got, want := string(inst.CustomStatus), `{"job_id":"job1","is_healthy":false,"cycles":5}`; got != want {
		t.Fatalf("custom status %s, want %s", got, want)
	}
}

// runsOf returns the runs of an instance, oldest first.
func runsOf(t *testing.T, e *testenv.Env, id string) []*perdure.Instance {
	t.Helper()
	page, err := e.Client.ListInstances(e.Ctx, perdure.ListFilter{InstanceID: id, AllRuns: true})
	if err != nil {
		t.Fatal(err)
	}
	runs := page.Instances
	slices.Reverse(runs)
	return runs
}

func TestIntervalsFollowHealth(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, monitor.Register)
	began := time.Now()
	// healthy twice (2 × 300ms), then stops at the third check.
	inst := e.Run(monitor.WorkflowName, monitor.JobStatus{JobID: "slow", HealthyIntervalS: 0.3, UnhealthyIntervalS: 0.01,
		MaxCycles: 3, HealthScript: []string{"healthy", "healthy", "unhealthy"}})
	if inst.Status != perdure.StatusCompleted {
		t.Fatalf("%s %+v", inst.Status, inst.Failure)
	}
	if took := time.Since(began); took < 600*time.Millisecond {
		t.Fatalf("took %v, want two healthy intervals of 300ms", took)
	}
	if got := e.Logs.Messages("*** Alert: "); len(got) != 1 {
		t.Fatalf("alerts %q", got)
	}
}

func TestStartingUnhealthySendsNoSecondAlert(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, monitor.Register)
	no := false
	inst := e.Run(monitor.WorkflowName, monitor.JobStatus{JobID: "j", UnhealthyIntervalS: 0.01, MaxCycles: 2, IsHealthy: &no,
		HealthScript: []string{"unhealthy", "unhealthy"}})
	if string(inst.Output) != `{"job_id":"j","is_healthy":false,"cycles":2}` {
		t.Fatalf("%s output %s", inst.Status, inst.Output)
	}
	if got := e.Logs.Messages("*** Alert: "); len(got) != 0 {
		t.Fatalf("alerts %q for a job that was already unhealthy", got)
	}
}

func TestPseudoRandomChecksAreReproducible(t *testing.T) {
	t.Parallel()
	var seen = map[string]bool{}
	for cycle := range 40 {
		a, err := monitor.CheckStatus(context.Background(), monitor.CheckRequest{JobID: "job1", Cycle: cycle})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := monitor.CheckStatus(context.Background(), monitor.CheckRequest{JobID: "job1", Cycle: cycle})
		if a != b {
			t.Fatalf("cycle %d: %s then %s", cycle, a, b)
		}
		seen[a] = true
	}
	if !seen[monitor.Healthy] || !seen[monitor.Unhealthy] {
		t.Fatalf("40 checks gave only %v", seen)
	}
}

func TestDefaultsAndEternalRun(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, monitor.Register)
	// Defaults: a healthy job sleeps 60s after its check.
	id := e.Start(monitor.WorkflowName, json.RawMessage(`{"job_id":"eternal","health_script":["healthy"]}`))
	e.Eventually("the first check", func() bool { return e.Logs.Count("Job 'eternal' is healthy.") == 1 })
	e.Eventually("the timer", func() bool {
		hist, err := e.Client.History(e.Ctx, id, "")
		if err != nil {
			return false
		}
		for _, ev := range hist {
			if ev.Type == "TimerCreated" {
				if ev.FireAt.Sub(ev.Time) < 59*time.Second {
					t.Fatalf("timer fires %v after it was created, want 60s", ev.FireAt.Sub(ev.Time))
				}
				return true
			}
		}
		return false
	})
	inst, err := e.Client.GetInstance(e.Ctx, id)
	if err != nil || inst.Status != perdure.StatusRunning {
		t.Fatalf("%v %v", inst, err)
	}
	if err := e.Client.Terminate(e.Ctx, id, "test over"); err != nil {
		t.Fatal(err)
	}
}
