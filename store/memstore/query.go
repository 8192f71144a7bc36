package memstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/perdure/perdure/store"
)

// rlock checks ctx and takes the mutex unless the store is closed.
func (s *Store) rlock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.lock()
}

// RunGet returns a run; runID "" means the current run of instanceID.
func (s *Store) RunGet(ctx context.Context, instanceID, runID string) (*store.Run, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	r, err := s.target(instanceID, runID)
	if err != nil {
		return nil, err
	}
	return copyRun(r), nil
}

func (s *Store) run(runID string) (*runRec, error) {
	r := s.runs[runID]
	if r == nil {
		return nil, fmt.Errorf("run %s: %w", runID, store.ErrNotFound)
	}
	return r, nil
}

// HistoryGet returns events of one run with ID > p.AfterID.
func (s *Store) HistoryGet(ctx context.Context, p *store.HistoryGetParams) ([]*store.Event, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	r, err := s.run(p.RunID)
	if err != nil {
		return nil, err
	}
	evs := r.st.events
	if p.AfterID > 0 {
		evs = evs[min(p.AfterID, int64(len(evs))):]
	}
	if p.Limit > 0 && len(evs) > p.Limit {
		evs = evs[:p.Limit]
	}
	out := make([]*store.Event, len(evs))
	for i, e := range evs {
		c := *e
		c.Data = clone(c.Data)
		out[i] = &c
	}
	return out, nil
}

// MessageList returns the inbox of a run in ID order.
func (s *Store) MessageList(ctx context.Context, runID string) ([]*store.Message, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	r, err := s.run(runID)
	if err != nil {
		return nil, err
	}
	out := make([]*store.Message, len(r.st.msgs))
	for i, m := range r.st.msgs {
		out[i] = copyMsg(m)
	}
	return out, nil
}

// ActivityTaskList returns the unfinished activity tasks of a run by seq.
func (s *Store) ActivityTaskList(ctx context.Context, runID string) ([]*store.ActivityTask, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	r, err := s.run(runID)
	if err != nil {
		return nil, err
	}
	out := make([]*store.ActivityTask, 0, len(r.tasks))
	for _, t := range r.tasks {
		out = append(out, copyTask(&t.t))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// ActivityTaskGet returns one unfinished activity task.
func (s *Store) ActivityTaskGet(ctx context.Context, runID string, seq int64) (*store.ActivityTask, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	t := s.tasks[taskKey{runID, seq}]
	if t == nil {
		return nil, fmt.Errorf("activity task %s/%d: %w", runID, seq, store.ErrNotFound)
	}
	return copyTask(&t.t), nil
}

// NextWakeup returns the earliest due time after after.
func (s *Store) NextWakeup(ctx context.Context, after time.Time) (time.Time, bool, error) {
	if err := s.rlock(ctx); err != nil {
		return time.Time{}, false, err
	}
	defer s.mu.Unlock()
	now := utc(after)
	t1, ok1 := s.runQ.nextAfter(now)
	t2, ok2 := s.taskQ.nextAfter(now)
	switch {
	case ok1 && ok2:
		if t2.Before(t1) {
			return t2, true, nil
		}
		return t1, true, nil
	case ok1:
		return t1, true, nil
	case ok2:
		return t2, true, nil
	}
	return time.Time{}, false, nil
}

// EncodeCursor and decodeCursor give RunList's keyset position.
func encodeCursor(r *store.Run) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(r.CreatedAt.UnixMicro(), 10) + "|" + r.RunID))
}

func decodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if micros, id, ok := strings.Cut(string(b), "|"); ok {
			if n, err := strconv.ParseInt(micros, 10, 64); err == nil {
				return time.UnixMicro(n).UTC(), id, nil
			}
		}
	}
	return time.Time{}, "", fmt.Errorf("run list: invalid cursor %q: pass the NextCursor of a previous page, or \"\" for the first page", c)
}

// RunList lists runs newest first.
func (s *Store) RunList(ctx context.Context, p *store.RunListParams) (*store.RunListResult, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	end := len(s.byCreated) // exclusive upper bound of the scan
	if p.Cursor != "" {
		at, id, err := decodeCursor(p.Cursor)
		if err != nil {
			return nil, err
		}
		end = s.createdIndex(at, id)
	}
	if !p.CreatedBefore.IsZero() {
		end = min(end, s.createdIndex(utc(p.CreatedBefore), ""))
	}
	prefix, isPrefix := strings.CutSuffix(p.InstanceID, "*")
	match := func(r *store.Run) bool {
		switch {
		case !p.AllRuns && !r.Current:
		case p.Name != "" && r.Name != p.Name:
		case len(p.Statuses) > 0 && !slices.Contains(p.Statuses, r.Status):
		case isPrefix && !strings.HasPrefix(r.InstanceID, prefix):
		case !isPrefix && p.InstanceID != "" && r.InstanceID != p.InstanceID:
		default:
			return true
		}
		return false
	}
	res := &store.RunListResult{}
	for i := end - 1; i >= 0; i-- {
		r := &s.byCreated[i].st.run
		if !p.CreatedAfter.IsZero() && r.CreatedAt.Before(p.CreatedAfter) {
			break // older runs come next
		}
		if !match(r) {
			continue
		}
		if len(res.Runs) == limit {
			res.NextCursor = encodeCursor(res.Runs[limit-1])
			break
		}
		res.Runs = append(res.Runs, copyRun(s.byCreated[i]))
	}
	return res, nil
}

// Purge deletes finished instances.
func (s *Store) Purge(ctx context.Context, p *store.PurgeParams) (int, error) {
	if err := s.rlock(ctx); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	if p.InstanceID != "" {
		inst := s.instances[p.InstanceID]
		if inst == nil {
			return 0, fmt.Errorf("purge instance %q: %w", p.InstanceID, store.ErrNotFound)
		}
		if cur := inst.current.st.run; !cur.Status.Finished() {
			return 0, fmt.Errorf("purge instance %q: run %s is %s; terminate it first: %w", p.InstanceID, cur.RunID, cur.Status, store.ErrStillRunning)
		}
		s.deleteInstance(inst)
		return 1, nil
	}
	var victims []*instance
	for _, inst := range s.instances {
		r := &inst.current.st.run
		switch {
		case !r.Status.Finished():
		case len(p.Statuses) > 0 && !slices.Contains(p.Statuses, r.Status):
		case p.Name != "" && r.Name != p.Name:
		case !p.FinishedBefore.IsZero() && !r.CompletedAt.Before(p.FinishedBefore):
		default:
			victims = append(victims, inst)
		}
	}
	sort.Slice(victims, func(i, j int) bool {
		a, b := &victims[i].current.st.run, &victims[j].current.st.run
		if !a.CompletedAt.Equal(b.CompletedAt) {
			return a.CompletedAt.Before(b.CompletedAt)
		}
		return a.InstanceID < b.InstanceID
	})
	if p.Limit > 0 && len(victims) > p.Limit {
		victims = victims[:p.Limit]
	}
	for _, inst := range victims {
		s.deleteInstance(inst)
	}
	return len(victims), nil
}

func (s *Store) deleteInstance(inst *instance) {
	for _, r := range inst.runs {
		for _, t := range r.tasks {
			delete(s.tasks, taskKey{t.t.RunID, t.t.Seq})
			s.requeueTask(t)
		}
		delete(s.runs, r.st.run.RunID)
		s.removeCreated(r)
		s.requeueRun(r)
	}
	delete(s.instances, inst.current.st.run.InstanceID)
}

// QueueDepth counts the runs with a claimable workflow task and the READY
// activity tasks that are visible at now (for the queue depth metric).
func (s *Store) QueueDepth(ctx context.Context, now time.Time) (workflowTasks, activityTasks int64, err error) {
	if err := s.rlock(ctx); err != nil {
		return 0, 0, err
	}
	defer s.mu.Unlock()
	now = utc(now)
	workflowTasks = s.runQ.countDue(now, func(*entry) bool { return true })
	activityTasks = s.taskQ.countDue(now, func(e *entry) bool { return e.task != nil && e.task.t.State == store.ActivityReady })
	return workflowTasks, activityTasks, nil
}

// RunCounts counts the runs matching p's filters (but for Statuses and the
// cursor) by status.
func (s *Store) RunCounts(ctx context.Context, p *store.RunListParams) (map[store.Status]int64, error) {
	if err := s.rlock(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	prefix, isPrefix := strings.CutSuffix(p.InstanceID, "*")
	out := map[store.Status]int64{}
	for _, rec := range s.byCreated {
		r := &rec.st.run
		switch {
		case !p.AllRuns && !r.Current:
		case p.Name != "" && r.Name != p.Name:
		case isPrefix && !strings.HasPrefix(r.InstanceID, prefix):
		case !isPrefix && p.InstanceID != "" && r.InstanceID != p.InstanceID:
		case !p.CreatedAfter.IsZero() && r.CreatedAt.Before(p.CreatedAfter):
		case !p.CreatedBefore.IsZero() && !r.CreatedAt.Before(p.CreatedBefore):
		default:
			out[r.Status]++
		}
	}
	return out, nil
}
