package workflow

import (
	"time"
)

// NewTimer returns a future that becomes ready after d of workflow time.
// The timer is durable: it fires after a crash or restart, and costs nothing
// while it waits.
func NewTimer(ctx Context, d time.Duration) Future[struct{}] {
	return newFuture[struct{}](runner(ctx).NewTimer(d, ""), nil)
}

// Sleep blocks the workflow for d on a durable timer.
func Sleep(ctx Context, d time.Duration) error {
	_, err := NewTimer(ctx, d).Get(ctx)
	return err
}

// Now returns the workflow's deterministic current time.
func Now(ctx Context) time.Time { return runner(ctx).Now() }
