package perdure_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/store/sqlitestore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
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

// countingStore counts RunGet calls.
type countingStore struct {
	store.Store
	runGets atomic.Int64
}

func (s *countingStore) RunGet(ctx context.Context, instanceID, runID string) (*store.Run, error) {
	s.runGets.Add(1)
	return s.Store.RunGet(ctx, instanceID, runID)
}

// releaseGate lets gated return; TestResultNotReadAgain makes it anew.
var releaseGate chan struct{}

func gated(ctx context.Context, n int) (int, error) {
	select {
	case <-releaseGate:
		return n + 1, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func gatedWorkflow(ctx workflow.Context, n int) (int, error) {
	return workflow.ExecuteActivity(ctx, gated, n).Get(ctx)
}

// A caller waiting for a result is handed the run its finishing commit
// left (the SQLite store says what that is): the wait reads the run once,
// when it begins, not again once the run has finished.
func TestResultNotReadAgain(t *testing.T) {
	releaseGate = make(chan struct{})
	e := newEnv(t, "sqlite", nil)
	e.stop()
	st := &countingStore{Store: e.st}
	e.st = st
	e.start(func(w *worker.Worker) {
		mustReg(worker.RegisterWorkflow(w, gatedWorkflow))
		mustReg(worker.RegisterActivity(w, gated))
	})
	c, ctx := e.c, e.ctx

	id, err := c.StartWorkflow(ctx, gatedWorkflow, 41, perdure.StartOptions{})
	must(t, err)
	before := st.runGets.Load()
	type result struct {
		out int
		err error
	}
	got := make(chan result, 1)
	go func() {
		out, err := perdure.GetResult[int](ctx, c, id)
		got <- result{out, err}
	}()
	for st.runGets.Load() == before { // the wait has read the run once
		select {
		case <-ctx.Done():
			t.Fatal("the wait never read the run")
		case <-time.After(time.Millisecond):
		}
	}
	close(releaseGate)
	r := <-got
	must(t, r.err)
	if r.out != 42 {
		t.Fatalf("result %d, want 42", r.out)
	}
	if n := st.runGets.Load() - before; n != 1 {
		t.Fatalf("the wait read the run %d times, want 1", n)
	}
}
