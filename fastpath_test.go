package perdure_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/store/sqlitestore"
	"github.com/perdure/perdure/worker"
)

// commits is the number of group commits the engine has made, from its
// perdure_commit_batch_ops histogram.
func commits(t *testing.T, reg *prometheus.Registry) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	must(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "perdure_commit_batch_ops" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatal("no perdure_commit_batch_ops metric")
	return 0
}

// A workflow of three chained activities, alone on the engine, takes four
// durable commits: the start with its first workflow task, then each
// activity result with the workflow task it wakes (fused dispatch), each
// commit also leasing the next activity to the worker (eager dispatch).
// Without the fast path it would take claims and twice as many commits.
func TestChainTakesFourCommits(t *testing.T) {
	for _, kind := range []string{"memory", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			var st store.Store = memstore.New()
			if kind == "sqlite" {
				var err error
				st, err = sqlitestore.Open(filepath.Join(t.TempDir(), "p.db"), sqlitestore.Options{})
				must(t, err)
			}
			defer st.Close()
			reg := prometheus.NewRegistry()
			c, err := perdure.NewClient(perdure.Options{Store: st, Metrics: reg, Logger: testLogger()})
			must(t, err)
			defer c.Close()
			w := worker.New(c, worker.Options{})
			must(t, worker.RegisterWorkflow(w, Chain3))
			must(t, worker.RegisterActivity(w, addOne))
			must(t, w.Start())
			defer w.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			before := commits(t, reg)
			id, err := c.StartWorkflow(ctx, Chain3, 1, perdure.StartOptions{})
			must(t, err)
			out, err := perdure.GetResult[int](ctx, c, id)
			must(t, err)
			if out != 4 {
				t.Fatalf("chain3(1) = %d", out)
			}
			if n := commits(t, reg) - before; n != 4 {
				t.Fatalf("%d commits for one chain of three activities, want 4", n)
			}
		})
	}
}
