// Package resiliency is the Dapr resiliency-and-compensation tutorial:
// minus_one subtracts one from the input, division divides 100 by that
// result under a retry policy of three attempts, and when the division
// fails for good, plus_one compensates minus_one and the workflow says so in
// its custom status.
//
// Input 5: minus_one gives 4, division gives 25; the output is 25.
// Input 1: minus_one gives 0, division by zero fails three times (each
// attempt logs "division: Received divisor: 0."), plus_one brings the value
// back to 1; the output is 1 and the custom status
// "Compensated minus_one activity with plus_one activity.".
package resiliency

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// The registered names.
const (
	WorkflowName = "ResiliencyAndCompensationWorkflow"
	MinusOneName = "minus_one"
	DivisionName = "division"
	PlusOneName  = "plus_one"
)

// CompensatedStatus is the custom status after compensation.
const CompensatedStatus = "Compensated minus_one activity with plus_one activity."

// The tutorial's retry policy: three attempts, the first retry after 2s.
const (
	DefaultMaxAttempts        = 3
	DefaultFirstRetryInterval = 2 * time.Second
)

// FirstRetryInterval is the first retry interval of the activities' retry
// policy. Tests shorten it; change it only before workers start.
var FirstRetryInterval = DefaultFirstRetryInterval

// RetryPolicy is the policy every activity of the workflow runs under:
// three attempts, the first retry after FirstRetryInterval, doubling.
func RetryPolicy() workflow.RetryPolicy {
	return workflow.RetryPolicy{MaximumAttempts: DefaultMaxAttempts, InitialInterval: FirstRetryInterval, BackoffCoefficient: 2}
}

// ResiliencyAndCompensationWorkflow runs minus_one then division, and
// compensates minus_one with plus_one if the division fails for good.
func ResiliencyAndCompensationWorkflow(ctx workflow.Context, input int) (int, error) {
	ctx = workflow.WithRetryPolicy(ctx, RetryPolicy())
	result1, err := workflow.ExecuteActivity(ctx, MinusOne, input).Get(ctx)
	if err != nil {
		return 0, err
	}
	result, err := workflow.ExecuteActivity(ctx, Division, result1).Get(ctx)
	if err == nil {
		return result, nil
	}
	workflow.GetLogger(ctx).Warn(fmt.Sprintf("Error: %v", err))
	result, err = workflow.ExecuteActivity(ctx, PlusOne, result1).Get(ctx)
	if err != nil {
		return 0, err
	}
	if err := workflow.SetCustomStatus(ctx, CompensatedStatus); err != nil {
		return 0, err
	}
	return result, nil
}

// MinusOne subtracts one.
func MinusOne(ctx context.Context, input int) (int, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("minus_one: Received input: %d.", input))
	return input - 1, nil
}

// Division returns 100 divided by divisor; a zero divisor is an error, which
// the retry policy retries (in vain: the divisor does not change).
func Division(ctx context.Context, divisor int) (int, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("division: Received divisor: %d.", divisor))
	if divisor == 0 {
		return 0, activity.NewError("ZeroDivisionError", "division by zero")
	}
	return 100 / divisor, nil
}

// PlusOne adds one: the compensation of minus_one.
func PlusOne(ctx context.Context, input int) (int, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("plus_one: Received input: %d.", input))
	return input + 1, nil
}

// Register registers the workflow and its activities on w.
func Register(w *worker.Worker) error {
	return errors.Join(
		worker.RegisterWorkflowAs(w, WorkflowName, ResiliencyAndCompensationWorkflow),
		worker.RegisterActivityAs(w, MinusOneName, MinusOne),
		worker.RegisterActivityAs(w, DivisionName, Division),
		worker.RegisterActivityAs(w, PlusOneName, PlusOne),
	)
}
