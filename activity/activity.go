// Package activity is the API for activity code: plain functions of the form
//
//	func MyActivity(ctx context.Context, in Input) (Output, error)
//
// Activities do the work that touches the outside world. They run at least
// once: an attempt that fails is retried with backoff per the caller's retry
// policy, and an attempt lost to a crash runs again. Info.IdempotencyKey is
// stable across attempts so that side effects can be made exactly-once.
package activity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/perdure/perdure/internal/actx"
	"github.com/perdure/perdure/internal/failure"
)

// Info describes the running attempt.
type Info struct {
	InstanceID   string
	RunID        string
	WorkflowName string
	ActivityName string
	// Step is the activity's step number in its workflow's history.
	Step    int64
	Attempt int // 1 for the first attempt
	// TaskToken identifies this attempt for asynchronous completion.
	TaskToken string
	// IdempotencyKey is "instance/run/step": the same for every attempt of
	// this activity call, never repeated by another call.
	IdempotencyKey string
	ScheduledAt    time.Time
	StartedAt      time.Time
	Deadline       time.Time // zero: none
	TaskQueue      string
}

// GetInfo returns information about the running attempt. Outside an
// activity it returns the zero Info.
func GetInfo(ctx context.Context) Info {
	s := actx.From(ctx)
	if s == nil {
		return Info{}
	}
	return Info{InstanceID: s.InstanceID, RunID: s.RunID, WorkflowName: s.WorkflowName, ActivityName: s.ActivityName,
		Step: s.Seq, Attempt: s.Attempt, TaskToken: s.TaskToken(), IdempotencyKey: s.IdempotencyKey(),
		ScheduledAt: s.ScheduledAt, StartedAt: s.StartedAt, Deadline: s.Deadline, TaskQueue: s.TaskQueue}
}

// RecordHeartbeat reports progress. details (optional, nil to omit) are
// kept so that the next attempt can resume from them. Heartbeats also keep
// an attempt alive under a heartbeat timeout.
func RecordHeartbeat(ctx context.Context, details any) {
	s := actx.From(ctx)
	if s == nil || s.Heartbeat == nil {
		return
	}
	var b []byte
	if details != nil {
		var err error
		if b, err = s.Encode(details); err != nil {
			GetLogger(ctx).Warn("heartbeat details could not be encoded", "error", err)
			return
		}
	}
	s.Heartbeat(b)
}

// HeartbeatDetails decodes the last heartbeat details recorded for this
// activity call, by this attempt or an earlier one. ok is false when there
// are none.
func HeartbeatDetails[T any](ctx context.Context) (v T, ok bool, err error) {
	s := actx.From(ctx)
	if s == nil || len(s.LastDetails) == 0 {
		return v, false, nil
	}
	if err := s.Decode(s.LastDetails, &v); err != nil {
		return v, false, fmt.Errorf("decode heartbeat details: %w", err)
	}
	return v, true, nil
}

// GetLogger returns a logger tagged with the activity, instance and attempt.
func GetLogger(ctx context.Context) *slog.Logger {
	if s := actx.From(ctx); s != nil {
		if l := s.Logger(); l != nil {
			return l
		}
	}
	return slog.Default()
}

// ErrResultPending, returned by an activity, means: this attempt is not
// finished; whoever holds Info.TaskToken will complete, fail or heartbeat
// it through the client (Client.CompleteActivity and friends).
var ErrResultPending = errors.New("activity result pending: completion by task token")

// ApplicationError is an error with a stable type name; retry policies match
// NonRetryableErrorTypes against Type.
type ApplicationError = failure.ApplicationError

// NewError returns an ApplicationError of the given type.
func NewError(errType, format string, args ...any) *ApplicationError {
	return failure.NewError(errType, format, args...)
}

// NewNonRetryableError returns an ApplicationError that is never retried.
func NewNonRetryableError(errType, format string, args ...any) *ApplicationError {
	return failure.NewNonRetryableError(errType, format, args...)
}

// NonRetryable marks err as not to be retried, keeping its type name.
func NonRetryable(err error) error { return failure.NonRetryable(err) }
