package durabletask

import (
	"sync"
	"time"

	"github.com/dapr/durabletask-go/api/protos"

	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/store"
)

// runHistory is a run's history, as Perdure keeps it and in the
// protocol's form, converted once: a task's new events are converted
// when it commits (extend), not again for every later task.
type runHistory struct {
	past []*history.Event
	dt   []*protos.HistoryEvent
}

func newRunHistory(past []*history.Event) runHistory {
	dt, _ := historyOf(past, time.Time{})
	return runHistory{past: past, dt: dt}
}

// extend returns h followed by the events all (h is not changed).
func (h runHistory) extend(all []*history.Event) runHistory {
	var last time.Time
	if n := len(h.past); n > 0 {
		last = h.past[n-1].Time
	}
	dt, _ := historyOf(all, last)
	return runHistory{past: append(h.past[:len(h.past):len(h.past)], all...), dt: append(h.dt[:len(h.dt):len(h.dt)], dt...)}
}

// runCache keeps, for runs whose last workflow task this node committed,
// the run as that commit left it and its history, so that the next task
// does not read the history again, and an activity's result can be
// committed with the task it wakes (fused). Entries are checked against
// the history length of the task that uses them.
type runCache struct {
	mu   sync.Mutex
	max  int
	runs map[string]cachedRun
}

type cachedRun struct {
	run *store.Run
	h   runHistory
}

func newRunCache(max int) *runCache { return &runCache{max: max, runs: map[string]cachedRun{}} }

// get returns the cached history of run when it is the history run has.
func (c *runCache) get(run *store.Run) (runHistory, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.runs[run.RunID]
	if !ok || e.run.HistoryLen != run.HistoryLen || int64(len(e.h.past)) != run.HistoryLen {
		return runHistory{}, false
	}
	return e.h, true
}

// take removes and returns a run's entry (nil when none).
func (c *runCache) take(runID string) (*store.Run, runHistory) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.runs[runID]
	if !ok {
		return nil, runHistory{}
	}
	delete(c.runs, runID)
	return e.run, e.h
}

func (c *runCache) put(run *store.Run, h runHistory) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.runs[run.RunID]; !ok && len(c.runs) >= c.max {
		for k := range c.runs { // any one
			delete(c.runs, k)
			break
		}
	}
	c.runs[run.RunID] = cachedRun{run: run, h: h}
}

func (c *runCache) drop(runID string) {
	c.mu.Lock()
	delete(c.runs, runID)
	c.mu.Unlock()
}
