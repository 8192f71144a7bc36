package perdure_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/pgtest"
	"github.com/perdure/perdure/store/pgstore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// Two nodes on one PostgreSQL database share the work: a fan-out started on
// one node, wider than that node's activity slots, has activities run by
// the other node too, which the first node's commit wakes through the
// database (NOTIFY), and completes with the right result.
func TestNodesShareWork(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	ranOn := map[string]int{}
	const items = 24
	newNode := func(name string) *perdure.Client {
		st, err := pgstore.Open(ctx, dsn, pgstore.Options{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		c, err := perdure.NewClient(perdure.Options{Store: st, Logger: testLogger(), LeaseDuration: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		w := worker.New(c, worker.Options{MaxConcurrentActivities: 2})
		must(t, worker.RegisterActivityAs(w, "Square", func(ctx context.Context, x int) (int, error) {
			mu.Lock()
			ranOn[name]++
			mu.Unlock()
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
			return x * x, nil
		}))
		must(t, worker.RegisterWorkflowAs(w, "SumOfSquares", func(ctx workflow.Context, n int) (int, error) {
			xs := make([]int, n)
			for i := range xs {
				xs[i] = i + 1
			}
			squares, err := workflow.FanOut(ctx, xs, 0, func(ctx workflow.Context, x int) (int, error) {
				return workflow.ExecuteActivityByName[int](ctx, "Square", x).Get(ctx)
			})
			sum := 0
			for _, s := range squares {
				sum += s
			}
			return sum, err
		}))
		must(t, w.Start())
		t.Cleanup(func() { _ = w.Stop(); _ = c.Close(); _ = st.Close() })
		return c
	}
	a := newNode("a")
	newNode("b")

	id, err := a.StartWorkflow(ctx, "SumOfSquares", items, perdure.StartOptions{InstanceID: "share-1"})
	must(t, err)
	inst, err := a.WaitForCompletion(ctx, id)
	must(t, err)
	var sum int
	if err := inst.DecodeOutput(&sum); err != nil || inst.Status != perdure.StatusCompleted || sum != items*(items+1)*(2*items+1)/6 {
		t.Fatalf("status %s, output %s (%v), want the sum of the first %d squares", inst.Status, inst.Output, err, items)
	}
	mu.Lock()
	defer mu.Unlock()
	if ranOn["a"]+ranOn["b"] != items || ranOn["b"] == 0 {
		t.Fatalf("activities ran %d times on node a and %d on node b; want %d in all, some on b", ranOn["a"], ranOn["b"], items)
	}
	t.Logf("activities: %d on node a, %d on node b", ranOn["a"], ranOn["b"])
}
