package memstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memstore.New() })
}

// NextWakeup compares with the time it is given, not the wall clock: an
// engine on virtual time passes its own.
func TestNextWakeupVirtualTime(t *testing.T) {
	now := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	s := memstore.New()
	ctx := context.Background()
	var ops []store.Op
	for i, d := range []time.Duration{-time.Second, time.Hour} {
		id := fmt.Sprint("i", i)
		ops = append(ops, &store.RunCreateOp{
			Run:   store.Run{InstanceID: id, RunID: id, Name: "wf", CreatedAt: now},
			Start: store.Message{Type: "ExecutionStarted", VisibleAt: now.Add(d)},
		})
	}
	if _, err := s.Apply(ctx, ops); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.NextWakeup(ctx, now)
	if err != nil || !ok || !got.Equal(now.Add(time.Hour)) {
		t.Fatalf("NextWakeup = %v %v %v, want %v", got, ok, err, now.Add(time.Hour))
	}
}
