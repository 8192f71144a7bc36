package pgstore

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/perdure/perdure/store"
)

// tripCounter counts the round trips of a store's connections: a query, a
// pipeline of statements, or the preparation of a new statement is one.
type tripCounter struct{ n atomic.Int64 }

func (c *tripCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *tripCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *tripCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *tripCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *tripCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (c *tripCounter) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return ctx
}
func (c *tripCounter) TracePrepareEnd(_ context.Context, _ *pgx.Conn, d pgx.TracePrepareEndData) {
	if !d.AlreadyPrepared {
		c.n.Add(1)
	}
}

// TestRoundTrips pins down the round trips of the hot path, a workflow of
// activities run with fused and eager dispatch, and of the claims and
// commits of the general path: each is one round trip (a workflow task
// claim two), and so is a batch of them. The first pass prepares the statements; the second counts.
func TestRoundTrips(t *testing.T) {
	trips := &tripCounter{}
	s := openSchema(t, testSchema(t), Options{MaxConns: 1, tracer: trips})
	ctx := context.Background()
	pass := 0
	measure := func(what string, fn func()) {
		t.Helper()
		before := trips.n.Load()
		fn()
		if n := trips.n.Load() - before; pass == 1 {
			t.Logf("%-26s %d round trip(s)", what, n)
			want := int64(1)
			if what == "WorkflowTaskClaim" {
				want = 2 // the lease, then the messages
			}
			if n != want {
				t.Errorf("%s: %d round trips, want %d", what, n, want)
			}
		}
	}
	eager := func(now time.Time) *store.Eager {
		return &store.Eager{Owner: "w", Now: now, LeaseUntil: now.Add(time.Minute)}
	}
	running := func(seq int64, now time.Time) *store.ActivityTask {
		return &store.ActivityTask{Seq: seq, Name: "act", State: store.ActivityRunning, Attempt: 1, ScheduledAt: now, VisibleAt: now,
			StartedAt: now, LeaseOwner: "w", LeaseUntil: now.Add(time.Minute)}
	}
	event := func(id int64, typ string, now time.Time) *store.Event {
		return &store.Event{ID: id, Type: typ, Time: now}
	}
	for ; pass < 2; pass++ {
		inst := fmt.Sprintf("chain%d", pass)
		runID := inst + "~r1"
		now := base
		// Start and first task: the first activity leased at once.
		start := startOp(inst)
		start.Then = &store.WorkflowTaskCommitOp{InstanceID: inst, RunID: runID, Status: store.StatusRunning, UpdatedAt: now,
			NewEvents:     []*store.Event{event(1, "ExecutionStarted", now), event(2, "TaskScheduled", now)},
			NewActivities: []*store.ActivityTask{running(2, now)}}
		measure("RunCreate+Then", func() { mustApply(t, s, start) })
		if !start.ThenApplied {
			t.Fatal("the first task was not fused")
		}
		// Three results, each with the next task.
		hist := int64(2)
		for seq := int64(2); seq <= 4; seq++ {
			now = now.Add(time.Second)
			then := &store.WorkflowTaskCommitOp{InstanceID: inst, RunID: runID, HistoryLen: hist, UpdatedAt: now,
				NewEvents: []*store.Event{event(hist+1, "TaskCompleted", now)}}
			if seq < 4 {
				then.NewEvents = append(then.NewEvents, event(hist+2, "TaskScheduled", now))
				then.NewActivities = []*store.ActivityTask{running(seq+1, now)}
			} else {
				then.Status, then.Output = store.StatusCompleted, []byte(`"done"`)
			}
			finish := &store.ActivityTaskFinishOp{RunID: runID, Seq: seq, Attempt: 1, Now: now, Then: then,
				Message: store.Message{Type: "TaskCompleted", VisibleAt: now}}
			measure("ActivityTaskFinish+Then", func() { mustApply(t, s, finish) })
			if !finish.ThenApplied {
				t.Fatalf("result %d: the next task was not fused", seq)
			}
			hist += int64(len(then.NewEvents))
		}
		r, err := s.RunGet(ctx, inst, "")
		if err != nil || r.Status != store.StatusCompleted || r.HistoryLen != hist {
			t.Fatalf("after the chain: %+v, %v", r, err)
		}

		// The general path: a start, a claim, a commit that schedules an
		// activity, its claim, its result with an eager lease.
		inst = fmt.Sprintf("general%d", pass)
		runID = inst + "~r1"
		measure("RunCreate", func() { mustApply(t, s, startOp(inst)) })
		var tasks []*store.WorkflowTask
		measure("WorkflowTaskClaim", func() {
			tasks, err = s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 10, Now: now, LeaseUntil: now.Add(time.Minute)})
		})
		if err != nil || len(tasks) != 1 {
			t.Fatalf("claim: %d tasks, %v", len(tasks), err)
		}
		commit := commitAll(tasks[0], now)
		commit.NewEvents = append(commit.NewEvents, event(2, "TaskScheduled", now))
		commit.NewActivities = []*store.ActivityTask{{Seq: 2, Name: "act", State: store.ActivityReady, ScheduledAt: now, VisibleAt: now}}
		measure("WorkflowTaskCommit", func() { mustApply(t, s, commit) })
		var acts []*store.ClaimedActivity
		measure("ActivityTaskClaim", func() {
			acts, err = s.ActivityTaskClaim(ctx, &store.ActivityTaskClaimParams{Owner: "w", Max: 10, Now: now, LeaseUntil: now.Add(time.Minute)})
		})
		if err != nil || len(acts) != 1 {
			t.Fatalf("activity claim: %d tasks, %v", len(acts), err)
		}
		finish := &store.ActivityTaskFinishOp{RunID: runID, Seq: 2, Attempt: 1, Now: now, Eager: eager(now),
			Message: store.Message{Type: "TaskCompleted", VisibleAt: now}}
		measure("ActivityTaskFinish+Eager", func() { mustApply(t, s, finish) })
		if finish.Claimed == nil {
			t.Fatal("the result did not lease its run")
		}

		// A batch: ten starts with their first tasks, one transaction.
		var batch []store.Op
		for i := 0; i < 10; i++ {
			op := startOp(fmt.Sprintf("batch%d-%d", pass, i))
			op.Then = &store.WorkflowTaskCommitOp{InstanceID: op.Run.InstanceID, RunID: op.Run.RunID, Status: store.StatusRunning, UpdatedAt: base,
				NewEvents:     []*store.Event{event(1, "ExecutionStarted", base), event(2, "TaskScheduled", base)},
				NewActivities: []*store.ActivityTask{running(2, base)}}
			batch = append(batch, op)
		}
		measure("10 × RunCreate+Then", func() { mustApply(t, s, batch...) })
	}

	// A fused task that does not apply (a message arrived first): the
	// optimistic statement fails, rolls back, and the result is delivered.
	// The second time counts: the first prepares the statements.
	for _, id := range []string{"late", "late2"} {
		mustApply(t, s, startOp(id))
		tasks, err := s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 10, Now: base, LeaseUntil: base.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		// The first run, with the event it did not consume, comes again.
		tasks = slices.DeleteFunc(tasks, func(t *store.WorkflowTask) bool { return t.Run.InstanceID != id })
		if len(tasks) != 1 {
			t.Fatalf("claim: %d tasks of %s", len(tasks), id)
		}
		commit := commitAll(tasks[0], base)
		commit.NewEvents = append(commit.NewEvents, event(2, "TaskScheduled", base))
		commit.NewActivities = []*store.ActivityTask{running(2, base)}
		mustApply(t, s, commit)
		mustApply(t, s, &store.MessageSendOp{InstanceID: id, Message: store.Message{Type: "EventRaised", VisibleAt: base}})
		finish := &store.ActivityTaskFinishOp{RunID: id + "~r1", Seq: 2, Attempt: 1, Now: base,
			Then: &store.WorkflowTaskCommitOp{InstanceID: id, RunID: id + "~r1", HistoryLen: 2, UpdatedAt: base,
				NewEvents: []*store.Event{event(3, "TaskCompleted", base)}},
			Message: store.Message{Type: "TaskCompleted", VisibleAt: base}}
		before := trips.n.Load()
		mustApply(t, s, finish)
		n := trips.n.Load() - before
		if id == "late" {
			continue
		}
		t.Logf("%-26s %d round trip(s)", "not fused, falls back", n)
		if finish.ThenApplied || n > 3 {
			t.Errorf("fall-back: ThenApplied %v in %d round trips, want false in at most 3", finish.ThenApplied, n)
		}
	}
}
