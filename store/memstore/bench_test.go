package memstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/memstore"
)

// BenchmarkClaimAmongIdleRuns claims one ready run among 100k runs that
// wait for a timer: the cost must not grow with the idle runs.
func BenchmarkClaimAmongIdleRuns(b *testing.B) {
	ctx := context.Background()
	s := memstore.New()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var ops []store.Op
	for i := 0; i < 100_000; i++ {
		ops = append(ops, &store.RunCreateOp{
			Run:   store.Run{InstanceID: fmt.Sprint("idle-", i), RunID: fmt.Sprint("idle-r", i), Name: "wf", CreatedAt: t0},
			Start: store.Message{Type: "ExecutionStarted", VisibleAt: t0.Add(time.Hour)},
		})
	}
	if _, err := s.Apply(ctx, ops); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := fmt.Sprint("busy-", i)
		op := &store.RunCreateOp{
			Run:   store.Run{InstanceID: id, RunID: id, Name: "wf", CreatedAt: t0},
			Start: store.Message{Type: "ExecutionStarted", VisibleAt: t0},
		}
		if _, err := s.Apply(ctx, []store.Op{op}); err != nil {
			b.Fatal(err)
		}
		tasks, err := s.WorkflowTaskClaim(ctx, &store.WorkflowTaskClaimParams{Owner: "w", Max: 1, Now: t0, LeaseUntil: t0.Add(time.Minute)})
		if err != nil || len(tasks) != 1 {
			b.Fatal(err, len(tasks))
		}
		if _, _, err := s.NextWakeup(ctx, t0); err != nil {
			b.Fatal(err)
		}
	}
}
