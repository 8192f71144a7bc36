package engine

import (
	"time"

	"github.com/perdure/perdure/store"
)

// Observer is told what the engine does, for metrics. Calls are made on the
// engine's goroutines and must not block.
type Observer interface {
	// WorkflowStarted: a start created a new run.
	WorkflowStarted(name string)
	// WorkflowFinished: a run ended with status (COMPLETED, FAILED,
	// TERMINATED, CONTINUED_AS_NEW) after d since it was created.
	WorkflowFinished(name string, status store.Status, d time.Duration)
	// WorkflowTask: a workflow task ran; replayed tells whether the history
	// had to be replayed (cache miss); failed whether the task failed.
	WorkflowTask(name string, replayed, failed bool, d time.Duration)
	// ActivityAttempt: an attempt ended with outcome "completed", "failed"
	// (no retry left), "retried", "pending" (async completion) or "lost".
	ActivityAttempt(name, outcome string, d time.Duration)
	// Commit: one group commit of ops operations took d.
	Commit(ops int, d time.Duration, err error)
}

type nopObserver struct{}

func (nopObserver) WorkflowStarted(string)                               {}
func (nopObserver) WorkflowFinished(string, store.Status, time.Duration) {}
func (nopObserver) WorkflowTask(string, bool, bool, time.Duration)       {}
func (nopObserver) ActivityAttempt(string, string, time.Duration)        {}
func (nopObserver) Commit(int, time.Duration, error)                     {}
