package perdure_test

import (
	"context"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// A worker finds work that another client made ready without telling it
// (two engines on one store that does not notify) within its
// PollInterval, and not before.
func TestPollInterval(t *testing.T) {
	for _, tc := range []struct {
		poll      time.Duration
		completes bool
	}{{50 * time.Millisecond, true}, {time.Hour, false}} {
		t.Run(tc.poll.String(), func(t *testing.T) {
			st := memstore.New()
			starter, err := perdure.NewClient(perdure.Options{Store: st, Logger: testLogger()})
			must(t, err)
			defer starter.Close()
			runner, err := perdure.NewClient(perdure.Options{Store: st, Logger: testLogger(), PollInterval: tc.poll})
			must(t, err)
			defer runner.Close()
			w := worker.New(runner, worker.Options{})
			must(t, worker.RegisterWorkflowAs(w, "Twice", func(ctx workflow.Context, n int) (int, error) { return 2 * n, nil }))
			must(t, w.Start())
			defer w.Stop()
			// The runner's worker is idle (waiting for its poll) when the
			// start is written.
			time.Sleep(100 * time.Millisecond)
			ctx := context.Background()
			id, err := starter.StartWorkflow(ctx, "Twice", 21, perdure.StartOptions{})
			must(t, err)
			wctx, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
			defer cancel()
			inst, err := runner.WaitForCompletion(wctx, id)
			if !tc.completes {
				if err == nil {
					t.Fatalf("completed (%s) although nothing woke the worker and its poll interval is %s", inst.Status, tc.poll)
				}
				return
			}
			must(t, err)
			var out int
			if err := inst.DecodeOutput(&out); err != nil || out != 42 {
				t.Fatalf("output %s (%v), want 42", inst.Output, err)
			}
		})
	}
}
