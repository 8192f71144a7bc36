package workflow

import (
	"errors"
	"fmt"
)

// Go runs fn as a new deterministic coroutine of the workflow. Coroutines
// take turns (only one runs at a time, in a replayable order), so they may
// share variables without locks. Use it instead of the go statement.
func Go(ctx Context, fn func(ctx Context)) {
	s := ctx.state()
	s.r.Go("", func() { fn(s) })
}

// Await blocks until cond, which must read only workflow state, is true.
func Await(ctx Context, cond func() bool) {
	runner(ctx).Block(cond)
}

// AnyOf blocks until one of fs is ready and returns the index of the one
// that became ready first.
func AnyOf(ctx Context, fs ...Awaitable) int {
	if len(fs) == 0 {
		return -1
	}
	runner(ctx).Block(func() bool {
		for _, f := range fs {
			if f.IsReady() {
				return true
			}
		}
		return false
	})
	best := -1
	for i, f := range fs {
		if f.IsReady() && (best < 0 || f.base().Order() < fs[best].base().Order()) {
			best = i
		}
	}
	return best
}

// AllOf blocks until every one of fs is ready.
func AllOf(ctx Context, fs ...Awaitable) {
	runner(ctx).Block(func() bool {
		for _, f := range fs {
			if !f.IsReady() {
				return false
			}
		}
		return true
	})
}

// All waits for every future and returns their results in order. If any
// failed, it returns the results it has and the errors joined.
func All[T any](ctx Context, fs []Future[T]) ([]T, error) {
	out := make([]T, len(fs))
	var errs []error
	for i, f := range fs {
		v, err := f.Get(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[i] = v
	}
	return out, errors.Join(errs...)
}

// Selector waits on several futures and runs the callback of the one that
// became ready first, like a select statement.
type Selector struct {
	cases []selectCase
}

type selectCase struct {
	f     Awaitable
	fn    func()
	taken bool
}

// NewSelector returns an empty Selector.
func NewSelector(ctx Context) *Selector { return &Selector{} }

// AddFuture adds a case; fn runs when f is the one selected.
func (s *Selector) AddFuture(f Awaitable, fn func()) *Selector {
	s.cases = append(s.cases, selectCase{f: f, fn: fn})
	return s
}

// Select blocks until a case not selected before is ready, runs its
// callback, and marks it taken. Call it once per case to drain them all.
func (s *Selector) Select(ctx Context) {
	pending := func() []int {
		var idx []int
		for i := range s.cases {
			if !s.cases[i].taken {
				idx = append(idx, i)
			}
		}
		return idx
	}
	if len(pending()) == 0 {
		panic("perdure: Selector.Select called with no pending case")
	}
	runner(ctx).Block(func() bool {
		for _, i := range pending() {
			if s.cases[i].f.IsReady() {
				return true
			}
		}
		return false
	})
	best := -1
	for _, i := range pending() {
		if s.cases[i].f.IsReady() && (best < 0 || s.cases[i].f.base().Order() < s.cases[best].f.base().Order()) {
			best = i
		}
	}
	s.cases[best].taken = true
	if s.cases[best].fn != nil {
		s.cases[best].fn()
	}
}

// Semaphore bounds how many coroutines do something at once.
type Semaphore struct {
	n, used int
}

// NewSemaphore returns a semaphore with n permits.
func NewSemaphore(n int) *Semaphore {
	if n < 1 {
		n = 1
	}
	return &Semaphore{n: n}
}

// Acquire blocks until a permit is free and takes it.
func (s *Semaphore) Acquire(ctx Context) {
	Await(ctx, func() bool { return s.used < s.n })
	s.used++
}

// Release returns a permit.
func (s *Semaphore) Release() {
	if s.used > 0 {
		s.used--
	}
}

// FanOut runs fn for every item, at most maxParallel at a time (0: no
// bound), and returns the results in item order. Every item runs even when
// some fail; the errors are joined, each prefixed with its item index.
//
//	results, err := workflow.FanOut(ctx, items, 10, func(ctx workflow.Context, item int) (int, error) {
//		return workflow.ExecuteActivity(ctx, Process, item).Get(ctx)
//	})
func FanOut[I, R any](ctx Context, items []I, maxParallel int, fn func(ctx Context, item I) (R, error)) ([]R, error) {
	if maxParallel <= 0 || maxParallel > len(items) {
		maxParallel = len(items)
	}
	results := make([]R, len(items))
	errs := make([]error, len(items))
	sem := NewSemaphore(maxParallel)
	done := 0
	for i, item := range items {
		sem.Acquire(ctx)
		Go(ctx, func(ctx Context) {
			defer func() { sem.Release(); done++ }()
			results[i], errs[i] = fn(ctx, item)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("item %d: %w", i, errs[i])
			}
		})
	}
	Await(ctx, func() bool { return done == len(items) })
	return results, errors.Join(errs...)
}
