package durabletask

import (
	"sync"

	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/store"
)

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
	run  *store.Run
	past []*history.Event
}

func newRunCache(max int) *runCache { return &runCache{max: max, runs: map[string]cachedRun{}} }

// get returns the cached history of run when it is the history run has.
func (c *runCache) get(run *store.Run) ([]*history.Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.runs[run.RunID]
	if !ok || e.run.HistoryLen != run.HistoryLen || int64(len(e.past)) != run.HistoryLen {
		return nil, false
	}
	return e.past, true
}

// take removes and returns a run's entry (nil when none).
func (c *runCache) take(runID string) (*store.Run, []*history.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.runs[runID]
	if !ok {
		return nil, nil
	}
	delete(c.runs, runID)
	return e.run, e.past
}

func (c *runCache) put(run *store.Run, past []*history.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.runs[run.RunID]; !ok && len(c.runs) >= c.max {
		for k := range c.runs { // any one
			delete(c.runs, k)
			break
		}
	}
	c.runs[run.RunID] = cachedRun{run: run, past: past}
}

func (c *runCache) drop(runID string) {
	c.mu.Lock()
	delete(c.runs, runID)
	c.mu.Unlock()
}
