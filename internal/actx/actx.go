// Package actx carries the state of a running activity attempt in its
// context.Context, between the engine and package activity.
package actx

import (
	"context"
	"log/slog"
	"time"
)

// State is the per-attempt state the engine puts in the context.
type State struct {
	InstanceID     string
	RunID          string
	WorkflowName   string
	ActivityName   string
	Seq            int64
	Attempt        int
	TaskToken      string
	IdempotencyKey string
	ScheduledAt    time.Time
	StartedAt      time.Time
	Deadline       time.Time
	TaskQueue      string
	// LastDetails are the heartbeat details recorded by an earlier attempt
	// (or earlier in this one).
	LastDetails []byte
	// Heartbeat records details (already encoded) for this attempt.
	Heartbeat func(details []byte)
	Encode    func(v any) ([]byte, error)
	Decode    func(b []byte, v any) error
	Logger    *slog.Logger
}

type key struct{}

// With returns ctx carrying s.
func With(ctx context.Context, s *State) context.Context { return context.WithValue(ctx, key{}, s) }

// From returns the state in ctx, or nil outside an activity.
func From(ctx context.Context) *State {
	s, _ := ctx.Value(key{}).(*State)
	return s
}
