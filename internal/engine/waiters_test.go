package engine

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/store/sqlitestore"
)

// memEngine is an engine on a memory store, both closed when t ends.
func memEngine(t *testing.T) *Engine {
	t.Helper()
	return storeEngine(t, memstore.New())
}

// storeEngine is an engine on st; both are closed when the test ends.
func storeEngine(t *testing.T, st store.Store) *Engine {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	e, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// WaitForCompletion leaves nothing behind for instances that do not finish
// in this process: missing ones, and waits that give up.
func TestWaitForCompletionLeavesNoWaiters(t *testing.T) {
	e := memEngine(t)
	ctx := context.Background()
	if _, err := e.WaitForCompletion(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing instance: %v", err)
	}
	if _, _, err := e.Start(ctx, StartRequest{InstanceID: "waits", Name: "W"}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := e.WaitForCompletion(short, "waits"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait that gives up: %v", err)
	}
	e.mu.Lock()
	n := len(e.waiters)
	e.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d waiters left behind", n)
	}
}

// sharedStore is a store that says another process may write it.
type sharedStore struct{ store.Store }

func (sharedStore) Exclusive() bool { return false }

// runGetCounter counts RunGet calls.
type runGetCounter struct {
	store.Store
	n atomic.Int64
}

func (s *runGetCounter) RunGet(ctx context.Context, instanceID, runID string) (*store.Run, error) {
	s.n.Add(1)
	return s.Store.RunGet(ctx, instanceID, runID)
}

// finish claims the workflow task of instance id and commits it completed
// with output out.
func finish(t *testing.T, e *Engine, id string, out []byte) {
	t.Helper()
	now := e.Now()
	tasks, err := e.st.WorkflowTaskClaim(context.Background(), &store.WorkflowTaskClaimParams{Owner: "o", Max: 1, Now: now, LeaseUntil: now.Add(time.Minute)})
	if err != nil || len(tasks) != 1 || tasks[0].Run.InstanceID != id {
		t.Fatalf("claim: %v, %d tasks", err, len(tasks))
	}
	tk := tasks[0]
	err = e.apply1(&store.WorkflowTaskCommitOp{InstanceID: id, RunID: tk.Run.RunID, LeaseOwner: "o", HistoryLen: tk.Run.HistoryLen,
		Status: store.StatusCompleted, Output: out, UpdatedAt: now, Consumed: []int64{tk.Messages[0].ID},
		NewEvents: []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: now}, {ID: 2, Type: "ExecutionCompleted", Time: now}}})
	if err != nil {
		t.Fatal(err)
	}
}

// On an exclusive store every run finishes in the engine's commits, which
// wake its waiters: a wait on an instance that this engine started does
// not read the store first, and the finishing commit hands it the run. A
// wait that begins after the run finished reads it, and so does every wait
// on a shared store, where another node may finish the run.
func TestWaitOnInstanceStartedHere(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared=%v", shared), func(t *testing.T) {
			sq, err := sqlitestore.Open(filepath.Join(t.TempDir(), "w.db"), sqlitestore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer sq.Close()
			var base store.Store = sq
			if shared {
				base = sharedStore{sq}
			}
			st := &runGetCounter{Store: base}
			e, err := New(Config{Store: st})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, _, err := e.Start(ctx, StartRequest{InstanceID: "x", Name: "W"}); err != nil {
				t.Fatal(err)
			}
			type result struct {
				run *store.Run
				err error
			}
			got := make(chan result, 1)
			go func() {
				run, err := e.WaitForCompletion(ctx, "x")
				got <- result{run, err}
			}()
			for registered := false; !registered; {
				e.mu.Lock()
				_, registered = e.waiters["x"]
				e.mu.Unlock()
				time.Sleep(time.Millisecond)
			}
			finish(t, e, "x", []byte(`42`))
			r := <-got
			if r.err != nil || r.run.Status != store.StatusCompleted || string(r.run.Output) != "42" {
				t.Fatalf("wait: %v, %+v", r.err, r.run)
			}
			reads := st.n.Load()
			if want := map[bool]int64{false: 0, true: 1}[shared]; reads != want {
				t.Fatalf("the wait read the run %d times, want %d", reads, want)
			}
			e.mu.Lock()
			left := len(e.inflight)
			e.mu.Unlock()
			if left != 0 {
				t.Fatalf("%d instances left in flight after the run finished", left)
			}
			// After the finish, a wait reads the run and returns at once.
			run, err := e.WaitForCompletion(ctx, "x")
			if err != nil || run.Status != store.StatusCompleted {
				t.Fatalf("wait after the finish: %v, %+v", err, run)
			}
			if n := st.n.Load() - reads; n != 1 {
				t.Fatalf("the wait after the finish read the run %d times, want 1", n)
			}
		})
	}
}
