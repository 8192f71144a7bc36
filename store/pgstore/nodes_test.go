package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

// base is the virtual clock of these tests.
var base = time.Date(2031, 3, 4, 5, 6, 7, 891011000, time.UTC)

// twoNodes opens two stores, each with its own pool (two nodes), on one
// fresh schema.
func twoNodes(t *testing.T) (a, b *Store) {
	t.Helper()
	schema := testSchema(t)
	return openSchema(t, schema, Options{MaxConns: 4}), openSchema(t, schema, Options{MaxConns: 4})
}

func startOp(inst string) *store.RunCreateOp {
	return &store.RunCreateOp{
		Run:   store.Run{InstanceID: inst, RunID: inst + "~r1", Name: "wf", CreatedAt: base, UpdatedAt: base},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: base},
	}
}

// mustApply applies ops and fails the test unless all of them succeed.
func mustApply(t testing.TB, s *Store, ops ...store.Op) {
	t.Helper()
	errs, err := s.Apply(context.Background(), ops)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("op %d (%T): %v", i, ops[i], err)
		}
	}
}

// applyOne applies op alone and returns its error.
func applyOne(t testing.TB, s *Store, op store.Op) error {
	t.Helper()
	errs, err := s.Apply(context.Background(), []store.Op{op})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return errs[0]
}

// commitAll builds the commit of task that consumes all its messages.
func commitAll(task *store.WorkflowTask, now time.Time) *store.WorkflowTaskCommitOp {
	op := &store.WorkflowTaskCommitOp{InstanceID: task.Run.InstanceID, RunID: task.Run.RunID, LeaseOwner: task.LeaseOwner,
		HistoryLen: task.Run.HistoryLen, Status: store.StatusRunning, UpdatedAt: now}
	for i, m := range task.Messages {
		op.NewEvents = append(op.NewEvents, &store.Event{ID: task.Run.HistoryLen + int64(i) + 1, Type: m.Type, Time: now, Data: m.Data})
		op.Consumed = append(op.Consumed, m.ID)
	}
	return op
}

func TestNodesClaimDisjoint(t *testing.T) {
	a, b := twoNodes(t)
	nodes := []*Store{a, b}
	ctx := context.Background()
	const runs, acts = 120, 90
	var starts []store.Op
	for i := 0; i < runs; i++ {
		starts = append(starts, startOp(fmt.Sprintf("i%03d", i)))
	}
	mustApply(t, a, starts[:runs/2]...)
	mustApply(t, b, starts[runs/2:]...)

	// Workflow tasks: six claimers per node, three runs at a time.
	var mu sync.Mutex
	owners := map[string]string{}
	tasks := map[string]*store.WorkflowTask{}
	var failures []error
	var wg sync.WaitGroup
	for n, s := range nodes {
		for g := 0; g < 6; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("node%d-w%d", n, g)
				for {
					got, err := s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: owner, Max: 3, Now: base, LeaseUntil: base.Add(time.Hour)})
					mu.Lock()
					if err != nil {
						failures = append(failures, err)
					}
					for _, task := range got {
						if prev, dup := owners[task.Run.RunID]; dup {
							failures = append(failures, fmt.Errorf("run %s leased by %s and %s", task.Run.RunID, prev, owner))
						}
						owners[task.Run.RunID], tasks[task.Run.RunID] = owner, task
					}
					mu.Unlock()
					if err != nil || len(got) == 0 {
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	for _, err := range failures {
		t.Error(err)
	}
	if len(owners) != runs {
		t.Fatalf("%d runs leased, want %d", len(owners), runs)
	}
	// Each recorded owner holds its lease: its commit, through either
	// node, succeeds. The first one schedules the activities.
	var commits []store.Op
	for id, task := range tasks {
		op := commitAll(task, base)
		if id == "i000~r1" {
			for seq := 1; seq <= acts; seq++ {
				op.NewActivities = append(op.NewActivities, &store.ActivityTask{Seq: int64(seq), Name: "act", State: store.ActivityReady,
					ScheduledAt: base, VisibleAt: base})
			}
		}
		commits = append(commits, op)
	}
	mustApply(t, a, commits[:runs/2]...)
	mustApply(t, b, commits[runs/2:]...)

	// Activity tasks: the same, four at a time.
	claimed := map[int64]*store.ClaimedActivity{}
	for n, s := range nodes {
		for g := 0; g < 6; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("node%d-a%d", n, g)
				for {
					got, err := s.ActivityTaskClaim(ctx, &store.ActivityTaskClaimParams{Owner: owner, Max: 4, Now: base, LeaseUntil: base.Add(time.Hour)})
					mu.Lock()
					if err != nil {
						failures = append(failures, err)
					}
					for _, c := range got {
						if prev, dup := claimed[c.Task.Seq]; dup {
							failures = append(failures, fmt.Errorf("activity task %d attempt %d leased by %s and %s", c.Task.Seq, c.Task.Attempt, prev.Task.LeaseOwner, owner))
						}
						if c.Expired || c.Task.Attempt != 1 || c.Task.LeaseOwner != owner {
							failures = append(failures, fmt.Errorf("activity task %d: expired %v, attempt %d, owner %s", c.Task.Seq, c.Expired, c.Task.Attempt, c.Task.LeaseOwner))
						}
						claimed[c.Task.Seq] = c
					}
					mu.Unlock()
					if err != nil || len(got) == 0 {
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	for _, err := range failures {
		t.Error(err)
	}
	if len(claimed) != acts {
		t.Fatalf("%d activity tasks leased, want %d", len(claimed), acts)
	}
	// Every attempt is current: its finish succeeds.
	var finishes []store.Op
	for _, c := range claimed {
		finishes = append(finishes, &store.ActivityTaskFinishOp{RunID: c.Task.RunID, Seq: c.Task.Seq, Attempt: c.Task.Attempt, Now: base,
			Message: store.Message{Type: "TaskCompleted", VisibleAt: base}})
	}
	mustApply(t, b, finishes...)
	ms, err := a.MessageList(ctx, "i000~r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != acts {
		t.Fatalf("inbox has %d results, want %d", len(ms), acts)
	}
}

func TestNodesLeaseTakeover(t *testing.T) {
	a, b := twoNodes(t)
	ctx := context.Background()
	mustApply(t, a, startOp("i1"))
	claim := func(s *Store, owner string, now time.Time) []*store.WorkflowTask {
		t.Helper()
		got, err := s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: owner, Max: 10, Now: now, LeaseUntil: now.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	ta := claim(a, "node-a", base)
	if len(ta) != 1 {
		t.Fatalf("node a claimed %d runs, want 1", len(ta))
	}
	if got := claim(b, "node-b", base.Add(time.Minute-time.Microsecond)); len(got) != 0 {
		t.Fatalf("node b claimed a run leased by node a")
	}
	// Node a pauses past its lease; node b takes the run over.
	tb := claim(b, "node-b", base.Add(time.Minute))
	if len(tb) != 1 || tb[0].Run.RunID != ta[0].Run.RunID {
		t.Fatalf("node b claimed %d runs after the lease expired, want the run of node a", len(tb))
	}
	err := applyOne(t, a, commitAll(ta[0], base.Add(time.Minute)))
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("commit of the expired lease: got %v, want ErrLeaseLost", err)
	}
	err = applyOne(t, a, &store.WorkflowTaskAbandonOp{RunID: ta[0].Run.RunID, LeaseOwner: "node-a", RetryAt: base, UpdatedAt: base})
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("abandon of the expired lease: got %v, want ErrLeaseLost", err)
	}
	commit := commitAll(tb[0], base.Add(time.Minute))
	commit.NewActivities = []*store.ActivityTask{{Seq: 1, Name: "act", State: store.ActivityReady, ScheduledAt: base, VisibleAt: base}}
	mustApply(t, b, commit)
	evs, err := a.HistoryGet(ctx, &store.HistoryGetParams{RunID: ta[0].Run.RunID})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("history has %d events, want the one of node b's commit", len(evs))
	}

	// The same for an activity attempt.
	aclaim := func(s *Store, owner string, now time.Time) *store.ClaimedActivity {
		t.Helper()
		got, err := s.ActivityTaskClaim(ctx, &store.ActivityTaskClaimParams{Owner: owner, Max: 10, Now: now, LeaseUntil: now.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("%s claimed %d activity tasks at %v, want 1", owner, len(got), now)
		}
		return got[0]
	}
	ca := aclaim(a, "node-a", base)
	cb := aclaim(b, "node-b", base.Add(time.Minute))
	if !cb.Expired || cb.Task.Attempt != 1 {
		t.Fatalf("take-over: expired %v attempt %d, want the expired attempt 1", cb.Expired, cb.Task.Attempt)
	}
	mustApply(t, b, &store.ActivityTaskRetryOp{RunID: cb.Task.RunID, Seq: 1, Attempt: 1, VisibleAt: base.Add(time.Minute)})
	cb = aclaim(b, "node-b", base.Add(time.Minute))
	if cb.Expired || cb.Task.Attempt != 2 {
		t.Fatalf("retry: expired %v attempt %d, want attempt 2", cb.Expired, cb.Task.Attempt)
	}
	finish := func(c *store.ClaimedActivity, attempt int) *store.ActivityTaskFinishOp {
		return &store.ActivityTaskFinishOp{RunID: c.Task.RunID, Seq: c.Task.Seq, Attempt: attempt, Now: base.Add(time.Minute),
			Message: store.Message{Type: "TaskCompleted", VisibleAt: base.Add(time.Minute), Data: []byte(fmt.Sprintf(`{"attempt":%d}`, attempt))}}
	}
	if err := applyOne(t, a, finish(ca, ca.Task.Attempt)); !errors.Is(err, store.ErrStaleTask) {
		t.Fatalf("finish of the stale attempt: got %v, want ErrStaleTask", err)
	}
	hb := &store.ActivityTaskHeartbeatOp{RunID: ca.Task.RunID, Seq: 1, Attempt: ca.Task.Attempt, LeaseUntil: base.Add(time.Hour), Now: base}
	if err := applyOne(t, a, hb); !errors.Is(err, store.ErrStaleTask) {
		t.Fatalf("heartbeat of the stale attempt: got %v, want ErrStaleTask", err)
	}
	mustApply(t, b, finish(cb, 2))
	ms, err := a.MessageList(ctx, cb.Task.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || string(ms[0].Data) != `{"attempt":2}` {
		t.Fatalf("inbox: %d messages, want the result of attempt 2 alone", len(ms))
	}
}

// TestNodesConcurrentWrites has two nodes send messages to a few runs in
// batches that name them in random orders, while workers on both nodes
// claim and commit the runs: no batch may fail, and every message must be
// consumed exactly once.
func TestNodesConcurrentWrites(t *testing.T) {
	a, b := twoNodes(t)
	nodes := []*Store{a, b}
	ctx := context.Background()
	const runs, senders, batches, perBatch = 8, 3, 25, 4
	var starts []store.Op
	for i := 0; i < runs; i++ {
		starts = append(starts, startOp(fmt.Sprintf("r%d", i)))
	}
	mustApply(t, a, starts...)

	var mu sync.Mutex
	var failures []error
	fail := func(err error) {
		mu.Lock()
		failures = append(failures, err)
		mu.Unlock()
	}
	consumed := map[string]int64{}
	var sending, working sync.WaitGroup
	for n, s := range nodes {
		for g := 0; g < senders; g++ {
			sending.Add(1)
			go func() {
				defer sending.Done()
				rng := rand.New(rand.NewPCG(uint64(n), uint64(g)))
				for i := 0; i < batches; i++ {
					var ops []store.Op
					for _, r := range rng.Perm(runs)[:perBatch] {
						ops = append(ops, &store.MessageSendOp{InstanceID: fmt.Sprintf("r%d", r),
							Message: store.Message{Type: "EventRaised", VisibleAt: base, Data: []byte(fmt.Sprintf(`"%d-%d-%d"`, n, g, i))}})
					}
					errs, err := s.Apply(ctx, ops)
					if err != nil {
						fail(fmt.Errorf("send batch: %w", err))
						return
					}
					for _, err := range errs {
						if err != nil {
							fail(fmt.Errorf("send: %w", err))
						}
					}
				}
			}()
		}
	}
	done := make(chan struct{})
	for n, s := range nodes {
		for g := 0; g < 2; g++ {
			working.Add(1)
			go func() {
				defer working.Done()
				owner := fmt.Sprintf("node%d-w%d", n, g)
				// A worker stops after a claim that began once the
				// senders were done finds nothing: an earlier claim may
				// have missed their last messages.
				last := false
				for {
					got, err := s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: owner, Max: 3, Now: base, LeaseUntil: base.Add(time.Hour)})
					if err != nil {
						fail(err)
						return
					}
					if len(got) == 0 {
						if last {
							return
						}
						select {
						case <-done:
							last = true
						case <-time.After(time.Millisecond):
						}
						continue
					}
					var ops []store.Op
					for _, task := range got {
						ops = append(ops, commitAll(task, base))
					}
					errs, err := s.Apply(ctx, ops)
					if err != nil {
						fail(fmt.Errorf("commit batch: %w", err))
						return
					}
					mu.Lock()
					for i, err := range errs {
						if err != nil {
							failures = append(failures, fmt.Errorf("commit: %w", err))
							continue
						}
						consumed[got[i].Run.RunID] += int64(len(got[i].Messages))
					}
					mu.Unlock()
				}
			}()
		}
	}
	sending.Wait()
	close(done)
	working.Wait()
	for _, err := range failures {
		t.Error(err)
	}
	var total int64
	for i := 0; i < runs; i++ {
		r, err := a.RunGet(ctx, fmt.Sprintf("r%d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		ms, err := b.MessageList(ctx, r.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 0 {
			t.Errorf("run %s: %d messages left", r.RunID, len(ms))
		}
		if r.HistoryLen != consumed[r.RunID] {
			t.Errorf("run %s: history has %d events, its commits consumed %d messages", r.RunID, r.HistoryLen, consumed[r.RunID])
		}
		total += r.HistoryLen
	}
	if want := int64(runs + 2*senders*batches*perBatch); total != want {
		t.Errorf("%d messages consumed, want %d", total, want)
	}
	// Batches lock their runs in one order: no deadlock to retry.
	if n := a.retries.Load() + b.retries.Load(); n != 0 {
		t.Errorf("%d transactions were tried again after a deadlock", n)
	}
}
