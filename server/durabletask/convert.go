package durabletask

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/dapr/durabletask-go/api/protos"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/store"
)

// A Durable Task action's sequence number n (0, 1, 2… per run) is the
// step n+1 in Perdure's history, so that no step is 0 (which Perdure's
// events leave out of their JSON).

func seqOf(id int32) int64 { return int64(id) + 1 }
func idOf(seq int64) int32 { return int32(seq - 1) }

// taskOptions is what Perdure keeps of a scheduled task beyond its name
// and input, in the task's and the event's options.
type taskOptions struct {
	TaskExecutionID string `json:"taskExecutionId,omitempty"`
	Version         string `json:"version,omitempty"`
	// MaximumAttempts is always 1: the SDKs retry activities themselves
	// (a timer, then a new task), so a failed attempt is the task's end.
	MaximumAttempts int `json:"maximumAttempts"`
}

func encodeTaskOptions(o taskOptions) json.RawMessage {
	o.MaximumAttempts = 1
	b, _ := json.Marshal(o)
	return b
}

func decodeTaskOptions(b []byte) taskOptions {
	var o taskOptions
	if len(b) > 0 {
		_ = json.Unmarshal(b, &o)
	}
	return o
}

// bytesOf is a payload as Perdure keeps it: the SDK's serialized text, as
// is (JSON for every SDK's default serializer). nil and "" are no payload.
func bytesOf(v *wrapperspb.StringValue) []byte {
	if v == nil || v.Value == "" {
		return nil
	}
	return []byte(v.Value)
}

// strOf is a payload as the SDKs take it; nil for none.
func strOf(b []byte) *wrapperspb.StringValue {
	if len(b) == 0 {
		return nil
	}
	return wrapperspb.String(string(b))
}

func optStr(s string) *wrapperspb.StringValue {
	if s == "" {
		return nil
	}
	return wrapperspb.String(s)
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// failureOf converts an SDK's failure details.
func failureOf(d *protos.TaskFailureDetails) *failure.Failure {
	if d == nil {
		return &failure.Failure{Message: "failed without details"}
	}
	f := &failure.Failure{Type: d.ErrorType, Message: d.ErrorMessage, NonRetryable: d.IsNonRetriable}
	if d.StackTrace != nil {
		f.Stack = d.StackTrace.Value
	}
	if d.InnerFailure != nil {
		f.Cause = failureOf(d.InnerFailure)
	}
	return f
}

// detailsOf converts a failure for the SDKs.
func detailsOf(f *failure.Failure) *protos.TaskFailureDetails {
	if f == nil {
		return nil
	}
	d := &protos.TaskFailureDetails{ErrorType: f.Type, ErrorMessage: f.Message, IsNonRetriable: f.NonRetryable, StackTrace: optStr(f.Stack)}
	if d.ErrorType == "" {
		d.ErrorType = "Error"
	}
	if f.Cause != nil {
		d.InnerFailure = detailsOf(f.Cause)
	}
	return d
}

// statuses pairs Perdure's statuses with the protocol's (which also has
// CANCELED and STALLED, that Perdure does not).
var statuses = []struct {
	perdure store.Status
	proto   protos.OrchestrationStatus
}{
	{store.StatusPending, protos.OrchestrationStatus_ORCHESTRATION_STATUS_PENDING},
	{store.StatusRunning, protos.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING},
	{store.StatusSuspended, protos.OrchestrationStatus_ORCHESTRATION_STATUS_SUSPENDED},
	{store.StatusCompleted, protos.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED},
	{store.StatusFailed, protos.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED},
	{store.StatusTerminated, protos.OrchestrationStatus_ORCHESTRATION_STATUS_TERMINATED},
	{store.StatusContinuedAsNew, protos.OrchestrationStatus_ORCHESTRATION_STATUS_CONTINUED_AS_NEW},
}

// statusOf maps a Perdure status to the protocol's.
func statusOf(s store.Status) protos.OrchestrationStatus {
	for _, p := range statuses {
		if p.perdure == s {
			return p.proto
		}
	}
	return protos.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING
}

// storeStatusOf maps the protocol's status to Perdure's; ok is false for
// statuses Perdure does not have.
func storeStatusOf(s protos.OrchestrationStatus) (store.Status, bool) {
	for _, p := range statuses {
		if p.proto == s {
			return p.perdure, true
		}
	}
	return "", false
}

// timerOrigin is how a timer's purpose is kept: "" for a plain timer,
// "event:NAME" for an event wait's timeout (as Perdure's own workflows),
// "retry:ID" for an activity retry's delay, "childretry:ID" for a child
// workflow retry's.
func timerPurpose(a *protos.CreateTimerAction) string {
	switch o := a.Origin.(type) {
	case *protos.CreateTimerAction_ExternalEvent:
		return "event:" + o.ExternalEvent.GetName()
	case *protos.CreateTimerAction_ActivityRetry:
		return "retry:" + o.ActivityRetry.GetTaskExecutionId()
	case *protos.CreateTimerAction_ChildWorkflowRetry:
		return "childretry:" + o.ChildWorkflowRetry.GetInstanceId()
	}
	return ""
}

func timerCreated(ev *history.Event) *protos.TimerCreatedEvent {
	tc := &protos.TimerCreatedEvent{FireAt: ts(ev.FireAt)}
	if ev.Name != "" {
		name := ev.Name
		tc.Name = &name
	}
	p := ev.Purpose
	switch {
	case strings.HasPrefix(p, "event:"):
		tc.Origin = &protos.TimerCreatedEvent_ExternalEvent{ExternalEvent: &protos.TimerOriginExternalEvent{Name: p[len("event:"):]}}
	case strings.HasPrefix(p, "retry:"):
		tc.Origin = &protos.TimerCreatedEvent_ActivityRetry{ActivityRetry: &protos.TimerOriginActivityRetry{TaskExecutionId: p[len("retry:"):]}}
	case strings.HasPrefix(p, "childretry:"):
		tc.Origin = &protos.TimerCreatedEvent_ChildWorkflowRetry{ChildWorkflowRetry: &protos.TimerOriginChildWorkflowRetry{InstanceId: p[len("childretry:"):]}}
	default:
		tc.Origin = &protos.TimerCreatedEvent_CreateTimer{CreateTimer: &protos.TimerOriginCreateTimer{}}
	}
	return tc
}

// historyOf converts a run's events to the protocol's history. Every
// workflow task's events share the task's time, so a WorkflowStarted
// event (which sets the workflow's current time in the SDKs) goes before
// each group of events with a new time: replays see the times the first
// execution saw.
func historyOf(evs []*history.Event, last time.Time) ([]*protos.HistoryEvent, time.Time) {
	out := make([]*protos.HistoryEvent, 0, len(evs)+len(evs)/2+1)
	for _, ev := range evs {
		if !ev.Time.Equal(last) {
			last = ev.Time
			out = append(out, workflowStarted(last))
		}
		out = append(out, eventOf(ev)...)
	}
	return out, last
}

func workflowStarted(t time.Time) *protos.HistoryEvent {
	return &protos.HistoryEvent{EventId: -1, Timestamp: ts(t), EventType: &protos.HistoryEvent_WorkflowStarted{WorkflowStarted: &protos.WorkflowStartedEvent{}}}
}

// eventOf converts one event (none for Perdure's own kinds, such as side
// effects, that no SDK produces; two or more for a start that carries
// events from a previous run).
func eventOf(ev *history.Event) []*protos.HistoryEvent {
	he := &protos.HistoryEvent{EventId: -1, Timestamp: ts(ev.Time)}
	switch ev.Type {
	case history.ExecutionStarted:
		es := &protos.ExecutionStartedEvent{Name: ev.Name, Input: strOf(ev.Input),
			WorkflowInstance: &protos.WorkflowInstance{InstanceId: ev.InstanceID, ExecutionId: optStr(ev.RunID)}}
		if ev.ParentInstanceID != "" {
			es.ParentInstance = &protos.ParentInstanceInfo{TaskScheduledId: idOf(ev.ParentSeq),
				WorkflowInstance: &protos.WorkflowInstance{InstanceId: ev.ParentInstanceID, ExecutionId: optStr(ev.ParentRunID)}}
		}
		he.EventType = &protos.HistoryEvent_ExecutionStarted{ExecutionStarted: es}
		out := []*protos.HistoryEvent{he}
		for _, c := range ev.Events {
			out = append(out, &protos.HistoryEvent{EventId: -1, Timestamp: he.Timestamp,
				EventType: &protos.HistoryEvent_EventRaised{EventRaised: &protos.EventRaisedEvent{Name: c.Name, Input: strOf(c.Input)}}})
		}
		return out
	case history.TaskScheduled:
		o := decodeTaskOptions(ev.Options)
		he.EventId = idOf(ev.Seq)
		he.EventType = &protos.HistoryEvent_TaskScheduled{TaskScheduled: &protos.TaskScheduledEvent{Name: ev.Name, Input: strOf(ev.Input),
			TaskExecutionId: o.TaskExecutionID, Version: optStr(o.Version)}}
	case history.TaskCompleted:
		he.EventType = &protos.HistoryEvent_TaskCompleted{TaskCompleted: &protos.TaskCompletedEvent{TaskScheduledId: idOf(ev.Seq), Result: strOf(ev.Result)}}
	case history.TaskFailed:
		he.EventType = &protos.HistoryEvent_TaskFailed{TaskFailed: &protos.TaskFailedEvent{TaskScheduledId: idOf(ev.Seq), FailureDetails: detailsOf(taskFailure(ev.Failure))}}
	case history.TimerCreated:
		he.EventId = idOf(ev.Seq)
		he.EventType = &protos.HistoryEvent_TimerCreated{TimerCreated: timerCreated(ev)}
	case history.TimerFired:
		he.EventType = &protos.HistoryEvent_TimerFired{TimerFired: &protos.TimerFiredEvent{TimerId: idOf(ev.Seq), FireAt: ts(ev.FireAt)}}
	case history.EventRaised:
		he.EventType = &protos.HistoryEvent_EventRaised{EventRaised: &protos.EventRaisedEvent{Name: ev.Name, Input: strOf(ev.Input)}}
	case history.EventSent:
		he.EventId = idOf(ev.Seq)
		he.EventType = &protos.HistoryEvent_EventSent{EventSent: &protos.EventSentEvent{InstanceId: ev.InstanceID, Name: ev.Name, Input: strOf(ev.Input)}}
	case history.SubOrchestrationInstanceCreated:
		he.EventId = idOf(ev.Seq)
		he.EventType = &protos.HistoryEvent_ChildWorkflowInstanceCreated{ChildWorkflowInstanceCreated: &protos.ChildWorkflowInstanceCreatedEvent{
			InstanceId: ev.InstanceID, Name: ev.Name, Input: strOf(ev.Input)}}
	case history.SubOrchestrationInstanceCompleted:
		he.EventType = &protos.HistoryEvent_ChildWorkflowInstanceCompleted{ChildWorkflowInstanceCompleted: &protos.ChildWorkflowInstanceCompletedEvent{
			TaskScheduledId: idOf(ev.Seq), Result: strOf(ev.Result)}}
	case history.SubOrchestrationInstanceFailed:
		he.EventType = &protos.HistoryEvent_ChildWorkflowInstanceFailed{ChildWorkflowInstanceFailed: &protos.ChildWorkflowInstanceFailedEvent{
			TaskScheduledId: idOf(ev.Seq), FailureDetails: detailsOf(childFailure(ev.Failure))}}
	case history.ExecutionSuspended:
		he.EventType = &protos.HistoryEvent_ExecutionSuspended{ExecutionSuspended: &protos.ExecutionSuspendedEvent{Input: optStr(ev.Reason)}}
	case history.ExecutionResumed:
		he.EventType = &protos.HistoryEvent_ExecutionResumed{ExecutionResumed: &protos.ExecutionResumedEvent{Input: optStr(ev.Reason)}}
	case history.ExecutionTerminated:
		he.EventType = &protos.HistoryEvent_ExecutionTerminated{ExecutionTerminated: &protos.ExecutionTerminatedEvent{Input: optStr(ev.Reason), Recurse: ev.Recursive}}
	case history.ExecutionCompleted:
		he.EventType = &protos.HistoryEvent_ExecutionCompleted{ExecutionCompleted: &protos.ExecutionCompletedEvent{WorkflowStatus: statusOf(ev.Status),
			Result: strOf(ev.Result), FailureDetails: detailsOf(ev.Failure)}}
	case history.ContinueAsNew:
		he.EventType = &protos.HistoryEvent_ContinueAsNew{ContinueAsNew: &protos.ContinueAsNewEvent{Input: strOf(ev.Input)}}
	default:
		return nil
	}
	return []*protos.HistoryEvent{he}
}

// taskFailure is the failure an SDK sees for a failed activity: the
// activity's own failure, not Perdure's wrapping of it (a Go workflow's
// activity failures carry the attempts and the step; an SDK's carry what
// its worker reported).
func taskFailure(f *failure.Failure) *failure.Failure {
	if f == nil {
		return &failure.Failure{Message: "activity failed"}
	}
	g := *f
	g.ActivityName, g.Attempts, g.Step = "", 0, 0
	return &g
}

func childFailure(f *failure.Failure) *failure.Failure {
	if f == nil {
		return &failure.Failure{Message: "child workflow failed"}
	}
	return f
}
