// Package memstore is an in-memory store.Store, for tests and for
// embedding Perdure where durability is not wanted. Nothing survives the
// process.
//
// One mutex guards all records. Runs and activity tasks that have a due
// time (a run with a message that can wake it; an activity task that is
// READY, RUNNING or PENDING with a deadline) sit in per-name min-heaps keyed
// by that time, so claims and NextWakeup never scan idle records.
package memstore

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/perdure/perdure/store"
)

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	mu     sync.Mutex
	closed bool

	runs      map[string]*runRec   // by run id
	instances map[string]*instance // by instance id
	byCreated []*runRec            // ascending (CreatedAt, RunID)
	tasks     map[taskKey]*taskRec

	runQ  queues // runs by workflow name, keyed by the time they become claimable
	taskQ queues // activity tasks by activity name, keyed by their due time

	msgSeq uint64
	ord    uint64
}

// Option configures a Store.
type Option func(*Store)

// WithClock once made NextWakeup compare with now instead of time.Now.
//
// Deprecated: NextWakeup compares with the time its caller passes (the
// engine's clock, virtual or not); the option has no effect.
func WithClock(now func() time.Time) Option {
	return func(*Store) {}
}

var _ store.Store = (*Store)(nil)

type instance struct {
	runs    []*runRec // in creation order
	current *runRec
}

// runRec is one run. Everything an op may change is in st, so that a failed
// op can restore it.
type runRec struct {
	st    runState
	tasks map[int64]*taskRec
	ord   uint64
	qe    *entry
}

type runState struct {
	run        store.Run
	events     []*store.Event
	msgs       []*store.Message // by id; never changed in place, only replaced or appended to
	leaseOwner string
	leaseUntil time.Time
}

type taskKey struct {
	runID string
	seq   int64
}

type taskRec struct {
	t   store.ActivityTask
	ord uint64
	qe  *entry
}

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		runs:      map[string]*runRec{},
		instances: map[string]*instance{},
		tasks:     map[taskKey]*taskRec{},
		runQ:      newQueues(),
		taskQ:     newQueues(),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Exclusive reports true: the store lives in one process.
func (s *Store) Exclusive() bool { return true }

// Close drops the store's contents; later calls fail with store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.runs, s.instances, s.byCreated, s.tasks = nil, nil, nil, nil
		s.runQ, s.taskQ = newQueues(), newQueues()
	}
	return nil
}

// lock takes the mutex unless the store is closed.
func (s *Store) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("memstore: %w", store.ErrClosed)
	}
	return nil
}

// Apply applies ops in order; a failed op is rolled back on its own.
func (s *Store) Apply(ctx context.Context, ops []store.Op) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	errs := make([]error, len(ops))
	for i, op := range ops {
		tx := &tx{s: s, savedRuns: map[*runRec]bool{}, savedTasks: map[*taskRec]bool{}}
		err := s.applyOp(tx, op)
		if err != nil {
			tx.rollback()
		}
		tx.requeue()
		errs[i] = err
	}
	return errs, nil
}

func (s *Store) applyOp(tx *tx, op store.Op) error {
	switch op := op.(type) {
	case *store.RunCreateOp:
		return s.createRun(tx, op)
	case *store.MessageSendOp:
		return s.send(tx, op, nil)
	case *store.WorkflowTaskCommitOp:
		return s.commit(tx, op)
	case *store.WorkflowTaskAbandonOp:
		return s.abandon(tx, op)
	case *store.ActivityTaskFinishOp:
		return s.activityFinish(tx, op)
	case *store.ActivityTaskRetryOp:
		return s.activityRetry(tx, op)
	case *store.ActivityTaskPendOp:
		return s.activityPend(tx, op)
	case *store.ActivityTaskHeartbeatOp:
		return s.activityHeartbeat(tx, op)
	case nil:
		return fmt.Errorf("memstore: nil op")
	default:
		return fmt.Errorf("memstore: unsupported op %T", op)
	}
}

// tx records how to undo one op's changes, and which records need their
// queue position refreshed afterwards.
type tx struct {
	s          *Store
	undo       []func()
	savedRuns  map[*runRec]bool
	savedTasks map[*taskRec]bool
	touchRuns  []*runRec
	touchTasks []*taskRec
}

func (tx *tx) onUndo(f func()) { tx.undo = append(tx.undo, f) }

// saveRun must be called before r.st changes.
func (tx *tx) saveRun(r *runRec) {
	if tx.savedRuns[r] {
		return
	}
	tx.savedRuns[r] = true
	old := r.st
	tx.onUndo(func() { r.st = old })
	tx.touchRuns = append(tx.touchRuns, r)
}

// saveTask must be called before t.t changes.
func (tx *tx) saveTask(t *taskRec) {
	if tx.savedTasks[t] {
		return
	}
	tx.savedTasks[t] = true
	old := t.t
	tx.onUndo(func() { t.t = old })
	tx.touchTasks = append(tx.touchTasks, t)
}

func (tx *tx) rollback() {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		tx.undo[i]()
	}
	tx.undo = nil
}

func (tx *tx) requeue() {
	for _, r := range tx.touchRuns {
		tx.s.requeueRun(r)
	}
	for _, t := range tx.touchTasks {
		tx.s.requeueTask(t)
	}
}

// readyAt is the time from which r is claimable: its earliest message that
// can wake it (only Control ones while SUSPENDED), but not before its lease
// or retry delay ends. ok is false when no message can wake it.
func (r *runRec) readyAt() (time.Time, bool) {
	var min time.Time
	ok := false
	suspended := r.st.run.Status == store.StatusSuspended
	for _, m := range r.st.msgs {
		if suspended && !m.Control {
			continue
		}
		if !ok || m.VisibleAt.Before(min) {
			min, ok = m.VisibleAt, true
		}
	}
	if ok && r.st.leaseUntil.After(min) {
		min = r.st.leaseUntil
	}
	return min, ok
}

func (s *Store) requeueRun(r *runRec) {
	key, due := r.readyAt()
	if s.runs[r.st.run.RunID] != r {
		due = false // deleted
	}
	s.runQ.set(&r.qe, qkey{r.st.run.TaskQueue, r.st.run.Name}, key, due, func() *entry { return &entry{ord: r.ord, run: r} })
}

// dueAt is when an activity task needs a claimer: READY at VisibleAt;
// RUNNING when its lease or deadline passes; PENDING at its deadline.
func dueAt(t *store.ActivityTask) (time.Time, bool) {
	switch t.State {
	case store.ActivityReady:
		return t.VisibleAt, true
	case store.ActivityRunning:
		if !t.Deadline.IsZero() && t.Deadline.Before(t.LeaseUntil) {
			return t.Deadline, true
		}
		return t.LeaseUntil, true
	case store.ActivityPending:
		return t.Deadline, !t.Deadline.IsZero()
	}
	return time.Time{}, false
}

func (s *Store) requeueTask(t *taskRec) {
	key, due := dueAt(&t.t)
	if s.tasks[taskKey{t.t.RunID, t.t.Seq}] != t {
		due = false
	}
	s.taskQ.set(&t.qe, qkey{t.t.TaskQueue, t.t.Name}, key, due, func() *entry { return &entry{ord: t.ord, task: t} })
}

func (s *Store) nextOrd() uint64 { s.ord++; return s.ord }

// utc normalises t as the stores keep times: UTC, microsecond precision.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}

func copyRun(r *runRec) *store.Run {
	c := r.st.run
	c.Input, c.Output, c.Failure, c.CustomStatus = clone(c.Input), clone(c.Output), clone(c.Failure), clone(c.CustomStatus)
	c.Waiting = clone(c.Waiting)
	return &c
}

func copyMsg(m *store.Message) *store.Message {
	c := *m
	c.Data = clone(c.Data)
	return &c
}

func copyTask(t *store.ActivityTask) *store.ActivityTask {
	c := *t
	c.Input, c.Options = clone(c.Input), clone(c.Options)
	c.HeartbeatDetails, c.LastFailure, c.Attempts = clone(c.HeartbeatDetails), clone(c.LastFailure), clone(c.Attempts)
	return &c
}

// createdIndex returns the position in byCreated of the first run not
// before (at, id) in (CreatedAt, RunID) order.
func (s *Store) createdIndex(at time.Time, id string) int {
	return sort.Search(len(s.byCreated), func(i int) bool {
		r := &s.byCreated[i].st.run
		if !r.CreatedAt.Equal(at) {
			return r.CreatedAt.After(at)
		}
		return r.RunID >= id
	})
}

func (s *Store) insertCreated(r *runRec) {
	i := s.createdIndex(r.st.run.CreatedAt, r.st.run.RunID)
	s.byCreated = append(s.byCreated, nil)
	copy(s.byCreated[i+1:], s.byCreated[i:])
	s.byCreated[i] = r
}

func (s *Store) removeCreated(r *runRec) {
	i := s.createdIndex(r.st.run.CreatedAt, r.st.run.RunID)
	if i < len(s.byCreated) && s.byCreated[i] == r {
		s.byCreated = append(s.byCreated[:i], s.byCreated[i+1:]...)
	}
}
