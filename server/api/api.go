// Package api defines the JSON documents of Perdure's native HTTP API
// (/api/v1): the versioned status, list, history and progress documents,
// the request bodies, and the error body. Package server produces them,
// package httpclient and the perdure CLI consume them, so that all three
// agree on one definition.
//
// Every response document carries a "schema" field naming its kind and
// version (for example "perdure.instance/v1"). A version only ever gains
// fields; a field is never renamed, retyped or removed within a version.
//
// Payloads (workflow input, output, custom status, event data, activity
// results) are JSON values, not strings. A payload that is not valid JSON
// (a workflow using a binary codec) appears as {"$base64": "…"}.
package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/store"
)

// Schema names of the response documents.
const (
	SchemaInstance     = "perdure.instance/v1"
	SchemaInstanceList = "perdure.instanceList/v1"
	// SchemaInstanceCounts is the version of InstanceCounts.
	SchemaInstanceCounts = "perdure.instanceCounts/v1"
	SchemaHistory        = "perdure.history/v1"
	SchemaProgress       = "perdure.progress/v1"
)

// Headers of the native API.
const (
	// HeaderIdempotencyKey on a start makes retries of that start return
	// the same instance; see StartRequest.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderCreated on a start response is "true" when the request created
	// a new run, "false" when it returned an existing one.
	HeaderCreated = "Perdure-Created"
)

// Status is an instance's runtime status: PENDING, RUNNING, SUSPENDED,
// COMPLETED, FAILED, TERMINATED or CONTINUED_AS_NEW.
type Status = store.Status

// Failure describes why a workflow or an activity failed: message, type,
// nonRetryable, details, stack, cause (a nested Failure), and for activity
// and child failures activityName, attempts, workflowName, instanceId,
// timeoutType. It is the same type as perdure.Failure.
type Failure = failure.Failure

// Event is one history event: id, type, time and the fields of its type
// (seq, name, input, result, failure, …). It is the same type as
// perdure.HistoryEvent.
type Event = history.Event

// Instance is the status of one run of a workflow instance
// (schema perdure.instance/v1). Every field is always present: strings are
// "" and payloads, failure and completedAt are null when unset.
type Instance struct {
	Schema       string `json:"schema"`
	InstanceID   string `json:"instanceId"`
	RunID        string `json:"runId"`
	WorkflowName string `json:"workflowName"`
	Status       Status `json:"status"`
	// Current is false for earlier runs of the instance (continue-as-new,
	// or a finished run replaced by a new start).
	Current      bool            `json:"current"`
	Input        json.RawMessage `json:"input"`
	Output       json.RawMessage `json:"output"`
	CustomStatus json.RawMessage `json:"customStatus"`
	Failure      *Failure        `json:"failure"`
	CreatedAt    time.Time       `json:"createdAt"`
	UpdatedAt    time.Time       `json:"updatedAt"`
	CompletedAt  *time.Time      `json:"completedAt"`
	// ParentInstanceID is set for child workflows.
	ParentInstanceID string `json:"parentInstanceId"`
	// PreviousRunID is set for a run created by continue-as-new.
	PreviousRunID string `json:"previousRunId"`
	// TaskError explains why the workflow code cannot make progress (for
	// example non-deterministic code); the engine retries until it is fixed.
	TaskError string `json:"taskError"`
	// Waiting lists what the run waits on now, as of its last workflow
	// task: activities, timers (with fireAt), events by name, children; a
	// final {"kind":"more","count":N} when the list was cut. Empty once
	// finished.
	Waiting []Wait `json:"waiting"`
}

// InstanceCounts counts instances by status (GET /api/v1/instances/counts).
type InstanceCounts struct {
	Schema string           `json:"schema"`
	Counts map[Status]int64 `json:"counts"` // statuses with no instance are absent
	Total  int64            `json:"total"`
}

// Wait is one thing an instance waits on.
type Wait struct {
	Kind       string     `json:"kind"` // activity, timer, event, child, more
	Step       int64      `json:"step,omitempty"`
	Name       string     `json:"name,omitempty"`
	InstanceID string     `json:"instanceId,omitempty"`
	FireAt     *time.Time `json:"fireAt,omitempty"`
	Purpose    string     `json:"purpose,omitempty"`
	Count      int        `json:"count,omitempty"`
}

// Finished reports whether the instance's run will never change again.
func (i *Instance) Finished() bool { return i != nil && i.Status.Finished() }

// InstanceList is one page of instances, newest first
// (schema perdure.instanceList/v1).
type InstanceList struct {
	Schema    string      `json:"schema"`
	Instances []*Instance `json:"instances"`
	// NextPageToken fetches the next page; "" on the last page.
	NextPageToken string `json:"nextPageToken"`
}

// History is the event history of one run (schema perdure.history/v1). A
// full export (no page size) is what the test kit replays.
type History struct {
	Schema       string   `json:"schema"`
	InstanceID   string   `json:"instanceId"`
	RunID        string   `json:"runId"`
	WorkflowName string   `json:"workflowName"`
	Status       Status   `json:"status"`
	Events       []*Event `json:"events"`
	// NextPageToken fetches the next page; "" on the last page.
	NextPageToken string `json:"nextPageToken"`
}

// Progress tells where a running instance is (schema perdure.progress/v1):
// its status, its last step and everything it has outstanding.
type Progress struct {
	Schema string `json:"schema"`
	// Version changes whenever anything shown here changes; pass it back
	// as ?version= to long-poll for the next change.
	Version       string    `json:"version"`
	Instance      *Instance `json:"instance"`
	HistoryLength int64     `json:"historyLength"`
	// LastEvent is the newest history event, null before the first one.
	LastEvent *EventSummary `json:"lastEvent"`
	// Pending lists the steps issued by the workflow that have no result
	// yet: activities, timers, event waits with a timeout, child workflows.
	Pending []*PendingStep `json:"pending"`
	// BufferedEvents are events raised on the instance that its workflow
	// has not consumed yet.
	BufferedEvents []*BufferedEvent `json:"bufferedEvents"`
}

// EventSummary names a history event without its payloads.
type EventSummary struct {
	ID   int64     `json:"id"`
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	Step int64     `json:"step,omitempty"`
	Name string    `json:"name,omitempty"`
}

// Kinds of pending steps.
const (
	PendingActivity = "activity"
	PendingTimer    = "timer"
	PendingEvent    = "event"
	PendingChild    = "child"
)

// PendingStep is a step of the workflow that has no result yet.
type PendingStep struct {
	// Kind is activity, timer, event (a wait for an external event with a
	// timeout) or child.
	Kind string `json:"kind"`
	// Step is the step number (seq) in the run's history.
	Step int64 `json:"step"`
	// Name is the activity, event or child workflow name.
	Name string `json:"name,omitempty"`
	// Since is when the workflow issued the step.
	Since time.Time `json:"since"`
	// Source is the file:line of the workflow code that issued it.
	Source string `json:"source,omitempty"`

	// Activity: State is READY (waiting for a worker or for its retry
	// time), RUNNING or PENDING (waiting for completion by task token);
	// "" when its result is already in the inbox.
	State            string          `json:"state,omitempty"`
	Attempt          int             `json:"attempt,omitempty"`
	NextAttemptAt    *time.Time      `json:"nextAttemptAt,omitempty"`
	Deadline         *time.Time      `json:"deadline,omitempty"`
	LastFailure      *Failure        `json:"lastFailure,omitempty"`
	HeartbeatDetails json.RawMessage `json:"heartbeatDetails,omitempty"`
	// TaskToken completes, fails or heartbeats a PENDING activity attempt.
	TaskToken string `json:"taskToken,omitempty"`

	// Timer, or the timeout of an event wait.
	FireAt *time.Time `json:"fireAt,omitempty"`

	// Child workflow instance id.
	InstanceID string `json:"instanceId,omitempty"`
}

// BufferedEvent is a raised event not yet consumed by the workflow.
type BufferedEvent struct {
	Name     string          `json:"name"`
	RaisedAt time.Time       `json:"raisedAt"`
	Data     json.RawMessage `json:"data"`
}

// StartRequest is the body of POST /api/v1/instances.
//
// Starting an instance id that is running with the same workflow and input
// returns it (Perdure-Created: false); with another input it fails with 409.
// Starting the id of a finished instance starts a new run, unless the
// request has an Idempotency-Key header: then a finished run with the same
// workflow and input is returned instead. Without instanceId, the
// Idempotency-Key is the instance id (else a random id is generated).
type StartRequest struct {
	WorkflowName string          `json:"workflowName"`
	InstanceID   string          `json:"instanceId,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	// StartAt delays the start; null or a past time starts now.
	StartAt   *time.Time `json:"startAt,omitempty"`
	TaskQueue string     `json:"taskQueue,omitempty"`
}

// ReasonRequest is the optional body of terminate, suspend and resume.
type ReasonRequest struct {
	Reason string `json:"reason,omitempty"`
}

// PurgeRequest is the body of POST /api/v1/purge: it selects finished
// instances. At least one field must be set.
type PurgeRequest struct {
	// Statuses: finished statuses only; empty means all finished ones.
	Statuses     []Status `json:"statuses,omitempty"`
	WorkflowName string   `json:"workflowName,omitempty"`
	// FinishedBefore selects instances that finished before this time.
	FinishedBefore *time.Time `json:"finishedBefore,omitempty"`
	// OlderThan is a Go duration ("24h"): finished more than that ago.
	OlderThan string `json:"olderThan,omitempty"`
	// Limit bounds how many instances one call purges; 0: no limit.
	Limit int `json:"limit,omitempty"`
	// All must be true to purge every finished instance with no other
	// filter.
	All bool `json:"all,omitempty"`
}

// PurgeResult is the response of a purge.
type PurgeResult struct {
	Purged int `json:"purged"`
}

// CompleteActivityRequest is the body of POST /api/v1/activities/complete.
type CompleteActivityRequest struct {
	TaskToken string          `json:"taskToken"`
	Result    json.RawMessage `json:"result,omitempty"`
}

// FailActivityRequest is the body of POST /api/v1/activities/fail. The
// activity's retry policy decides whether it runs again.
type FailActivityRequest struct {
	TaskToken string        `json:"taskToken"`
	Error     ActivityError `json:"error"`
}

// ActivityError is the error an activity attempt failed with.
type ActivityError struct {
	Message string `json:"message"`
	// Type is the error type name that retry policies match
	// (NonRetryableErrorTypes) and that the workflow sees.
	Type         string          `json:"type,omitempty"`
	NonRetryable bool            `json:"nonRetryable,omitempty"`
	Details      json.RawMessage `json:"details,omitempty"`
}

// HeartbeatActivityRequest is the body of POST /api/v1/activities/heartbeat.
type HeartbeatActivityRequest struct {
	TaskToken string `json:"taskToken"`
	// Details are kept for the next attempt; null keeps the previous ones.
	Details json.RawMessage `json:"details,omitempty"`
}

// WorkflowList is the response of GET /api/v1/workflows.
type WorkflowList struct {
	// Known is false when the server cannot tell which workflows its
	// workers run (remote workers); Workflows is then empty.
	Known     bool     `json:"known"`
	Workflows []string `json:"workflows"`
}

// Health is the response of GET /healthz.
type Health struct {
	Status string `json:"status"` // "ok" or "unavailable"
	Error  string `json:"error,omitempty"`
}

// ErrorBody is the body of every native API error response.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes an error: a stable code and a message that says
// what went wrong and what to do next.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes of the native API, with their HTTP status.
const (
	CodeInvalidArgument  = "INVALID_ARGUMENT"   // 400
	CodeMalformedJSON    = "MALFORMED_JSON"     // 400
	CodeUnknownWorkflow  = "UNKNOWN_WORKFLOW"   // 400
	CodeBadToken         = "BAD_TOKEN"          // 400
	CodeNotFound         = "NOT_FOUND"          // 404
	CodeRouteNotFound    = "ROUTE_NOT_FOUND"    // 404
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED" // 405
	CodeConflict         = "CONFLICT"           // 409
	CodeNotRunning       = "NOT_RUNNING"        // 409
	CodeStillRunning     = "STILL_RUNNING"      // 409
	CodeTokenRejected    = "TOKEN_REJECTED"     // 409
	CodeBodyTooLarge     = "BODY_TOO_LARGE"     // 413
	CodeInternal         = "INTERNAL"           // 500
	CodeUnavailable      = "UNAVAILABLE"        // 503
)

// DaprStartResponse is the response of the Dapr-compatible start.
type DaprStartResponse struct {
	InstanceID string `json:"instanceID"`
}

// DaprWorkflowState is the response of the Dapr-compatible GET.
type DaprWorkflowState struct {
	InstanceID    string            `json:"instanceID"`
	WorkflowName  string            `json:"workflowName"`
	CreatedAt     string            `json:"createdAt"`
	LastUpdatedAt string            `json:"lastUpdatedAt"`
	RuntimeStatus string            `json:"runtimeStatus"`
	Properties    map[string]string `json:"properties"`
}

// Property names of DaprWorkflowState.Properties.
const (
	DaprPropInput        = "dapr.workflow.input"
	DaprPropOutput       = "dapr.workflow.output"
	DaprPropCustomStatus = "dapr.workflow.custom_status"
	DaprPropErrorType    = "dapr.workflow.failure.error_type"
	DaprPropErrorMessage = "dapr.workflow.failure.error_message"
	DaprPropStackTrace   = "dapr.workflow.failure.stack_trace"
)

// DaprError is the body of Dapr-compatible error responses.
type DaprError struct {
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message"`
}

// MaxIDLength is the longest accepted instance id, workflow name or event
// name, in bytes.
const MaxIDLength = 256

// CheckInstanceID reports why id is not a valid instance id: it must be
// 1–256 bytes of UTF-8 without control characters, spaces, '/' or '*'
// ('*' ends an instance id prefix in list filters).
func CheckInstanceID(id string) error {
	return checkName("instance id", id, "/* ")
}

// forbiddenText names the forbidden characters of checkName.
var forbiddenText = map[string]string{
	"/* ": "'/', '*', spaces or control characters",
	"":    "control characters",
}

// CheckName reports why name is not a valid workflow or event name: it must
// be 1–256 bytes of UTF-8 without control characters.
func CheckName(what, name string) error {
	return checkName(what, name, "")
}

func checkName(what, s, forbidden string) error {
	switch {
	case s == "":
		return fmt.Errorf("the %s is empty", what)
	case len(s) > MaxIDLength:
		return fmt.Errorf("the %s is %d bytes long; the limit is %d", what, len(s), MaxIDLength)
	case !utf8.ValidString(s):
		return fmt.Errorf("the %s %q is not valid UTF-8", what, s)
	}
	for _, r := range s {
		if unicode.IsControl(r) || strings.ContainsRune(forbidden, r) {
			kind := "a control character"
			if !unicode.IsControl(r) {
				kind = fmt.Sprintf("%q", r)
			}
			return fmt.Errorf("the %s %q contains %s; it may not contain %s", what, s, kind, forbiddenText[forbidden])
		}
	}
	return nil
}

// IsNull reports whether a payload field is unset: absent, or JSON null
// (json.RawMessage keeps a decoded null as the bytes "null").
func IsNull(v json.RawMessage) bool {
	s := strings.TrimSpace(string(v))
	return s == "" || s == "null"
}
