package memstore

import (
	"container/heap"
	"slices"
	"time"
)

// entry is a record's place in a ready queue: the time it becomes due.
type entry struct {
	key  time.Time
	ord  uint64 // creation order of the record: ties go to the older one
	idx  int
	run  *runRec
	task *taskRec
}

func (a *entry) less(b *entry) bool {
	if !a.key.Equal(b.key) {
		return a.key.Before(b.key)
	}
	return a.ord < b.ord
}

// pq is a min-heap of entries by key.
type pq []*entry

func (q pq) Len() int           { return len(q) }
func (q pq) Less(i, j int) bool { return q[i].less(q[j]) }
func (q pq) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].idx = i
	q[j].idx = j
}
func (q *pq) Push(x any) {
	e := x.(*entry)
	e.idx = len(*q)
	*q = append(*q, e)
}
func (q *pq) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	e.idx = -1
	return e
}

// nextAfter returns the smallest key after t, visiting only the entries due
// at or before t (and their first children past t).
func (q pq) nextAfter(t time.Time) (time.Time, bool) {
	var best time.Time
	found := false
	var visit func(i int)
	visit = func(i int) {
		if i >= len(q) {
			return
		}
		if q[i].key.After(t) {
			if !found || q[i].key.Before(best) {
				best, found = q[i].key, true
			}
			return // children are not smaller
		}
		visit(2*i + 1)
		visit(2*i + 2)
	}
	visit(0)
	return best, found
}

// qkey names a heap: a task queue and a workflow or activity name, both
// fixed for the life of a record.
type qkey struct {
	queue, name string
}

// queues keeps one heap per task queue and name (workflow or activity
// name), so that a claim restricted to some names or queues never looks at
// the others.
type queues struct {
	byName map[qkey]*pq
}

func newQueues() queues { return queues{byName: map[qkey]*pq{}} }

// set puts *slot in the queue of name with key, or removes it when !due.
func (qs *queues) set(slot **entry, name qkey, key time.Time, due bool, mk func() *entry) {
	e := *slot
	if !due {
		if e != nil {
			qs.remove(name, e)
			*slot = nil
		}
		return
	}
	q := qs.byName[name]
	if q == nil {
		q = &pq{}
		qs.byName[name] = q
	}
	if e == nil {
		e = mk()
		e.key = key
		heap.Push(q, e)
		*slot = e
		return
	}
	e.key = key
	heap.Fix(q, e.idx)
}

func (qs *queues) remove(name qkey, e *entry) {
	q := qs.byName[name]
	heap.Remove(q, e.idx)
	if q.Len() == 0 {
		delete(qs.byName, name)
	}
}

// popDue removes and returns the entry with the smallest key at or before
// now among the heaps of names and task queues (empty: any), leaving out
// the names in exclude.
func (qs *queues) popDue(names, exclude, taskQueues []string, now time.Time) *entry {
	var best *pq
	var bestName qkey
	consider := func(name qkey, q *pq) {
		if q == nil || q.Len() == 0 || (*q)[0].key.After(now) || slices.Contains(exclude, name.name) {
			return
		}
		if best == nil || (*q)[0].less((*best)[0]) {
			best, bestName = q, name
		}
	}
	if len(names) == 0 || len(taskQueues) == 0 {
		for k, q := range qs.byName {
			if (len(names) == 0 || slices.Contains(names, k.name)) && (len(taskQueues) == 0 || slices.Contains(taskQueues, k.queue)) {
				consider(k, q)
			}
		}
	} else {
		for _, queue := range taskQueues {
			for _, name := range names {
				k := qkey{queue, name}
				consider(k, qs.byName[k])
			}
		}
	}
	if best == nil {
		return nil
	}
	e := heap.Pop(best).(*entry)
	if best.Len() == 0 {
		delete(qs.byName, bestName)
	}
	return e
}

// nextAfter returns the smallest key after t over all queues.
func (qs *queues) nextAfter(t time.Time) (time.Time, bool) {
	var best time.Time
	found := false
	for _, q := range qs.byName {
		if k, ok := q.nextAfter(t); ok && (!found || k.Before(best)) {
			best, found = k, true
		}
	}
	return best, found
}

// countDue counts the entries due at or before t that satisfy keep.
func (qs *queues) countDue(t time.Time, keep func(*entry) bool) int64 {
	var n int64
	for _, q := range qs.byName {
		var visit func(i int)
		visit = func(i int) {
			if i >= len(*q) || (*q)[i].key.After(t) {
				return
			}
			if keep((*q)[i]) {
				n++
			}
			visit(2*i + 1)
			visit(2*i + 2)
		}
		visit(0)
	}
	return n
}
