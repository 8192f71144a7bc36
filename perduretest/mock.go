package perduretest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/internal/names"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// RegisterActivity registers a real activity under its bare function name,
// like worker.RegisterActivity.
func RegisterActivity[I, R any](reg Registrar, fn func(context.Context, I) (R, error)) error {
	return worker.RegisterActivity(reg.Worker(), fn)
}

// RegisterActivityAs registers a real activity under name.
func RegisterActivityAs[I, R any](reg Registrar, name string, fn func(context.Context, I) (R, error)) error {
	return worker.RegisterActivityAs(reg.Worker(), name, fn)
}

// Register registers what a package's Register function registers (the
// examples' Register(w *worker.Worker) error, for instance).
func (e *Env) Register(f func(w *worker.Worker) error) {
	e.t.Helper()
	if err := f(e.w); err != nil {
		e.t.Fatalf("perduretest: %v", err)
	}
}

// outcome is what one call of a mock does.
type outcome[I, R any] struct {
	value R
	err   error
	fn    func(ctx context.Context, in I) (R, error)
}

// mock is the shared part of activity and workflow mocks: outcomes in
// order, then a default, and the calls seen.
type mock[I, R any] struct {
	mu    sync.Mutex
	name  string
	once  []outcome[I, R]
	def   *outcome[I, R]
	calls []I
	delay time.Duration
}

func (m *mock[I, R]) next(in I) (outcome[I, R], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, in)
	if len(m.once) > 0 {
		o := m.once[0]
		m.once = m.once[1:]
		return o, nil
	}
	if m.def != nil {
		return *m.def, nil
	}
	return outcome[I, R]{}, fmt.Errorf("perduretest: mock %q has no result for call %d: give it Return, ReturnOnce or Do", m.name, len(m.calls))
}

func (m *mock[I, R]) run(ctx context.Context, in I) (R, error) {
	o, err := m.next(in)
	if err != nil {
		var zero R
		return zero, err
	}
	if o.fn != nil {
		return o.fn(ctx, in)
	}
	return o.value, o.err
}

// ActivityMock stands in for an activity: results are given per call
// (ReturnOnce, in order) or for every call (Return, Do), calls and their
// inputs are recorded, and After makes each call take virtual time.
type ActivityMock[I, R any] struct {
	e *Env
	m mock[I, R]
}

// OnActivity mocks the activity fn, registered under the name fn would be
// called by (its registered or bare name).
func OnActivity[I, R any](e *Env, fn func(context.Context, I) (R, error)) *ActivityMock[I, R] {
	e.t.Helper()
	name, err := names.Of(fn)
	if err != nil {
		e.t.Fatalf("perduretest: %v", err)
	}
	m := OnActivityByName[I, R](e, name)
	names.Remember(fn, name)
	return m
}

// OnActivityAs mocks the activity fn under name: workflow code that calls
// fn reaches the mock (like worker.RegisterActivityAs for a real one).
func OnActivityAs[I, R any](e *Env, name string, fn func(context.Context, I) (R, error)) *ActivityMock[I, R] {
	e.t.Helper()
	m := OnActivityByName[I, R](e, name)
	names.Remember(fn, name)
	return m
}

// OnActivityByName mocks the activity registered as name.
func OnActivityByName[I, R any](e *Env, name string) *ActivityMock[I, R] {
	e.t.Helper()
	am := &ActivityMock[I, R]{e: e, m: mock[I, R]{name: name}}
	e.Register(func(w *worker.Worker) error { return worker.RegisterActivityAs(w, name, am.call) })
	return am
}

// Return makes every call (after those given by ReturnOnce) return v, err.
func (a *ActivityMock[I, R]) Return(v R, err error) *ActivityMock[I, R] {
	a.m.mu.Lock()
	a.m.def = &outcome[I, R]{value: v, err: err}
	a.m.mu.Unlock()
	return a
}

// ReturnOnce queues v, err for the next call; calls take queued results in
// order, then fall back to Return or Do.
func (a *ActivityMock[I, R]) ReturnOnce(v R, err error) *ActivityMock[I, R] {
	a.m.mu.Lock()
	a.m.once = append(a.m.once, outcome[I, R]{value: v, err: err})
	a.m.mu.Unlock()
	return a
}

// Do makes every call (after queued results) run fn.
func (a *ActivityMock[I, R]) Do(fn func(ctx context.Context, in I) (R, error)) *ActivityMock[I, R] {
	a.m.mu.Lock()
	a.m.def = &outcome[I, R]{fn: fn}
	a.m.mu.Unlock()
	return a
}

// DoOnce queues fn for the next call.
func (a *ActivityMock[I, R]) DoOnce(fn func(ctx context.Context, in I) (R, error)) *ActivityMock[I, R] {
	a.m.mu.Lock()
	a.m.once = append(a.m.once, outcome[I, R]{fn: fn})
	a.m.mu.Unlock()
	return a
}

// After makes every call take d of virtual time: its result arrives d
// after the attempt started, so start-to-close and heartbeat timeouts
// shorter than d expire first, as they would in production.
func (a *ActivityMock[I, R]) After(d time.Duration) *ActivityMock[I, R] {
	a.m.mu.Lock()
	a.m.delay = d
	a.m.mu.Unlock()
	return a
}

// Calls returns the inputs of every call so far, in order.
func (a *ActivityMock[I, R]) Calls() []I {
	a.m.mu.Lock()
	defer a.m.mu.Unlock()
	return append([]I(nil), a.m.calls...)
}

// Count is the number of calls so far (attempts included).
func (a *ActivityMock[I, R]) Count() int {
	a.m.mu.Lock()
	defer a.m.mu.Unlock()
	return len(a.m.calls)
}

// call is the registered activity.
func (a *ActivityMock[I, R]) call(ctx context.Context, in I) (R, error) {
	a.m.mu.Lock()
	delay := a.m.delay
	a.m.mu.Unlock()
	v, err := a.m.run(ctx, in)
	if delay <= 0 {
		return v, err
	}
	// The attempt completes d later on the virtual clock, by its token, so
	// that the engine's own timeouts apply meanwhile.
	token := activity.GetInfo(ctx).TaskToken
	a.e.scheduleCompletion(delay, token, v, err)
	var zero R
	return zero, activity.ErrResultPending
}

// scheduleCompletion schedules the completion of an attempt by token.
func (e *Env) scheduleCompletion(d time.Duration, token string, v any, err error) {
	e.RegisterDelayedCallback(d, func() {
		var cerr error
		if err != nil {
			cerr = e.FailActivity(token, err)
		} else {
			cerr = e.CompleteActivity(token, v)
		}
		_ = cerr // a rejected token means the attempt timed out first: nothing to do
	})
}

// WorkflowMock stands in for a child workflow.
type WorkflowMock[I, R any] struct {
	m mock[I, R]
}

// OnWorkflow mocks the workflow fn when started as a child.
func OnWorkflow[I, R any](e *Env, fn func(workflow.Context, I) (R, error)) *WorkflowMock[I, R] {
	e.t.Helper()
	name, err := names.Of(fn)
	if err != nil {
		e.t.Fatalf("perduretest: %v", err)
	}
	m := OnWorkflowByName[I, R](e, name)
	names.Remember(fn, name)
	return m
}

// OnWorkflowByName mocks the workflow registered as name.
func OnWorkflowByName[I, R any](e *Env, name string) *WorkflowMock[I, R] {
	e.t.Helper()
	wm := &WorkflowMock[I, R]{m: mock[I, R]{name: name}}
	e.Register(func(w *worker.Worker) error { return worker.RegisterWorkflowAs(w, name, wm.call) })
	return wm
}

// Return makes every start return v, err.
func (w *WorkflowMock[I, R]) Return(v R, err error) *WorkflowMock[I, R] {
	w.m.mu.Lock()
	w.m.def = &outcome[I, R]{value: v, err: err}
	w.m.mu.Unlock()
	return w
}

// ReturnOnce queues v, err for the next start.
func (w *WorkflowMock[I, R]) ReturnOnce(v R, err error) *WorkflowMock[I, R] {
	w.m.mu.Lock()
	w.m.once = append(w.m.once, outcome[I, R]{value: v, err: err})
	w.m.mu.Unlock()
	return w
}

// Calls returns the inputs of every start so far.
func (w *WorkflowMock[I, R]) Calls() []I {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	return append([]I(nil), w.m.calls...)
}

// Count is the number of starts so far.
func (w *WorkflowMock[I, R]) Count() int {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	return len(w.m.calls)
}

func (w *WorkflowMock[I, R]) call(ctx workflow.Context, in I) (R, error) {
	// The mock's outcome is recorded as a durable step, so that replays of
	// the child return it without counting another call; an error keeps
	// its type (ApplicationError.Type) as in production.
	return workflow.Run(ctx, "mock:"+w.m.name, func(c context.Context) (R, error) { return w.m.run(c, in) })
}
