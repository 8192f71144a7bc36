package actx

import (
	"context"
	"log/slog"
	"sync"
	"testing"
)

// The token, key and logger are built once, the first time one of them
// is asked for, and not at all when none is.
func TestDescribeOnceWhenAsked(t *testing.T) {
	calls := 0
	logger := slog.Default()
	s := &State{Describe: func() (string, string, *slog.Logger) {
		calls++
		return "tok", "i/r/2", logger
	}}
	ctx := With(context.Background(), s)
	if calls != 0 {
		t.Fatalf("Describe ran %d times before anything was asked", calls)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got := From(ctx)
			if got.TaskToken() != "tok" || got.IdempotencyKey() != "i/r/2" || got.Logger() != logger {
				t.Errorf("token %q, key %q", got.TaskToken(), got.IdempotencyKey())
			}
		})
	}
	wg.Wait()
	if calls != 1 {
		t.Fatalf("Describe ran %d times, want 1", calls)
	}
	if (&State{}).Logger() != nil || (&State{}).TaskToken() != "" {
		t.Fatal("a state without Describe describes something")
	}
}
