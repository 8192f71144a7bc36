package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/internal/names"
	"github.com/perdure/perdure/internal/payload"
)

// RetryPolicy says how a failed activity attempt is retried. The zero value
// means: first retry after 1s, doubling each time up to 100s, without limit
// on attempts.
type RetryPolicy struct {
	InitialInterval    time.Duration // default 1s
	BackoffCoefficient float64       // default 2.0
	MaximumInterval    time.Duration // default 100 × InitialInterval
	// MaximumAttempts counts the first attempt: 1 means no retry. 0: unlimited.
	MaximumAttempts int
	// NonRetryableErrorTypes lists error types (ApplicationError.Type, or Go
	// type names such as "*fs.PathError") that fail the activity at once.
	NonRetryableErrorTypes []string
}

// ActivityOptions configure activity calls made with a Context. Zero values
// mean defaults.
type ActivityOptions struct {
	RetryPolicy RetryPolicy
	// StartToCloseTimeout bounds one attempt. 0: no limit.
	StartToCloseTimeout time.Duration
	// ScheduleToCloseTimeout bounds all attempts together. 0: no limit.
	ScheduleToCloseTimeout time.Duration
	// HeartbeatTimeout fails an attempt that does not heartbeat that often.
	HeartbeatTimeout time.Duration
	// TaskQueue routes the activity to workers serving that queue
	// (worker.Options.TaskQueue); "" is the workflow's own queue.
	TaskQueue string
}

// WithActivityOptions returns a Context whose activity calls use opts.
func WithActivityOptions(ctx Context, opts ActivityOptions) Context {
	return ctx.state().with(func(c *wctx) { c.activity = opts })
}

// WithRetryPolicy returns a Context whose activity calls use policy.
func WithRetryPolicy(ctx Context, policy RetryPolicy) Context {
	return ctx.state().with(func(c *wctx) { c.activity.RetryPolicy = policy })
}

func (o ActivityOptions) encode(compensation bool) json.RawMessage {
	w := history.ActivityOptions{
		InitialInterval:        o.RetryPolicy.InitialInterval,
		BackoffCoefficient:     o.RetryPolicy.BackoffCoefficient,
		MaximumInterval:        o.RetryPolicy.MaximumInterval,
		MaximumAttempts:        o.RetryPolicy.MaximumAttempts,
		NonRetryableErrorTypes: o.RetryPolicy.NonRetryableErrorTypes,
		StartToCloseTimeout:    o.StartToCloseTimeout,
		ScheduleToCloseTimeout: o.ScheduleToCloseTimeout,
		HeartbeatTimeout:       o.HeartbeatTimeout,
		Compensation:           compensation,
	}
	if w.IsZero() {
		return nil
	}
	b, _ := json.Marshal(w)
	return b
}

// ExecuteActivity schedules the activity fn with input and returns a future
// for its result. The activity runs under the name fn was registered with
// (by default its bare function name).
func ExecuteActivity[I, R any](ctx Context, fn func(context.Context, I) (R, error), input I) Future[R] {
	name, err := names.Of(fn)
	if err != nil {
		return errFuture[R](ctx, err)
	}
	return ExecuteActivityByName[R](ctx, name, input)
}

// ExecuteActivityByName schedules the activity registered as name.
func ExecuteActivityByName[R any](ctx Context, name string, input any) Future[R] {
	s := ctx.state()
	if name == "" {
		return errFuture[R](ctx, fmt.Errorf("activity name is empty"))
	}
	// A step replayed from history needs its name only: the recorded event
	// holds the input and options.
	var in, opts []byte
	if !s.r.NextIsRecorded() {
		var err error
		if in, err = payload.Encode(s.r.Codec(), input); err != nil {
			return errFuture[R](ctx, fmt.Errorf("activity %q: %w", name, err))
		}
		opts = s.activity.encode(s.compensating)
	}
	f := s.r.ScheduleActivity(name, in, opts, s.activity.TaskQueue)
	return newFuture[R](f, activityError(name, f.Seq()))
}
