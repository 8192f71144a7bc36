// Package worker registers workflow and activity functions and runs them.
//
//	w := worker.New(client, worker.Options{})
//	worker.RegisterWorkflow(w, TaskChainWorkflow)
//	worker.RegisterActivity(w, Step1)
//	if err := w.Start(); err != nil { ... }
//	defer w.Stop()
//
// A workflow is registered under its bare function name (TaskChainWorkflow)
// unless a name is given; registering two things under one name is an
// error. Workflows calling an activity by function reach the name it was
// registered under.
//
// A worker serves one task queue (Options.TaskQueue). On a client from
// perdure.Connect it is a remote worker: it runs in this process the work
// that a Perdure server routes to it (docs/remote-workers.md).
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/engine"
	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/hook"
	"github.com/perdure/perdure/internal/names"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/internal/replay"
	"github.com/perdure/perdure/workflow"
)

// Options configure a worker. Zero values mean defaults.
type Options struct {
	// MaxConcurrentWorkflowTasks bounds workflow code running at once. Default 16.
	MaxConcurrentWorkflowTasks int
	// MaxConcurrentActivities bounds activity attempts running at once. Default 100.
	MaxConcurrentActivities int
	// ShutdownGrace is how long Stop lets running activities finish before
	// cancelling their contexts. Stop waits as long again for cancelled
	// activities to return, then releases those that ignore their context
	// so that they run again elsewhere or after a restart. Default 10s.
	ShutdownGrace time.Duration
	// Logger for workflow and activity loggers; default the client's.
	Logger *slog.Logger
	// TaskQueue is the task queue this worker serves; "" is the default
	// queue. The worker runs only the workflows started on it
	// (perdure.StartOptions.TaskQueue, a parent's queue for its children)
	// and the activities scheduled on it (workflow.ActivityOptions.TaskQueue,
	// by default the workflow's queue), so that work goes where its
	// dependencies are: run one worker per queue, in-process or remote
	// (perdure.Connect).
	TaskQueue string
}

// Worker runs registered workflows and activities on a client's engine.
type Worker struct {
	eng   *engine.Engine
	codec payload.Codec
	opts  Options

	mu         sync.Mutex
	workflows  map[string]replay.Func
	validators map[string]func([]byte) error
	activities map[string]engine.ActivityFunc
	started    bool
	cancel     context.CancelFunc
	done       chan error
}

// New returns a worker for c. Register functions, then Start it.
func New(c *perdure.Client, opts Options) *Worker {
	eng, _ := hook.ClientEngine(c)
	return &Worker{eng: eng, codec: c.Codec(), opts: opts, workflows: map[string]replay.Func{},
		validators: map[string]func([]byte) error{}, activities: map[string]engine.ActivityFunc{}}
}

// ErrDuplicate is returned when a name is registered twice.
var ErrDuplicate = errors.New("name already registered")

func (w *Worker) add(kind, name string, fn any, wf replay.Func, act engine.ActivityFunc) error {
	if name == "" {
		return fmt.Errorf("register %s: the name is empty", kind)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return fmt.Errorf("register %s %q: the worker is already started; register before Start", kind, name)
	}
	if _, ok := w.workflows[name]; ok {
		return fmt.Errorf("register %s %q: a workflow is %w under that name", kind, name, ErrDuplicate)
	}
	if _, ok := w.activities[name]; ok {
		return fmt.Errorf("register %s %q: an activity is %w under that name", kind, name, ErrDuplicate)
	}
	if wf != nil {
		w.workflows[name] = wf
	} else {
		w.activities[name] = act
	}
	names.Remember(fn, name)
	return nil
}

// RegisterWorkflow registers fn under its bare function name.
func RegisterWorkflow[I, R any](w *Worker, fn func(workflow.Context, I) (R, error)) error {
	name, err := names.Bare(fn)
	if err != nil {
		return fmt.Errorf("register workflow: %w", err)
	}
	return RegisterWorkflowAs(w, name, fn)
}

// RegisterWorkflowAs registers fn under name.
func RegisterWorkflowAs[I, R any](w *Worker, name string, fn func(workflow.Context, I) (R, error)) error {
	if fn == nil {
		return fmt.Errorf("register workflow %q: nil function", name)
	}
	wrapped := func(r *replay.Runner, input []byte) ([]byte, error) {
		ctx := replay.NewContext(r).(workflow.Context)
		var in I
		if err := payload.Decode(r.Codec(), input, &in); err != nil {
			return nil, failure.NewNonRetryableError("InvalidInput", "workflow %q: cannot decode its input: %v", name, err)
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		return payload.Encode(r.Codec(), out)
	}
	if err := w.add("workflow", name, fn, wrapped, nil); err != nil {
		return err
	}
	codec := w.codec
	w.mu.Lock()
	w.validators[name] = func(b []byte) error {
		var in I
		return payload.Decode(codec, b, &in)
	}
	w.mu.Unlock()
	return nil
}

// ErrUnknownWorkflow is returned by ValidateInput for a name that is not
// registered on this worker.
var ErrUnknownWorkflow = errors.New("workflow not registered on this worker")

// ValidateInput checks that input (encoded with the client's codec)
// decodes into the input type of the workflow registered as name, so that
// a server can refuse a bad start before it creates an instance.
func (w *Worker) ValidateInput(name string, input []byte) error {
	w.mu.Lock()
	v, ok := w.validators[name]
	w.mu.Unlock()
	if !ok {
		return fmt.Errorf("%q: %w", name, ErrUnknownWorkflow)
	}
	if err := v(input); err != nil {
		return fmt.Errorf("input of workflow %q: %w", name, err)
	}
	return nil
}

// RegisterActivity registers fn under its bare function name.
func RegisterActivity[I, R any](w *Worker, fn func(context.Context, I) (R, error)) error {
	name, err := names.Bare(fn)
	if err != nil {
		return fmt.Errorf("register activity: %w", err)
	}
	return RegisterActivityAs(w, name, fn)
}

// RegisterActivityAs registers fn under name.
func RegisterActivityAs[I, R any](w *Worker, name string, fn func(context.Context, I) (R, error)) error {
	if fn == nil {
		return fmt.Errorf("register activity %q: nil function", name)
	}
	codec := w.codec
	wrapped := func(ctx context.Context, input []byte) ([]byte, error) {
		var in I
		if err := payload.Decode(codec, input, &in); err != nil {
			return nil, failure.NewNonRetryableError("InvalidInput", "activity %q: cannot decode its input: %v", name, err)
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		b, err := payload.Encode(codec, out)
		if err != nil { // the same value would fail again: do not retry
			return nil, failure.NewNonRetryableError("InvalidOutput", "activity %q: cannot encode its result: %v", name, err)
		}
		return b, nil
	}
	return w.add("activity", name, fn, nil, wrapped)
}

// Start runs the worker in the background until Stop. It returns once the
// worker takes work: a workflow started after it may run at once on this
// worker, in the commit of its start.
func (w *Worker) Start() error {
	ctx, opts, done, err := w.begin()
	if err != nil {
		return err
	}
	ready := make(chan struct{})
	opts.Ready = ready
	go func() { done <- w.eng.Serve(ctx, w, opts) }()
	// Once Serve is ready, a workflow started on this client may run its
	// first workflow task at once on this worker, in the start's commit.
	select {
	case <-ready:
		return nil
	case err := <-done:
		done <- err // for Stop
		return err
	}
}

// begin marks w started and returns what its Serve runs with, or why it
// cannot start.
func (w *Worker) begin() (context.Context, engine.ServeOptions, chan error, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.eng == nil:
		return nil, engine.ServeOptions{}, nil, errors.New("worker: no client: create it with worker.New(client, …)")
	case w.started:
		return nil, engine.ServeOptions{}, nil, errors.New("worker: already started")
	case len(w.workflows) == 0 && len(w.activities) == 0:
		return nil, engine.ServeOptions{}, nil, errors.New("worker: nothing registered: register workflows or activities before Start")
	}
	w.started = true
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.done = make(chan error, 1)
	return ctx, w.serveOptions(), w.done, nil
}

// Run runs the worker until ctx is cancelled, then stops it gracefully.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return w.Stop()
}

// Stop stops claiming work, lets running workflow tasks finish and running
// activities finish within ShutdownGrace, and releases the rest so that they
// run again at once elsewhere or after a restart.
func (w *Worker) Stop() error {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.cancel = nil
	w.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	return <-done
}

func (w *Worker) serveOptions() engine.ServeOptions {
	return engine.ServeOptions{MaxConcurrentWorkflowTasks: w.opts.MaxConcurrentWorkflowTasks,
		MaxConcurrentActivities: w.opts.MaxConcurrentActivities, ShutdownGrace: w.opts.ShutdownGrace,
		Codec: w.codec, Logger: w.opts.Logger, TaskQueue: w.opts.TaskQueue}
}

// Workflow implements engine.Registry.
func (w *Worker) Workflow(name string) (replay.Func, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, ok := w.workflows[name]
	return f, ok
}

// Activity implements engine.Registry.
func (w *Worker) Activity(name string) (engine.ActivityFunc, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, ok := w.activities[name]
	return f, ok
}

// WorkflowNames lists the registered workflow names, sorted.
func (w *Worker) WorkflowNames() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return sortedKeys(w.workflows)
}

// ActivityNames lists the registered activity names, sorted.
func (w *Worker) ActivityNames() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return sortedKeys(w.activities)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
