// Package taskchain is the task chaining pattern of the Dapr workflow
// patterns page: three activities run one after the other, each taking the
// previous one's result, and a failure runs an error handler before the
// workflow fails.
//
// Input 1 gives [2,4,6]: step1 adds one (2), step2 doubles (4), step3 XORs
// with 2 (6). Every step's result is recorded, so after a crash the
// workflow resumes after the last completed step.
//
// A negative input makes step1 fail with a non-retryable error: the chain
// stops, error_handler runs with the error's text, and the workflow fails
// with that error.
//
//	curl -X POST 'http://127.0.0.1:3500/v1.0-beta1/workflows/dapr/TaskChainWorkflow/start?instanceID=chain-1' -d '1'
package taskchain

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
	WorkflowName     = "TaskChainWorkflow"
	Step1Name        = "step1"
	Step2Name        = "step2"
	Step3Name        = "step3"
	ErrorHandlerName = "error_handler"
)

// RetryPolicy is the steps' retry policy: exponential backoff that rides out
// long outages (1 minute doubling up to 1 hour, 10 attempts), as in the
// pattern's .NET variant. Non-retryable errors fail at once.
var RetryPolicy = workflow.RetryPolicy{
	InitialInterval:    time.Minute,
	BackoffCoefficient: 2,
	MaximumInterval:    time.Hour,
	MaximumAttempts:    10,
}

// TaskChainWorkflow runs step1, step2 and step3 in a row and returns their
// results. If a step fails for good, error_handler runs and the workflow
// fails with the step's error.
func TaskChainWorkflow(ctx workflow.Context, input int) ([]int, error) {
	ctx = workflow.WithRetryPolicy(ctx, RetryPolicy)
	results, err := chain(ctx, input)
	if err != nil {
		if _, herr := workflow.ExecuteActivity(ctx, ErrorHandler, err.Error()).Get(ctx); herr != nil {
			workflow.GetLogger(ctx).Error("error handler failed", "error", herr)
		}
		return nil, err
	}
	return results, nil
}

func chain(ctx workflow.Context, input int) ([]int, error) {
	r1, err := workflow.ExecuteActivity(ctx, Step1, input).Get(ctx)
	if err != nil {
		return nil, err
	}
	r2, err := workflow.ExecuteActivity(ctx, Step2, r1).Get(ctx)
	if err != nil {
		return nil, err
	}
	r3, err := workflow.ExecuteActivity(ctx, Step3, r2).Get(ctx)
	if err != nil {
		return nil, err
	}
	return []int{r1, r2, r3}, nil
}

// Step1 adds one. It refuses a negative input with a non-retryable error,
// which is how the error path of the example is reached.
func Step1(ctx context.Context, input int) (int, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("Step 1: Received input: %d.", input))
	if input < 0 {
		return 0, activity.NewNonRetryableError("NegativeInput", "step1: negative input %d is not supported", input)
	}
	return input + 1, nil
}

// Step2 doubles its input.
func Step2(ctx context.Context, input int) (int, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("Step 2: Received input: %d.", input))
	return input * 2, nil
}

// Step3 XORs its input with 2.
func Step3(ctx context.Context, input int) (int, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("Step 3: Received input: %d.", input))
	return input ^ 2, nil
}

// ErrorHandler is where compensating work for a failed chain would go; it
// logs the error.
func ErrorHandler(ctx context.Context, errText string) (struct{}, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("Executing error handler: %s.", errText))
	return struct{}{}, nil
}

// Register registers the workflow and its activities on w.
func Register(w *worker.Worker) error {
	return errors.Join(
		worker.RegisterWorkflowAs(w, WorkflowName, TaskChainWorkflow),
		worker.RegisterActivityAs(w, Step1Name, Step1),
		worker.RegisterActivityAs(w, Step2Name, Step2),
		worker.RegisterActivityAs(w, Step3Name, Step3),
		worker.RegisterActivityAs(w, ErrorHandlerName, ErrorHandler),
	)
}
