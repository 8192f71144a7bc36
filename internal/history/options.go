package history

import "time"

// ActivityOptions is the stored form of an activity call's options, kept in
// TaskScheduled events and activity tasks.
type ActivityOptions struct {
	InitialInterval        time.Duration `json:"initialInterval,omitempty"`
	BackoffCoefficient     float64       `json:"backoffCoefficient,omitempty"`
	MaximumInterval        time.Duration `json:"maximumInterval,omitempty"`
	MaximumAttempts        int           `json:"maximumAttempts,omitempty"`
	NonRetryableErrorTypes []string      `json:"nonRetryableErrorTypes,omitempty"`
	StartToCloseTimeout    time.Duration `json:"startToCloseTimeout,omitempty"`
	ScheduleToCloseTimeout time.Duration `json:"scheduleToCloseTimeout,omitempty"`
	HeartbeatTimeout       time.Duration `json:"heartbeatTimeout,omitempty"`
	// Compensation marks activities run by a saga's compensation.
	Compensation bool `json:"compensation,omitempty"`
}

// IsZero reports whether all options are defaults.
func (o ActivityOptions) IsZero() bool {
	return o.InitialInterval == 0 && o.BackoffCoefficient == 0 && o.MaximumInterval == 0 && o.MaximumAttempts == 0 &&
		len(o.NonRetryableErrorTypes) == 0 && o.StartToCloseTimeout == 0 && o.ScheduleToCloseTimeout == 0 &&
		o.HeartbeatTimeout == 0 && !o.Compensation
}

// Defaults used when options leave a field zero.
const (
	DefaultInitialInterval    = time.Second
	DefaultBackoffCoefficient = 2.0
	DefaultMaxIntervalFactor  = 100
)

// Backoff returns the delay before attempt+1 after attempt failed.
func (o ActivityOptions) Backoff(attempt int) time.Duration {
	initial := o.InitialInterval
	if initial <= 0 {
		initial = DefaultInitialInterval
	}
	coef := o.BackoffCoefficient
	if coef < 1 {
		coef = DefaultBackoffCoefficient
	}
	maxI := o.MaximumInterval
	if maxI <= 0 {
		maxI = initial * DefaultMaxIntervalFactor
	}
	d := float64(initial)
	for i := 1; i < attempt; i++ {
		d *= coef
		if d >= float64(maxI) {
			return maxI
		}
	}
	if time.Duration(d) > maxI {
		return maxI
	}
	return time.Duration(d)
}

// Retryable reports whether a failure of errType after attempt may be
// retried under these options.
func (o ActivityOptions) Retryable(errType string, nonRetryable bool, attempt int) bool {
	if nonRetryable {
		return false
	}
	if o.MaximumAttempts > 0 && attempt >= o.MaximumAttempts {
		return false
	}
	for _, t := range o.NonRetryableErrorTypes {
		if t == errType {
			return false
		}
	}
	return true
}

// Wait is one thing a run waits on, as kept in store.Run.Waiting.
type Wait struct {
	// Kind is "activity", "timer", "event", "child", or "more" (a summary of
	// Count further waits left out to keep the document small).
	Kind       string    `json:"kind"`
	Step       int64     `json:"step,omitempty"`
	Name       string    `json:"name,omitempty"` // activity, event or child workflow name
	InstanceID string    `json:"instanceId,omitempty"`
	FireAt     time.Time `json:"fireAt,omitzero"`
	// Purpose of a timer: "event:NAME" for the timeout of an event wait.
	Purpose string `json:"purpose,omitempty"`
	Count   int    `json:"count,omitempty"`
}

// MaxWaits bounds the waits listed for one run.
const MaxWaits = 50
