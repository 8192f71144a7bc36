package replay

import (
	"fmt"
	"iter"
	"runtime/debug"

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
	cond    func() bool
	started bool
	done    bool
	fn      func()

	resume chan bool // pooled: true: run; false: unwind (killed)

	next  func() (struct{}, bool) // under iter.Pull
	stop  func()
	yield func(struct{}) bool
}

func (r *Runner) spawn(name string, fn func()) {
	co := &coroutine{name: name, fn: fn}
	r.coroutines = append(r.coroutines, co)
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
	co.cond = cond
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
	co.cond = nil
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
func (r *Runner) runUntilBlocked() {
	for {
		progressed := false
		for i := 0; i < len(r.coroutines); i++ {
			co := r.coroutines[i]
			if co.done || (co.started && !co.cond()) {
				continue
			}
			co.started = true
			r.switchTo(co, true)
			progressed = true
			if r.taskErr != nil || r.completion != nil {
				return
			}
		}
		live := r.coroutines[:0]
		for _, co := range r.coroutines {
			if !co.done {
				live = append(live, co)
			}
		}
		clear(r.coroutines[len(live):])
		r.coroutines = live
		if !progressed {
			return
		}
	}
}

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
	r.coroutines = nil
}
