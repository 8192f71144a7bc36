package perdure_test

import (
	"context"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// AuditWaitForever waits for an event that never comes.
func AuditWaitForever(ctx workflow.Context, _ string) (string, error) {
	return workflow.WaitEvent[string](ctx, "never").Get(ctx)
}

var auditBroken = true

// AuditBrokenParent starts a child, then panics once "break" arrives, as a
// bad deployment would, on every retry of the task.
func AuditBrokenParent(ctx workflow.Context, _ string) (string, error) {
	child := workflow.ExecuteChildWorkflow(ctx, AuditWaitForever, "")
	if _, err := workflow.WaitEvent[string](ctx, "break").Get(ctx); err != nil {
		return "", err
	}
	if auditBroken {
		panic("broken deployment")
	}
	_, err := child.Get(ctx)
	return "", err
}

// A run whose workflow task keeps failing (here a panic; a non-determinism
// error is the same) can still be terminated, and its children with it.
func TestAuditTerminateRunWhoseTaskFails(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) {
			mustReg(worker.RegisterWorkflow(w, AuditBrokenParent))
			mustReg(worker.RegisterWorkflow(w, AuditWaitForever))
		})
		id := "broken-" + kind
		_, err := e.c.StartWorkflow(e.ctx, AuditBrokenParent, "", perdure.StartOptions{InstanceID: id})
		must(t, err)
		child := id + ":0001"
		eventually(t, "the child to run", func() bool {
			inst, err := e.c.GetInstance(e.ctx, child)
			return err == nil && inst.Status == perdure.StatusRunning
		})
		must(t, e.c.RaiseEvent(e.ctx, id, "break", ""))
		eventually(t, "the task error", func() bool {
			inst, err := e.c.GetInstance(e.ctx, id)
			return err == nil && inst.TaskError != ""
		})
		must(t, e.c.Terminate(e.ctx, id, "give up"))
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		for _, x := range []string{id, child} {
			inst, err := e.c.WaitForCompletion(ctx, x)
			must(t, err)
			if inst.Status != perdure.StatusTerminated {
				t.Fatalf("%s: status %s, want TERMINATED", x, inst.Status)
			}
		}
		h, err := e.c.History(e.ctx, id, "")
		must(t, err)
		if last := h[len(h)-1]; last.Type != "ExecutionCompleted" || last.Status != perdure.StatusTerminated || last.Reason != "give up" {
			t.Fatalf("last event %s %s %q", last.Type, last.Status, last.Reason)
		}
	})
}
