// Package engine is Perdure's state machine: it turns client requests,
// workflow code decisions and activity outcomes into store operations,
// commits them in groups, and wakes the work they make ready, without
// polling on the in-process path.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perdure/perdure/internal/clock"
	"github.com/perdure/perdure/store"
)

// Config configures an Engine. Zero values mean defaults.
type Config struct {
	Store  store.Store
	Clock  clock.Clock  // default: wall clock
	Logger *slog.Logger // default: slog.Default()
	// Owner names this engine in leases; default a random id.
	Owner string
	// LeaseDuration is how long a claimed task stays with this engine
	// without renewal before another may take it over. Default 30s.
	LeaseDuration time.Duration
	// WorkflowTaskRetry is the delay before a failed workflow task (for
	// example non-determinism) is tried again. Default 5s.
	WorkflowTaskRetry time.Duration
	// CacheSize bounds the live workflow instances kept in memory. Default
	// 10000; negative disables the cache (every task replays history).
	CacheSize int
	// IdleHorizon: a run that, after a task, waits only on external events
	// or on timers firing later than this is dropped from the cache, so that
	// waiting workflows cost no memory; it is replayed when it wakes.
	// Default 1 minute; negative keeps such runs cached (up to CacheSize).
	IdleHorizon time.Duration
	// MaxBatch bounds the ops committed in one transaction. Default 2000.
	MaxBatch int
	// IdlePoll bounds how long an idle worker sleeps before it looks for
	// work that no notification announced (work written by another
	// process). Work made in this process wakes workers at once. Default 1s.
	IdlePoll time.Duration
	// Observer is told what the engine does (metrics); nil: nothing.
	Observer Observer
	// CompletionPoll is how often WaitForCompletion re-reads the store when
	// no in-process notification arrives (runs finished by another node).
	// Default 1s; 30s on an exclusive store, where every run finishes in
	// this process and notifies its waiters.
	CompletionPoll time.Duration
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("perdure engine is closed")

// Engine runs workflows against a store.
type Engine struct {
	cfg    Config
	st     store.Store
	clk    clock.Clock
	log    *slog.Logger
	cache  *cache
	commit chan *commitReq

	mu   sync.Mutex
	wake chan struct{} // closed after every commit
	// loopWake, by loop kind, is closed when work of that kind may have
	// appeared that no worker of this engine took at once.
	loopWake [2]chan struct{}
	waiters  map[string]*waiter // WaitForCompletion callers by instance id
	// inflight, on an exclusive store only (nil otherwise), holds the
	// instances whose current run this engine created and has not seen
	// finish: every run of such a store finishes in this engine's commits,
	// which signal its waiters, so a wait on one of them need not read the
	// store first. Bounded by maxInflight; an instance not in it is read.
	inflight map[string]struct{}

	commitMu     sync.RWMutex
	commitClosed bool
	// pending counts commit requests from submission until their wake-ups
	// were sent.
	pending atomic.Int64
	// exclusive: the store is used by this process alone (SQLite). There,
	// applyMu is held by whoever calls the store's Apply: the committer,
	// or a caller that commits its own request (see apply).
	exclusive bool
	applyMu   sync.Mutex
	// lastBatch is the number of requests in the committer's last batch:
	// callers commit their own requests only while it is at most one.
	lastBatch atomic.Int64

	// Idle tracking, for the test kit's time skipping.
	active  atomic.Int64            // workflow tasks and activity attempts running
	serving atomic.Int64            // Serve calls whose loops are registered
	loops   map[*loopState]struct{} // claim loops, under mu
	servers []*server               // serving workers, for eager dispatch; under mu, replaced on change

	// startHook, when set, may fuse or lease the first workflow task of a
	// start that no worker of this engine takes (SetStartHook).
	startHook atomic.Pointer[StartHook]

	closeOnce sync.Once
	closing   chan struct{}
	done      chan struct{}
	serveWG   sync.WaitGroup
	serveSeq  int
}

// New creates an engine and starts its committer. When the store is
// exclusive, leases left by a previous process are released at once, so
// that work interrupted by a crash resumes immediately.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("engine: a store is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Owner == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.Owner = "node-" + hex.EncodeToString(b[:])
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = 30 * time.Second
	}
	if cfg.WorkflowTaskRetry <= 0 {
		cfg.WorkflowTaskRetry = 5 * time.Second
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10000
	}
	if cfg.IdleHorizon == 0 {
		cfg.IdleHorizon = time.Minute
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 2000
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.IdlePoll <= 0 {
		cfg.IdlePoll = time.Second
	}
	if cfg.CompletionPoll <= 0 {
		cfg.CompletionPoll = time.Second
		if cfg.Store.Exclusive() {
			cfg.CompletionPoll = 30 * time.Second
		}
	}
	e := &Engine{
		cfg:      cfg,
		st:       cfg.Store,
		clk:      cfg.Clock,
		log:      cfg.Logger,
		cache:    newCache(cfg.CacheSize),
		commit:   make(chan *commitReq, 256),
		wake:     make(chan struct{}),
		loopWake: [2]chan struct{}{make(chan struct{}), make(chan struct{})},
		waiters:  map[string]*waiter{},
		loops:    map[*loopState]struct{}{},
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	if cfg.Store.Exclusive() {
		e.inflight, e.exclusive = map[string]struct{}{}, true
		if err := cfg.Store.LeasesRelease(context.Background(), ""); err != nil {
			return nil, fmt.Errorf("engine: release leases of the previous process: %w", err)
		}
	}
	go e.committer()
	if n, ok := cfg.Store.(store.Notifier); ok && !e.exclusive {
		go e.listen(n.Wakeups())
	}
	return e, nil
}

// listen wakes the claim loops when another process sharing the store
// makes work ready, until the engine closes or the store stops sending.
func (e *Engine) listen(wakeups <-chan store.Wake) {
	for {
		select {
		case k, ok := <-wakeups:
			if !ok {
				return
			}
			e.notifyLoops(k&store.WakeWorkflow != 0, k&store.WakeActivity != 0)
		case <-e.closing:
			return
		}
	}
}

// Store returns the engine's store.
func (e *Engine) Store() store.Store { return e.st }

// Logger returns the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }

// Now is the engine's current time, truncated to what stores keep.
func (e *Engine) Now() time.Time { return e.clk.Now().UTC().Truncate(time.Microsecond) }

// Close stops the engine after every Serve has returned. It does not close
// the store.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		// Under e.mu, so that a Serve either sees the engine closing or is
		// counted in serveWG before the wait below.
		e.mu.Lock()
		close(e.closing)
		e.mu.Unlock()
		e.serveWG.Wait()
		e.commitMu.Lock()
		e.commitClosed = true
		close(e.commit)
		e.commitMu.Unlock()
		<-e.done
		e.cache.clear()
	})
	return nil
}

// Loop kinds.
const (
	workflowLoop = iota
	activityLoop
)

// notify wakes every loop waiting for work.
func (e *Engine) notify() { e.notifyLoops(true, true) }

// notifyLoops wakes the waiters of any commit, and the workflow and the
// activity loops as asked.
func (e *Engine) notifyLoops(wf, act bool) {
	e.mu.Lock()
	close(e.wake)
	e.wake = make(chan struct{})
	for kind, ok := range [2]bool{wf, act} {
		if ok {
			close(e.loopWake[kind])
			e.loopWake[kind] = make(chan struct{})
		}
	}
	e.mu.Unlock()
}

// wakeChan is closed after the next commit.
func (e *Engine) wakeChan() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.wake
}

// loopWakeChan is closed when work for loops of kind may appear.
func (e *Engine) loopWakeChan(kind int) <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loopWake[kind]
}

// waitUntilWork blocks until notified, until the store's next wake-up time
// after since (the time of the claim that found nothing), or until ctx is
// done. ls (may be nil) records the sleep for Idle. What became due
// between the claim and now is a wake-up at once: asked for the next
// wake-up after now instead, the store would skip it, and with nothing
// else scheduled the loop would sleep a whole IdlePoll past it.
func (e *Engine) waitUntilWork(ctx context.Context, wake <-chan struct{}, ls *loopState, since time.Time) {
	d := e.cfg.IdlePoll
	if next, ok, err := e.st.NextWakeup(ctx, since); err == nil && ok {
		d = min(d, max(next.Sub(e.clk.Now()), time.Millisecond))
	}
	if ls != nil {
		e.setWaiting(ls, wake, e.clk.Now().Add(d))
		defer e.setWaiting(ls, nil, time.Time{})
	}
	timer, stop := e.clk.After(d)
	defer stop()
	select {
	case <-wake:
	case <-timer:
	case <-ctx.Done():
	}
}

// --- idle tracking ---

type loopState struct {
	kind    int
	waiting <-chan struct{} // the wake channel it sleeps on; nil while busy
	until   time.Time       // when its sleep ends by itself
}

func (e *Engine) addLoop(kind int) *loopState {
	ls := &loopState{kind: kind}
	e.mu.Lock()
	e.loops[ls] = struct{}{}
	e.mu.Unlock()
	return ls
}

func (e *Engine) removeLoop(ls *loopState) {
	e.mu.Lock()
	delete(e.loops, ls)
	e.mu.Unlock()
}

func (e *Engine) setWaiting(ls *loopState, wake <-chan struct{}, until time.Time) {
	e.mu.Lock()
	ls.waiting, ls.until = wake, until
	e.mu.Unlock()
}

// Serving is the number of workers serving (their claim loops running).
func (e *Engine) Serving() int { return int(e.serving.Load()) }

// Idle reports whether nothing runs that could make progress without time
// passing: every claim loop sleeps and has not been woken since, no commit
// is queued or running, and every running task is one of the parked ones
// (activities the caller knows wait on the clock). The test kit advances
// its virtual clock only when the engine is idle.
func (e *Engine) Idle(parked int64) bool {
	if e.pending.Load() > 0 || e.active.Load() > parked {
		return false
	}
	now := e.clk.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for ls := range e.loops {
		if ls.waiting == nil || ls.waiting != (<-chan struct{})(e.loopWake[ls.kind]) || !now.Before(ls.until) {
			return false
		}
	}
	return true
}

// --- group commit ---

type commitReq struct {
	ops  []store.Op
	errs []error
	err  error
	done chan struct{}
}

// apply commits ops through the group committer and waits until they are
// durable. It cannot be abandoned half-way: once submitted, the caller
// learns the outcome.
//
// On an exclusive store, a caller that finds no other request submitted
// and nothing being applied commits its ops itself, on its own goroutine:
// handing them to the committer and back wakes an idle processor twice
// per commit, each a futex call that takes 15–20 µs on a virtual machine,
// on the path of a workflow that runs alone. Requests that come while it
// commits queue for the committer, which batches them as before; and
// while the committer's batches hold more than one request (a burst), every
// request goes to it.
func (e *Engine) apply(ops ...store.Op) ([]error, error) {
	e.commitMu.RLock()
	if e.commitClosed {
		e.commitMu.RUnlock()
		return nil, ErrClosed
	}
	if e.exclusive && e.pending.Load() == 0 && e.lastBatch.Load() <= 1 && e.applyMu.TryLock() {
		defer e.commitMu.RUnlock()
		e.pending.Add(1)
		defer e.pending.Add(-1)
		errs, err := e.applyLocked(ops)
		if err == nil {
			e.afterCommit(ops, errs)
		}
		return errs, err
	}
	req := &commitReq{ops: ops, done: make(chan struct{})}
	e.pending.Add(1)
	e.commit <- req
	e.commitMu.RUnlock()
	<-req.done
	return req.errs, req.err
}

// apply1 commits one op and returns its error.
func (e *Engine) apply1(op store.Op) error {
	errs, err := e.apply(op)
	if err != nil {
		return err
	}
	return errs[0]
}

// Shared stores (not Exclusive: PostgreSQL) take concurrent Apply calls on
// connections of their own: the engine keeps up to sharedCommitters
// batches in flight, each of at most sharedMaxBatch ops (past 64
// subtransactions, PostgreSQL's snapshots look savepoints up in
// pg_subtrans).
const (
	sharedCommitters = 4
	sharedMaxBatch   = 64
)

// committer commits the queued requests in batches until e.commit is
// closed. On an exclusive store (SQLite) one goroutine commits one batch
// at a time, of up to MaxBatch ops: the requests queued while the
// previous batch was committed. On a shared store, sharedCommitters
// goroutines do the same side by side, each with batches of at most
// sharedMaxBatch ops (or MaxBatch, when smaller): a batch waits only for
// a free committer, and the store orders the batches that touch the same
// runs. Either way a request's ops go in one batch, and its caller learns
// the outcome once that batch is durable.
func (e *Engine) committer() {
	defer close(e.done)
	if e.exclusive {
		e.commitLoop(e.cfg.MaxBatch)
		return
	}
	var wg sync.WaitGroup
	for range sharedCommitters {
		wg.Go(func() { e.commitLoop(min(e.cfg.MaxBatch, sharedMaxBatch)) })
	}
	wg.Wait()
}

// commitLoop takes a request, adds the ones queued behind it up to
// maxOps ops, and commits them in one Apply, until e.commit is closed.
func (e *Engine) commitLoop(maxOps int) {
	for req := range e.commit {
		batch := []*commitReq{req}
		n := len(req.ops)
	fill:
		for n < maxOps {
			select {
			case r, ok := <-e.commit:
				if !ok {
					break fill
				}
				batch = append(batch, r)
				n += len(r.ops)
			default:
				break fill
			}
		}
		ops := make([]store.Op, 0, n)
		for _, r := range batch {
			ops = append(ops, r.ops...)
		}
		if e.exclusive {
			e.applyMu.Lock()
		}
		errs, err := e.applyLocked(ops)
		e.lastBatch.Store(int64(len(batch)))
		i := 0
		for _, r := range batch {
			if err != nil {
				r.err = err
			} else {
				r.errs = errs[i : i+len(r.ops)]
			}
			i += len(r.ops)
			close(r.done)
		}
		if err == nil {
			e.afterCommit(ops, errs)
		}
		e.pending.Add(-int64(len(batch)))
	}
}

// applyLocked commits ops in one Apply of the store and releases applyMu,
// which the caller holds on an exclusive store.
func (e *Engine) applyLocked(ops []store.Op) ([]error, error) {
	if e.exclusive {
		defer e.applyMu.Unlock()
	}
	began := time.Now()
	errs, err := e.st.Apply(context.Background(), ops)
	e.cfg.Observer.Commit(len(ops), time.Since(began), err)
	if err == nil {
		// Before the callers return: a wait that follows a start finds
		// the instance in flight.
		e.noteCreated(ops, errs)
	}
	return errs, err
}

// afterCommit wakes the loops that have new work to claim (work leased
// eagerly is running already) and the callers waiting for runs that
// finished.
func (e *Engine) afterCommit(ops []store.Op, errs []error) {
	wf, act := false, false
	// committed notes a workflow task's commit.
	committed := func(op *store.WorkflowTaskCommitOp) {
		// Messages include the run's own timers, which change when a loop
		// must look again.
		wf = wf || len(op.Messages) > 0 || len(op.NewRuns) > 0 || (op.Eager == nil && !op.Status.Finished())
		for _, a := range op.NewActivities {
			act = act || a.State != store.ActivityRunning
		}
		if op.Status.Finished() {
			e.signalInstance(op.InstanceID, op.Status, op.Finished)
		}
	}
	for i, op := range ops {
		if errs[i] != nil {
			continue
		}
		switch op := op.(type) {
		case *store.RunCreateOp:
			if op.ThenApplied {
				committed(op.Then)
			} else {
				wf = wf || op.Claimed == nil
			}
		case *store.ActivityTaskFinishOp:
			if op.ThenApplied {
				committed(op.Then)
			} else {
				wf = wf || op.Claimed == nil
			}
		case *store.WorkflowTaskCommitOp:
			committed(op)
		case *store.ActivityTaskRetryOp, *store.ActivityTaskPendOp:
			act = true
		case *store.ActivityTaskHeartbeatOp:
			// A renewed lease or a later deadline makes no work.
		default:
			wf, act = true, true
		}
	}
	e.notifyLoops(wf, act)
}

// waiter is the channel closed when an instance's run finishes, shared by
// the n callers waiting on that instance; run is the finished run when the
// store said what its commit left (WorkflowTaskCommitOp.Finished).
type waiter struct {
	ch  chan struct{}
	n   int
	run *store.Run
}

// maxInflight bounds Engine.inflight (about 100 bytes an instance).
const maxInflight = 1 << 16

// noteCreated adds the instances whose runs ops created to e.inflight;
// it takes e.mu only for a batch that created some.
func (e *Engine) noteCreated(ops []store.Op, errs []error) {
	if e.inflight == nil {
		return
	}
	locked := false
	for i, op := range ops {
		if c, ok := op.(*store.RunCreateOp); ok && errs[i] == nil && c.Created {
			if !locked {
				e.mu.Lock()
				defer e.mu.Unlock()
				locked = true
			}
			if len(e.inflight) < maxInflight {
				e.inflight[c.Run.InstanceID] = struct{}{}
			}
		}
	}
}

// signalInstance wakes the waiters of instance id, whose run finished with
// status; run is that run as its commit left it, when the store said.
func (e *Engine) signalInstance(id string, status store.Status, run *store.Run) {
	e.mu.Lock()
	if status != store.StatusContinuedAsNew {
		delete(e.inflight, id)
	}
	if w, ok := e.waiters[id]; ok {
		w.run = run
		close(w.ch)
		delete(e.waiters, id)
	}
	e.mu.Unlock()
}

// instanceChan returns the waiter whose channel is closed when a run of
// the instance finishes, whether the instance is in flight here (see
// Engine.inflight), and a function to call once the caller stops waiting,
// so that instances that never finish here (missing, or run by another
// node) leave nothing behind.
func (e *Engine) instanceChan(id string) (*waiter, bool, func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, inflight := e.inflight[id]
	w, ok := e.waiters[id]
	if !ok {
		w = &waiter{ch: make(chan struct{})}
		e.waiters[id] = w
	}
	w.n++
	return w, inflight, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		w.n--
		if w.n == 0 && e.waiters[id] == w {
			delete(e.waiters, id)
		}
	}
}
