package storetest

import (
	"context"
	"fmt"
	"time"

	"github.com/perdure/perdure/store"
)

// now returns the wall clock as the engine writes it.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// wakeup asks for the next wake-up after now, as a claim loop that has
// just found nothing does.
func (h *harness) wakeup() (time.Time, bool) {
	h.Helper()
	t, ok, err := h.S.NextWakeup(h.Ctx, now())
	noErr(h, "NextWakeup", err)
	return t, ok
}

func wantWakeup(h *harness, what string, want time.Time) {
	h.Helper()
	got, ok := h.wakeup()
	if !ok {
		h.Fatalf("%s: NextWakeup reported nothing, want %v", what, want)
	}
	eqTime(h, what, got, want)
}

func wantNoWakeup(h *harness, what string) {
	h.Helper()
	if got, ok := h.wakeup(); ok {
		h.Fatalf("%s: NextWakeup = %v, want nothing", what, got)
	}
}

// startAt creates instance inst whose start message is visible at v.
func (h *harness) startAt(inst string, v time.Time) *store.Run {
	h.Helper()
	op := h.createOp(inst, "wf", "")
	op.Start.VisibleAt = v
	h.ok(op)
	return op.Result
}

var wakeupCases = []testCase{
	{"Empty", func(h *harness) {
		wantNoWakeup(h, "empty store")
	}},
	{"Messages", func(h *harness) {
		t0 := now()
		h.startAt("past", t0.Add(-time.Hour))
		wantNoWakeup(h, "only a visible message")
		h.startAt("later", t0.Add(2*time.Hour))
		h.startAt("soon", t0.Add(time.Hour))
		wantWakeup(h, "earliest future message", t0.Add(time.Hour))
		h.send("soon", "", "TimerFired", t0.Add(30*time.Minute), false)
		wantWakeup(h, "a sooner timer", t0.Add(30*time.Minute))
	}},
	{"After", func(h *harness) {
		// A claim at t0 found nothing; a timer due just after it is due
		// by now. Asked for after the claim, the store reports it; asked
		// for after now, it would be skipped for the later one.
		t0 := now()
		h.startAt("due", t0.Add(time.Millisecond))
		h.startAt("later", t0.Add(time.Hour))
		for time.Now().Before(t0.Add(2 * time.Millisecond)) {
			time.Sleep(time.Millisecond)
		}
		got, ok, err := h.S.NextWakeup(h.Ctx, t0)
		noErr(h, "NextWakeup", err)
		if !ok {
			h.Fatalf("NextWakeup after the claim reported nothing")
		}
		eqTime(h, "wake-up due since the claim", got, t0.Add(time.Millisecond))
		got, ok, err = h.S.NextWakeup(h.Ctx, t0.Add(time.Millisecond))
		noErr(h, "NextWakeup", err)
		if !ok {
			h.Fatalf("NextWakeup after the first message reported nothing")
		}
		eqTime(h, "wake-up after the first message (exclusive)", got, t0.Add(time.Hour))
	}},
	{"RunLease", func(h *harness) {
		t0 := now()
		r := h.startAt("i1", t0.Add(-time.Hour))
		tasks, err := h.S.WorkflowTaskClaim(h.Ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: t0, LeaseUntil: t0.Add(time.Hour)})
		noErr(h, "claim", err)
		eq(h, "claimed", len(tasks), 1)
		// The run is claimable again when its lease expires.
		wantWakeup(h, "lease expiry of a run with messages", t0.Add(time.Hour))
		h.ok(commitOp(tasks[0], store.StatusRunning, t0))
		wantNoWakeup(h, "a run without messages")
		eq(h, "HistoryLen", h.get("i1", r.RunID).HistoryLen, int64(1))
	}},
	{"Suspended", func(h *harness) {
		t0 := now()
		r := h.startAt("i1", t0.Add(-time.Hour))
		tasks, err := h.S.WorkflowTaskClaim(h.Ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: t0, LeaseUntil: t0.Add(time.Hour)})
		noErr(h, "claim", err)
		h.ok(commitOp(tasks[0], store.StatusSuspended, t0))
		h.send("i1", r.RunID, "TimerFired", t0.Add(time.Hour), false)
		wantNoWakeup(h, "a non-control message of a suspended run")
		h.send("i1", r.RunID, "Terminate", t0.Add(2*time.Hour), true)
		wantWakeup(h, "a control message of a suspended run", t0.Add(2*time.Hour))
	}},
	{"ActivityTasks", func(h *harness) {
		t0 := now()
		r := h.startAt("i1", t0.Add(-time.Hour))
		tasks, err := h.S.WorkflowTaskClaim(h.Ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: t0, LeaseUntil: t0.Add(time.Hour)})
		noErr(h, "claim", err)
		op := commitOp(tasks[0], store.StatusRunning, t0)
		op.NewActivities = []*store.ActivityTask{
			act(1, "now", t0.Add(-time.Minute)),
			act(2, "ready", t0.Add(5*time.Hour)),
			act(3, "run", t0.Add(-time.Minute)),
			act(4, "pend", t0.Add(-time.Minute)),
			act(5, "pend0", t0.Add(-time.Minute)),
		}
		h.ok(op)
		wantWakeup(h, "READY task visibility", t0.Add(5*time.Hour))
		claim := func(name string, lease time.Time) {
			cs, err := h.S.ActivityTaskClaim(h.Ctx, &store.ActivityTaskClaimParams{Owner: "aw", Max: 1, Now: t0, LeaseUntil: lease, Names: []string{name}})
			noErr(h, "ActivityTaskClaim", err)
			eq(h, "claimed", len(cs), 1)
		}
		claim("run", t0.Add(4*time.Hour))
		wantWakeup(h, "RUNNING lease expiry", t0.Add(4*time.Hour))
		claim("pend", t0.Add(10*time.Hour))
		h.ok(&store.ActivityTaskPendOp{RunID: r.RunID, Seq: 4, Attempt: 1, Deadline: t0.Add(3 * time.Hour)})
		wantWakeup(h, "PENDING deadline", t0.Add(3*time.Hour))
		claim("pend0", t0.Add(time.Minute))
		h.ok(&store.ActivityTaskPendOp{RunID: r.RunID, Seq: 5, Attempt: 1})
		h.ok(&store.ActivityTaskHeartbeatOp{RunID: r.RunID, Seq: 3, Attempt: 1, LeaseUntil: t0.Add(4 * time.Hour), Deadline: t0.Add(2 * time.Hour), Now: t0})
		wantWakeup(h, "RUNNING deadline", t0.Add(2*time.Hour))
	}},
}

var purgeCases = []testCase{
	{"ByInstance", func(h *harness) {
		h.start("run", "wf", "")
		_, err := h.S.Purge(h.Ctx, &store.PurgeParams{InstanceID: "run"})
		isErr(h, "purge a running instance", err, store.ErrStillRunning)
		_, err = h.S.Purge(h.Ctx, &store.PurgeParams{InstanceID: "nope"})
		isErr(h, "purge a missing instance", err, store.ErrNotFound)

		first := h.startActs("i1", act(1, "a", base))
		h.send("i1", "", "EventRaised", base, false)
		next := h.createOp("i1", "wf", "")
		h.drive(first.RunID, base, store.StatusContinuedAsNew, func(op *store.WorkflowTaskCommitOp) {
			op.NewRuns = []*store.RunCreateOp{next}
		})
		h.finish("i1", base, store.StatusCompleted)
		n, err := h.S.Purge(h.Ctx, &store.PurgeParams{InstanceID: "i1"})
		noErr(h, "Purge", err)
		eq(h, "purged", n, 1)
		for _, id := range []string{first.RunID, next.Run.RunID} {
			isErr(h, "RunGet", getErr(h, "", id), store.ErrNotFound)
			_, err = h.S.HistoryGet(h.Ctx, &store.HistoryGetParams{RunID: id})
			isErr(h, "HistoryGet", err, store.ErrNotFound)
			_, err = h.S.MessageList(h.Ctx, id)
			isErr(h, "MessageList", err, store.ErrNotFound)
		}
		isErr(h, "RunGet instance", getErr(h, "i1", ""), store.ErrNotFound)
		ids, _ := h.list(store.RunListParams{AllRuns: true})
		eq(h, "remaining runs", len(ids), 1)
		// The instance id can be used again.
		h.start("i1", "wf", "")
	}},
	{"ByFilter", func(h *harness) {
		type spec struct {
			inst, name string
			finish     store.Status
			at         time.Duration
		}
		for _, s := range []spec{
			{"a", "order", store.StatusCompleted, 3 * time.Second},
			{"b", "order", store.StatusFailed, 1 * time.Second},
			{"c", "ship", store.StatusCompleted, 2 * time.Second},
			{"d", "order", store.StatusTerminated, 4 * time.Second},
			{"e", "order", store.StatusCompleted, 5 * time.Second},
			{"f", "order", "", 0},
		} {
			h.start(s.inst, s.name, "")
			if s.finish != "" {
				h.finish(s.inst, at(s.at), s.finish)
			}
		}
		purge := func(p store.PurgeParams, want int) {
			h.Helper()
			n, err := h.S.Purge(h.Ctx, &p)
			noErr(h, "Purge", err)
			eq(h, fmt.Sprintf("purged by %+v", p), n, want)
		}
		exists := func(inst string) bool {
			err := getErr(h, inst, "")
			if err != nil {
				isErr(h, "RunGet", err, store.ErrNotFound)
			}
			return err == nil
		}
		d := h.get("d", "")
		eq(h, "d history", len(h.history(d.RunID)), 1)
		purge(store.PurgeParams{Statuses: []store.Status{store.StatusTerminated, store.StatusRunning}}, 1)
		eq(h, "d purged", exists("d"), false)
		_, err := h.S.HistoryGet(h.Ctx, &store.HistoryGetParams{RunID: d.RunID})
		isErr(h, "HistoryGet of a purged run", err, store.ErrNotFound)
		purge(store.PurgeParams{Name: "ship", FinishedBefore: at(2 * time.Second)}, 0)
		purge(store.PurgeParams{Name: "ship", FinishedBefore: at(2*time.Second + time.Microsecond)}, 1)
		eq(h, "c purged", exists("c"), false)
		// Limit purges the instances that finished first.
		purge(store.PurgeParams{Limit: 2}, 2)
		eq(h, "b purged", exists("b"), false)
		eq(h, "a purged", exists("a"), false)
		eq(h, "e kept", exists("e"), true)
		purge(store.PurgeParams{}, 1)
		eq(h, "e purged", exists("e"), false)
		eq(h, "running f kept", exists("f"), true)
		purge(store.PurgeParams{}, 0)
	}},
}

var applyCases = []testCase{
	{"PerOpIsolation", func(h *harness) {
		h.start("x", "wf", `1`)
		a, conflict, b := h.createOp("a", "wf", ""), h.createOp("x", "wf", `2`), h.createOp("b", "wf", "")
		send := &store.MessageSendOp{InstanceID: "nope", Message: store.Message{Type: "EventRaised"}}
		errs := h.apply(a, conflict, send, b)
		noErr(h, "op 0", errs[0])
		isErr(h, "op 1", errs[1], store.ErrConflict)
		isErr(h, "op 2", errs[2], store.ErrNotFound)
		noErr(h, "op 3", errs[3])
		h.get("a", "")
		h.get("b", "")
		isErr(h, "the conflicting run", getErr(h, "", conflict.Run.RunID), store.ErrNotFound)
	}},
	{"InOrder", func(h *harness) {
		create := h.createOp("i1", "wf", "")
		send := &store.MessageSendOp{InstanceID: "i1", Message: store.Message{Type: "EventRaised", VisibleAt: base}}
		sendFirst := &store.MessageSendOp{InstanceID: "i2", Message: store.Message{Type: "EventRaised", VisibleAt: base}}
		create2 := h.createOp("i2", "wf", "")
		errs := h.apply(create, send, sendFirst, create2)
		noErr(h, "create", errs[0])
		noErr(h, "send after create", errs[1])
		isErr(h, "send before create", errs[2], store.ErrNotFound)
		noErr(h, "create 2", errs[3])
		eqStrings(h, "inbox", msgTypes(h.messages(create.Run.RunID)), []string{"ExecutionStarted", "EventRaised"})
		eqStrings(h, "inbox 2", msgTypes(h.messages(create2.Run.RunID)), []string{"ExecutionStarted"})
	}},
	{"ActivityAndCommitInOneBatch", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		h.send("i1", "", "EventRaised", base, false)
		task := h.claimOne("w", base, r.RunID)
		// The task result arrives in the same batch as a commit that does
		// not consume it.
		h.ok(finishOp(c, "TaskCompleted", base), commitOp(task, store.StatusRunning, base))
		task = h.claimOne("w", base, r.RunID)
		eqStrings(h, "messages", msgTypes(task.Messages), []string{"TaskCompleted"})
	}},
	{"Empty", func(h *harness) {
		errs, err := h.S.Apply(h.Ctx, nil)
		noErr(h, "Apply(nil)", err)
		eq(h, "errors", len(errs), 0)
	}},
	{"CanceledContext", func(h *harness) {
		ctx, cancel := context.WithCancel(h.Ctx)
		cancel()
		_, err := h.S.Apply(ctx, []store.Op{h.createOp("i1", "wf", "")})
		if err == nil {
			h.Fatalf("Apply with a canceled context succeeded")
		}
		isErr(h, "RunGet", getErr(h, "i1", ""), store.ErrNotFound)
	}},
	{"Closed", func(h *harness) {
		r := h.start("i1", "wf", "")
		noErr(h, "Close", h.S.Close())
		_, err := h.S.Apply(h.Ctx, []store.Op{h.createOp("i2", "wf", "")})
		isErr(h, "Apply", err, store.ErrClosed)
		_, err = h.S.RunGet(h.Ctx, "i1", "")
		isErr(h, "RunGet", err, store.ErrClosed)
		_, err = h.S.WorkflowTaskClaim(h.Ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: base, LeaseUntil: at(time.Minute)})
		isErr(h, "WorkflowTaskClaim", err, store.ErrClosed)
		_, err = h.S.ActivityTaskClaim(h.Ctx, &store.ActivityTaskClaimParams{Owner: "w", Max: 1, Now: base, LeaseUntil: at(time.Minute)})
		isErr(h, "ActivityTaskClaim", err, store.ErrClosed)
		_, err = h.S.RunList(h.Ctx, &store.RunListParams{})
		isErr(h, "RunList", err, store.ErrClosed)
		_, err = h.S.HistoryGet(h.Ctx, &store.HistoryGetParams{RunID: r.RunID})
		isErr(h, "HistoryGet", err, store.ErrClosed)
		_, err = h.S.MessageList(h.Ctx, r.RunID)
		isErr(h, "MessageList", err, store.ErrClosed)
		_, err = h.S.ActivityTaskList(h.Ctx, r.RunID)
		isErr(h, "ActivityTaskList", err, store.ErrClosed)
		_, err = h.S.ActivityTaskGet(h.Ctx, r.RunID, 1)
		isErr(h, "ActivityTaskGet", err, store.ErrClosed)
		_, _, err = h.S.NextWakeup(h.Ctx, now())
		isErr(h, "NextWakeup", err, store.ErrClosed)
		_, err = h.S.Purge(h.Ctx, &store.PurgeParams{})
		isErr(h, "Purge", err, store.ErrClosed)
		isErr(h, "LeasesRelease", h.S.LeasesRelease(h.Ctx, ""), store.ErrClosed)
	}},
}
