package taskchain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/perdure/perdure/examples/internal/testenv"
	"github.com/perdure/perdure/examples/taskchain"
	"github.com/perdure/perdure/perduretest"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// TestGoldenHistories replays the recorded histories of testdata against
// the current code. With -update (or PERDURE_UPDATE_GOLDEN=1) it records
// them again first.
func TestGoldenHistories(t *testing.T) {
	if testenv.UpdateGolden() {
		e := testenv.New(t, taskchain.Register)
		e.Record(taskchain.WorkflowName, "chain-ok", `1`, nil)
		e.Record(taskchain.WorkflowName, "chain-failing", `-3`, nil)
	}
	testenv.ReplayGolden(t, taskchain.Register)
}

// replayerWith registers wf as the task chain workflow, with the real
// activities.
func replayerWith(t *testing.T, wf func(workflow.Context, int) ([]int, error)) *perduretest.Replayer {
	t.Helper()
	r := perduretest.NewReplayer()
	err := errors.Join(
		perduretest.RegisterWorkflowAs(r, taskchain.WorkflowName, wf),
		worker.RegisterActivityAs(r.Worker(), taskchain.Step1Name, taskchain.Step1),
		worker.RegisterActivityAs(r.Worker(), taskchain.Step2Name, taskchain.Step2),
		worker.RegisterActivityAs(r.Worker(), taskchain.Step3Name, taskchain.Step3),
		worker.RegisterActivityAs(r.Worker(), taskchain.ErrorHandlerName, taskchain.ErrorHandler),
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// skipsStep2 is a change that breaks determinism: step2 is gone, so step 2
// of the code is step3 where the history recorded step2.
func skipsStep2(ctx workflow.Context, input int) ([]int, error) {
	ctx = workflow.WithRetryPolicy(ctx, taskchain.RetryPolicy)
	r1, err := workflow.ExecuteActivity(ctx, taskchain.Step1, input).Get(ctx)
	if err != nil {
		_, _ = workflow.ExecuteActivity(ctx, taskchain.ErrorHandler, err.Error()).Get(ctx)
		return nil, err
	}
	r3, err := workflow.ExecuteActivity(ctx, taskchain.Step3, r1).Get(ctx)
	if err != nil {
		return nil, err
	}
	return []int{r1, r3}, nil
}

func TestGoldenHistoryCatchesABreakingChange(t *testing.T) {
	const path = "testdata/chain-ok.history.json"
	err := replayerWith(t, skipsStep2).ReplayFile(path)
	var nd *perduretest.NondeterminismError
	if !errors.As(err, &nd) {
		t.Fatalf("got %v, want a NondeterminismError", err)
	}
	if nd.Step != 2 || nd.Recorded != `activity "step2"` || nd.Got != `activity "step3"` ||
		!strings.HasPrefix(nd.RecordedAt, "taskchain/taskchain.go:") || !strings.HasPrefix(nd.GotAt, "taskchain/golden_test.go:") {
		t.Fatalf("diff %+v", nd)
	}
	for _, want := range []string{"replay of " + path + " (workflow TaskChainWorkflow, instance chain-ok, run ",
		"non-deterministic workflow code at step 2:",
		`  history recorded: activity "step2" (at taskchain/taskchain.go:`,
		`  code asked for:   activity "step3" (at taskchain/golden_test.go:`} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("the error lacks %q:\n%v", want, err)
		}
	}
	// The failing chain never reached step 2: its history still replays.
	if err := replayerWith(t, skipsStep2).ReplayFile("testdata/chain-failing.history.json"); err != nil {
		t.Fatal(err)
	}
}

// guardedSkip makes the change of skipsStep2 behind workflow.GetVersion:
// runs recorded before it keep step2, new runs skip it.
func guardedSkip(ctx workflow.Context, input int) ([]int, error) {
	if workflow.GetVersion(ctx, "skip-step2", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return taskchain.TaskChainWorkflow(ctx, input)
	}
	return skipsStep2(ctx, input)
}

func TestGoldenHistoriesAcceptAGuardedChange(t *testing.T) {
	perduretest.ReplayDir(t, replayerWith(t, guardedSkip), "testdata")
}

// reversed makes the same steps and returns the results in another order.
func reversed(ctx workflow.Context, input int) ([]int, error) {
	out, err := taskchain.TaskChainWorkflow(ctx, input)
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

func TestGoldenHistoryCatchesAnotherResult(t *testing.T) {
	err := replayerWith(t, reversed).ReplayFile("testdata/chain-ok.history.json")
	var oe *perduretest.OutcomeError
	if !errors.As(err, &oe) || oe.Recorded != "completed with result [2,4,6]" || oe.Got != "completed with result [6,4,2]" {
		t.Fatalf("got %v, want an OutcomeError [2,4,6] → [6,4,2]", err)
	}
}
