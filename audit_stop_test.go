package perdure_test

import (
	"context"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// auditIgnoresCancel blocks until the test releases it, whatever its
// context says.
func auditIgnoresCancel(_ context.Context, key string) (string, error) {
	auditGate(key + "/started") <- struct{}{}
	<-auditGate(key + "/release")
	return "late", nil
}

func AuditStuckActivity(ctx workflow.Context, key string) (string, error) {
	return workflow.ExecuteActivity(ctx, auditIgnoresCancel, key).Get(ctx)
}

// Worker.Stop returns even when an activity ignores the cancellation of its
// context: after the grace period and as long again for the cancellation to
// take effect, the worker gives up on it and releases its lease.
func TestAuditStopDoesNotHangOnActivityIgnoringCancel(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		e.wopts.ShutdownGrace = 20 * time.Millisecond
		e.restart(func(w *worker.Worker) {
			mustReg(worker.RegisterWorkflow(w, AuditStuckActivity))
			mustReg(worker.RegisterActivity(w, auditIgnoresCancel))
		})
		key := t.Name()
		t.Cleanup(func() { close(auditGate(key + "/release")) })
		_, err := e.c.StartWorkflow(e.ctx, AuditStuckActivity, key, perdure.StartOptions{})
		must(t, err)
		<-auditGate(key + "/started")
		stopped := make(chan error, 1)
		go func() { stopped <- e.w.Stop() }()
		select {
		case err := <-stopped:
			must(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("Worker.Stop still waits for an activity that ignores its context")
		}
	})
}
