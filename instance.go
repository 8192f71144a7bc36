package perdure

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/perdure/perdure/internal/engine"
	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/store"
)

// Status is an instance's runtime status.
type Status = store.Status

// The runtime statuses.
const (
	StatusPending        = store.StatusPending
	StatusRunning        = store.StatusRunning
	StatusSuspended      = store.StatusSuspended
	StatusCompleted      = store.StatusCompleted
	StatusFailed         = store.StatusFailed
	StatusTerminated     = store.StatusTerminated
	StatusContinuedAsNew = store.StatusContinuedAsNew
)

// Errors callers test with errors.Is.
var (
	ErrNotFound      = store.ErrNotFound
	ErrConflict      = store.ErrConflict
	ErrNotRunning    = store.ErrNotRunning
	ErrStillRunning  = store.ErrStillRunning
	ErrTokenRejected = engine.ErrTokenRejected
	ErrBadToken      = engine.ErrBadToken
)

// Instance is the status of one run of a workflow instance.
type Instance struct {
	InstanceID string
	RunID      string
	Name       string
	Status     Status
	// Input, Output and CustomStatus are encoded payloads (JSON by default).
	Input        []byte
	Output       []byte
	CustomStatus []byte
	Failure      *Failure
	CreatedAt    time.Time
	UpdatedAt    time.Time
	CompletedAt  time.Time

	ParentInstanceID string
	PreviousRunID    string
	Current          bool
	// TaskError explains why the workflow code cannot make progress (for
	// example non-deterministic code); it is retried until fixed.
	TaskError string
	// Waiting lists what the run waits on now (activities, timers, events,
	// children), as of its last workflow task; empty once finished.
	Waiting []Wait

	codec Codec
}

func (c *Client) instance(r *store.Run) *Instance {
	return &Instance{InstanceID: r.InstanceID, RunID: r.RunID, Name: r.Name, Status: r.Status, Input: r.Input, Output: r.Output,
		CustomStatus: r.CustomStatus, Failure: failure.Decode(r.Failure), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		CompletedAt: r.CompletedAt, ParentInstanceID: r.ParentInstanceID, PreviousRunID: r.PreviousRunID, Current: r.Current,
		TaskError: r.TaskError, Waiting: decodeWaiting(r.Waiting), codec: c.codec}
}

// Wait is one thing an instance waits on: Kind "activity", "timer",
// "event", "child", or "more" (Count further waits not listed).
type Wait = history.Wait

func decodeWaiting(b []byte) []Wait {
	if len(b) == 0 {
		return nil
	}
	var ws []Wait
	if err := json.Unmarshal(b, &ws); err != nil {
		return nil
	}
	return ws
}

// DecodeOutput decodes the output into v.
func (i *Instance) DecodeOutput(v any) error { return payload.Decode(i.codecOrDefault(), i.Output, v) }

// DecodeInput decodes the input into v.
func (i *Instance) DecodeInput(v any) error { return payload.Decode(i.codecOrDefault(), i.Input, v) }

// DecodeCustomStatus decodes the custom status into v.
func (i *Instance) DecodeCustomStatus(v any) error {
	return payload.Decode(i.codecOrDefault(), i.CustomStatus, v)
}

func (i *Instance) codecOrDefault() Codec {
	if i.codec == nil {
		return payload.Default
	}
	return i.codec
}

// WorkflowError is returned by GetResult for an instance that failed or
// was terminated.
type WorkflowError struct {
	InstanceID string
	Status     Status
	Failure    *Failure
}

func (e *WorkflowError) Error() string {
	msg := "no details"
	if e.Failure != nil {
		msg = e.Failure.Message
	}
	return fmt.Sprintf("workflow instance %q %s: %s", e.InstanceID, e.Status, msg)
}

// Unwrap returns the failure as an error (an *ApplicationError carrying the
// type the workflow failed with).
func (e *WorkflowError) Unwrap() error {
	if e.Failure == nil {
		return errors.New(string(e.Status))
	}
	return e.Failure.ToError()
}
