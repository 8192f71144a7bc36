package perdure_test

import (
	"context"
	"fmt"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

func Step1(_ context.Context, n int) (int, error) { return n + 1, nil }
func Step2(_ context.Context, n int) (int, error) { return n * 2, nil }
func Step3(_ context.Context, n int) (int, error) { return n ^ 2, nil }

// TaskChainWorkflow runs three activities in a row; each result is durable
// once recorded, so a crash resumes after the last completed step.
func TaskChainWorkflow(ctx workflow.Context, n int) ([]int, error) {
	r1, err := workflow.ExecuteActivity(ctx, Step1, n).Get(ctx)
	if err != nil {
		return nil, err
	}
	r2, err := workflow.ExecuteActivity(ctx, Step2, r1).Get(ctx)
	if err != nil {
		return nil, err
	}
	r3, err := workflow.ExecuteActivity(ctx, Step3, r2).Get(ctx)
	if err != nil {
		return nil, err
	}
	return []int{r1, r2, r3}, nil
}

func Example() {
	ctx := context.Background()
	st := memstore.New() // or sqlitestore.Open("app.db", sqlitestore.Options{})
	defer st.Close()
	c, err := perdure.NewClient(perdure.Options{Store: st})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	w := worker.New(c, worker.Options{})
	_ = worker.RegisterWorkflow(w, TaskChainWorkflow)
	_ = worker.RegisterActivity(w, Step1)
	_ = worker.RegisterActivity(w, Step2)
	_ = worker.RegisterActivity(w, Step3)
	if err := w.Start(); err != nil {
		panic(err)
	}
	defer w.Stop()

	id, err := c.StartWorkflow(ctx, TaskChainWorkflow, 1, perdure.StartOptions{InstanceID: "chain-1"})
	if err != nil {
		panic(err)
	}
	out, err := perdure.GetResult[[]int](ctx, c, id)
	fmt.Println(out, err)
	// Output: [2 4 6] <nil>
}
