package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

// bulkFixture is a store with runs that each wait on a RUNNING activity
// task (seq 2, attempt 1), as after a chain step.
type bulkFixture struct {
	t   *testing.T
	s   *Store
	ctx context.Context
	t0  time.Time
}

func newBulkFixture(t *testing.T) *bulkFixture {
	return &bulkFixture{t: t, s: open(t, filepath.Join(t.TempDir(), "bulk.db")), ctx: context.Background(),
		t0: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (f *bulkFixture) running(seq int64) *store.ActivityTask {
	return &store.ActivityTask{Seq: seq, Name: "AddOne", Input: []byte(`41`), State: store.ActivityRunning,
		Attempt: 1, ScheduledAt: f.t0, VisibleAt: f.t0, StartedAt: f.t0, LeaseOwner: "w", LeaseUntil: f.t0.Add(time.Minute)}
}

// start creates run id (instance id) waiting on tasks seqs (2 by default).
func (f *bulkFixture) start(id string, seqs ...int64) {
	f.t.Helper()
	f.ok(f.fusedStart(id, id, seqs...))
}

// fusedStart is the start of run runID of instance inst with its first
// workflow task fused: the task schedules tasks seqs (2 by default).
func (f *bulkFixture) fusedStart(inst, runID string, seqs ...int64) *store.RunCreateOp {
	if len(seqs) == 0 {
		seqs = []int64{2}
	}
	then := &store.WorkflowTaskCommitOp{InstanceID: inst, RunID: runID, Status: store.StatusRunning, UpdatedAt: f.t0,
		Waiting: []byte(`[2]`), CustomStatus: []byte(`"started"`),
		NewEvents: []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: f.t0}, {ID: 2, Type: "TaskScheduled", Time: f.t0}},
		Eager:     &store.Eager{Owner: "w", Now: f.t0, LeaseUntil: f.t0.Add(time.Minute)}}
	for _, s := range seqs {
		then.NewActivities = append(then.NewActivities, f.running(s))
	}
	return &store.RunCreateOp{Run: store.Run{InstanceID: inst, RunID: runID, Name: "wf", CreatedAt: f.t0, UpdatedAt: f.t0},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: f.t0}, Then: then,
		Eager: &store.Eager{Owner: "w", Now: f.t0, LeaseUntil: f.t0.Add(time.Minute)}}
}

// finish is the fused result of task seq 2 of run id: the task it wakes
// schedules task 4, or completes the run.
func (f *bulkFixture) finish(id string, complete bool) *store.ActivityTaskFinishOp {
	then := &store.WorkflowTaskCommitOp{InstanceID: id, RunID: id, HistoryLen: 2, UpdatedAt: f.t0,
		NewEvents: []*store.Event{{ID: 3, Type: "TaskCompleted", Time: f.t0, Data: []byte(`42`)}}}
	if complete {
		then.Status, then.Output = store.StatusCompleted, []byte(`42`)
		then.NewEvents = append(then.NewEvents, &store.Event{ID: 4, Type: "ExecutionCompleted", Time: f.t0})
	} else {
		then.Status, then.Waiting = store.StatusRunning, []byte(`[4]`)
		then.NewEvents = append(then.NewEvents, &store.Event{ID: 4, Type: "TaskScheduled", Time: f.t0})
		then.NewActivities = []*store.ActivityTask{f.running(4)}
	}
	return &store.ActivityTaskFinishOp{RunID: id, Seq: 2, Attempt: 1, Now: f.t0,
		Message: store.Message{Type: "TaskCompleted", VisibleAt: f.t0, Data: []byte(`42`)}, Then: then}
}

func (f *bulkFixture) apply(ops ...store.Op) []error {
	f.t.Helper()
	errs, err := f.s.Apply(f.ctx, ops)
	if err != nil {
		f.t.Fatalf("Apply: %v", err)
	}
	return errs
}

func (f *bulkFixture) ok(ops ...store.Op) {
	f.t.Helper()
	for i, err := range f.apply(ops...) {
		if err != nil {
			f.t.Fatalf("op %d: %v", i, err)
		}
	}
}

// snapshot is every row of run id in every table.
func (f *bulkFixture) snapshot(id string) string {
	f.t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT * FROM runs WHERE run_id = ?`,
		`SELECT * FROM history WHERE run_id = ? ORDER BY id`,
		`SELECT * FROM messages WHERE run_id = ? ORDER BY id`,
		`SELECT * FROM activity_tasks WHERE run_id = ? ORDER BY seq`,
	} {
		f.rows(&b, q, id)
	}
	return b.String()
}

// dump is every row of every table.
func (f *bulkFixture) dump() string {
	f.t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT * FROM runs ORDER BY run_id`,
		`SELECT * FROM history ORDER BY run_id, id`,
		`SELECT * FROM messages ORDER BY id`,
		`SELECT * FROM activity_tasks ORDER BY run_id, seq`,
		`SELECT * FROM sqlite_sequence ORDER BY name`,
	} {
		fmt.Fprintf(&b, "%s\n", q)
		f.rows(&b, q)
	}
	return b.String()
}

// rows prints the rows of q.
func (f *bulkFixture) rows(b *strings.Builder, q string, args ...any) {
	f.t.Helper()
	cols, vals := rowValues(f.t, f.s, q, args...)
	for _, row := range vals {
		for i, v := range row {
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(b, "%s=%v ", cols[i], v)
		}
		b.WriteString("\n")
	}
}

// rowValues returns the columns of q, read on s's readers, and the values
// of each of its rows.
func rowValues(t testing.TB, s *Store, q string, args ...any) (cols []string, vals [][]any) {
	t.Helper()
	rows, err := s.rdb.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if cols, err = rows.Columns(); err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		row := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		vals = append(vals, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cols, vals
}

// afterStep checks that the fused result of run id was applied: history
// of 4 events, and task 4 in place of task 2 (or none when completed).
func (f *bulkFixture) afterStep(id string, complete bool) {
	f.t.Helper()
	r, err := f.s.RunGet(f.ctx, "", id)
	if err != nil {
		f.t.Fatal(err)
	}
	want := store.StatusRunning
	if complete {
		want = store.StatusCompleted
	}
	if r.HistoryLen != 4 || r.Status != want {
		f.t.Fatalf("run %s: history %d, status %s; want 4, %s", id, r.HistoryLen, r.Status, want)
	}
	events, err := f.s.HistoryGet(f.ctx, &store.HistoryGetParams{RunID: id})
	if err != nil || len(events) != 4 || events[2].Type != "TaskCompleted" || string(events[2].Data) != "42" {
		f.t.Fatalf("run %s: history %v, %v", id, events, err)
	}
	tasks, err := f.s.ActivityTaskList(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	msgs, err := f.s.MessageList(f.ctx, id)
	if err != nil || len(msgs) != 0 {
		f.t.Fatalf("run %s: messages %v, %v", id, msgs, err)
	}
	if complete {
		if len(tasks) != 0 || string(r.Output) != "42" || r.Waiting != nil || !r.CompletedAt.Equal(f.t0) {
			f.t.Fatalf("run %s: tasks %v, output %s, waiting %s, completed at %v", id, tasks, r.Output, r.Waiting, r.CompletedAt)
		}
		return
	}
	if len(tasks) != 1 || tasks[0].Seq != 4 || tasks[0].State != store.ActivityRunning || string(r.Waiting) != "[4]" {
		f.t.Fatalf("run %s: tasks %v, waiting %s", id, tasks, r.Waiting)
	}
}

// claimed starts run id without its first task and claims it; it returns
// the id of its start message.
func (f *bulkFixture) claimed(id string) int64 {
	f.t.Helper()
	f.ok(&store.RunCreateOp{Run: store.Run{InstanceID: id, RunID: id, Name: "wf", CreatedAt: f.t0, UpdatedAt: f.t0},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: f.t0}})
	tasks, err := f.s.WorkflowTaskClaim(f.ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: f.t0, LeaseUntil: f.t0.Add(time.Minute)})
	if err != nil || len(tasks) != 1 || tasks[0].Run.RunID != id {
		f.t.Fatal(err, tasks)
	}
	return tasks[0].Messages[0].ID
}

// first is the first workflow task of run id, claimed by owner, which
// consumed message msg: it schedules task 2 (leased at once), or
// completes the run.
func (f *bulkFixture) first(id, owner string, msg int64, complete bool) *store.WorkflowTaskCommitOp {
	c := &store.WorkflowTaskCommitOp{InstanceID: id, RunID: id, LeaseOwner: owner, UpdatedAt: f.t0, Consumed: []int64{msg},
		NewEvents: []*store.Event{{ID: 1, Type: "ExecutionStarted", Time: f.t0}},
		Eager:     &store.Eager{Owner: "w", Now: f.t0, LeaseUntil: f.t0.Add(time.Minute)}}
	if complete {
		c.Status, c.Output = store.StatusCompleted, []byte(`1`)
		c.NewEvents = append(c.NewEvents, &store.Event{ID: 2, Type: "ExecutionCompleted", Time: f.t0})
	} else {
		c.Status, c.Waiting = store.StatusRunning, []byte(`[2]`)
		c.NewEvents = append(c.NewEvents, &store.Event{ID: 2, Type: "TaskScheduled", Time: f.t0})
		c.NewActivities = []*store.ActivityTask{f.running(2)}
	}
	return c
}

// mixedBatch sets up runs and returns one batch of ops for them: fused
// results and commits that go together, with ops that fail or must go op
// by op; failed names the runs whose ops fail.
func mixedBatch(f *bulkFixture) (ops []store.Op, failed []string) {
	for _, id := range []string{"ok1", "stale", "lost", "badnum", "finished", "ok2", "leased", "shared", "inbox", "byinst", "again"} {
		f.start(id)
	}
	// done: its completion also drops task 6 and a timer due later.
	f.start("done", 2, 6)
	f.ok(&store.MessageSendOp{RunID: "done", Message: store.Message{Type: "TimerFired", VisibleAt: f.t0.Add(time.Hour)}})
	// finished: its run completed before the batch.
	f.ok(f.finish("finished", true))
	// leased: a message woke it and a claim holds its lease.
	f.ok(&store.MessageSendOp{RunID: "leased", Message: store.Message{Type: "EventRaised", VisibleAt: f.t0}})
	if tasks, err := f.s.WorkflowTaskClaim(f.ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: f.t0, LeaseUntil: f.t0.Add(time.Minute)}); err != nil || len(tasks) != 1 {
		f.t.Fatal(err, tasks)
	}
	// Claimed runs for commits: c2 gets a message during its task; c3's
	// completion drops a timer due later.
	c1, c2, c3 := f.claimed("c1"), f.claimed("c2"), f.claimed("c3")
	c4, c5, c6 := f.claimed("c4"), f.claimed("c5"), f.claimed("c6")
	f.ok(&store.MessageSendOp{RunID: "c2", Message: store.Message{Type: "EventRaised", VisibleAt: f.t0}})
	f.ok(&store.MessageSendOp{RunID: "c3", Message: store.Message{Type: "TimerFired", VisibleAt: f.t0.Add(time.Hour)}})
	// inbox: a message it has not taken yet.
	f.ok(&store.MessageSendOp{RunID: "inbox", Message: store.Message{Type: "EventRaised", VisibleAt: f.t0}})

	stale := f.finish("stale", false)
	stale.Attempt = 2
	badnum := f.finish("badnum", false)
	badnum.Then.NewEvents[1].ID = 7
	lostFirst := f.first("c4", "nobody", c4, false)
	staleFirst := f.first("c5", "w", c5, false)
	staleFirst.HistoryLen = 1
	staleFirst.NewEvents[0].ID, staleFirst.NewEvents[1].ID = 2, 3
	timer := f.first("c6", "w", c6, false)
	timer.Messages = []*store.MessageSendOp{{RunID: "c6", Message: store.Message{Type: "TimerFired", VisibleAt: f.t0.Add(time.Hour)}}}
	start := func(id string) *store.RunCreateOp {
		return &store.RunCreateOp{Run: store.Run{InstanceID: id, RunID: id, Name: "wf", CreatedAt: f.t0, UpdatedAt: f.t0},
			Start: store.Message{Type: "ExecutionStarted", VisibleAt: f.t0}}
	}
	again := start("again")
	again.Run.RunID = "again-2"
	fin := f.fusedStart("f3", "f3")
	fin.Then.Status, fin.Then.Output, fin.Then.Waiting, fin.Then.NewActivities = store.StatusCompleted, []byte(`1`), nil, nil
	fin.Then.NewEvents[1].Type = "ExecutionCompleted"
	ops = []store.Op{
		// Starts: new instances, and one that runs already (nothing
		// written, its run returned).
		start("s1"), start("s2"), again,
		f.finish("ok1", false), // 3
		stale,
		f.finish("done", true),
		&store.WorkflowTaskCommitOp{InstanceID: "lost", RunID: "lost", LeaseOwner: "nobody", HistoryLen: 2, UpdatedAt: f.t0,
			NewEvents: []*store.Event{{ID: 3, Type: "TaskCompleted", Time: f.t0}}},
		badnum,
		f.finish("finished", false), // 8
		&store.MessageSendOp{RunID: "finished", Message: store.Message{Type: "EventRaised", VisibleAt: f.t0}},
		f.finish("ok2", false),
		f.finish("leased", false),
		&store.ActivityTaskHeartbeatOp{RunID: "shared", Seq: 2, Attempt: 1, Details: []byte(`"half"`)},
		f.finish("shared", false), // 13
		f.finish("inbox", false),
		// Sent by instance id before the result: the result finds it.
		&store.MessageSendOp{InstanceID: "byinst", Message: store.Message{Type: "EventRaised", VisibleAt: f.t0}},
		f.finish("byinst", false),
		f.first("c1", "w", c1, false),
		f.first("c2", "w", c2, false), // 18
		f.first("c3", "w", c3, true),
		lostFirst,
		staleFirst,
		timer,
		// Starts with their first task fused: new instances, one that
		// runs already (its run returned, the task not applied), one
		// that finishes in its first task (op by op).
		f.fusedStart("f1", "f1"), // 23
		f.fusedStart("f2", "f2-run", 2, 3),
		f.fusedStart("ok2", "ok2-again"),
		fin,
	}
	return ops, []string{"stale", "lost", "badnum", "finished", "c4", "c5"}
}

// TestBulkApplyMixedBatch applies, in one batch, workflow task outcomes
// that go together with ops that fail or must go op by op: each op meets
// its own outcome, and the failed ones leave no trace.
func TestBulkApplyMixedBatch(t *testing.T) {
	f := newBulkFixture(t)
	ops, failed := mixedBatch(f)
	before := map[string]string{}
	for _, id := range failed {
		before[id] = f.snapshot(id)
	}
	bulked := f.s.bulked.Load()
	errs := f.apply(ops...)
	if n := f.s.bulked.Load() - bulked; n < 10 {
		t.Fatalf("bulkApply applied %d ops, want at least s1, s2, ok1, done, ok2, c1, c2, c3, f1 and f2", n)
	}
	// The fused starts: f1 and f2 run, waiting on their first tasks; the
	// start of ok2, which runs, returns its run; f3 completed at once.
	for _, c := range []struct {
		i      int
		run    string
		status store.Status
		tasks  int
	}{{23, "f1", store.StatusRunning, 1}, {24, "f2-run", store.StatusRunning, 2}, {26, "f3", store.StatusCompleted, 0}} {
		op := ops[c.i].(*store.RunCreateOp)
		if !op.Created || !op.ThenApplied || op.Result == nil || op.Result.RunID != c.run || op.Start.RunID != c.run ||
			op.Then.Claimed != nil || op.Claimed != nil {
			t.Errorf("op %d: created %v, then applied %v, result %+v, start %+v", c.i, op.Created, op.ThenApplied, op.Result, op.Start)
		}
		r, err := f.s.RunGet(f.ctx, op.Run.InstanceID, "")
		if err != nil || r.RunID != c.run || r.Status != c.status || r.HistoryLen != 2 || string(r.CustomStatus) != `"started"` {
			t.Fatalf("op %d: stored %+v, %v", c.i, r, err)
		}
		tasks, err := f.s.ActivityTaskList(f.ctx, c.run)
		if err != nil || len(tasks) != c.tasks {
			t.Errorf("op %d: tasks %v, %v", c.i, tasks, err)
		}
		if msgs, err := f.s.MessageList(f.ctx, c.run); err != nil || len(msgs) != 0 {
			t.Errorf("op %d: messages %v, %v", c.i, msgs, err)
		}
		if events, err := f.s.HistoryGet(f.ctx, &store.HistoryGetParams{RunID: c.run}); err != nil || len(events) != 2 ||
			events[0].Type != "ExecutionStarted" {
			t.Errorf("op %d: history %v, %v", c.i, events, err)
		}
	}
	if op := ops[25].(*store.RunCreateOp); op.Created || op.ThenApplied || op.Result == nil || op.Result.RunID != "ok2" {
		t.Errorf("start of a running instance: created %v, then applied %v, result %+v", op.Created, op.ThenApplied, op.Result)
	}
	for _, i := range []int{0, 1} {
		op := ops[i].(*store.RunCreateOp)
		r, err := f.s.RunGet(f.ctx, op.Run.InstanceID, "")
		if err != nil || !op.Created || op.Result == nil || op.Result.RunID != r.RunID || r.Status != store.StatusPending || op.Start.RunID != r.RunID {
			t.Errorf("start %d: created %v, result %+v; stored %+v, %v", i, op.Created, op.Result, r, err)
		}
		if msgs, err := f.s.MessageList(f.ctx, r.RunID); err != nil || len(msgs) != 1 || msgs[0].Type != "ExecutionStarted" {
			t.Errorf("start %d: messages %v, %v", i, msgs, err)
		}
	}
	if again := ops[2].(*store.RunCreateOp); again.Created || again.Result == nil || again.Result.RunID != "again" {
		t.Errorf("start of a running instance: created %v, result %+v", again.Created, again.Result)
	}

	for i, want := range []error{nil, nil, nil, nil, store.ErrStaleTask, nil, store.ErrLeaseLost, store.ErrLeaseLost, store.ErrStaleTask,
		store.ErrNotRunning, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, store.ErrLeaseLost, store.ErrLeaseLost, nil,
		nil, nil, nil, nil} {
		if want == nil && errs[i] != nil || want != nil && !errors.Is(errs[i], want) {
			t.Errorf("op %d (%T): %v, want %v", i, ops[i], errs[i], want)
		}
	}
	for id, snap := range before {
		if got := f.snapshot(id); got != snap {
			t.Errorf("run %s changed by a failed op:\nbefore %s\nafter  %s", id, snap, got)
		}
	}
	for _, i := range []int{3, 5, 10, 13} {
		if !ops[i].(*store.ActivityTaskFinishOp).ThenApplied {
			t.Errorf("op %d: ThenApplied false", i)
		}
	}
	for _, i := range []int{4, 7, 8, 11, 14, 16} {
		if ops[i].(*store.ActivityTaskFinishOp).ThenApplied {
			t.Errorf("op %d: ThenApplied true", i)
		}
	}
	f.afterStep("ok1", false)
	f.afterStep("done", true)
	f.afterStep("ok2", false)
	f.afterStep("shared", false)

	// leased, inbox, byinst: the result went to the inbox, behind the
	// message there; the history stayed.
	for _, id := range []string{"leased", "inbox", "byinst"} {
		r, err := f.s.RunGet(f.ctx, "", id)
		if err != nil || r.HistoryLen != 2 {
			t.Fatal(r, err)
		}
		if msgs, err := f.s.MessageList(f.ctx, id); err != nil || len(msgs) != 2 || msgs[1].Type != "TaskCompleted" {
			t.Fatalf("%s: messages %v, %v", id, msgs, err)
		}
		if tasks, err := f.s.ActivityTaskList(f.ctx, id); err != nil || len(tasks) != 0 {
			t.Fatalf("%s: tasks %v, %v", id, tasks, err)
		}
	}

	// The commits: c1 and c6 released (c6 with its timer), c2 leased
	// again with the message that came during its task, c3 completed.
	for _, c := range []struct {
		id     string
		status store.Status
		tasks  int
		msgs   int
	}{{"c1", store.StatusRunning, 1, 0}, {"c2", store.StatusRunning, 1, 1}, {"c3", store.StatusCompleted, 0, 0}, {"c6", store.StatusRunning, 1, 1}} {
		r, err := f.s.RunGet(f.ctx, "", c.id)
		if err != nil {
			t.Fatal(err)
		}
		tasks, err := f.s.ActivityTaskList(f.ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := f.s.MessageList(f.ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if r.HistoryLen != 2 || r.Status != c.status || len(tasks) != c.tasks || len(msgs) != c.msgs {
			t.Errorf("%s: history %d, status %s, %d tasks, %d messages; want 2, %s, %d, %d",
				c.id, r.HistoryLen, r.Status, len(tasks), len(msgs), c.status, c.tasks, c.msgs)
		}
	}
	if c := ops[17].(*store.WorkflowTaskCommitOp).Claimed; c != nil {
		t.Errorf("c1: leased again: %+v", c)
	}
	c := ops[18].(*store.WorkflowTaskCommitOp).Claimed
	if c == nil || c.Run.RunID != "c2" || c.Run.HistoryLen != 2 || c.Run.Status != store.StatusRunning ||
		len(c.Messages) != 1 || c.Messages[0].Type != "EventRaised" {
		t.Fatalf("c2: claimed %+v", c)
	}
}

// TestBulkApplyMatchesOpByOp applies the same batch with and without
// bulkApply: the outcomes, what the ops report and every row of the
// database are the same.
func TestBulkApplyMatchesOpByOp(t *testing.T) {
	var results, dumps [2]string
	for k, noBulk := range []bool{false, true} {
		f := newBulkFixture(t)
		f.s.noBulk = noBulk
		ops, _ := mixedBatch(f)
		bulked := f.s.bulked.Load()
		errs := f.apply(ops...)
		if n := f.s.bulked.Load() - bulked; noBulk != (n == 0) {
			t.Fatalf("noBulk %v: bulkApply applied %d ops", noBulk, n)
		}
		var b strings.Builder
		for i, op := range ops {
			fmt.Fprintf(&b, "op %d: %v\n", i, errs[i])
			switch op := op.(type) {
			case *store.ActivityTaskFinishOp:
				fmt.Fprintf(&b, "  then applied %v, claimed %s, then claimed %s\n", op.ThenApplied, describeTask(op.Claimed), describeTask(op.Then.Claimed))
			case *store.WorkflowTaskCommitOp:
				fmt.Fprintf(&b, "  claimed %s\n", describeTask(op.Claimed))
			case *store.RunCreateOp:
				fmt.Fprintf(&b, "  created %v, result %+v, start %+v, claimed %s\n", op.Created, op.Result, op.Start, describeTask(op.Claimed))
				if op.Then != nil {
					fmt.Fprintf(&b, "  then applied %v, claimed %s, finished %+v, consumed %v\n",
						op.ThenApplied, describeTask(op.Then.Claimed), op.Then.Finished, op.Then.Consumed)
				}
			}
		}
		results[k], dumps[k] = b.String(), f.dump()
	}
	sameBothWays(t, results, dumps)
}

// sameBothWays fails t unless the outcomes and the databases of a run
// through the bulk statements (index 0) and of one op by op (1) match.
func sameBothWays(t *testing.T, results, dumps [2]string) {
	t.Helper()
	if results[0] != results[1] {
		t.Errorf("outcomes differ:\nbulk:\n%s\nop by op:\n%s", results[0], results[1])
	}
	if dumps[0] != dumps[1] {
		t.Errorf("databases differ:\nbulk:\n%s\nop by op:\n%s", dumps[0], dumps[1])
	}
}

func describeTask(t *store.WorkflowTask) string {
	if t == nil {
		return "none"
	}
	s := fmt.Sprintf("%+v lease %s until %v", *t.Run, t.LeaseOwner, t.LeaseUntil)
	for _, m := range t.Messages {
		s += fmt.Sprintf(" message %+v", *m)
	}
	return s
}

// TestBulkApplyFallsBack: when the bulk statements cannot write what
// the read promised (here a task the fused task schedules exists
// already), the batch is applied again op by op, where that op fails
// alone and leaves no trace.
func TestBulkApplyFallsBack(t *testing.T) {
	f := newBulkFixture(t)
	f.start("a")
	f.start("b")
	f.start("dup", 2, 4) // task 4 exists: scheduling it again fails
	before := f.snapshot("dup")
	ops := []store.Op{f.finish("a", false), f.finish("dup", false), f.finish("b", true)}
	errs := f.apply(ops...)
	if errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Fatalf("errs %v, want only op 1 to fail", errs)
	}
	if got := f.snapshot("dup"); got != before {
		t.Errorf("run dup changed by its failed op:\nbefore %s\nafter  %s", before, got)
	}
	if ops[1].(*store.ActivityTaskFinishOp).ThenApplied {
		t.Error("op 1: ThenApplied true")
	}
	f.afterStep("a", false)
	f.afterStep("b", true)
}

// TestBulkApplyStartFallsBack: a start whose run id is taken fails alone,
// after the batch is applied again op by op.
func TestBulkApplyStartFallsBack(t *testing.T) {
	f := newBulkFixture(t)
	f.start("old")
	before := f.snapshot("old")
	start := func(inst, run string) *store.RunCreateOp {
		return &store.RunCreateOp{Run: store.Run{InstanceID: inst, RunID: run, Name: "wf", CreatedAt: f.t0, UpdatedAt: f.t0},
			Start: store.Message{Type: "ExecutionStarted", VisibleAt: f.t0}}
	}
	ops := []store.Op{start("a", "a"), start("b", "old"), start("c", "c")}
	errs := f.apply(ops...)
	if errs[0] != nil || !errors.Is(errs[1], store.ErrConflict) || errs[2] != nil {
		t.Fatalf("errs %v, want only op 1 to fail with ErrConflict", errs)
	}
	if got := f.snapshot("old"); got != before {
		t.Errorf("run old changed:\nbefore %s\nafter  %s", before, got)
	}
	if _, err := f.s.RunGet(f.ctx, "b", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("instance b: %v, want ErrNotFound", err)
	}
	for _, id := range []string{"a", "c"} {
		if r, err := f.s.RunGet(f.ctx, id, ""); err != nil || r.RunID != id || r.Status != store.StatusPending {
			t.Errorf("instance %s: %+v, %v", id, r, err)
		}
	}
}

// TestBulkApplyManyRuns applies more outcomes than one multi-row
// statement holds.
func TestBulkApplyManyRuns(t *testing.T) {
	f := newBulkFixture(t)
	const n = 2*bulkRows + 5
	var ops []store.Op
	for i := range n {
		id := fmt.Sprint("r", i)
		f.start(id)
		ops = append(ops, f.finish(id, i%3 == 0))
		id = fmt.Sprint("c", i)
		ops = append(ops, f.first(id, "w", f.claimed(id), i%3 == 0))
	}
	bulked := f.s.bulked.Load()
	f.ok(ops...)
	if got := f.s.bulked.Load() - bulked; got != 2*n {
		t.Fatalf("bulkApply applied %d ops, want %d", got, 2*n)
	}
	for i := range n {
		f.afterStep(fmt.Sprint("r", i), i%3 == 0)
		r, err := f.s.RunGet(f.ctx, "", fmt.Sprint("c", i))
		if err != nil || r.HistoryLen != 2 || r.Status.Finished() != (i%3 == 0) {
			t.Fatal(r, err)
		}
	}
}

// TestBulkApplyFusedStarts: starts with their first workflow task fused
// go together, as one statement per table, and each new run waits on its
// first activity as when applied op by op.
func TestBulkApplyFusedStarts(t *testing.T) {
	f := newBulkFixture(t)
	const n = bulkRows + 3
	var ops []store.Op
	for i := range n {
		id := fmt.Sprint("f", i)
		ops = append(ops, f.fusedStart(id, id))
	}
	bulked := f.s.bulked.Load()
	f.ok(ops...)
	if got := f.s.bulked.Load() - bulked; got != n {
		t.Fatalf("bulkApply applied %d ops, want %d", got, n)
	}
	for i := range n {
		id := fmt.Sprint("f", i)
		if op := ops[i].(*store.RunCreateOp); !op.Created || !op.ThenApplied {
			t.Fatalf("%s: created %v, then applied %v", id, op.Created, op.ThenApplied)
		}
		// The first activity's result finds the run as it expects.
		f.ok(f.finish(id, i%2 == 0))
		f.afterStep(id, i%2 == 0)
	}
}
