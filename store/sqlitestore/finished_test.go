package sqlitestore

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

// A commit that finishes a run hands back the run as RunGet reads it
// afterwards (WorkflowTaskCommitOp.Finished), whichever way it finishes:
// a claimed task's commit, an activity result fused with the task it
// wakes, a start fused with a task that finishes at once; completed or
// failed; with a custom status set by an earlier commit and left alone by
// the last.
func TestFinishedRunHandedBack(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "f.db"))
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Second)
	check := func(what string, c *store.WorkflowTaskCommitOp) {
		t.Helper()
		if c.Finished == nil {
			t.Fatalf("%s: no run handed back", what)
		}
		got, err := s.RunGet(ctx, c.InstanceID, "")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.Finished, got) {
			t.Fatalf("%s: handed back\n%+v\nRunGet\n%+v", what, *c.Finished, *got)
		}
	}

	// A start fused with a task that completes at once.
	now := &store.WorkflowTaskCommitOp{InstanceID: "a", RunID: "a", Status: store.StatusCompleted, UpdatedAt: t1,
		NewEvents: []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: t0}, {ID: 2, Type: "ExecutionCompleted", Time: t1}},
		Output:    []byte(`"done"`)}
	mustApply(t, s, &store.RunCreateOp{
		Run:   store.Run{InstanceID: "a", RunID: "a", Name: "wf", Input: []byte(`1`), CreatedAt: t0, UpdatedAt: t0},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: t0}, Then: now})
	check("fused start", now)

	// A custom status set by one commit, then a claimed task that fails.
	mustApply(t, s, startOp("b", []byte(`2`), t0))
	first := &store.WorkflowTaskCommitOp{InstanceID: "b", RunID: "b", HistoryLen: 2, Status: store.StatusRunning, UpdatedAt: t1,
		NewEvents:     []*store.Event{{ID: 3, Type: "TaskCompleted", Time: t1}, {ID: 4, Type: "TaskScheduled", Time: t1}},
		CustomStatus:  []byte(`"half way"`),
		NewActivities: []*store.ActivityTask{{Seq: 4, Name: "a", State: store.ActivityRunning, Attempt: 1, ScheduledAt: t1, VisibleAt: t1, StartedAt: t1, LeaseOwner: "w", LeaseUntil: t1.Add(time.Minute)}}}
	mustApply(t, s, &store.ActivityTaskFinishOp{RunID: "b", Seq: 2, Attempt: 1, Now: t1,
		Message: store.Message{Type: "TaskCompleted", VisibleAt: t1}, Then: first})
	if first.Finished != nil {
		t.Fatal("a commit that does not finish the run handed one back")
	}
	mustApply(t, s, &store.ActivityTaskFinishOp{RunID: "b", Seq: 4, Attempt: 1, Now: t1,
		Message: store.Message{Type: "TaskCompleted", VisibleAt: t1}})
	tasks, err := s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: t1, LeaseUntil: t1.Add(time.Minute)})
	if err != nil || len(tasks) != 1 {
		t.Fatal(err, len(tasks))
	}
	failed := &store.WorkflowTaskCommitOp{InstanceID: "b", RunID: "b", LeaseOwner: "w", HistoryLen: 4, Status: store.StatusFailed, UpdatedAt: t1.Add(time.Second),
		NewEvents: []*store.Event{{ID: 5, Type: "TaskCompleted", Time: t1}, {ID: 6, Type: "ExecutionFailed", Time: t1}},
		Consumed:  []int64{tasks[0].Messages[0].ID},
		Failure:   []byte(`{"message":"no"}`)}
	mustApply(t, s, failed)
	check("claimed task that fails", failed)

	// An activity result fused with the task that completes the run.
	mustApply(t, s, startOp("c", []byte(`3`), t0))
	last := &store.WorkflowTaskCommitOp{InstanceID: "c", RunID: "c", HistoryLen: 2, Status: store.StatusCompleted, UpdatedAt: t1,
		NewEvents: []*store.Event{{ID: 3, Type: "TaskCompleted", Time: t1}, {ID: 4, Type: "ExecutionCompleted", Time: t1}},
		Output:    []byte(`4`)}
	mustApply(t, s, &store.ActivityTaskFinishOp{RunID: "c", Seq: 2, Attempt: 1, Now: t1,
		Message: store.Message{Type: "TaskCompleted", VisibleAt: t1}, Then: last})
	check("fused result", last)
}

// The bulk statements hand back finished runs too: results fused with the
// tasks that complete their runs, applied together.
func TestFinishedRunHandedBackInBulk(t *testing.T) {
	f := newBulkFixture(t)
	ids := []string{"r1", "r2", "r3", "r4"}
	var ops []store.Op
	for i, id := range ids {
		f.start(id)
		ops = append(ops, f.finish(id, i%2 == 0))
	}
	bulked := f.s.bulked.Load()
	f.ok(ops...)
	if n := f.s.bulked.Load() - bulked; n != int64(len(ops)) {
		t.Fatalf("bulkApply applied %d ops, want %d", n, len(ops))
	}
	for i, op := range ops {
		c := op.(*store.ActivityTaskFinishOp).Then
		if i%2 == 1 {
			if c.Finished != nil {
				t.Fatalf("%s: a commit that does not finish the run handed one back", c.RunID)
			}
			continue
		}
		if c.Finished == nil {
			t.Fatalf("%s: no run handed back", c.RunID)
		}
		got, err := f.s.RunGet(f.ctx, c.InstanceID, "")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.Finished, got) {
			t.Fatalf("%s: handed back\n%+v\nRunGet\n%+v", c.RunID, *c.Finished, *got)
		}
	}
}
