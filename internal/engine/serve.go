package engine

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/perdure/perdure/internal/gopool"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/internal/replay"
	"github.com/perdure/perdure/store"
)

// ActivityFunc is a registered activity as the engine calls it.
type ActivityFunc func(ctx context.Context, input []byte) ([]byte, error)

// Registry is what a worker serves: workflows and activities by name.
type Registry interface {
	Workflow(name string) (replay.Func, bool)
	Activity(name string) (ActivityFunc, bool)
	WorkflowNames() []string
	ActivityNames() []string
}

// ServeOptions bound a worker's concurrency.
type ServeOptions struct {
	MaxConcurrentWorkflowTasks int // default 2 × GOMAXPROCS... set by the worker
	MaxConcurrentActivities    int
	// ShutdownGrace is how long running activities may finish after the
	// context is cancelled before their contexts are cancelled; activities
	// still running as long again after that are abandoned (their leases
	// released). Default 10s.
	ShutdownGrace time.Duration
	Codec         payload.Codec
	Logger        *slog.Logger
	// TaskQueue is the task queue the worker serves ("" the default
	// queue): it claims and is handed only runs and activity tasks on it.
	TaskQueue string
	// Ready, when not nil, is closed once the worker takes work: it may
	// be handed tasks eagerly, and its loops claim.
	Ready chan<- struct{}
}

type server struct {
	e     *Engine
	reg   Registry
	opts  ServeOptions
	owner string
	log   *slog.Logger
	codec payload.Codec
	// actCtx is cancelled after the shutdown grace, to stop running activities.
	actCtx    context.Context
	actCancel context.CancelFunc

	wfNames []string
	queues  []string // the task queue served, as claims and Eager take it
	wf, act *slots
	// mu guards stopping: once set, no slot is taken for eager dispatch.
	mu       sync.Mutex
	stopping bool
}

// slots bounds the tasks of one kind that a worker runs at once. A slot is
// taken before a task is claimed, or before an op may lease one eagerly,
// and is given back when the task ends or nothing was leased.
type slots struct {
	e     *Engine
	sem   chan struct{}
	freed chan struct{}
	wg    sync.WaitGroup
}

func newSlots(e *Engine, n int) *slots {
	return &slots{e: e, sem: make(chan struct{}, n), freed: make(chan struct{}, 1)}
}

func (sl *slots) free() int { return cap(sl.sem) - len(sl.sem) }

// acquire takes a slot, waiting for one; the slot counts as running work
// (for Idle and for the shutdown wait) until release.
func (sl *slots) acquire() {
	sl.wg.Add(1)
	sl.e.active.Add(1)
	sl.sem <- struct{}{}
}

// tryAcquire takes a slot if one is free.
func (sl *slots) tryAcquire() bool {
	select {
	case sl.sem <- struct{}{}:
		sl.wg.Add(1)
		sl.e.active.Add(1)
		return true
	default:
		return false
	}
}

func (sl *slots) release() {
	sl.e.active.Add(-1)
	<-sl.sem
	sl.wg.Done()
	select {
	case sl.freed <- struct{}{}:
	default:
	}
}

// run runs fn on a goroutine of its own (a pooled one: see tasks) in a
// slot already taken, and gives the slot back when fn returns, unless fn
// reports that it handed the slot on to a task it leased (see spareSlot).
func (sl *slots) run(fn func() (handedOn bool)) {
	tasks.Go(func() {
		handedOn := false
		defer func() {
			if !handedOn {
				sl.release()
			}
		}()
		handedOn = fn()
	})
}

// tasks runs workflow tasks and activity attempts, on goroutines that keep
// the stacks they grew; at most 256 wait idle.
var tasks = gopool.New(256)

// Serve runs the workflows and activities of reg until ctx is cancelled,
// then stops claiming work, lets workflow tasks finish, gives running
// activities ShutdownGrace to finish, and releases the leases of the rest so
// that they run again at once after a restart or on another node.
func (e *Engine) Serve(ctx context.Context, reg Registry, opts ServeOptions) error {
	e.mu.Lock()
	select {
	case <-e.closing:
		e.mu.Unlock()
		return ErrClosed
	default:
	}
	e.serveSeq++
	owner := fmt.Sprintf("%s/w%d", e.cfg.Owner, e.serveSeq)
	e.serveWG.Add(1)
	e.mu.Unlock()
	defer e.serveWG.Done()

	if opts.MaxConcurrentWorkflowTasks <= 0 {
		opts.MaxConcurrentWorkflowTasks = 16
	}
	if opts.MaxConcurrentActivities <= 0 {
		opts.MaxConcurrentActivities = 100
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 10 * time.Second
	}
	if opts.Codec == nil {
		opts.Codec = payload.Default
	}
	if opts.Logger == nil {
		opts.Logger = e.log
	}
	s := &server{e: e, reg: reg, opts: opts, owner: owner, log: opts.Logger, codec: opts.Codec,
		wfNames: reg.WorkflowNames(), queues: []string{opts.TaskQueue}, wf: newSlots(e, opts.MaxConcurrentWorkflowTasks), act: newSlots(e, opts.MaxConcurrentActivities)}
	s.actCtx, s.actCancel = context.WithCancel(context.Background())
	defer s.actCancel()
	e.addServer(s)

	loopCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-e.closing:
			cancel()
		case <-loopCtx.Done():
		}
	}()

	var loops sync.WaitGroup
	// Loops are registered here, before they run, so that Idle never sees
	// a serving worker without them.
	if len(reg.WorkflowNames()) > 0 {
		ls := e.addLoop(workflowLoop)
		loops.Add(1)
		go func() { defer loops.Done(); defer e.removeLoop(ls); s.workflowLoop(loopCtx, ls) }()
	}
	if len(reg.ActivityNames()) > 0 {
		ls := e.addLoop(activityLoop)
		loops.Add(1)
		go func() { defer loops.Done(); defer e.removeLoop(ls); s.activityLoop(loopCtx, ls) }()
	}
	e.serving.Add(1)
	defer e.serving.Add(-1)
	if opts.Ready != nil {
		close(opts.Ready)
	}
	<-loopCtx.Done()
	loops.Wait()
	// No slot is taken after this: the waits below see every task.
	e.removeServer(s)
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.wf.wg.Wait()
	finished := make(chan struct{})
	go func() { s.act.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(opts.ShutdownGrace):
		s.actCancel()
		select {
		case <-finished:
		case <-time.After(opts.ShutdownGrace):
			// Activities that ignore their context must not keep the
			// worker from stopping: their leases are released below, and
			// whatever they report later is fenced by their attempt.
			s.log.Warn("stopping without waiting for activities that ignore the cancellation of their context")
		}
	}
	if err := e.st.LeasesRelease(context.Background(), owner); err != nil {
		s.log.Warn("release leases at shutdown", "error", err)
	}
	e.notify()
	return nil
}

func (s *server) workflowLoop(ctx context.Context, ls *loopState) {
	names := s.reg.WorkflowNames()
	claimLoop(s, ctx, ls, s.wf, func(max int, now time.Time) ([]*store.WorkflowTask, error) {
		return s.e.st.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{
			Owner: s.owner, Max: max, Now: now, LeaseUntil: now.Add(s.e.cfg.LeaseDuration), Names: names, TaskQueues: s.queues})
	}, func(t *store.WorkflowTask) bool {
		s.runWorkflowTask(t)
		return false
	})
}

func (s *server) activityLoop(ctx context.Context, ls *loopState) {
	names := s.reg.ActivityNames()
	claimLoop(s, ctx, ls, s.act, func(max int, now time.Time) ([]*store.ClaimedActivity, error) {
		return s.e.st.ActivityTaskClaim(ctx, &store.ActivityTaskClaimParams{
			Owner: s.owner, Max: max, Now: now, LeaseUntil: now.Add(s.e.cfg.LeaseDuration), Names: names, TaskQueues: s.queues})
	}, s.runActivity)
}

// claimLoop claims up to the free slots' worth of tasks at a time and runs
// each on its own goroutine in a slot (which run may hand on, as
// slots.run says).
func claimLoop[T any](s *server, ctx context.Context, ls *loopState, sl *slots,
	claim func(max int, now time.Time) ([]T, error), run func(T) (handedOn bool)) {
	s.loop(ctx, ls, sl, func(max int, now time.Time) (int, error) {
		tasks, err := claim(max, now)
		for _, t := range tasks {
			sl.acquire()
			sl.run(func() bool { return run(t) })
		}
		return len(tasks), err
	})
}

// loop claims while there are free slots in sem and sleeps until woken when
// there is nothing to claim.
func (s *server) loop(ctx context.Context, ls *loopState, sl *slots, claim func(max int, now time.Time) (int, error)) {
	for ctx.Err() == nil {
		wake := s.e.loopWakeChan(ls.kind)
		free := sl.free()
		if free == 0 {
			select {
			case <-sl.freed:
			case <-ctx.Done():
			}
			continue
		}
		now := s.e.Now()
		n, err := claim(free, now)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Error("claim tasks", "error", err)
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
			}
			continue
		}
		if n == 0 {
			s.e.waitUntilWork(ctx, wake, ls, now)
		}
	}
}

// --- eager dispatch ---

// eager is the store.Eager of this worker at now: what an op may lease to
// it in the op's own transaction.
func (s *server) eager(now time.Time, names []string) *store.Eager {
	return &store.Eager{Owner: s.owner, Now: now, LeaseUntil: now.Add(s.e.cfg.LeaseDuration), Names: names, TaskQueues: s.queues}
}

// take takes a free slot of sl unless the worker is stopping.
func (s *server) take(sl *slots) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.stopping && sl.tryAcquire()
}

func (e *Engine) addServer(s *server) {
	e.mu.Lock()
	e.servers = append(e.servers, s)
	e.mu.Unlock()
}

func (e *Engine) removeServer(s *server) {
	e.mu.Lock()
	e.servers = slices.DeleteFunc(slices.Clone(e.servers), func(x *server) bool { return x == s })
	e.mu.Unlock()
}

// eagerWorkflow returns a worker of this engine that serves the workflow
// name on task queue queue (name "": any of its workflows, on its queue)
// with a workflow task slot taken for it, or nil when none has one free.
func (e *Engine) eagerWorkflow(name, queue string) *server {
	e.mu.Lock()
	servers := e.servers
	e.mu.Unlock()
	for _, s := range servers {
		if len(s.wfNames) == 0 {
			continue
		}
		if name != "" {
			if _, ok := s.reg.Workflow(name); !ok || s.opts.TaskQueue != queue {
				continue
			}
		}
		if s.take(s.wf) {
			return s
		}
	}
	return nil
}

// hasActivity tells whether s serves activity name on task queue queue.
func (s *server) hasActivity(name, queue string) bool {
	_, ok := s.reg.Activity(name)
	return ok && s.opts.TaskQueue == queue
}

// servesActivity tells whether s serves activity name on task queue queue
// and is not stopping.
func (s *server) servesActivity(name, queue string) bool {
	if !s.hasActivity(name, queue) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.stopping
}

// eagerActivity is eagerWorkflow for an activity name on a task queue.
func (e *Engine) eagerActivity(name, queue string) *server {
	e.mu.Lock()
	servers := e.servers
	e.mu.Unlock()
	for _, s := range servers {
		if s.hasActivity(name, queue) && s.take(s.act) {
			return s
		}
	}
	return nil
}

// runEager runs the workflow task an op leased to s in the slot taken for
// it, or gives the slot back when the op leased nothing.
func (s *server) runEager(t *store.WorkflowTask, err error) {
	if err != nil || t == nil {
		s.wf.release()
		return
	}
	s.wf.run(func() bool {
		s.runWorkflowTask(t)
		return false
	})
}
