// Package store defines the persistence contract of Perdure: the Store
// interface that every backend (embedded SQLite, in-memory, PostgreSQL)
// implements, the records it keeps, and the sentinel errors it maps its
// failures onto.
//
// A store keeps five kinds of records:
//
//   - runs: one row per run of a workflow instance. An instance id names a
//     sequence of runs (continue-as-new, or a new start after the previous
//     run finished); exactly one run per instance id is the current run.
//   - history: the append-only event log of one run. Events are numbered
//     1, 2, 3… per run; the engine assigns the numbers and the store refuses
//     a commit whose numbering does not continue the stored history
//     (optimistic fencing).
//   - messages: the inbox of a run. Everything that happens to a run from
//     outside its workflow task (an activity result, a fired timer, a raised
//     event, a terminate request, a child's completion) arrives as a message;
//     the next workflow task consumes messages and appends them to history.
//     A message has a visibility time, which is how durable timers work.
//   - activity tasks: one row per scheduled activity until it finishes, with
//     its attempt number, lease, deadline and heartbeat details.
//
// Writes go through Apply, which takes a batch of operations from many
// callers and commits them in one transaction (group commit). Each operation
// succeeds or fails on its own; a failed operation leaves no trace.
//
// Times are kept in UTC at microsecond precision (the engine truncates them
// before it writes), so that every backend round-trips them exactly.
//
// A run is claimable by WorkflowTaskClaim when it has a message that can wake
// it (any message; only Control messages while it is SUSPENDED) whose
// VisibleAt has passed, and no live lease. Stores keep this "ready at" time
// on the run so that claims and NextWakeup are index lookups.
//
// Every store must pass the conformance suite in package storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Stores wrap them with %w and a message that says which
// record was involved; callers test with errors.Is.
var (
	// ErrNotFound: the instance, run or activity task does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a start names an instance id that is running with a
	// different workflow name or input.
	ErrConflict = errors.New("conflict")
	// ErrNotRunning: the operation needs a run that has not finished.
	ErrNotRunning = errors.New("instance is not running")
	// ErrStillRunning: the operation (purge) needs a finished instance.
	ErrStillRunning = errors.New("instance is still running")
	// ErrLeaseLost: a workflow task commit whose lease is no longer held by
	// the committer, or whose history numbering does not continue the stored
	// history. The committer must drop its in-memory state for the run.
	ErrLeaseLost = errors.New("lease lost")
	// ErrStaleTask: an activity task operation for an attempt that is not the
	// current attempt of that task (it finished, timed out or was retried).
	ErrStaleTask = errors.New("stale activity task")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store closed")
	// ErrSchemaTooNew: the database was migrated by a newer Perdure.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
)

// Status is the runtime status of a run. The strings are part of the public
// API (HTTP, CLI) and must not change.
type Status string

// The runtime statuses.
const (
	StatusPending        Status = "PENDING"
	StatusRunning        Status = "RUNNING"
	StatusSuspended      Status = "SUSPENDED"
	StatusCompleted      Status = "COMPLETED"
	StatusFailed         Status = "FAILED"
	StatusTerminated     Status = "TERMINATED"
	StatusContinuedAsNew Status = "CONTINUED_AS_NEW"
)

// Finished reports whether a run in status s will never change again.
func (s Status) Finished() bool {
	switch s {
	case StatusCompleted, StatusFailed, StatusTerminated, StatusContinuedAsNew:
		return true
	}
	return false
}

// Valid reports whether s is one of the defined statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusRunning, StatusSuspended, StatusCompleted,
		StatusFailed, StatusTerminated, StatusContinuedAsNew:
		return true
	}
	return false
}

// Run is one run of a workflow instance.
type Run struct {
	InstanceID string
	RunID      string // globally unique
	Name       string // workflow name
	Status     Status
	Current    bool // the current run of InstanceID

	Input        []byte // encoded payload (JSON by default); nil when none
	Output       []byte // encoded payload, set when completed
	Failure      []byte // JSON-encoded failure details, set when failed or terminated
	CustomStatus []byte // encoded payload set by the workflow, nil when none

	ParentInstanceID string // set for child workflows
	ParentRunID      string
	ParentSeq        int64  // the step in the parent that started this child
	PreviousRunID    string // set for a run created by continue-as-new
	TaskQueue        string // the task queue whose workers run it; "" is the default queue

	CreatedAt   time.Time
	UpdatedAt   time.Time
	CompletedAt time.Time // zero until finished

	// HistoryLen is the number of events in this run's history.
	HistoryLen int64
	// TaskError describes the last failed workflow task (for example a
	// non-determinism error); empty once a workflow task succeeds.
	TaskError string
	// Waiting is what the run waits on now, a JSON document written by each
	// workflow task (WorkflowTaskCommitOp.Waiting); nil once finished.
	Waiting []byte
}

// Event is one entry of a run's history. The store does not interpret Data.
type Event struct {
	ID   int64  // 1-based position in the run's history, assigned by the engine
	Type string // event type name, e.g. "TaskScheduled"
	Time time.Time
	Data []byte // JSON document describing the event
}

// Message is an entry in a run's inbox.
type Message struct {
	ID        int64 // assigned by the store; increasing in insertion order
	RunID     string
	Type      string // event type name; see MessageTypeEventRaised
	VisibleAt time.Time
	// Control messages (resume, terminate) wake a suspended run; all other
	// messages wait while a run is SUSPENDED.
	Control bool
	Data    []byte
}

// MessageTypeEventRaised is the Type of messages that carry an external
// event. On continue-as-new such messages that were not consumed move to the
// new run (see WorkflowTaskCommitOp.CarryOverEvents).
const MessageTypeEventRaised = "EventRaised"

// ActivityState is where an activity task is in its life.
type ActivityState string

// The activity task states.
const (
	// ActivityReady: waiting for VisibleAt, then for a worker.
	ActivityReady ActivityState = "READY"
	// ActivityRunning: claimed by a worker (LeaseOwner) until LeaseUntil.
	ActivityRunning ActivityState = "RUNNING"
	// ActivityPending: the activity returned "result pending"; it waits for
	// completion by task token until Deadline (zero: no deadline).
	ActivityPending ActivityState = "PENDING"
)

// ActivityTask is a scheduled activity that has not finished.
type ActivityTask struct {
	InstanceID string
	RunID      string
	Seq        int64 // the step number in the run that scheduled it
	Name       string
	TaskQueue  string
	Input      []byte
	Options    []byte // JSON-encoded options (retry policy, timeouts); opaque to the store

	State       ActivityState
	Attempt     int // the current attempt, 1-based; 0 before the first claim
	ScheduledAt time.Time
	VisibleAt   time.Time // READY tasks are claimable from then
	StartedAt   time.Time // start of the current attempt
	LeaseOwner  string
	LeaseUntil  time.Time // RUNNING: the claim expires then
	Deadline    time.Time // the current attempt times out then; zero: none

	HeartbeatDetails []byte // last details recorded by any attempt
	LastFailure      []byte // JSON-encoded failure of the previous attempt
	Attempts         []byte // JSON-encoded log of finished attempts; opaque to the store
}

// WorkflowTask is a claimed run with the messages that are ready for it.
type WorkflowTask struct {
	Run        *Run
	Messages   []*Message // visible messages, in ID order; only Control ones when SUSPENDED
	LeaseOwner string
	LeaseUntil time.Time
}

// Store is the persistence contract. All methods are safe for concurrent use.
type Store interface {
	// Apply commits ops in one transaction, in order, and returns one error
	// per op (nil for success). A failed op leaves no trace, and does not
	// fail the others. The second result is non-nil only when the whole
	// batch could not be committed; then nothing was written. Apply returns
	// only after the transaction is durable.
	Apply(ctx context.Context, ops []Op) ([]error, error)

	// WorkflowTaskClaim leases up to p.Max runs that have visible messages
	// and no live lease, and returns them with those messages.
	WorkflowTaskClaim(ctx context.Context, p *WorkflowTaskClaimParams) ([]*WorkflowTask, error)
	// ActivityTaskClaim leases up to p.Max activity tasks: READY tasks whose
	// VisibleAt has passed, and RUNNING or PENDING tasks whose lease or
	// deadline has passed (returned with Expired set, so the engine can
	// record the lost attempt). A claimed READY task gets Attempt+1,
	// StartedAt=p.Now and state RUNNING; an expired one keeps its attempt.
	ActivityTaskClaim(ctx context.Context, p *ActivityTaskClaimParams) ([]*ClaimedActivity, error)
	// LeasesRelease drops every lease held by owner (graceful shutdown, or
	// an exclusive store's startup with owner ""=all owners): claimed runs
	// become claimable at once, RUNNING activity tasks become expired.
	LeasesRelease(ctx context.Context, owner string) error

	// RunGet returns a run; runID "" means the current run of instanceID.
	RunGet(ctx context.Context, instanceID, runID string) (*Run, error)
	// RunList lists runs, newest first, with filters and keyset pagination.
	RunList(ctx context.Context, p *RunListParams) (*RunListResult, error)
	// RunCounts counts runs by status, with RunList's filters except
	// Statuses and Cursor.
	RunCounts(ctx context.Context, p *RunListParams) (map[Status]int64, error)
	// HistoryGet returns events of one run with ID > p.AfterID, in order,
	// at most p.Limit (0: all).
	HistoryGet(ctx context.Context, p *HistoryGetParams) ([]*Event, error)
	// MessageList returns the inbox of a run (including messages not yet
	// visible), in ID order. Used to show what a run is waiting on.
	MessageList(ctx context.Context, runID string) ([]*Message, error)
	// ActivityTaskList returns the unfinished activity tasks of a run.
	ActivityTaskList(ctx context.Context, runID string) ([]*ActivityTask, error)
	// ActivityTaskGet returns one unfinished activity task.
	ActivityTaskGet(ctx context.Context, runID string, seq int64) (*ActivityTask, error)
	// NextWakeup returns the earliest time after after at which a message
	// or a READY activity task becomes visible, or a lease or deadline
	// expires; ok is false when nothing is scheduled after it. A caller
	// that found nothing to claim passes the time of its claim, so that
	// what became due since is reported (a time not after the store's
	// clock: claim again at once), not skipped.
	NextWakeup(ctx context.Context, after time.Time) (t time.Time, ok bool, err error)
	// Purge deletes finished instances (all their runs, history, messages
	// and tasks) and returns how many instances it deleted.
	Purge(ctx context.Context, p *PurgeParams) (int, error)

	// Exclusive reports whether this store is used by a single process at a
	// time (so the engine may release all leases at startup).
	Exclusive() bool
	// Close releases the store's resources.
	Close() error
}

// WorkflowTaskClaimParams selects and leases runs.
type WorkflowTaskClaimParams struct {
	Owner      string
	Max        int
	Now        time.Time
	LeaseUntil time.Time
	Names      []string // workflow names the claimer can run; nil: any
	// ExcludeNames leaves out runs of these workflows (the names other
	// workers of the process serve, when Names is nil); nil: none.
	ExcludeNames []string
	// TaskQueues restricts the claim to runs on these task queues ("" is
	// the default queue); empty: any queue.
	TaskQueues []string
}

// ActivityTaskClaimParams selects and leases activity tasks.
type ActivityTaskClaimParams struct {
	Owner      string
	Max        int
	Now        time.Time
	LeaseUntil time.Time
	Names      []string // activity names the claimer can run; nil: any
	// TaskQueues restricts the claim to tasks on these task queues ("" is
	// the default queue); empty: any queue.
	TaskQueues []string
}

// ClaimedActivity is a leased activity task.
type ClaimedActivity struct {
	Task *ActivityTask
	// Expired: the task was RUNNING or PENDING and its lease or deadline
	// passed; Task.Attempt is the attempt that was lost. The claimer must
	// record that attempt's failure (ActivityTaskRetryOp or
	// ActivityTaskFinishOp) instead of running the activity.
	Expired bool
}

// RunListParams filters RunList. Zero values mean "any".
type RunListParams struct {
	Statuses      []Status
	Name          string
	InstanceID    string // exact instance id (prefix match when ends with '*')
	CreatedAfter  time.Time
	CreatedBefore time.Time
	AllRuns       bool // include non-current runs
	Limit         int  // default 100
	// Cursor from a previous RunListResult.NextCursor; "" for the first page.
	Cursor string
}

// RunListResult is one page of runs.
type RunListResult struct {
	Runs       []*Run
	NextCursor string // "" when there are no more
}

// HistoryGetParams selects events of one run.
type HistoryGetParams struct {
	RunID   string
	AfterID int64
	Limit   int
}

// PurgeParams selects instances to purge. Either InstanceID, or a filter.
// Only instances whose current run is finished are purged; purging a named
// instance that is still running fails with ErrStillRunning.
type PurgeParams struct {
	InstanceID     string
	Statuses       []Status // finished statuses only; nil: all finished
	Name           string
	FinishedBefore time.Time
	Limit          int // 0: no limit
}

// Op is one write in an Apply batch. The concrete ops are the *Op types of
// this package.
type Op interface{ isOp() }

// Eager asks an op to lease, in its own transaction, the workflow task it
// makes ready (eager dispatch): the caller runs it at once instead of
// waiting for WorkflowTaskClaim. The store leases the run only when a claim
// at Now by Owner would hand it out: the run is not finished, has no live
// lease and no retry delay, has messages visible at Now (only Control ones
// while SUSPENDED), its name is in Names (nil: any) and its task queue in
// TaskQueues (empty: any). The lease and the task are exactly those of a
// claim.
type Eager struct {
	Owner      string
	Now        time.Time
	LeaseUntil time.Time
	Names      []string
	TaskQueues []string
}

// RunCreateOp starts a run (a client's start, or a parent's child start).
//
// Semantics by the state of InstanceID's current run:
//   - none: create the run (status PENDING), current.
//   - unfinished, same Name and byte-equal Input: nothing is written;
//     Result is the existing run and Created is false (idempotent retry).
//   - unfinished otherwise: ErrConflict.
//   - finished: the old run stops being current (stays readable) and the
//     new run becomes current.
//
// The new run gets the message Start (an ExecutionStarted event) visible at
// Start.VisibleAt, so it is claimable from then.
type RunCreateOp struct {
	Run   Run     // InstanceID, RunID, Name, Input, parent fields, timestamps
	Start Message // RunID is filled in by the store
	// FailIfExists: a child start; an unfinished current run with the same
	// id fails the op with ErrConflict even when name and input match.
	FailIfExists bool

	Result  *Run // out: the created or existing run
	Created bool // out
	// Eager (optional) leases the new run when its start is visible at
	// Eager.Now; Claimed (out) is then its first workflow task.
	Eager   *Eager
	Claimed *WorkflowTask
	// Then (optional) is the new run's first workflow task, computed by the
	// caller from Start (fused dispatch). When the run is created and Start
	// is visible at Then.UpdatedAt, Then is committed in the same
	// transaction, with Start going straight to history instead of the
	// inbox, and ThenApplied (out) is set; otherwise Then is ignored. Then
	// needs no lease; its LeaseOwner and Consumed are ignored.
	Then        *WorkflowTaskCommitOp
	ThenApplied bool
	// OnConflict, for a RunCreateOp inside WorkflowTaskCommitOp.NewRuns:
	// when the create fails with ErrConflict, this message goes to the
	// committing run in the same transaction (the child's failure, so that
	// the parent learns of it even if the process dies right after).
	OnConflict *Message
	// Err (out) is set on a RunCreateOp inside WorkflowTaskCommitOp.NewRuns
	// that failed with ErrConflict; that child is not created (Result nil,
	// Created false) and the commit goes on. Apply reports the error of a
	// top-level RunCreateOp in its result slice and leaves Err nil.
	Err error
}

// MessageSendOp delivers a message to a run.
type MessageSendOp struct {
	// InstanceID and RunID name the target; RunID "" means the current run.
	InstanceID string
	RunID      string
	Message    Message
	// IgnoreFinished: when the target run is finished or missing, succeed
	// without writing (activity results and child completions for runs that
	// ended). Otherwise such a target fails with ErrNotFound or ErrNotRunning.
	IgnoreFinished bool

	ResultRunID string // out: the run that received it
}

// WorkflowTaskCommitOp records the outcome of a workflow task and releases
// the run's lease. When Status is a finished status, the store also sets
// CompletedAt=UpdatedAt and deletes the run's remaining messages (but for
// CarryOverEvents) and unfinished activity tasks. Status "" leaves the status
// unchanged.
type WorkflowTaskCommitOp struct {
	InstanceID string
	RunID      string
	LeaseOwner string // must still hold the run's lease, else ErrLeaseLost
	// HistoryLen is the history length the task started from; NewEvents are
	// numbered HistoryLen+1… (else ErrLeaseLost).
	HistoryLen int64
	NewEvents  []*Event
	// Consumed message ids to delete from the inbox.
	Consumed []int64

	// Run fields to set (Output, Failure: only when non-nil).
	Status       Status
	Output       []byte
	Failure      []byte
	CustomStatus []byte
	SetCustom    bool // write CustomStatus even when nil
	// Waiting replaces the run's Waiting (nil clears it; a finished run
	// always gets nil).
	Waiting   []byte
	UpdatedAt time.Time

	// NewActivities are READY, or RUNNING with Attempt 1, StartedAt,
	// LeaseOwner and LeaseUntil set: claimed by the committing worker in the
	// same transaction (eager dispatch). None is created when the commit
	// finishes the run.
	NewActivities []*ActivityTask
	// CancelActivities deletes unfinished activity tasks by seq.
	CancelActivities []int64
	Messages         []*MessageSendOp // to this run (timers) or other runs; IgnoreFinished is honoured
	// NewRuns are applied after this run's own update, so that a
	// continue-as-new run of the same instance id replaces it as current.
	NewRuns []*RunCreateOp // children and the continue-as-new run; an ErrConflict here is reported in the op, not fatal

	// CarryOverEvents names the new run (in NewRuns) that receives this
	// run's unconsumed EventRaised messages; only with StatusContinuedAsNew.
	CarryOverEvents string

	// Eager (optional): when the run, after the commit, still has messages
	// visible at Eager.Now (they arrived during the task), it is leased
	// again and Claimed (out) is its next workflow task.
	Eager   *Eager
	Claimed *WorkflowTask

	// Finished (out, optional): when the commit finishes the run, a store
	// may set the run as the commit left it, as RunGet would return it,
	// so that those waiting for the run need not read it again. Nil when
	// the store does not say.
	Finished *Run
}

// WorkflowTaskAbandonOp releases a run's lease after a failed workflow task
// (for example a non-determinism error); the run is retried at RetryAt.
type WorkflowTaskAbandonOp struct {
	RunID      string
	LeaseOwner string
	TaskError  string
	RetryAt    time.Time
	UpdatedAt  time.Time
}

// ActivityTaskFinishOp ends an activity task: deletes it and sends Message
// (TaskCompleted or TaskFailed) to its run, ignoring a finished run.
type ActivityTaskFinishOp struct {
	RunID   string
	Seq     int64
	Attempt int // must equal the task's current attempt, else ErrStaleTask
	Message Message
	// RequireUnexpired: fail with ErrStaleTask when the task's Deadline has
	// passed at Now (completion by task token).
	RequireUnexpired bool
	Now              time.Time
	// Eager (optional) leases the run the message wakes; Claimed (out) is
	// then its workflow task.
	Eager   *Eager
	Claimed *WorkflowTask
	// Then (optional) is the run's workflow task that applies Message,
	// computed by the caller from a live copy of the run (fused dispatch).
	// It is committed in the same transaction, with Message going straight
	// to history instead of the inbox, when a claim at Now would have handed
	// out exactly that task: the run is not finished or SUSPENDED, has no
	// live lease or retry delay, has no other message visible at Now, and
	// has Then.HistoryLen events. ThenApplied (out) is then set (and Eager
	// is ignored); otherwise Message is delivered as without Then. Then's
	// LeaseOwner and Consumed are ignored.
	Then        *WorkflowTaskCommitOp
	ThenApplied bool
}

// ActivityTaskRetryOp records a failed attempt and makes the task READY
// again at VisibleAt.
type ActivityTaskRetryOp struct {
	RunID       string
	Seq         int64
	Attempt     int // fence, as for ActivityTaskFinishOp
	VisibleAt   time.Time
	LastFailure []byte
	Attempts    []byte // the new attempts log
}

// ActivityTaskPendOp marks an attempt as waiting for completion by task
// token (the activity returned "result pending").
type ActivityTaskPendOp struct {
	RunID    string
	Seq      int64
	Attempt  int
	Deadline time.Time // zero: wait without a deadline
}

// ActivityTaskHeartbeatOp records progress of the current attempt.
type ActivityTaskHeartbeatOp struct {
	RunID      string
	Seq        int64
	Attempt    int
	Details    []byte // nil: keep the previous details
	LeaseUntil time.Time
	Deadline   time.Time // the new deadline of the attempt (heartbeat timeout); zero: unchanged
	// RequireUnexpired as in ActivityTaskFinishOp.
	RequireUnexpired bool
	Now              time.Time
}

func (*RunCreateOp) isOp()             {}
func (*MessageSendOp) isOp()           {}
func (*WorkflowTaskCommitOp) isOp()    {}
func (*WorkflowTaskAbandonOp) isOp()   {}
func (*ActivityTaskFinishOp) isOp()    {}
func (*ActivityTaskRetryOp) isOp()     {}
func (*ActivityTaskPendOp) isOp()      {}
func (*ActivityTaskHeartbeatOp) isOp() {}

// NewActivityTask is what a store keeps of a task in
// WorkflowTaskCommitOp.NewActivities: READY before its first attempt, or
// RUNNING in attempt 1, leased by the committing worker (eager dispatch).
// For store implementations.
func NewActivityTask(instanceID, runID string, a *ActivityTask) (*ActivityTask, error) {
	t := *a
	t.InstanceID, t.RunID = instanceID, runID
	t.ScheduledAt, t.VisibleAt = a.ScheduledAt.UTC(), a.VisibleAt.UTC()
	t.Deadline = time.Time{}
	if a.State == ActivityRunning {
		if a.Attempt != 1 || a.LeaseOwner == "" || a.LeaseUntil.IsZero() {
			return nil, fmt.Errorf("run %s: activity task %d: a new RUNNING task needs attempt 1 and a lease", runID, a.Seq)
		}
		t.StartedAt, t.LeaseUntil = a.StartedAt.UTC(), a.LeaseUntil.UTC()
		return &t, nil
	}
	t.State, t.Attempt = ActivityReady, 0
	t.StartedAt, t.LeaseOwner, t.LeaseUntil = a.StartedAt.UTC(), "", time.Time{}
	return &t, nil
}

// Wake says which kinds of work became ready.
type Wake uint8

// The kinds of work.
const (
	// WakeWorkflow: workflow tasks (a new run, a message, a released
	// lease, the end of a retry delay).
	WakeWorkflow Wake = 1 << iota
	// WakeActivity: activity tasks (a new or retried READY task, a
	// released lease).
	WakeActivity
)

// Notifier is implemented by stores shared by several processes that can
// tell one process about work another made ready (PostgreSQL's
// LISTEN/NOTIFY). The engine wakes its claim loops on each value; without
// a Notifier, or between notifications, it polls (engine.Config.IdlePoll).
// The channel is closed when the store closes.
type Notifier interface {
	Wakeups() <-chan Wake
}
