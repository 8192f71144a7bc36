package replay

import (
	"cmp"
	"fmt"
	"iter"
	"runtime/debug"
	"slices"
	"sync"
)

// errKilled unwinds a coroutine whose runner is being closed.
type killedSignal struct{}

var errKilled = killedSignal{}

// coroutine is one deterministic thread of workflow code. Exactly one
// coroutine of a runner executes at a time; the runner decides which, in
// creation order, so that execution is the same on every replay.
//
// A coroutine runs on a host (below) from its first turn to its end; one
// that never gets a turn (its runner closed first) never takes a host.
type coroutine struct {
	name    string
	id      int64       // creation order, from 1
	cond    func() bool // while blocked
	waits   *Future     // while blocked on this future alone (cond is its Ready)
	started bool
	done    bool
	fn      func()
	host    *host // from its first turn until it ends
}

// host is a goroutine that runs coroutines, one after another, under
// iter.Pull: the runner switches to it (next) and it back to the runner
// (yield) directly, without the scheduler. A switch through a channel
// instead readies the other goroutine, which wakes an idle processor: a
// futex call and a thread woken at every switch, twice a step, which a
// replay of a long history pays thousands of times. And a host keeps the
// stack it grew: a new goroutine for each coroutine copied its stack
// several times as it grew, a fifth of a long fan-out's replay.
type host struct {
	next  func() (struct{}, bool)
	stop  func()
	yield func(struct{}) bool
	r     *Runner
	co    *coroutine // the coroutine it runs, set before its first turn
}

// idleHosts keeps hosts between coroutines; at most maxIdleHosts wait.
var idleHosts struct {
	sync.Mutex
	hosts []*host
}

const maxIdleHosts = 128

// loop is a host's goroutine: it runs its coroutine, reports its end, and
// waits for the next one.
func (h *host) loop(yield func(struct{}) bool) {
	h.yield = yield
	for {
		h.r.run(h.co)
		h.co.done = true
		h.r, h.co = nil, nil
		if !yield(struct{}{}) {
			return // stopped: too many idle hosts
		}
	}
}

// takeHost returns an idle host, or a new one.
func takeHost() *host {
	idleHosts.Lock()
	if n := len(idleHosts.hosts); n > 0 {
		h := idleHosts.hosts[n-1]
		idleHosts.hosts[n-1] = nil
		idleHosts.hosts = idleHosts.hosts[:n-1]
		idleHosts.Unlock()
		return h
	}
	idleHosts.Unlock()
	h := &host{}
	h.next, h.stop = iter.Pull(h.loop)
	return h
}

// release keeps h, whose coroutine ended, for the next one, or ends its
// goroutine when enough wait already.
func (h *host) release() {
	idleHosts.Lock()
	if len(idleHosts.hosts) < maxIdleHosts {
		idleHosts.hosts = append(idleHosts.hosts, h)
		idleHosts.Unlock()
		return
	}
	idleHosts.Unlock()
	h.stop()
}

func (r *Runner) spawn(name string, fn func()) {
	r.spawned++
	co := &coroutine{name: name, id: r.spawned, fn: fn}
	r.coroutines = append(r.coroutines, co)
	r.polled = append(r.polled, co) // the newest: still in creation order
	r.due(co)
}

// run runs co's code; a panic other than the unwinding of a killed
// coroutine fails the task.
func (r *Runner) run(co *coroutine) {
	defer func() {
		if rec := recover(); rec != nil {
			if _, ok := rec.(killedSignal); !ok {
				r.panicked(rec)
			}
		}
	}()
	co.fn()
}

func (r *Runner) panicked(rec any) {
	if r.taskErr != nil {
		return
	}
	if nd, ok := rec.(*NondeterminismError); ok {
		r.taskErr = nd
		return
	}
	if e, ok := rec.(taskFailure); ok {
		r.taskErr = e.err
		return
	}
	r.taskErr = &PanicError{Value: fmt.Sprint(rec), Stack: string(debug.Stack())}
}

// taskFailure is panicked by runner methods to fail the workflow task (not
// the workflow), for conditions the workflow code cannot handle.
type taskFailure struct{ err error }

// PanicError is a panic in workflow code. It fails the workflow task, which
// is retried, so that a fixed deployment can resume the workflow.
type PanicError struct {
	Value string
	Stack string
}

func (e *PanicError) Error() string { return "workflow code panicked: " + e.Value + "\n" + e.Stack }

// Block parks the calling coroutine until cond returns true. cond must only
// read workflow state.
func (r *Runner) Block(cond func() bool) {
	r.block(cond, nil)
}

// block is Block; with f, cond is f's Ready, and the coroutine is woken
// when f resolves instead of polled at every pass (see runUntilBlocked).
func (r *Runner) block(cond func() bool, f *Future) {
	if r.killing {
		panic(errKilled)
	}
	if cond() {
		return
	}
	co := r.current
	if co == nil {
		panic("perdure: workflow API called outside workflow code")
	}
	co.cond, co.waits = cond, f
	if f != nil {
		f.waiters = append(f.waiters, co)
	} else {
		r.poll(co)
	}
	// Resumed to unwind while the runner closes; a host is stopped only
	// when idle, but a stopped one's yield returning would mean the same.
	if !co.host.yield(struct{}{}) || r.killing {
		panic(errKilled)
	}
	co.cond, co.waits = nil, nil
}

// switchTo runs co until it blocks or ends; while the runner is closing
// (r.killing), it unwinds co instead, or drops it if it never started.
func (r *Runner) switchTo(co *coroutine) {
	if co.host == nil {
		if r.killing {
			co.done = true // never ran: nothing to unwind
			return
		}
		co.host = takeHost()
		co.host.r, co.host.co = r, co
	}
	prev := r.current
	r.current = co
	if _, ok := co.host.next(); !ok {
		// The host's goroutine ended, which its loop does only when
		// stopped, and a stopped host is never handed out: drop it.
		co.done = true
		co.host = nil
	}
	r.current = prev
	if co.done && co.host != nil {
		co.host.release()
		co.host = nil
	}
}

// runUntilBlocked runs coroutines, in creation order, until none can make
// progress, the workflow finished, or the task failed.
//
// It makes passes over the coroutines in creation order, running each one
// that has not started or whose condition holds, until a pass runs none.
// A pass need not look at every coroutine, which made a replay of a wide
// fan-out quadratic (each event applied looked at every branch, twice):
// it looks at the coroutines in polled (not started, or blocked on a
// condition of their own, which any step may change), and at those
// blocked on a future that has resolved (woken: f.resolve lists its
// waiters). A coroutine woken, or started, during a pass is looked at in
// that pass when it comes after the one that ran, and in the next pass
// otherwise: where a pass over every coroutine would have found it.
// TestSchedulingMatchesFullPasses checks that the order is that of full
// passes.
func (r *Runner) runUntilBlocked() {
	if r.fullPasses {
		r.runFullPasses()
		return
	}
	defer func() { r.inPass = false }()
	for {
		// This pass's coroutines, in creation order.
		r.pass = append(r.pass[:0], r.polled...)
		for _, co := range r.woken {
			r.pass = insertByID(r.pass, co)
		}
		r.woken = r.woken[:0]
		r.inPass, r.at, r.next = true, 0, 0
		progressed := false
		for r.next < len(r.pass) {
			co := r.pass[r.next]
			r.next++
			if co.id <= r.at {
				continue // listed twice
			}
			r.at = co.id
			r.looked++
			if co.done || (co.started && !co.cond()) {
				continue
			}
			progressed = true
			if r.turn(co) {
				// Those woken and not looked at stay woken.
				for _, c := range r.pass[r.next:] {
					if c.waits != nil {
						r.woken = append(r.woken, c)
					}
				}
				return
			}
		}
		r.inPass = false
		r.compact()
		if !progressed {
			return
		}
	}
}

// runFullPasses is runUntilBlocked looking at every coroutine at every
// pass: the order the scheduling must keep, for tests.
func (r *Runner) runFullPasses() {
	for {
		progressed := false
		for i := 0; i < len(r.coroutines); i++ {
			co := r.coroutines[i]
			r.looked++
			if co.done || (co.started && !co.cond()) {
				continue
			}
			progressed = true
			if r.turn(co) {
				return
			}
		}
		r.compact()
		if !progressed {
			return
		}
	}
}

// turn runs co, whose turn it is, until it blocks or ends; it reports
// whether the runner stops there (the task failed or the workflow
// finished).
func (r *Runner) turn(co *coroutine) (stop bool) {
	r.unpoll(co)
	co.started = true
	r.switchTo(co)
	if co.done {
		r.ended++
	}
	return r.taskErr != nil || r.completion != nil
}

// compact drops finished coroutines from r.coroutines once they are half
// of it (a pass over them all at every pass would cost what the passes
// above save).
func (r *Runner) compact() {
	if r.ended*2 <= len(r.coroutines) {
		return
	}
	r.ended = 0
	live := r.coroutines[:0]
	for _, co := range r.coroutines {
		if !co.done {
			live = append(live, co)
		}
	}
	clear(r.coroutines[len(live):])
	r.coroutines = live
}

// due lists co for a look: in the pass under way when it comes after the
// coroutine that runs, otherwise at the next pass (a coroutine started
// outside any pass is in polled already).
func (r *Runner) due(co *coroutine) {
	switch {
	case r.inPass && co.id > r.at:
		if i, found := slices.BinarySearchFunc(r.pass[r.next:], co.id, byID); !found {
			r.pass = slices.Insert(r.pass, r.next+i, co)
		}
	case co.waits != nil:
		r.woken = append(r.woken, co)
	}
}

// poll adds co, blocked on a condition of its own, to polled.
func (r *Runner) poll(co *coroutine) {
	r.polled = insertByID(r.polled, co)
}

// unpoll removes co, which is about to run, from polled.
func (r *Runner) unpoll(co *coroutine) {
	if i, found := slices.BinarySearchFunc(r.polled, co.id, byID); found {
		r.polled = slices.Delete(r.polled, i, i+1)
	}
}

// insertByID inserts co into s, which is in creation order, unless it is
// there already.
func insertByID(s []*coroutine, co *coroutine) []*coroutine {
	i, found := slices.BinarySearchFunc(s, co.id, byID)
	if found {
		return s
	}
	return slices.Insert(s, i, co)
}

func byID(c *coroutine, id int64) int { return cmp.Compare(c.id, id) }

// Close unwinds every coroutine so that no goroutine outlives the runner.
func (r *Runner) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.killing = true
	for _, co := range r.coroutines {
		if !co.done {
			r.switchTo(co)
		}
	}
	r.coroutines, r.polled, r.woken, r.pass = nil, nil, nil, nil
}
