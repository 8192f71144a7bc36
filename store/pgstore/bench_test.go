package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

// BenchmarkFusedStep measures the write of one chain step as the engine
// makes it under load: an activity result and the workflow task it wakes
// (which schedules the next activity, leased at once), in batches of 32
// ops per durable transaction. One op is one step. It needs
// PERDURE_TEST_POSTGRES, as the tests do.
func BenchmarkFusedStep(b *testing.B) {
	s := openSchema(b, testSchema(b), Options{MaxConns: 1})
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const runs, batch = 256, 32
	running := func(seq int64) *store.ActivityTask {
		return &store.ActivityTask{Seq: seq, Name: "AddOne", Input: []byte(`41`), Options: []byte(`{}`), State: store.ActivityRunning,
			Attempt: 1, ScheduledAt: t0, VisibleAt: t0, StartedAt: t0, LeaseOwner: "w", LeaseUntil: t0.Add(time.Minute)}
	}
	seqs := make([]int64, runs)
	var starts []store.Op
	for i := range runs {
		id := fmt.Sprint("r", i)
		then := &store.WorkflowTaskCommitOp{InstanceID: id, RunID: id, Status: store.StatusRunning, UpdatedAt: t0,
			NewEvents: []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: t0, Data: []byte(`{"input":1}`)},
				{ID: 2, Type: "TaskScheduled", Time: t0, Data: []byte(`{"name":"AddOne"}`)}},
			NewActivities: []*store.ActivityTask{running(2)}, Waiting: []byte(`[{"kind":"activity","step":2}]`)}
		starts = append(starts, &store.RunCreateOp{
			Run:   store.Run{InstanceID: id, RunID: id, Name: "wf", Input: []byte(`1`), CreatedAt: t0, UpdatedAt: t0},
			Start: store.Message{Type: "ExecutionStarted", VisibleAt: t0}, Then: then})
		seqs[i] = 2
	}
	mustApply(b, s, starts...)
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
