package perduretest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/perdure/perdure/perduretest"
	"github.com/perdure/perdure/workflow"
)

func RequestApproval(_ context.Context, order string) (bool, error) { return true, nil }

// ApprovalFlow waits up to a day for a manager.
func ApprovalFlow(ctx workflow.Context, order string) (string, error) {
	if _, err := workflow.ExecuteActivity(ctx, RequestApproval, order).Get(ctx); err != nil {
		return "", err
	}
	who, err := workflow.WaitEventWithTimeout[string](ctx, "approval_received", 24*time.Hour).Get(ctx)
	if errors.Is(err, workflow.ErrEventTimeout) {
		return "Cancelled", nil
	}
	return "Approved by " + who, err
}

// The day-long timeout passes on the virtual clock, in milliseconds.
func ExampleExecuteWorkflow() {
	t := &testing.T{} // in a test, use its *testing.T
	env := perduretest.NewEnv(t)
	defer env.Close()
	_ = perduretest.RegisterWorkflow(env, ApprovalFlow)
	requests := perduretest.OnActivity(env, RequestApproval).Return(true, nil)

	start := env.Now()
	out, err := perduretest.ExecuteWorkflow[string](env, ApprovalFlow, "laptop")
	fmt.Println(out, err, env.Now().Sub(start), requests.Calls())
	// Output: Cancelled <nil> 24h0m0s [laptop]
}

// An event raised three hours in, by a delayed callback.
func ExampleEnv_RaiseEventAfter() {
	t := &testing.T{}
	env := perduretest.NewEnv(t)
	defer env.Close()
	_ = perduretest.RegisterWorkflow(env, ApprovalFlow)
	perduretest.OnActivity(env, RequestApproval).Return(true, nil)
	env.RaiseEventAfter(3*time.Hour, "approval_received", "Jane Doe")

	start := env.Now()
	out, err := perduretest.ExecuteWorkflow[string](env, ApprovalFlow, "laptop")
	fmt.Println(out, err, env.Now().Sub(start))
	// Output: Approved by Jane Doe <nil> 3h0m0s
}
