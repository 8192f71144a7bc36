package workflow

import (
	"time"

	"github.com/perdure/perdure/internal/replay"
)

// Context is the workflow's handle on the engine. Pass it down to every
// workflow API call; it is not a context.Context and must not be shared with
// goroutines.
type Context interface {
	state() *wctx
}

type wctx struct {
	r            *replay.Runner
	activity     ActivityOptions
	child        ChildWorkflowOptions
	compensating bool
}

func (c *wctx) state() *wctx { return c }

func (c *wctx) with(f func(*wctx)) Context {
	n := *c
	f(&n)
	return &n
}

func init() {
	replay.NewContext = func(r *replay.Runner) any { return &wctx{r: r} }
}

func runner(ctx Context) *replay.Runner {
	if ctx == nil {
		panic("perdure: nil workflow.Context")
	}
	return ctx.state().r
}

// Info describes the running workflow.
type Info struct {
	InstanceID       string
	RunID            string
	WorkflowName     string
	ParentInstanceID string
	// PreviousRunID is the run this one continued from (continue-as-new).
	PreviousRunID string
	TaskQueue     string
	CreatedAt     time.Time
}

// GetInfo returns information about the running workflow.
func GetInfo(ctx Context) Info {
	i := runner(ctx).Info()
	return Info{InstanceID: i.InstanceID, RunID: i.RunID, WorkflowName: i.Name, ParentInstanceID: i.ParentInstanceID,
		PreviousRunID: i.PreviousRunID, TaskQueue: i.TaskQueue, CreatedAt: i.CreatedAt}
}

// IsReplaying reports whether the code is re-executing recorded history.
// Use it to skip side effects such as printing; GetLogger does it for you.
func IsReplaying(ctx Context) bool { return runner(ctx).IsReplaying() }
