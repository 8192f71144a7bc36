package replay

import (
	"github.com/perdure/perdure/internal/failure"
)

// Future is the eventual result of a step (activity, timer, child, event).
type Future struct {
	r         *Runner
	ready     bool
	value     []byte
	fail      *failure.Failure
	err       error
	order     int64 // resolution order, for deterministic select
	seq       int64 // the step that created it, 0 for local futures
	onResolve func()
	waiters   []*coroutine // blocked in Wait
}

func (r *Runner) newFuture() *Future { return &Future{r: r} }

// NewSettable returns a future that workflow code resolves itself.
func (r *Runner) NewSettable() *Future { return r.newFuture() }

func (f *Future) resolve(v []byte, fail *failure.Failure) {
	if f.ready {
		return
	}
	f.ready = true
	f.value, f.fail = v, fail
	f.r.resolved++
	f.order = f.r.resolved
	for _, co := range f.waiters {
		f.r.due(co)
	}
	f.waiters = nil
	if f.onResolve != nil {
		f.onResolve()
	}
}

func (f *Future) resolveErr(err error) {
	if f.ready {
		return
	}
	f.resolve(nil, nil)
	f.err = err
}

// Set resolves a settable future.
func (f *Future) Set(v []byte, err error) {
	if err != nil {
		f.resolveErr(err)
		return
	}
	f.resolve(v, nil)
}

// Ready reports whether the future is resolved.
func (f *Future) Ready() bool { return f.ready }

// Order is the resolution order (0 while not ready).
func (f *Future) Order() int64 { return f.order }

// Wait blocks the calling coroutine until the future is resolved and returns
// the encoded value, the recorded failure, or a local error (event timeout).
func (f *Future) Wait() ([]byte, *failure.Failure, error) {
	if !f.ready {
		f.r.block(f.Ready, f)
	}
	return f.value, f.fail, f.err
}

// Seq is the step number of the command behind the future (0 if none).
func (f *Future) Seq() int64 { return f.seq }

// Runner returns the runner the future belongs to.
func (f *Future) Runner() *Runner { return f.r }
