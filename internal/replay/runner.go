// Package replay executes workflow code deterministically over a run's
// history: it replays recorded events into the code, checks that the code
// asks for the same steps as the history recorded, and turns the new steps
// the code asks for into command events.
package replay

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/store"
)

// Func is a registered workflow as the runner calls it: the root coroutine
// runs it with the encoded input and it returns the encoded output.
type Func func(r *Runner, input []byte) ([]byte, error)

// NewContext builds the workflow package's Context for a runner. Package
// workflow sets it; the worker's wrappers call it.
var NewContext func(r *Runner) any

// Info describes the run being executed.
type Info struct {
	InstanceID       string
	RunID            string
	Name             string
	ParentInstanceID string
	PreviousRunID    string
	TaskQueue        string
	CreatedAt        time.Time
}

// ContinueAsNewError, returned by workflow code, finishes the run and starts
// a new run of the same instance with Input.
type ContinueAsNewError struct {
	Name  string // workflow name of the new run; "" for the same workflow
	Input []byte
}

func (e *ContinueAsNewError) Error() string { return "continue as new" }

// DefaultVersion is what GetVersion returns for code paths that ran before
// the change was introduced.
const DefaultVersion = -1

// Result is the outcome of a Step.
type Result struct {
	Consumed   int              // number of leading events consumed
	Commands   []*history.Event // new command and marker events, in order
	Completion *history.Event   // ExecutionCompleted or ContinueAsNew; nil while running
	Status     store.Status     // RUNNING or SUSPENDED while running

	CustomStatus        []byte
	CustomStatusChanged bool
}

// Runner holds one run's workflow code, parked between workflow tasks.
type Runner struct {
	info   Info
	fn     Func
	codec  payload.Codec
	logger *slog.Logger

	coroutines []*coroutine
	current    *coroutine
	// The scheduling of runUntilBlocked: spawned numbers the coroutines;
	// polled are those not started or blocked on a condition of their own,
	// woken those whose future resolved since the last pass, pass[next:]
	// the coroutines left to look at in the pass under way (inPass),
	// after the one numbered at. fullPasses: look at every coroutine
	// instead, for tests.
	spawned    int64
	ended      int // finished coroutines still in coroutines
	polled     []*coroutine
	woken      []*coroutine
	pass       []*coroutine
	next       int
	inPass     bool
	at         int64
	fullPasses bool
	looked     int // coroutines the passes looked at, for tests
	killing    bool
	closed     bool

	replaying  bool
	now        time.Time
	seq        int64
	historyLen int64
	recorded   steps // command events of the replayed history not yet matched
	versions   map[string]int
	rng        *rand.Rand

	resolved     int64 // counter giving futures their resolution order
	activities   map[int64]*Future
	waitNames    map[int64]string // step -> activity or child workflow name
	timers       map[int64]*Future
	timerFireAt  map[int64]time.Time
	timerPurpose map[int64]string
	staleTimers  map[int64]bool // timeouts of event waits that were satisfied
	children     map[int64]*Future
	childIDs     map[int64]string
	eventQueues  map[string][]queuedEvent // events received and not yet waited for
	queued       int64                    // counter giving queued events their arrival order
	eventWaiters map[string][]*Future
	eventNames   map[string]string // lower-case key -> name as the code wrote it

	started      bool
	suspended    bool
	commands     []*history.Event
	completion   *history.Event
	customStatus []byte
	customDirty  bool
	taskErr      error
}

// NewRunner prepares a runner; nothing runs until events are applied.
func NewRunner(info Info, fn Func, codec payload.Codec, logger *slog.Logger) *Runner {
	if codec == nil {
		codec = payload.Default
	}
	if logger == nil {
		logger = slog.Default()
	}
	h := fnv.New64a()
	h.Write([]byte(info.RunID))
	seed := h.Sum64()
	return &Runner{
		info:         info,
		fn:           fn,
		codec:        codec,
		logger:       logger,
		versions:     map[string]int{},
		rng:          rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		activities:   map[int64]*Future{},
		waitNames:    map[int64]string{},
		timers:       map[int64]*Future{},
		timerFireAt:  map[int64]time.Time{},
		timerPurpose: map[int64]string{},
		staleTimers:  map[int64]bool{},
		children:     map[int64]*Future{},
		childIDs:     map[int64]string{},
		eventQueues:  map[string][]queuedEvent{},
		eventWaiters: map[string][]*Future{},
		eventNames:   map[string]string{},
	}
}

// HistoryLen is the number of history events this runner has seen.
func (r *Runner) HistoryLen() int64 { return r.historyLen }

// SetHistoryLen records the history length after a successful commit.
func (r *Runner) SetHistoryLen(n int64) { r.historyLen = n }

// Replay applies a run's stored history. It returns a NondeterminismError
// when the code does not ask for the steps the history recorded, or the
// error of a panic in workflow code.
func (r *Runner) Replay(events []*history.Event) error {
	r.replaying = true
	defer func() { r.replaying = false }()
	for _, ev := range events {
		if history.IsCommand(ev.Type) {
			r.recorded.add(ev, len(events))
		}
		if ev.Type == history.VersionMarker {
			r.versions[ev.ChangeID] = ev.Version
		}
	}
	for _, ev := range events {
		if !history.IsCommand(ev.Type) && ev.Type != history.VersionMarker {
			r.apply(ev)
			if r.taskErr != nil {
				return r.taskErr
			}
			r.runUntilBlocked()
			if r.taskErr != nil {
				return r.taskErr
			}
		}
		r.historyLen = ev.ID
	}
	if r.recorded.len() > 0 {
		first := r.recorded.first()
		return &NondeterminismError{Step: first.Seq, Recorded: describe(first), RecordedAt: first.Source,
			Got: "nothing (the code finished or is waiting before reaching this step)"}
	}
	r.commands = nil
	r.completion = nil
	return nil
}

// Step applies new events (consumed inbox messages) in order and runs the
// code after each. Events that cannot be applied now (non-control events
// while suspended, anything after the run finished) are left unconsumed.
func (r *Runner) Step(events []*history.Event) (*Result, error) {
	r.commands = nil
	res := &Result{}
	for _, ev := range events {
		if r.completion != nil {
			break
		}
		if r.suspended && !isControl(ev.Type) {
			break
		}
		if !r.started && ev.Type != history.ExecutionStarted && ev.Type != history.ExecutionTerminated {
			break // nothing but the start (or a terminate) may come first
		}
		r.apply(ev)
		res.Consumed++
		if r.taskErr == nil && r.completion == nil && !r.suspended {
			r.runUntilBlocked()
		}
		if r.taskErr != nil {
			return nil, r.taskErr
		}
	}
	res.Commands = r.commands
	res.Completion = r.completion
	res.Status = store.StatusRunning
	switch {
	case !r.started:
		res.Status = store.StatusPending
	case r.suspended:
		res.Status = store.StatusSuspended
	}
	res.CustomStatus, res.CustomStatusChanged = r.customStatus, r.customDirty
	r.customDirty = false
	r.commands = nil
	return res, nil
}

func isControl(t string) bool {
	return t == history.ExecutionResumed || t == history.ExecutionTerminated
}

func (r *Runner) apply(ev *history.Event) {
	r.now = ev.Time
	switch ev.Type {
	case history.ExecutionStarted:
		if r.started {
			return
		}
		r.started = true
		for _, ce := range ev.Events { // received by the run this one continues
			r.deliverEvent(ce.Name, ce.Input)
		}
		input := []byte(ev.Input)
		r.spawn("main", func() {
			out, err := r.fn(r, input)
			r.finish(out, err)
		})
	case history.TaskCompleted, history.TaskFailed:
		if f := r.activities[ev.Seq]; f != nil {
			delete(r.activities, ev.Seq)
			delete(r.waitNames, ev.Seq)
			f.resolve(ev.Result, ev.Failure)
		}
	case history.TimerFired:
		if f := r.timers[ev.Seq]; f != nil {
			delete(r.timers, ev.Seq)
			delete(r.timerFireAt, ev.Seq)
			delete(r.timerPurpose, ev.Seq)
			delete(r.staleTimers, ev.Seq)
			f.resolve(nil, nil)
		}
	case history.SubOrchestrationInstanceCompleted, history.SubOrchestrationInstanceFailed:
		if f := r.children[ev.Seq]; f != nil {
			delete(r.children, ev.Seq)
			delete(r.childIDs, ev.Seq)
			delete(r.waitNames, ev.Seq)
			f.resolve(ev.Result, ev.Failure)
		}
	case history.EventRaised:
		r.deliverEvent(ev.Name, ev.Input)
	case history.ExecutionSuspended:
		r.suspended = true
	case history.ExecutionResumed:
		r.suspended = false
	case history.ExecutionTerminated:
		r.completion = Terminated(ev)
	}
}

// Terminated is the completion event of a run ended by the terminate
// request ev.
func Terminated(ev *history.Event) *history.Event {
	return &history.Event{Type: history.ExecutionCompleted, Data: history.Data{
		Status: store.StatusTerminated, Reason: ev.Reason, Recursive: ev.Recursive,
		Failure: &failure.Failure{Message: terminatedMessage(ev.Reason), Type: failure.TypeTerminated},
	}}
}

// queuedEvent is an event received before the code waited for it.
type queuedEvent struct {
	order int64
	name  string
	input payload.Payload
}

// deliverEvent hands an event to its oldest waiter, or queues it.
func (r *Runner) deliverEvent(name string, input payload.Payload) {
	key := strings.ToLower(name)
	if ws := r.eventWaiters[key]; len(ws) > 0 {
		r.eventWaiters[key] = ws[1:]
		ws[0].resolve(input, nil)
		return
	}
	r.queued++
	r.eventQueues[key] = append(r.eventQueues[key], queuedEvent{order: r.queued, name: name, input: input})
}

// QueuedEvents returns the events the run received and did not wait for,
// in the order they arrived. A run that continues as new hands them to the
// new run, so that no received event is lost.
func (r *Runner) QueuedEvents() []history.CarriedEvent {
	var qs []queuedEvent
	for _, q := range r.eventQueues {
		qs = append(qs, q...)
	}
	slices.SortFunc(qs, func(a, b queuedEvent) int { return cmp.Compare(a.order, b.order) })
	out := make([]history.CarriedEvent, 0, len(qs))
	for _, q := range qs {
		out = append(out, history.CarriedEvent{Name: q.name, Input: q.input})
	}
	return out
}

func terminatedMessage(reason string) string {
	if reason == "" {
		return "terminated"
	}
	return "terminated: " + reason
}

func (r *Runner) finish(out []byte, err error) {
	if r.completion != nil {
		return
	}
	var can *ContinueAsNewError
	switch {
	case err == nil:
		r.completion = &history.Event{Type: history.ExecutionCompleted, Data: history.Data{Status: store.StatusCompleted, Result: out}}
	case errors.As(err, &can):
		name := can.Name
		if name == "" {
			name = r.info.Name
		}
		r.completion = &history.Event{Type: history.ContinueAsNew, Data: history.Data{Name: name, Input: can.Input}}
	default:
		r.completion = &history.Event{Type: history.ExecutionCompleted, Data: history.Data{Status: store.StatusFailed, Failure: failure.FromError(err)}}
	}
}

// RunningChildren returns the instance ids of children started and not yet
// finished, in start order.
func (r *Runner) RunningChildren() []string {
	var ids []string
	for seq := int64(1); seq <= r.seq; seq++ {
		if id, ok := r.childIDs[seq]; ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// command registers a command event issued by workflow code and checks it
// against the replayed history. It returns the recorded event when the
// history already has this step (the command must then not be executed
// again), or nil for a new step, which is appended to the commands.
func (r *Runner) command(ev *history.Event) *history.Event {
	if r.killing {
		panic(errKilled)
	}
	if r.completion != nil {
		r.failTask(errors.New("workflow API called after the workflow finished"))
	}
	r.seq++
	ev.Seq = r.seq
	// The code's source position is looked up only where it is kept (a new
	// step) or shown (a mismatch): replaying a long history would
	// otherwise spend a good part of its time walking stacks.
	if rec := r.recorded.take(ev.Seq); rec != nil {
		if rec.Type != ev.Type || !strings.EqualFold(rec.Name, ev.Name) {
			ev.Source = callerSource()
			r.failTask(&NondeterminismError{Step: ev.Seq, Recorded: describe(rec), RecordedAt: rec.Source, Got: describe(ev), GotAt: ev.Source})
		}
		return rec
	}
	ev.Source = callerSource()
	if r.replaying {
		r.failTask(&NondeterminismError{Step: ev.Seq, Recorded: "nothing (the history has no such step)", Got: describe(ev), GotAt: ev.Source})
	}
	ev.Time = r.now
	r.commands = append(r.commands, ev)
	return nil
}

// failTask records err as the task's failure and unwinds the coroutine. The
// error is recorded first, so that user code recovering panics cannot hide it.
func (r *Runner) failTask(err error) {
	if r.taskErr == nil {
		r.taskErr = err
	}
	panic(taskFailure{err})
}

// Codec is the payload codec of this run.
func (r *Runner) Codec() payload.Codec { return r.codec }

// Info describes the run.
func (r *Runner) Info() Info { return r.info }

// Now is the deterministic current time: the time of the event being applied.
func (r *Runner) Now() time.Time { return r.now }

// IsReplaying reports whether the code is re-executing recorded history.
func (r *Runner) IsReplaying() bool { return r.replaying }

// Rand is the run's deterministic random source.
func (r *Runner) Rand() *rand.Rand { return r.rng }

// Logger is the base logger (the workflow package filters replayed lines).
func (r *Runner) Logger() *slog.Logger { return r.logger }

// Go starts a new coroutine.
func (r *Runner) Go(name string, fn func()) {
	if r.killing {
		panic(errKilled)
	}
	r.spawn(name, fn)
}

// NextIsRecorded reports whether the next command the code issues
// replays a step of the history (whose recorded event then stands for it):
// its arguments need not be encoded.
func (r *Runner) NextIsRecorded() bool {
	return r.recorded.get(r.seq+1) != nil
}

// ScheduleActivity issues a TaskScheduled command.
func (r *Runner) ScheduleActivity(name string, input []byte, options json.RawMessage, taskQueue string) *Future {
	f := r.newFuture()
	ev := &history.Event{Type: history.TaskScheduled, Data: history.Data{Name: name, Input: input, Options: options, TaskQueue: taskQueue}}
	r.command(ev)
	f.seq = ev.Seq
	r.activities[ev.Seq] = f
	r.waitNames[ev.Seq] = name
	return f
}

// NewTimer issues a TimerCreated command firing after d. A non-positive d
// gives a future that is ready at once.
func (r *Runner) NewTimer(d time.Duration, purpose string) *Future {
	f := r.newFuture()
	if d <= 0 {
		f.resolve(nil, nil)
		return f
	}
	ev := &history.Event{Type: history.TimerCreated, Data: history.Data{FireAt: r.now.Add(d), Purpose: purpose}}
	r.command(ev)
	f.seq = ev.Seq
	r.timers[ev.Seq] = f
	r.timerFireAt[ev.Seq] = ev.FireAt
	if purpose != "" {
		r.timerPurpose[ev.Seq] = purpose
	}
	return f
}

// Waiting lists what the run waits on now, in step order (event waits,
// which have no step, last), at most history.MaxWaits entries.
func (r *Runner) Waiting() []history.Wait {
	if !r.started || r.completion != nil {
		return nil
	}
	var out []history.Wait
	more := 0
	add := func(w history.Wait) {
		if len(out) < history.MaxWaits-1 {
			out = append(out, w)
		} else {
			more++
		}
	}
	for seq := int64(1); seq <= r.seq; seq++ {
		switch {
		case r.activities[seq] != nil:
			add(history.Wait{Kind: "activity", Step: seq, Name: r.waitNames[seq]})
		case r.children[seq] != nil:
			add(history.Wait{Kind: "child", Step: seq, Name: r.waitNames[seq], InstanceID: r.childIDs[seq]})
		case r.timers[seq] != nil && !r.staleTimers[seq]:
			w := history.Wait{Kind: "timer", Step: seq, FireAt: r.timerFireAt[seq]}
			if p := r.timerPurpose[seq]; p != "" {
				w.Purpose = p
			}
			add(w)
		}
	}
	keys := make([]string, 0, len(r.eventWaiters))
	for k, ws := range r.eventWaiters {
		if len(ws) > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		add(history.Wait{Kind: "event", Name: r.eventNames[k], Count: len(r.eventWaiters[k])})
	}
	if more > 0 {
		out = append(out, history.Wait{Kind: "more", Count: more})
	}
	return out
}

// Outstanding is the number of activities and child workflows the run
// has started and not yet seen finish.
func (r *Runner) Outstanding() int { return len(r.activities) + len(r.children) }

// OnlyWaitsLong reports whether the run waits only on external events or
// on timers firing after now+horizon: no activity or child is pending. Such
// a run is not worth keeping in memory.
func (r *Runner) OnlyWaitsLong(now time.Time, horizon time.Duration) bool {
	if len(r.activities) > 0 || len(r.children) > 0 {
		return false
	}
	for seq, at := range r.timerFireAt {
		if !r.staleTimers[seq] && at.Before(now.Add(horizon)) {
			return false
		}
	}
	return true
}

// ErrEventTimeout resolves a WaitEvent future whose timeout fired first.
var ErrEventTimeout = errors.New("timed out waiting for the event")

// WaitEvent returns a future for the next event called name (case
// insensitive). Events raised before are buffered and delivered in order.
func (r *Runner) WaitEvent(name string) *Future { return r.waitEvent(name, 0, false) }

// WaitEventWithTimeout is WaitEvent with a timeout: a timer resolves the
// future with ErrEventTimeout first if no event arrives in time, and a later
// event stays buffered. A non-positive timeout, like a timer of that
// duration, has already run out: the future takes a buffered event or is
// ready at once with ErrEventTimeout.
func (r *Runner) WaitEventWithTimeout(name string, timeout time.Duration) *Future {
	return r.waitEvent(name, timeout, true)
}

func (r *Runner) waitEvent(name string, timeout time.Duration, withTimeout bool) *Future {
	key := strings.ToLower(name)
	f := r.newFuture()
	if q := r.eventQueues[key]; len(q) > 0 {
		r.eventQueues[key] = q[1:]
		f.resolve(q[0].input, nil)
		return f
	}
	if withTimeout && timeout <= 0 {
		f.resolveErr(ErrEventTimeout)
		return f
	}
	r.eventWaiters[key] = append(r.eventWaiters[key], f)
	r.eventNames[key] = name
	if withTimeout {
		t := r.NewTimer(timeout, "event:"+name)
		t.onResolve = func() {
			if f.ready {
				return
			}
			ws := r.eventWaiters[key]
			for i, w := range ws {
				if w == f {
					r.eventWaiters[key] = append(ws[:i:i], ws[i+1:]...)
					break
				}
			}
			f.resolveErr(ErrEventTimeout)
		}
		// Once the event arrives, the timeout no longer matters.
		f.onResolve = func() {
			if !t.ready {
				r.staleTimers[t.seq] = true
			}
		}
	}
	return f
}

// StartChild issues a SubOrchestrationInstanceCreated command.
func (r *Runner) StartChild(name, instanceID string, input []byte, taskQueue string) (*Future, string) {
	f := r.newFuture()
	ev := &history.Event{Type: history.SubOrchestrationInstanceCreated, Data: history.Data{Name: name, InstanceID: instanceID, Input: input, TaskQueue: taskQueue}}
	if rec := r.command(ev); rec != nil {
		instanceID = rec.InstanceID
	} else if instanceID == "" {
		instanceID = r.defaultChildID(ev.Seq)
		ev.InstanceID = instanceID
	}
	f.seq = ev.Seq
	r.children[ev.Seq] = f
	r.childIDs[ev.Seq] = instanceID
	r.waitNames[ev.Seq] = name
	return f, instanceID
}

// defaultChildID is "<instance>:<step>" in a first run. A run created by
// continue-as-new numbers its steps from 1 again, so its children get
// "<instance>:<run prefix>:<step>" and cannot collide with children of an
// earlier run that are still running.
func (r *Runner) defaultChildID(seq int64) string {
	if r.info.PreviousRunID == "" {
		return fmt.Sprintf("%s:%04d", r.info.InstanceID, seq)
	}
	return fmt.Sprintf("%s:%.8s:%04d", r.info.InstanceID, r.info.RunID, seq)
}

// SendEvent issues an EventSent command raising an event on another instance.
func (r *Runner) SendEvent(instanceID, name string, input []byte) {
	r.command(&history.Event{Type: history.EventSent, Data: history.Data{InstanceID: instanceID, Name: name, Input: input}})
}

// SideEffect runs fn once and records its result; on replay the recorded
// result is returned and fn is not called.
func (r *Runner) SideEffect(name string, fn func() ([]byte, *failure.Failure)) ([]byte, *failure.Failure) {
	ev := &history.Event{Type: history.SideEffect, Data: history.Data{Name: name}}
	if rec := r.command(ev); rec != nil {
		return rec.Result, rec.Failure
	}
	res, f := fn()
	ev.Result, ev.Failure = res, f
	return res, f
}

// GetVersion returns the version of a change for this run: the recorded one,
// DefaultVersion for runs that passed this point before the change existed,
// else maxSupported (recorded for future replays).
func (r *Runner) GetVersion(changeID string, minSupported, maxSupported int) int {
	v, ok := r.versions[changeID]
	if !ok {
		if r.replaying {
			v = DefaultVersion
		} else {
			v = maxSupported
			r.commands = append(r.commands, &history.Event{Type: history.VersionMarker, Time: r.now,
				Data: history.Data{ChangeID: changeID, Version: v, Source: callerSource()}})
		}
		r.versions[changeID] = v
	}
	if v < minSupported || v > maxSupported {
		r.failTask(fmt.Errorf("version %d of change %q is outside the supported range [%d, %d]: deploy code that still supports it", v, changeID, minSupported, maxSupported))
	}
	return v
}

// SetCustomStatus records the run's custom status (already encoded).
func (r *Runner) SetCustomStatus(b []byte) {
	r.customStatus = b
	r.customDirty = true
}

// Suspended reports whether the run is suspended.
func (r *Runner) Suspended() bool { return r.suspended }

// seedBytes gives deterministic bytes, used for UUIDs.
func (r *Runner) seedBytes(b []byte) {
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.rng.Uint64())
		copy(b[i:], w[:])
	}
}

// NewUUID returns a deterministic version 4 UUID.
func (r *Runner) NewUUID() string {
	var b [16]byte
	r.seedBytes(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
