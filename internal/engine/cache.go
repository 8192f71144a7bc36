package engine

import (
	"container/list"
	"sync"

	"github.com/perdure/perdure/internal/replay"
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
}

func newCache(max int) *cache {
	return &cache{max: max, lru: list.New(), items: map[string]*list.Element{}}
}

func (c *cache) take(runID string) *replay.Runner {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[runID]
	if !ok {
		return nil
	}
	c.lru.Remove(el)
	delete(c.items, runID)
	return el.Value.(*cacheEntry).r
}

func (c *cache) put(runID string, r *replay.Runner) {
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
	c.items[runID] = c.lru.PushFront(&cacheEntry{runID, r})
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
