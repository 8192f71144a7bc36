package perdure_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

var longRuns atomic.Int64

func longActivity(ctx context.Context, d time.Duration) (int, error) {
	longRuns.Add(1)
	select {
	case <-time.After(d):
		return activity.GetInfo(ctx).Attempt, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func longCaller(ctx workflow.Context, d time.Duration) (int, error) {
	return workflow.ExecuteActivity[time.Duration, int](ctx, longActivity, d).Get(ctx)
}

// An attempt that runs several times longer than the lease keeps it: its
// heartbeats renew the lease while it runs, so it is neither run again
// beside itself nor counted as lost.
func TestLongAttemptKeepsItsLease(t *testing.T) {
	for _, kind := range []string{"memory", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			longRuns.Store(0)
			const lease = 300 * time.Millisecond
			e := newEnv(t, kind, nil)
			e.stop()
			e.opts.LeaseDuration, e.opts.PollInterval = lease, 50*time.Millisecond
			e.start(func(w *worker.Worker) {
				mustReg(worker.RegisterWorkflow(w, longCaller))
				mustReg(worker.RegisterActivity(w, longActivity))
			})
			c, ctx := e.c, e.ctx
			id, err := c.StartWorkflow(ctx, longCaller, 4*lease, perdure.StartOptions{})
			must(t, err)
			attempt, err := perdure.GetResult[int](ctx, c, id)
			must(t, err)
			if n := longRuns.Load(); attempt != 1 || n != 1 {
				t.Fatalf("the activity ran %d times, the result is from attempt %d: want once, attempt 1", n, attempt)
			}
		})
	}
}
