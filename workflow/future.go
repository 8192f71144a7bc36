package workflow

import (
	"fmt"

	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/internal/replay"
)

// Awaitable is anything a workflow can wait on: every Future.
type Awaitable interface {
	// IsReady reports whether the result is available without blocking.
	IsReady() bool
	base() *replay.Future
}

// Future is the eventual result of an activity, timer, event or child
// workflow. Get blocks the calling workflow coroutine until it is ready.
type Future[T any] interface {
	Awaitable
	Get(ctx Context) (T, error)
}

type future[T any] struct {
	f *replay.Future
	// toErr converts a recorded failure into the error the workflow sees.
	toErr func(*failure.Failure) error
}

func (f *future[T]) base() *replay.Future { return f.f }
func (f *future[T]) IsReady() bool        { return f.f.Ready() }

func (f *future[T]) Get(ctx Context) (T, error) {
	var zero T
	v, fail, err := f.f.Wait()
	if err != nil {
		return zero, err
	}
	if fail != nil {
		if f.toErr != nil {
			return zero, f.toErr(fail)
		}
		return zero, fail.ToError()
	}
	var out T
	if err := payload.Decode(f.f.Runner().Codec(), v, &out); err != nil {
		return zero, fmt.Errorf("decode result into %T: %w", out, err)
	}
	return out, nil
}

func newFuture[T any](f *replay.Future, toErr func(*failure.Failure) error) Future[T] {
	return &future[T]{f: f, toErr: toErr}
}

// errFuture is a future that is ready with an error (bad input, encoding).
func errFuture[T any](ctx Context, err error) Future[T] {
	f := runner(ctx).NewSettable()
	f.Set(nil, err)
	return &future[T]{f: f}
}

// Settable is a future that workflow code resolves itself, for example to
// hand a value from one coroutine to another.
type Settable[T any] struct {
	future[T]
}

// NewSettable returns an unresolved Settable.
func NewSettable[T any](ctx Context) *Settable[T] {
	return &Settable[T]{future[T]{f: runner(ctx).NewSettable()}}
}

// Set resolves the future with a value or an error; later calls are ignored.
func (s *Settable[T]) Set(v T, err error) {
	if err != nil {
		s.f.Set(nil, err)
		return
	}
	b, encErr := payload.Encode(s.f.Runner().Codec(), v)
	s.f.Set(b, encErr)
}
