package sqlitestore

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

// kept returns run id's entry in the run cache, checked against the
// database: the row as loadRun reads it, and each kept task's fence as
// the task's row has it. The check is a write, so it empties the cache.
func (f *bulkFixture) kept(id string) *runEntry {
	f.t.Helper()
	f.s.wmu.Lock()
	e := f.s.runs[id]
	f.s.wmu.Unlock()
	if e == nil {
		return nil
	}
	err := f.s.write(f.ctx, func(w *wtx) error {
		r, err := w.loadRun(id)
		if err != nil {
			return err
		}
		if r == nil || !reflect.DeepEqual(e.row, *r) {
			f.t.Errorf("run %s: kept row\n%#v\nthe database has\n%#v", id, e.row, *r)
		}
		tasks, err := collect(w, "tasks", scanTask, `SELECT `+taskCols+` FROM activity_tasks WHERE run_id = ? ORDER BY seq`, id)
		if err != nil {
			return err
		}
		if len(e.tasks) != len(tasks) {
			f.t.Errorf("run %s: kept tasks %+v, the database has %d", id, e.tasks, len(tasks))
		}
		for _, t := range tasks {
			k, ok := w.cachedTask(id, t.Seq)
			if w.runs == nil {
				k, ok = findFence(e.tasks, t.Seq)
			}
			want := taskFence{t.Seq, string(t.State), t.Attempt, micros(t.Deadline)}
			if !ok || k != want {
				f.t.Errorf("run %s: task %d kept as %+v (%v), the database has %+v", id, t.Seq, k, ok, want)
			}
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

func findFence(fs []taskFence, seq int64) (taskFence, bool) {
	for _, f := range fs {
		if f.seq == seq {
			return f, true
		}
	}
	return taskFence{}, false
}

// cacheSize is the number of runs in the run cache.
func (f *bulkFixture) cacheSize() int {
	f.s.wmu.Lock()
	defer f.s.wmu.Unlock()
	return len(f.s.runs)
}

// TestRunCacheMatchesTheDatabase: a single-op start or activity result
// whose workflow task is fused keeps its run's row and tasks exactly as
// committed, and the next such op uses them.
func TestRunCacheMatchesTheDatabase(t *testing.T) {
	f := newBulkFixture(t)
	// Times that are not whole microseconds, and payloads of each kind.
	f.t0 = f.t0.Add(1234567 * time.Nanosecond).In(time.FixedZone("x", 3600))
	then := &store.WorkflowTaskCommitOp{InstanceID: "a", RunID: "a", Status: store.StatusRunning, UpdatedAt: f.t0,
		NewEvents:     []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: f.t0}, {ID: 2, Type: "TaskScheduled", Time: f.t0}},
		NewActivities: []*store.ActivityTask{f.running(2)}, Waiting: []byte(`[2]`), CustomStatus: []byte{}, SetCustom: true}
	then.NewActivities[0].Deadline = f.t0.Add(time.Hour)
	input := []byte(`{"n":1}`)
	f.ok(&store.RunCreateOp{Run: store.Run{InstanceID: "a", RunID: "a", Name: "wf", Input: input, CreatedAt: f.t0, UpdatedAt: f.t0},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: f.t0}, Then: then})
	input[0] = 'x' // the op's buffers are the caller's again
	if e := f.kept("a"); e == nil || len(e.tasks) != 1 || string(e.row.Input) != `{"n":1}` {
		t.Fatalf("after the start: kept %+v", e)
	}

	// Each step starts from the kept run (the check above emptied the
	// cache: step once to fill it again).
	f.start("b")
	f.ok(f.finish("a", false))
	if e := f.kept("a"); e == nil || e.row.HistoryLen != 4 || len(e.tasks) != 1 || e.tasks[0].seq != 4 {
		t.Fatalf("after a step: kept %+v", e)
	}
	f.start("c")
	f.start("d")
	if n := f.cacheSize(); n != 2 {
		t.Fatalf("two starts in a row keep %d runs, want 2", n)
	}
	done := f.finish("c", true)
	f.ok(done)
	if !done.ThenApplied || f.cacheSize() != 1 {
		t.Fatalf("a run that finishes leaves the cache: fused %v, %d runs kept, want 1", done.ThenApplied, f.cacheSize())
	}
	if e := f.kept("d"); e == nil {
		t.Fatal("the other run is no longer kept")
	}
	if r, err := f.s.RunGet(f.ctx, "", "c"); err != nil || r.Status != store.StatusCompleted || r.HistoryLen != 4 {
		t.Fatalf("run c: %+v, %v", r, err)
	}
}

// TestRunCacheEmptiedByOtherWrites: any other write empties the cache, so
// that no op starts from a row that changed under it.
func TestRunCacheEmptiedByOtherWrites(t *testing.T) {
	f := newBulkFixture(t)
	f.start("a")
	if f.cacheSize() != 1 {
		t.Fatal("the start kept nothing")
	}
	// A message to the run: its ready_at changes, so its next result
	// can no longer take the workflow task with it.
	f.ok(&store.MessageSendOp{InstanceID: "a", Message: store.Message{Type: "EventRaised", VisibleAt: f.t0}})
	if n := f.cacheSize(); n != 0 {
		t.Fatalf("after a message, %d runs kept", n)
	}
	op := f.finish("a", false)
	f.ok(op)
	if op.ThenApplied {
		t.Fatal("the result took the workflow task along although a message waits: it started from a stale row")
	}

	// A claim, a write of its own.
	f.start("b")
	if _, err := f.s.WorkflowTaskClaim(f.ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: f.t0, LeaseUntil: f.t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if n := f.cacheSize(); n != 0 {
		t.Fatalf("after a claim, %d runs kept", n)
	}

	// An op that fails.
	f.start("c")
	stale := f.finish("c", false)
	stale.Attempt = 7
	if errs := f.apply(stale); !errors.Is(errs[0], store.ErrStaleTask) {
		t.Fatalf("stale attempt: %v", errs[0])
	}
	if n := f.cacheSize(); n != 0 {
		t.Fatalf("after a failed op, %d runs kept", n)
	}

	// A batch of two ops that go through the bulk statements keeps their
	// runs; a batch with an op of another path keeps none.
	f.start("d")
	f.start("e")
	f.ok(f.finish("d", false), f.finish("e", false))
	if n := f.cacheSize(); n != 2 {
		t.Fatalf("after a batch of two bulk ops, %d runs kept, want 2", n)
	}
	f.afterStep("d", false)
	f.afterStep("e", false)
	f.start("h")
	f.start("i")
	f.ok(f.finish("h", false), f.finish("i", false), &store.MessageSendOp{InstanceID: "d", Message: store.Message{Type: "EventRaised", VisibleAt: f.t0}})
	if n := f.cacheSize(); n != 0 {
		t.Fatalf("after a batch with a message, %d runs kept", n)
	}

	// A step that starts a child: another run changed.
	f.start("g")
	child := f.finish("g", false)
	child.Then.NewRuns = []*store.RunCreateOp{{Run: store.Run{InstanceID: "g-child", RunID: "g-child", Name: "wf", CreatedAt: f.t0, UpdatedAt: f.t0},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: f.t0}}}
	f.ok(child)
	if n := f.cacheSize(); n != 0 {
		t.Fatalf("after a step that started a child, %d runs kept", n)
	}
}

// TestRunCacheSkipsLargeRows: a run whose payloads are large is not kept
// (the cache's memory stays bounded), and its steps still apply.
func TestRunCacheSkipsLargeRows(t *testing.T) {
	f := newBulkFixture(t)
	then := &store.WorkflowTaskCommitOp{InstanceID: "big", RunID: "big", Status: store.StatusRunning, UpdatedAt: f.t0,
		NewEvents:     []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: f.t0}, {ID: 2, Type: "TaskScheduled", Time: f.t0}},
		NewActivities: []*store.ActivityTask{f.running(2)}}
	f.ok(&store.RunCreateOp{Run: store.Run{InstanceID: "big", RunID: "big", Name: "wf", Input: make([]byte, runCachePayload+1), CreatedAt: f.t0, UpdatedAt: f.t0},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: f.t0}, Then: then})
	if n := f.cacheSize(); n != 0 {
		t.Fatalf("a run with %d bytes of input: %d runs kept", runCachePayload+1, n)
	}
	f.ok(f.finish("big", false))
	f.afterStep("big", false)
}

// TestFusedStartFallsBack: a start whose row cannot go in with its first
// task's outcome at once takes the path of the instance's current run:
// a finished one is replaced, and a task that fails its checks fails the
// op, writing nothing.
func TestFusedStartFallsBack(t *testing.T) {
	f := newBulkFixture(t)
	f.start("a")
	f.ok(f.finish("a", true))
	// Instance a again, with a new run id: its finished run stops being
	// current.
	then := &store.WorkflowTaskCommitOp{InstanceID: "a", RunID: "a2", Status: store.StatusRunning, UpdatedAt: f.t0,
		NewEvents:     []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: f.t0}, {ID: 2, Type: "TaskScheduled", Time: f.t0}},
		NewActivities: []*store.ActivityTask{f.running(2)}}
	again := &store.RunCreateOp{Run: store.Run{InstanceID: "a", RunID: "a2", Name: "wf", CreatedAt: f.t0, UpdatedAt: f.t0},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: f.t0}, Then: then}
	f.ok(again)
	if !again.Created || !again.ThenApplied || again.Result.Status != store.StatusPending {
		t.Fatalf("restart: created %v, fused %v, result %+v", again.Created, again.ThenApplied, again.Result)
	}
	cur, err := f.s.RunGet(f.ctx, "a", "")
	if err != nil || cur.RunID != "a2" || cur.Status != store.StatusRunning || cur.HistoryLen != 2 {
		t.Fatalf("current run of a: %+v, %v", cur, err)
	}
	if old, err := f.s.RunGet(f.ctx, "a", "a"); err != nil || old.Current || old.Status != store.StatusCompleted {
		t.Fatalf("first run of a: %+v, %v", old, err)
	}

	// A first task whose events are misnumbered.
	bad := &store.WorkflowTaskCommitOp{InstanceID: "b", RunID: "b", Status: store.StatusRunning, UpdatedAt: f.t0,
		NewEvents: []*store.Event{{ID: 2, Type: "ExecutionStarted", Time: f.t0}}}
	errs := f.apply(&store.RunCreateOp{Run: store.Run{InstanceID: "b", RunID: "b", Name: "wf", CreatedAt: f.t0, UpdatedAt: f.t0},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: f.t0}, Then: bad})
	if !errors.Is(errs[0], store.ErrLeaseLost) {
		t.Fatalf("misnumbered first task: %v, want ErrLeaseLost", errs[0])
	}
	if _, err := f.s.RunGet(f.ctx, "b", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("run b after the failed start: %v, want ErrNotFound", err)
	}
}

// TestRunCacheIsRead: the next single op on a kept run starts from the
// kept row and task, not from the database. Entries are altered here so
// that the outcome shows which was read.
func TestRunCacheIsRead(t *testing.T) {
	f := newBulkFixture(t)
	alter := func(id string, fn func(e *runEntry)) {
		f.s.wmu.Lock()
		defer f.s.wmu.Unlock()
		e := f.s.runs[id]
		if e == nil {
			t.Fatalf("run %s is not kept", id)
		}
		fn(e)
	}
	// A kept history length the workflow task does not start from: the
	// result goes in alone, its task not fused.
	f.start("a")
	alter("a", func(e *runEntry) { e.row.HistoryLen = 99 })
	op := f.finish("a", false)
	f.ok(op)
	if op.ThenApplied {
		t.Fatal("the result's workflow task was fused: the run's row was read from the database, not the cache")
	}
	// A kept attempt other than the result's: the result is stale.
	f.start("b")
	alter("b", func(e *runEntry) { e.tasks[0].attempt = 7 })
	if errs := f.apply(f.finish("b", false)); !errors.Is(errs[0], store.ErrStaleTask) {
		t.Fatalf("result against a kept attempt of 7: %v, want ErrStaleTask (the task was read from the database)", errs[0])
	}
}

// finishSecond is the fused result of task 4 of run id, after finish:
// the task it wakes completes the run.
func (f *bulkFixture) finishSecond(id string) *store.ActivityTaskFinishOp {
	then := &store.WorkflowTaskCommitOp{InstanceID: id, RunID: id, HistoryLen: 4, UpdatedAt: f.t0,
		Status: store.StatusCompleted, Output: []byte(`43`),
		NewEvents: []*store.Event{{ID: 5, Type: "TaskCompleted", Time: f.t0, Data: []byte(`43`)}, {ID: 6, Type: "ExecutionCompleted", Time: f.t0}}}
	return &store.ActivityTaskFinishOp{RunID: id, Seq: 4, Attempt: 1, Now: f.t0,
		Message: store.Message{Type: "TaskCompleted", VisibleAt: f.t0, Data: []byte(`43`)}, Then: then}
}

// TestBulkRunCacheMatchesTheDatabase: batches that go through the bulk
// statements keep their runs exactly as committed, and the next batch's
// activity results take their runs and tasks from the cache instead of
// reading them.
func TestBulkRunCacheMatchesTheDatabase(t *testing.T) {
	f := newBulkFixture(t)
	// Times that are not whole microseconds, in another zone.
	f.t0 = f.t0.Add(1234567 * time.Nanosecond).In(time.FixedZone("x", 3600))
	f.ok(f.fusedStart("a", "a"), f.fusedStart("b", "b", 2, 3))
	if n := f.cacheSize(); n != 2 {
		t.Fatalf("a batch of two starts keeps %d runs, want 2", n)
	}
	if e := f.kept("b"); e == nil || len(e.tasks) != 2 || e.row.HistoryLen != 2 || string(e.row.CustomStatus) != `"started"` {
		t.Fatalf("after the starts: kept %+v", e)
	}

	f.ok(f.fusedStart("c", "c"), f.fusedStart("d", "d"), f.fusedStart("e", "e"))
	reads := f.s.bulkReads.Load()
	f.ok(f.finish("c", false), f.finish("d", false), f.finish("e", false))
	if n := f.s.bulkReads.Load() - reads; n != 0 {
		t.Fatalf("the results read %d runs the cache held", n)
	}
	// Runs that finish leave the cache.
	ops := []store.Op{f.finishSecond("c"), f.finishSecond("d")}
	f.ok(ops...)
	if n := f.s.bulkReads.Load() - reads; n != 0 {
		t.Fatalf("the second results read %d runs the cache held", n)
	}
	if n := f.cacheSize(); n != 1 {
		t.Fatalf("after two of three runs finished, %d runs kept, want 1", n)
	}
	for _, op := range ops {
		r, err := f.s.RunGet(f.ctx, "", op.(*store.ActivityTaskFinishOp).RunID)
		if fin := op.(*store.ActivityTaskFinishOp).Then.Finished; err != nil || fin == nil || !reflect.DeepEqual(*fin, *r) {
			t.Fatalf("handed back %+v, stored %+v, %v", fin, r, err)
		}
	}
	if e := f.kept("e"); e == nil || e.row.HistoryLen != 4 || len(e.tasks) != 1 || e.tasks[0].seq != 4 {
		t.Fatalf("after a step: kept %+v", e)
	}
	f.afterStep("e", false)

	// The check emptied the cache: these results read their runs.
	f.start("g")
	reads = f.s.bulkReads.Load()
	f.ok(f.finishSecond("e"), f.finish("g", false))
	if n := f.s.bulkReads.Load() - reads; n != 1 {
		t.Fatalf("the results read %d runs, want 1 (the run the cache did not hold)", n)
	}
	if e := f.kept("g"); e == nil || e.row.HistoryLen != 4 {
		t.Fatalf("the run the cache held, after its step: kept %+v", e)
	}
}

// TestBulkApplyWithRunCacheMatchesOpByOp applies batches as a burst does
// (starts, then each step's results), once through the bulk statements
// and the run cache and once op by op: the outcomes and every row are the
// same, and the bulk results read nothing the cache held.
func TestBulkApplyWithRunCacheMatchesOpByOp(t *testing.T) {
	var results, dumps [2]string
	for k, noBulk := range []bool{false, true} {
		f := newBulkFixture(t)
		f.s.noBulk = noBulk
		var b strings.Builder
		batch := func(ops ...store.Op) {
			for i, err := range f.apply(ops...) {
				fmt.Fprintf(&b, "op %d: %v\n", i, err)
				switch op := ops[i].(type) {
				case *store.ActivityTaskFinishOp:
					fmt.Fprintf(&b, "  then applied %v, claimed %s, finished %+v\n", op.ThenApplied, describeTask(op.Then.Claimed), op.Then.Finished)
				case *store.RunCreateOp:
					fmt.Fprintf(&b, "  created %v, result %+v, then applied %v\n", op.Created, op.Result, op.ThenApplied)
				}
			}
		}
		ids := []string{"a", "b", "c", "d", "e"}
		var ops []store.Op
		for _, id := range ids {
			ops = append(ops, f.fusedStart(id, id))
		}
		batch(ops...)
		reads := f.s.bulkReads.Load()
		// A stale attempt and a result whose run got a message in
		// between fail or take the op's own path; the others go in bulk.
		stale := f.finish("b", false)
		stale.Attempt = 2
		batch(f.finish("a", false), stale, f.finish("c", false), f.finish("d", false))
		batch(&store.MessageSendOp{InstanceID: "c", Message: store.Message{Type: "EventRaised", VisibleAt: f.t0}})
		batch(f.finishSecond("a"), f.finishSecond("c"), f.finishSecond("d"), f.finish("e", false))
		if n := f.s.bulkReads.Load() - reads; !noBulk && n != 4 {
			// a, c and d in the second batch after the message emptied the
			// cache, and e.
			t.Errorf("bulk results read %d runs, want 4", n)
		}
		batch(f.finishSecond("e"), f.finish("b", false))
		results[k], dumps[k] = b.String(), f.dump()
	}
	sameBothWays(t, results, dumps)
}
