package durabletask

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dapr/durabletask-go/api/protos"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/perdure/perdure/internal/engine"
	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/internal/replay"
	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/store"
)

// workflowTask hands a claimed run's workflow task to a worker and
// commits its answer.
func (d *dispatcher) workflowTask(t *store.WorkflowTask) {
	s, run := d.s, t.Run
	now := s.gw.Now()
	engine.InOrderOfArrival(t.Messages)
	msgs := make([]*history.Event, 0, len(t.Messages))
	for _, m := range t.Messages {
		ev, err := history.DecodeMessage(m)
		if err != nil {
			d.release(t, now.Add(s.eng.WorkflowTaskRetry()), err.Error())
			return
		}
		ev.Time = now
		msgs = append(msgs, ev)
	}
	h, cached := d.cache.get(run)
	if !cached {
		past, err := s.eng.LoadHistory(d.ctx, run.RunID, history.DecodeForReplay)
		if err != nil {
			if d.ctx.Err() == nil {
				d.release(t, now.Add(s.eng.WorkflowTaskRetry()), err.Error())
			} else {
				d.release(t, now, "")
			}
			return
		}
		h = newRunHistory(past)
	}
	past := h.past
	for i, ev := range msgs {
		if ev.Type == history.ExecutionTerminated {
			d.terminate(t, past, msgs[:i+1], now)
			return
		}
	}
	if run.HistoryLen == 0 && (len(msgs) == 0 || msgs[0].Type != history.ExecutionStarted) {
		// Only messages that wait for a delayed start.
		d.release(t, s.eng.NotBeforeStart(run.InstanceID, now.Add(time.Second)), "")
		return
	}
	st := d.waitRoute(kindWorkflow, run.Name)
	if st == nil {
		d.release(t, now.Add(s.opts.NotServedRetry), fmt.Sprintf("no connected Durable Task worker serves workflow %q", run.Name))
		return
	}
	resp, busy := d.ask(st, run, h.dt, msgs, now)
	if busy {
		// A fused step of the run is out: try again once it is answered.
		d.release(t, s.gw.Now().Add(20*time.Millisecond), "")
		return
	}
	if resp == nil {
		d.release(t, s.gw.Now(), "")
		return
	}
	if run.HistoryLen == 0 && notRegistered(resp, run.Name) {
		d.notServing(st, kindWorkflow, run.Name)
		d.release(t, s.gw.Now(), "")
		return
	}
	op, all, err := d.commitOf(t, past, msgs, resp, now)
	if err != nil {
		s.log.Error("a worker's answer to a workflow task cannot be applied; the task will be retried", "instance_id", run.InstanceID,
			"workflow", run.Name, "error", err)
		d.release(t, now.Add(s.eng.WorkflowTaskRetry()), err.Error())
		return
	}
	eager := d.eagerActivities(op, now)
	if !op.Status.Finished() {
		op.Eager = d.eager(now)
	}
	ok := d.apply(op, "commit workflow task", "instance_id", run.InstanceID)
	d.committed(run, op, h, all, eager, ok)
	d.afterEager(op.Eager, op.Claimed, ok)
}

// ask hands st's worker a workflow task of run — its past history in the
// protocol's form (pastDT), then a WorkflowStarted at now and the events
// msgs — and returns the answer: nil when the worker disconnected, the
// item timed out or the server is closing; busy when another item of the
// run is out.
func (d *dispatcher) ask(st *stream, run *store.Run, pastDT []*protos.HistoryEvent, msgs []*history.Event, now time.Time) (resp *protos.WorkflowResponse, busy bool) {
	newDT := []*protos.HistoryEvent{workflowStarted(now)}
	for _, ev := range msgs {
		newDT = append(newDT, eventOf(ev)...)
	}
	req := &protos.WorkflowRequest{InstanceId: run.InstanceID, ExecutionId: wrapperspb.String(run.RunID), NewEvents: newDT}
	d.setPast(st, req, run.RunID, pastDT)
	wi := &protos.WorkItem{Request: &protos.WorkItem_WorkflowRequest{WorkflowRequest: req}}
	switch r := d.exchange(st, &item{kind: kindWorkflow, key: run.InstanceID}, wi, d.s.opts.WorkflowTaskTimeout).(type) {
	case *protos.WorkflowResponse:
		d.answered(st, run.InstanceID, r)
		return r, false
	case error:
		return nil, true
	}
	return nil, false
}

// eagerActivities leases, in op, the new activities that connected
// workers have room for (eager dispatch), with reservations taken.
func (d *dispatcher) eagerActivities(op *store.WorkflowTaskCommitOp, now time.Time) []*store.ActivityTask {
	if op.Status.Finished() {
		return nil
	}
	var eager []*store.ActivityTask
	for _, a := range op.NewActivities {
		if d.reserve(kindActivity, a.Name) {
			a.State, a.Attempt, a.StartedAt = store.ActivityRunning, 1, now
			a.LeaseOwner, a.LeaseUntil = d.owner, now.Add(d.s.eng.LeaseDuration())
			eager = append(eager, a)
		}
	}
	return eager
}

// committed follows a workflow task's commit (ok: it was applied): the
// run's history is cached for its next task, and the activities leased
// in the commit start; or the reservations are given back.
func (d *dispatcher) committed(run *store.Run, op *store.WorkflowTaskCommitOp, h runHistory, all []*history.Event, eager []*store.ActivityTask, ok bool) {
	if ok && !op.Status.Finished() {
		next := *run
		next.HistoryLen += int64(len(all))
		if op.Status != "" {
			next.Status = op.Status
		}
		next.TaskError = ""
		d.cache.put(&next, h.extend(all))
	} else {
		d.cache.drop(run.RunID)
	}
	for _, a := range eager {
		if ok {
			d.goItem(kindActivity, func() { d.activityTask(&store.ClaimedActivity{Task: a}) })
		} else {
			d.unreserve(kindActivity)
		}
	}
}

// notRegistered reports whether a worker answered a run's first workflow
// task by failing it because it does not have the workflow.
func notRegistered(resp *protos.WorkflowResponse, name string) bool {
	for _, a := range resp.Actions {
		c := a.GetCompleteWorkflow()
		if c != nil && c.WorkflowStatus == protos.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED && missing(c.FailureDetails, name) {
			return true
		}
	}
	return false
}

// missing reports whether failure details say that the worker does not
// have the workflow or activity name. Each SDK says so in its own words:
// Go "workflow named 'x' is not registered" and TaskActivityNotRegistered,
// Python "A 'x' orchestrator was not registered.", .NET and Java
// OrchestratorTaskNotFound / ActivityTaskNotFound, JavaScript
// "Orchestrator 'x' does not exist." and "Activity function 'x' is not
// registered.". An application's own failure that merely mentions the name
// is not taken for one.
func missing(d *protos.TaskFailureDetails, name string) bool {
	if d == nil {
		return false
	}
	typ, msg := strings.ToLower(d.ErrorType), strings.ToLower(d.ErrorMessage)
	if strings.Contains(typ, "notregistered") || strings.Contains(typ, "notfound") || strings.Contains(msg, "not registered") {
		return true
	}
	return strings.Contains(msg, "'"+strings.ToLower(name)+"' does not exist")
}

// runningChildren returns the instance ids of the children started in evs
// and not answered there.
func runningChildren(evs ...[]*history.Event) []string {
	started := map[int64]string{}
	var order []int64
	for _, list := range evs {
		for _, ev := range list {
			switch ev.Type {
			case history.SubOrchestrationInstanceCreated:
				started[ev.Seq] = ev.InstanceID
				order = append(order, ev.Seq)
			case history.SubOrchestrationInstanceCompleted, history.SubOrchestrationInstanceFailed:
				delete(started, ev.Seq)
			}
		}
	}
	var out []string
	for _, seq := range order {
		if id, ok := started[seq]; ok {
			out = append(out, id)
		}
	}
	return out
}

// terminate ends a run whose task carries a terminate request without
// asking a worker: msgs are the task's events up to the request.
func (d *dispatcher) terminate(t *store.WorkflowTask, past, msgs []*history.Event, now time.Time) {
	run := t.Run
	term := msgs[len(msgs)-1]
	comp := replay.Terminated(term)
	op := &store.WorkflowTaskCommitOp{InstanceID: run.InstanceID, RunID: run.RunID, LeaseOwner: t.LeaseOwner,
		HistoryLen: run.HistoryLen, UpdatedAt: now}
	for _, m := range t.Messages[:len(msgs)] {
		op.Consumed = append(op.Consumed, m.ID)
	}
	var children []string
	if term.Recursive {
		children = runningChildren(past, msgs)
	}
	engine.CompleteRun(op, run, children, nil, comp, now)
	if err := addEvents(op, run, append(msgs, comp), now); err != nil {
		d.release(t, now.Add(d.s.eng.WorkflowTaskRetry()), err.Error())
		return
	}
	d.apply(op, "terminate workflow", "instance_id", run.InstanceID)
}

func addEvents(op *store.WorkflowTaskCommitOp, run *store.Run, evs []*history.Event, now time.Time) error {
	for i, ev := range evs {
		ev.ID, ev.Time = run.HistoryLen+int64(i)+1, now
		se, err := ev.Encode()
		if err != nil {
			return err
		}
		op.NewEvents = append(op.NewEvents, se)
	}
	return nil
}

// commitOf turns a worker's answer into the workflow task's commit.
func (d *dispatcher) commitOf(t *store.WorkflowTask, past, msgs []*history.Event, resp *protos.WorkflowResponse, now time.Time) (*store.WorkflowTaskCommitOp, []*history.Event, error) {
	run := t.Run
	op := &store.WorkflowTaskCommitOp{InstanceID: run.InstanceID, RunID: run.RunID, LeaseOwner: t.LeaseOwner,
		HistoryLen: run.HistoryLen, UpdatedAt: now}
	st := run.Status
	for i, ev := range msgs {
		op.Consumed = append(op.Consumed, t.Messages[i].ID)
		switch ev.Type {
		case history.ExecutionStarted:
			if st == store.StatusPending {
				st = store.StatusRunning
			}
		case history.ExecutionSuspended:
			st = store.StatusSuspended
		case history.ExecutionResumed:
			st = store.StatusRunning
		}
	}
	if st != run.Status {
		op.Status = st
	}
	op.CustomStatus, op.SetCustom = bytesOf(resp.CustomStatus), true
	all := append([]*history.Event(nil), msgs...)
	var comp *history.Event
	var carried []history.CarriedEvent
	for _, a := range resp.Actions {
		if comp != nil {
			break
		}
		seq := seqOf(a.Id)
		var ev *history.Event
		switch x := a.WorkflowActionType.(type) {
		case *protos.WorkflowAction_ScheduleTask:
			c := x.ScheduleTask
			if err := api.CheckName("activity name", c.Name); err != nil {
				return nil, nil, fmt.Errorf("action %d: %w", a.Id, err)
			}
			opts := encodeTaskOptions(taskOptions{TaskExecutionID: c.TaskExecutionId, Version: c.GetVersion().GetValue()})
			ev = &history.Event{Type: history.TaskScheduled, Data: history.Data{Seq: seq, Name: c.Name, Input: bytesOf(c.Input),
				Options: opts, TaskQueue: ActivityQueue}}
			op.NewActivities = append(op.NewActivities, &store.ActivityTask{InstanceID: run.InstanceID, RunID: run.RunID, Seq: seq,
				Name: c.Name, TaskQueue: ActivityQueue, Input: ev.Input, Options: opts, State: store.ActivityReady, ScheduledAt: now, VisibleAt: now})
		case *protos.WorkflowAction_CreateTimer:
			c := x.CreateTimer
			if err := c.GetFireAt().CheckValid(); err != nil {
				return nil, nil, fmt.Errorf("action %d: timer fire time: %w", a.Id, err)
			}
			fire := c.FireAt.AsTime().UTC().Truncate(time.Microsecond)
			purpose := timerPurpose(c)
			ev = &history.Event{Type: history.TimerCreated, Data: history.Data{Seq: seq, FireAt: fire, Purpose: purpose, Name: c.GetName()}}
			op.Messages = append(op.Messages, &store.MessageSendOp{InstanceID: run.InstanceID, RunID: run.RunID, IgnoreFinished: true,
				Message: history.Message(history.TimerFired, &history.Data{Seq: seq, FireAt: fire, Purpose: purpose}, fire, false)})
		case *protos.WorkflowAction_CreateChildWorkflow:
			c := x.CreateChildWorkflow
			if err := api.CheckName("child workflow name", c.Name); err != nil {
				return nil, nil, fmt.Errorf("action %d: %w", a.Id, err)
			}
			id := c.InstanceId
			if id == "" {
				id = fmt.Sprintf("%s:%04x", run.InstanceID, a.Id)
			}
			if err := api.CheckInstanceID(id); err != nil {
				return nil, nil, fmt.Errorf("action %d: child instance id: %w", a.Id, err)
			}
			childRun := engine.NewID()
			ev = &history.Event{Type: history.SubOrchestrationInstanceCreated, Data: history.Data{Seq: seq, Name: c.Name,
				InstanceID: id, RunID: childRun, Input: bytesOf(c.Input)}}
			taken := history.Message(history.SubOrchestrationInstanceFailed, &history.Data{Seq: seq, InstanceID: id,
				Failure: &failure.Failure{Type: "InstanceAlreadyExists", Message: fmt.Sprintf("child workflow instance %q already exists and is running", id)}}, now, false)
			op.NewRuns = append(op.NewRuns, &store.RunCreateOp{OnConflict: &taken, FailIfExists: true,
				Run: store.Run{InstanceID: id, RunID: childRun, Name: c.Name, Status: store.StatusPending, Input: ev.Input,
					ParentInstanceID: run.InstanceID, ParentRunID: run.RunID, ParentSeq: seq, TaskQueue: run.TaskQueue, CreatedAt: now, UpdatedAt: now},
				Start: history.Message(history.ExecutionStarted, &history.Data{Name: c.Name, Input: ev.Input, InstanceID: id, RunID: childRun,
					ParentInstanceID: run.InstanceID, ParentRunID: run.RunID, ParentSeq: seq}, now, false)})
		case *protos.WorkflowAction_SendEvent:
			c := x.SendEvent
			target := c.GetInstance().GetInstanceId()
			if err := api.CheckInstanceID(target); err != nil {
				return nil, nil, fmt.Errorf("action %d: event target: %w", a.Id, err)
			}
			ev = &history.Event{Type: history.EventSent, Data: history.Data{Seq: seq, InstanceID: target, Name: c.Name, Input: bytesOf(c.Data)}}
			op.Messages = append(op.Messages, &store.MessageSendOp{InstanceID: target, IgnoreFinished: true,
				Message: history.Message(history.EventRaised, &history.Data{Name: c.Name, Input: ev.Input, InstanceID: run.InstanceID},
					d.s.eng.NotBeforeStart(target, now), false)})
		case *protos.WorkflowAction_TerminateWorkflow:
			c := x.TerminateWorkflow
			if err := api.CheckInstanceID(c.InstanceId); err != nil {
				return nil, nil, fmt.Errorf("action %d: terminate target: %w", a.Id, err)
			}
			op.Messages = append(op.Messages, &store.MessageSendOp{InstanceID: c.InstanceId, IgnoreFinished: true,
				Message: history.Message(history.ExecutionTerminated, &history.Data{Reason: c.GetReason().GetValue(), Recursive: c.Recurse}, now, true)})
			continue
		case *protos.WorkflowAction_CompleteWorkflow:
			c := x.CompleteWorkflow
			switch c.WorkflowStatus {
			case protos.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED:
				comp = &history.Event{Type: history.ExecutionCompleted, Data: history.Data{Status: store.StatusCompleted, Result: bytesOf(c.Result)}}
			case protos.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED:
				comp = &history.Event{Type: history.ExecutionCompleted, Data: history.Data{Status: store.StatusFailed, Failure: failureOf(c.FailureDetails)}}
			case protos.OrchestrationStatus_ORCHESTRATION_STATUS_TERMINATED:
				reason := c.GetResult().GetValue()
				comp = &history.Event{Type: history.ExecutionCompleted, Data: history.Data{Status: store.StatusTerminated, Reason: reason,
					Failure: &failure.Failure{Type: failure.TypeTerminated, Message: strings.TrimSpace("terminated " + reason)}}}
			case protos.OrchestrationStatus_ORCHESTRATION_STATUS_CONTINUED_AS_NEW:
				comp = &history.Event{Type: history.ContinueAsNew, Data: history.Data{Name: run.Name, Input: bytesOf(c.Result)}}
				for _, e := range c.CarryoverEvents {
					if er := e.GetEventRaised(); er != nil {
						carried = append(carried, history.CarriedEvent{Name: er.Name, Input: bytesOf(er.Input)})
					}
				}
			default:
				return nil, nil, fmt.Errorf("action %d: a workflow cannot complete with status %s", a.Id, c.WorkflowStatus)
			}
			continue
		case *protos.WorkflowAction_WorkflowVersionNotAvailable:
			return nil, nil, errors.New("the worker does not have the version of the workflow this run started with")
		case *protos.WorkflowAction_CreateDetachedWorkflow:
			return nil, nil, fmt.Errorf("action %d: detached workflows are not supported", a.Id)
		default:
			return nil, nil, fmt.Errorf("action %d: unknown action %T", a.Id, a.WorkflowActionType)
		}
		all = append(all, ev)
	}
	if comp != nil {
		all = append(all, comp)
		engine.CompleteRun(op, run, runningChildren(past, all), carried, comp, now)
	}
	if err := addEvents(op, run, all, now); err != nil {
		return nil, nil, err
	}
	return op, all, nil
}

// activityTask hands a claimed activity to a worker and records its
// outcome.
func (d *dispatcher) activityTask(c *store.ClaimedActivity) {
	s, t := d.s, c.Task
	if c.Expired {
		d.retry(t, &failure.Failure{Type: failure.TypeWorkerLost, Message: "the worker running this attempt stopped answering before its lease expired"}, s.gw.Now())
		return
	}
	st := d.waitRoute(kindActivity, t.Name)
	if st == nil {
		d.retry(t, &failure.Failure{Type: failure.TypeNotRegistered, Message: fmt.Sprintf("no connected Durable Task worker serves activity %q", t.Name)},
			s.gw.Now().Add(s.opts.NotServedRetry))
		return
	}
	o := decodeTaskOptions(t.Options)
	wi := &protos.WorkItem{Request: &protos.WorkItem_ActivityRequest{ActivityRequest: &protos.ActivityRequest{Name: t.Name, Input: strOf(t.Input),
		Version: optStr(o.Version), TaskId: idOf(t.Seq), TaskExecutionId: o.TaskExecutionID,
		WorkflowInstance: &protos.WorkflowInstance{InstanceId: t.InstanceID, ExecutionId: optStr(t.RunID)}}}}
	r := d.exchange(st, &item{kind: kindActivity, key: t.InstanceID + "/" + strconv.Itoa(int(idOf(t.Seq))), act: t}, wi, 0)
	now := s.gw.Now()
	if r == errBusy {
		// The same task id of an earlier run of the instance is still out.
		d.retry(t, &failure.Failure{Type: failure.TypeWorkerLost, Message: "an activity of the instance with the same task id is still running"}, now.Add(100*time.Millisecond))
		return
	}
	if r == nil {
		d.retry(t, &failure.Failure{Type: failure.TypeWorkerLost, Message: "the worker running this attempt disconnected"}, now)
		return
	}
	resp := r.(*protos.ActivityResponse)
	if fd := resp.FailureDetails; missing(fd, t.Name) {
		d.notServing(st, kindActivity, t.Name)
		d.retry(t, &failure.Failure{Type: failure.TypeNotRegistered, Message: fd.ErrorMessage}, now)
		return
	}
	rec := history.Attempt{Attempt: t.Attempt, StartedAt: t.StartedAt, EndedAt: now}
	data := &history.Data{Seq: t.Seq, Name: t.Name}
	typ := history.TaskCompleted
	if resp.FailureDetails != nil {
		f := failureOf(resp.FailureDetails)
		rec.Failure = f
		final := *f
		final.ActivityName, final.Attempts = t.Name, t.Attempt
		data.Failure, typ = &final, history.TaskFailed
	} else {
		data.Result = bytesOf(resp.Result)
	}
	_, data.Attempts = engine.AttemptsWith(t, rec)
	op := &store.ActivityTaskFinishOp{RunID: t.RunID, Seq: t.Seq, Attempt: t.Attempt, Message: history.Message(typ, data, now, false), Now: now,
		Eager: d.eager(now)}
	f := d.fuse(t, op, data, now)
	ok := d.apply(op, "record activity result", "instance_id", t.InstanceID, "activity", t.Name)
	applied := ok && op.ThenApplied
	claimed := op.Claimed
	if f != nil {
		d.committed(f.run, f.op, f.h, f.all, f.eager, applied)
		if applied {
			claimed = f.op.Claimed
		}
	}
	d.afterEager(op.Eager, claimed, ok)
}

// fusedStep is the workflow task an activity's result wakes, computed by
// the worker before the result is committed, to be committed with it in
// one transaction (as the engine fuses a Go workflow's steps).
type fusedStep struct {
	run   *store.Run
	op    *store.WorkflowTaskCommitOp
	h     runHistory
	all   []*history.Event
	eager []*store.ActivityTask
}

// fuse asks a worker for the workflow task that op's result wakes, when
// the run's history is cached and the result is the only thing the run
// waits on, and sets it as op.Then; nil otherwise.
func (d *dispatcher) fuse(t *store.ActivityTask, op *store.ActivityTaskFinishOp, data *history.Data, now time.Time) *fusedStep {
	lr, h := d.cache.take(t.RunID)
	if lr == nil {
		return nil
	}
	st := d.route(kindWorkflow, lr.Name)
	if st == nil || outstanding(h.past) != 1 {
		d.cache.put(lr, h)
		return nil
	}
	ev := history.MessageEvent(&op.Message, data)
	ev.Time = now
	msgs := []*history.Event{ev}
	resp, _ := d.ask(st, lr, h.dt, msgs, now)
	if resp == nil {
		d.cache.put(lr, h)
		return nil
	}
	task := &store.WorkflowTask{Run: lr, Messages: []*store.Message{{}}, LeaseOwner: d.owner}
	then, all, err := d.commitOf(task, h.past, msgs, resp, now)
	if err != nil {
		return nil // the regular task will report it
	}
	then.Consumed = nil
	f := &fusedStep{run: lr, op: then, h: h, all: all, eager: d.eagerActivities(then, now)}
	if !then.Status.Finished() && op.Eager != nil {
		// The run's next task, should messages have arrived meanwhile,
		// is leased with the op's Eager.
		then.Eager = op.Eager
	}
	op.Then = f.op
	return f
}

// outstanding counts what the run whose history is evs waits on:
// activities, timers and children started and not answered.
func outstanding(evs []*history.Event) int {
	open := map[int64]bool{}
	for _, ev := range evs {
		switch ev.Type {
		case history.TaskScheduled, history.TimerCreated, history.SubOrchestrationInstanceCreated:
			open[ev.Seq] = true
		case history.TaskCompleted, history.TaskFailed, history.TimerFired,
			history.SubOrchestrationInstanceCompleted, history.SubOrchestrationInstanceFailed:
			delete(open, ev.Seq)
		}
	}
	return len(open)
}

// fuseStart is the engine's StartHook: when a connected worker serves the
// started workflow and has room, it asks the worker for the run's first
// workflow task and sets it as op.Then, to be committed with the start.
func (d *dispatcher) fuseStart(op *store.RunCreateOp, start *history.Data, now time.Time) func(bool, *store.WorkflowTask, error) {
	name := op.Run.Name
	if op.Run.TaskQueue != "" || slices.Contains(d.goWorkflows(), name) || !d.reserve(kindWorkflow, name) {
		return nil
	}
	st := d.route(kindWorkflow, name)
	if st == nil {
		d.unreserve(kindWorkflow)
		return nil
	}
	run := op.Run
	run.Status, run.Current, run.HistoryLen = store.StatusPending, true, 0
	ev := history.MessageEvent(&op.Start, start)
	ev.Time = now
	resp, _ := d.ask(st, &run, nil, []*history.Event{ev}, now)
	if resp == nil {
		d.unreserve(kindWorkflow)
		return nil
	}
	if notRegistered(resp, name) {
		d.notServing(st, kindWorkflow, name)
		d.unreserve(kindWorkflow)
		return nil
	}
	task := &store.WorkflowTask{Run: &run, Messages: []*store.Message{{}}, LeaseOwner: d.owner}
	then, all, err := d.commitOf(task, nil, []*history.Event{ev}, resp, now)
	if err != nil {
		d.unreserve(kindWorkflow) // the regular task will report it
		return nil
	}
	then.Consumed = nil
	eager := d.eagerActivities(then, now)
	if !then.Status.Finished() {
		then.Eager = &store.Eager{Owner: d.owner, Now: now, LeaseUntil: now.Add(d.s.eng.LeaseDuration())}
	}
	op.Then = then
	return func(applied bool, _ *store.WorkflowTask, err error) {
		ok := err == nil && applied
		d.committed(&run, then, runHistory{}, all, eager, ok)
		if then.Eager == nil {
			d.unreserve(kindWorkflow)
			return
		}
		d.afterEager(then.Eager, then.Claimed, ok)
	}
}
