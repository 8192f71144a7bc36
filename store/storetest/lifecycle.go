package storetest

import (
	"time"

	"github.com/perdure/perdure/store"
)

var continueCases = []testCase{
	{"CarryOverEvents", func(h *harness) {
		old := h.startActs("i1", act(1, "a", base))
		h.send("i1", "", "EventRaised", base, false)
		h.send("i1", "", "TaskCompleted", base, false)
		h.send("i1", "", "EventRaised", at(time.Hour), false) // not yet visible: moves too
		task := h.claimOne("w", base, old.RunID)
		// The task consumes nothing: it decides to continue as new at once.
		op := commitOp(task, store.StatusContinuedAsNew, at(time.Second))
		op.Consumed, op.NewEvents = nil, []*store.Event{{ID: task.Run.HistoryLen + 1, Type: "ContinuedAsNew", Time: at(time.Second)}}
		op.Output = []byte(`"next input"`)
		next := h.createOp("i1", "wf", `"next input"`)
		next.Run.PreviousRunID = old.RunID
		next.Run.CreatedAt = at(time.Second)
		next.Start.VisibleAt = at(time.Second)
		op.NewRuns = []*store.RunCreateOp{next}
		op.CarryOverEvents = next.Run.RunID
		h.ok(op)
		eq(h, "new Created", next.Created, true)
		noErr(h, "new Err", next.Err)

		prev := h.get("i1", old.RunID)
		eq(h, "old Status", prev.Status, store.StatusContinuedAsNew)
		eq(h, "old Current", prev.Current, false)
		eqTime(h, "old CompletedAt", prev.CompletedAt, at(time.Second))
		eq(h, "old inbox", len(h.messages(old.RunID)), 0)
		tasks, err := h.S.ActivityTaskList(h.Ctx, old.RunID)
		noErr(h, "ActivityTaskList", err)
		eq(h, "old activity tasks", len(tasks), 0)

		cur := h.get("i1", "")
		eq(h, "current run", cur.RunID, next.Run.RunID)
		eq(h, "PreviousRunID", cur.PreviousRunID, old.RunID)
		eq(h, "Status", cur.Status, store.StatusPending)
		ms := h.messages(cur.RunID)
		eqStrings(h, "new inbox", msgTypes(ms), []string{"ExecutionStarted", "EventRaised", "EventRaised"})
		for i, m := range ms {
			eq(h, "RunID", m.RunID, cur.RunID)
			if i > 0 && m.ID <= ms[i-1].ID {
				h.Fatalf("message ids not increasing in the new run: %d after %d", m.ID, ms[i-1].ID)
			}
		}
		eqBytes(h, "carried Data", ms[1].Data, []byte(`"EventRaised"`))
		eqTime(h, "carried VisibleAt", ms[2].VisibleAt, at(time.Hour))
		task = h.claimOne("w", at(time.Second), cur.RunID)
		eqStrings(h, "new task", msgTypes(task.Messages), []string{"ExecutionStarted", "EventRaised"})
	}},
	{"WithoutCarryOver", func(h *harness) {
		old := h.start("i1", "wf", "")
		h.send("i1", "", "EventRaised", base, false)
		task := h.claimOne("w", base, old.RunID)
		op := commitOp(task, store.StatusContinuedAsNew, base)
		op.Consumed, op.NewEvents = op.Consumed[:1], op.NewEvents[:1]
		next := h.createOp("i1", "wf", "")
		next.Run.PreviousRunID = old.RunID
		op.NewRuns = []*store.RunCreateOp{next}
		h.ok(op)
		eqStrings(h, "new inbox", msgTypes(h.messages(next.Run.RunID)), []string{"ExecutionStarted"})
		eq(h, "old inbox", len(h.messages(old.RunID)), 0)
	}},
}

var abandonCases = []testCase{
	{"RetryAt", func(h *harness) {
		r := h.start("i1", "wf", "")
		task := h.claimOne("w1", base, r.RunID)
		h.fails(&store.WorkflowTaskAbandonOp{RunID: r.RunID, LeaseOwner: "w2", TaskError: "x", RetryAt: base, UpdatedAt: base}, store.ErrLeaseLost)
		h.ok(&store.WorkflowTaskAbandonOp{RunID: r.RunID, LeaseOwner: "w1", TaskError: "nondeterminism: step 3", RetryAt: at(time.Hour), UpdatedAt: at(time.Second)})
		run := h.get("i1", "")
		eq(h, "TaskError", run.TaskError, "nondeterminism: step 3")
		eqTime(h, "UpdatedAt", run.UpdatedAt, at(time.Second))
		eq(h, "Status", run.Status, store.StatusPending)
		eq(h, "inbox size", len(h.messages(r.RunID)), 1)
		// The lease is gone: a commit of the abandoned task fails.
		h.fails(commitOp(task, store.StatusRunning, base), store.ErrLeaseLost)
		h.send("i1", "", "EventRaised", base, false)
		if got := h.claim("w1", at(time.Hour-time.Microsecond), 10); len(got) != 0 {
			h.Fatalf("claimed an abandoned run before RetryAt")
		}
		// LeasesRelease does not shorten the retry delay.
		noErr(h, "LeasesRelease", h.S.LeasesRelease(h.Ctx, ""))
		if got := h.claim("w1", at(time.Minute), 10); len(got) != 0 {
			h.Fatalf("claimed an abandoned run before RetryAt after LeasesRelease")
		}
		task = h.claimOne("w2", at(time.Hour), r.RunID)
		eqStrings(h, "messages", msgTypes(task.Messages), []string{"ExecutionStarted", "EventRaised"})
		eq(h, "TaskError in task", task.Run.TaskError, "nondeterminism: step 3")
		h.ok(commitOp(task, store.StatusRunning, at(time.Hour)))
		eq(h, "TaskError after a successful task", h.get("i1", "").TaskError, "")
	}},
	{"Missing", func(h *harness) {
		h.fails(&store.WorkflowTaskAbandonOp{RunID: "nope", LeaseOwner: "w", RetryAt: base, UpdatedAt: base}, store.ErrNotFound)
	}},
}

var releaseCases = []testCase{
	{"Owner", func(h *harness) {
		a := h.startActs("a", act(1, "x", base), act(2, "x", base), act(3, "x", base))
		b := h.startAt("b", at(time.Second))
		h.send("a", "", "EventRaised", base, false)
		ta := h.claimOne("w1", base, a.RunID)
		h.claimOne("w2", at(time.Second), b.RunID)
		cs := h.aclaim("w1", base, 2)
		h.aclaim("w2", base, 1)
		h.ok(&store.ActivityTaskPendOp{RunID: a.RunID, Seq: cs[1].Task.Seq, Attempt: 1})
		noErr(h, "LeasesRelease", h.S.LeasesRelease(h.Ctx, "w1"))
		// w1's run is claimable at once, w2's is not.
		task := h.claimOne("w3", at(2*time.Second), a.RunID)
		eqStrings(h, "messages", msgTypes(task.Messages), []string{"EventRaised"})
		h.fails(commitOp(ta, store.StatusRunning, base), store.ErrLeaseLost)
		// w1's RUNNING task is expired at once; the PENDING one and w2's stay.
		got := h.aclaim("w3", at(2*time.Second), 10)
		if len(got) != 1 || got[0].Task.Seq != cs[0].Task.Seq || !got[0].Expired || got[0].Task.Attempt != 1 {
			h.Fatalf("after LeasesRelease(w1): got %d tasks, want task %d expired at attempt 1", len(got), cs[0].Task.Seq)
		}
	}},
	{"All", func(h *harness) {
		a := h.startActs("a", act(1, "x", base))
		b := h.startAt("b", at(time.Second))
		h.send("a", "", "EventRaised", base, false)
		h.claimOne("w1", base, a.RunID)
		h.claimOne("w2", at(time.Second), b.RunID)
		h.aclaim("w1", base, 1)
		noErr(h, "LeasesRelease", h.S.LeasesRelease(h.Ctx, ""))
		eqStrings(h, "runs", claimedIDs(h.claim("w3", at(2*time.Second), 10)), claimedIDs([]*store.WorkflowTask{{Run: a}, {Run: b}}))
		got := h.aclaim("w3", at(2*time.Second), 10)
		if len(got) != 1 || !got[0].Expired {
			h.Fatalf("after LeasesRelease(\"\"): want the RUNNING task expired")
		}
	}},
}
