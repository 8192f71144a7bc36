package engine

import (
	"context"
	"errors"
	"time"

	"github.com/perdure/perdure/store"
)

// Gateway is the engine's store as other processes' engines use it through
// this one (remote workers, package server's worker API). It is the
// engine's store.Store with two differences: Apply goes through the
// engine's group committer, so that the commits of remote workers wake
// this engine's completion waiters, long polls and claim loops exactly as
// its own commits do; and LeasesRelease wakes them too, since the released
// work can be claimed at once. Close does nothing: the store belongs to
// the engine's owner.
type Gateway struct {
	store.Store
	e *Engine
}

// Gateway returns the engine's gateway.
func (e *Engine) Gateway() *Gateway { return &Gateway{Store: e.st, e: e} }

// Apply commits ops through the group committer and waits until they are
// durable. Once the ops are queued the commit is not abandoned when ctx
// ends: the caller always learns the outcome.
func (g *Gateway) Apply(ctx context.Context, ops []store.Op) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return []error{}, nil
	}
	errs, err := g.e.apply(ops...)
	if errors.Is(err, ErrClosed) {
		return nil, store.ErrClosed
	}
	return errs, err
}

// LeasesRelease drops owner's leases and wakes whoever waits for work.
func (g *Gateway) LeasesRelease(ctx context.Context, owner string) error {
	err := g.Store.LeasesRelease(ctx, owner)
	if err == nil {
		g.e.notify()
	}
	return err
}

// Close does nothing; the engine's owner closes the store.
func (g *Gateway) Close() error { return nil }

// WorkChan returns a channel that is closed when work of kind
// (store.WakeWorkflow or store.WakeActivity) may have appeared that no
// worker of this engine took at once: a commit made it, leases were
// released, or the store notified it. Take the channel before looking
// for work, so that work made meanwhile is not missed.
func (g *Gateway) WorkChan(kind store.Wake) <-chan struct{} {
	if kind&store.WakeWorkflow != 0 {
		return g.e.loopWakeChan(workflowLoop)
	}
	return g.e.loopWakeChan(activityLoop)
}

// WaitForWork blocks until wake (from WorkChan) is closed, until the
// store's next wake-up time after since (a timer, a retry, a lease expiry;
// since is the time of the claim that found nothing, or any time before
// it), until the engine's idle poll interval has passed (work written by
// another process that no notification announced), until the engine
// closes, or until ctx is done.
func (g *Gateway) WaitForWork(ctx context.Context, wake <-chan struct{}, since time.Time) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-g.e.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	g.e.waitUntilWork(ctx, wake, nil, since)
}

// Now is the engine's current time, as stores keep it.
func (g *Gateway) Now() time.Time { return g.e.Now() }

// Closing is closed when the engine starts to close.
func (g *Gateway) Closing() <-chan struct{} { return g.e.closing }
