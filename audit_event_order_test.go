package perdure_test

import (
	"errors"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// AuditEventOrTimeout waits for "go" with a timeout.
func AuditEventOrTimeout(ctx workflow.Context, timeout time.Duration) (string, error) {
	v, err := workflow.WaitEventWithTimeout[string](ctx, "go", timeout).Get(ctx)
	if errors.Is(err, workflow.ErrEventTimeout) {
		return "timed out", nil
	}
	return v, err
}

// An event raised before the timeout of the wait is delivered, even when the
// worker only sees it after the timeout's timer is due too (both arrive in
// one workflow task).
func TestAuditEventRaisedBeforeTimeoutWinsInOneTask(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		reg := func(w *worker.Worker) { mustReg(worker.RegisterWorkflow(w, AuditEventOrTimeout)) }
		e := newEnv(t, kind, reg)
		id, err := e.c.StartWorkflow(e.ctx, AuditEventOrTimeout, 300*time.Millisecond, perdure.StartOptions{})
		must(t, err)
		waitHistory(t, e, id, 2) // ExecutionStarted, TimerCreated
		h, err := e.c.History(e.ctx, id, "")
		must(t, err)
		fireAt := h[1].FireAt
		if h[1].Type != history.TimerCreated || fireAt.IsZero() {
			t.Fatalf("event 2 is %s, want the timeout's TimerCreated", h[1].Type)
		}
		e.restart(nil) // no worker: nothing runs the workflow for a while
		if !time.Now().Before(fireAt) {
			t.Skip("too slow: the timeout passed before the event could be raised")
		}
		must(t, e.c.RaiseEvent(e.ctx, id, "go", "in time"))
		time.Sleep(time.Until(fireAt) + 20*time.Millisecond)
		e.restart(reg)
		got, err := perdure.GetResult[string](e.ctx, e.c, id)
		must(t, err)
		if got != "in time" {
			t.Fatalf("got %q: the event was raised before the timeout, want it delivered", got)
		}
	})
}
