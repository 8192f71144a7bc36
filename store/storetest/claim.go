package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/perdure/perdure/store"
)

var claimCases = []testCase{
	{"Task", func(h *harness) {
		r := h.start("i1", "wf", `{"in":1}`)
		h.send("i1", "", "EventRaised", at(time.Second), false)
		h.send("i1", "", "TimerFired", at(time.Hour), false)
		tasks, err := h.S.WorkflowTaskClaim(h.Ctx, &store.WorkflowTaskClaimParams{
			Owner: "w1", Max: 5, Now: at(time.Minute), LeaseUntil: at(2 * time.Minute),
		})
		noErr(h, "claim", err)
		if len(tasks) != 1 {
			h.Fatalf("got %d tasks, want 1", len(tasks))
		}
		task := tasks[0]
		eq(h, "LeaseOwner", task.LeaseOwner, "w1")
		eqTime(h, "LeaseUntil", task.LeaseUntil, at(2*time.Minute))
		eq(h, "Run.RunID", task.Run.RunID, r.RunID)
		eq(h, "Run.InstanceID", task.Run.InstanceID, "i1")
		eqBytes(h, "Run.Input", task.Run.Input, []byte(`{"in":1}`))
		eq(h, "Run.Current", task.Run.Current, true)
		// Only visible messages, in id order.
		eqStrings(h, "messages", msgTypes(task.Messages), []string{"ExecutionStarted", "EventRaised"})
		eq(h, "RunID", task.Messages[1].RunID, r.RunID)
		eqTime(h, "VisibleAt", task.Messages[1].VisibleAt, at(time.Second))
	}},
	{"NoMessagesNotClaimable", func(h *harness) {
		r := h.start("i1", "wf", "")
		h.drive(r.RunID, base, store.StatusRunning, nil)
		if got := h.claim("w", at(24*time.Hour), 10); len(got) != 0 {
			h.Fatalf("a run without messages was claimed")
		}
	}},
	{"Lease", func(h *harness) {
		r := h.start("i1", "wf", "")
		h.claimOne("w1", base, r.RunID) // leased until base+1m
		if got := h.claim("w2", at(30*time.Second), 10); len(got) != 0 {
			h.Fatalf("a leased run was claimed again")
		}
		h.send("i1", "", "EventRaised", base, false)
		if got := h.claim("w2", at(time.Minute-time.Microsecond), 10); len(got) != 0 {
			h.Fatalf("a leased run was claimed again after a new message")
		}
		task := h.claimOne("w2", at(time.Minute), r.RunID)
		eq(h, "LeaseOwner", task.LeaseOwner, "w2")
		eqStrings(h, "messages", msgTypes(task.Messages), []string{"ExecutionStarted", "EventRaised"})
	}},
	{"Names", func(h *harness) {
		a := h.start("a", "alpha", "")
		b := h.start("b", "beta", "")
		c := h.start("c", "gamma", "")
		eqStrings(h, "claim beta", claimedIDs(h.claim("w", base, 10, "beta")), []string{b.RunID})
		eqStrings(h, "claim alpha,gamma", claimedIDs(h.claim("w", base, 10, "alpha", "gamma", "delta")), []string{a.RunID, c.RunID})
		if got := h.claim("w", base, 10, "delta"); len(got) != 0 {
			h.Fatalf("claim delta: got %v", claimedIDs(got))
		}
	}},
	{"MaxAndOrder", func(h *harness) {
		var ids []string
		for i, d := range []time.Duration{3 * time.Second, time.Second, 4 * time.Second, 2 * time.Second} {
			op := h.createOp(fmt.Sprintf("i%d", i), "wf", "")
			op.Start.VisibleAt = at(d)
			h.ok(op)
			ids = append(ids, op.Run.RunID)
		}
		got := h.claim("w", at(time.Minute), 2)
		if len(got) != 2 || got[0].Run.RunID != ids[1] || got[1].Run.RunID != ids[3] {
			h.Fatalf("claim Max=2: got %v, want the two that were ready first [%s %s]", claimedIDs(got), ids[1], ids[3])
		}
		got = h.claim("w", at(time.Minute), 0)
		if len(got) != 1 || got[0].Run.RunID != ids[0] {
			h.Fatalf("claim Max=0: got %v, want [%s]", claimedIDs(got), ids[0])
		}
		eqStrings(h, "rest", claimedIDs(h.claim("w", at(time.Minute), 10)), []string{ids[2]})
	}},
	{"Concurrent", func(h *harness) {
		const runs, workers = 60, 8
		for i := 0; i < runs; i += 20 {
			var ops []store.Op
			for j := i; j < i+20; j++ {
				ops = append(ops, h.createOp(fmt.Sprintf("i%02d", j), "wf", ""))
			}
			h.ok(ops...)
		}
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		var failures []error
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("w%d", w)
				for {
					tasks, err := h.S.WorkflowTaskClaim(h.Ctx, &store.WorkflowTaskClaimParams{
						Owner: owner, Max: 3, Now: base, LeaseUntil: at(time.Hour),
					})
					if err != nil {
						mu.Lock()
						failures = append(failures, err)
						mu.Unlock()
						return
					}
					if len(tasks) == 0 {
						return
					}
					mu.Lock()
					for _, t := range tasks {
						if prev, dup := seen[t.Run.RunID]; dup {
							failures = append(failures, fmt.Errorf("run %s claimed by %s and %s", t.Run.RunID, prev, owner))
						}
						seen[t.Run.RunID] = owner
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for _, err := range failures {
			h.Fatal(err)
		}
		eq(h, "claimed runs", len(seen), runs)
	}},
}
