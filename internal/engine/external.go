package engine

import (
	"context"
	"slices"
	"time"

	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/internal/replay"
	"github.com/perdure/perdure/store"
)

// What a dispatcher needs that runs workflow code outside this engine (the
// Durable Task gRPC service hands workflow tasks to workers written in
// other languages): the engine's settings and the pieces of a workflow
// task's commit that do not depend on where the code ran.

// WorkflowNames returns the workflow names this engine's workers serve,
// sorted, without duplicates.
func (e *Engine) WorkflowNames() []string {
	e.mu.Lock()
	servers := e.servers
	e.mu.Unlock()
	var out []string
	for _, s := range servers {
		out = append(out, s.wfNames...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Owner is the name of this engine in leases.
func (e *Engine) Owner() string { return e.cfg.Owner }

// LeaseDuration is how long a claim lasts without renewal.
func (e *Engine) LeaseDuration() time.Duration { return e.cfg.LeaseDuration }

// WorkflowTaskRetry is the delay before a failed workflow task is retried.
func (e *Engine) WorkflowTaskRetry() time.Duration { return e.cfg.WorkflowTaskRetry }

// NotBeforeStart returns t, or the start time of instanceID's current run
// when it starts later (an event sent to a run whose start is delayed
// waits for the start).
func (e *Engine) NotBeforeStart(instanceID string, t time.Time) time.Time {
	return e.notBeforeStart(instanceID, t)
}

// LoadHistory reads and decodes a run's whole history with decode.
func (e *Engine) LoadHistory(ctx context.Context, runID string, decode func(*store.Event) (*history.Event, error)) ([]*history.Event, error) {
	return e.loadHistory(ctx, runID, decode)
}

// InOrderOfArrival sorts a workflow task's messages in the order the
// engine applies them: the run's start first, then by visibility time.
func InOrderOfArrival(msgs []*store.Message) { inOrderOfArrival(msgs) }

// NewID returns a random run id.
func NewID() string { return newID() }

// CompleteRun adds to op what finishing run cur with the completion event
// comp (ExecutionCompleted or ContinueAsNew) implies: the final status and
// output, the parent's notification, the termination of the running
// children, or the next run (which receives carried).
func CompleteRun(op *store.WorkflowTaskCommitOp, cur *store.Run, children []string, carried []history.CarriedEvent, comp *history.Event, now time.Time) {
	info := replay.Info{InstanceID: cur.InstanceID, RunID: cur.RunID, Name: cur.Name, ParentInstanceID: cur.ParentInstanceID,
		PreviousRunID: cur.PreviousRunID, TaskQueue: cur.TaskQueue, CreatedAt: cur.CreatedAt}
	completeRun(op, info, children, carried, comp, now, cur)
}

// AttemptsWith returns the log of t's finished attempts with rec added:
// encoded as a task keeps it (ActivityTaskRetryOp.Attempts), and as a
// result message carries it (history.Data.Attempts).
func AttemptsWith(t *store.ActivityTask, rec history.Attempt) ([]byte, []history.Attempt) {
	a := append(decodeAttempts(t.Attempts), rec)
	return encodeAttempts(a), trim(a)
}

// StartHook is given a start that is visible at once and that no worker
// of this engine takes, before it is committed: it may set op.Then (the
// run's first workflow task, computed elsewhere; start is the data
// op.Start was encoded from) and op.Eager. The function it returns (nil:
// none) is called with the commit's outcome.
type StartHook func(op *store.RunCreateOp, start *history.Data, now time.Time) func(applied bool, claimed *store.WorkflowTask, err error)

// SetStartHook sets (nil: removes) the engine's StartHook.
func (e *Engine) SetStartHook(h StartHook) {
	if h == nil {
		e.startHook.Store(nil)
		return
	}
	e.startHook.Store(&h)
}
