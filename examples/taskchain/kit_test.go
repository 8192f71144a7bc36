package taskchain_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/perdure/perdure/examples/taskchain"
	"github.com/perdure/perdure/perduretest"
	"github.com/perdure/perdure/workflow"
)

func TestKitTaskChain(t *testing.T) {
	env := perduretest.NewEnv(t)
	env.Register(taskchain.Register)
	got, err := perduretest.ExecuteWorkflow[[]int](env, taskchain.TaskChainWorkflow, 1)
	if err != nil || fmt.Sprint(got) != "[2 4 6]" {
		t.Fatalf("got %v, %v", got, err)
	}
}

// A step that keeps failing is retried per the chain's retry policy (a
// minute, doubling, ten attempts: hours of workflow time), then the error
// handler runs and the workflow fails.
func TestKitFailingStepRunsErrorHandler(t *testing.T) {
	env := perduretest.NewEnv(t)
	if err := errors.Join(
		perduretest.RegisterWorkflow(env, taskchain.TaskChainWorkflow),
		perduretest.RegisterActivityAs(env, taskchain.Step1Name, taskchain.Step1),
		perduretest.RegisterActivityAs(env, taskchain.Step3Name, taskchain.Step3),
	); err != nil {
		t.Fatal(err)
	}
	step2 := perduretest.OnActivityAs(env, taskchain.Step2Name, taskchain.Step2).Return(0, errors.New("step2 service unavailable"))
	handler := perduretest.OnActivityAs(env, taskchain.ErrorHandlerName, taskchain.ErrorHandler).Return(struct{}{}, nil)
	start := env.Now()
	_, err := perduretest.ExecuteWorkflow[[]int](env, taskchain.TaskChainWorkflow, 1)
	var ae *workflow.ActivityError
	if !errors.As(err, &ae) || ae.Attempts != taskchain.RetryPolicy.MaximumAttempts {
		t.Fatalf("want an ActivityError after %d attempts, got %v", taskchain.RetryPolicy.MaximumAttempts, err)
	}
	if step2.Count() != taskchain.RetryPolicy.MaximumAttempts || handler.Count() != 1 {
		t.Fatalf("step2 ran %d times, the error handler %d times", step2.Count(), handler.Count())
	}
	if d := env.Now().Sub(start); d < 4*3600e9 {
		t.Fatalf("the retries took %v of workflow time, want hours", d)
	}
}
