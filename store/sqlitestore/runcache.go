package sqlitestore

import (
	"bytes"
	"slices"

	"github.com/perdure/perdure/store"
)

// An op that changes a run reads the run's row first (to check the lease,
// the history length and the status), and an activity result reads the
// task it finishes (to check the attempt). One workflow run alone (a
// start, then one activity result at a time) commits each step as an
// Apply of one op, and each of those read back what the previous one had
// just written: about a fifth of such a commit's work.
//
// So the writer keeps what such ops leave, in Store.runs: after an Apply
// of a single op whose workflow task is fused into it (a start, or an
// activity result) and which wrote no other run, the run's row and the
// attempts of its activity tasks as that transaction committed them. The
// next op on that run starts from them instead of reading them.
//
// They stay exact because everything that writes the database goes
// through Store.writer, and writer empties the cache for every write but
// the one that may use it: an Apply of one op. That Apply keeps the other
// runs' entries (its op wrote none of their rows) and its own run's new
// one, and only once its transaction has committed; an op that takes
// another path, fails, or meets an error leaves the cache empty. Finished
// runs are not kept.

// runCacheMax bounds the runs kept (past it the cache starts over), and
// runCachePayload the payload bytes of a kept row (a larger one is not
// kept): at most 2 MiB in all.
const (
	runCacheMax     = 256
	runCachePayload = 8 << 10
)

// runEntry is a kept run: its row, and the activity tasks it has that
// the kept ops created, as the fence of an activity result needs them.
type runEntry struct {
	row   runRow
	tasks []taskFence
}

type taskFence struct {
	seq      int64
	state    string
	attempt  int
	deadline int64
}

// cachedRun returns a copy of run runID's kept row, or reads the row when
// none is kept (nil when there is no such run).
func (w *wtx) cachedRun(runID string) (*runRow, error) {
	if e := w.runs[runID]; e != nil {
		r := e.row
		return &r, nil
	}
	return w.loadRun(runID)
}

// cachedTask returns the kept fence of activity task seq of run runID.
func (w *wtx) cachedTask(runID string, seq int64) (taskFence, bool) {
	if e := w.runs[runID]; e != nil {
		for _, f := range e.tasks {
			if f.seq == seq {
				return f, true
			}
		}
	}
	return taskFence{}, false
}

// noteTask records a task the op inserted, for keepRun.
func (w *wtx) noteTask(t *store.ActivityTask) {
	if w.single {
		w.newTasks = append(w.newTasks, taskFence{t.Seq, string(t.State), t.Attempt, micros(t.Deadline)})
	}
}

// keepRun records r as the row its run has once the transaction commits,
// when the op wrote no run but r's: then is the workflow task the op
// applied to r, done the task it finished (0 for a start). A finished run,
// or one with large payloads, is dropped instead.
func (w *wtx) keepRun(r *runRow, then *store.WorkflowTaskCommitOp, done int64) {
	if !w.single || w.ranOn != "" || len(then.Messages) > 0 || len(then.NewRuns) > 0 || then.CarryOverEvents != "" {
		// Other runs changed (a second call: a child's start): the
		// cache starts over.
		w.spoiled = true
		return
	}
	w.ranOn = r.RunID
	if r.Status.Finished() || len(r.Input)+len(r.Output)+len(r.Failure)+len(r.CustomStatus)+len(r.Waiting) > runCachePayload {
		return
	}
	// The row as loadRun would read it: times in whole microseconds,
	// UTC; payloads copied (the op's own may be reused), empty ones nil.
	k := &runEntry{row: *r}
	kr := &k.row
	kr.CreatedAt, kr.UpdatedAt, kr.CompletedAt = fromMicros(micros(kr.CreatedAt)), fromMicros(micros(kr.UpdatedAt)), fromMicros(micros(kr.CompletedAt))
	kr.leaseUntil = fromMicros(micros(kr.leaseUntil))
	if !kr.readyAt.Valid {
		kr.readyAt.Int64 = 0
	}
	for _, b := range []*[]byte{&kr.Input, &kr.Output, &kr.Failure, &kr.CustomStatus, &kr.Waiting} {
		if len(*b) == 0 {
			*b = nil
		} else {
			*b = bytes.Clone(*b)
		}
	}
	if e := w.runs[r.RunID]; e != nil {
		for _, f := range e.tasks {
			if f.seq != done && !slices.Contains(then.CancelActivities, f.seq) {
				k.tasks = append(k.tasks, f)
			}
		}
	}
	k.tasks = append(k.tasks, w.newTasks...)
	w.kept = k
}

// takeRuns empties the store's cache and returns what it held (writer
// calls it for every write, under the writer lock).
func (s *Store) takeRuns() map[string]*runEntry {
	m := s.runs
	s.runs = nil
	return m
}

// keepRuns installs the cache an Apply of one op leaves once its
// transaction has committed: the entries it started from but the op's
// run's, and the op's run's new one when it was kept.
func (s *Store) keepRuns(w *wtx) {
	if w.ranOn == "" || w.spoiled {
		return // the op took another path: the cache stays empty
	}
	m := w.runs
	if m == nil || len(m) >= runCacheMax {
		m = make(map[string]*runEntry)
	}
	delete(m, w.ranOn)
	if w.kept != nil {
		m[w.kept.row.RunID] = w.kept
	}
	s.runs = m
}
