// Package failure converts between Go errors and the serialisable failure
// records kept in history, and defines the error types shared by workflow and
// activity code.
package failure

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Failure is the serialised form of an error, as stored in history.
type Failure struct {
	Message      string          `json:"message"`
	Type         string          `json:"type,omitempty"`
	NonRetryable bool            `json:"nonRetryable,omitempty"`
	Details      json.RawMessage `json:"details,omitempty"`
	Stack        string          `json:"stack,omitempty"`
	Cause        *Failure        `json:"cause,omitempty"`

	// Set for activity failures surfaced in a workflow.
	ActivityName string `json:"activityName,omitempty"`
	Attempts     int    `json:"attempts,omitempty"`
	Step         int64  `json:"step,omitempty"` // the activity's step in its workflow's history
	// Set for child workflow failures surfaced in a parent.
	WorkflowName string `json:"workflowName,omitempty"`
	InstanceID   string `json:"instanceId,omitempty"`
	// Timeout kind for timeout failures: StartToClose, ScheduleToClose, Heartbeat.
	TimeoutType string `json:"timeoutType,omitempty"`
}

// Error types named in Failure.Type by the engine itself.
const (
	TypeTimeout       = "TimeoutError"
	TypeActivity      = "ActivityError"
	TypeChildWorkflow = "ChildWorkflowError"
	TypeTerminated    = "Terminated"
	TypePanic         = "PanicError"
	TypeCanceled      = "CanceledError"
	TypeWorkerLost    = "WorkerLost"
	TypeNotRegistered = "NotRegistered"
)

// ApplicationError is an error with a stable type name that retry policies,
// callers and the UI can rely on. Mark it non-retryable to stop retries.
type ApplicationError struct {
	Message      string
	Type         string
	NonRetryable bool
	Details      json.RawMessage
	// Stack is the stack trace where the error arose, when known (panics).
	Stack string
	cause error
}

// NewError returns an ApplicationError of the given type.
func NewError(errType, format string, args ...any) *ApplicationError {
	return &ApplicationError{Type: errType, Message: fmt.Sprintf(format, args...)}
}

// NewNonRetryableError returns an ApplicationError that is never retried.
func NewNonRetryableError(errType, format string, args ...any) *ApplicationError {
	return &ApplicationError{Type: errType, Message: fmt.Sprintf(format, args...), NonRetryable: true}
}

// NonRetryable wraps err so that it is not retried; its type name is kept.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &ApplicationError{Type: TypeName(err), Message: err.Error(), NonRetryable: true, cause: err}
}

func (e *ApplicationError) Error() string {
	if e.Type == "" {
		return e.Message
	}
	return e.Message + " (" + e.Type + ")"
}

// Unwrap returns the wrapped error, if the error was built by NonRetryable.
func (e *ApplicationError) Unwrap() error { return e.cause }

// TimeoutError reports an activity attempt or a wait that ran out of time.
type TimeoutError struct {
	Kind    string // StartToClose, ScheduleToClose, Heartbeat
	Message string
}

func (e *TimeoutError) Error() string { return e.Message }

// TypeName is the type name recorded for err: the ApplicationError's Type,
// else the Go type of the outermost error (e.g. "*errors.errorString").
func TypeName(err error) string {
	var ae *ApplicationError
	if errors.As(err, &ae) && ae.Type != "" {
		return ae.Type
	}
	var te *TimeoutError
	if errors.As(err, &te) {
		return TypeTimeout
	}
	t := reflect.TypeOf(err)
	if t == nil {
		return ""
	}
	return t.String()
}

// FromError converts err to a Failure. Errors with a ToFailure method (the
// workflow package's ActivityError and ChildWorkflowError) convert
// themselves.
func FromError(err error) *Failure {
	if err == nil {
		return nil
	}
	if c, ok := err.(interface{ ToFailure() *Failure }); ok {
		return c.ToFailure()
	}
	f := &Failure{Message: err.Error(), Type: TypeName(err)}
	var ae *ApplicationError
	if errors.As(err, &ae) {
		f.NonRetryable = ae.NonRetryable
		f.Details = ae.Details
		f.Stack = ae.Stack
		if ae != err {
			f.Message = err.Error()
		} else {
			f.Message = ae.Message
		}
	}
	var te *TimeoutError
	if errors.As(err, &te) {
		f.TimeoutType = te.Kind
	}
	return f
}

// rebuilders turn failures of the types they are registered for back into
// the errors that recorded them (see RegisterType).
var (
	rebuildMu  sync.RWMutex
	rebuilders = map[string]func(*Failure) error{}
)

// RegisterType makes ToError rebuild failures of type typ with fn, for
// errors that record themselves (ToFailure) and wrap a cause: the workflow
// package's ActivityError and ChildWorkflowError, so that errors.As finds
// them, and their causes, at every level a failure travels through.
func RegisterType(typ string, fn func(*Failure) error) {
	rebuildMu.Lock()
	rebuilders[typ] = fn
	rebuildMu.Unlock()
}

// ToError turns a Failure back into an error (ApplicationError or
// TimeoutError, or a registered type) for code that receives it.
func (f *Failure) ToError() error {
	if f == nil {
		return nil
	}
	rebuildMu.RLock()
	fn := rebuilders[f.Type]
	rebuildMu.RUnlock()
	if fn != nil {
		if err := fn(f); err != nil {
			return err
		}
	}
	if f.Type == TypeTimeout {
		return &TimeoutError{Kind: f.TimeoutType, Message: f.Message}
	}
	ae := &ApplicationError{Message: f.Message, Type: f.Type, NonRetryable: f.NonRetryable, Details: f.Details, Stack: f.Stack}
	if f.Cause != nil {
		ae.cause = f.Cause.ToError()
	}
	return ae
}

// Encode marshals f to JSON; nil stays nil.
func Encode(f *Failure) []byte {
	if f == nil {
		return nil
	}
	b, _ := json.Marshal(f)
	return b
}

// Decode unmarshals a failure; empty input gives nil.
func Decode(b []byte) *Failure {
	if len(b) == 0 {
		return nil
	}
	var f Failure
	if err := json.Unmarshal(b, &f); err != nil {
		return &Failure{Message: strings.TrimSpace(string(b))}
	}
	return &f
}
