package storetest

import (
	"fmt"
	"time"

	"github.com/perdure/perdure/store"
)

var commitCases = []testCase{
	{"LeaseOwner", func(h *harness) {
		r := h.start("i1", "wf", "")
		task := h.claimOne("w1", base, r.RunID)
		op := commitOp(task, store.StatusRunning, base)
		op.LeaseOwner = "w2"
		h.fails(op, store.ErrLeaseLost)
		op.LeaseOwner = ""
		h.fails(op, store.ErrLeaseLost)
		eq(h, "HistoryLen", h.get("i1", "").HistoryLen, int64(0))
		eq(h, "inbox size", len(h.messages(r.RunID)), 1)
		h.ok(commitOp(task, store.StatusRunning, base))
		// The lease is gone after the commit.
		h.fails(commitOp(task, store.StatusRunning, base), store.ErrLeaseLost)
	}},
	{"LeaseLostToAnotherClaimer", func(h *harness) {
		r := h.start("i1", "wf", "")
		t1 := h.claimOne("w1", base, r.RunID)
		t2 := h.claimOne("w2", at(time.Minute), r.RunID)
		h.fails(commitOp(t1, store.StatusRunning, base), store.ErrLeaseLost)
		h.ok(commitOp(t2, store.StatusRunning, base))
		eq(h, "HistoryLen", h.get("i1", "").HistoryLen, int64(1))
	}},
	{"Numbering", func(h *harness) {
		r := h.start("i1", "wf", "")
		task := h.claimOne("w1", base, r.RunID)
		op := commitOp(task, store.StatusRunning, base)
		op.HistoryLen = 1
		h.fails(op, store.ErrLeaseLost)
		op = commitOp(task, store.StatusRunning, base)
		op.NewEvents[0].ID = 2
		h.fails(op, store.ErrLeaseLost)
		op = commitOp(task, store.StatusRunning, base)
		op.NewEvents = append(op.NewEvents, &store.Event{ID: 3, Type: "X", Time: base})
		h.fails(op, store.ErrLeaseLost)
		eq(h, "history", len(h.history(r.RunID)), 0)
		eq(h, "inbox size", len(h.messages(r.RunID)), 1)
		eq(h, "Status", h.get("i1", "").Status, store.StatusPending)
		// A stale task (numbered from an old history length) loses.
		h.ok(commitOp(task, store.StatusRunning, base))
		h.send("i1", "", "EventRaised", base, false)
		t2 := h.claimOne("w1", base, r.RunID)
		stale := commitOp(t2, store.StatusRunning, base)
		stale.HistoryLen = 0
		stale.NewEvents[0].ID = 1
		h.fails(stale, store.ErrLeaseLost)
	}},
	{"History", func(h *harness) {
		r := h.start("i1", "wf", "")
		task := h.claimOne("w1", base, r.RunID)
		op := commitOp(task, store.StatusRunning, at(time.Second))
		op.NewEvents = append(op.NewEvents,
			&store.Event{ID: 2, Type: "TaskScheduled", Time: at(time.Second), Data: []byte(`{"seq":2}`)},
			&store.Event{ID: 3, Type: "TimerCreated", Time: at(time.Second), Data: nil},
		)
		h.ok(op)
		h.send("i1", "", "EventRaised", at(2*time.Second), false)
		task = h.claimOne("w1", at(2*time.Second), r.RunID)
		eq(h, "task HistoryLen", task.Run.HistoryLen, int64(3))
		h.ok(commitOp(task, "", at(3*time.Second)))
		evs := h.history(r.RunID)
		want := []string{"ExecutionStarted", "TaskScheduled", "TimerCreated", "EventRaised"}
		if len(evs) != len(want) {
			h.Fatalf("history: got %d events, want %d", len(evs), len(want))
		}
		for i, e := range evs {
			eq(h, "event ID", e.ID, int64(i+1))
			eq(h, "event Type", e.Type, want[i])
		}
		eqTime(h, "event 2 Time", evs[1].Time, at(time.Second))
		eqBytes(h, "event 2 Data", evs[1].Data, []byte(`{"seq":2}`))
		eqTime(h, "event 4 Time", evs[3].Time, at(3*time.Second))
		run := h.get("i1", "")
		eq(h, "HistoryLen", run.HistoryLen, int64(4))
		eqTime(h, "UpdatedAt", run.UpdatedAt, at(3*time.Second))
		eq(h, "Status", run.Status, store.StatusRunning)
		// Paging.
		for _, c := range []struct {
			after int64
			limit int
			ids   string
		}{{0, 0, "[1 2 3 4]"}, {0, 2, "[1 2]"}, {2, 0, "[3 4]"}, {2, 1, "[3]"}, {3, 5, "[4]"}, {4, 0, "[]"}, {9, 0, "[]"}} {
			evs, err := h.S.HistoryGet(h.Ctx, &store.HistoryGetParams{RunID: r.RunID, AfterID: c.after, Limit: c.limit})
			noErr(h, "HistoryGet", err)
			var ids []int64
			for _, e := range evs {
				ids = append(ids, e.ID)
			}
			if got := fmt.Sprint(ids); got != c.ids && !(got == "[]" && c.ids == "[]") {
				h.Fatalf("HistoryGet after %d limit %d: got %s, want %s", c.after, c.limit, got, c.ids)
			}
		}
	}},
	{"Consumed", func(h *harness) {
		r := h.start("i1", "wf", "")
		h.send("i1", "", "A", base, false)
		h.send("i1", "", "B", base, false)
		task := h.claimOne("w1", base, r.RunID)
		op := commitOp(task, store.StatusRunning, base)
		op.Consumed = op.Consumed[:2]
		op.NewEvents = op.NewEvents[:2]
		h.ok(op)
		eqStrings(h, "inbox", msgTypes(h.messages(r.RunID)), []string{"B"})
		// The lease is released: another claimer gets the rest at once.
		task = h.claimOne("w2", base, r.RunID)
		eqStrings(h, "messages", msgTypes(task.Messages), []string{"B"})
		h.ok(commitOp(task, "", base))
		eq(h, "inbox size", len(h.messages(r.RunID)), 0)
		if got := h.claim("w3", at(time.Hour), 10); len(got) != 0 {
			h.Fatalf("claimed a run whose messages were all consumed")
		}
	}},
	{"RunFields", func(h *harness) {
		r := h.start("i1", "wf", "")
		h.drive(r.RunID, at(time.Second), store.StatusRunning, func(op *store.WorkflowTaskCommitOp) {
			op.CustomStatus = []byte(`"step1"`)
			op.Waiting = []byte(`[{"kind":"timer"}]`)
		})
		run := h.get("i1", "")
		eq(h, "Status", run.Status, store.StatusRunning)
		eqBytes(h, "CustomStatus", run.CustomStatus, []byte(`"step1"`))
		eqBytes(h, "Waiting", run.Waiting, []byte(`[{"kind":"timer"}]`))
		eqTime(h, "UpdatedAt", run.UpdatedAt, at(time.Second))
		eqTime(h, "CompletedAt", run.CompletedAt, time.Time{})
		h.send("i1", "", "A", base, false)
		// Status "" and nil CustomStatus without SetCustom change nothing.
		h.drive(r.RunID, at(2*time.Second), "", nil)
		run = h.get("i1", "")
		eq(h, "Status", run.Status, store.StatusRunning)
		eqBytes(h, "CustomStatus", run.CustomStatus, []byte(`"step1"`))
		eqTime(h, "UpdatedAt", run.UpdatedAt, at(2*time.Second))
		h.send("i1", "", "A", base, false)
		h.drive(r.RunID, at(3*time.Second), "", func(op *store.WorkflowTaskCommitOp) { op.SetCustom = true })
		eqBytes(h, "CustomStatus after SetCustom nil", h.get("i1", "").CustomStatus, nil)
		h.send("i1", "", "A", base, false)
		eqBytes(h, "Waiting replaced by each commit", h.get("i1", "").Waiting, nil)
		h.send("i1", "", "A", base, false)
		h.drive(r.RunID, at(4*time.Second), store.StatusCompleted, func(op *store.WorkflowTaskCommitOp) {
			op.Output = []byte(`{"ok":true}`)
			op.Waiting = []byte(`[{"kind":"timer"}]`)
		})
		run = h.get("i1", "")
		eqBytes(h, "Waiting of a finished run", run.Waiting, nil)
		eq(h, "Status", run.Status, store.StatusCompleted)
		eqBytes(h, "Output", run.Output, []byte(`{"ok":true}`))
		eqBytes(h, "Failure", run.Failure, nil)
		eqTime(h, "CompletedAt", run.CompletedAt, at(4*time.Second))
		eqTime(h, "UpdatedAt", run.UpdatedAt, at(4*time.Second))
		eq(h, "HistoryLen", run.HistoryLen, int64(5))
	}},
	{"Finished", func(h *harness) {
		for i, st := range []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusTerminated} {
			inst := fmt.Sprintf("i%d", i)
			r := h.startActs(inst, act(1, "a", base), act(2, "b", at(time.Hour)))
			h.aclaim("aw", base, 1, "a") // one RUNNING, one READY
			h.send(inst, "", "Terminate", base, true)
			h.send(inst, "", "EventRaised", base, false)
			h.send(inst, "", "TimerFired", at(time.Hour), false)
			task := h.claimOne("w", base, r.RunID)
			op := commitOp(task, st, at(time.Minute))
			op.Consumed, op.NewEvents = op.Consumed[:1], op.NewEvents[:1]
			op.Failure = []byte(`{"message":"x"}`)
			h.ok(op)
			run := h.get(inst, "")
			eq(h, "Status", run.Status, st)
			eqBytes(h, "Failure", run.Failure, []byte(`{"message":"x"}`))
			eqTime(h, "CompletedAt", run.CompletedAt, at(time.Minute))
			eq(h, "inbox size", len(h.messages(r.RunID)), 0)
			tasks, err := h.S.ActivityTaskList(h.Ctx, r.RunID)
			noErr(h, "ActivityTaskList", err)
			eq(h, "activity tasks", len(tasks), 0)
			isErr(h, "ActivityTaskGet", getTaskErr(h, r.RunID, 1), store.ErrNotFound)
		}
		if got := h.claim("w", at(24*time.Hour), 10); len(got) != 0 {
			h.Fatalf("claimed a finished run: %v", claimedIDs(got))
		}
		if got := h.aclaim("w", at(24*time.Hour), 10); len(got) != 0 {
			h.Fatalf("claimed an activity task of a finished run")
		}
	}},
	{"Activities", func(h *harness) {
		r := h.start("i1", "wf", "")
		a := act(2, "charge", at(time.Second))
		a.TaskQueue = "q"
		h.drive(r.RunID, base, store.StatusRunning, func(op *store.WorkflowTaskCommitOp) {
			op.NewActivities = []*store.ActivityTask{a, act(3, "ship", base), act(4, "mail", base)}
		})
		tasks, err := h.S.ActivityTaskList(h.Ctx, r.RunID)
		noErr(h, "ActivityTaskList", err)
		eq(h, "tasks", len(tasks), 3)
		got := h.task(r.RunID, 2)
		eq(h, "InstanceID", got.InstanceID, "i1")
		eq(h, "RunID", got.RunID, r.RunID)
		eq(h, "Seq", got.Seq, int64(2))
		eq(h, "Name", got.Name, "charge")
		eq(h, "TaskQueue", got.TaskQueue, "q")
		eqBytes(h, "Input", got.Input, a.Input)
		eqBytes(h, "Options", got.Options, a.Options)
		eq(h, "State", got.State, store.ActivityReady)
		eq(h, "Attempt", got.Attempt, 0)
		eqTime(h, "ScheduledAt", got.ScheduledAt, base)
		eqTime(h, "VisibleAt", got.VisibleAt, at(time.Second))
		eqTime(h, "StartedAt", got.StartedAt, time.Time{})
		eqTime(h, "LeaseUntil", got.LeaseUntil, time.Time{})
		eqTime(h, "Deadline", got.Deadline, time.Time{})
		eq(h, "LeaseOwner", got.LeaseOwner, "")
		h.aclaim("aw", base, 1, "ship")
		h.send("i1", "", "CancelRequested", base, false)
		h.drive(r.RunID, base, "", func(op *store.WorkflowTaskCommitOp) {
			op.CancelActivities = []int64{2, 3, 99}
		})
		tasks, err = h.S.ActivityTaskList(h.Ctx, r.RunID)
		noErr(h, "ActivityTaskList", err)
		if len(tasks) != 1 || tasks[0].Seq != 4 {
			h.Fatalf("after cancel: got %d tasks, want only seq 4", len(tasks))
		}
		isErr(h, "ActivityTaskGet cancelled", getTaskErr(h, r.RunID, 3), store.ErrNotFound)
	}},
	{"TimerToSelf", func(h *harness) {
		r := h.start("i1", "wf", "")
		h.drive(r.RunID, base, store.StatusRunning, func(op *store.WorkflowTaskCommitOp) {
			op.Messages = []*store.MessageSendOp{{InstanceID: "i1", RunID: r.RunID,
				Message: store.Message{Type: "TimerFired", VisibleAt: at(time.Hour), Data: []byte(`{"seq":2}`)}}}
		})
		if got := h.claim("w", at(time.Hour-time.Microsecond), 10); len(got) != 0 {
			h.Fatalf("claimed before the timer fired")
		}
		task := h.claimOne("w", at(time.Hour), r.RunID)
		eqStrings(h, "messages", msgTypes(task.Messages), []string{"TimerFired"})
		eqBytes(h, "Data", task.Messages[0].Data, []byte(`{"seq":2}`))
	}},
	{"MessagesToOtherRuns", func(h *harness) {
		r := h.start("i1", "wf", "")
		other := h.start("i2", "wf", "")
		h.start("done", "wf", "")
		h.finish("done", base, store.StatusCompleted)
		h.drive(r.RunID, base, store.StatusRunning, func(op *store.WorkflowTaskCommitOp) {
			msg := store.Message{Type: "EventRaised", VisibleAt: base, Data: []byte(`"sig"`)}
			op.Messages = []*store.MessageSendOp{
				{InstanceID: "i2", Message: msg},
				{InstanceID: "done", Message: msg, IgnoreFinished: true},
				{InstanceID: "missing", Message: msg, IgnoreFinished: true},
			}
		})
		eqStrings(h, "i2 inbox", msgTypes(h.messages(other.RunID)), []string{"ExecutionStarted", "EventRaised"})
		eq(h, "done inbox", len(h.messages(h.get("done", "").RunID)), 0)
	}},
	{"FailingMessageFailsCommit", func(h *harness) {
		r := h.start("i1", "wf", "")
		task := h.claimOne("w", base, r.RunID)
		op := commitOp(task, store.StatusRunning, base)
		op.NewActivities = []*store.ActivityTask{act(1, "a", base)}
		child := h.createOp("child", "cwf", "")
		op.NewRuns = []*store.RunCreateOp{child}
		op.Messages = []*store.MessageSendOp{{InstanceID: "missing", Message: store.Message{Type: "EventRaised", VisibleAt: base}}}
		h.fails(op, store.ErrNotFound)
		// No trace: no events, no child, no activity; the lease is kept.
		run := h.get("i1", "")
		eq(h, "HistoryLen", run.HistoryLen, int64(0))
		eq(h, "Status", run.Status, store.StatusPending)
		isErr(h, "child", getErr(h, "child", ""), store.ErrNotFound)
		isErr(h, "activity", getTaskErr(h, r.RunID, 1), store.ErrNotFound)
		eq(h, "inbox size", len(h.messages(r.RunID)), 1)
		h.ok(commitOp(task, store.StatusRunning, base))
	}},
	{"MessageToSelfWhenFinishing", func(h *harness) {
		r := h.start("i1", "wf", "")
		h.drive(r.RunID, base, store.StatusCompleted, func(op *store.WorkflowTaskCommitOp) {
			op.Messages = []*store.MessageSendOp{{InstanceID: "i1", RunID: r.RunID,
				Message: store.Message{Type: "TimerFired", VisibleAt: at(time.Hour)}}}
		})
		eq(h, "Status", h.get("i1", "").Status, store.StatusCompleted)
		eq(h, "inbox size", len(h.messages(r.RunID)), 0)
	}},
	{"Children", func(h *harness) {
		parent := h.start("p", "wf", "")
		busy := h.start("busy", "cwf", `1`)
		c1 := h.createOp("c1", "cwf", `{"n":1}`)
		c1.Run.ParentInstanceID, c1.Run.ParentRunID, c1.Run.ParentSeq = "p", parent.RunID, 5
		c1.FailIfExists = true
		c2 := h.createOp("busy", "cwf", `1`)
		c2.FailIfExists = true
		c2.OnConflict = &store.Message{Type: "ChildWorkflowFailed", VisibleAt: base, Data: []byte(`{"seq":6}`)}
		h.drive(parent.RunID, base, store.StatusRunning, func(op *store.WorkflowTaskCommitOp) {
			op.NewRuns = []*store.RunCreateOp{c1, c2}
		})
		// The conflict's message reached the parent in the same commit.
		conflictMsgs := h.messages(parent.RunID)
		eqStrings(h, "parent inbox after a conflict", msgTypes(conflictMsgs), []string{"ChildWorkflowFailed"})
		eqBytes(h, "conflict message data", conflictMsgs[0].Data, []byte(`{"seq":6}`))
		h.drive(parent.RunID, base, "", nil) // consume it
		eq(h, "parent HistoryLen", h.get("p", "").HistoryLen, int64(2))
		eq(h, "c1 Created", c1.Created, true)
		noErr(h, "c1 Err", c1.Err)
		if c1.Result == nil || c1.Result.RunID != c1.Run.RunID {
			h.Fatalf("c1 Result: %+v", c1.Result)
		}
		child := h.get("c1", "")
		eq(h, "child Status", child.Status, store.StatusPending)
		eq(h, "ParentInstanceID", child.ParentInstanceID, "p")
		eq(h, "ParentRunID", child.ParentRunID, parent.RunID)
		eq(h, "ParentSeq", child.ParentSeq, int64(5))
		eqStrings(h, "child inbox", msgTypes(h.messages(child.RunID)), []string{"ExecutionStarted"})
		isErr(h, "c2 Err", c2.Err, store.ErrConflict)
		eq(h, "c2 Created", c2.Created, false)
		if c2.Result != nil {
			h.Fatalf("c2 Result should be nil after a conflict, got %+v", c2.Result)
		}
		eq(h, "busy run", h.get("busy", "").RunID, busy.RunID)
		// The child completes and tells its parent.
		h.drive(child.RunID, base, store.StatusCompleted, func(op *store.WorkflowTaskCommitOp) {
			op.Output = []byte(`"r"`)
			op.Messages = []*store.MessageSendOp{{InstanceID: "p", RunID: parent.RunID, IgnoreFinished: true,
				Message: store.Message{Type: "ChildWorkflowCompleted", VisibleAt: base}}}
		})
		tasks := h.claim("w", base, 10, "wf")
		if len(tasks) != 1 || tasks[0].Run.RunID != parent.RunID {
			h.Fatalf("claim: got %v, want the parent", claimedIDs(tasks))
		}
		task := tasks[0]
		eqStrings(h, "parent messages", msgTypes(task.Messages), []string{"ChildWorkflowCompleted"})
	}},
}

func getTaskErr(h *harness, runID string, seq int64) error {
	_, err := h.S.ActivityTaskGet(h.Ctx, runID, seq)
	return err
}
