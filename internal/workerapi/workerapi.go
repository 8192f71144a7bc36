// Package workerapi is the wire format of the worker API, which package
// server serves under /api/v1/worker/ and package store/remotestore calls:
// the store.Store contract as JSON over HTTP. Requests and responses carry
// the store's own records (store.Run, store.WorkflowTask, …) encoded by
// encoding/json with their Go field names; byte slices are base64 and
// times RFC 3339 in UTC. The ops of an Apply batch are tagged with their
// type; what a store writes back into an op (the created run, an eagerly
// leased task, …) comes back as that op's outcome.
//
// Both sides check the protocol version (HeaderProtocol): a server and a
// worker of different protocol versions refuse each other with a message
// that says which one to upgrade.
package workerapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/perdure/perdure/store"
)

// Protocol is the version of the worker API.
const Protocol = "1"

// Headers of worker API requests.
const (
	// HeaderProtocol carries Protocol on every request and response.
	HeaderProtocol = "Perdure-Worker-Protocol"
	// HeaderWorker names the worker process (remotestore.Options.Identity),
	// shown by GET /api/v1/workers.
	HeaderWorker = "Perdure-Worker"
)

// Paths of the worker API.
const (
	Prefix            = "/api/v1/worker/"
	PathApply         = Prefix + "apply"
	PathWorkflowClaim = Prefix + "workflow-tasks/claim"
	PathActivityClaim = Prefix + "activity-tasks/claim"
	PathActivityGet   = Prefix + "activity-tasks/get"
	PathActivityList  = Prefix + "activity-tasks/list"
	PathLeasesRelease = Prefix + "leases/release"
	PathRunGet        = Prefix + "runs/get"
	PathRunList       = Prefix + "runs/list"
	PathRunCounts     = Prefix + "runs/counts"
	PathHistoryGet    = Prefix + "history/get"
	PathMessageList   = Prefix + "messages/list"
	PathNextWakeup    = Prefix + "next-wakeup"
	PathWakeups       = Prefix + "wakeups"
)

// MaxWait bounds the long poll of a claim.
const MaxWait = 30 * time.Second

// Op is one op of an Apply batch: its type and its fields.
type Op struct {
	Type string          `json:"type"`
	Op   json.RawMessage `json:"op"`
}

// Op type tags.
const (
	TypeRunCreate             = "RunCreate"
	TypeMessageSend           = "MessageSend"
	TypeWorkflowTaskCommit    = "WorkflowTaskCommit"
	TypeWorkflowTaskAbandon   = "WorkflowTaskAbandon"
	TypeActivityTaskFinish    = "ActivityTaskFinish"
	TypeActivityTaskRetry     = "ActivityTaskRetry"
	TypeActivityTaskPend      = "ActivityTaskPend"
	TypeActivityTaskHeartbeat = "ActivityTaskHeartbeat"
)

// newOp returns an empty op of type typ.
func newOp(typ string) (store.Op, bool) {
	switch typ {
	case TypeRunCreate:
		return &store.RunCreateOp{}, true
	case TypeMessageSend:
		return &store.MessageSendOp{}, true
	case TypeWorkflowTaskCommit:
		return &store.WorkflowTaskCommitOp{}, true
	case TypeWorkflowTaskAbandon:
		return &store.WorkflowTaskAbandonOp{}, true
	case TypeActivityTaskFinish:
		return &store.ActivityTaskFinishOp{}, true
	case TypeActivityTaskRetry:
		return &store.ActivityTaskRetryOp{}, true
	case TypeActivityTaskPend:
		return &store.ActivityTaskPendOp{}, true
	case TypeActivityTaskHeartbeat:
		return &store.ActivityTaskHeartbeatOp{}, true
	}
	return nil, false
}

func typeOf(op store.Op) (string, error) {
	switch op.(type) {
	case *store.RunCreateOp:
		return TypeRunCreate, nil
	case *store.MessageSendOp:
		return TypeMessageSend, nil
	case *store.WorkflowTaskCommitOp:
		return TypeWorkflowTaskCommit, nil
	case *store.WorkflowTaskAbandonOp:
		return TypeWorkflowTaskAbandon, nil
	case *store.ActivityTaskFinishOp:
		return TypeActivityTaskFinish, nil
	case *store.ActivityTaskRetryOp:
		return TypeActivityTaskRetry, nil
	case *store.ActivityTaskPendOp:
		return TypeActivityTaskPend, nil
	case *store.ActivityTaskHeartbeatOp:
		return TypeActivityTaskHeartbeat, nil
	}
	return "", fmt.Errorf("workerapi: op %T is not part of the worker API", op)
}

// EncodeOps encodes a batch. What a store writes into the ops (their
// outcome) is cleared first: it comes back in the response.
func EncodeOps(ops []store.Op) ([]Op, error) {
	out := make([]Op, len(ops))
	for i, op := range ops {
		if op == nil {
			return nil, fmt.Errorf("workerapi: op %d is nil", i)
		}
		typ, err := typeOf(op)
		if err != nil {
			return nil, err
		}
		clearOutcome(op)
		b, err := json.Marshal(op)
		if err != nil {
			return nil, fmt.Errorf("workerapi: encode op %d (%s): %w", i, typ, err)
		}
		out[i] = Op{Type: typ, Op: b}
	}
	return out, nil
}

// DecodeOps decodes a batch strictly: an unknown type or field is an
// error (a worker newer than the server).
func DecodeOps(in []Op) ([]store.Op, error) {
	ops := make([]store.Op, len(in))
	for i, w := range in {
		op, ok := newOp(w.Type)
		if !ok {
			return nil, fmt.Errorf("op %d: unknown op type %q (the worker may be newer than the server: upgrade the server)", i, w.Type)
		}
		if err := Unmarshal(w.Op, op); err != nil {
			return nil, fmt.Errorf("op %d (%s): %w", i, w.Type, err)
		}
		if err := checkOp(op); err != nil {
			return nil, fmt.Errorf("op %d (%s): %w", i, w.Type, err)
		}
		ops[i] = op
	}
	return ops, nil
}

// checkOp refuses ops whose nested ops are missing, which a store would
// dereference.
func checkOp(op store.Op) error {
	switch op := op.(type) {
	case *store.RunCreateOp:
		if op.Then != nil {
			return checkCommit(op.Then)
		}
	case *store.WorkflowTaskCommitOp:
		return checkCommit(op)
	case *store.ActivityTaskFinishOp:
		if op.Then != nil {
			return checkCommit(op.Then)
		}
	}
	return nil
}

func checkCommit(op *store.WorkflowTaskCommitOp) error {
	for i, e := range op.NewEvents {
		if e == nil {
			return fmt.Errorf("NewEvents[%d] is null", i)
		}
	}
	for i, a := range op.NewActivities {
		if a == nil {
			return fmt.Errorf("NewActivities[%d] is null", i)
		}
	}
	for i, m := range op.Messages {
		if m == nil {
			return fmt.Errorf("Messages[%d] is null", i)
		}
	}
	for i, r := range op.NewRuns {
		if r == nil {
			return fmt.Errorf("NewRuns[%d] is null", i)
		}
		if err := checkOp(r); err != nil {
			return fmt.Errorf("NewRuns[%d]: %w", i, err)
		}
	}
	return nil
}

// Unmarshal decodes one JSON value strictly: unknown fields and trailing
// data are errors.
func Unmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// clearOutcome resets what a store writes into op.
func clearOutcome(op store.Op) {
	switch op := op.(type) {
	case *store.RunCreateOp:
		clearCreate(op)
	case *store.MessageSendOp:
		op.ResultRunID = ""
	case *store.WorkflowTaskCommitOp:
		clearCommit(op)
	case *store.ActivityTaskFinishOp:
		op.Claimed, op.ThenApplied = nil, false
		if op.Then != nil {
			clearCommit(op.Then)
		}
	}
}

func clearCreate(op *store.RunCreateOp) {
	op.Result, op.Created, op.Claimed, op.ThenApplied, op.Err = nil, false, nil, false, nil
	if op.Then != nil {
		clearCommit(op.Then)
	}
}

func clearCommit(op *store.WorkflowTaskCommitOp) {
	op.Claimed = nil
	for _, m := range op.Messages {
		if m != nil {
			m.ResultRunID = ""
		}
	}
	for _, r := range op.NewRuns {
		if r != nil {
			clearCreate(r)
		}
	}
}

// ApplyRequest is the body of POST /api/v1/worker/apply.
type ApplyRequest struct {
	Ops []Op `json:"ops"`
}

// ApplyResponse answers an ApplyRequest: one result per op, in order.
type ApplyResponse struct {
	Results []OpResult `json:"results"`
}

// OpResult is the outcome of one op: its error, or what the store wrote
// into it.
type OpResult struct {
	Error       *Error          `json:"error,omitempty"`
	RunCreate   *RunCreateOut   `json:"runCreate,omitempty"`
	MessageSend *MessageSendOut `json:"messageSend,omitempty"`
	Commit      *CommitOut      `json:"commit,omitempty"`
	Finish      *FinishOut      `json:"finish,omitempty"`
}

// RunCreateOut is what a store writes into a store.RunCreateOp.
type RunCreateOut struct {
	Result      *store.Run          `json:"result,omitempty"`
	Created     bool                `json:"created,omitempty"`
	StartRunID  string              `json:"startRunId,omitempty"`
	Claimed     *store.WorkflowTask `json:"claimed,omitempty"`
	ThenApplied bool                `json:"thenApplied,omitempty"`
	Then        *CommitOut          `json:"then,omitempty"`
	Err         *Error              `json:"err,omitempty"` // a child's conflict in WorkflowTaskCommitOp.NewRuns
}

// MessageSendOut is what a store writes into a store.MessageSendOp.
type MessageSendOut struct {
	ResultRunID string `json:"resultRunId,omitempty"`
}

// CommitOut is what a store writes into a store.WorkflowTaskCommitOp.
type CommitOut struct {
	Claimed  *store.WorkflowTask `json:"claimed,omitempty"`
	NewRuns  []RunCreateOut      `json:"newRuns,omitempty"`
	Messages []MessageSendOut    `json:"messages,omitempty"`
}

// FinishOut is what a store writes into a store.ActivityTaskFinishOp.
type FinishOut struct {
	Claimed     *store.WorkflowTask `json:"claimed,omitempty"`
	ThenApplied bool                `json:"thenApplied,omitempty"`
	Then        *CommitOut          `json:"then,omitempty"`
}

// Outcome is the result of op after Apply, with err its error.
func Outcome(op store.Op, err error) OpResult {
	if err != nil {
		return OpResult{Error: ErrorOf(err)}
	}
	switch op := op.(type) {
	case *store.RunCreateOp:
		out := createOut(op)
		return OpResult{RunCreate: &out}
	case *store.MessageSendOp:
		return OpResult{MessageSend: &MessageSendOut{ResultRunID: op.ResultRunID}}
	case *store.WorkflowTaskCommitOp:
		return OpResult{Commit: commitOut(op)}
	case *store.ActivityTaskFinishOp:
		return OpResult{Finish: &FinishOut{Claimed: op.Claimed, ThenApplied: op.ThenApplied, Then: commitOut(op.Then)}}
	}
	return OpResult{}
}

func createOut(op *store.RunCreateOp) RunCreateOut {
	out := RunCreateOut{Result: op.Result, Created: op.Created, StartRunID: op.Start.RunID, Claimed: op.Claimed,
		ThenApplied: op.ThenApplied, Then: commitOut(op.Then)}
	if op.Err != nil {
		out.Err = ErrorOf(op.Err)
	}
	return out
}

func commitOut(op *store.WorkflowTaskCommitOp) *CommitOut {
	if op == nil {
		return nil
	}
	out := &CommitOut{Claimed: op.Claimed}
	for _, r := range op.NewRuns {
		out.NewRuns = append(out.NewRuns, createOut(r))
	}
	for _, m := range op.Messages {
		out.Messages = append(out.Messages, MessageSendOut{ResultRunID: m.ResultRunID})
	}
	return out
}

// ApplyTo writes the outcome r into op and returns op's error.
func (r OpResult) ApplyTo(op store.Op) error {
	if r.Error != nil {
		return r.Error.Err()
	}
	switch op := op.(type) {
	case *store.RunCreateOp:
		if r.RunCreate != nil {
			applyCreate(op, r.RunCreate)
		}
	case *store.MessageSendOp:
		if r.MessageSend != nil {
			op.ResultRunID = r.MessageSend.ResultRunID
		}
	case *store.WorkflowTaskCommitOp:
		applyCommit(op, r.Commit)
	case *store.ActivityTaskFinishOp:
		if f := r.Finish; f != nil {
			op.Claimed, op.ThenApplied = f.Claimed, f.ThenApplied
			applyCommit(op.Then, f.Then)
		}
	}
	return nil
}

func applyCreate(op *store.RunCreateOp, out *RunCreateOut) {
	op.Result, op.Created, op.Claimed, op.ThenApplied = out.Result, out.Created, out.Claimed, out.ThenApplied
	if out.StartRunID != "" {
		op.Start.RunID = out.StartRunID
	}
	if out.Err != nil {
		op.Err = out.Err.Err()
	}
	applyCommit(op.Then, out.Then)
}

func applyCommit(op *store.WorkflowTaskCommitOp, out *CommitOut) {
	if op == nil || out == nil {
		return
	}
	op.Claimed = out.Claimed
	for i, r := range op.NewRuns {
		if i < len(out.NewRuns) {
			applyCreate(r, &out.NewRuns[i])
		}
	}
	for i, m := range op.Messages {
		if i < len(out.Messages) {
			m.ResultRunID = out.Messages[i].ResultRunID
		}
	}
}

// Error is an error on the wire: the store sentinels it matches, by code,
// and its message. An HTTP error response of the worker API has the native
// API's error body with Sentinels added.
type Error struct {
	Sentinels []string `json:"sentinels,omitempty"`
	Message   string   `json:"message"`
}

// ErrorBody is the body of a worker API error response: the native API's
// {"error":{"code","message"}} with the store sentinels the error matches.
type ErrorBody struct {
	Error struct {
		Code      string   `json:"code"`
		Message   string   `json:"message"`
		Sentinels []string `json:"sentinels,omitempty"`
	} `json:"error"`
}

// Sentinel codes.
var sentinels = []struct {
	code string
	err  error
}{
	{"NOT_FOUND", store.ErrNotFound},
	{"CONFLICT", store.ErrConflict},
	{"NOT_RUNNING", store.ErrNotRunning},
	{"STILL_RUNNING", store.ErrStillRunning},
	{"LEASE_LOST", store.ErrLeaseLost},
	{"STALE_TASK", store.ErrStaleTask},
	{"SCHEMA_TOO_NEW", store.ErrSchemaTooNew},
	// CLOSED is the server's store closing, which the worker sees as the
	// server being unavailable, not as its own store being closed.
	{"CLOSED", nil},
}

// SentinelsOf lists the codes of the store sentinels err matches.
func SentinelsOf(err error) []string {
	var out []string
	for _, s := range sentinels {
		if (s.err != nil && errors.Is(err, s.err)) || (s.err == nil && errors.Is(err, store.ErrClosed)) {
			out = append(out, s.code)
		}
	}
	return out
}

// ErrorOf is err on the wire.
func ErrorOf(err error) *Error {
	return &Error{Sentinels: SentinelsOf(err), Message: err.Error()}
}

// Err is the error e describes: errors.Is matches the store sentinels it
// lists.
func (e *Error) Err() error { return NewRemoteError(e.Message, e.Sentinels) }

// RemoteError is an error that happened in the server's store.
type RemoteError struct {
	Message   string
	Sentinels []string
	errs      []error
}

// NewRemoteError returns the error with message msg that matches the store
// sentinels named by codes (unknown codes are ignored).
func NewRemoteError(msg string, codes []string) *RemoteError {
	e := &RemoteError{Message: msg, Sentinels: codes}
	for _, c := range codes {
		for _, s := range sentinels {
			if s.code == c && s.err != nil {
				e.errs = append(e.errs, s.err)
			}
		}
	}
	return e
}

func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns the sentinels e matches.
func (e *RemoteError) Unwrap() []error { return e.errs }

// Closed reports whether the error is the server's store closing.
func (e *RemoteError) Closed() bool {
	for _, c := range e.Sentinels {
		if c == "CLOSED" {
			return true
		}
	}
	return false
}

// WorkflowClaimRequest is the body of POST …/workflow-tasks/claim. Wait
// (at most MaxWait) is how long the server may wait for work when none is
// claimable; 0 answers at once.
type WorkflowClaimRequest struct {
	Params store.WorkflowTaskClaimParams `json:"params"`
	Wait   Duration                      `json:"wait,omitempty"`
}

// WorkflowClaimResponse answers a WorkflowClaimRequest.
type WorkflowClaimResponse struct {
	Tasks []*store.WorkflowTask `json:"tasks"`
}

// ActivityClaimRequest is the body of POST …/activity-tasks/claim.
type ActivityClaimRequest struct {
	Params store.ActivityTaskClaimParams `json:"params"`
	Wait   Duration                      `json:"wait,omitempty"`
}

// ActivityClaimResponse answers an ActivityClaimRequest.
type ActivityClaimResponse struct {
	Tasks []*store.ClaimedActivity `json:"tasks"`
}

// LeasesReleaseRequest is the body of POST …/leases/release.
type LeasesReleaseRequest struct {
	Owner string `json:"owner"`
}

// RunGetRequest is the body of POST …/runs/get.
type RunGetRequest struct {
	InstanceID string `json:"instanceId"`
	RunID      string `json:"runId"`
}

// RunListResponse answers POST …/runs/list (whose body is a
// store.RunListParams).
type RunListResponse = store.RunListResult

// RunCountsResponse answers POST …/runs/counts.
type RunCountsResponse struct {
	Counts map[store.Status]int64 `json:"counts"`
}

// HistoryGetResponse answers POST …/history/get (whose body is a
// store.HistoryGetParams).
type HistoryGetResponse struct {
	Events []*store.Event `json:"events"`
}

// RunRequest names a run, for MessageList and ActivityTaskList.
type RunRequest struct {
	RunID string `json:"runId"`
}

// MessageListResponse answers POST …/messages/list.
type MessageListResponse struct {
	Messages []*store.Message `json:"messages"`
}

// ActivityTaskRequest names an activity task, for ActivityTaskGet.
type ActivityTaskRequest struct {
	RunID string `json:"runId"`
	Seq   int64  `json:"seq"`
}

// ActivityTaskResponse answers POST …/activity-tasks/get.
type ActivityTaskResponse struct {
	Task *store.ActivityTask `json:"task"`
}

// ActivityTaskListResponse answers POST …/activity-tasks/list.
type ActivityTaskListResponse struct {
	Tasks []*store.ActivityTask `json:"tasks"`
}

// NextWakeupRequest is the body of POST …/next-wakeup: the earliest
// wake-up after After is asked for; without it, after the server's clock
// (the body was {} before After existed, and a server that predates it
// ignores it).
type NextWakeupRequest struct {
	After time.Time `json:"after,omitzero"`
}

// NextWakeupResponse answers POST …/next-wakeup.
type NextWakeupResponse struct {
	At time.Time `json:"at"`
	OK bool      `json:"ok"`
}

// Wakeup is one line of the GET …/wakeups stream (newline-delimited
// JSON): the kinds of work that may have appeared, or none for a
// keep-alive line.
type Wakeup struct {
	Workflow bool `json:"workflow,omitempty"`
	Activity bool `json:"activity,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
