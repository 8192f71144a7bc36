package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/perdure/perdure/store"
)

func finishOp(c *store.ClaimedActivity, typ string, now time.Time) *store.ActivityTaskFinishOp {
	return &store.ActivityTaskFinishOp{
		RunID: c.Task.RunID, Seq: c.Task.Seq, Attempt: c.Task.Attempt, Now: now,
		Message: store.Message{Type: typ, VisibleAt: now, Data: []byte(fmt.Sprintf(`{"seq":%d}`, c.Task.Seq))},
	}
}

// staleErr checks that err is ErrStaleTask.
func staleErr(h *harness, what string, err error) {
	h.Helper()
	isErr(h, what, err, store.ErrStaleTask)
}

var activityCases = []testCase{
	{"Claim", func(h *harness) {
		r := h.startActs("i1", act(1, "a", at(time.Second)))
		if got := h.aclaim("w", at(time.Second-time.Microsecond), 10); len(got) != 0 {
			h.Fatalf("claimed a task before its VisibleAt")
		}
		cs, err := h.S.ActivityTaskClaim(h.Ctx, &store.ActivityTaskClaimParams{
			Owner: "w1", Max: 10, Now: at(time.Second), LeaseUntil: at(time.Minute),
		})
		noErr(h, "ActivityTaskClaim", err)
		if len(cs) != 1 {
			h.Fatalf("got %d tasks, want 1", len(cs))
		}
		c := cs[0]
		eq(h, "Expired", c.Expired, false)
		for _, t := range []*store.ActivityTask{c.Task, h.task(r.RunID, 1)} {
			eq(h, "RunID", t.RunID, r.RunID)
			eq(h, "InstanceID", t.InstanceID, "i1")
			eq(h, "Name", t.Name, "a")
			eq(h, "State", t.State, store.ActivityRunning)
			eq(h, "Attempt", t.Attempt, 1)
			eqTime(h, "StartedAt", t.StartedAt, at(time.Second))
			eq(h, "LeaseOwner", t.LeaseOwner, "w1")
			eqTime(h, "LeaseUntil", t.LeaseUntil, at(time.Minute))
			eqBytes(h, "Input", t.Input, []byte(`{"seq":1}`))
		}
		// Leased: not returned again until the lease passes.
		if got := h.aclaim("w2", at(time.Minute-time.Microsecond), 10); len(got) != 0 {
			h.Fatalf("claimed a leased task")
		}
		c = h.aclaimOne("w2", at(time.Minute))
		eq(h, "Expired", c.Expired, true)
		eq(h, "Attempt", c.Task.Attempt, 1)
		eq(h, "State", c.Task.State, store.ActivityRunning)
		eqTime(h, "StartedAt", c.Task.StartedAt, at(time.Second))
		eq(h, "LeaseOwner", c.Task.LeaseOwner, "w2")
		eqTime(h, "LeaseUntil", c.Task.LeaseUntil, at(2*time.Minute))
		// The expired claim leases the task too.
		if got := h.aclaim("w3", at(time.Minute+time.Second), 10); len(got) != 0 {
			h.Fatalf("an expired task was returned twice")
		}
	}},
	{"NamesMaxOrder", func(h *harness) {
		h.startActs("i1", act(1, "a", at(3*time.Second)), act(2, "b", at(time.Second)), act(3, "a", at(2*time.Second)), act(4, "c", base))
		cs := h.aclaim("w", at(time.Minute), 10, "a", "zzz")
		if len(cs) != 2 || cs[0].Task.Seq != 3 || cs[1].Task.Seq != 1 {
			h.Fatalf("claim names a: got %v, want seqs [3 1]", seqs(cs))
		}
		cs = h.aclaim("w", at(time.Minute), 1)
		if len(cs) != 1 || cs[0].Task.Seq != 4 {
			h.Fatalf("claim Max=1: got %v, want [4]", seqs(cs))
		}
		cs = h.aclaim("w", at(time.Minute), 0)
		if len(cs) != 1 || cs[0].Task.Seq != 2 {
			h.Fatalf("claim Max=0: got %v, want [2]", seqs(cs))
		}
	}},
	{"Concurrent", func(h *harness) {
		var acts []*store.ActivityTask
		for i := 1; i <= 40; i++ {
			acts = append(acts, act(int64(i), "a", base))
		}
		h.startActs("i1", acts...)
		var mu sync.Mutex
		seen := map[int64]bool{}
		var failures []error
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					cs, err := h.S.ActivityTaskClaim(h.Ctx, &store.ActivityTaskClaimParams{
						Owner: fmt.Sprint("w", w), Max: 3, Now: base, LeaseUntil: at(time.Hour),
					})
					mu.Lock()
					if err != nil {
						failures = append(failures, err)
					}
					for _, c := range cs {
						if seen[c.Task.Seq] {
							failures = append(failures, fmt.Errorf("task %d claimed twice", c.Task.Seq))
						}
						seen[c.Task.Seq] = true
					}
					mu.Unlock()
					if err != nil || len(cs) == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, err := range failures {
			h.Fatal(err)
		}
		eq(h, "claimed", len(seen), 40)
	}},
	{"Finish", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		op := finishOp(c, "TaskCompleted", at(time.Second))
		op.Attempt = 2
		staleErr(h, "finish with a wrong attempt", h.apply(op)[0])
		h.ok(finishOp(c, "TaskCompleted", at(time.Second)))
		isErr(h, "ActivityTaskGet", getTaskErr(h, r.RunID, 1), store.ErrNotFound)
		ms := h.messages(r.RunID)
		eqStrings(h, "inbox", msgTypes(ms), []string{"TaskCompleted"})
		eq(h, "RunID", ms[0].RunID, r.RunID)
		eqBytes(h, "Data", ms[0].Data, []byte(`{"seq":1}`))
		task := h.claimOne("w", at(time.Second), r.RunID)
		eqStrings(h, "messages", msgTypes(task.Messages), []string{"TaskCompleted"})
		// Finishing again: the task is gone.
		err := h.apply(finishOp(c, "TaskCompleted", at(time.Second)))[0]
		staleErr(h, "second finish", err)
		isErr(h, "second finish", err, store.ErrNotFound)
	}},
	{"FinishRequireUnexpired", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		h.ok(&store.ActivityTaskPendOp{RunID: r.RunID, Seq: 1, Attempt: 1, Deadline: at(time.Hour)})
		op := finishOp(c, "TaskCompleted", at(time.Hour))
		op.RequireUnexpired = true
		staleErr(h, "finish at the deadline", h.apply(op)[0])
		op.Now = at(time.Hour - time.Microsecond)
		h.ok(op)
		eqStrings(h, "inbox", msgTypes(h.messages(r.RunID)), []string{"TaskCompleted"})
	}},
	{"FinishedRun", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		h.send("i1", "", "Terminate", base, true)
		h.drive(r.RunID, base, store.StatusTerminated, nil)
		staleErr(h, "finish for a finished run", h.apply(finishOp(c, "TaskCompleted", base))[0])
		eq(h, "inbox size", len(h.messages(r.RunID)), 0)
	}},
	{"Retry", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		c := h.aclaimOne("w", base)
		h.ok(&store.ActivityTaskHeartbeatOp{RunID: r.RunID, Seq: 1, Attempt: 1, Details: []byte(`{"p":50}`), LeaseUntil: at(time.Minute), Now: base})
		staleErr(h, "retry with a wrong attempt", h.apply(&store.ActivityTaskRetryOp{RunID: r.RunID, Seq: 1, Attempt: 2, VisibleAt: base})[0])
		h.ok(&store.ActivityTaskRetryOp{RunID: r.RunID, Seq: 1, Attempt: 1, VisibleAt: at(time.Hour),
			LastFailure: []byte(`{"message":"e1"}`), Attempts: []byte(`[{"attempt":1}]`)})
		t := h.task(r.RunID, 1)
		eq(h, "State", t.State, store.ActivityReady)
		eq(h, "Attempt", t.Attempt, 1)
		eqTime(h, "VisibleAt", t.VisibleAt, at(time.Hour))
		eqBytes(h, "LastFailure", t.LastFailure, []byte(`{"message":"e1"}`))
		eqBytes(h, "Attempts", t.Attempts, []byte(`[{"attempt":1}]`))
		eqBytes(h, "HeartbeatDetails", t.HeartbeatDetails, []byte(`{"p":50}`))
		eq(h, "LeaseOwner", t.LeaseOwner, "")
		// The old attempt is stale now, even with its own number.
		staleErr(h, "finish of a retried attempt", h.apply(finishOp(c, "TaskCompleted", base))[0])
		staleErr(h, "heartbeat of a retried attempt", h.apply(&store.ActivityTaskHeartbeatOp{RunID: r.RunID, Seq: 1, Attempt: 1, Now: base})[0])
		if got := h.aclaim("w", at(time.Hour-time.Microsecond), 10); len(got) != 0 {
			h.Fatalf("claimed a retried task before its VisibleAt")
		}
		c = h.aclaimOne("w", at(time.Hour))
		eq(h, "Expired", c.Expired, false)
		eq(h, "Attempt", c.Task.Attempt, 2)
		eqTime(h, "StartedAt", c.Task.StartedAt, at(time.Hour))
		eqBytes(h, "HeartbeatDetails for the next attempt", c.Task.HeartbeatDetails, []byte(`{"p":50}`))
		eqBytes(h, "LastFailure", c.Task.LastFailure, []byte(`{"message":"e1"}`))
		eqTime(h, "Deadline", c.Task.Deadline, time.Time{})
		h.ok(finishOp(c, "TaskFailed", at(time.Hour)))
	}},
	{"Pend", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base), act(2, "b", base))
		h.aclaim("w", base, 2)
		staleErr(h, "pend with a wrong attempt", h.apply(&store.ActivityTaskPendOp{RunID: r.RunID, Seq: 1, Attempt: 3})[0])
		h.ok(&store.ActivityTaskPendOp{RunID: r.RunID, Seq: 1, Attempt: 1})
		h.ok(&store.ActivityTaskPendOp{RunID: r.RunID, Seq: 2, Attempt: 1, Deadline: at(time.Hour)})
		t := h.task(r.RunID, 1)
		eq(h, "State", t.State, store.ActivityPending)
		eqTime(h, "Deadline", t.Deadline, time.Time{})
		eq(h, "Attempt", t.Attempt, 1)
		t = h.task(r.RunID, 2)
		eq(h, "State", t.State, store.ActivityPending)
		eqTime(h, "Deadline", t.Deadline, at(time.Hour))
		// The lease does not expire a PENDING task; its deadline does.
		if got := h.aclaim("w2", at(time.Hour-time.Microsecond), 10); len(got) != 0 {
			h.Fatalf("claimed a PENDING task before its deadline")
		}
		c := h.aclaimOne("w2", at(time.Hour))
		eq(h, "Seq", c.Task.Seq, int64(2))
		eq(h, "Expired", c.Expired, true)
		eq(h, "Attempt", c.Task.Attempt, 1)
		eq(h, "State (as it was)", c.Task.State, store.ActivityPending)
		eqTime(h, "Deadline (as it was)", c.Task.Deadline, at(time.Hour))
		eq(h, "LeaseOwner", c.Task.LeaseOwner, "w2")
		stored := h.task(r.RunID, 2)
		eq(h, "stored State", stored.State, store.ActivityRunning)
		eqTime(h, "stored Deadline", stored.Deadline, time.Time{})
		// A PENDING task without a deadline never expires.
		if got := h.aclaim("w2", at(1000*time.Hour), 10, "a"); len(got) != 0 {
			h.Fatalf("claimed a PENDING task without a deadline")
		}
		// Completion by task token.
		op := finishOp(&store.ClaimedActivity{Task: h.task(r.RunID, 1)}, "TaskCompleted", at(1000*time.Hour))
		op.RequireUnexpired = true
		h.ok(op)
		eqStrings(h, "inbox", msgTypes(h.messages(r.RunID)), []string{"TaskCompleted"})
	}},
	{"Heartbeat", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		h.aclaimOne("w", base) // lease until base+1m
		hb := func(d []byte, lease, deadline time.Time) *store.ActivityTaskHeartbeatOp {
			return &store.ActivityTaskHeartbeatOp{RunID: r.RunID, Seq: 1, Attempt: 1, Details: d, LeaseUntil: lease, Deadline: deadline, Now: base}
		}
		staleErr(h, "heartbeat with a wrong attempt", h.apply(&store.ActivityTaskHeartbeatOp{RunID: r.RunID, Seq: 1, Attempt: 2, Now: base})[0])
		staleErr(h, "heartbeat of a missing task", h.apply(&store.ActivityTaskHeartbeatOp{RunID: r.RunID, Seq: 9, Attempt: 1, Now: base})[0])
		h.ok(hb([]byte(`{"p":1}`), at(10*time.Minute), at(5*time.Minute)))
		t := h.task(r.RunID, 1)
		eqBytes(h, "HeartbeatDetails", t.HeartbeatDetails, []byte(`{"p":1}`))
		eqTime(h, "LeaseUntil", t.LeaseUntil, at(10*time.Minute))
		eqTime(h, "Deadline", t.Deadline, at(5*time.Minute))
		eq(h, "State", t.State, store.ActivityRunning)
		// nil details and a zero deadline keep the previous values.
		h.ok(hb(nil, at(10*time.Minute), time.Time{}))
		t = h.task(r.RunID, 1)
		eqBytes(h, "HeartbeatDetails", t.HeartbeatDetails, []byte(`{"p":1}`))
		eqTime(h, "Deadline", t.Deadline, at(5*time.Minute))
		// The old lease passed but the extended one holds.
		if got := h.aclaim("w2", at(2*time.Minute), 10); len(got) != 0 {
			h.Fatalf("claimed a task whose lease was extended")
		}
		// A RUNNING task expires at its deadline, before its lease.
		op := hb(nil, at(10*time.Minute), time.Time{})
		op.RequireUnexpired = true
		op.Now = at(5 * time.Minute)
		staleErr(h, "heartbeat past the deadline", h.apply(op)[0])
		c := h.aclaimOne("w2", at(5*time.Minute))
		eq(h, "Expired", c.Expired, true)
		eq(h, "Attempt", c.Task.Attempt, 1)
		eqTime(h, "Deadline (as it was)", c.Task.Deadline, at(5*time.Minute))
		eqBytes(h, "HeartbeatDetails", c.Task.HeartbeatDetails, []byte(`{"p":1}`))
	}},
	{"PendingHeartbeat", func(h *harness) {
		r := h.startActs("i1", act(1, "a", base))
		h.aclaimOne("w", base)
		h.ok(&store.ActivityTaskPendOp{RunID: r.RunID, Seq: 1, Attempt: 1, Deadline: at(time.Hour)})
		h.ok(&store.ActivityTaskHeartbeatOp{RunID: r.RunID, Seq: 1, Attempt: 1, Details: []byte(`"d"`), Deadline: at(2 * time.Hour), Now: base})
		t := h.task(r.RunID, 1)
		eq(h, "State", t.State, store.ActivityPending)
		eqTime(h, "Deadline", t.Deadline, at(2*time.Hour))
		if got := h.aclaim("w2", at(time.Hour), 10); len(got) != 0 {
			h.Fatalf("claimed a PENDING task before its extended deadline")
		}
	}},
}

func seqs(cs []*store.ClaimedActivity) []int64 {
	var s []int64
	for _, c := range cs {
		s = append(s, c.Task.Seq)
	}
	return s
}
