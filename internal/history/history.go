// Package history defines the typed events of a run's history. The model
// follows the Durable Task event model (ExecutionStarted, TaskScheduled,
// TaskCompleted, TimerCreated, EventRaised, …) so that serving that protocol
// is a mapping, not a rewrite.
package history

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/store"
)

// Event types. These strings are stored and shown in the API; never rename.
const (
	ExecutionStarted                  = "ExecutionStarted"
	ExecutionCompleted                = "ExecutionCompleted"
	ExecutionTerminated               = "ExecutionTerminated"
	ExecutionSuspended                = "ExecutionSuspended"
	ExecutionResumed                  = "ExecutionResumed"
	ContinueAsNew                     = "ContinueAsNew"
	TaskScheduled                     = "TaskScheduled"
	TaskCompleted                     = "TaskCompleted"
	TaskFailed                        = "TaskFailed"
	TimerCreated                      = "TimerCreated"
	TimerFired                        = "TimerFired"
	EventRaised                       = store.MessageTypeEventRaised
	EventSent                         = "EventSent"
	SubOrchestrationInstanceCreated   = "SubOrchestrationInstanceCreated"
	SubOrchestrationInstanceCompleted = "SubOrchestrationInstanceCompleted"
	SubOrchestrationInstanceFailed    = "SubOrchestrationInstanceFailed"
	SideEffect                        = "SideEffect"
	VersionMarker                     = "VersionMarker"
)

// IsCommand reports whether events of type t are produced by workflow code
// (and so must be produced again, identically, on replay).
func IsCommand(t string) bool {
	switch t {
	case TaskScheduled, TimerCreated, SubOrchestrationInstanceCreated, SideEffect, EventSent:
		return true
	}
	return false
}

// Attempt records one finished attempt of an activity.
type Attempt struct {
	Attempt   int              `json:"attempt"`
	StartedAt time.Time        `json:"startedAt"`
	EndedAt   time.Time        `json:"endedAt"`
	Failure   *failure.Failure `json:"failure,omitempty"`
	// NextRetryAt is when the next attempt was scheduled, for failed attempts.
	NextRetryAt time.Time `json:"nextRetryAt,omitzero"`
}

// Data is the payload of every event type; each type uses some fields.
type Data struct {
	Seq        int64            `json:"seq,omitempty"`  // step number of a command, or the step a result answers
	Name       string           `json:"name,omitempty"` // workflow, activity, event or side-effect name
	InstanceID string           `json:"instanceId,omitempty"`
	RunID      string           `json:"runId,omitempty"`
	Input      payload.Payload  `json:"input,omitempty"`
	Result     payload.Payload  `json:"result,omitempty"`
	Failure    *failure.Failure `json:"failure,omitempty"`
	Status     store.Status     `json:"status,omitempty"`
	Reason     string           `json:"reason,omitempty"`
	Recursive  bool             `json:"recursive,omitempty"`
	FireAt     time.Time        `json:"fireAt,omitzero"`
	Options    json.RawMessage  `json:"options,omitempty"`
	Source     string           `json:"source,omitempty"` // file:line of the workflow code that issued a command
	Attempts   []Attempt        `json:"attempts,omitempty"`
	ChangeID   string           `json:"changeId,omitempty"`
	Version    int              `json:"version,omitempty"`
	TaskQueue  string           `json:"taskQueue,omitempty"`
	// Parent, for ExecutionStarted of a child workflow.
	ParentInstanceID string `json:"parentInstanceId,omitempty"`
	ParentRunID      string `json:"parentRunId,omitempty"`
	ParentSeq        int64  `json:"parentSeq,omitempty"`
	// Timer purpose: "" for user timers, "event:NAME" for an event wait timeout.
	Purpose string `json:"purpose,omitempty"`
	// Events, for ExecutionStarted of a run created by continue-as-new: the
	// events the previous run received and did not wait for, in order.
	Events []CarriedEvent `json:"events,omitempty"`
}

// CarriedEvent is an external event handed from a run to the run that
// continues it.
type CarriedEvent struct {
	Name  string          `json:"name"`
	Input payload.Payload `json:"input,omitempty"`
}

// Event is a decoded history event.
type Event struct {
	ID   int64     `json:"id"`
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	Data
	// raw is the encoded Data this event was decoded from (an inbox
	// message becoming a history event), which Encode reuses. Decoded
	// events are not changed but for ID and Time.
	raw []byte
}

// MarshalJSON flattens Data next to id, type and time.
func (e *Event) MarshalJSON() ([]byte, error) {
	type flat struct {
		ID   int64     `json:"id"`
		Type string    `json:"type"`
		Time time.Time `json:"time"`
		Data
	}
	return json.Marshal(flat{e.ID, e.Type, e.Time, e.Data})
}

// Encode converts e to the store's form.
func (e *Event) Encode() (*store.Event, error) {
	if e.raw != nil {
		return &store.Event{ID: e.ID, Type: e.Type, Time: e.Time, Data: e.raw}, nil
	}
	b, err := encodeData(&e.Data)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", e.Type, err)
	}
	return &store.Event{ID: e.ID, Type: e.Type, Time: e.Time, Data: b}, nil
}

// Decode converts a stored event.
func Decode(se *store.Event) (*Event, error) {
	e := &Event{ID: se.ID, Type: se.Type, Time: se.Time}
	if len(se.Data) > 0 {
		if err := decodeData(se.Data, &e.Data); err != nil {
			return nil, fmt.Errorf("decode %s event %d: %w", se.Type, se.ID, err)
		}
	}
	return e, nil
}

// DecodeForReplay converts a stored event for a replay, which does not
// read the log of an activity's attempts: Attempts is left nil (the other
// fields are as Decode sets them).
func DecodeForReplay(se *store.Event) (*Event, error) {
	e := &Event{ID: se.ID, Type: se.Type, Time: se.Time}
	if len(se.Data) > 0 {
		if (&decoder{b: se.Data, skipAttempts: true}).data(&e.Data) {
			return e, nil
		}
		e.Data = Data{}
		if err := json.Unmarshal(se.Data, &e.Data); err != nil {
			return nil, fmt.Errorf("decode %s event %d: %w", se.Type, se.ID, err)
		}
		e.Attempts = nil
	}
	return e, nil
}

// DecodeMessage converts an inbox message into the event it becomes.
func DecodeMessage(m *store.Message) (*Event, error) {
	e := &Event{Type: m.Type, Time: m.VisibleAt}
	if len(m.Data) > 0 {
		if err := decodeData(m.Data, &e.Data); err != nil {
			return nil, fmt.Errorf("decode %s message %d: %w", m.Type, m.ID, err)
		}
		e.raw = m.Data
	}
	return e, nil
}

// MessageEvent is the event message m becomes, given the data m was
// encoded from (d is not copied deeply: it must not change): what
// DecodeMessage would return, without decoding.
func MessageEvent(m *store.Message, d *Data) *Event {
	return &Event{Type: m.Type, Time: m.VisibleAt, Data: *d, raw: m.Data}
}

// Message builds an inbox message carrying an event of type t.
func Message(t string, d *Data, visibleAt time.Time, control bool) store.Message {
	b, _ := encodeData(d)
	return store.Message{Type: t, VisibleAt: visibleAt, Control: control, Data: b}
}
