package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/internal/replay"
	"github.com/perdure/perdure/store"
)

// runWorkflowTask runs a leased workflow task, then the run's next one
// for as long as each commit leases the run again (messages arrived while
// it ran).
func (s *server) runWorkflowTask(t *store.WorkflowTask) {
	for t != nil {
		t = s.workflowTask(t)
	}
}

// workflowTask advances one run: it takes the run's live runner from the
// cache (or rebuilds it by replaying history), applies the new messages,
// and commits the resulting events, tasks and messages in one operation.
// The activities it schedules are leased in that operation to workers of
// this engine with free slots and started right after it (eager dispatch).
// It returns the run's next task when the commit leased the run again.
func (s *server) workflowTask(t *store.WorkflowTask) *store.WorkflowTask {
	run := t.Run
	began := time.Now()
	replayed, failed := false, true
	defer func() { s.e.cfg.Observer.WorkflowTask(run.Name, replayed, failed, time.Since(began)) }()
	fn, ok := s.reg.Workflow(run.Name)
	if !ok {
		s.abandon(t, fmt.Errorf("workflow %q is not registered on this worker", run.Name))
		return nil
	}
	r, _ := s.e.cache.take(run.RunID)
	if r != nil && r.HistoryLen() != run.HistoryLen {
		r.Close()
		r = nil
	}
	if r == nil {
		replayed = run.HistoryLen > 0
		var err error
		if r, err = s.rebuild(run, fn); err != nil {
			s.abandon(t, err)
			return nil
		}
	}
	now := s.e.Now()
	inOrderOfArrival(t.Messages)
	events := make([]*history.Event, 0, len(t.Messages))
	for _, m := range t.Messages {
		ev, err := history.DecodeMessage(m)
		if err != nil {
			r.Close()
			s.abandon(t, err)
			return nil
		}
		ev.Time = now
		events = append(events, ev)
	}
	res, err := r.Step(events)
	if err != nil {
		r.Close()
		s.abandon(t, err)
		return nil
	}
	if res.Consumed == 0 && res.Status == store.StatusPending {
		// Only messages that must wait for the run's start, which is not
		// visible yet: park the run until then rather than claim it again
		// and again.
		r.Close()
		failed = false
		s.park(t, s.e.startTime(run.RunID, now.Add(s.e.cfg.WorkflowTaskRetry)))
		return nil
	}
	op, err := s.buildCommit(t, r, events, res, now)
	if err != nil {
		r.Close()
		s.abandon(t, err)
		return nil
	}
	eager := s.eagerActivities(op, now, nil)
	if !op.Status.Finished() {
		op.Eager = s.eager(now, nil)
	}
	if err := s.e.apply1(op); err != nil {
		r.Close()
		eager.release()
		if !errors.Is(err, store.ErrLeaseLost) {
			s.log.Error("commit workflow task", "instance_id", run.InstanceID, "run_id", run.RunID, "error", err)
		}
		return nil
	}
	failed = false
	return s.committed(op, r, run, now, eager)
}

// committed follows a workflow task's commit: the runner goes back to the
// cache (unless the run finished or only waits long), the activities leased
// in the commit start, and the run's next task, if the commit leased one,
// is returned.
func (s *server) committed(op *store.WorkflowTaskCommitOp, r *replay.Runner, run *store.Run, now time.Time, eager eagerTasks) *store.WorkflowTask {
	r.SetHistoryLen(run.HistoryLen + int64(len(op.NewEvents)))
	if op.Status.Finished() {
		eager.release() // a finishing commit creates no activity task
		s.e.cfg.Observer.WorkflowFinished(run.Name, op.Status, now.Sub(run.CreatedAt))
		r.Close()
		return nil
	}
	if h := s.e.cfg.IdleHorizon; h > 0 && op.Claimed == nil && r.OnlyWaitsLong(now, h) {
		r.Close() // only waiting: no memory until it wakes
	} else {
		// Cached before the activities start, so that their results find
		// the runner.
		stored := *run
		stored.HistoryLen = r.HistoryLen()
		if op.Status != "" {
			stored.Status = op.Status
		}
		s.e.cache.put(run.RunID, r, &stored)
	}
	eager.start()
	return op.Claimed
}

// fused is a workflow task computed from a live runner before the commit
// that makes it (an activity result, or a start), to be committed with it.
type fused struct {
	s     *server
	r     *replay.Runner
	run   *store.Run
	op    *store.WorkflowTaskCommitOp
	eager eagerTasks
	now   time.Time
	began time.Time
}

// fuseResult computes, when the run's runner is cached and a worker of
// this engine has a free workflow task slot for it, the workflow task that
// applies the message event ev at now; nil otherwise. spare, when not nil,
// is the slot of the attempt whose result ev is (see spareSlot).
func (e *Engine) fuseResult(runID string, ev *history.Event, now time.Time, spare *spareSlot) *fused {
	r, run := e.cache.take(runID)
	if r == nil {
		return nil
	}
	if r.Outstanding() != 1 {
		// Other results may arrive at the same time (a fan-out): one task
		// that takes them all beats a task per result.
		e.cache.put(runID, r, run)
		return nil
	}
	s := e.eagerWorkflow(run.Name, run.TaskQueue)
	if s == nil {
		e.cache.put(runID, r, run)
		return nil
	}
	if f := s.fuse(r, run, ev, now, spare); f != nil {
		return f
	}
	s.wf.release()
	return nil
}

// fuse steps runner r of run with the message event ev; nil (r closed)
// when the step does not apply ev alone.
func (s *server) fuse(r *replay.Runner, run *store.Run, ev *history.Event, now time.Time, spare *spareSlot) *fused {
	began := time.Now()
	ev.Time = now
	events := []*history.Event{ev}
	res, err := r.Step(events)
	if err != nil || res.Consumed != 1 {
		r.Close() // the regular task will report what went wrong
		return nil
	}
	t := &store.WorkflowTask{Run: run, Messages: []*store.Message{{}}, LeaseOwner: s.owner}
	op, err := s.buildCommit(t, r, events, res, now)
	if err != nil {
		r.Close()
		return nil
	}
	op.Consumed = nil
	f := &fused{s: s, r: r, run: run, op: op, now: now, began: began}
	f.eager = s.eagerActivities(op, now, spare)
	if !op.Status.Finished() {
		op.Eager = s.eager(now, nil)
	}
	return f
}

// fuseStart computes the first workflow task of the run op creates (start
// is the data op.Start was encoded from) and sets it as op.Then; nil when
// the workflow cannot run here.
func (s *server) fuseStart(op *store.RunCreateOp, start *history.Data, now time.Time) *fused {
	fn, ok := s.reg.Workflow(op.Run.Name)
	if !ok {
		return nil
	}
	run := op.Run
	run.Status, run.Current, run.HistoryLen = store.StatusPending, true, 0
	r := replay.NewRunner(replay.Info{InstanceID: run.InstanceID, RunID: run.RunID, Name: run.Name, ParentInstanceID: run.ParentInstanceID,
		PreviousRunID: run.PreviousRunID, TaskQueue: run.TaskQueue, CreatedAt: run.CreatedAt}, fn, s.codec, s.log)
	f := s.fuse(r, &run, history.MessageEvent(&op.Start, start), now, nil)
	if f != nil {
		op.Then = f.op
	}
	return f
}

// done follows the commit of the op that carried f: when the store
// committed f with it, as committed; otherwise the runner, now ahead of the
// run, is dropped. The slot taken for f runs claimed (the op's eager
// lease, when f was not committed) or the fused commit's next task, or is
// given back.
func (f *fused) done(applied bool, claimed *store.WorkflowTask, err error) {
	s := f.s
	if err != nil || !applied {
		f.r.Close()
		f.eager.release()
	} else {
		claimed = s.committed(f.op, f.r, f.run, f.now, f.eager)
		s.e.cfg.Observer.WorkflowTask(f.run.Name, false, false, time.Since(f.began))
	}
	s.runEager(claimed, err)
}

// eagerTasks are the activity tasks of one commit leased to workers of
// this engine, each with a slot taken.
type eagerTasks []eagerTask

type eagerTask struct {
	s     *server
	t     *store.ActivityTask
	spare *spareSlot // the slot it took, when it took one handed on
}

// eagerActivities leases, in op, each new activity that a worker of this
// engine serves and has a free slot for: the task is created RUNNING in its
// first attempt. The first one that spare's worker serves takes spare.
func (s *server) eagerActivities(op *store.WorkflowTaskCommitOp, now time.Time, spare *spareSlot) eagerTasks {
	var out eagerTasks
	for _, a := range op.NewActivities {
		if a.VisibleAt.After(now) {
			continue
		}
		et := eagerTask{t: a}
		if spare != nil && !spare.taken && spare.s.servesActivity(a.Name, a.TaskQueue) {
			et.s, et.spare, spare.taken = spare.s, spare, true
		} else if et.s = s.e.eagerActivity(a.Name, a.TaskQueue); et.s == nil {
			continue
		}
		a.State, a.Attempt, a.StartedAt = store.ActivityRunning, 1, now
		a.LeaseOwner, a.LeaseUntil = et.s.owner, now.Add(s.e.cfg.LeaseDuration)
		out = append(out, et)
	}
	return out
}

func (ts eagerTasks) release() {
	for _, et := range ts {
		et.s.act.release()
	}
}

// start runs each task on a goroutine of its own, except the one that
// took a slot handed on, which the goroutine of that slot runs next.
func (ts eagerTasks) start() {
	for _, et := range ts {
		c := &store.ClaimedActivity{Task: et.t}
		if et.spare != nil {
			et.spare.next = c
			continue
		}
		et.s.act.run(func() bool { return et.s.runActivity(c) })
	}
}

// park releases a run that had nothing to do, so that it is not claimed
// again before at.
func (s *server) park(t *store.WorkflowTask, at time.Time) {
	err := s.e.apply1(&store.WorkflowTaskAbandonOp{RunID: t.Run.RunID, LeaseOwner: t.LeaseOwner,
		TaskError: t.Run.TaskError, RetryAt: at, UpdatedAt: t.Run.UpdatedAt})
	if err != nil && !errors.Is(err, store.ErrLeaseLost) {
		s.log.Error("release workflow task", "instance_id", t.Run.InstanceID, "error", err)
	}
}

// inOrderOfArrival sorts a task's messages by the time they became visible
// (what they report happened first), keeping insertion order for equal
// times, with the run's start first. Messages are stored in insertion order,
// which is not the order of events: a timer's message is written when the
// timer is created, long before it fires, so an event or an activity result
// that arrived before the timer fired would otherwise be applied after it
// whenever both reach one workflow task. The order applied is recorded in
// history, so replays see the same order.
func inOrderOfArrival(msgs []*store.Message) {
	slices.SortStableFunc(msgs, func(a, b *store.Message) int {
		as, bs := a.Type == history.ExecutionStarted, b.Type == history.ExecutionStarted
		switch {
		case as && !bs:
			return -1
		case bs && !as:
			return 1
		}
		return a.VisibleAt.Compare(b.VisibleAt)
	})
}

// rebuild creates a runner for run and replays its stored history.
func (s *server) rebuild(run *store.Run, fn replay.Func) (*replay.Runner, error) {
	info := replay.Info{InstanceID: run.InstanceID, RunID: run.RunID, Name: run.Name,
		ParentInstanceID: run.ParentInstanceID, PreviousRunID: run.PreviousRunID, TaskQueue: run.TaskQueue, CreatedAt: run.CreatedAt}
	r := replay.NewRunner(info, fn, s.codec, s.log)
	if run.HistoryLen == 0 {
		return r, nil
	}
	events, err := s.e.loadHistory(context.Background(), run.RunID, history.DecodeForReplay)
	if err != nil {
		r.Close()
		return nil, err
	}
	if err := r.Replay(events); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// loadHistory reads and decodes a run's whole history with decode
// (history.Decode, or history.DecodeForReplay for a replay).
func (e *Engine) loadHistory(ctx context.Context, runID string, decode func(*store.Event) (*history.Event, error)) ([]*history.Event, error) {
	// Pages are read on another goroutine while the previous one is
	// decoded: a long history costs about the larger of the two, not both.
	const pageSize = 1000
	type page struct {
		events []*store.Event
		err    error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan page, 1)
	go func() {
		defer close(pages)
		var after int64
		for {
			p, err := e.st.HistoryGet(ctx, &store.HistoryGetParams{RunID: runID, AfterID: after, Limit: pageSize})
			select {
			case pages <- page{p, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(p) < pageSize {
				return
			}
			after = p[len(p)-1].ID
		}
	}()
	var out []*history.Event
	for pg := range pages {
		if pg.err != nil {
			return nil, fmt.Errorf("load history of run %s: %w", runID, pg.err)
		}
		for _, se := range pg.events {
			ev, err := decode(se)
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
	}
	return out, nil
}

// abandon releases a run after a failed workflow task; it is retried later.
// A terminate request among the task's messages is carried out all the
// same: code that cannot run must not keep a run from being terminated.
func (s *server) abandon(t *store.WorkflowTask, cause error) {
	if s.terminateWithoutCode(t, cause) {
		return
	}
	s.log.Error("workflow task failed; it will be retried", "instance_id", t.Run.InstanceID,
		"workflow", t.Run.Name, "retry_in", s.e.cfg.WorkflowTaskRetry, "error", cause)
	now := s.e.Now()
	err := s.e.apply1(&store.WorkflowTaskAbandonOp{RunID: t.Run.RunID, LeaseOwner: t.LeaseOwner,
		TaskError: cause.Error(), RetryAt: now.Add(s.e.cfg.WorkflowTaskRetry), UpdatedAt: now})
	if err != nil && !errors.Is(err, store.ErrLeaseLost) {
		s.log.Error("release failed workflow task", "instance_id", t.Run.InstanceID, "error", err)
	}
}

// terminateWithoutCode ends a run whose workflow task failed when the task
// carries a terminate request: the run is terminated from its stored
// history alone, with its running children (those started and not answered
// in history or in the inbox). It reports whether it did.
func (s *server) terminateWithoutCode(t *store.WorkflowTask, cause error) bool {
	run := t.Run
	var term *history.Event
	var termID int64
	answered := map[int64]bool{}
	for _, m := range t.Messages {
		ev, err := history.DecodeMessage(m)
		if err != nil {
			continue
		}
		switch ev.Type {
		case history.ExecutionTerminated:
			if term == nil {
				term, termID = ev, m.ID
			}
		case history.SubOrchestrationInstanceCompleted, history.SubOrchestrationInstanceFailed:
			answered[ev.Seq] = true
		}
	}
	if term == nil {
		return false
	}
	evs, err := s.e.loadHistory(context.Background(), run.RunID, history.DecodeForReplay)
	if err != nil {
		s.log.Error("terminate a run whose workflow task fails", "instance_id", run.InstanceID, "error", err)
		return false
	}
	var children []string
	for _, ev := range evs {
		if ev.Type == history.SubOrchestrationInstanceCompleted || ev.Type == history.SubOrchestrationInstanceFailed {
			answered[ev.Seq] = true
		}
	}
	for _, ev := range evs {
		if ev.Type == history.SubOrchestrationInstanceCreated && !answered[ev.Seq] {
			children = append(children, ev.InstanceID)
		}
	}
	now := s.e.Now()
	term.Time = now
	comp := replay.Terminated(term)
	comp.Time = now
	op := &store.WorkflowTaskCommitOp{InstanceID: run.InstanceID, RunID: run.RunID, LeaseOwner: t.LeaseOwner,
		HistoryLen: run.HistoryLen, UpdatedAt: now, Consumed: []int64{termID}}
	info := replay.Info{InstanceID: run.InstanceID, RunID: run.RunID, Name: run.Name, ParentInstanceID: run.ParentInstanceID,
		PreviousRunID: run.PreviousRunID, TaskQueue: run.TaskQueue, CreatedAt: run.CreatedAt}
	completeRun(op, info, children, nil, comp, now, run)
	for i, ev := range []*history.Event{term, comp} {
		ev.ID = run.HistoryLen + int64(i) + 1
		se, err := ev.Encode()
		if err != nil {
			return false
		}
		op.NewEvents = append(op.NewEvents, se)
	}
	if err := s.e.apply1(op); err != nil {
		if !errors.Is(err, store.ErrLeaseLost) {
			s.log.Error("terminate a run whose workflow task fails", "instance_id", run.InstanceID, "error", err)
		}
		return false
	}
	s.log.Warn("workflow terminated without running its code, which fails", "instance_id", run.InstanceID,
		"workflow", run.Name, "error", cause)
	s.e.cfg.Observer.WorkflowFinished(run.Name, op.Status, now.Sub(run.CreatedAt))
	return true
}

// buildCommit turns a step's result into one store operation.
func (s *server) buildCommit(t *store.WorkflowTask, r *replay.Runner, events []*history.Event, res *replay.Result, now time.Time) (*store.WorkflowTaskCommitOp, error) {
	run := t.Run
	op := &store.WorkflowTaskCommitOp{
		InstanceID: run.InstanceID, RunID: run.RunID, LeaseOwner: t.LeaseOwner,
		HistoryLen: run.HistoryLen, UpdatedAt: now, Status: res.Status,
	}
	consumed := events[:res.Consumed]
	for _, m := range t.Messages[:res.Consumed] {
		op.Consumed = append(op.Consumed, m.ID)
	}
	if res.CustomStatusChanged {
		op.CustomStatus, op.SetCustom = res.CustomStatus, true
	}
	if res.Completion == nil {
		if ws := r.Waiting(); len(ws) > 0 {
			op.Waiting, _ = json.Marshal(ws)
		}
	}
	all := make([]*history.Event, 0, len(consumed)+len(res.Commands)+1)
	all = append(all, consumed...)
	for _, c := range res.Commands {
		c.Time = now
		all = append(all, c)
		if c.Type == history.TaskScheduled {
			op.NewActivities = append(op.NewActivities, &store.ActivityTask{
				InstanceID: run.InstanceID, RunID: run.RunID, Seq: c.Seq, Name: c.Name, TaskQueue: cmp.Or(c.TaskQueue, run.TaskQueue),
				Input: c.Input, Options: c.Options, State: store.ActivityReady, ScheduledAt: now, VisibleAt: now})
		} else {
			s.addCommand(op, run, c, now)
		}
	}
	if comp := res.Completion; comp != nil {
		comp.Time = now
		all = append(all, comp)
		completeRun(op, r.Info(), r.RunningChildren(), r.QueuedEvents(), comp, now, run)
	}
	for i, ev := range all {
		ev.ID = run.HistoryLen + int64(i) + 1
		se, err := ev.Encode()
		if err != nil {
			return nil, err
		}
		op.NewEvents = append(op.NewEvents, se)
	}
	return op, nil
}

// addCommand adds to op what command c of a workflow task's step asks of
// the store, but for an activity, which buildCommit adds itself. It is a
// function of its own, as are the rarer parts of completeRun, so that
// the frames of the common path stay small: workflow tasks run on
// goroutines whose stacks grow, and are copied, for the deepest frame
// they meet.
func (s *server) addCommand(op *store.WorkflowTaskCommitOp, run *store.Run, c *history.Event, now time.Time) {
	switch c.Type {
	case history.TimerCreated:
		op.Messages = append(op.Messages, &store.MessageSendOp{InstanceID: run.InstanceID, RunID: run.RunID, IgnoreFinished: true,
			Message: history.Message(history.TimerFired, &history.Data{Seq: c.Seq, FireAt: c.FireAt, Purpose: c.Purpose}, c.FireAt.UTC().Truncate(time.Microsecond), false)})
	case history.SubOrchestrationInstanceCreated:
		childRun := newID()
		c.RunID = childRun
		// If the id is taken, the child fails at once in the parent, in
		// the same transaction.
		taken := history.Message(history.SubOrchestrationInstanceFailed, &history.Data{Seq: c.Seq, InstanceID: c.InstanceID,
			Failure: &failure.Failure{Type: "InstanceAlreadyExists", Message: fmt.Sprintf(
				"child workflow instance %q already exists and is running: choose another instance id (workflow.WithChildOptions)", c.InstanceID)}}, now, false)
		op.NewRuns = append(op.NewRuns, &store.RunCreateOp{
			OnConflict: &taken,
			Run: store.Run{InstanceID: c.InstanceID, RunID: childRun, Name: c.Name, Status: store.StatusPending, Input: c.Input,
				ParentInstanceID: run.InstanceID, ParentRunID: run.RunID, ParentSeq: c.Seq, TaskQueue: cmp.Or(c.TaskQueue, run.TaskQueue),
				CreatedAt: now, UpdatedAt: now},
			Start: history.Message(history.ExecutionStarted, &history.Data{Name: c.Name, Input: c.Input, InstanceID: c.InstanceID, RunID: childRun,
				ParentInstanceID: run.InstanceID, ParentRunID: run.RunID, ParentSeq: c.Seq}, now, false),
			FailIfExists: true})
	case history.EventSent:
		op.Messages = append(op.Messages, &store.MessageSendOp{InstanceID: c.InstanceID, IgnoreFinished: true,
			Message: history.Message(history.EventRaised, &history.Data{Name: c.Name, Input: c.Input, InstanceID: run.InstanceID},
				s.e.notBeforeStart(c.InstanceID, now), false)})
	}
}

// completeRun adds what finishing a run implies: its final status, the
// parent's notification, terminating children, or the next run.
//
// children are the run's running children; carried the events it received
// and did not wait for, which a continue-as-new hands to the new run.
func completeRun(op *store.WorkflowTaskCommitOp, run replay.Info, children []string, carried []history.CarriedEvent,
	comp *history.Event, now time.Time, cur *store.Run) {
	if comp.Type == history.ContinueAsNew {
		continueAsNew(op, run, carried, comp, now, cur)
		return
	}
	op.Status = comp.Status
	switch comp.Status {
	case store.StatusCompleted:
		op.Output = comp.Result
		if op.Output == nil {
			op.Output = []byte("null")
		}
	default:
		op.Failure = failure.Encode(comp.Failure)
	}
	if cur.ParentInstanceID != "" || (comp.Status == store.StatusTerminated && len(children) > 0) {
		notifyRelatives(op, run, children, comp, now, cur)
	}
}

// continueAsNew adds the next run of a run that continues as new.
func continueAsNew(op *store.WorkflowTaskCommitOp, run replay.Info, carried []history.CarriedEvent,
	comp *history.Event, now time.Time, cur *store.Run) {
	op.Status = store.StatusContinuedAsNew
	next := newID()
	comp.RunID = next
	op.NewRuns = append(op.NewRuns, &store.RunCreateOp{
		Run: store.Run{InstanceID: run.InstanceID, RunID: next, Name: comp.Name, Status: store.StatusPending, Input: comp.Input,
			ParentInstanceID: cur.ParentInstanceID, ParentRunID: cur.ParentRunID, ParentSeq: cur.ParentSeq,
			PreviousRunID: run.RunID, TaskQueue: run.TaskQueue, CreatedAt: now, UpdatedAt: now},
		Start: history.Message(history.ExecutionStarted, &history.Data{Name: comp.Name, Input: comp.Input, InstanceID: run.InstanceID, RunID: next,
			ParentInstanceID: cur.ParentInstanceID, ParentRunID: cur.ParentRunID, ParentSeq: cur.ParentSeq,
			Events: carried}, now, false),
	})
	// Events received but not yet applied follow as messages, after
	// those the run had received (carried in the start).
	op.CarryOverEvents = next
}

// notifyRelatives adds the messages a finished run sends: its result to
// its parent, and a termination to its running children when it was
// terminated.
func notifyRelatives(op *store.WorkflowTaskCommitOp, run replay.Info, children []string, comp *history.Event, now time.Time, cur *store.Run) {
	if cur.ParentInstanceID != "" {
		typ := history.SubOrchestrationInstanceCompleted
		d := &history.Data{Seq: cur.ParentSeq, InstanceID: run.InstanceID, Result: comp.Result}
		if comp.Status != store.StatusCompleted {
			typ = history.SubOrchestrationInstanceFailed
			d = &history.Data{Seq: cur.ParentSeq, InstanceID: run.InstanceID, Failure: comp.Failure}
		}
		op.Messages = append(op.Messages, &store.MessageSendOp{InstanceID: cur.ParentInstanceID, RunID: cur.ParentRunID,
			IgnoreFinished: true, Message: history.Message(typ, d, now, false)})
	}
	if comp.Status == store.StatusTerminated {
		for _, child := range children {
			op.Messages = append(op.Messages, &store.MessageSendOp{InstanceID: child, IgnoreFinished: true,
				Message: history.Message(history.ExecutionTerminated, &history.Data{Reason: "parent " + run.InstanceID + " terminated: " + comp.Reason, Recursive: true}, now, true)})
		}
	}
}
