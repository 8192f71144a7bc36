package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/memstore"
)

// WaitForCompletion leaves nothing behind for instances that do not finish
// in this process: missing ones, and waits that give up.
func TestWaitForCompletionLeavesNoWaiters(t *testing.T) {
	st := memstore.New()
	defer st.Close()
	e, err := New(Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	if _, err := e.WaitForCompletion(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing instance: %v", err)
	}
	if _, _, err := e.Start(ctx, StartRequest{InstanceID: "waits", Name: "W"}); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := e.WaitForCompletion(short, "waits"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait that gives up: %v", err)
	}
	e.mu.Lock()
	n := len(e.waiters)
	e.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d waiters left behind", n)
	}
}
