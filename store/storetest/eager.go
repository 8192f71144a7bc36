package storetest

import (
	"time"

	"github.com/perdure/perdure/store"
)

func eagerAt(owner string, now time.Time, names ...string) *store.Eager {
	return &store.Eager{Owner: owner, Now: now, LeaseUntil: now.Add(time.Minute), Names: names}
}

var eagerCases = []testCase{
	{"StartLeasesTheNewRun", func(h *harness) {
		op := h.createOp("i1", "wf", `1`)
		op.Eager = eagerAt("w1", base)
		h.ok(op)
		t := op.Claimed
		if t == nil {
			h.Fatalf("an eager start returned no task")
		}
		eq(h, "LeaseOwner", t.LeaseOwner, "w1")
		eqTime(h, "LeaseUntil", t.LeaseUntil, at(time.Minute))
		eq(h, "Run.RunID", t.Run.RunID, op.Run.RunID)
		eqStrings(h, "messages", msgTypes(t.Messages), []string{"ExecutionStarted"})
		if t.Messages[0].ID == 0 {
			h.Errorf("the start message has no id")
		}
		// Leased: not claimable by others, and committable by w1.
		if got := h.claim("w2", at(30*time.Second), 10); len(got) != 0 {
			h.Fatalf("an eagerly leased run was claimed: %v", claimedIDs(got))
		}
		h.ok(commitOp(t, store.StatusRunning, at(time.Second)))
		eq(h, "history", len(h.history(t.Run.RunID)), 1)
	}},
	{"DelayedStartIsNotLeased", func(h *harness) {
		op := h.createOp("i1", "wf", "")
		op.Start.VisibleAt = at(time.Hour)
		op.Eager = eagerAt("w1", base)
		h.ok(op)
		if op.Claimed != nil {
			h.Fatalf("a start visible in an hour was leased at once")
		}
		h.claimOne("w2", at(time.Hour), op.Run.RunID)
	}},
	{"NamesFilter", func(h *harness) {
		op := h.createOp("i1", "wf", "")
		op.Eager = eagerAt("w1", base, "other")
		h.ok(op)
		if op.Claimed != nil {
			h.Fatalf("a run of a name not in Eager.Names was leased")
		}
		h.claimOne("w2", base, op.Run.RunID)
	}},
	{"ActivityFinishLeasesTheRun", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		h.send("i1", "", "EventRaised", base, false)
		op := finishOp(c, "TaskCompleted", at(time.Second))
		op.Eager = eagerAt("w1", at(time.Second), "wf")
		h.ok(op)
		if op.Claimed == nil {
			h.Fatalf("the finish returned no task")
		}
		eq(h, "Run.RunID", op.Claimed.Run.RunID, r.RunID)
		eqStrings(h, "messages", msgTypes(op.Claimed.Messages), []string{"EventRaised", "TaskCompleted"})
		if got := h.claim("w2", at(2*time.Second), 10); len(got) != 0 {
			h.Fatalf("an eagerly leased run was claimed: %v", claimedIDs(got))
		}
		h.ok(commitOp(op.Claimed, store.StatusRunning, at(2*time.Second)))
	}},
	{"ActivityFinishDoesNotTakeALiveLease", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		h.send("i1", "", "EventRaised", base, false)
		held := h.claimOne("w2", base, r.RunID) // leased until base+1m
		op := finishOp(c, "TaskCompleted", at(time.Second))
		op.Eager = eagerAt("w1", at(time.Second))
		h.ok(op)
		if op.Claimed != nil {
			h.Fatalf("the finish took the run leased by w2")
		}
		h.ok(commitOp(held, store.StatusRunning, at(2*time.Second)))
		// The result waits for the next claim.
		task := h.claimOne("w3", at(2*time.Second), r.RunID)
		eqStrings(h, "messages", msgTypes(task.Messages), []string{"TaskCompleted"})
	}},
	{"ActivityFinishHonoursTheRetryDelay", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		h.send("i1", "", "EventRaised", base, false)
		held := h.claimOne("w2", base, r.RunID)
		h.ok(&store.WorkflowTaskAbandonOp{RunID: r.RunID, LeaseOwner: held.LeaseOwner, TaskError: "boom",
			RetryAt: at(time.Hour), UpdatedAt: base})
		op := finishOp(c, "TaskCompleted", at(time.Second))
		op.Eager = eagerAt("w1", at(time.Second))
		h.ok(op)
		if op.Claimed != nil {
			h.Fatalf("the finish leased a run waiting for its retry delay")
		}
	}},
	{"ActivityFinishOfSuspendedRun", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		h.send("i1", "", "ExecutionSuspended", base, false)
		h.drive(r.RunID, base, store.StatusSuspended, nil)
		op := finishOp(c, "TaskCompleted", at(time.Second))
		op.Eager = eagerAt("w1", at(time.Second))
		h.ok(op)
		if op.Claimed != nil {
			h.Fatalf("a suspended run was woken by an activity result")
		}
	}},
	{"CommitLeasesAgainWhenMessagesArrived", func(h *harness) {
		r := h.start("i1", "wf", "")
		task := h.claimOne("w1", base, r.RunID)
		h.send("i1", "", "EventRaised", at(time.Second), false)
		h.send("i1", "", "TimerFired", at(time.Hour), false)
		op := commitOp(task, store.StatusRunning, at(2*time.Second))
		op.Eager = eagerAt("w1", at(2*time.Second))
		h.ok(op)
		if op.Claimed == nil {
			h.Fatalf("the commit did not lease the run again")
		}
		eqStrings(h, "messages", msgTypes(op.Claimed.Messages), []string{"EventRaised"})
		eq(h, "Run.HistoryLen", op.Claimed.Run.HistoryLen, int64(1))
		h.ok(commitOp(op.Claimed, store.StatusRunning, at(3*time.Second)))

		// Nothing visible: no lease.
		task = h.claimOne("w1", at(time.Hour), r.RunID)
		op = commitOp(task, store.StatusRunning, at(time.Hour))
		op.Eager = eagerAt("w1", at(time.Hour))
		h.ok(op)
		if op.Claimed != nil {
			h.Fatalf("a run without visible messages was leased again")
		}
		if got := h.claim("w2", at(time.Hour), 10); len(got) != 0 {
			h.Fatalf("a run without visible messages is claimable")
		}
	}},
	{"CommitThatFinishesLeasesNothing", func(h *harness) {
		r := h.start("i1", "wf", "")
		task := h.claimOne("w1", base, r.RunID)
		h.send("i1", "", "EventRaised", base, false)
		op := commitOp(task, store.StatusCompleted, at(time.Second))
		op.Eager = eagerAt("w1", at(time.Second))
		h.ok(op)
		if op.Claimed != nil {
			h.Fatalf("a finished run was leased again")
		}
	}},
	{"NewActivityRunning", func(h *harness) {
		r := h.start("i1", "wf", "")
		a := act(1, "a", base)
		a.State, a.Attempt, a.StartedAt, a.LeaseOwner, a.LeaseUntil = store.ActivityRunning, 1, base, "w1", at(time.Minute)
		h.drive(r.RunID, base, store.StatusRunning, func(op *store.WorkflowTaskCommitOp) {
			op.NewActivities = []*store.ActivityTask{a, act(2, "a", base)}
		})
		t := h.task(r.RunID, 1)
		eq(h, "State", t.State, store.ActivityRunning)
		eq(h, "Attempt", t.Attempt, 1)
		eq(h, "LeaseOwner", t.LeaseOwner, "w1")
		eqTime(h, "LeaseUntil", t.LeaseUntil, at(time.Minute))
		eqTime(h, "StartedAt", t.StartedAt, base)
		// Only the READY one is claimable; the running one expires with
		// its lease.
		c := h.aclaimOne("w2", base)
		eq(h, "claimed seq", c.Task.Seq, int64(2))
		h.ok(finishOp(&store.ClaimedActivity{Task: t}, "TaskCompleted", at(time.Second)))
		eqStrings(h, "messages", msgTypes(h.messages(r.RunID)), []string{"TaskCompleted"})
	}},
	{"NewActivityRunningNeedsALease", func(h *harness) {
		r := h.start("i1", "wf", "")
		task := h.claimOne("w1", base, r.RunID)
		a := act(1, "a", base)
		a.State, a.Attempt = store.ActivityRunning, 1
		op := commitOp(task, store.StatusRunning, base)
		op.NewActivities = []*store.ActivityTask{a}
		if errs := h.apply(op); errs[0] == nil {
			h.Fatalf("a RUNNING task without a lease was accepted")
		}
	}},
}

// thenOp is a fused workflow task on run r (history length n) at now: one
// event for the message it applies, and the status.
func thenOp(r *store.Run, n int64, status store.Status, now time.Time) *store.WorkflowTaskCommitOp {
	return &store.WorkflowTaskCommitOp{InstanceID: r.InstanceID, RunID: r.RunID, HistoryLen: n, Status: status, UpdatedAt: now,
		NewEvents: []*store.Event{{ID: n + 1, Type: "Applied", Time: now}}}
}

var fusedCases = []testCase{
	{"StartWithFirstTask", func(h *harness) {
		op := h.createOp("i1", "wf", `1`)
		op.Then = thenOp(&op.Run, 0, store.StatusRunning, base)
		op.Then.NewActivities = []*store.ActivityTask{act(1, "a", base)}
		h.ok(op)
		if !op.ThenApplied || !op.Created {
			h.Fatalf("ThenApplied=%v Created=%v, want both", op.ThenApplied, op.Created)
		}
		r := h.get("i1", "")
		eq(h, "Status", r.Status, store.StatusRunning)
		eq(h, "HistoryLen", r.HistoryLen, int64(1))
		eq(h, "inbox", len(h.messages(r.RunID)), 0)
		if got := h.claim("w", at(time.Hour), 10); len(got) != 0 {
			h.Fatalf("a run without messages is claimable")
		}
		eq(h, "activity claimed", h.aclaimOne("w", base).Task.Seq, int64(1))
	}},
	{"DelayedStartIgnoresThen", func(h *harness) {
		op := h.createOp("i1", "wf", "")
		op.Start.VisibleAt = at(time.Hour)
		op.Then = thenOp(&op.Run, 0, store.StatusRunning, base)
		h.ok(op)
		if op.ThenApplied {
			h.Fatalf("a start visible in an hour ran its first task now")
		}
		eq(h, "HistoryLen", h.get("i1", "").HistoryLen, int64(0))
		h.claimOne("w", at(time.Hour), op.Run.RunID)
	}},
	{"ExistingRunIgnoresThen", func(h *harness) {
		h.start("i1", "wf", "")
		op := h.createOp("i1", "wf", "")
		op.Then = thenOp(&op.Run, 0, store.StatusRunning, base)
		h.ok(op)
		if op.ThenApplied || op.Created {
			h.Fatalf("an idempotent start ran a task: ThenApplied=%v Created=%v", op.ThenApplied, op.Created)
		}
	}},
	{"FinishWithNextTask", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		op := finishOp(c, "TaskCompleted", at(time.Second))
		op.Then = thenOp(r, r.HistoryLen, store.StatusCompleted, at(time.Second))
		op.Then.Output = []byte(`"done"`)
		h.ok(op)
		if !op.ThenApplied {
			h.Fatalf("the next task was not committed with the result")
		}
		got := h.get("i1", "")
		eq(h, "Status", got.Status, store.StatusCompleted)
		eq(h, "HistoryLen", got.HistoryLen, r.HistoryLen+1)
		eqBytes(h, "Output", got.Output, []byte(`"done"`))
		if _, err := h.S.ActivityTaskGet(h.Ctx, r.RunID, 1); err == nil {
			h.Errorf("the finished activity task is still there")
		}
	}},
	{"FinishWithNextTaskWhenOtherMessagesWait", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		h.send("i1", "", "EventRaised", base, false)
		op := finishOp(c, "TaskCompleted", at(time.Second))
		op.Then = thenOp(r, r.HistoryLen, store.StatusRunning, at(time.Second))
		h.ok(op)
		if op.ThenApplied {
			h.Fatalf("the task skipped an event that was waiting")
		}
		eq(h, "HistoryLen", h.get("i1", "").HistoryLen, r.HistoryLen)
		task := h.claimOne("w", at(time.Second), r.RunID)
		eqStrings(h, "messages", msgTypes(task.Messages), []string{"EventRaised", "TaskCompleted"})
	}},
	{"FinishWithNextTaskOfLeasedRun", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		h.send("i1", "", "EventRaised", base, false)
		held := h.claimOne("w2", base, r.RunID)
		op := finishOp(c, "TaskCompleted", at(time.Second))
		op.Then = thenOp(r, r.HistoryLen, store.StatusRunning, at(time.Second))
		h.ok(op)
		if op.ThenApplied {
			h.Fatalf("a leased run got a task from another owner")
		}
		h.ok(commitOp(held, store.StatusRunning, at(2*time.Second)))
		task := h.claimOne("w", at(2*time.Second), r.RunID)
		eqStrings(h, "messages", msgTypes(task.Messages), []string{"TaskCompleted"})
	}},
	{"FinishWithStaleHistory", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		op := finishOp(c, "TaskCompleted", at(time.Second))
		op.Then = thenOp(r, r.HistoryLen-1, store.StatusRunning, at(time.Second))
		h.ok(op)
		if op.ThenApplied {
			h.Fatalf("a task built on a stale history was committed")
		}
		h.claimOne("w", at(time.Second), r.RunID)
	}},
	{"FinishWithNextTaskOfSuspendedRun", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		h.send("i1", "", "ExecutionSuspended", base, false)
		h.drive(r.RunID, base, store.StatusSuspended, nil)
		r = h.get("i1", "")
		op := finishOp(c, "TaskCompleted", at(time.Second))
		op.Then = thenOp(r, r.HistoryLen, store.StatusRunning, at(time.Second))
		h.ok(op)
		if op.ThenApplied {
			h.Fatalf("a suspended run ran a task")
		}
		eqStrings(h, "inbox", msgTypes(h.messages(r.RunID)), []string{"TaskCompleted"})
	}},
	{"FinishWithBadTaskFailsWhole", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		op := finishOp(c, "TaskCompleted", at(time.Second))
		op.Then = thenOp(r, r.HistoryLen, store.StatusRunning, at(time.Second))
		op.Then.NewEvents[0].ID = r.HistoryLen + 5 // not contiguous
		if errs := h.apply(op); errs[0] == nil {
			h.Fatalf("a task with misnumbered events was committed")
		}
		eq(h, "task still running", h.task(r.RunID, 1).State, store.ActivityRunning)
		eq(h, "inbox", len(h.messages(r.RunID)), 0)
	}},
}
