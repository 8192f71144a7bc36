package workflow

import (
	"fmt"
	"time"

	"github.com/perdure/perdure/internal/payload"
)

// WaitEvent returns a future for the next external event called name (names
// match case-insensitively). Events raised before the workflow waits are
// buffered and delivered in the order they were raised.
func WaitEvent[T any](ctx Context, name string) Future[T] {
	return newFuture[T](runner(ctx).WaitEvent(name), nil)
}

// WaitEventWithTimeout is WaitEvent that gives up after timeout: the future
// then fails with ErrEventTimeout (test with errors.Is), and an event that
// arrives later stays buffered for the next wait. A timeout of zero or less
// has already run out: the future takes an event already received, or fails
// at once with ErrEventTimeout.
func WaitEventWithTimeout[T any](ctx Context, name string, timeout time.Duration) Future[T] {
	return newFuture[T](runner(ctx).WaitEventWithTimeout(name, timeout), nil)
}

// SendEvent raises the event name on another workflow instance. Sending to
// an instance that does not exist or has finished is not an error.
func SendEvent(ctx Context, instanceID, name string, data any) error {
	r := runner(ctx)
	b, err := payload.Encode(r.Codec(), data)
	if err != nil {
		return fmt.Errorf("send event %q: %w", name, err)
	}
	r.SendEvent(instanceID, name, b)
	return nil
}
