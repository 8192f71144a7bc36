package perdure_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// AuditZeroTimeout waits with a timeout that has already run out.
func AuditZeroTimeout(ctx workflow.Context, timeout time.Duration) (string, error) {
	v, err := workflow.WaitEventWithTimeout[string](ctx, "never", timeout).Get(ctx)
	if errors.Is(err, workflow.ErrEventTimeout) {
		return "timed out", nil
	}
	return v, err
}

// A wait whose timeout is zero or negative (a deadline already passed) times
// out at once, like a timer of that duration, instead of waiting forever.
func TestAuditEventWaitWithNonPositiveTimeout(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) { mustReg(worker.RegisterWorkflow(w, AuditZeroTimeout)) })
		for _, d := range []time.Duration{0, -time.Second} {
			id, err := e.c.StartWorkflow(e.ctx, AuditZeroTimeout, d, perdure.StartOptions{})
			must(t, err)
			ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
			got, err := perdure.GetResult[string](ctx, e.c, id)
			cancel()
			if err != nil || got != "timed out" {
				t.Fatalf("timeout %v: got %q, %v; want an immediate timeout", d, got, err)
			}
		}
	})
}
