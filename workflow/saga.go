package workflow

import (
	"context"
	"errors"
	"fmt"
)

// Saga collects compensations as steps succeed and runs them in reverse
// order when a later step fails:
//
//	saga := workflow.NewSaga()
//	car, err := workflow.ExecuteActivity(ctx, BookCar, in).Get(ctx)
//	if err != nil { return err }
//	workflow.AddCompensationActivity(saga, UndoBookCar, in)
//	...
//	if err != nil { return saga.Compensate(ctx, err) }
type Saga struct {
	steps []func(Context) error
	// ContinueOnError runs the remaining compensations when one fails
	// (the default); set false to stop at the first failing compensation.
	ContinueOnError bool
}

// NewSaga returns an empty saga that runs every compensation even if some fail.
func NewSaga() *Saga { return &Saga{ContinueOnError: true} }

// AddCompensation registers a compensation step.
func (s *Saga) AddCompensation(fn func(ctx Context) error) {
	s.steps = append(s.steps, fn)
}

// AddCompensationActivity registers the activity fn with input as a
// compensation step.
func AddCompensationActivity[I, R any](s *Saga, fn func(context.Context, I) (R, error), input I) {
	s.AddCompensation(func(ctx Context) error {
		_, err := ExecuteActivity(ctx, fn, input).Get(ctx)
		return err
	})
}

// Compensate runs the registered compensations in reverse order and returns
// cause (the error that made the saga fail) joined with any compensation
// errors. Activities run by compensations are marked as such in history.
func (s *Saga) Compensate(ctx Context, cause error) error {
	cctx := ctx.state().with(func(c *wctx) { c.compensating = true })
	errs := []error{cause}
	for i := len(s.steps) - 1; i >= 0; i-- {
		if err := s.steps[i](cctx); err != nil {
			errs = append(errs, fmt.Errorf("compensation %d: %w", i+1, err))
			if !s.ContinueOnError {
				break
			}
		}
	}
	s.steps = nil
	return errors.Join(errs...)
}
