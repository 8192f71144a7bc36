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

// countingStore counts the RunGet calls made with a context that
// countedKey marks.
type countingStore struct {
	store.Store
	runGets atomic.Int64
}

type countedKey struct{}

func (s *countingStore) RunGet(ctx context.Context, instanceID, runID string) (*store.Run, error) {
	if ctx.Value(countedKey{}) != nil {
		s.runGets.Add(1)
	}
	return s.Store.RunGet(ctx, instanceID, runID)
}

func awaitAdd(ctx workflow.Context, n int) (int, error) {
	m, err := workflow.WaitEvent[int](ctx, "add").Get(ctx)
	return n + m, err
}

// A caller waiting for a result is handed the run its finishing commit
// left (the SQLite store says what that is). A wait that reads the run
// when it begins, as it does for an instance that this client did not
// start, does not read it again once the run has finished. (A wait on an
// instance started on this client reads nothing: internal/engine's
// TestWaitOnInstanceStartedHere.)
func TestResultNotReadAgain(t *testing.T) {
	register := func(w *worker.Worker) { mustReg(worker.RegisterWorkflow(w, awaitAdd)) }
	e := newEnv(t, "sqlite", register)
	id, err := e.c.StartWorkflow(e.ctx, awaitAdd, 41, perdure.StartOptions{})
	must(t, err)
	// A new client on the same store: the instance was started before it.
	e.stop()
	st := &countingStore{Store: e.st}
	e.st = st
	e.start(register)
	c, ctx := e.c, e.ctx

	type result struct {
		out int
		err error
	}
	got := make(chan result, 1)
	go func() {
		out, err := perdure.GetResult[int](context.WithValue(ctx, countedKey{}, true), c, id)
		got <- result{out, err}
	}()
	for st.runGets.Load() == 0 { // the wait has read the run once
		select {
		case <-ctx.Done():
			t.Fatal("the wait never read the run")
		case <-time.After(time.Millisecond):
		}
	}
	must(t, c.RaiseEvent(ctx, id, "add", 1))
	r := <-got
	must(t, r.err)
	if r.out != 42 {
		t.Fatalf("result %d, want 42", r.out)
	}
	if n := st.runGets.Load(); n != 1 {
		t.Fatalf("the wait read the run %d times, want 1", n)
	}
}
