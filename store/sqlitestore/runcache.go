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
// just written: about a fifth of such a commit's work. Under load, each
// batch's bulk statements (bulk.go) read back the runs and tasks of its
// activity results, which the batches before had written: about a sixth
// of the writer's time in a burst.
//
// So the writer keeps what such ops leave, in Store.runs: after an Apply
// of a single op whose workflow task is fused into it (a start, or an
// activity result) and which wrote no other run, and after an Apply whose
// ops all went through the bulk statements (starts, activity results and
// workflow task commits, each on a run of its own), each such run's row
// and the attempts of the activity tasks those ops created, as that
// transaction committed them. The next op on that run starts from them
// instead of reading them: an Apply of one op through cachedRun and
// cachedTask, the bulk statements through bulkPrev.
//
// They stay exact because everything that writes the database goes
// through Store.writer, and writer empties the cache for every write but
// the ones that may use it: an Apply of one op, and an Apply whose ops
// all go through the bulk statements. Those keep the other runs' entries
// (their ops wrote none of their rows) and their own runs' new ones, and
// only once their transaction has committed; an op that takes another
// path, fails, or meets an error leaves the cache empty. Finished runs are
// not kept, nor runs whose row the bulk statements read only in part.

// runCacheMax bounds the runs kept, runCachePayload the payload bytes of
// a kept row (a larger one is not kept) and runCacheBytes those of all of
// them; past either bound the cache starts over.
const (
	runCacheMax     = 4096
	runCachePayload = 8 << 10
	runCacheBytes   = 4 << 20
)

// runEntry is a kept run: its row, and the activity tasks it has that
// the kept ops created, as the fence of an activity result needs them.
type runEntry struct {
	row   runRow
	tasks []taskFence
	size  int // payload bytes of row
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
		w.newTasks = append(w.newTasks, fenceOf(t))
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
	w.kept = newRunEntry(r, keptTasks(w.runs[r.RunID], done, then.CancelActivities, w.newTasks))
}

// keptTasks are the task fences of a run's entry after an op: those of
// its entry before (prev, nil when it had none) but done and cancelled,
// then added.
func keptTasks(prev *runEntry, done int64, cancelled []int64, added []taskFence) []taskFence {
	var out []taskFence
	if prev != nil {
		for _, f := range prev.tasks {
			if f.seq != done && !slices.Contains(cancelled, f.seq) {
				out = append(out, f)
			}
		}
	}
	return append(out, added...)
}

// newRunEntry is the entry of run row r with task fences tasks, or nil
// when r is not kept: finished, or with large payloads.
func newRunEntry(r *runRow, tasks []taskFence) *runEntry {
	size := len(r.Input) + len(r.Output) + len(r.Failure) + len(r.CustomStatus) + len(r.Waiting)
	if r.Status.Finished() || size > runCachePayload {
		return nil
	}
	return &runEntry{row: asStored(r), tasks: tasks, size: size}
}

// asStored returns r as loadRun would read it back: times in whole
// microseconds, UTC; payloads copied (the op's own may be reused), empty
// ones nil.
func asStored(r *runRow) runRow {
	k := *r
	k.CreatedAt, k.UpdatedAt, k.CompletedAt = fromMicros(micros(k.CreatedAt)), fromMicros(micros(k.UpdatedAt)), fromMicros(micros(k.CompletedAt))
	k.leaseUntil = fromMicros(micros(k.leaseUntil))
	if !k.readyAt.Valid {
		k.readyAt.Int64 = 0
	}
	for _, b := range []*[]byte{&k.Input, &k.Output, &k.Failure, &k.CustomStatus, &k.Waiting} {
		if len(*b) == 0 {
			*b = nil
		} else {
			*b = bytes.Clone(*b)
		}
	}
	return k
}

// fenceOf is the fence of task t as inserted.
func fenceOf(t *store.ActivityTask) taskFence {
	return taskFence{t.Seq, string(t.State), t.Attempt, micros(t.Deadline)}
}

// takeRuns empties the store's cache and returns what it held (writer
// calls it for every write, under the writer lock).
func (s *Store) takeRuns() map[string]*runEntry {
	m := s.runs
	s.runs, s.runsBytes = nil, 0
	return m
}

// keepRuns installs the cache an Apply of one op leaves once its
// transaction has committed: the entries it started from but the op's
// run's, and the op's run's new one when it was kept.
func (s *Store) keepRuns(w *wtx) {
	if w.ranOn == "" || w.spoiled {
		return // the op took another path: the cache stays empty
	}
	var kept []*runEntry
	if w.kept != nil {
		kept = append(kept, w.kept)
	}
	s.installRuns(w.runs, w.prevBytes, []string{w.ranOn}, kept)
}

// keepBulk installs the cache an Apply whose ops all went through the
// bulk statements leaves once its transaction has committed: the entries
// it started from but those of the runs its ops wrote, and the new ones
// they left.
func (s *Store) keepBulk(w *wtx) {
	s.installRuns(w.bulkPrev, w.prevBytes, w.bulkTouched, w.bulkKept)
}

// installRuns makes the cache m, of bytes payload bytes, without the
// entries of runs touched and with kept; it starts over from kept alone
// when that would pass a bound.
func (s *Store) installRuns(m map[string]*runEntry, bytes int, touched []string, kept []*runEntry) {
	for _, id := range touched {
		if e := m[id]; e != nil {
			bytes -= e.size
			delete(m, id)
		}
	}
	add := 0
	for _, k := range kept {
		add += k.size
	}
	if m == nil || len(m)+len(kept) > runCacheMax || bytes+add > runCacheBytes {
		m, bytes = make(map[string]*runEntry, len(kept)), 0
		if len(kept) > runCacheMax || add > runCacheBytes {
			return
		}
	}
	for _, k := range kept {
		m[k.row.RunID] = k
	}
	s.runs, s.runsBytes = m, bytes+add
}
