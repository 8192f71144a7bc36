package storetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/perdure/perdure/store"
)

// startOn starts instance inst of workflow name on task queue queue,
// visible at visible.
func (h *harness) startOn(inst, name, queue string, visible time.Time) *store.Run {
	h.Helper()
	op := h.createOp(inst, name, "")
	op.Run.TaskQueue = queue
	op.Start.VisibleAt = visible
	h.ok(op)
	return op.Result
}

func (h *harness) claimOn(owner string, now time.Time, names, queues []string) []*store.WorkflowTask {
	h.Helper()
	tasks, err := h.S.WorkflowTaskClaim(h.Ctx, &store.WorkflowTaskClaimParams{
		Owner: owner, Max: 100, Now: now, LeaseUntil: now.Add(time.Minute), Names: names, TaskQueues: queues,
	})
	noErr(h, "WorkflowTaskClaim", err)
	return tasks
}

func (h *harness) aclaimOn(owner string, now time.Time, names, queues []string) []*store.ClaimedActivity {
	h.Helper()
	cs, err := h.S.ActivityTaskClaim(h.Ctx, &store.ActivityTaskClaimParams{
		Owner: owner, Max: 100, Now: now, LeaseUntil: now.Add(time.Minute), Names: names, TaskQueues: queues,
	})
	noErr(h, "ActivityTaskClaim", err)
	return cs
}

func actOn(seq int64, name, queue string, visible time.Time) *store.ActivityTask {
	a := act(seq, name, visible)
	a.TaskQueue = queue
	return a
}

var queueCases = []testCase{
	{"WorkflowTaskClaim", func(h *harness) {
		def := h.startOn("def", "wf", "", at(time.Second))
		gpu := h.startOn("gpu", "wf", "gpu", at(2*time.Second))
		cpu := h.startOn("cpu", "other", "cpu", at(3*time.Second))
		gpu2 := h.startOn("gpu2", "other", "gpu", at(4*time.Second))
		now := at(time.Minute)
		if got := h.claimOn("w", now, nil, []string{"none"}); len(got) != 0 {
			h.Fatalf("claim on queue none: got %v", claimedIDs(got))
		}
		eqStrings(h, "claim wf on gpu", claimedIDs(h.claimOn("w", now, []string{"wf"}, []string{"gpu"})), []string{gpu.RunID})
		eqStrings(h, "claim on the default queue", claimedIDs(h.claimOn("w", now, nil, []string{""})), []string{def.RunID})
		got := h.claimOn("w", now, nil, []string{"cpu", "gpu"})
		if len(got) != 2 || got[0].Run.RunID != cpu.RunID || got[1].Run.RunID != gpu2.RunID {
			h.Fatalf("claim on cpu and gpu: got %v, want [%s %s], oldest ready first", claimedIDs(got), cpu.RunID, gpu2.RunID)
		}
		eq(h, "TaskQueue", got[1].Run.TaskQueue, "gpu")
	}},
	{"ExcludeNames", func(h *harness) {
		a := h.startOn("a", "go", "", at(time.Second))
		b := h.startOn("b", "grpc", "", at(2*time.Second))
		c := h.startOn("c", "other", "q", at(3*time.Second))
		now := at(time.Minute)
		tasks, err := h.S.WorkflowTaskClaim(h.Ctx, &store.WorkflowTaskClaimParams{
			Owner: "w", Max: 100, Now: now, LeaseUntil: now.Add(time.Minute), ExcludeNames: []string{"go", "other"}})
		noErr(h, "WorkflowTaskClaim", err)
		eqStrings(h, "claim leaving out go and other", claimedIDs(tasks), []string{b.RunID})
		tasks, err = h.S.WorkflowTaskClaim(h.Ctx, &store.WorkflowTaskClaimParams{
			Owner: "w", Max: 100, Now: now, LeaseUntil: now.Add(time.Minute), ExcludeNames: []string{"go"}, TaskQueues: []string{"q"}})
		noErr(h, "WorkflowTaskClaim", err)
		eqStrings(h, "claim on q leaving out go", claimedIDs(tasks), []string{c.RunID})
		eqStrings(h, "claim of go", claimedIDs(h.claimOn("w", now, []string{"go"}, nil)), []string{a.RunID})
	}},
	{"AnyQueue", func(h *harness) {
		a := h.startOn("a", "wf", "", base)
		b := h.startOn("b", "wf", "q", base)
		eqStrings(h, "claim without a queue filter", claimedIDs(h.claimOn("w", base, []string{"wf"}, nil)),
			claimedIDs([]*store.WorkflowTask{{Run: a}, {Run: b}}))
	}},
	{"ActivityTaskClaim", func(h *harness) {
		r := h.startActs("i1", actOn(1, "a", "", at(time.Second)), actOn(2, "a", "gpu", at(2*time.Second)),
			actOn(3, "b", "gpu", at(3*time.Second)), actOn(4, "a", "cpu", at(4*time.Second)))
		now := at(time.Minute)
		if got := h.aclaimOn("w", now, []string{"b"}, []string{"cpu"}); len(got) != 0 {
			h.Fatalf("claim b on cpu: got %v", seqs(got))
		}
		cs := h.aclaimOn("w", now, []string{"a", "b"}, []string{"gpu"})
		if fmt.Sprint(seqs(cs)) != "[2 3]" {
			h.Fatalf("claim a,b on gpu: got %v, want [2 3]", seqs(cs))
		}
		eq(h, "TaskQueue", cs[0].Task.TaskQueue, "gpu")
		if cs = h.aclaimOn("w", now, nil, []string{""}); fmt.Sprint(seqs(cs)) != "[1]" {
			h.Fatalf("claim on the default queue: got %v, want [1]", seqs(cs))
		}
		// An expired task goes only to a claimer of its queue.
		later := now.Add(time.Hour)
		if cs = h.aclaimOn("w2", later, nil, []string{"cpu"}); fmt.Sprint(seqs(cs)) != "[4]" || cs[0].Expired {
			h.Fatalf("claim on cpu: got %v, want [4] not expired", seqs(cs))
		}
		cs = h.aclaimOn("w3", later, nil, []string{"gpu"})
		if fmt.Sprint(sortedSeqs(cs)) != "[2 3]" || !cs[0].Expired || !cs[1].Expired {
			h.Fatalf("claim of expired tasks on gpu: got %v, want [2 3] expired", seqs(cs))
		}
		eq(h, "task 1 still leased by w", h.task(r.RunID, 1).LeaseOwner, "w")
	}},
	{"Eager", func(h *harness) {
		op := h.createOp("i1", "wf", "")
		op.Run.TaskQueue = "gpu"
		op.Eager = eagerAt("w1", base)
		op.Eager.TaskQueues = []string{"cpu"}
		h.ok(op)
		if op.Claimed != nil {
			h.Fatalf("a run on queue gpu was leased eagerly to a worker of queue cpu")
		}
		op = h.createOp("i2", "wf", "")
		op.Run.TaskQueue = "gpu"
		op.Eager = eagerAt("w1", base)
		op.Eager.TaskQueues = []string{"cpu", "gpu"}
		h.ok(op)
		if op.Claimed == nil {
			h.Fatalf("a run on queue gpu was not leased eagerly to a worker of queue gpu")
		}
		h.ok(commitOp(op.Claimed, store.StatusRunning, base))

		// An activity result wakes the run: leased only to its queue.
		r := h.startOn("i3", "wf", "gpu", base)
		h.drive(r.RunID, base, store.StatusRunning, func(op *store.WorkflowTaskCommitOp) {
			op.NewActivities = []*store.ActivityTask{act(1, "a", base), act(2, "a", base)}
		})
		cs := h.aclaimOn("aw", base, nil, nil)
		for _, c := range cs {
			if c.Task.RunID != r.RunID {
				continue
			}
			fin := finishOp(c, "TaskCompleted", at(time.Second))
			fin.Eager = eagerAt("w1", at(time.Second))
			fin.Eager.TaskQueues = []string{""}
			h.ok(fin)
			if fin.Claimed != nil {
				h.Fatalf("a run on queue gpu was leased by an activity result to a worker of the default queue")
			}
		}
		found := false
		for _, t := range h.claimOn("w2", at(time.Second), nil, []string{"gpu"}) {
			found = found || t.Run.RunID == r.RunID
		}
		if !found {
			h.Fatalf("the run woken by the activity results is not claimable on its queue")
		}
	}},
}

// sortedSeqs returns the seqs of cs in ascending order.
func sortedSeqs(cs []*store.ClaimedActivity) []int64 {
	s := seqs(cs)
	slices.Sort(s)
	return s
}
