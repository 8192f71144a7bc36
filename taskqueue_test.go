package perdure_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// queueWhere is an activity registered by every worker of the test under
// one name; each answers with the queue it serves.
func queueWhere(queue string) func(context.Context, string) (string, error) {
	return func(_ context.Context, in string) (string, error) { return in + "@" + queue, nil }
}

func queueChild(ctx workflow.Context, in string) (string, error) {
	return workflow.ExecuteActivityByName[string](ctx, "Where", in+"/child").Get(ctx)
}

func queueRouting(ctx workflow.Context, in string) ([]string, error) {
	own, err := workflow.ExecuteActivityByName[string](ctx, "Where", in).Get(ctx)
	if err != nil {
		return nil, err
	}
	gctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: "gpu"})
	gpu, err := workflow.ExecuteActivityByName[string](gctx, "Where", in).Get(ctx)
	if err != nil {
		return nil, err
	}
	child, err := workflow.ExecuteChildWorkflow(ctx, queueChild, in).Get(ctx)
	if err != nil {
		return nil, err
	}
	return []string{own, gpu, child}, nil
}

// Workflows and activities go to the workers of their task queue: a run
// to those of the queue it was started on, an activity to its
// ActivityOptions.TaskQueue or else its workflow's queue, a child to its
// parent's queue; a start on a queue no worker serves waits.
func TestTaskQueueRouting(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, nil)
		var workers []*worker.Worker
		for _, q := range []string{"", "gpu", "eu"} {
			w := worker.New(e.c, worker.Options{TaskQueue: q})
			must(t, worker.RegisterWorkflowAs(w, "QueueRouting", queueRouting))
			must(t, worker.RegisterWorkflow(w, queueChild))
			must(t, worker.RegisterActivityAs(w, "Where", queueWhere(q)))
			must(t, w.Start())
			workers = append(workers, w)
		}
		t.Cleanup(func() {
			for _, w := range workers {
				_ = w.Stop()
			}
		})
		for _, c := range []struct{ queue, want string }{
			{"", "[a@ a@gpu a/child@]"},
			{"eu", "[a@eu a@gpu a/child@eu]"},
		} {
			id, err := e.c.StartWorkflow(e.ctx, "QueueRouting", "a", perdure.StartOptions{TaskQueue: c.queue})
			must(t, err)
			got, err := perdure.GetResult[[]string](e.ctx, e.c, id)
			must(t, err)
			if fmt.Sprint(got) != c.want {
				t.Errorf("started on queue %q: got %v, want %s", c.queue, got, c.want)
			}
		}
		id, err := e.c.StartWorkflow(e.ctx, "QueueRouting", "a", perdure.StartOptions{TaskQueue: "nobody"})
		must(t, err)
		time.Sleep(300 * time.Millisecond)
		inst, err := e.c.GetInstance(e.ctx, id)
		must(t, err)
		if inst.Status != perdure.StatusPending {
			t.Errorf("a start on a queue no worker serves: status %s, want PENDING", inst.Status)
		}
	})
}
