package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

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
}

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
	s := &server{e: e, reg: reg, opts: opts, owner: owner, log: opts.Logger, codec: opts.Codec}
	s.actCtx, s.actCancel = context.WithCancel(context.Background())
	defer s.actCancel()

	loopCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-e.closing:
			cancel()
		case <-loopCtx.Done():
		}
	}()

	var wfWG, actWG sync.WaitGroup
	var loops sync.WaitGroup
	// Loops are registered here, before they run, so that Idle never sees
	// a serving worker without them.
	if len(reg.WorkflowNames()) > 0 {
		ls := e.addLoop()
		loops.Add(1)
		go func() { defer loops.Done(); defer e.removeLoop(ls); s.workflowLoop(loopCtx, &wfWG, ls) }()
	}
	if len(reg.ActivityNames()) > 0 {
		ls := e.addLoop()
		loops.Add(1)
		go func() { defer loops.Done(); defer e.removeLoop(ls); s.activityLoop(loopCtx, &actWG, ls) }()
	}
	e.serving.Add(1)
	defer e.serving.Add(-1)
	<-loopCtx.Done()
	loops.Wait()
	wfWG.Wait()
	finished := make(chan struct{})
	go func() { actWG.Wait(); close(finished) }()
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

func (s *server) workflowLoop(ctx context.Context, wg *sync.WaitGroup, ls *loopState) {
	names := s.reg.WorkflowNames()
	claimLoop(s, ctx, wg, ls, s.opts.MaxConcurrentWorkflowTasks, func(max int, now time.Time) ([]*store.WorkflowTask, error) {
		return s.e.st.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{
			Owner: s.owner, Max: max, Now: now, LeaseUntil: now.Add(s.e.cfg.LeaseDuration), Names: names})
	}, s.runWorkflowTask)
}

func (s *server) activityLoop(ctx context.Context, wg *sync.WaitGroup, ls *loopState) {
	names := s.reg.ActivityNames()
	claimLoop(s, ctx, wg, ls, s.opts.MaxConcurrentActivities, func(max int, now time.Time) ([]*store.ClaimedActivity, error) {
		return s.e.st.ActivityTaskClaim(ctx, &store.ActivityTaskClaimParams{
			Owner: s.owner, Max: max, Now: now, LeaseUntil: now.Add(s.e.cfg.LeaseDuration), Names: names})
	}, s.runActivity)
}

// claimLoop claims up to slots tasks at a time and runs each on its own
// goroutine, tracked by wg.
func claimLoop[T any](s *server, ctx context.Context, wg *sync.WaitGroup, ls *loopState, slots int,
	claim func(max int, now time.Time) ([]T, error), run func(T)) {
	sem := make(chan struct{}, slots)
	freed := make(chan struct{}, 1)
	s.loop(ctx, ls, sem, freed, func(max int) (int, error) {
		tasks, err := claim(max, s.e.Now())
		for _, t := range tasks {
			sem <- struct{}{}
			wg.Add(1)
			s.e.active.Add(1)
			go func() {
				defer func() {
					s.e.active.Add(-1)
					<-sem
					wg.Done()
					select {
					case freed <- struct{}{}:
					default:
					}
				}()
				run(t)
			}()
		}
		return len(tasks), err
	})
}

// loop claims while there are free slots in sem and sleeps until woken when
// there is nothing to claim.
func (s *server) loop(ctx context.Context, ls *loopState, sem, freed chan struct{}, claim func(max int) (int, error)) {
	for ctx.Err() == nil {
		wake := s.e.wakeChan()
		free := cap(sem) - len(sem)
		if free == 0 {
			select {
			case <-freed:
			case <-ctx.Done():
			}
			continue
		}
		n, err := claim(free)
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
			s.e.waitUntilWork(ctx, wake, ls)
		}
	}
}
