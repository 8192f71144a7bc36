// Package storetest is the conformance suite of the store.Store contract.
// Every backend calls Run from its tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
//	}
//
// Each case gets its own store from newStore and runs in parallel with the
// others. The suite closes the store when the case ends (Close must accept a
// second call).
//
// Besides the semantics written in package store, the suite pins down these
// choices, which every backend follows:
//
//   - A run's lease is live while Now < LeaseUntil; a message is visible when
//     VisibleAt <= Now; an activity deadline has passed when Deadline <= Now.
//   - WorkflowTaskClaim and ActivityTaskClaim return the runs or tasks that
//     became ready first (oldest ready time first). Max <= 0 means 1; an
//     empty Names list means any name.
//   - WorkflowTaskAbandonOp keeps the run unleased but not claimable until
//     RetryAt; LeasesRelease does not shorten that delay.
//   - An activity task operation fenced by Attempt fails with ErrStaleTask
//     when the task is READY (the attempt was retried), when the attempt
//     differs, or when the task no longer exists (the error then also
//     matches ErrNotFound).
//   - A claim of an expired activity task leases it (RUNNING, the claimer's
//     lease, no deadline) and returns the task with the State and Deadline
//     it had before, so the claimer can tell a timeout from a lost lease.
//   - ActivityTaskPendOp clears the lease; a PENDING task expires only at its
//     Deadline. LeasesRelease turns RUNNING tasks into expired ones.
//   - In WorkflowTaskCommitOp the run's new status is applied first, then
//     CancelActivities and NewActivities, NewRuns, Messages, and finally the
//     clean-up of a finished run. A message addressed to a run that this very
//     commit finishes is dropped; any other failing message (without
//     IgnoreFinished) fails the whole commit op. A NewRuns entry failing with
//     ErrConflict sets that entry's Err and the commit goes on; other errors
//     fail the commit op. CarryOverEvents re-inserts the EventRaised messages
//     in the new run after its Start message (new ids, same order).
//   - MessageSendOp with IgnoreFinished that writes nothing leaves
//     ResultRunID "".
//   - RunCreateOp with a RunID that already exists fails with ErrConflict.
//   - HistoryGet, MessageList and ActivityTaskList fail with ErrNotFound for
//     a run that does not exist.
//   - RunList: CreatedAfter is inclusive and CreatedBefore exclusive; runs
//     with equal CreatedAt are ordered by RunID, descending.
//   - NextWakeup only reports times after the time it is given, even
//     times the store's clock has passed;
//     non-Control messages of a SUSPENDED run do not count.
//   - Purge by filter deletes the instances that finished first;
//     FinishedBefore is exclusive.
//   - CancelActivities ignores seqs that have no task.
//   - A claim's or Eager's TaskQueues filter applies to runs by
//     Run.TaskQueue and to activity tasks (READY or expired) by
//     ActivityTask.TaskQueue; "" in it names the default queue.
//   - A claim's ExcludeNames leaves out runs of those workflows.
package storetest

import (
	"context"
	"testing"

	"github.com/perdure/perdure/store"
)

type testCase struct {
	name string
	fn   func(h *harness)
}

type group struct {
	name  string
	cases []testCase
}

func groups() []group {
	return []group{
		{"RunCreate", createCases},
		{"MessageSend", sendCases},
		{"WorkflowTaskClaim", claimCases},
		{"WorkflowTaskCommit", commitCases},
		{"ContinueAsNew", continueCases},
		{"WorkflowTaskAbandon", abandonCases},
		{"ActivityTask", activityCases},
		{"Eager", eagerCases},
		{"Fused", fusedCases},
		{"LeasesRelease", releaseCases},
		{"Query", queryCases},
		{"RunList", listCases},
		{"NextWakeup", wakeupCases},
		{"Purge", purgeCases},
		{"Apply", applyCases},
		{"TaskQueues", queueCases},
	}
}

// Run runs the conformance suite against stores made by newStore. Each
// sub-test calls newStore once and runs in parallel with the others.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					s := newStore(t)
					t.Cleanup(func() { _ = s.Close() })
					c.fn(&harness{T: t, S: s, Ctx: context.Background()})
				})
			}
		})
	}
}
