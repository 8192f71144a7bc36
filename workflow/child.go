package workflow

import (
	"fmt"

	"github.com/perdure/perdure/internal/names"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/internal/replay"
)

// ChildWorkflowOptions configure child workflows started with a Context.
type ChildWorkflowOptions struct {
	// InstanceID of the child; default "<parent id>:<step>" (in a run
	// created by continue-as-new "<parent id>:<run id prefix>:<step>"),
	// deterministic.
	InstanceID string
	// TaskQueue routes the child to workers serving that queue
	// (worker.Options.TaskQueue); "" is the parent's queue.
	TaskQueue string
}

// WithChildOptions returns a Context whose child workflow starts use opts.
func WithChildOptions(ctx Context, opts ChildWorkflowOptions) Context {
	return ctx.state().with(func(c *wctx) { c.child = opts })
}

// ExecuteChildWorkflow starts fn as a child workflow and returns a future
// for its result. Terminating the parent terminates its running children.
func ExecuteChildWorkflow[I, R any](ctx Context, fn func(Context, I) (R, error), input I) Future[R] {
	name, err := names.Of(fn)
	if err != nil {
		return errFuture[R](ctx, err)
	}
	return ExecuteChildWorkflowByName[R](ctx, name, input)
}

// ExecuteChildWorkflowByName starts the workflow registered as name.
func ExecuteChildWorkflowByName[R any](ctx Context, name string, input any) Future[R] {
	s := ctx.state()
	in, err := payload.Encode(s.r.Codec(), input)
	if err != nil {
		return errFuture[R](ctx, fmt.Errorf("child workflow %q: %w", name, err))
	}
	f, id := s.r.StartChild(name, s.child.InstanceID, in, s.child.TaskQueue)
	return newFuture[R](f, childError(name, id))
}

// ContinueAsNew returns the error that, returned by a workflow, finishes
// the current run and starts a fresh run of the same instance with input:
// the way to write eternal monitors without an ever-growing history.
//
//	return Result{}, workflow.ContinueAsNew(ctx, nextState)
func ContinueAsNew(ctx Context, input any) error {
	b, err := payload.Encode(runner(ctx).Codec(), input)
	if err != nil {
		return fmt.Errorf("continue as new: %w", err)
	}
	return &replay.ContinueAsNewError{Input: b}
}

// SetCustomStatus publishes v as the workflow's custom status, visible to
// clients while the workflow runs; nil clears it.
func SetCustomStatus(ctx Context, v any) error {
	r := runner(ctx)
	b, err := payload.Encode(r.Codec(), v)
	if err != nil {
		return fmt.Errorf("custom status: %w", err)
	}
	r.SetCustomStatus(b)
	return nil
}
