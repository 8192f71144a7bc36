package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/perdure/perdure/store"
)

// namesArg encodes a claim's name or task queue filter for json_each; ""
// means any.
func namesArg(names []string) (string, error) {
	if len(names) == 0 {
		return "", nil
	}
	b, err := json.Marshal(names)
	return string(b), err
}

// The claim queries: range scans of runs_ready and activity_tasks_due.
const (
	claimRunsSQL = `SELECT ` + runCols + ` FROM runs
		WHERE ready_at <= ? AND (? = '' OR name IN (SELECT value FROM json_each(?)))
			AND (? = '' OR task_queue IN (SELECT value FROM json_each(?)))
			AND (? = '' OR name NOT IN (SELECT value FROM json_each(?)))
		ORDER BY ready_at LIMIT ?`
	claimTasksSQL = `SELECT ` + taskCols + ` FROM activity_tasks
		WHERE due_at <= ? AND (? = '' OR name IN (SELECT value FROM json_each(?)))
			AND (? = '' OR task_queue IN (SELECT value FROM json_each(?)))
		ORDER BY due_at LIMIT ?`
)

// WorkflowTaskClaim leases up to p.Max claimable runs, oldest ready first.
func (s *Store) WorkflowTaskClaim(ctx context.Context, p *store.WorkflowTaskClaimParams) ([]*store.WorkflowTask, error) {
	names, err := namesArg(p.Names)
	if err != nil {
		return nil, err
	}
	queues, err := namesArg(p.TaskQueues)
	if err != nil {
		return nil, err
	}
	exclude, err := namesArg(p.ExcludeNames)
	if err != nil {
		return nil, err
	}
	now, until := micros(p.Now), p.LeaseUntil.UTC()
	var out []*store.WorkflowTask
	err = s.writeSync(ctx, false, func(w *wtx) error {
		out = nil
		runs, err := collect(w, "claim", scanRun, claimRunsSQL, now, names, names, queues, queues, exclude, exclude, max(p.Max, 1))
		if err != nil {
			return err
		}
		for _, r := range runs {
			t, err := w.lease(r, p.Owner, now, until)
			if err != nil {
				return err
			}
			if t != nil {
				out = append(out, t)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lease leases the claimable run r to owner until until and returns its
// workflow task: the messages visible at now. A run without such messages
// had a stale ready_at, which is repaired; lease then returns nil.
func (w *wtx) lease(r *runRow, owner string, now int64, until time.Time) (*store.WorkflowTask, error) {
	msgs, err := w.visibleMessages(r, now)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, w.refreshReady(r)
	}
	// ready_at = max(earliest wake-up message, new lease); the earliest
	// one is visible, so it is among msgs.
	first := micros(msgs[0].VisibleAt)
	for _, m := range msgs[1:] {
		first = min(first, micros(m.VisibleAt))
	}
	ready := max(first, micros(until))
	if _, err := w.exec(`UPDATE runs SET lease_owner = ?, lease_until = ?, ready_at = ? WHERE run_id = ?`,
		owner, micros(until), ready, r.RunID); err != nil {
		return nil, err
	}
	task := &store.WorkflowTask{Run: r.public(), Messages: msgs, LeaseOwner: owner, LeaseUntil: until}
	r.leaseOwner, r.leaseUntil = owner, until
	r.readyAt = sql.NullInt64{Int64: ready, Valid: true}
	return task, nil
}

// eager leases r for e when a claim at e.Now would: see store.Eager.
func (w *wtx) eager(r *runRow, e *store.Eager) (*store.WorkflowTask, error) {
	if r == nil || !leasable(r, e, nil) {
		return nil, nil
	}
	return w.lease(r, e.Owner, micros(e.Now), e.LeaseUntil.UTC())
}

// visibleMessages returns the messages of r visible at now that a claim
// hands out (only Control ones while SUSPENDED), in id order.
func (w *wtx) visibleMessages(r *runRow, now int64) ([]*store.Message, error) {
	return collect(w, "claim messages", scanMsg,
		`SELECT `+msgCols+` FROM messages WHERE run_id = ? AND visible_at <= ? AND (control = 1 OR ? = 0) ORDER BY id`,
		r.RunID, now, boolInt(r.Status == store.StatusSuspended))
}

// ActivityTaskClaim leases up to p.Max due activity tasks, oldest due first.
func (s *Store) ActivityTaskClaim(ctx context.Context, p *store.ActivityTaskClaimParams) ([]*store.ClaimedActivity, error) {
	names, err := namesArg(p.Names)
	if err != nil {
		return nil, err
	}
	queues, err := namesArg(p.TaskQueues)
	if err != nil {
		return nil, err
	}
	now, until := p.Now.UTC(), p.LeaseUntil.UTC()
	var out []*store.ClaimedActivity
	err = s.write(ctx, func(w *wtx) error {
		out = nil
		tasks, err := collect(w, "claim", scanTask, claimTasksSQL, micros(now), names, names, queues, queues, max(p.Max, 1))
		if err != nil {
			return err
		}
		for _, t := range tasks {
			c := &store.ClaimedActivity{}
			if t.State == store.ActivityReady {
				t.Attempt++
				t.StartedAt = now
				t.State = store.ActivityRunning
				t.Deadline = time.Time{}
				t.LeaseOwner, t.LeaseUntil = p.Owner, until
				c.Task = t
			} else {
				// Expired: the caller records the lost attempt. It sees
				// the state and deadline the attempt had.
				c.Expired = true
				shown := *t
				shown.LeaseOwner, shown.LeaseUntil = p.Owner, until
				c.Task = &shown
				t.State = store.ActivityRunning
				t.Deadline = time.Time{}
				t.LeaseOwner, t.LeaseUntil = p.Owner, until
			}
			if err := w.saveTask(t); err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LeasesRelease drops the leases of owner ("" = every owner).
func (s *Store) LeasesRelease(ctx context.Context, owner string) error {
	return s.write(ctx, func(w *wtx) error {
		if _, err := w.exec(`UPDATE runs SET lease_owner = '', lease_until = ?,
			ready_at = (SELECT MIN(m.visible_at) FROM messages m
				WHERE m.run_id = runs.run_id AND (m.control = 1 OR runs.status <> 'SUSPENDED'))
			WHERE ready_at IS NOT NULL AND lease_owner <> '' AND (? = '' OR lease_owner = ?)`,
			micros(time.Time{}), owner, owner); err != nil {
			return err
		}
		// A RUNNING task without a lease is due at once (expired).
		zero := micros(time.Time{})
		if _, err := w.exec(`UPDATE activity_tasks SET lease_owner = '', lease_until = ?, due_at = ?
			WHERE due_at IS NOT NULL AND state = 'RUNNING' AND lease_owner <> '' AND (? = '' OR lease_owner = ?)`,
			zero, zero, owner, owner); err != nil {
			return err
		}
		return nil
	})
}

// fenced loads the activity task whose current attempt is attempt.
func (w *wtx) fenced(runID string, seq int64, attempt int) (*store.ActivityTask, error) {
	t, err := w.loadTask(runID, seq)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, fmt.Errorf("activity task %s/%d (finished or cancelled): %w: %w", runID, seq, store.ErrStaleTask, store.ErrNotFound)
	}
	if err := fence(t, attempt); err != nil {
		return nil, err
	}
	return t, nil
}

// fence checks that attempt is t's current attempt.
func fence(t *store.ActivityTask, attempt int) error {
	if t.State == store.ActivityReady || t.Attempt != attempt {
		return fmt.Errorf("activity task %s/%d attempt %d: the current attempt is %d (%s): %w", t.RunID, t.Seq, attempt, t.Attempt, t.State, store.ErrStaleTask)
	}
	return nil
}

func expired(t *store.ActivityTask, now time.Time) error {
	if !t.Deadline.IsZero() && !now.Before(t.Deadline) {
		return fmt.Errorf("activity task %s/%d attempt %d timed out at %v: %w", t.RunID, t.Seq, t.Attempt, t.Deadline, store.ErrStaleTask)
	}
	return nil
}

func (w *wtx) activityFinish(op *store.ActivityTaskFinishOp) error {
	// Deleted first and checked after: a fenced-out finish fails the op,
	// whose savepoint undoes the delete.
	var t store.ActivityTask
	var state string
	var deadline int64
	var found bool
	if f, ok := w.cachedTask(op.RunID, op.Seq); ok {
		// The task as the run cache kept it: no need to read it back.
		res, err := w.exec(`DELETE FROM activity_tasks WHERE run_id = ? AND seq = ?`, op.RunID, op.Seq)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return w.s.wrapDB("finish activity task", err)
		}
		found, state, t.Attempt, deadline = n == 1, f.state, f.attempt, f.deadline
	} else {
		var err error
		found, err = w.one(`DELETE FROM activity_tasks WHERE run_id = ? AND seq = ? RETURNING state, attempt, deadline`,
			[]any{op.RunID, op.Seq}, func(sc scanner) error { return sc.Scan(&state, &t.Attempt, &deadline) })
		if err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("activity task %s/%d (finished or cancelled): %w: %w", op.RunID, op.Seq, store.ErrStaleTask, store.ErrNotFound)
	}
	t.RunID, t.Seq, t.State, t.Deadline = op.RunID, op.Seq, store.ActivityState(state), fromMicros(deadline)
	if err := fence(&t, op.Attempt); err != nil {
		return err
	}
	if op.RequireUnexpired {
		if err := expired(&t, op.Now); err != nil {
			return err
		}
	}
	r, err := w.cachedRun(t.RunID)
	if err != nil || r == nil || r.Status.Finished() {
		return err
	}
	if op.Then != nil && fusable(r, op.Then, op.Message.VisibleAt) {
		op.Then.Consumed = nil
		if err := w.commitRun(r, op.Then); err != nil {
			return err
		}
		op.ThenApplied = true
		w.keepRun(r, op.Then, op.Seq)
		return nil
	}
	if leasable(r, op.Eager, &op.Message) {
		// The message and the lease in one update of the run.
		if _, err := w.insertMessage(r.RunID, &op.Message); err != nil {
			return err
		}
		op.Claimed, err = w.lease(r, op.Eager.Owner, micros(op.Eager.Now), op.Eager.LeaseUntil.UTC())
		return err
	}
	_, err = w.addMessage(r, &op.Message)
	return err
}

// leasable reports whether e may lease r (see store.Eager), after m (if
// not nil) is added to its inbox.
func leasable(r *runRow, e *store.Eager, m *store.Message) bool {
	if e == nil || r.Status.Finished() || (e.Names != nil && !slices.Contains(e.Names, r.Name)) ||
		(len(e.TaskQueues) > 0 && !slices.Contains(e.TaskQueues, r.TaskQueue)) {
		return false
	}
	now := micros(e.Now)
	if micros(r.leaseUntil) > now { // a live lease, or a retry delay
		return false
	}
	if r.readyAt.Valid && r.readyAt.Int64 <= now {
		return true
	}
	return m != nil && micros(m.VisibleAt) <= now && (r.Status != store.StatusSuspended || m.Control)
}

func (w *wtx) activityRetry(op *store.ActivityTaskRetryOp) error {
	t, err := w.fenced(op.RunID, op.Seq, op.Attempt)
	if err != nil {
		return err
	}
	t.State = store.ActivityReady
	t.VisibleAt = op.VisibleAt
	t.LastFailure, t.Attempts = op.LastFailure, op.Attempts
	t.LeaseOwner, t.LeaseUntil, t.Deadline = "", time.Time{}, time.Time{}
	return w.saveTask(t)
}

func (w *wtx) activityPend(op *store.ActivityTaskPendOp) error {
	t, err := w.fenced(op.RunID, op.Seq, op.Attempt)
	if err != nil {
		return err
	}
	t.State = store.ActivityPending
	t.Deadline = op.Deadline
	t.LeaseOwner, t.LeaseUntil = "", time.Time{}
	return w.saveTask(t)
}

func (w *wtx) activityHeartbeat(op *store.ActivityTaskHeartbeatOp) error {
	t, err := w.fenced(op.RunID, op.Seq, op.Attempt)
	if err != nil {
		return err
	}
	if op.RequireUnexpired {
		if err := expired(t, op.Now); err != nil {
			return err
		}
	}
	if op.Details != nil {
		t.HeartbeatDetails = op.Details
	}
	if !op.LeaseUntil.IsZero() {
		t.LeaseUntil = op.LeaseUntil
	}
	if !op.Deadline.IsZero() {
		t.Deadline = op.Deadline
	}
	return w.saveTask(t)
}
