package replay

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"
)

// errKilled unwinds a coroutine whose runner is being closed.
type killedSignal struct{}

var errKilled = killedSignal{}

// coroutine is one deterministic thread of workflow code. Exactly one
// coroutine of a runner executes at a time; the runner decides which, in
// creation order, so that execution is the same on every replay.
type coroutine struct {
	name    string
	resume  chan bool // true: run; false: unwind (killed)
	cond    func() bool
	started bool
	done    bool
	fn      func()
}

func (r *Runner) spawn(name string, fn func()) {
	co := &coroutine{name: name, resume: make(chan bool), fn: fn}
	r.coroutines = append(r.coroutines, co)
	job := coroutineJob{r, co}
	select {
	case coroutineJobs <- job:
	default:
		go coroutineWorker(job)
	}
}

// Coroutines run on pooled goroutines: a goroutine whose coroutine ended
// waits for the next one, so that the stack it grew is used again instead
// of a new goroutine growing its own (a replay of a long fan-out would
// otherwise spend a fifth of its time copying stacks). At most
// maxIdleCoroutines wait; the others end.
const maxIdleCoroutines = 128

type coroutineJob struct {
	r  *Runner
	co *coroutine
}

var (
	coroutineJobs  = make(chan coroutineJob)
	idleCoroutines atomic.Int32
)

func coroutineWorker(job coroutineJob) {
	for {
		job.r.coroutineMain(job.co)
		if idleCoroutines.Add(1) > maxIdleCoroutines {
			idleCoroutines.Add(-1)
			return
		}
		job = <-coroutineJobs
		idleCoroutines.Add(-1)
	}
}

func (r *Runner) coroutineMain(co *coroutine) {
	defer func() {
		if rec := recover(); rec != nil {
			if _, ok := rec.(killedSignal); !ok {
				r.panicked(rec)
			}
		}
		co.done = true
		r.yield <- struct{}{}
	}()
	if !<-co.resume {
		panic(errKilled)
	}
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
	r.yield <- struct{}{}
	if !<-co.resume {
		panic(errKilled)
	}
	co.cond = nil
}

func (r *Runner) switchTo(co *coroutine, run bool) {
	prev := r.current
	r.current = co
	co.resume <- run
	<-r.yield
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
