package workflow

import (
	"fmt"

	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/replay"
)

// ApplicationError is an error with a stable type name; retry policies match
// NonRetryableErrorTypes against Type. Activities and workflows return it.
type ApplicationError = failure.ApplicationError

// TimeoutError reports an activity attempt that ran out of time; Kind is
// StartToClose, ScheduleToClose or Heartbeat.
type TimeoutError = failure.TimeoutError

// NewError returns an ApplicationError of the given type.
func NewError(errType, format string, args ...any) *ApplicationError {
	return failure.NewError(errType, format, args...)
}

// NewNonRetryableError returns an ApplicationError that is never retried.
func NewNonRetryableError(errType, format string, args ...any) *ApplicationError {
	return failure.NewNonRetryableError(errType, format, args...)
}

// ErrEventTimeout is returned by a WaitEventWithTimeout future whose timeout
// fired before the event arrived.
var ErrEventTimeout = replay.ErrEventTimeout

// ActivityError is what a workflow gets from an activity that failed for
// good: its retries are exhausted, its error was non-retryable, or it timed
// out. Use errors.As to get it, and errors.As again on it to get the cause
// (*ApplicationError or *TimeoutError).
type ActivityError struct {
	ActivityName string
	Step         int64 // the step number in the workflow's history
	Attempts     int
	Message      string // the last attempt's error message
	Type         string // the last attempt's error type
	NonRetryable bool
	cause        error
	fail         *failure.Failure
}

func (e *ActivityError) Error() string {
	plural := "s"
	if e.Attempts == 1 {
		plural = ""
	}
	return fmt.Sprintf("activity %q failed after %d attempt%s: %s", e.ActivityName, e.Attempts, plural, e.cause)
}

// Unwrap returns the cause.
func (e *ActivityError) Unwrap() error { return e.cause }

// ToFailure is used when a workflow returns this error.
func (e *ActivityError) ToFailure() *failure.Failure {
	return &failure.Failure{Message: e.Error(), Type: failure.TypeActivity, ActivityName: e.ActivityName, Attempts: e.Attempts,
		Step: e.Step, Cause: e.fail}
}

func init() {
	// Failures that crossed a workflow boundary (a child's failure in its
	// parent, a workflow's failure at the client) become these errors again.
	failure.RegisterType(failure.TypeActivity, func(f *failure.Failure) error {
		if f.Cause == nil {
			return nil
		}
		return &ActivityError{ActivityName: f.ActivityName, Step: f.Step, Attempts: f.Attempts, Message: f.Cause.Message, Type: f.Cause.Type,
			NonRetryable: f.Cause.NonRetryable, cause: f.Cause.ToError(), fail: f.Cause}
	})
	failure.RegisterType(failure.TypeChildWorkflow, func(f *failure.Failure) error {
		if f.Cause == nil {
			return nil
		}
		return &ChildWorkflowError{WorkflowName: f.WorkflowName, InstanceID: f.InstanceID, Message: f.Cause.Message, Type: f.Cause.Type,
			cause: f.Cause.ToError(), fail: f.Cause}
	})
}

func activityError(name string, step int64) func(*failure.Failure) error {
	return func(f *failure.Failure) error {
		return &ActivityError{ActivityName: name, Step: step, Attempts: f.Attempts, Message: f.Message, Type: f.Type,
			NonRetryable: f.NonRetryable, cause: f.ToError(), fail: f}
	}
}

// ChildWorkflowError is what a parent gets from a child workflow that
// failed or was terminated.
type ChildWorkflowError struct {
	WorkflowName string
	InstanceID   string
	Message      string
	Type         string
	cause        error
	fail         *failure.Failure
}

func (e *ChildWorkflowError) Error() string {
	return fmt.Sprintf("child workflow %q (%s) failed: %s", e.WorkflowName, e.InstanceID, e.cause)
}

// Unwrap returns the cause.
func (e *ChildWorkflowError) Unwrap() error { return e.cause }

// ToFailure is used when a workflow returns this error.
func (e *ChildWorkflowError) ToFailure() *failure.Failure {
	return &failure.Failure{Message: e.Error(), Type: failure.TypeChildWorkflow, WorkflowName: e.WorkflowName, InstanceID: e.InstanceID, Cause: e.fail}
}

func childError(name, id string) func(*failure.Failure) error {
	return func(f *failure.Failure) error {
		return &ChildWorkflowError{WorkflowName: name, InstanceID: id, Message: f.Message, Type: f.Type, cause: f.ToError(), fail: f}
	}
}
