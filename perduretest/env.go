package perduretest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/clock"
	"github.com/perdure/perdure/internal/engine"
	"github.com/perdure/perdure/internal/hook"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/worker"
)

// noIdlePoll is the idle poll of the engine under test: far enough that an
// idle worker's own wake-up is never mistaken for scheduled work.
const noIdlePoll = 100 * 365 * 24 * time.Hour

// Env runs workflows in memory on a virtual clock, with the engine that
// runs them in production: the same retry policies, timeouts, timers,
// events and replay. When every workflow is blocked, the clock jumps to the
// next timer, retry or timeout, so that a 24-hour wait takes milliseconds.
//
// An Env belongs to one test; it is closed when the test ends.
type Env struct {
	t      testing.TB
	clock  *clock.Virtual
	st     *memstore.Store
	client *perdure.Client
	eng    *engine.Engine
	w      *worker.Worker

	mu        sync.Mutex
	closeOnce sync.Once
	started   bool
	callbacks []*callback
	seq       int
	current   string // instance id of the last ExecuteWorkflow
	cbErrs    []error
	timeout   time.Duration
}

type callback struct {
	at  time.Time
	seq int
	fn  func()
}

// Option configures NewEnv.
type Option func(*envConfig)

type envConfig struct {
	start   time.Time
	logger  *slog.Logger
	timeout time.Duration
}

// WithStartTime sets the virtual time the environment starts at (default
// 2030-01-01 00:00 UTC).
func WithStartTime(t time.Time) Option { return func(c *envConfig) { c.start = t } }

// WithLogger sends the engine's and the workflows' logs to l (default:
// discarded).
func WithLogger(l *slog.Logger) Option { return func(c *envConfig) { c.logger = l } }

// WithWallTimeout bounds the real time ExecuteWorkflow may take (default
// 30s), for workflows that wait on something that never comes.
func WithWallTimeout(d time.Duration) Option { return func(c *envConfig) { c.timeout = d } }

// NewEnv returns an empty environment. Register workflows, activities and
// mocks, then call ExecuteWorkflow.
func NewEnv(t testing.TB, opts ...Option) *Env {
	t.Helper()
	cfg := envConfig{start: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), timeout: 30 * time.Second,
		logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(&cfg)
	}
	e := &Env{t: t, clock: clock.NewVirtual(cfg.start.UTC()), timeout: cfg.timeout}
	e.st = memstore.New()
	c, err := hook.NewClient(hook.ClientOptions{Store: e.st, Clock: e.clock, Logger: cfg.logger, Tune: func(c *engine.Config) {
		c.IdlePoll = noIdlePoll
		c.CompletionPoll = noIdlePoll
		c.LeaseDuration = noIdlePoll / 10
		c.WorkflowTaskRetry = time.Second
	}})
	if err != nil {
		t.Fatalf("perduretest: %v", err)
	}
	e.client = c.(*perdure.Client)
	e.eng, _ = hook.ClientEngine(e.client)
	e.w = worker.New(e.client, worker.Options{ShutdownGrace: time.Second})
	t.Cleanup(e.close)
	return e
}

func (e *Env) close() {
	e.closeOnce.Do(func() {
		_ = e.w.Stop()
		_ = e.client.Close()
		_ = e.st.Close()
	})
}

// Close stops the environment. Tests need not call it (it runs when the
// test ends); examples and benchmarks outside a test do.
func (e *Env) Close() { e.close() }

// Client is the environment's client, for anything the Env does not wrap
// (start several workflows, read history, list instances).
func (e *Env) Client() *perdure.Client { return e.client }

// Now is the environment's virtual time.
func (e *Env) Now() time.Time { return e.clock.Now() }

// InstanceID is the instance started by the last ExecuteWorkflow (valid in
// delayed callbacks).
func (e *Env) InstanceID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.current
}

// Worker is the environment's worker (Env is a Registrar): register on it
// before the first ExecuteWorkflow.
func (e *Env) Worker() *worker.Worker { return e.w }

func (e *Env) start() {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started {
		return
	}
	e.started = true
	if err := e.w.Start(); err != nil {
		e.t.Fatalf("perduretest: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); e.eng.Serving() == 0; {
		if time.Now().After(deadline) {
			e.t.Fatalf("perduretest: the worker did not start")
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// RegisterDelayedCallback runs fn when the virtual clock reaches now+d
// (now: when it is registered). Callbacks run one at a time, in time
// order, while the workflows are blocked: use them to raise events,
// terminate, suspend or resume, or complete activities by token.
func (e *Env) RegisterDelayedCallback(d time.Duration, fn func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	e.callbacks = append(e.callbacks, &callback{at: e.clock.Now().Add(d), seq: e.seq, fn: fn})
}

func (e *Env) report(err error) {
	if err != nil {
		e.mu.Lock()
		e.cbErrs = append(e.cbErrs, err)
		e.mu.Unlock()
	}
}

// RaiseEvent raises an event on the instance of the last ExecuteWorkflow
// (use it in a delayed callback).
func (e *Env) RaiseEvent(name string, data any) {
	e.report(e.client.RaiseEvent(context.Background(), e.InstanceID(), name, data))
}

// RaiseEventAfter raises an event after d of virtual time.
func (e *Env) RaiseEventAfter(d time.Duration, name string, data any) {
	e.RegisterDelayedCallback(d, func() { e.RaiseEvent(name, data) })
}

// Terminate terminates the instance of the last ExecuteWorkflow.
func (e *Env) Terminate(reason string) {
	e.report(e.client.Terminate(context.Background(), e.InstanceID(), reason))
}

// Suspend suspends the instance of the last ExecuteWorkflow.
func (e *Env) Suspend(reason string) {
	e.report(e.client.Suspend(context.Background(), e.InstanceID(), reason))
}

// Resume resumes the instance of the last ExecuteWorkflow.
func (e *Env) Resume(reason string) {
	e.report(e.client.Resume(context.Background(), e.InstanceID(), reason))
}

// CompleteActivity completes an activity attempt by task token. A rejected
// token (the attempt timed out or finished) is returned, not reported as a
// test failure, so that tests can assert it.
func (e *Env) CompleteActivity(token string, result any) error {
	return e.client.CompleteActivity(context.Background(), token, result)
}

// FailActivity fails an activity attempt by task token.
func (e *Env) FailActivity(token string, cause error) error {
	return e.client.FailActivity(context.Background(), token, cause)
}

// StartWorkflow starts a workflow (function or name) and returns its
// instance id without waiting; drive it with Wait.
func (e *Env) StartWorkflow(wf any, input any) string {
	e.t.Helper()
	e.start()
	e.mu.Lock()
	e.seq++
	id := fmt.Sprintf("test-%d", e.seq)
	e.current = id
	e.mu.Unlock()
	if _, err := e.client.StartWorkflow(context.Background(), wf, input, perdure.StartOptions{InstanceID: id}); err != nil {
		e.t.Fatalf("perduretest: start: %v", err)
	}
	return id
}

// ExecuteWorkflow runs wf (a registered function or its name) with input
// to the end, skipping time whenever it is blocked, and returns its result
// decoded into R, or its error (errors.As finds *workflow.ActivityError,
// *workflow.ApplicationError, … as in production).
func ExecuteWorkflow[R any](e *Env, wf any, input any) (R, error) {
	e.t.Helper()
	id := e.StartWorkflow(wf, input)
	return WaitResult[R](e, id)
}

// WaitResult drives the environment until the instance id has finished
// and returns its result or error.
func WaitResult[R any](e *Env, id string) (R, error) {
	e.t.Helper()
	var zero R
	inst, err := e.Wait(id)
	if err != nil {
		return zero, err
	}
	if inst.Status != perdure.StatusCompleted {
		if inst.Failure == nil {
			return zero, fmt.Errorf("workflow instance %q %s", id, inst.Status)
		}
		return zero, inst.Failure.ToError()
	}
	var out R
	if err := inst.DecodeOutput(&out); err != nil {
		return zero, fmt.Errorf("decode the result into %T: %w", out, err)
	}
	return out, nil
}

// ErrBlocked is returned when the workflow waits for something that
// nothing scheduled will bring (an event no callback raises, say).
var ErrBlocked = errors.New("the workflow is blocked and nothing is scheduled to unblock it")

// Wait drives the environment until the instance has finished (following
// continue-as-new) and returns its final status.
func (e *Env) Wait(id string) (*perdure.Instance, error) {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(e.timeout)
	for {
		if err := e.callbackErrors(); err != nil {
			return nil, err
		}
		settled := e.settled()
		// Read after settling: what is read then is final until time moves.
		inst, err := e.client.GetInstance(ctx, id)
		if err != nil {
			return nil, err
		}
		if inst.Status.Finished() && inst.Status != perdure.StatusContinuedAsNew {
			return inst, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("perduretest: instance %q did not finish within %v of real time (%s, waiting on %s)",
				id, e.timeout, inst.Status, describeWaits(inst))
		}
		if !settled || !e.settled() {
			time.Sleep(50 * time.Microsecond)
			continue
		}
		if !e.advance() {
			if inst.TaskError != "" {
				return nil, fmt.Errorf("perduretest: the workflow task of %q fails: %s", id, inst.TaskError)
			}
			return nil, fmt.Errorf("%w: instance %q waits on %s", ErrBlocked, id, describeWaits(inst))
		}
	}
}

// settled reports whether the engine has been idle for two checks in a
// row: nothing can progress without time passing.
func (e *Env) settled() bool {
	if !e.eng.Idle(0) {
		return false
	}
	time.Sleep(20 * time.Microsecond)
	return e.eng.Idle(0)
}

// advance moves the clock to the next scheduled thing: a delayed callback
// (which it runs), or a timer of the engine. It returns false when nothing
// is scheduled.
func (e *Env) advance() bool {
	now := e.clock.Now()
	next, ok := e.clock.Next()
	if ok && next.Sub(now) >= noIdlePoll/2 {
		ok = false // only idle workers' own wake-ups are left
	}
	e.mu.Lock()
	sort.Slice(e.callbacks, func(i, j int) bool {
		if !e.callbacks[i].at.Equal(e.callbacks[j].at) {
			return e.callbacks[i].at.Before(e.callbacks[j].at)
		}
		return e.callbacks[i].seq < e.callbacks[j].seq
	})
	var cb *callback
	if len(e.callbacks) > 0 && (!ok || !e.callbacks[0].at.After(next)) {
		cb = e.callbacks[0]
		e.callbacks = e.callbacks[1:]
	}
	e.mu.Unlock()
	switch {
	case cb != nil:
		e.clock.AdvanceTo(cb.at)
		cb.fn()
		return true
	case ok:
		e.clock.AdvanceTo(next)
		return true
	}
	return false
}

func (e *Env) callbackErrors() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.cbErrs) == 0 {
		return nil
	}
	err := fmt.Errorf("perduretest: a delayed callback failed: %w", errors.Join(e.cbErrs...))
	e.cbErrs = nil
	return err
}

func describeWaits(inst *perdure.Instance) string {
	if len(inst.Waiting) == 0 {
		return "nothing"
	}
	var parts []string
	for _, w := range inst.Waiting {
		switch w.Kind {
		case "event":
			parts = append(parts, fmt.Sprintf("event %q", w.Name))
		case "activity":
			parts = append(parts, fmt.Sprintf("activity %q (step %d)", w.Name, w.Step))
		case "timer":
			parts = append(parts, fmt.Sprintf("timer at %s (step %d)", w.FireAt.Format(time.RFC3339), w.Step))
		case "child":
			parts = append(parts, fmt.Sprintf("child %q (%s)", w.Name, w.InstanceID))
		default:
			parts = append(parts, fmt.Sprintf("%d more", w.Count))
		}
	}
	return strings.Join(parts, ", ")
}
