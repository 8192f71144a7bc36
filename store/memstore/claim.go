package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/perdure/perdure/store"
)

// WorkflowTaskClaim leases up to p.Max claimable runs, oldest ready first.
func (s *Store) WorkflowTaskClaim(ctx context.Context, p *store.WorkflowTaskClaimParams) ([]*store.WorkflowTask, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now, until := utc(p.Now), utc(p.LeaseUntil)
	var claimed []*runRec
	var out []*store.WorkflowTask
	for len(out) < max(p.Max, 1) {
		e := s.runQ.popDue(p.Names, p.ExcludeNames, p.TaskQueues, now)
		if e == nil {
			break
		}
		r := e.run
		r.qe = nil
		claimed = append(claimed, r)
		out = append(out, s.lease(r, p.Owner, now, until))
	}
	for _, r := range claimed {
		s.requeueRun(r)
	}
	return out, nil
}

// ActivityTaskClaim leases up to p.Max due activity tasks, oldest due first.
func (s *Store) ActivityTaskClaim(ctx context.Context, p *store.ActivityTaskClaimParams) ([]*store.ClaimedActivity, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now, until := utc(p.Now), utc(p.LeaseUntil)
	var claimed []*taskRec
	var out []*store.ClaimedActivity
	for len(out) < max(p.Max, 1) {
		e := s.taskQ.popDue(p.Names, nil, p.TaskQueues, now)
		if e == nil {
			break
		}
		t := e.task
		t.qe = nil
		c := &store.ClaimedActivity{}
		if t.t.State == store.ActivityReady {
			t.t.Attempt++
			t.t.StartedAt = now
			t.t.State = store.ActivityRunning
			t.t.Deadline = time.Time{}
			t.t.LeaseOwner, t.t.LeaseUntil = p.Owner, until
			c.Task = copyTask(&t.t)
		} else {
			// Expired: the caller records the lost attempt. It sees the
			// state and deadline the attempt had.
			c.Expired = true
			c.Task = copyTask(&t.t)
			c.Task.LeaseOwner, c.Task.LeaseUntil = p.Owner, until
			t.t.State = store.ActivityRunning
			t.t.Deadline = time.Time{}
			t.t.LeaseOwner, t.t.LeaseUntil = p.Owner, until
		}
		claimed = append(claimed, t)
		out = append(out, c)
	}
	for _, t := range claimed {
		s.requeueTask(t)
	}
	return out, nil
}

// LeasesRelease drops the leases of owner ("" = every owner).
func (s *Store) LeasesRelease(ctx context.Context, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, r := range s.runs {
		if r.st.leaseOwner != "" && (owner == "" || r.st.leaseOwner == owner) {
			r.st.leaseOwner, r.st.leaseUntil = "", time.Time{}
			s.requeueRun(r)
		}
	}
	for _, t := range s.tasks {
		if t.t.State == store.ActivityRunning && t.t.LeaseOwner != "" && (owner == "" || t.t.LeaseOwner == owner) {
			t.t.LeaseOwner, t.t.LeaseUntil = "", time.Time{}
			s.requeueTask(t)
		}
	}
	return nil
}

func (s *Store) insertTask(tx *tx, r *runRec, a *store.ActivityTask) error {
	if a == nil {
		return fmt.Errorf("run %s: nil activity task", r.st.run.RunID)
	}
	key := taskKey{r.st.run.RunID, a.Seq}
	if s.tasks[key] != nil {
		return fmt.Errorf("run %s: activity task %d already exists", key.runID, key.seq)
	}
	c, err := store.NewActivityTask(r.st.run.InstanceID, r.st.run.RunID, copyTask(a))
	if err != nil {
		return err
	}
	c.ScheduledAt, c.VisibleAt, c.StartedAt, c.LeaseUntil = utc(c.ScheduledAt), utc(c.VisibleAt), utc(c.StartedAt), utc(c.LeaseUntil)
	t := &taskRec{t: *c, ord: s.nextOrd()}
	s.tasks[key] = t
	r.tasks[a.Seq] = t
	tx.onUndo(func() {
		delete(s.tasks, key)
		delete(r.tasks, key.seq)
	})
	tx.touchTasks = append(tx.touchTasks, t)
	return nil
}

func (s *Store) deleteTask(tx *tx, r *runRec, t *taskRec) {
	key := taskKey{t.t.RunID, t.t.Seq}
	delete(s.tasks, key)
	delete(r.tasks, key.seq)
	tx.onUndo(func() {
		s.tasks[key] = t
		r.tasks[key.seq] = t
	})
	tx.touchTasks = append(tx.touchTasks, t)
}

// fenced returns the task whose current attempt is attempt.
func (s *Store) fenced(runID string, seq int64, attempt int) (*taskRec, error) {
	t := s.tasks[taskKey{runID, seq}]
	if t == nil {
		return nil, fmt.Errorf("activity task %s/%d (finished or cancelled): %w: %w", runID, seq, store.ErrStaleTask, store.ErrNotFound)
	}
	if t.t.State == store.ActivityReady || t.t.Attempt != attempt {
		return nil, fmt.Errorf("activity task %s/%d attempt %d: the current attempt is %d (%s): %w", runID, seq, attempt, t.t.Attempt, t.t.State, store.ErrStaleTask)
	}
	return t, nil
}

func expired(t *taskRec, now time.Time) error {
	if !t.t.Deadline.IsZero() && !utc(now).Before(t.t.Deadline) {
		return fmt.Errorf("activity task %s/%d attempt %d timed out at %v: %w", t.t.RunID, t.t.Seq, t.t.Attempt, t.t.Deadline, store.ErrStaleTask)
	}
	return nil
}

func (s *Store) activityFinish(tx *tx, op *store.ActivityTaskFinishOp) error {
	t, err := s.fenced(op.RunID, op.Seq, op.Attempt)
	if err != nil {
		return err
	}
	if op.RequireUnexpired {
		if err := expired(t, op.Now); err != nil {
			return err
		}
	}
	r := s.runs[op.RunID]
	s.deleteTask(tx, r, t)
	if r.st.run.Status.Finished() {
		return nil
	}
	if op.Then != nil && fusable(r, op.Then, op.Message.VisibleAt) {
		op.Then.Consumed = nil
		if err := s.commitRun(tx, r, op.Then); err != nil {
			return err
		}
		op.ThenApplied = true
		return nil
	}
	s.addMessage(tx, r, &op.Message)
	op.Claimed = s.eager(tx, r, op.Eager)
	return nil
}

func (s *Store) activityRetry(tx *tx, op *store.ActivityTaskRetryOp) error {
	t, err := s.fenced(op.RunID, op.Seq, op.Attempt)
	if err != nil {
		return err
	}
	tx.saveTask(t)
	t.t.State = store.ActivityReady
	t.t.VisibleAt = utc(op.VisibleAt)
	t.t.LastFailure, t.t.Attempts = clone(op.LastFailure), clone(op.Attempts)
	t.t.LeaseOwner, t.t.LeaseUntil, t.t.Deadline = "", time.Time{}, time.Time{}
	return nil
}

func (s *Store) activityPend(tx *tx, op *store.ActivityTaskPendOp) error {
	t, err := s.fenced(op.RunID, op.Seq, op.Attempt)
	if err != nil {
		return err
	}
	tx.saveTask(t)
	t.t.State = store.ActivityPending
	t.t.Deadline = utc(op.Deadline)
	t.t.LeaseOwner, t.t.LeaseUntil = "", time.Time{}
	return nil
}

func (s *Store) activityHeartbeat(tx *tx, op *store.ActivityTaskHeartbeatOp) error {
	t, err := s.fenced(op.RunID, op.Seq, op.Attempt)
	if err != nil {
		return err
	}
	if op.RequireUnexpired {
		if err := expired(t, op.Now); err != nil {
			return err
		}
	}
	tx.saveTask(t)
	if op.Details != nil {
		t.t.HeartbeatDetails = clone(op.Details)
	}
	if !op.LeaseUntil.IsZero() {
		t.t.LeaseUntil = utc(op.LeaseUntil)
	}
	if !op.Deadline.IsZero() {
		t.t.Deadline = utc(op.Deadline)
	}
	return nil
}
