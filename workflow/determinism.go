package workflow

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/internal/replay"
)

// NewUUID returns a random UUID that is the same on every replay.
func NewUUID(ctx Context) string { return runner(ctx).NewUUID() }

// Random returns the workflow's deterministic random source.
func Random(ctx Context) *rand.Rand { return runner(ctx).Rand() }

// SideEffect runs fn once, records its result in history, and returns the
// recorded result on every replay. fn must not fail; use Run for steps that
// can.
func SideEffect[T any](ctx Context, fn func() T) (T, error) {
	return Run(ctx, "SideEffect", func(context.Context) (T, error) { return fn(), nil })
}

// Run is a durable step inside the workflow: fn runs once, in the workflow
// task, and its result (or error) is recorded; replays return the recorded
// outcome without calling fn again. A crash before the step is committed
// runs it again, so fn should be idempotent. Use activities for steps that
// need retries, timeouts or heartbeats.
func Run[T any](ctx Context, name string, fn func(ctx context.Context) (T, error)) (T, error) {
	r := runner(ctx)
	var zero T
	b, fail := r.SideEffect(name, func() ([]byte, *failure.Failure) {
		v, err := safeRun(fn)
		if err != nil {
			return nil, failure.FromError(err)
		}
		b, err := payload.Encode(r.Codec(), v)
		if err != nil {
			return nil, failure.FromError(err)
		}
		return b, nil
	})
	if fail != nil {
		return zero, fail.ToError()
	}
	var out T
	if err := payload.Decode(r.Codec(), b, &out); err != nil {
		return zero, fmt.Errorf("step %q: %w", name, err)
	}
	return out, nil
}

func safeRun[T any](fn func(context.Context) (T, error)) (v T, err error) {
	defer func() {
		if rec := recover(); rec != nil {
			err = failure.NewError(failure.TypePanic, "panic: %v", rec)
		}
	}()
	return fn(context.Background())
}

// DefaultVersion is the version GetVersion returns for runs that passed the
// change point before the change was deployed.
const DefaultVersion = replay.DefaultVersion

// GetVersion lets running workflows keep their old behaviour while new runs
// take a new code path:
//
//	v := workflow.GetVersion(ctx, "add-fraud-check", workflow.DefaultVersion, 1)
//	if v == 1 { ... new code ... }
//
// New runs get maxSupported (recorded in history); runs that had already
// passed this point before the change get DefaultVersion. Raise
// minSupported once no running workflow needs an old version.
func GetVersion(ctx Context, changeID string, minSupported, maxSupported int) int {
	return runner(ctx).GetVersion(changeID, minSupported, maxSupported)
}
