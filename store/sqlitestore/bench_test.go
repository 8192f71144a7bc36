package sqlitestore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

// openBench opens a store in a fresh directory, closed when b ends.
func openBench(b *testing.B) *Store {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchTask is activity task seq as a fused step leases it at t0.
func benchTask(t0 time.Time, seq int64) *store.ActivityTask {
	return &store.ActivityTask{Seq: seq, Name: "AddOne", Input: []byte(`41`), Options: []byte(`{}`), State: store.ActivityRunning,
		Attempt: 1, ScheduledAt: t0, VisibleAt: t0, StartedAt: t0, LeaseOwner: "w", LeaseUntil: t0.Add(time.Minute)}
}

// BenchmarkWorkflowTurn measures a whole one-activity workflow on the
// store: start, claim, commit scheduling the activity, claim and finish the
// activity, claim and commit the completion. Each step is its own durable
// transaction (6 fsyncs per iteration).
func BenchmarkWorkflowTurn(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprint("i", i)
		mustApply(b, s, &store.RunCreateOp{
			Run:   store.Run{InstanceID: id, RunID: id, Name: "wf", Input: []byte(`{"n":1}`), CreatedAt: t0, UpdatedAt: t0},
			Start: store.Message{Type: "ExecutionStarted", VisibleAt: t0},
		})
		tasks, err := s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: t0, LeaseUntil: t0.Add(time.Minute)})
		if err != nil || len(tasks) != 1 {
			b.Fatal(err, len(tasks))
		}
		tk := tasks[0]
		mustApply(b, s, &store.WorkflowTaskCommitOp{
			InstanceID: id, RunID: id, LeaseOwner: "w", HistoryLen: 0, Status: store.StatusRunning, UpdatedAt: t0,
			NewEvents:     []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: t0}, {ID: 2, Type: "TaskScheduled", Time: t0}},
			Consumed:      []int64{tk.Messages[0].ID},
			NewActivities: []*store.ActivityTask{{Seq: 2, Name: "a", State: store.ActivityReady, ScheduledAt: t0, VisibleAt: t0}},
		})
		acts, err := s.ActivityTaskClaim(ctx, &store.ActivityTaskClaimParams{Owner: "w", Max: 1, Now: t0, LeaseUntil: t0.Add(time.Minute)})
		if err != nil || len(acts) != 1 {
			b.Fatal(err, len(acts))
		}
		mustApply(b, s, &store.ActivityTaskFinishOp{RunID: id, Seq: 2, Attempt: 1,
			Message: store.Message{Type: "TaskCompleted", VisibleAt: t0}})
		tasks, err = s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: t0, LeaseUntil: t0.Add(time.Minute)})
		if err != nil || len(tasks) != 1 || tasks[0].Run.RunID != id {
			b.Fatal(err, len(tasks))
		}
		mustApply(b, s, &store.WorkflowTaskCommitOp{
			InstanceID: id, RunID: id, LeaseOwner: "w", HistoryLen: 2, Status: store.StatusCompleted, UpdatedAt: t0,
			NewEvents: []*store.Event{{ID: 3, Type: "TaskCompleted", Time: t0}, {ID: 4, Type: "ExecutionCompleted", Time: t0}},
			Consumed:  []int64{tasks[0].Messages[0].ID},
			Output:    []byte(`"ok"`),
		})
	}
}

// BenchmarkFusedStep measures the write of one chain step as the engine
// makes it under load: an activity result and the workflow task it wakes
// (which schedules the next activity, leased at once), in batches of 32
// ops per durable transaction. One op is one step.
func BenchmarkFusedStep(b *testing.B) {
	s := openBench(b)
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const runs, batch = 256, 32
	running := func(seq int64) *store.ActivityTask { return benchTask(t0, seq) }
	seqs := make([]int64, runs)
	for i := range runs {
		id := fmt.Sprint("r", i)
		then := &store.WorkflowTaskCommitOp{InstanceID: id, RunID: id, Status: store.StatusRunning, UpdatedAt: t0,
			NewEvents:     []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: t0, Data: []byte(`{"input":1}`)}, {ID: 2, Type: "TaskScheduled", Time: t0, Data: []byte(`{"name":"AddOne"}`)}},
			NewActivities: []*store.ActivityTask{running(2)}, Waiting: []byte(`[{"kind":"activity","step":2}]`)}
		errs, err := s.Apply(ctx, []store.Op{&store.RunCreateOp{
			Run:   store.Run{InstanceID: id, RunID: id, Name: "wf", Input: []byte(`1`), CreatedAt: t0, UpdatedAt: t0},
			Start: store.Message{Type: "ExecutionStarted", VisibleAt: t0}, Then: then}})
		if err != nil || errs[0] != nil {
			b.Fatal(err, errs)
		}
		seqs[i] = 2
	}
	b.ResetTimer()
	for n := 0; n < b.N; n += batch {
		ops := make([]store.Op, 0, batch)
		for j := 0; j < batch && n+j < b.N; j++ {
			i := (n + j) % runs
			id := fmt.Sprint("r", i)
			seq := seqs[i]
			then := &store.WorkflowTaskCommitOp{InstanceID: id, RunID: id, HistoryLen: seq, Status: store.StatusRunning, UpdatedAt: t0,
				NewEvents: []*store.Event{{ID: seq + 1, Type: "TaskCompleted", Time: t0, Data: []byte(`{"result":42}`)},
					{ID: seq + 2, Type: "TaskScheduled", Time: t0, Data: []byte(`{"name":"AddOne"}`)}},
				NewActivities: []*store.ActivityTask{running(seq + 2)}, Waiting: []byte(`[{"kind":"activity","step":3}]`)}
			ops = append(ops, &store.ActivityTaskFinishOp{RunID: id, Seq: seq, Attempt: 1, Now: t0,
				Message: store.Message{Type: "TaskCompleted", VisibleAt: t0, Data: []byte(`{"result":42}`)}, Then: then})
			seqs[i] = seq + 2
		}
		errs, err := s.Apply(ctx, ops)
		if err != nil {
			b.Fatal(err)
		}
		for k, e := range errs {
			if e != nil || !ops[k].(*store.ActivityTaskFinishOp).ThenApplied {
				b.Fatal(e, "not fused")
			}
		}
	}
}

// BenchmarkChainBurst measures the writes of chain3 workflows as a burst
// makes them: batches of 32 starts with their first workflow task fused,
// then, for each of the three activities, batches of 32 results with the
// workflow task each wakes (the third completes the run). One op is one
// workflow.
func BenchmarkChainBurst(b *testing.B) {
	s := openBench(b)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const batch = 32
	running := func(seq int64) *store.ActivityTask { return benchTask(t0, seq) }
	apply := func(ops []store.Op) { mustApply(b, s, ops...) }
	b.ResetTimer()
	for n := 0; n < b.N; n += batch {
		k := min(batch, b.N-n)
		ids := make([]string, k)
		ops := make([]store.Op, 0, k)
		for j := range ids {
			id := fmt.Sprint("r", n+j)
			ids[j] = id
			then := &store.WorkflowTaskCommitOp{InstanceID: id, RunID: id, Status: store.StatusRunning, UpdatedAt: t0,
				NewEvents:     []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: t0, Data: []byte(`{"input":1}`)}, {ID: 2, Type: "TaskScheduled", Time: t0, Data: []byte(`{"name":"AddOne"}`)}},
				NewActivities: []*store.ActivityTask{running(2)}, Waiting: []byte(`[{"kind":"activity","step":2}]`)}
			ops = append(ops, &store.RunCreateOp{
				Run:   store.Run{InstanceID: id, RunID: id, Name: "wf", Input: []byte(`1`), CreatedAt: t0, UpdatedAt: t0},
				Start: store.Message{Type: "ExecutionStarted", VisibleAt: t0}, Then: then})
		}
		apply(ops)
		for step := int64(0); step < 3; step++ {
			seq := 2 + 2*step
			ops = ops[:0]
			for _, id := range ids {
				then := &store.WorkflowTaskCommitOp{InstanceID: id, RunID: id, HistoryLen: seq, UpdatedAt: t0,
					NewEvents: []*store.Event{{ID: seq + 1, Type: "TaskCompleted", Time: t0, Data: []byte(`{"result":42}`)}}}
				if step < 2 {
					then.Status, then.Waiting = store.StatusRunning, []byte(`[{"kind":"activity","step":3}]`)
					then.NewEvents = append(then.NewEvents, &store.Event{ID: seq + 2, Type: "TaskScheduled", Time: t0, Data: []byte(`{"name":"AddOne"}`)})
					then.NewActivities = []*store.ActivityTask{running(seq + 2)}
				} else {
					then.Status, then.Output = store.StatusCompleted, []byte(`4`)
					then.NewEvents = append(then.NewEvents, &store.Event{ID: seq + 2, Type: "ExecutionCompleted", Time: t0, Data: []byte(`{"result":4}`)})
				}
				ops = append(ops, &store.ActivityTaskFinishOp{RunID: id, Seq: seq, Attempt: 1, Now: t0,
					Message: store.Message{Type: "TaskCompleted", VisibleAt: t0, Data: []byte(`{"result":42}`)}, Then: then})
			}
			apply(ops)
			for _, op := range ops {
				if f := op.(*store.ActivityTaskFinishOp); !f.ThenApplied || (step == 2) != (f.Then.Finished != nil) {
					b.Fatal("not fused, or not finished")
				}
			}
		}
	}
}
