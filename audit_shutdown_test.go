package perdure_test

import (
	"context"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// auditUntilCancelled blocks its first attempt until its context is
// cancelled; later attempts succeed.
func auditUntilCancelled(ctx context.Context, key string) (string, error) {
	if activity.GetInfo(ctx).Attempt > 1 {
		return "done", nil
	}
	auditGate(key) <- struct{}{}
	<-ctx.Done()
	return "", ctx.Err()
}

// AuditSingleAttempt runs auditUntilCancelled without retries.
func AuditSingleAttempt(ctx workflow.Context, key string) (string, error) {
	ctx = workflow.WithRetryPolicy(ctx, workflow.RetryPolicy{MaximumAttempts: 1})
	return workflow.ExecuteActivity(ctx, auditUntilCancelled, key).Get(ctx)
}

// An activity attempt interrupted by a graceful shutdown is not a failure of
// the activity: it runs again at once after the restart, even when its retry
// policy allows no retry.
func TestAuditGracefulStopDoesNotFailActivities(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		reg := func(w *worker.Worker) {
			mustReg(worker.RegisterWorkflow(w, AuditSingleAttempt))
			mustReg(worker.RegisterActivity(w, auditUntilCancelled))
		}
		e := newEnv(t, kind, nil)
		e.wopts.ShutdownGrace = 20 * time.Millisecond
		e.restart(reg)
		key := t.Name()
		id, err := e.c.StartWorkflow(e.ctx, AuditSingleAttempt, key, perdure.StartOptions{})
		must(t, err)
		<-auditGate(key) // the first attempt runs
		e.restart(reg)
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		got, err := perdure.GetResult[string](ctx, e.c, id)
		must(t, err)
		if got != "done" {
			t.Fatalf("got %q", got)
		}
	})
}
