package storetest

import (
	"time"

	"github.com/perdure/perdure/store"
)

var createCases = []testCase{
	{"New", func(h *harness) {
		op := h.createOp("i1", "wf", `{"a":1}`)
		op.Run.ParentInstanceID = "parent"
		op.Run.ParentRunID = "parent~r0"
		op.Run.ParentSeq = 7
		op.Run.PreviousRunID = "prev"
		op.Run.TaskQueue = "q1"
		op.Run.CreatedAt = at(time.Second)
		op.Run.UpdatedAt = at(2 * time.Second)
		op.Start.VisibleAt = at(3 * time.Second)
		h.ok(op)
		eq(h, "Created", op.Created, true)
		eq(h, "Start.RunID", op.Start.RunID, op.Run.RunID)
		for _, r := range []*store.Run{op.Result, h.get("i1", ""), h.get("i1", op.Run.RunID), h.get("", op.Run.RunID)} {
			eq(h, "InstanceID", r.InstanceID, "i1")
			eq(h, "RunID", r.RunID, op.Run.RunID)
			eq(h, "Name", r.Name, "wf")
			eq(h, "Status", r.Status, store.StatusPending)
			eq(h, "Current", r.Current, true)
			eqBytes(h, "Input", r.Input, []byte(`{"a":1}`))
			eqBytes(h, "Output", r.Output, nil)
			eqBytes(h, "Failure", r.Failure, nil)
			eqBytes(h, "CustomStatus", r.CustomStatus, nil)
			eq(h, "ParentInstanceID", r.ParentInstanceID, "parent")
			eq(h, "ParentRunID", r.ParentRunID, "parent~r0")
			eq(h, "ParentSeq", r.ParentSeq, int64(7))
			eq(h, "PreviousRunID", r.PreviousRunID, "prev")
			eq(h, "TaskQueue", r.TaskQueue, "q1")
			eqTime(h, "CreatedAt", r.CreatedAt, at(time.Second))
			eqTime(h, "UpdatedAt", r.UpdatedAt, at(2*time.Second))
			eqTime(h, "CompletedAt", r.CompletedAt, time.Time{})
			eq(h, "HistoryLen", r.HistoryLen, int64(0))
			eq(h, "TaskError", r.TaskError, "")
		}
		ms := h.messages(op.Run.RunID)
		if len(ms) != 1 {
			h.Fatalf("inbox: got %d messages, want the Start message", len(ms))
		}
		m := ms[0]
		eq(h, "Start.RunID", m.RunID, op.Run.RunID)
		eq(h, "Start.Type", m.Type, "ExecutionStarted")
		eq(h, "Start.Control", m.Control, false)
		eqTime(h, "Start.VisibleAt", m.VisibleAt, at(3*time.Second))
		eqBytes(h, "Start.Data", m.Data, op.Start.Data)
	}},
	{"StartVisibleAt", func(h *harness) {
		op := h.createOp("i1", "wf", "")
		op.Start.VisibleAt = at(time.Hour)
		h.ok(op)
		if got := h.claim("w", at(time.Hour-time.Microsecond), 10); len(got) != 0 {
			h.Fatalf("claimed %v before the start message is visible", claimedIDs(got))
		}
		task := h.claimOne("w", at(time.Hour), op.Run.RunID)
		eqStrings(h, "messages", msgTypes(task.Messages), []string{"ExecutionStarted"})
	}},
	{"IdempotentRetry", func(h *harness) {
		first := h.start("i1", "wf", `{"x":1}`)
		op := h.createOp("i1", "wf", `{"x":1}`)
		h.ok(op)
		eq(h, "Created", op.Created, false)
		if op.Result == nil {
			h.Fatalf("Result is nil for an idempotent retry")
		}
		eq(h, "Result.RunID", op.Result.RunID, first.RunID)
		eq(h, "Result.Current", op.Result.Current, true)
		if len(h.messages(first.RunID)) != 1 {
			h.Fatalf("an idempotent retry wrote a second start message")
		}
		isErr(h, "RunGet of the retry's run id", getErr(h, "", op.Run.RunID), store.ErrNotFound)
		// nil input is idempotent with nil input.
		h.start("i2", "wf", "")
		op = h.createOp("i2", "wf", "")
		h.ok(op)
		eq(h, "Created (nil input)", op.Created, false)
	}},
	{"IdempotentWhileRunning", func(h *harness) {
		first := h.start("i1", "wf", `1`)
		h.drive(first.RunID, base, store.StatusRunning, nil)
		op := h.createOp("i1", "wf", `1`)
		h.ok(op)
		eq(h, "Created", op.Created, false)
		eq(h, "Result.Status", op.Result.Status, store.StatusRunning)
		eq(h, "Result.HistoryLen", op.Result.HistoryLen, int64(1))
	}},
	{"ConflictInput", func(h *harness) {
		h.start("i1", "wf", `{"x":1}`)
		h.fails(h.createOp("i1", "wf", `{"x":2}`), store.ErrConflict)
		h.fails(h.createOp("i1", "wf", ""), store.ErrConflict)
	}},
	{"ConflictName", func(h *harness) {
		h.start("i1", "wf", `1`)
		h.fails(h.createOp("i1", "other", `1`), store.ErrConflict)
		eq(h, "Name", h.get("i1", "").Name, "wf")
	}},
	{"FailIfExists", func(h *harness) {
		h.start("i1", "wf", `1`)
		op := h.createOp("i1", "wf", `1`)
		op.FailIfExists = true
		h.fails(op, store.ErrConflict)
		h.finish("i1", base, store.StatusCompleted)
		op = h.createOp("i1", "wf", `1`)
		op.FailIfExists = true
		h.ok(op)
		eq(h, "Created", op.Created, true)
	}},
	{"AfterFinished", func(h *harness) {
		old := h.start("i1", "wf", `1`)
		h.finish("i1", at(time.Second), store.StatusFailed)
		op := h.createOp("i1", "wf2", `2`)
		op.Run.CreatedAt = at(2 * time.Second)
		h.ok(op)
		eq(h, "Created", op.Created, true)
		eq(h, "Result.Current", op.Result.Current, true)
		cur := h.get("i1", "")
		eq(h, "current run", cur.RunID, op.Run.RunID)
		eq(h, "current Name", cur.Name, "wf2")
		eq(h, "current Status", cur.Status, store.StatusPending)
		prev := h.get("i1", old.RunID)
		eq(h, "old Current", prev.Current, false)
		eq(h, "old Status", prev.Status, store.StatusFailed)
		eqBytes(h, "old Failure", prev.Failure, []byte(`{"message":"boom"}`))
		h.claimOne("w", at(2*time.Second), op.Run.RunID)
	}},
	{"DuplicateRunID", func(h *harness) {
		r := h.start("i1", "wf", "")
		op := h.createOp("i2", "wf", "")
		op.Run.RunID = r.RunID
		h.fails(op, store.ErrConflict)
		isErr(h, "RunGet i2", getErr(h, "i2", ""), store.ErrNotFound)
	}},
}

func getErr(h *harness, inst, runID string) error {
	_, err := h.S.RunGet(h.Ctx, inst, runID)
	return err
}

var sendCases = []testCase{
	{"ToCurrentRun", func(h *harness) {
		r := h.start("i1", "wf", "")
		op := h.send("i1", "", "EventRaised", at(time.Second), false)
		eq(h, "ResultRunID", op.ResultRunID, r.RunID)
		op2 := h.send("i1", "", "Terminate", at(2*time.Second), true)
		ms := h.messages(r.RunID)
		eqStrings(h, "inbox", msgTypes(ms), []string{"ExecutionStarted", "EventRaised", "Terminate"})
		if !(ms[0].ID < ms[1].ID && ms[1].ID < ms[2].ID) {
			h.Fatalf("message ids not increasing: %d %d %d", ms[0].ID, ms[1].ID, ms[2].ID)
		}
		eq(h, "RunID", ms[1].RunID, r.RunID)
		eqTime(h, "VisibleAt", ms[1].VisibleAt, at(time.Second))
		eqBytes(h, "Data", ms[1].Data, []byte(`"EventRaised"`))
		eq(h, "Control", ms[1].Control, false)
		eq(h, "Control", ms[2].Control, true)
		eq(h, "ResultRunID", op2.ResultRunID, r.RunID)
	}},
	{"ToExplicitRun", func(h *harness) {
		r := h.start("i1", "wf", "")
		op := h.send("i1", r.RunID, "EventRaised", base, false)
		eq(h, "ResultRunID", op.ResultRunID, r.RunID)
		eq(h, "inbox size", len(h.messages(r.RunID)), 2)
	}},
	{"Missing", func(h *harness) {
		r := h.start("i1", "wf", "")
		msg := store.Message{Type: "EventRaised", VisibleAt: base}
		h.fails(&store.MessageSendOp{InstanceID: "nope", Message: msg}, store.ErrNotFound)
		h.fails(&store.MessageSendOp{InstanceID: "i1", RunID: "nope", Message: msg}, store.ErrNotFound)
		h.start("i2", "wf", "")
		h.fails(&store.MessageSendOp{InstanceID: "i2", RunID: r.RunID, Message: msg}, store.ErrNotFound)
		eq(h, "inbox size", len(h.messages(r.RunID)), 1)
	}},
	{"Finished", func(h *harness) {
		r := h.start("i1", "wf", "")
		h.finish("i1", base, store.StatusCompleted)
		msg := store.Message{Type: "EventRaised", VisibleAt: base}
		h.fails(&store.MessageSendOp{InstanceID: "i1", Message: msg}, store.ErrNotRunning)
		h.fails(&store.MessageSendOp{InstanceID: "i1", RunID: r.RunID, Message: msg}, store.ErrNotRunning)
		eq(h, "inbox size", len(h.messages(r.RunID)), 0)
		// A newer run does not make an explicit old run reachable.
		h.start("i1", "wf", "")
		h.fails(&store.MessageSendOp{InstanceID: "i1", RunID: r.RunID, Message: msg}, store.ErrNotRunning)
	}},
	{"IgnoreFinished", func(h *harness) {
		r := h.start("i1", "wf", "")
		h.finish("i1", base, store.StatusCompleted)
		msg := store.Message{Type: "TaskCompleted", VisibleAt: base}
		for _, op := range []*store.MessageSendOp{
			{InstanceID: "i1", Message: msg, IgnoreFinished: true},
			{InstanceID: "i1", RunID: r.RunID, Message: msg, IgnoreFinished: true},
			{InstanceID: "nope", Message: msg, IgnoreFinished: true},
			{InstanceID: "i1", RunID: "nope", Message: msg, IgnoreFinished: true},
		} {
			h.ok(op)
			eq(h, "ResultRunID", op.ResultRunID, "")
		}
		eq(h, "inbox size", len(h.messages(r.RunID)), 0)
		if got := h.claim("w", at(time.Hour), 10); len(got) != 0 {
			h.Fatalf("a finished run became claimable: %v", claimedIDs(got))
		}
		// IgnoreFinished still delivers to a running run.
		r2 := h.start("i2", "wf", "")
		op := &store.MessageSendOp{InstanceID: "i2", Message: msg, IgnoreFinished: true}
		h.ok(op)
		eq(h, "ResultRunID", op.ResultRunID, r2.RunID)
	}},
	{"Suspended", func(h *harness) {
		r := h.start("i1", "wf", "")
		h.drive(r.RunID, base, store.StatusSuspended, nil)
		h.send("i1", "", "EventRaised", base, false)
		if got := h.claim("w", at(time.Minute), 10); len(got) != 0 {
			h.Fatalf("a non-control message woke a suspended run")
		}
		h.send("i1", "", "Resume", at(time.Hour), true)
		if got := h.claim("w", at(time.Minute), 10); len(got) != 0 {
			h.Fatalf("a control message woke a suspended run before its VisibleAt")
		}
		task := h.claimOne("w", at(time.Hour), r.RunID)
		eqStrings(h, "messages of a suspended run", msgTypes(task.Messages), []string{"Resume"})
		h.ok(commitOp(task, store.StatusRunning, at(time.Hour)))
		eqStrings(h, "inbox", msgTypes(h.messages(r.RunID)), []string{"EventRaised"})
		task = h.claimOne("w", at(time.Hour), r.RunID)
		eqStrings(h, "messages after resume", msgTypes(task.Messages), []string{"EventRaised"})
	}},
	{"SuspendedWithPendingMessages", func(h *harness) {
		// Messages that arrived before the suspension wait too.
		r := h.start("i1", "wf", "")
		h.drive(r.RunID, base, store.StatusRunning, nil)
		h.send("i1", "", "EventRaised", base, false)
		task := h.claimOne("w", base, r.RunID)
		op := commitOp(task, store.StatusSuspended, base)
		op.Consumed, op.NewEvents = nil, nil
		h.ok(op)
		if got := h.claim("w", at(time.Minute), 10); len(got) != 0 {
			h.Fatalf("a suspended run with only non-control messages was claimed")
		}
		h.send("i1", "", "Terminate", base, true)
		task = h.claimOne("w", at(time.Minute), r.RunID)
		eqStrings(h, "messages", msgTypes(task.Messages), []string{"Terminate"})
	}},
}
