package perdure_test

import (
	"context"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// slowEmptyClaims makes each workflow task claim that finds nothing
// return late, as a claim on a busy store does.
type slowEmptyClaims struct {
	store.Store
	delay time.Duration
}

func (s *slowEmptyClaims) WorkflowTaskClaim(ctx context.Context, p *store.WorkflowTaskClaimParams) ([]*store.WorkflowTask, error) {
	tasks, err := s.Store.WorkflowTaskClaim(ctx, p)
	if err == nil && len(tasks) == 0 {
		time.Sleep(s.delay)
	}
	return tasks, err
}

func napper(ctx workflow.Context, d time.Duration) (string, error) {
	if err := workflow.Sleep(ctx, d); err != nil {
		return "", err
	}
	return "rested", nil
}

// A timer that comes due while a claim that found nothing is still
// running fires when that claim ends, not a whole poll interval later:
// the claim loop asks for the next wake-up after the claim's time, which
// includes the timer, rather than after the time it asks, which would
// skip it (and nothing else is scheduled).
func TestTimerDueDuringAnEmptyClaim(t *testing.T) {
	for _, kind := range []string{"memory", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			const poll = 2 * time.Second
			e := newEnv(t, kind, nil)
			e.stop()
			e.st = &slowEmptyClaims{Store: e.st, delay: 100 * time.Millisecond}
			e.opts.PollInterval = poll
			e.start(func(w *worker.Worker) { mustReg(worker.RegisterWorkflow(w, napper)) })
			c, ctx := e.c, e.ctx

			// Let the loop's first claim (of nothing) end: the loop then
			// sleeps until the start below wakes it.
			time.Sleep(300 * time.Millisecond)
			began := time.Now()
			id, err := c.StartWorkflow(ctx, napper, 20*time.Millisecond, perdure.StartOptions{})
			must(t, err)
			out, err := perdure.GetResult[string](ctx, c, id)
			must(t, err)
			took := time.Since(began)
			if out != "rested" {
				t.Fatalf("result %q", out)
			}
			// The start wakes the loop, whose claim finds nothing (the
			// timer is due 20 ms in) and ends 100 ms in; the next poll
			// would be 2 s later.
			if took >= poll/2 {
				t.Fatalf("the workflow took %v: its timer waited for the poll interval (%v)", took, poll)
			}
		})
	}
}
