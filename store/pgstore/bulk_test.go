package pgstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

// TestBulkFused applies the same batches of fused activity results to two
// stores, one that applies them together (bulkFused) and one that applies
// every op on its own, and compares the outcomes and the tables: results
// that continue their run with RUNNING or READY tasks, that finish it,
// that set a custom status, one whose attempt is stale, one whose run got
// a message first (not fused), one in a batch that names its run twice.
func TestBulkFused(t *testing.T) {
	trips := &tripCounter{}
	bulk := openSchema(t, testSchema(t), Options{tracer: trips})
	single := openSchema(t, testSchema(t), Options{noBulk: true})
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const runs = 8
	task := func(seq int64, state store.ActivityState, now time.Time) *store.ActivityTask {
		a := &store.ActivityTask{Seq: seq, Name: "act", Input: []byte(fmt.Sprint(seq)), State: state, ScheduledAt: now, VisibleAt: now.Add(time.Second)}
		if state == store.ActivityRunning {
			a.Attempt, a.StartedAt, a.LeaseOwner, a.LeaseUntil = 1, now, "w", now.Add(time.Minute)
		}
		return a
	}
	hist := make([]int64, runs)
	seqs := make([]int64, runs)
	apply := func(name string, mk func() []store.Op) {
		t.Helper()
		var outs [2]string
		for k, s := range []*Store{bulk, single} {
			ops := mk()
			errs, err := s.Apply(context.Background(), ops)
			if err != nil {
				t.Fatalf("%s: Apply: %v", name, err)
			}
			var b strings.Builder
			for i, op := range ops {
				fmt.Fprintf(&b, "op %d: %v", i, errs[i])
				if f, ok := op.(*store.ActivityTaskFinishOp); ok {
					fmt.Fprintf(&b, " fused %v claimed %v", f.ThenApplied, f.Claimed != nil || (f.Then != nil && f.Then.Claimed != nil))
				}
				b.WriteString("\n")
			}
			outs[k] = b.String()
			if k == 1 {
				// The runs' next steps start from what was applied.
				for _, op := range ops {
					if f, ok := op.(*store.ActivityTaskFinishOp); ok && f.ThenApplied {
						var i int
						fmt.Sscanf(f.RunID, "i%d~r", &i)
						hist[i] += int64(len(f.Then.NewEvents))
						if len(f.Then.NewActivities) > 0 {
							seqs[i] = f.Then.NewActivities[0].Seq
						}
					}
				}
			}
		}
		t.Logf("%s:\n%s", name, outs[0])
		if outs[0] != outs[1] {
			t.Errorf("%s: outcomes differ\ntogether:\n%sone by one:\n%s", name, outs[0], outs[1])
		}
	}
	// The runs start with their first task, which schedules activity 2.
	apply("starts", func() []store.Op {
		var ops []store.Op
		for i := range runs {
			id := fmt.Sprint("i", i)
			ops = append(ops, &store.RunCreateOp{Run: store.Run{InstanceID: id, RunID: id + "~r", Name: "wf", CreatedAt: t0, UpdatedAt: t0},
				Start: store.Message{Type: "ExecutionStarted", VisibleAt: t0},
				Then: &store.WorkflowTaskCommitOp{InstanceID: id, RunID: id + "~r", Status: store.StatusRunning, UpdatedAt: t0,
					NewEvents:     []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: t0}, {ID: 2, Type: "TaskScheduled", Time: t0}},
					NewActivities: []*store.ActivityTask{task(2, store.ActivityRunning, t0)}, Waiting: []byte(`"a2"`)}})
		}
		return ops
	})
	for i := range runs {
		hist[i], seqs[i] = 2, 2
	}
	// A message reaches run 7 before its result.
	mustApply(t, bulk, &store.MessageSendOp{InstanceID: "i7", Message: store.Message{Type: "EventRaised", VisibleAt: t0}})
	mustApply(t, single, &store.MessageSendOp{InstanceID: "i7", Message: store.Message{Type: "EventRaised", VisibleAt: t0}})
	step := func(i int, now time.Time, shape func(then *store.WorkflowTaskCommitOp, next int64)) *store.ActivityTaskFinishOp {
		id := fmt.Sprint("i", i)
		then := &store.WorkflowTaskCommitOp{InstanceID: id, RunID: id + "~r", HistoryLen: hist[i], UpdatedAt: now,
			NewEvents: []*store.Event{{ID: hist[i] + 1, Type: "TaskCompleted", Time: now, Data: []byte(`1`)}}, Waiting: []byte(`"next"`),
			Eager: &store.Eager{Owner: "w", Now: now, LeaseUntil: now.Add(time.Minute)}}
		shape(then, seqs[i]+2)
		return &store.ActivityTaskFinishOp{RunID: id + "~r", Seq: seqs[i], Attempt: 1, Now: now, Then: then,
			Message: store.Message{Type: "TaskCompleted", VisibleAt: now, Data: []byte(`1`)},
			Eager:   &store.Eager{Owner: "w", Now: now, LeaseUntil: now.Add(time.Minute)}}
	}
	schedule := func(states ...store.ActivityState) func(*store.WorkflowTaskCommitOp, int64) {
		return func(then *store.WorkflowTaskCommitOp, next int64) {
			for k, st := range states {
				then.NewEvents = append(then.NewEvents, &store.Event{ID: then.HistoryLen + 2 + int64(k), Type: "TaskScheduled", Time: then.UpdatedAt})
				then.NewActivities = append(then.NewActivities, task(next+int64(k), st, then.UpdatedAt))
			}
			then.Status = store.StatusRunning
		}
	}
	t1 := t0.Add(time.Second)
	apply("results", func() []store.Op {
		return []store.Op{
			step(0, t1, schedule(store.ActivityRunning)),
			step(1, t1, schedule(store.ActivityRunning)),
			step(2, t1, schedule(store.ActivityReady)),
			step(3, t1, func(then *store.WorkflowTaskCommitOp, _ int64) {
				then.Status, then.Output = store.StatusCompleted, []byte(`"done"`)
			}),
			step(4, t1, func(then *store.WorkflowTaskCommitOp, _ int64) {
				then.SetCustom, then.CustomStatus = true, []byte(`"custom"`)
			}),
			step(5, t1, schedule(store.ActivityRunning, store.ActivityReady)),
		}
	})
	// A stale attempt, and a run with a message: the others still apply.
	apply("stale and not fused", func() []store.Op {
		stale := step(6, t1, schedule(store.ActivityRunning))
		stale.Attempt = 2
		return []store.Op{step(0, t1.Add(time.Second), schedule(store.ActivityRunning)), stale, step(7, t1, schedule(store.ActivityRunning))}
	})
	// Run 1 named twice in one batch: a result and a message.
	apply("a run named twice", func() []store.Op {
		return []store.Op{step(1, t1.Add(time.Second), schedule(store.ActivityRunning)), step(2, t1.Add(time.Second), schedule()),
			&store.MessageSendOp{InstanceID: "i1", Message: store.Message{Type: "EventRaised", VisibleAt: t1}}}
	})
	// Once its statements are prepared, a batch of results that all apply
	// is one round trip.
	before := trips.n.Load()
	apply("more results", func() []store.Op {
		return []store.Op{step(0, t1.Add(2*time.Second), schedule(store.ActivityRunning)), step(5, t1.Add(2*time.Second), schedule())}
	})
	if n := trips.n.Load() - before; n != 1 {
		t.Errorf("a batch of fused results that all apply: %d round trips, want 1", n)
	}
	dump := func(s *Store) string {
		var b strings.Builder
		for _, q := range []string{
			`SELECT run_id, instance_id, status, is_current, output, failure, custom_status, updated_at, completed_at, history_len,
				task_error, lease_owner, lease_until, ready_at, waiting FROM runs ORDER BY run_id`,
			`SELECT run_id, id, type, time, data FROM history ORDER BY run_id, id`,
			`SELECT run_id, type, visible_at, control, data FROM messages ORDER BY run_id, id`,
			`SELECT run_id, seq, instance_id, name, input, state, attempt, scheduled_at, visible_at, started_at, lease_owner,
				lease_until, deadline, due_at FROM activity_tasks ORDER BY run_id, seq`,
		} {
			rows, err := s.pool.Query(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(&b, vals...)
			}
			rows.Close()
			b.WriteString("--\n")
		}
		return b.String()
	}
	a, o := dump(bulk), dump(single)
	if a != o {
		al, ol := strings.Split(a, "\n"), strings.Split(o, "\n")
		for i := range min(len(al), len(ol)) {
			if al[i] != ol[i] {
				t.Errorf("the tables differ:\ntogether:   %s\none by one: %s", al[i], ol[i])
				break
			}
		}
	}
	for _, want := range []string{"COMPLETED", "EventRaised"} {
		if !strings.Contains(a, want) {
			t.Errorf("no %s in the tables:\n%s", want, a)
		}
	}
	if r, err := bulk.RunGet(context.Background(), "i4", ""); err != nil || string(r.CustomStatus) != `"custom"` {
		t.Errorf("run i4: %+v, %v", r, err)
	}
}
