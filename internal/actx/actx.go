// Package actx carries the state of a running activity attempt in its
// context.Context, between the engine and package activity.
package actx

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// State is the per-attempt state the engine puts in the context.
type State struct {
	InstanceID   string
	RunID        string
	WorkflowName string
	ActivityName string
	Seq          int64
	Attempt      int
	ScheduledAt  time.Time
	StartedAt    time.Time
	Deadline     time.Time
	TaskQueue    string
	// LastDetails are the heartbeat details recorded by an earlier attempt
	// (or earlier in this one).
	LastDetails []byte
	// Heartbeat records details (already encoded) for this attempt.
	Heartbeat func(details []byte)
	Encode    func(v any) ([]byte, error)
	Decode    func(b []byte, v any) error
	// Describe returns the attempt's task token, idempotency key and
	// logger. It runs the first time one of them is asked for: most
	// attempts never ask, and building them cost more than the rest of an
	// attempt's set-up.
	Describe func() (token, key string, logger *slog.Logger)

	once   sync.Once
	token  string
	key    string
	logger *slog.Logger
}

func (s *State) describe() {
	s.once.Do(func() {
		if s.Describe != nil {
			s.token, s.key, s.logger = s.Describe()
		}
	})
}

// TaskToken identifies the attempt for completion by token.
func (s *State) TaskToken() string {
	s.describe()
	return s.token
}

// IdempotencyKey is the same for every attempt of the activity.
func (s *State) IdempotencyKey() string {
	s.describe()
	return s.key
}

// Logger is tagged with the activity, the instance and the attempt; nil
// when Describe gives none.
func (s *State) Logger() *slog.Logger {
	s.describe()
	return s.logger
}

type key struct{}

// With returns ctx carrying s.
func With(ctx context.Context, s *State) context.Context { return context.WithValue(ctx, key{}, s) }

// From returns the state in ctx, or nil outside an activity.
func From(ctx context.Context) *State {
	s, _ := ctx.Value(key{}).(*State)
	return s
}
