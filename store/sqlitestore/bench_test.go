package sqlitestore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

// BenchmarkWorkflowTurn measures a whole one-activity workflow on the
// store: start, claim, commit scheduling the activity, claim and finish the
// activity, claim and commit the completion. Each step is its own durable
// transaction (6 fsyncs per iteration).
func BenchmarkWorkflowTurn(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	must := func(errs []error, err error) {
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range errs {
			if e != nil {
				b.Fatal(e)
			}
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprint("i", i)
		must(s.Apply(ctx, []store.Op{&store.RunCreateOp{
			Run:   store.Run{InstanceID: id, RunID: id, Name: "wf", Input: []byte(`{"n":1}`), CreatedAt: t0, UpdatedAt: t0},
			Start: store.Message{Type: "ExecutionStarted", VisibleAt: t0},
		}}))
		tasks, err := s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: t0, LeaseUntil: t0.Add(time.Minute)})
		if err != nil || len(tasks) != 1 {
			b.Fatal(err, len(tasks))
		}
		tk := tasks[0]
		must(s.Apply(ctx, []store.Op{&store.WorkflowTaskCommitOp{
			InstanceID: id, RunID: id, LeaseOwner: "w", HistoryLen: 0, Status: store.StatusRunning, UpdatedAt: t0,
			NewEvents:     []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: t0}, {ID: 2, Type: "TaskScheduled", Time: t0}},
			Consumed:      []int64{tk.Messages[0].ID},
			NewActivities: []*store.ActivityTask{{Seq: 2, Name: "a", State: store.ActivityReady, ScheduledAt: t0, VisibleAt: t0}},
		}}))
		acts, err := s.ActivityTaskClaim(ctx, &store.ActivityTaskClaimParams{Owner: "w", Max: 1, Now: t0, LeaseUntil: t0.Add(time.Minute)})
		if err != nil || len(acts) != 1 {
			b.Fatal(err, len(acts))
		}
		must(s.Apply(ctx, []store.Op{&store.ActivityTaskFinishOp{RunID: id, Seq: 2, Attempt: 1,
			Message: store.Message{Type: "TaskCompleted", VisibleAt: t0}}}))
		tasks, err = s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: t0, LeaseUntil: t0.Add(time.Minute)})
		if err != nil || len(tasks) != 1 || tasks[0].Run.RunID != id {
			b.Fatal(err, len(tasks))
		}
		must(s.Apply(ctx, []store.Op{&store.WorkflowTaskCommitOp{
			InstanceID: id, RunID: id, LeaseOwner: "w", HistoryLen: 2, Status: store.StatusCompleted, UpdatedAt: t0,
			NewEvents: []*store.Event{{ID: 3, Type: "TaskCompleted", Time: t0}, {ID: 4, Type: "ExecutionCompleted", Time: t0}},
			Consumed:  []int64{tasks[0].Messages[0].ID},
			Output:    []byte(`"ok"`),
		}}))
	}
}
