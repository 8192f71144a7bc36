package durabletask

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dapr/durabletask-go/api/protos"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/perdure/perdure/internal/engine"
	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/store"
)

// ActivityQueue is the task queue of the activities that workflows run
// over gRPC schedule: only SDK workers, never Perdure's Go workers, run
// them.
const ActivityQueue = "durabletask"

// Metadata a worker may send with GetWorkItems to say what it serves. The
// protocol itself does not say which workflows and activities a worker
// registered; without these a worker is offered everything that no Go
// worker of this process serves, and the names it answers as not
// registered are offered to other workers instead.
const (
	// MetadataWorkflows: comma-separated workflow names the worker serves.
	MetadataWorkflows = "perdure-workflows"
	// MetadataActivities: comma-separated activity names the worker serves.
	MetadataActivities = "perdure-activities"
	// MetadataTaskQueue: a task queue whose runs the worker serves, besides
	// the default queue.
	MetadataTaskQueue = "perdure-task-queue"
)

const (
	kindWorkflow = iota
	kindActivity
)

// stream is one GetWorkItems call: a connected worker.
type stream struct {
	id    string
	items chan *protos.WorkItem
	gone  chan struct{}

	// Declared names (nil: any) and queue; read-only after creation.
	workflows, activities map[string]bool
	queue                 string

	// stateful: the worker keeps each instance's history between its
	// tasks (WORKER_CAPABILITY_STATEFUL_HISTORY), so a task can carry only
	// the events after those it was sent before.
	stateful bool

	// Under dispatcher.mu.
	pending int
	notWF   map[string]bool // workflow names the worker said it does not have
	notAct  map[string]bool
	sent    map[string]sentPast // by instance id: the past last sent, for stateful workers
}

// sentPast is the history of a run last sent to a stateful worker: its
// first n events in the protocol's form.
type sentPast struct {
	runID string
	n     int
}

// maxSent bounds a stream's sentPast entries; past it they are forgotten
// (the worker then gets whole histories again, which is always correct).
const maxSent = 100000

func (st *stream) offers(kind int, name string) bool {
	if kind == kindWorkflow {
		return (st.workflows == nil || st.workflows[name]) && !st.notWF[name]
	}
	return (st.activities == nil || st.activities[name]) && !st.notAct[name]
}

// item is a work item handed to a stream and not answered yet.
type item struct {
	token string
	kind  int
	st    *stream
	key   string   // instance id (workflow) or instance id/task id (activity)
	resp  chan any // *protos.WorkflowResponse or *protos.ActivityResponse
	act   *store.ActivityTask
}

// dispatcher claims work from the store for the connected workers.
type dispatcher struct {
	s      *Service
	cache  *runCache
	owner  string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	streams  []*stream
	items    map[string]*item // by completion token
	byKey    map[string]*item // by kind and key, for answers without a token
	inflight [2]int           // claimed and not finished, by kind
	changed  chan struct{}    // closed when streams or in-flight counts change
	closed   bool
}

func newDispatcher(s *Service) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	d := &dispatcher{s: s, cache: newRunCache(10000), owner: s.eng.Owner() + "/grpc", ctx: ctx, cancel: cancel,
		items: map[string]*item{}, byKey: map[string]*item{}, changed: make(chan struct{})}
	s.eng.SetStartHook(d.fuseStart)
	d.wg.Add(3)
	go d.loop(kindWorkflow)
	go d.loop(kindActivity)
	go d.heartbeats()
	return d
}

func (d *dispatcher) close() {
	d.s.eng.SetStartHook(nil)
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
}

// signal wakes the claim loops; under d.mu.
func (d *dispatcher) signal() {
	close(d.changed)
	d.changed = make(chan struct{})
}

func token() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func splitList(vs []string) map[string]bool {
	if len(vs) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, v := range vs {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				m[n] = true
			}
		}
	}
	return m
}

// GetWorkItems streams work items to a worker until it disconnects.
func (s *Service) GetWorkItems(req *protos.GetWorkItemsRequest, gs protos.TaskHubSidecarService_GetWorkItemsServer) error {
	d := s.d
	ctx := gs.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	st := &stream{id: token(), items: make(chan *protos.WorkItem, s.opts.MaxPendingPerStream), gone: make(chan struct{}),
		workflows: splitList(md.Get(MetadataWorkflows)), activities: splitList(md.Get(MetadataActivities)),
		notWF: map[string]bool{}, notAct: map[string]bool{}, sent: map[string]sentPast{},
		stateful: slices.Contains(req.GetCapabilities(), protos.WorkerCapability_WORKER_CAPABILITY_STATEFUL_HISTORY)}
	if q := md.Get(MetadataTaskQueue); len(q) > 0 {
		st.queue = q[0]
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return status.Error(codes.Unavailable, "the server is shutting down")
	}
	d.streams = append(d.streams, st)
	d.signal()
	d.mu.Unlock()
	s.log.Info("worker connected", "stream", st.id, "workflows", keys(st.workflows), "activities", keys(st.activities))
	defer func() {
		d.mu.Lock()
		d.streams = slices.DeleteFunc(d.streams, func(x *stream) bool { return x == st })
		close(st.gone)
		d.signal()
		d.mu.Unlock()
		s.log.Info("worker disconnected", "stream", st.id)
	}()
	for {
		select {
		case wi := <-st.items:
			if err := gs.Send(wi); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		case <-d.ctx.Done():
			return status.Error(codes.Unavailable, "the server is shutting down")
		}
	}
}

func keys(m map[string]bool) []string {
	if m == nil {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// claimable returns how many items of kind the connected workers can take
// now, and the claim's filters.
func (d *dispatcher) claimable(kind int) (n int, names, queues []string, changed <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	changed = d.changed
	n = d.roomLocked()
	if n <= 0 {
		return 0, nil, nil, changed
	}
	any := false
	set := map[string]bool{}
	qs := map[string]bool{"": true}
	for _, st := range d.streams {
		decl := st.workflows
		if kind == kindActivity {
			decl = st.activities
		}
		if decl == nil {
			any = true
		}
		for k := range decl {
			set[k] = true
		}
		if st.queue != "" {
			qs[st.queue] = true
		}
	}
	if !any {
		names = keys(set)
	}
	return min(n, 64), names, keys(qs), changed
}

func (d *dispatcher) done(kind int) {
	d.mu.Lock()
	d.inflight[kind]--
	d.signal()
	d.mu.Unlock()
}

// loop claims work of kind while workers have room for it.
func (d *dispatcher) loop(kind int) {
	defer d.wg.Done()
	gw, log := d.s.gw, d.s.log
	wakeKind := store.WakeWorkflow
	if kind == kindActivity {
		wakeKind = store.WakeActivity
	}
	for d.ctx.Err() == nil {
		wake := gw.WorkChan(wakeKind)
		n, names, queues, changed := d.claimable(kind)
		if n == 0 {
			select {
			case <-changed:
			case <-d.ctx.Done():
			}
			continue
		}
		now := gw.Now()
		until := now.Add(d.s.eng.LeaseDuration())
		var got int
		var err error
		if kind == kindWorkflow {
			var ts []*store.WorkflowTask
			ts, err = gw.WorkflowTaskClaim(d.ctx, &store.WorkflowTaskClaimParams{Owner: d.owner, Max: n, Now: now, LeaseUntil: until,
				Names: names, ExcludeNames: d.goWorkflows(), TaskQueues: queues})
			got = len(ts)
			d.start(kind, got)
			for _, t := range ts {
				go func() {
					defer d.wg.Done()
					defer d.done(kindWorkflow)
					d.workflowTask(t)
				}()
			}
		} else {
			var cs []*store.ClaimedActivity
			cs, err = gw.ActivityTaskClaim(d.ctx, &store.ActivityTaskClaimParams{Owner: d.owner, Max: n, Now: now, LeaseUntil: until,
				Names: names, TaskQueues: []string{ActivityQueue}})
			got = len(cs)
			d.start(kind, got)
			for _, c := range cs {
				go func() {
					defer d.wg.Done()
					defer d.done(kindActivity)
					d.activityTask(c)
				}()
			}
		}
		if err != nil {
			if d.ctx.Err() == nil {
				log.Error("claim work for gRPC workers", "error", err)
				d.sleep(time.Second)
			}
			continue
		}
		if got == 0 {
			ctx, cancel := context.WithCancel(d.ctx)
			go func() {
				select {
				case <-changed:
					cancel()
				case <-ctx.Done():
				}
			}()
			gw.WaitForWork(ctx, wake, now)
			cancel()
		}
	}
}

func (d *dispatcher) start(kind, n int) {
	d.mu.Lock()
	d.inflight[kind] += n
	d.mu.Unlock()
	d.wg.Add(n)
}

func (d *dispatcher) sleep(t time.Duration) {
	select {
	case <-time.After(t):
	case <-d.ctx.Done():
	}
}

// route picks, among the connected workers that serve name, the one with
// the fewest items pending (the claims bound the items in flight to what
// the workers can take, all kinds together); nil when none serves name.
func (d *dispatcher) route(kind int, name string) *stream {
	d.mu.Lock()
	defer d.mu.Unlock()
	var best *stream
	for _, st := range d.streams {
		if st.offers(kind, name) && (best == nil || st.pending < best.pending) {
			best = st
		}
	}
	return best
}

// setPast sets the past events of a workflow request for st: the whole
// history of run runID in the protocol's form, or, when st's worker keeps
// histories and was sent a prefix of this run's before, the events after
// that prefix with CachedHistory naming its length. (A worker that lost its
// copy reads the whole history with GetInstanceHistory, which gives the
// same events.)
func (d *dispatcher) setPast(st *stream, req *protos.WorkflowRequest, runID string, past []*protos.HistoryEvent) {
	req.PastEvents = past
	if !st.stateful {
		return
	}
	d.mu.Lock()
	prev, ok := st.sent[req.InstanceId]
	if !ok && len(st.sent) >= maxSent {
		clear(st.sent)
	}
	st.sent[req.InstanceId] = sentPast{runID: runID, n: len(past)}
	d.mu.Unlock()
	if ok && prev.runID == runID && prev.n > 0 && prev.n <= len(past) {
		req.CachedHistory = &protos.CachedHistory{EventCount: int32(prev.n)}
		req.PastEvents = past[prev.n:]
	}
}

// answered notes a worker's answer to a workflow request: a worker that
// keeps histories drops its copy when the run ends (or continues as new).
func (d *dispatcher) answered(st *stream, instanceID string, resp *protos.WorkflowResponse) {
	if !st.stateful {
		return
	}
	for _, a := range resp.Actions {
		if a.GetCompleteWorkflow() != nil {
			d.mu.Lock()
			delete(st.sent, instanceID)
			d.mu.Unlock()
			return
		}
	}
}

// waitRoute is route for claimed work, which it holds (leased) while no
// connected worker serves name, for up to NotServedRetry: a worker that
// connects meanwhile gets it at once. nil when none came.
func (d *dispatcher) waitRoute(kind int, name string) *stream {
	timer := time.NewTimer(d.s.opts.NotServedRetry)
	defer timer.Stop()
	for {
		d.mu.Lock()
		changed := d.changed
		d.mu.Unlock()
		if st := d.route(kind, name); st != nil {
			return st
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil
		case <-d.ctx.Done():
			return nil
		}
	}
}

// notServing records that the worker of st answered that it does not
// have name.
func (d *dispatcher) notServing(st *stream, kind int, name string) {
	d.mu.Lock()
	if kind == kindWorkflow {
		st.notWF[name] = true
	} else {
		st.notAct[name] = true
	}
	d.mu.Unlock()
	d.s.log.Warn("a worker does not serve a name it was offered; other workers will be offered it", "stream", st.id,
		"kind", map[int]string{kindWorkflow: "workflow", kindActivity: "activity"}[kind], "name", name)
}

// exchange hands wi to st and waits for the answer. It returns nil when
// the worker disconnected, the server is closing, or timeout (0: none)
// passed.
//
// At most one item per instance (workflow items) or per activity task is
// handed out at a time, so that an answer without a completion token (some
// SDKs send none) names its item; exchange returns errBusy at once for a
// second one.
func (d *dispatcher) exchange(st *stream, it *item, wi *protos.WorkItem, timeout time.Duration) any {
	it.token, it.st, it.resp = token(), st, make(chan any, 1)
	wi.CompletionToken = it.token
	k := keyOf(it.kind, it.key)
	d.mu.Lock()
	if _, busy := d.byKey[k]; busy {
		d.mu.Unlock()
		return errBusy
	}
	d.items[it.token] = it
	d.byKey[k] = it
	st.pending++
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.items, it.token)
		delete(d.byKey, k)
		st.pending--
		d.mu.Unlock()
	}()
	var expire <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expire = t.C
	}
	select {
	case st.items <- wi:
	case <-st.gone:
		return nil
	case <-d.ctx.Done():
		return nil
	}
	select {
	case r := <-it.resp:
		return r
	case <-st.gone:
	case <-d.ctx.Done():
	case <-expire:
		d.s.log.Warn("a worker did not answer a workflow work item in time; it is offered again", "stream", st.id, "instance_id", it.key)
	}
	return nil
}

// errBusy is what exchange returns when another item of the same instance
// or task is out.
var errBusy = errors.New("another work item of this instance is out")

func keyOf(kind int, key string) string {
	if kind == kindWorkflow {
		return "w/" + key
	}
	return "a/" + key
}

// answer delivers a worker's answer to the item waiting for it.
func (d *dispatcher) answer(kind int, tok, key string, resp any) error {
	d.mu.Lock()
	it := d.items[tok]
	if tok == "" {
		it = d.byKey[keyOf(kind, key)]
	}
	d.mu.Unlock()
	if it == nil || it.kind != kind || it.key != key {
		return status.Errorf(codes.NotFound, "no work item is waiting for this answer (instance %q): it was answered already, timed out, or its worker disconnected", key)
	}
	select {
	case it.resp <- resp:
		return nil
	default:
		return status.Errorf(codes.AlreadyExists, "work item of instance %q was answered already", key)
	}
}

// CompleteWorkflowTask takes a worker's answer to a workflow work item.
func (s *Service) CompleteWorkflowTask(ctx context.Context, resp *protos.WorkflowResponse) (*protos.CompleteTaskResponse, error) {
	if resp.InstanceId == "" {
		return nil, invalid("instanceId is required")
	}
	if err := s.d.answer(kindWorkflow, resp.CompletionToken, resp.InstanceId, resp); err != nil {
		return nil, err
	}
	return &protos.CompleteTaskResponse{}, nil
}

// CompleteOrchestratorTask is CompleteWorkflowTask's earlier name, which
// some SDKs still call.
func (s *Service) CompleteOrchestratorTask(ctx context.Context, resp *protos.WorkflowResponse) (*protos.CompleteTaskResponse, error) {
	return s.CompleteWorkflowTask(ctx, resp)
}

// CompleteActivityTask takes a worker's answer to an activity work item.
func (s *Service) CompleteActivityTask(ctx context.Context, resp *protos.ActivityResponse) (*protos.CompleteTaskResponse, error) {
	if resp.InstanceId == "" {
		return nil, invalid("instanceId is required")
	}
	key := resp.InstanceId + "/" + strconv.Itoa(int(resp.TaskId))
	if err := s.d.answer(kindActivity, resp.CompletionToken, key, resp); err != nil {
		return nil, err
	}
	return &protos.CompleteTaskResponse{}, nil
}

// heartbeats renews the leases of the activities workers are running.
func (d *dispatcher) heartbeats() {
	defer d.wg.Done()
	every := d.s.eng.LeaseDuration() / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-d.ctx.Done():
			return
		}
		d.mu.Lock()
		var ops []store.Op
		until := d.s.gw.Now().Add(d.s.eng.LeaseDuration())
		for _, it := range d.items {
			if it.act != nil {
				ops = append(ops, &store.ActivityTaskHeartbeatOp{RunID: it.act.RunID, Seq: it.act.Seq, Attempt: it.act.Attempt, LeaseUntil: until})
			}
		}
		d.mu.Unlock()
		if len(ops) > 0 {
			if _, err := d.s.gw.Apply(d.ctx, ops); err != nil && d.ctx.Err() == nil {
				d.s.log.Error("renew activity leases", "error", err)
			}
		}
	}
}

// apply commits one op through the engine; ErrLeaseLost and ErrStaleTask
// mean another worker took the work over, which is not an error here.
func (d *dispatcher) apply(op store.Op, what string, attrs ...any) bool {
	errs, err := d.s.gw.Apply(context.Background(), []store.Op{op})
	if err == nil {
		err = errs[0]
	}
	if err == nil {
		return true
	}
	if !errors.Is(err, store.ErrLeaseLost) && !errors.Is(err, store.ErrStaleTask) && !errors.Is(err, store.ErrNotFound) {
		d.s.log.Error(what, append(attrs, "error", err)...)
	}
	return false
}

// release gives a claimed run back, to be claimed again at retryAt, with
// taskError shown on the run ("" keeps the run's).
func (d *dispatcher) release(t *store.WorkflowTask, retryAt time.Time, taskError string) {
	run := t.Run
	updated := run.UpdatedAt
	if taskError == "" {
		taskError = run.TaskError
	} else {
		updated = d.s.gw.Now()
	}
	d.apply(&store.WorkflowTaskAbandonOp{RunID: run.RunID, LeaseOwner: t.LeaseOwner, TaskError: taskError, RetryAt: retryAt, UpdatedAt: updated},
		"release workflow task", "instance_id", run.InstanceID)
}

// retry ends an attempt of a claimed activity that did not finish (its
// worker disconnected, or no worker serves it): the task is offered again
// at visibleAt.
func (d *dispatcher) retry(t *store.ActivityTask, f *failure.Failure, visibleAt time.Time) {
	now := d.s.gw.Now()
	log, _ := engine.AttemptsWith(t, history.Attempt{Attempt: t.Attempt, StartedAt: t.StartedAt, EndedAt: now, Failure: f, NextRetryAt: visibleAt})
	d.apply(&store.ActivityTaskRetryOp{RunID: t.RunID, Seq: t.Seq, Attempt: t.Attempt, VisibleAt: visibleAt,
		LastFailure: failure.Encode(f), Attempts: log}, "offer an activity again", "instance_id", t.InstanceID, "activity", t.Name)
}

// WorkflowNames returns the workflow names the connected workers declared
// (MetadataWorkflows); any is true when a connected worker declared none,
// and so may serve any workflow.
func (s *Service) WorkflowNames() (names []string, any bool) {
	d := s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	set := map[string]bool{}
	for _, st := range d.streams {
		if st.workflows == nil {
			any = true
		}
		for k := range st.workflows {
			set[k] = true
		}
	}
	return keys(set), any
}

// goWorkflows returns the workflow names that Go workers serve: this
// process's and, with Options.OtherWorkflows, others'.
func (d *dispatcher) goWorkflows() []string {
	names := d.s.eng.WorkflowNames()
	if f := d.s.opts.OtherWorkflows; f != nil {
		names = append(names, f()...)
	}
	return names
}

// reserve takes room for one item of kind handed out without a claim
// (eager dispatch: a commit leases the work it makes ready to this
// dispatcher); name "" is any name. It reports false when no connected
// worker serves name or all are full. A reservation ends with unreserve,
// or with the goroutine that runs the item (goItem).
func (d *dispatcher) reserve(kind int, name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	ok := name == ""
	for _, st := range d.streams {
		ok = ok || st.offers(kind, name)
	}
	if !ok || d.roomLocked() <= 0 {
		return false
	}
	d.inflight[kind]++
	d.wg.Add(1)
	return true
}

// roomLocked is how many more items, of both kinds together, the
// connected workers can take: MaxPendingPerStream each, less those in
// flight. Under d.mu.
func (d *dispatcher) roomLocked() int {
	return len(d.streams)*d.s.opts.MaxPendingPerStream - d.inflight[kindWorkflow] - d.inflight[kindActivity]
}

func (d *dispatcher) unreserve(kind int) {
	d.done(kind)
	d.wg.Done()
}

// goItem runs a reserved item.
func (d *dispatcher) goItem(kind int, run func()) {
	go func() {
		defer d.wg.Done()
		defer d.done(kind)
		run()
	}()
}

// eager returns the Eager of an op that may make a workflow task ready,
// with a reservation taken; nil when the workers have no room.
func (d *dispatcher) eager(now time.Time) *store.Eager {
	if !d.reserve(kindWorkflow, "") {
		return nil
	}
	return &store.Eager{Owner: d.owner, Now: now, LeaseUntil: now.Add(d.s.eng.LeaseDuration())}
}

// afterEager runs the workflow task an op with Eager e leased, or gives
// the reservation back.
func (d *dispatcher) afterEager(e *store.Eager, claimed *store.WorkflowTask, committed bool) {
	if e == nil {
		return
	}
	if committed && claimed != nil {
		d.goItem(kindWorkflow, func() { d.workflowTask(claimed) })
		return
	}
	d.unreserve(kindWorkflow)
}

// Streams returns the number of connected GetWorkItems streams.
func (s *Service) Streams() int {
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return len(s.d.streams)
}
