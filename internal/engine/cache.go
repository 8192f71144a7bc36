package engine

import (
	"container/list"
	"sync"

	"github.com/perdure/perdure/internal/replay"
	"github.com/perdure/perdure/store"
)

// cache keeps live runners (parked workflow code) by run id, bounded, least
// recently used first out. A runner is taken out while a task uses it.
type cache struct {
	mu    sync.Mutex
	max   int
	lru   *list.List // of *replay.Runner keyed via items
	items map[string]*list.Element
}

type cacheEntry struct {
	runID string
	r     *replay.Runner
	run   *store.Run // the run as stored after the runner's last commit
}

func newCache(max int) *cache {
	return &cache{max: max, lru: list.New(), items: map[string]*list.Element{}}
}

// take takes the runner of runID out of the cache, with the run as stored
// after its last commit; nil when it is not cached.
func (c *cache) take(runID string) (*replay.Runner, *store.Run) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[runID]
	if !ok {
		return nil, nil
	}
	c.lru.Remove(el)
	delete(c.items, runID)
	ent := el.Value.(*cacheEntry)
	return ent.r, ent.run
}

func (c *cache) put(runID string, r *replay.Runner, run *store.Run) {
	if c.max < 0 {
		r.Close()
		return
	}
	var evicted []*replay.Runner
	c.mu.Lock()
	if el, ok := c.items[runID]; ok {
		c.lru.Remove(el)
		evicted = append(evicted, el.Value.(*cacheEntry).r)
	}
	c.items[runID] = c.lru.PushFront(&cacheEntry{runID, r, run})
	for c.lru.Len() > c.max {
		el := c.lru.Back()
		c.lru.Remove(el)
		ent := el.Value.(*cacheEntry)
		delete(c.items, ent.runID)
		evicted = append(evicted, ent.r)
	}
	c.mu.Unlock()
	for _, r := range evicted {
		r.Close()
	}
}

func (c *cache) clear() {
	c.mu.Lock()
	items := c.items
	c.items = map[string]*list.Element{}
	c.lru.Init()
	c.mu.Unlock()
	for _, el := range items {
		el.Value.(*cacheEntry).r.Close()
	}
}
