package engine

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/internal/actx"
	"github.com/perdure/perdure/internal/clock"
	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/store"
)

// maxAttemptLog bounds the attempts kept per activity call (the newest).
const maxAttemptLog = 20

// Token identifies one attempt of one activity call, for completion by
// another system.
type Token struct {
	InstanceID string `json:"i"`
	RunID      string `json:"r"`
	Seq        int64  `json:"s"`
	Attempt    int    `json:"a"`
}

// Encode returns the token's string form (URL-safe).
func (t Token) Encode() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ErrBadToken is returned for a token that cannot be decoded.
var ErrBadToken = errors.New("malformed activity task token")

// DecodeToken parses a token string.
func DecodeToken(s string) (Token, error) {
	var t Token
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	if err := json.Unmarshal(b, &t); err != nil || t.RunID == "" || t.Seq == 0 || t.Attempt == 0 {
		return t, fmt.Errorf("%w: not a Perdure task token", ErrBadToken)
	}
	return t, nil
}

func decodeOptions(b []byte) history.ActivityOptions {
	var o history.ActivityOptions
	if len(b) > 0 {
		_ = json.Unmarshal(b, &o)
	}
	return o
}

func decodeAttempts(b []byte) []history.Attempt {
	var a []history.Attempt
	if len(b) > 0 {
		_ = json.Unmarshal(b, &a)
	}
	return a
}

func encodeAttempts(a []history.Attempt) []byte {
	if len(a) > maxAttemptLog {
		a = a[len(a)-maxAttemptLog:]
	}
	b, _ := json.Marshal(a)
	return b
}

// spareSlot is the slot of an attempt that succeeded, while its result is
// recorded. The commit that records it may lease the run's next activity
// eagerly; when s serves that activity, the lease takes this slot instead
// of a free one. Once the commit is made, the attempt's goroutine runs
// that activity (next) in the slot; if the commit fails, the lease's slot
// is given back as any eager lease's. The attempt's function has returned,
// so the slots still bound the activities running at once; without the
// hand-on, a chain of activities held two slots during each commit and,
// once half the slots were held so, its next activities waited to be
// claimed instead of starting at once.
type spareSlot struct {
	s     *server
	taken bool
	next  *store.ClaimedActivity
}

// runActivity runs the claimed attempt c and records its outcome, then
// runs each attempt leased in its slot (see spareSlot). handedOn reports
// that the last commit took the slot for a lease and, failing, gave it
// back itself: the caller must not give it back again.
func (s *server) runActivity(c *store.ClaimedActivity) (handedOn bool) {
	spare := &spareSlot{}
	for {
		*spare = spareSlot{s: s}
		s.runAttempt(c, spare)
		if spare.next == nil {
			return spare.taken
		}
		c = spare.next
	}
}

// runAttempt runs the attempt c and records its outcome; a success may
// hand c's slot on (spare).
func (s *server) runAttempt(c *store.ClaimedActivity, spare *spareSlot) {
	t := c.Task
	opts := decodeOptions(t.Options)
	if c.Expired {
		f := &failure.Failure{Type: failure.TypeWorkerLost,
			Message: fmt.Sprintf("attempt %d was lost: the worker running it stopped or crashed", t.Attempt)}
		if t.State == store.ActivityPending {
			kind := pendingTimeoutKind(t, opts)
			f = &failure.Failure{Type: failure.TypeTimeout, TimeoutType: kind,
				Message: fmt.Sprintf("attempt %d was not completed by task token before its deadline (%s timeout)", t.Attempt, kind)}
		}
		s.e.attemptFailed(t, opts, f, t.StartedAt)
		return
	}
	fn, ok := s.reg.Activity(t.Name)
	if !ok { // the claim filters by name, so only a registry race gets here
		s.e.attemptFailed(t, opts, &failure.Failure{Type: failure.TypeNotRegistered,
			Message: fmt.Sprintf("activity %q is not registered on this worker", t.Name)}, t.StartedAt)
		return
	}
	ctx, cancel := context.WithCancelCause(s.actCtx)
	defer cancel(nil)
	deadline, kind := attemptDeadline(t, opts)
	if !deadline.IsZero() {
		cause := &failure.TimeoutError{Kind: kind,
			Message: fmt.Sprintf("activity %q attempt %d exceeded its %s timeout", t.Name, t.Attempt, kind)}
		if clock.IsReal(s.e.clk) {
			var cancelT context.CancelFunc
			ctx, cancelT = context.WithDeadlineCause(ctx, deadline, cause)
			defer cancelT()
		} else { // virtual time: the deadline is a timer of the engine's clock
			fire, stop := s.e.clk.After(deadline.Sub(s.e.clk.Now()))
			defer stop()
			attemptCtx := ctx
			go func() {
				select {
				case <-fire:
					cancel(cause)
				case <-attemptCtx.Done():
				}
			}()
		}
	}
	hb := &heartbeater{s: s, t: t, opts: opts, cancel: cancel, details: t.HeartbeatDetails, last: s.e.clk.Now()}
	st := &actx.State{
		InstanceID: t.InstanceID, RunID: t.RunID, ActivityName: t.Name, Seq: t.Seq, Attempt: t.Attempt,
		ScheduledAt: t.ScheduledAt, StartedAt: t.StartedAt, Deadline: deadline, TaskQueue: t.TaskQueue,
		LastDetails: t.HeartbeatDetails, Heartbeat: hb.record,
		Encode: func(v any) ([]byte, error) { return payload.Encode(s.codec, v) },
		Decode: func(b []byte, v any) error { return payload.Decode(s.codec, b, v) },
		Describe: func() (string, string, *slog.Logger) {
			return Token{InstanceID: t.InstanceID, RunID: t.RunID, Seq: t.Seq, Attempt: t.Attempt}.Encode(),
				t.InstanceID + "/" + t.RunID + "/" + strconv.FormatInt(t.Seq, 10),
				s.log.With("activity", t.Name, "instance_id", t.InstanceID, "attempt", t.Attempt)
		},
	}
	ctx = actx.With(ctx, st)
	stopHB := hb.start(ctx)
	out, err := callActivity(ctx, fn, t.Input)
	stopHB()
	if err == nil {
		s.e.attemptSucceeded(t, out, s.e.Now(), spare)
		return
	}
	if errors.Is(err, activity.ErrResultPending) {
		pd := deadline
		if opts.HeartbeatTimeout > 0 {
			if hd := s.e.Now().Add(opts.HeartbeatTimeout); pd.IsZero() || hd.Before(pd) {
				pd = hd
			}
		}
		s.e.cfg.Observer.ActivityAttempt(t.Name, "pending", s.e.Now().Sub(t.StartedAt))
		perr := s.e.apply1(&store.ActivityTaskPendOp{RunID: t.RunID, Seq: t.Seq, Attempt: t.Attempt, Deadline: pd})
		if perr != nil && !errors.Is(perr, store.ErrStaleTask) {
			st.Logger().Error("record pending activity", "error", perr)
		}
		return
	}
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ctx.Err())) {
		var te *failure.TimeoutError
		if errors.As(cause, &te) {
			err = cause
		} else if errors.Is(cause, errTaskGone) {
			return // the run finished or the task was cancelled: nothing to record
		} else if s.actCtx.Err() != nil {
			s.e.attemptInterrupted(t) // shutting down: the attempt runs again at once
			return
		}
	}
	s.e.attemptFailed(t, opts, failure.FromError(err), t.StartedAt)
}

var errTaskGone = errors.New("activity task no longer exists")

// pendingTimeoutKind tells which timeout set the deadline of an attempt
// waiting for completion by task token.
func pendingTimeoutKind(t *store.ActivityTask, o history.ActivityOptions) string {
	switch {
	case o.StartToCloseTimeout > 0 && t.Deadline.Equal(t.StartedAt.Add(o.StartToCloseTimeout)):
		return "StartToClose"
	case o.ScheduleToCloseTimeout > 0 && t.Deadline.Equal(t.ScheduledAt.Add(o.ScheduleToCloseTimeout)):
		return "ScheduleToClose"
	case o.HeartbeatTimeout > 0:
		return "Heartbeat"
	}
	return "StartToClose"
}

func attemptDeadline(t *store.ActivityTask, o history.ActivityOptions) (time.Time, string) {
	var d time.Time
	kind := ""
	if o.StartToCloseTimeout > 0 {
		d, kind = t.StartedAt.Add(o.StartToCloseTimeout), "StartToClose"
	}
	if o.ScheduleToCloseTimeout > 0 {
		if sd := t.ScheduledAt.Add(o.ScheduleToCloseTimeout); d.IsZero() || sd.Before(d) {
			d, kind = sd, "ScheduleToClose"
		}
	}
	return d, kind
}

func callActivity(ctx context.Context, fn ActivityFunc, in []byte) (out []byte, err error) {
	defer func() {
		if rec := recover(); rec != nil {
			err = &failure.ApplicationError{Type: failure.TypePanic, Message: fmt.Sprintf("activity panicked: %v", rec), Stack: string(debug.Stack())}
		}
	}()
	return fn(ctx, in)
}

// finish commits op and runs the workflow task the result wakes at once:
// computed beforehand from the run's cached runner and committed in the
// same transaction (fused), or else leased in it (eager), when a worker of
// this engine has a free workflow task slot.
//
// d is the data op.Message was encoded from.
func (e *Engine) finish(op *store.ActivityTaskFinishOp, d *history.Data, spare *spareSlot) error {
	if f := e.fuseResult(op.RunID, history.MessageEvent(&op.Message, d), op.Now, spare); f != nil {
		op.Then = f.op
		op.Eager = f.s.eager(op.Now, f.s.wfNames)
		err := e.apply1(op)
		f.done(op.ThenApplied, op.Claimed, err)
		return err
	}
	es := e.eagerWorkflow("", "")
	if es != nil {
		op.Eager = es.eager(op.Now, es.wfNames)
	}
	err := e.apply1(op)
	if es != nil {
		es.runEager(op.Claimed, err)
	}
	return err
}

func (e *Engine) attemptSucceeded(t *store.ActivityTask, out []byte, now time.Time, spare *spareSlot) {
	attempts := append(decodeAttempts(t.Attempts), history.Attempt{Attempt: t.Attempt, StartedAt: t.StartedAt, EndedAt: now})
	d := &history.Data{Seq: t.Seq, Name: t.Name, Result: out, Attempts: trim(attempts)}
	msg := history.Message(history.TaskCompleted, d, now, false)
	err := e.finish(&store.ActivityTaskFinishOp{RunID: t.RunID, Seq: t.Seq, Attempt: t.Attempt, Message: msg, Now: now}, d, spare)
	if err != nil && !errors.Is(err, store.ErrStaleTask) && !errors.Is(err, store.ErrNotFound) {
		e.log.Error("record activity result", "activity", t.Name, "instance_id", t.InstanceID, "error", err)
	}
	e.cfg.Observer.ActivityAttempt(t.Name, "completed", now.Sub(t.StartedAt))
}

// attemptInterrupted makes a task whose attempt a graceful shutdown cut
// short READY again at once. The attempt is logged but is not a failure of
// the activity: the retry policy is not applied, as the activity did not
// fail. (A lost lease, after a crash, counts as a failed attempt.)
func (e *Engine) attemptInterrupted(t *store.ActivityTask) {
	now := e.Now()
	f := &failure.Failure{Type: failure.TypeWorkerLost,
		Message: fmt.Sprintf("attempt %d was interrupted: the worker running it shut down", t.Attempt)}
	attempts := append(decodeAttempts(t.Attempts), history.Attempt{Attempt: t.Attempt, StartedAt: t.StartedAt, EndedAt: now, Failure: f, NextRetryAt: now})
	err := e.apply1(&store.ActivityTaskRetryOp{RunID: t.RunID, Seq: t.Seq, Attempt: t.Attempt, VisibleAt: now,
		LastFailure: failure.Encode(f), Attempts: encodeAttempts(attempts)})
	if err != nil && !errors.Is(err, store.ErrStaleTask) && !errors.Is(err, store.ErrNotFound) {
		e.log.Error("record interrupted activity", "activity", t.Name, "instance_id", t.InstanceID, "error", err)
	}
}

func trim(a []history.Attempt) []history.Attempt {
	if len(a) > maxAttemptLog {
		return a[len(a)-maxAttemptLog:]
	}
	return a
}

// attemptFailed applies the retry policy to a failed attempt: the task is
// retried after its backoff, or fails in its workflow.
func (e *Engine) attemptFailed(t *store.ActivityTask, o history.ActivityOptions, f *failure.Failure, startedAt time.Time) {
	e.recordFailure(t, o, f, startedAt, false, time.Time{})
}

func (e *Engine) recordFailure(t *store.ActivityTask, o history.ActivityOptions, f *failure.Failure, startedAt time.Time, byToken bool, now time.Time) error {
	if now.IsZero() {
		now = e.Now()
	}
	attempts := decodeAttempts(t.Attempts)
	rec := history.Attempt{Attempt: t.Attempt, StartedAt: startedAt, EndedAt: now, Failure: f}
	retry := o.Retryable(f.Type, f.NonRetryable, t.Attempt)
	next := now.Add(o.Backoff(t.Attempt))
	if retry && o.ScheduleToCloseTimeout > 0 && !next.Before(t.ScheduledAt.Add(o.ScheduleToCloseTimeout)) {
		retry = false
	}
	var op store.Op
	var d *history.Data // the failure's message data
	if retry {
		rec.NextRetryAt = next
		attempts = append(attempts, rec)
		op = &store.ActivityTaskRetryOp{RunID: t.RunID, Seq: t.Seq, Attempt: t.Attempt, VisibleAt: next,
			LastFailure: failure.Encode(f), Attempts: encodeAttempts(attempts)}
	} else {
		attempts = append(attempts, rec)
		final := *f
		final.ActivityName, final.Attempts = t.Name, t.Attempt
		d = &history.Data{Seq: t.Seq, Name: t.Name, Failure: &final, Attempts: trim(attempts)}
		msg := history.Message(history.TaskFailed, d, now, false)
		op = &store.ActivityTaskFinishOp{RunID: t.RunID, Seq: t.Seq, Attempt: t.Attempt, Message: msg, RequireUnexpired: byToken, Now: now}
	}
	var err error
	if f, ok := op.(*store.ActivityTaskFinishOp); ok {
		err = e.finish(f, d, nil)
	} else {
		err = e.apply1(op)
	}
	if err != nil && !byToken && !errors.Is(err, store.ErrStaleTask) && !errors.Is(err, store.ErrNotFound) {
		e.log.Error("record activity failure", "activity", t.Name, "instance_id", t.InstanceID, "error", err)
	}
	if err == nil {
		outcome := "failed"
		switch {
		case retry:
			outcome = "retried"
		case f.Type == failure.TypeWorkerLost:
			outcome = "lost"
		}
		e.cfg.Observer.ActivityAttempt(t.Name, outcome, now.Sub(startedAt))
	}
	if err == nil && retry {
		e.log.Warn("activity attempt failed; retrying", "activity", t.Name, "instance_id", t.InstanceID,
			"attempt", t.Attempt, "retry_at", next, "error", f.Message)
	}
	return err
}

// heartbeater renews the attempt's lease and persists heartbeat details,
// and enforces the heartbeat timeout.
type heartbeater struct {
	s       *server
	t       *store.ActivityTask
	opts    history.ActivityOptions
	cancel  context.CancelCauseFunc
	mu      sync.Mutex
	details []byte
	dirty   bool
	last    time.Time // last heartbeat (engine clock)
}

func (h *heartbeater) record(details []byte) {
	h.mu.Lock()
	if details != nil {
		h.details, h.dirty = details, true
	}
	h.last = h.s.e.clk.Now()
	h.mu.Unlock()
}

func (h *heartbeater) start(ctx context.Context) (stop func()) {
	lease := h.s.e.cfg.LeaseDuration
	interval := lease / 3
	if h.opts.HeartbeatTimeout > 0 && h.opts.HeartbeatTimeout/2 < interval {
		interval = h.opts.HeartbeatTimeout / 2
	}
	if interval < 10*time.Millisecond {
		interval = 10 * time.Millisecond
	}
	// Nothing runs until an interval has passed: most attempts end
	// sooner, and their stop only writes the details recorded since the
	// last flush. Each tick arms the next.
	var (
		mu      sync.Mutex
		stopped bool
		disarm  func() bool
		ticking sync.WaitGroup
	)
	var tick func()
	tick = func() {
		mu.Lock()
		if stopped || ctx.Err() != nil {
			mu.Unlock()
			return
		}
		ticking.Add(1)
		mu.Unlock()
		defer ticking.Done()
		h.mu.Lock()
		since := h.s.e.clk.Now().Sub(h.last)
		h.mu.Unlock()
		if h.opts.HeartbeatTimeout > 0 && since > h.opts.HeartbeatTimeout {
			h.cancel(&failure.TimeoutError{Kind: "Heartbeat", Message: fmt.Sprintf(
				"activity %q attempt %d sent no heartbeat for %s (heartbeat timeout)", h.t.Name, h.t.Attempt, h.opts.HeartbeatTimeout)})
			return
		}
		h.flush(true)
		mu.Lock()
		if !stopped {
			disarm = h.s.e.clk.AfterFunc(interval, tick)
		}
		mu.Unlock()
	}
	mu.Lock()
	disarm = h.s.e.clk.AfterFunc(interval, tick)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		d := disarm
		mu.Unlock()
		d()
		ticking.Wait() // a tick under way ends before the attempt's outcome is written
		if ctx.Err() == nil {
			h.flush(false)
		}
	}
}

// flush persists details (if changed) and, when renew is set, the lease.
func (h *heartbeater) flush(renew bool) {
	h.mu.Lock()
	details, dirty := h.details, h.dirty
	h.dirty = false
	h.mu.Unlock()
	if !dirty && !renew {
		return
	}
	op := &store.ActivityTaskHeartbeatOp{RunID: h.t.RunID, Seq: h.t.Seq, Attempt: h.t.Attempt}
	if dirty {
		op.Details = details
	}
	op.LeaseUntil = h.s.e.Now().Add(h.s.e.cfg.LeaseDuration)
	err := h.s.e.apply1(op)
	if errors.Is(err, store.ErrStaleTask) || errors.Is(err, store.ErrNotFound) {
		h.cancel(errTaskGone)
	}
}
