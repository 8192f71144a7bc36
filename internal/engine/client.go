package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/store"
)

// StartRequest starts a workflow instance.
type StartRequest struct {
	InstanceID string // "" generates one
	Name       string
	Input      []byte
	StartAt    time.Time // zero: now
	TaskQueue  string
}

// Start creates an instance (or returns the running one for an idempotent
// retry); see store.RunCreateOp for the id semantics. created is false when
// an identical start was already running.
func (e *Engine) Start(ctx context.Context, req StartRequest) (run *store.Run, created bool, err error) {
	if req.Name == "" {
		return nil, false, errors.New("start: the workflow name is empty")
	}
	if req.InstanceID == "" {
		req.InstanceID = newID()
	}
	now := e.Now()
	visible := now
	if !req.StartAt.IsZero() && req.StartAt.After(now) {
		visible = req.StartAt.UTC().Truncate(time.Microsecond)
	}
	runID := newID()
	start := &history.Data{Name: req.Name, Input: req.Input, InstanceID: req.InstanceID, RunID: runID}
	op := &store.RunCreateOp{
		Run: store.Run{InstanceID: req.InstanceID, RunID: runID, Name: req.Name, Status: store.StatusPending,
			Input: req.Input, TaskQueue: req.TaskQueue, CreatedAt: now, UpdatedAt: now},
		Start: history.Message(history.ExecutionStarted, start, visible, false),
	}
	var es *server
	var f *fused
	var after func(applied bool, claimed *store.WorkflowTask, err error)
	if visible.Equal(now) {
		// The first workflow task runs before the start's commit and is
		// committed with it (fused), or is leased in it (eager).
		if es = e.eagerWorkflow(req.Name, req.TaskQueue); es != nil {
			f = es.fuseStart(op, start, now)
			op.Eager = es.eager(now, nil)
		} else if h := e.startHook.Load(); h != nil {
			after = (*h)(op, start, now)
		}
	}
	err = e.apply1(op)
	switch {
	case f != nil:
		f.done(op.ThenApplied, op.Claimed, err)
	case es != nil:
		es.runEager(op.Claimed, err)
	case after != nil:
		after(op.ThenApplied, op.Claimed, err)
	}
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, false, fmt.Errorf("instance %q is already running with a different workflow or input: "+
				"wait for it to finish, terminate it, or use another instance id: %w", req.InstanceID, err)
		}
		return nil, false, err
	}
	if op.Created {
		e.cfg.Observer.WorkflowStarted(req.Name)
	}
	return op.Result, op.Created, nil
}

// RaiseEvent delivers an external event to the instance's current run.
func (e *Engine) RaiseEvent(ctx context.Context, instanceID, name string, input []byte) error {
	if name == "" {
		return errors.New("raise event: the event name is empty")
	}
	return e.send(instanceID, history.Message(history.EventRaised, &history.Data{Name: name, Input: input}, e.Now(), false))
}

// Terminate ends the instance's current run with status TERMINATED; with
// recursive, its running children are terminated too.
func (e *Engine) Terminate(ctx context.Context, instanceID, reason string, recursive bool) error {
	return e.send(instanceID, history.Message(history.ExecutionTerminated, &history.Data{Reason: reason, Recursive: recursive}, e.Now(), true))
}

// Suspend pauses the instance: it keeps receiving events but does not run
// until resumed.
func (e *Engine) Suspend(ctx context.Context, instanceID, reason string) error {
	run, err := e.st.RunGet(ctx, instanceID, "")
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no workflow instance %q: %w", instanceID, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	if run.Status == store.StatusSuspended {
		return nil
	}
	return e.send(instanceID, history.Message(history.ExecutionSuspended, &history.Data{Reason: reason}, e.Now(), false))
}

// Resume continues a suspended instance.
func (e *Engine) Resume(ctx context.Context, instanceID, reason string) error {
	return e.send(instanceID, history.Message(history.ExecutionResumed, &history.Data{Reason: reason}, e.Now(), true))
}

func (e *Engine) send(instanceID string, m store.Message) error {
	if m.Type != history.ExecutionTerminated { // only a terminate may precede the start
		m.VisibleAt = e.notBeforeStart(instanceID, m.VisibleAt)
	}
	op := &store.MessageSendOp{InstanceID: instanceID, Message: m}
	if err := e.apply1(op); err != nil {
		switch {
		case errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("no workflow instance %q: %w", instanceID, store.ErrNotFound)
		case errors.Is(err, store.ErrNotRunning):
			return fmt.Errorf("workflow instance %q has already finished: %w", instanceID, store.ErrNotRunning)
		}
		return err
	}
	return nil
}

// notBeforeStart delays a message to an instance whose start is scheduled
// later, so that it cannot make the run claimable (and be recorded) before
// its ExecutionStarted.
func (e *Engine) notBeforeStart(instanceID string, t time.Time) time.Time {
	run, err := e.st.RunGet(context.Background(), instanceID, "")
	if err != nil || run.Status != store.StatusPending {
		return t
	}
	if start := e.startTime(run.RunID, t); start.After(t) {
		return start
	}
	return t
}

// startTime is when the ExecutionStarted message of a run that has not
// started becomes visible; otherwise (started, or unknown) it is def.
func (e *Engine) startTime(runID string, def time.Time) time.Time {
	msgs, err := e.st.MessageList(context.Background(), runID)
	if err != nil {
		return def
	}
	for _, m := range msgs {
		if m.Type == history.ExecutionStarted {
			return m.VisibleAt
		}
	}
	return def
}

// Purge deletes finished instances.
func (e *Engine) Purge(ctx context.Context, p *store.PurgeParams) (int, error) {
	return e.st.Purge(ctx, p)
}

// WaitForCompletion blocks until the instance's current run has finished
// with a status other than CONTINUED_AS_NEW (following continue-as-new), or
// ctx is done.
func (e *Engine) WaitForCompletion(ctx context.Context, instanceID string) (*store.Run, error) {
	for first := true; ; first = false {
		run, done, err := e.waitOnce(ctx, instanceID, first)
		if done || err != nil {
			return run, err
		}
	}
}

// waitOnce reads the instance and, while it has not finished, waits for a
// run of it to finish here or for the poll interval. The first wait on an
// instance in flight here skips the read (see Engine.inflight).
func (e *Engine) waitOnce(ctx context.Context, instanceID string, first bool) (*store.Run, bool, error) {
	w, inflight, release := e.instanceChan(instanceID)
	defer release()
	if !first || !inflight {
		run, err := e.st.RunGet(ctx, instanceID, "")
		if err != nil {
			return nil, true, err
		}
		if run.Status.Finished() && run.Status != store.StatusContinuedAsNew {
			return run, true, nil
		}
	}
	c, stop := e.clk.After(e.cfg.CompletionPoll)
	defer stop()
	select {
	case <-w.ch:
		// The run as its finishing commit left it, when the store said:
		// no need to read it again.
		if r := w.run; r != nil && r.InstanceID == instanceID && r.Status.Finished() && r.Status != store.StatusContinuedAsNew {
			run := *r
			return &run, true, nil
		}
	case <-c:
	case <-ctx.Done():
		return nil, true, ctx.Err()
	}
	return nil, false, nil
}

// WaitForStart blocks until the instance's current run is no longer PENDING.
func (e *Engine) WaitForStart(ctx context.Context, instanceID string) (*store.Run, error) {
	tick := 5 * time.Millisecond
	for {
		run, err := e.st.RunGet(ctx, instanceID, "")
		if err != nil {
			return nil, err
		}
		if run.Status != store.StatusPending {
			return run, nil
		}
		c, stop := e.clk.After(tick)
		select {
		case <-e.wakeChan():
		case <-c:
		case <-ctx.Done():
			stop()
			return nil, ctx.Err()
		}
		stop()
		if tick < 200*time.Millisecond {
			tick *= 2
		}
	}
}

// History returns a run's decoded history.
func (e *Engine) History(ctx context.Context, runID string) ([]*history.Event, error) {
	return e.loadHistory(ctx, runID, history.Decode)
}

// ErrTokenRejected wraps store.ErrStaleTask for completions by token.
var ErrTokenRejected = errors.New("activity task token rejected")

func (e *Engine) tokenTask(ctx context.Context, token string) (Token, *store.ActivityTask, error) {
	tok, err := DecodeToken(token)
	if err != nil {
		return tok, nil, err
	}
	t, err := e.st.ActivityTaskGet(ctx, tok.RunID, tok.Seq)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return tok, nil, fmt.Errorf("%w: activity step %d of instance %q has already finished or its workflow ended (%w)",
				ErrTokenRejected, tok.Seq, tok.InstanceID, store.ErrStaleTask)
		}
		return tok, nil, err
	}
	if t.Attempt != tok.Attempt || t.State == store.ActivityReady {
		return tok, nil, fmt.Errorf("%w: the token is for attempt %d of activity %q, which timed out or failed; the activity is now at attempt %d (%w)",
			ErrTokenRejected, tok.Attempt, t.Name, t.Attempt, store.ErrStaleTask)
	}
	if !t.Deadline.IsZero() && !e.Now().Before(t.Deadline) {
		return tok, nil, fmt.Errorf("%w: attempt %d of activity %q timed out at %s (%w)",
			ErrTokenRejected, tok.Attempt, t.Name, t.Deadline.Format(time.RFC3339Nano), store.ErrStaleTask)
	}
	return tok, t, nil
}

func rejected(err error, tok Token) error {
	if errors.Is(err, store.ErrStaleTask) && !errors.Is(err, ErrTokenRejected) {
		return fmt.Errorf("%w: attempt %d of activity step %d of instance %q finished or timed out meanwhile (%w)",
			ErrTokenRejected, tok.Attempt, tok.Seq, tok.InstanceID, err)
	}
	return err
}

// CompleteActivity completes an activity attempt by task token.
func (e *Engine) CompleteActivity(ctx context.Context, token string, result []byte) error {
	tok, t, err := e.tokenTask(ctx, token)
	if err != nil {
		return err
	}
	now := e.Now()
	attempts := append(decodeAttempts(t.Attempts), history.Attempt{Attempt: t.Attempt, StartedAt: t.StartedAt, EndedAt: now})
	d := &history.Data{Seq: t.Seq, Name: t.Name, Result: result, Attempts: trim(attempts)}
	msg := history.Message(history.TaskCompleted, d, now, false)
	err = e.finish(&store.ActivityTaskFinishOp{RunID: t.RunID, Seq: t.Seq, Attempt: tok.Attempt, Message: msg, RequireUnexpired: true, Now: now}, d, nil)
	return rejected(err, tok)
}

// FailActivity fails an activity attempt by task token; the retry policy
// decides whether it runs again.
func (e *Engine) FailActivity(ctx context.Context, token string, cause error) error {
	tok, t, err := e.tokenTask(ctx, token)
	if err != nil {
		return err
	}
	if cause == nil {
		cause = errors.New("failed by task token")
	}
	return rejected(e.recordFailure(t, decodeOptions(t.Options), failure.FromError(cause), t.StartedAt, true, time.Time{}), tok)
}

// HeartbeatActivity records progress of an attempt by task token and
// extends its heartbeat deadline.
func (e *Engine) HeartbeatActivity(ctx context.Context, token string, details []byte) error {
	tok, t, err := e.tokenTask(ctx, token)
	if err != nil {
		return err
	}
	now := e.Now()
	op := &store.ActivityTaskHeartbeatOp{RunID: t.RunID, Seq: t.Seq, Attempt: tok.Attempt, Details: details,
		RequireUnexpired: true, Now: now, LeaseUntil: t.LeaseUntil}
	if o := decodeOptions(t.Options); o.HeartbeatTimeout > 0 && t.State == store.ActivityPending {
		op.Deadline = now.Add(o.HeartbeatTimeout)
	}
	return rejected(e.apply1(op), tok)
}
