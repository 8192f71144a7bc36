package perdure_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/store/sqlitestore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

func addOne(_ context.Context, n int) (int, error) { return n + 1, nil }

// Chain3 runs three chained activities that each add one.
func Chain3(ctx workflow.Context, n int) (int, error) {
	for range 3 {
		var err error
		if n, err = workflow.ExecuteActivity(ctx, addOne, n).Get(ctx); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// BenchmarkChain3 starts b.N workflows of three chained activities at once
// and waits for all of them: one op is one whole workflow, durable on the
// SQLite file (synchronous=FULL).
func BenchmarkChain3(b *testing.B) {
	for _, kind := range []string{"sqlite", "memory"} {
		b.Run(kind, func(b *testing.B) {
			c := chain3Node(b, kind)
			ctx := context.Background()
			b.ResetTimer()
			var wg sync.WaitGroup
			errs := make(chan error, b.N)
			for i := range b.N {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id, err := c.StartWorkflow(ctx, Chain3, i, perdure.StartOptions{InstanceID: fmt.Sprintf("b-%d", i)})
					if err == nil {
						var out int
						out, err = perdure.GetResult[int](ctx, c, id)
						if err == nil && out != i+3 {
							err = fmt.Errorf("chain3(%d) = %d", i, out)
						}
					}
					if err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "workflows/s")
		})
	}
}

// chain3Node starts a client and a worker serving Chain3 on a store of the
// given kind ("sqlite": a file with durable commits, or "memory").
func chain3Node(b *testing.B, kind string) *perdure.Client {
	var st store.Store = memstore.New()
	if kind == "sqlite" {
		var err error
		if st, err = sqlitestore.Open(filepath.Join(b.TempDir(), "bench.db"), sqlitestore.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() { st.Close() })
	c, err := perdure.NewClient(perdure.Options{Store: st, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	w := worker.New(c, worker.Options{MaxConcurrentWorkflowTasks: 64, MaxConcurrentActivities: 256})
	if err := worker.RegisterWorkflow(w, Chain3); err != nil {
		b.Fatal(err)
	}
	if err := worker.RegisterActivity(w, addOne); err != nil {
		b.Fatal(err)
	}
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Stop() })
	return c
}

// BenchmarkChain3Sequential runs one chain3 workflow at a time: one op is
// start → result of one workflow, so ns/op is its latency.
func BenchmarkChain3Sequential(b *testing.B) {
	for _, kind := range []string{"sqlite", "memory"} {
		b.Run(kind, func(b *testing.B) {
			c := chain3Node(b, kind)
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				id, err := c.StartWorkflow(ctx, Chain3, i, perdure.StartOptions{InstanceID: fmt.Sprintf("s-%d", i)})
				if err != nil {
					b.Fatal(err)
				}
				if out, err := perdure.GetResult[int](ctx, c, id); err != nil || out != i+3 {
					b.Fatalf("chain3(%d) = %d, %v", i, out, err)
				}
			}
		})
	}
}
