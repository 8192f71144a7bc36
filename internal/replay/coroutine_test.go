package replay

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perdure/perdure/internal/history"
)

// blockedForever starts two coroutines besides the workflow's own and
// blocks all three for good; each counts its unwinding in unwound.
func blockedForever(unwound *atomic.Int64) Func {
	return func(r *Runner, _ []byte) ([]byte, error) {
		for _, name := range []string{"a", "b"} {
			r.Go(name, func() {
				defer unwound.Add(1)
				r.Block(func() bool { return false })
			})
		}
		defer unwound.Add(1)
		r.Block(func() bool { return false })
		return nil, nil
	}
}

func started() []*history.Event {
	return []*history.Event{{ID: 1, Type: history.ExecutionStarted, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Data: history.Data{Name: "wf", Input: []byte(`1`)}}}
}

// settledGoroutines waits for the goroutine count to fall to at most n.
func settledGoroutines(n int) int {
	for range 200 {
		if g := runtime.NumGoroutine(); g <= n {
			return g
		}
		time.Sleep(time.Millisecond)
	}
	return runtime.NumGoroutine()
}

// Coroutines started live (under iter.Pull) and during a replay (on
// pooled goroutines) block, and Close unwinds every one of them, running
// their deferred calls, and leaves no goroutine of theirs running (the
// pooled ones wait for the next coroutine, as they do).
func TestCoroutinesUnwindOnClose(t *testing.T) {
	for _, mode := range []string{"live", "replay"} {
		t.Run(mode, func(t *testing.T) {
			before := runtime.NumGoroutine()
			var unwound atomic.Int64
			r := NewRunner(verifyInfo, blockedForever(&unwound), nil, nil)
			var err error
			if mode == "live" {
				var res *Result
				res, err = r.Step(started())
				if err == nil && res.Completion != nil {
					t.Fatal("the workflow completed")
				}
			} else {
				err = r.Replay(started())
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := unwound.Load(); n != 0 {
				t.Fatalf("%d coroutines ended before Close", n)
			}
			if len(r.coroutines) != 3 {
				t.Fatalf("%d coroutines, want 3", len(r.coroutines))
			}
			for _, co := range r.coroutines {
				if pulled := co.next != nil; pulled != (mode == "live") || pulled == (co.resume != nil) {
					t.Fatalf("%s: coroutine %q runs under iter.Pull: %v", mode, co.name, pulled)
				}
			}
			r.Close()
			if n := unwound.Load(); n != 3 {
				t.Fatalf("Close unwound %d coroutines, want 3", n)
			}
			if mode == "live" {
				if g := settledGoroutines(before); g > before {
					t.Fatalf("%d goroutines after Close, %d before", g, before)
				}
			}
		})
	}
}

// A panic in a coroutine fails the workflow task, whichever way the
// coroutine runs.
func TestCoroutinePanicFailsTheTask(t *testing.T) {
	fn := func(r *Runner, _ []byte) ([]byte, error) {
		done := false
		r.Go("p", func() { panic("boom") })
		r.Block(func() bool { return done })
		return nil, nil
	}
	for _, mode := range []string{"live", "replay"} {
		t.Run(mode, func(t *testing.T) {
			r := NewRunner(verifyInfo, fn, nil, nil)
			defer r.Close()
			var err error
			if mode == "live" {
				_, err = r.Step(started())
			} else {
				err = r.Replay(started())
			}
			var pe *PanicError
			if !errors.As(err, &pe) || pe.Value != "boom" {
				t.Fatalf("error %v, want the coroutine's panic", err)
			}
		})
	}
}
