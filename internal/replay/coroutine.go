package replay

import (
	"cmp"
	"fmt"
	"iter"
	"runtime/debug"
	"slices"

	"github.com/perdure/perdure/internal/gopool"
)

// errKilled unwinds a coroutine whose runner is being closed.
type killedSignal struct{}

var errKilled = killedSignal{}

// coroutine is one deterministic thread of workflow code. Exactly one
// coroutine of a runner executes at a time; the runner decides which, in
// creation order, so that execution is the same on every replay.
//
// A coroutine runs on a goroutine of its own, in one of two ways:
//   - started while the runner replays a history (a rebuild, often of a
//     long fan-out): on a pooled goroutine, switched to and from through
//     channels (resume, Runner.yield);
//   - started live (a new run, or a step of a cached runner): under
//     iter.Pull (next, stop, yield), which switches directly between the
//     two goroutines instead of through the scheduler. A switch through a
//     channel readies the other goroutine, which wakes an idle processor:
//     a futex call and a thread woken at every switch, twice a step.
type coroutine struct {
	name    string
	id      int64       // creation order, from 1
	cond    func() bool // while blocked
	waits   *Future     // while blocked on this future alone (cond is its Ready)
	started bool
	done    bool
	fn      func()

	resume chan bool // pooled: true: run; false: unwind (killed)

	next  func() (struct{}, bool) // under iter.Pull
	stop  func()
	yield func(struct{}) bool
}

func (r *Runner) spawn(name string, fn func()) {
	r.spawned++
	co := &coroutine{name: name, id: r.spawned, fn: fn}
	r.coroutines = append(r.coroutines, co)
	r.polled = append(r.polled, co) // the newest: still in creation order
	r.due(co)
	if !r.replaying {
		co.next, co.stop = iter.Pull(func(yield func(struct{}) bool) {
			co.yield = yield
			r.run(co)
		})
		return
	}
	co.resume = make(chan bool)
	coroutines.Go(func() { r.coroutineMain(co) })
}

// coroutines runs the coroutines started during a replay, on goroutines
// that keep the stacks they grew (a replay of a long fan-out would
// otherwise spend a fifth of its time copying stacks); at most 128 wait
// idle.
var coroutines = gopool.New(128)

// coroutineMain runs a pooled coroutine from its first resume to its end.
func (r *Runner) coroutineMain(co *coroutine) {
	defer func() {
		co.done = true
		r.yield <- struct{}{}
	}()
	if !<-co.resume {
		return // killed before it started
	}
	r.run(co)
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
	if co.yield != nil {
		if !co.yield(struct{}{}) {
			panic(errKilled) // stopped: the runner is being closed
		}
	} else {
		r.yield <- struct{}{}
		if !<-co.resume {
			panic(errKilled)
		}
	}
	co.cond, co.waits = nil, nil
}

// switchTo runs co until it blocks or ends (run), or unwinds it (!run).
func (r *Runner) switchTo(co *coroutine, run bool) {
	prev := r.current
	r.current = co
	switch {
	case co.next == nil:
		co.resume <- run
		<-r.yield
	case run:
		if _, ok := co.next(); !ok {
			co.done = true
		}
	default:
		co.stop()
		co.done = true
	}
	r.current = prev
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
	r.switchTo(co, true)
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
			r.switchTo(co, false)
		}
	}
	r.coroutines, r.polled, r.woken, r.pass = nil, nil, nil, nil
}
