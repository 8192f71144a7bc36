package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/perdure/perdure/store"
)

// TestRunGetTogether checks the RunGet calls that are read together: each
// gets its own run (by instance or by run id, twice the same, missing
// ones), and a cancelled call does not disturb the others.
func TestRunGetTogether(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const runs = 50
	var ops []store.Op
	for i := range runs {
		id := fmt.Sprint("i", i)
		ops = append(ops, &store.RunCreateOp{Run: store.Run{InstanceID: id, RunID: id + "~r", Name: "wf", Input: []byte(fmt.Sprint(i)),
			CreatedAt: t0, UpdatedAt: t0}, Start: store.Message{Type: "ExecutionStarted", VisibleAt: t0}})
	}
	mustApply(t, s, ops...)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for round := range 3 {
		var wg sync.WaitGroup
		errs := make(chan error, 8*runs)
		for i := range runs {
			inst, runID := fmt.Sprint("i", i), fmt.Sprint("i", i, "~r")
			for _, c := range []struct{ inst, run string }{{inst, ""}, {inst, ""}, {"", runID}, {inst, runID}} {
				wg.Go(func() {
					r, err := s.RunGet(ctx, c.inst, c.run)
					if err != nil || r.RunID != runID || r.InstanceID != inst || string(r.Input) != fmt.Sprint(i) {
						errs <- fmt.Errorf("RunGet(%q, %q): %+v, %v", c.inst, c.run, r, err)
					}
				})
			}
			wg.Go(func() {
				for _, c := range []struct{ inst, run string }{{"missing", ""}, {"", "missing"}, {fmt.Sprint("i", (i+1)%runs), runID}} {
					if _, err := s.RunGet(ctx, c.inst, c.run); !errors.Is(err, store.ErrNotFound) {
						errs <- fmt.Errorf("RunGet(%q, %q): %v, want ErrNotFound", c.inst, c.run, err)
					}
				}
			})
			if i%10 == round {
				wg.Go(func() {
					if _, err := s.RunGet(cancelled, inst, ""); !errors.Is(err, context.Canceled) {
						errs <- fmt.Errorf("cancelled RunGet: %v", err)
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
	// Two callers of one run do not share its bytes.
	var wg sync.WaitGroup
	got := make([]*store.Run, 20)
	for i := range got {
		wg.Go(func() {
			r, err := s.RunGet(ctx, "i7", "")
			if err != nil {
				t.Error(err)
			}
			got[i] = r
		})
	}
	wg.Wait()
	if got[0] != nil && got[1] != nil {
		got[0].Input[0] = 'x'
		if string(got[1].Input) != "7" {
			t.Errorf("two RunGet calls share their run's input")
		}
	}
	s.Close()
	if _, err := s.RunGet(ctx, "i1", ""); !errors.Is(err, store.ErrClosed) {
		t.Errorf("RunGet after Close: %v", err)
	}
}
