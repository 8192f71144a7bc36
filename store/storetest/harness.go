package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

// base is the fixed clock of most cases: UTC, microsecond precision, as the
// engine writes times.
var base = time.Date(2031, 3, 4, 5, 6, 7, 891011000, time.UTC)

// at returns base+d.
func at(d time.Duration) time.Time { return base.Add(d) }

// harness is the per-case harness: a store and helpers that fail the test on
// unexpected errors.
type harness struct {
	*testing.T
	S   store.Store
	Ctx context.Context
	n   int
}

func (h *harness) next() int { h.n++; return h.n }

func bs(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// apply runs ops in one batch and returns the per-op errors.
func (h *harness) apply(ops ...store.Op) []error {
	h.Helper()
	errs, err := h.S.Apply(h.Ctx, ops)
	if err != nil {
		h.Fatalf("Apply: batch failed: %v", err)
	}
	if len(errs) != len(ops) {
		h.Fatalf("Apply returned %d errors for %d ops", len(errs), len(ops))
	}
	return errs
}

// ok applies ops in one batch and fails the test unless all succeed.
func (h *harness) ok(ops ...store.Op) {
	h.Helper()
	for i, err := range h.apply(ops...) {
		if err != nil {
			h.Fatalf("op %d (%T): %v", i, ops[i], err)
		}
	}
}

// fails applies op alone and checks that it fails with target.
func (h *harness) fails(op store.Op, target error) {
	h.Helper()
	err := h.apply(op)[0]
	if !errors.Is(err, target) {
		h.Fatalf("%T: got error %v, want %v", op, err, target)
	}
}

func isErr(h *harness, what string, err, target error) {
	h.Helper()
	if !errors.Is(err, target) {
		h.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func noErr(h *harness, what string, err error) {
	h.Helper()
	if err != nil {
		h.Fatalf("%s: %v", what, err)
	}
}

// createOp builds a start of instance inst at base, visible at base.
func (h *harness) createOp(inst, name, input string) *store.RunCreateOp {
	n := h.next()
	return &store.RunCreateOp{
		Run: store.Run{
			InstanceID: inst,
			RunID:      fmt.Sprintf("%s~r%d", inst, n),
			Name:       name,
			Input:      bs(input),
			CreatedAt:  base,
			UpdatedAt:  base,
		},
		Start: store.Message{Type: "ExecutionStarted", VisibleAt: base, Data: []byte(fmt.Sprintf(`{"n":%d}`, n))},
	}
}

// start creates instance inst and returns the new run.
func (h *harness) start(inst, name, input string) *store.Run {
	h.Helper()
	op := h.createOp(inst, name, input)
	h.ok(op)
	if !op.Created || op.Result == nil {
		h.Fatalf("start %s: Created=%v Result=%v", inst, op.Created, op.Result)
	}
	return op.Result
}

func (h *harness) get(inst, runID string) *store.Run {
	h.Helper()
	r, err := h.S.RunGet(h.Ctx, inst, runID)
	noErr(h, "RunGet "+inst+" "+runID, err)
	return r
}

func (h *harness) claim(owner string, now time.Time, max int, names ...string) []*store.WorkflowTask {
	h.Helper()
	tasks, err := h.S.WorkflowTaskClaim(h.Ctx, &store.WorkflowTaskClaimParams{
		Owner: owner, Max: max, Now: now, LeaseUntil: now.Add(time.Minute), Names: names,
	})
	noErr(h, "WorkflowTaskClaim", err)
	return tasks
}

// claimOne claims at now as owner and checks that exactly runID is returned.
func (h *harness) claimOne(owner string, now time.Time, runID string) *store.WorkflowTask {
	h.Helper()
	tasks := h.claim(owner, now, 10000)
	if len(tasks) != 1 || tasks[0].Run.RunID != runID {
		h.Fatalf("claim at %v: got runs %v, want [%s]", now, claimedIDs(tasks), runID)
	}
	return tasks[0]
}

// claimedIDs returns the run ids of tasks, sorted.
func claimedIDs(tasks []*store.WorkflowTask) []string {
	var ids []string
	for _, t := range tasks {
		ids = append(ids, t.Run.RunID)
	}
	sort.Strings(ids)
	return ids
}

// commitOp builds a commit of task that consumes all its messages (one
// event per message) and sets status.
func commitOp(task *store.WorkflowTask, status store.Status, updated time.Time) *store.WorkflowTaskCommitOp {
	op := &store.WorkflowTaskCommitOp{
		InstanceID: task.Run.InstanceID,
		RunID:      task.Run.RunID,
		LeaseOwner: task.LeaseOwner,
		HistoryLen: task.Run.HistoryLen,
		Status:     status,
		UpdatedAt:  updated,
	}
	for i, m := range task.Messages {
		op.NewEvents = append(op.NewEvents, &store.Event{
			ID: task.Run.HistoryLen + int64(i) + 1, Type: m.Type, Time: updated, Data: m.Data,
		})
		op.Consumed = append(op.Consumed, m.ID)
	}
	return op
}

// drive claims runID at now (with every other claimable run, under a fresh
// owner), commits its messages with status and the changes made by mod, and
// releases the other runs. It returns the commit op.
func (h *harness) drive(runID string, now time.Time, status store.Status, mod func(*store.WorkflowTaskCommitOp)) *store.WorkflowTaskCommitOp {
	h.Helper()
	owner := fmt.Sprintf("driver-%d", h.next())
	var task *store.WorkflowTask
	for _, t := range h.claim(owner, now, 10000) {
		if t.Run.RunID == runID {
			task = t
		}
	}
	if task == nil {
		noErr(h, "LeasesRelease", h.S.LeasesRelease(h.Ctx, owner))
		h.Fatalf("run %s is not claimable at %v", runID, now)
	}
	op := commitOp(task, status, now)
	if mod != nil {
		mod(op)
	}
	h.ok(op)
	noErr(h, "LeasesRelease", h.S.LeasesRelease(h.Ctx, owner))
	return op
}

// finish completes the current run of inst at now.
func (h *harness) finish(inst string, now time.Time, status store.Status) *store.Run {
	h.Helper()
	r := h.get(inst, "")
	h.drive(r.RunID, now, status, func(op *store.WorkflowTaskCommitOp) {
		if status == store.StatusCompleted {
			op.Output = []byte(`"done"`)
		} else {
			op.Failure = []byte(`{"message":"boom"}`)
		}
	})
	return h.get(inst, r.RunID)
}

// startActs starts inst and schedules acts in its first workflow task.
func (h *harness) startActs(inst string, acts ...*store.ActivityTask) *store.Run {
	h.Helper()
	r := h.start(inst, "wf", "")
	h.drive(r.RunID, base, store.StatusRunning, func(op *store.WorkflowTaskCommitOp) {
		op.NewActivities = acts
	})
	return h.get(inst, r.RunID)
}

func act(seq int64, name string, visible time.Time) *store.ActivityTask {
	return &store.ActivityTask{
		Seq:         seq,
		Name:        name,
		Input:       []byte(fmt.Sprintf(`{"seq":%d}`, seq)),
		Options:     []byte(`{"retry":{"max":3}}`),
		State:       store.ActivityReady,
		ScheduledAt: base,
		VisibleAt:   visible,
	}
}

func (h *harness) aclaim(owner string, now time.Time, max int, names ...string) []*store.ClaimedActivity {
	h.Helper()
	cs, err := h.S.ActivityTaskClaim(h.Ctx, &store.ActivityTaskClaimParams{
		Owner: owner, Max: max, Now: now, LeaseUntil: now.Add(time.Minute), Names: names,
	})
	noErr(h, "ActivityTaskClaim", err)
	return cs
}

func (h *harness) aclaimOne(owner string, now time.Time) *store.ClaimedActivity {
	h.Helper()
	cs := h.aclaim(owner, now, 10)
	if len(cs) != 1 {
		h.Fatalf("ActivityTaskClaim at %v: got %d tasks, want 1", now, len(cs))
	}
	return cs[0]
}

func (h *harness) task(runID string, seq int64) *store.ActivityTask {
	h.Helper()
	t, err := h.S.ActivityTaskGet(h.Ctx, runID, seq)
	noErr(h, "ActivityTaskGet", err)
	return t
}

func (h *harness) messages(runID string) []*store.Message {
	h.Helper()
	ms, err := h.S.MessageList(h.Ctx, runID)
	noErr(h, "MessageList", err)
	return ms
}

func (h *harness) history(runID string) []*store.Event {
	h.Helper()
	evs, err := h.S.HistoryGet(h.Ctx, &store.HistoryGetParams{RunID: runID})
	noErr(h, "HistoryGet", err)
	return evs
}

func (h *harness) send(inst, runID, typ string, visible time.Time, control bool) *store.MessageSendOp {
	h.Helper()
	op := &store.MessageSendOp{InstanceID: inst, RunID: runID, Message: store.Message{
		Type: typ, VisibleAt: visible, Control: control, Data: []byte(`"` + typ + `"`),
	}}
	h.ok(op)
	return op
}

// eqTime checks that got is want exactly, in UTC.
func eqTime(h *harness, what string, got, want time.Time) {
	h.Helper()
	if !got.Equal(want) || got.Location() != time.UTC {
		h.Fatalf("%s: got %v (%v), want %v", what, got, got.Location(), want)
	}
}

func eqBytes(h *harness, what string, got, want []byte) {
	h.Helper()
	if !bytes.Equal(got, want) {
		h.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

func eq[T comparable](h *harness, what string, got, want T) {
	h.Helper()
	if got != want {
		h.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func msgTypes(ms []*store.Message) []string {
	var ts []string
	for _, m := range ms {
		ts = append(ts, m.Type)
	}
	return ts
}

func eqStrings(h *harness, what string, got, want []string) {
	h.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) || len(got) != len(want) {
		h.Fatalf("%s: got %q, want %q", what, got, want)
	}
}
