package memstore

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/perdure/perdure/store"
)

func (s *Store) createRun(tx *tx, op *store.RunCreateOp) error {
	in := op.Run
	if in.InstanceID == "" || in.RunID == "" || in.Name == "" {
		return fmt.Errorf("memstore: start: instance id, run id and workflow name are required")
	}
	inst := s.instances[in.InstanceID]
	if inst != nil && inst.current != nil {
		cur := inst.current
		if !cur.st.run.Status.Finished() {
			if !op.FailIfExists && cur.st.run.Name == in.Name && bytes.Equal(cur.st.run.Input, in.Input) {
				op.Result, op.Created = copyRun(cur), false
				return nil
			}
			return fmt.Errorf("start instance %q: run %s is %s: %w", in.InstanceID, cur.st.run.RunID, cur.st.run.Status, store.ErrConflict)
		}
	}
	if _, dup := s.runs[in.RunID]; dup {
		return fmt.Errorf("start instance %q: run id %s is already used: %w", in.InstanceID, in.RunID, store.ErrConflict)
	}

	run := in
	run.Status = store.StatusPending
	run.Current = true
	run.Input, run.Output, run.Failure, run.CustomStatus = clone(in.Input), nil, nil, nil
	run.CreatedAt, run.UpdatedAt, run.CompletedAt = utc(in.CreatedAt), utc(in.UpdatedAt), time.Time{}
	run.HistoryLen, run.TaskError, run.Waiting = 0, "", nil
	r := &runRec{st: runState{run: run}, tasks: map[int64]*taskRec{}, ord: s.nextOrd()}

	if inst == nil {
		inst = &instance{}
		s.instances[in.InstanceID] = inst
		tx.onUndo(func() { delete(s.instances, in.InstanceID) })
	} else {
		old := *inst
		tx.onUndo(func() { *inst = old })
		if prev := inst.current; prev != nil {
			tx.saveRun(prev)
			prev.st.run.Current = false
		}
	}
	inst.runs = append(inst.runs, r)
	inst.current = r
	s.runs[run.RunID] = r
	s.insertCreated(r)
	tx.onUndo(func() {
		delete(s.runs, run.RunID)
		s.removeCreated(r)
	})
	tx.touchRuns = append(tx.touchRuns, r)
	op.Start.RunID = run.RunID
	op.Result, op.Created = copyRun(r), true
	if t := op.Then; t != nil && t.RunID == run.RunID && t.HistoryLen == 0 && !op.Start.VisibleAt.After(t.UpdatedAt) {
		t.Consumed = nil
		if err := s.commitRun(tx, r, t); err != nil {
			return err
		}
		op.ThenApplied = true
		return nil
	}
	s.addMessage(tx, r, &op.Start)
	op.Claimed = s.eager(tx, r, op.Eager)
	return nil
}

// eager leases r for e when a claim at e.Now would: see store.Eager.
func (s *Store) eager(tx *tx, r *runRec, e *store.Eager) *store.WorkflowTask {
	if e == nil || r.st.run.Status.Finished() {
		return nil
	}
	now := utc(e.Now)
	if at, ok := r.readyAt(); !ok || at.After(now) {
		return nil
	}
	if e.Names != nil && !slices.Contains(e.Names, r.st.run.Name) {
		return nil
	}
	if len(e.TaskQueues) > 0 && !slices.Contains(e.TaskQueues, r.st.run.TaskQueue) {
		return nil
	}
	tx.saveRun(r)
	return s.lease(r, e.Owner, now, utc(e.LeaseUntil))
}

// lease leases the claimable run r and returns its workflow task: the
// messages visible at now (only Control ones while SUSPENDED).
func (s *Store) lease(r *runRec, owner string, now, until time.Time) *store.WorkflowTask {
	suspended := r.st.run.Status == store.StatusSuspended
	var msgs []*store.Message
	for _, m := range r.st.msgs {
		if !m.VisibleAt.After(now) && (!suspended || m.Control) {
			msgs = append(msgs, copyMsg(m))
		}
	}
	r.st.leaseOwner, r.st.leaseUntil = owner, until
	return &store.WorkflowTask{Run: copyRun(r), Messages: msgs, LeaseOwner: owner, LeaseUntil: until}
}

// addMessage appends a copy of m to r's inbox with a new id.
func (s *Store) addMessage(tx *tx, r *runRec, m *store.Message) {
	tx.saveRun(r)
	s.msgSeq++
	c := &store.Message{
		ID:        int64(s.msgSeq),
		RunID:     r.st.run.RunID,
		Type:      m.Type,
		VisibleAt: utc(m.VisibleAt),
		Control:   m.Control,
		Data:      clone(m.Data),
	}
	r.st.msgs = append(r.st.msgs, c)
}

// target finds the run a message is sent to.
func (s *Store) target(instanceID, runID string) (*runRec, error) {
	if runID == "" {
		inst := s.instances[instanceID]
		if inst == nil || inst.current == nil {
			return nil, fmt.Errorf("instance %q: %w", instanceID, store.ErrNotFound)
		}
		return inst.current, nil
	}
	r := s.runs[runID]
	if r == nil || (instanceID != "" && r.st.run.InstanceID != instanceID) {
		return nil, fmt.Errorf("instance %q run %s: %w", instanceID, runID, store.ErrNotFound)
	}
	return r, nil
}

// send delivers op's message. finishing is the run that the enclosing
// commit finishes (messages to it are dropped), or nil.
func (s *Store) send(tx *tx, op *store.MessageSendOp, finishing *runRec) error {
	op.ResultRunID = ""
	r, err := s.target(op.InstanceID, op.RunID)
	if err != nil {
		if op.IgnoreFinished {
			return nil
		}
		return fmt.Errorf("send %s: %w", op.Message.Type, err)
	}
	if r == finishing {
		return nil
	}
	if r.st.run.Status.Finished() {
		if op.IgnoreFinished {
			return nil
		}
		return fmt.Errorf("send %s to instance %q run %s (%s): %w", op.Message.Type, r.st.run.InstanceID, r.st.run.RunID, r.st.run.Status, store.ErrNotRunning)
	}
	s.addMessage(tx, r, &op.Message)
	op.ResultRunID = r.st.run.RunID
	return nil
}

func (s *Store) leasedRun(runID, owner string) (*runRec, error) {
	r := s.runs[runID]
	if r == nil {
		return nil, fmt.Errorf("run %s: %w", runID, store.ErrNotFound)
	}
	if r.st.leaseOwner == "" || r.st.leaseOwner != owner {
		return nil, fmt.Errorf("run %s is not leased by %q: %w", runID, owner, store.ErrLeaseLost)
	}
	return r, nil
}

func (s *Store) commit(tx *tx, op *store.WorkflowTaskCommitOp) error {
	r, err := s.leasedRun(op.RunID, op.LeaseOwner)
	if err != nil {
		return err
	}
	return s.commitRun(tx, r, op)
}

// fusable reports whether the workflow task then may be committed on r
// with a message visible at visible that is not in r's inbox: a claim at
// then.UpdatedAt would have handed out exactly that task.
func fusable(r *runRec, then *store.WorkflowTaskCommitOp, visible time.Time) bool {
	now := utc(then.UpdatedAt)
	if then.RunID != r.st.run.RunID || then.HistoryLen != r.st.run.HistoryLen || r.st.run.Status.Finished() ||
		r.st.run.Status == store.StatusSuspended || r.st.leaseUntil.After(now) || utc(visible).After(now) {
		return false
	}
	at, ok := r.readyAt()
	return !ok || at.After(now)
}

// commitRun applies a workflow task's outcome to r, whose lease the caller
// checked.
func (s *Store) commitRun(tx *tx, r *runRec, op *store.WorkflowTaskCommitOp) error {
	if op.InstanceID != "" && r.st.run.InstanceID != op.InstanceID {
		return fmt.Errorf("run %s of instance %q: %w", op.RunID, op.InstanceID, store.ErrNotFound)
	}
	if op.HistoryLen != r.st.run.HistoryLen {
		return fmt.Errorf("run %s: task started from history length %d, stored history has %d events: %w", op.RunID, op.HistoryLen, r.st.run.HistoryLen, store.ErrLeaseLost)
	}
	for i, e := range op.NewEvents {
		if want := op.HistoryLen + int64(i) + 1; e == nil || e.ID != want {
			return fmt.Errorf("run %s: new event %d is not numbered %d: %w", op.RunID, i, want, store.ErrLeaseLost)
		}
	}
	if op.Status != "" && !op.Status.Valid() {
		return fmt.Errorf("run %s: invalid status %q", op.RunID, op.Status)
	}
	if op.CarryOverEvents != "" && op.Status != store.StatusContinuedAsNew {
		return fmt.Errorf("run %s: CarryOverEvents needs status %s", op.RunID, store.StatusContinuedAsNew)
	}

	tx.saveRun(r)
	st := &r.st
	for _, e := range op.NewEvents {
		st.events = append(st.events, &store.Event{ID: e.ID, Type: e.Type, Time: utc(e.Time), Data: clone(e.Data)})
	}
	if len(op.Consumed) > 0 {
		consumed := make(map[int64]bool, len(op.Consumed))
		for _, id := range op.Consumed {
			consumed[id] = true
		}
		keep := make([]*store.Message, 0, len(st.msgs))
		for _, m := range st.msgs {
			if !consumed[m.ID] {
				keep = append(keep, m)
			}
		}
		st.msgs = keep
	}
	if op.Status != "" {
		st.run.Status = op.Status
	}
	if op.Output != nil {
		st.run.Output = clone(op.Output)
	}
	if op.Failure != nil {
		st.run.Failure = clone(op.Failure)
	}
	if op.CustomStatus != nil || op.SetCustom {
		st.run.CustomStatus = clone(op.CustomStatus)
	}
	st.run.UpdatedAt = utc(op.UpdatedAt)
	st.run.HistoryLen += int64(len(op.NewEvents))
	st.run.TaskError = ""
	st.leaseOwner, st.leaseUntil = "", time.Time{}
	finished := st.run.Status.Finished()
	st.run.Waiting = clone(op.Waiting)
	if finished {
		st.run.CompletedAt = st.run.UpdatedAt
		st.run.Waiting = nil
	}

	for _, seq := range op.CancelActivities {
		if t := r.tasks[seq]; t != nil {
			s.deleteTask(tx, r, t)
		}
	}
	if !finished {
		for _, a := range op.NewActivities {
			if err := s.insertTask(tx, r, a); err != nil {
				return err
			}
		}
	}
	var conflicts []*store.MessageSendOp
	for _, c := range op.NewRuns {
		c.Err, c.Result, c.Created = nil, nil, false
		err := s.createRun(tx, c)
		if errors.Is(err, store.ErrConflict) {
			c.Err = err
			if c.OnConflict != nil {
				conflicts = append(conflicts, &store.MessageSendOp{InstanceID: r.st.run.InstanceID, RunID: r.st.run.RunID,
					Message: *c.OnConflict, IgnoreFinished: true})
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("run %s: new run: %w", op.RunID, err)
		}
	}
	var self *runRec
	if finished {
		self = r
	}
	for _, m := range append(op.Messages, conflicts...) {
		if err := s.send(tx, m, self); err != nil {
			return fmt.Errorf("run %s: %w", op.RunID, err)
		}
	}
	if !finished {
		op.Claimed = s.eager(tx, r, op.Eager)
		return nil
	}
	if op.CarryOverEvents != "" {
		next := s.runs[op.CarryOverEvents]
		if next == nil || next == r {
			return fmt.Errorf("run %s: carry over events to run %s: %w", op.RunID, op.CarryOverEvents, store.ErrNotFound)
		}
		for _, m := range st.msgs {
			if m.Type == store.MessageTypeEventRaised {
				s.addMessage(tx, next, m)
			}
		}
	}
	st.msgs = nil
	for _, t := range r.tasks {
		s.deleteTask(tx, r, t)
	}
	return nil
}

func (s *Store) abandon(tx *tx, op *store.WorkflowTaskAbandonOp) error {
	r, err := s.leasedRun(op.RunID, op.LeaseOwner)
	if err != nil {
		return err
	}
	tx.saveRun(r)
	r.st.run.TaskError = op.TaskError
	r.st.run.UpdatedAt = utc(op.UpdatedAt)
	// No owner holds the run, but it waits until RetryAt.
	r.st.leaseOwner, r.st.leaseUntil = "", utc(op.RetryAt)
	return nil
}
