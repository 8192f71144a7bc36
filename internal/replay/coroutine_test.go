package replay

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
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

// idleHostCount is the number of hosts waiting for a coroutine.
func idleHostCount() int {
	idleHosts.Lock()
	defer idleHosts.Unlock()
	return len(idleHosts.hosts)
}

// Coroutines started live and during a replay block on hosts, and Close
// unwinds every one of them, running their deferred calls, and hands their
// hosts back: no goroutine is left but idle hosts.
func TestCoroutinesUnwindOnClose(t *testing.T) {
	for _, mode := range []string{"live", "replay"} {
		t.Run(mode, func(t *testing.T) {
			before, idleBefore := runtime.NumGoroutine(), idleHostCount()
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
			hosts := map[*host]bool{}
			for _, co := range r.coroutines {
				if co.host == nil || co.host.co != co {
					t.Fatalf("%s: blocked coroutine %q is not on a host of its own", mode, co.name)
				}
				hosts[co.host] = true
			}
			if len(hosts) != 3 {
				t.Fatalf("3 blocked coroutines on %d hosts", len(hosts))
			}
			r.Close()
			if n := unwound.Load(); n != 3 {
				t.Fatalf("Close unwound %d coroutines, want 3", n)
			}
			for _, co := range r.coroutines {
				if !co.done || co.host != nil {
					t.Fatalf("coroutine %q after Close: done %v, host %v", co.name, co.done, co.host)
				}
			}
			added := idleHostCount() - idleBefore
			if added < 0 || added > 3 {
				t.Fatalf("%d more idle hosts after Close, want 0 to 3", added)
			}
			if g := settledGoroutines(before + added); g > before+added {
				t.Fatalf("%d goroutines after Close, %d before and %d idle hosts more", g, before, added)
			}
		})
	}
}

// A coroutine that ends hands its host to the next: a second run's
// coroutine runs on the goroutine the first one's ran on.
func TestHostsServeCoroutineAfterCoroutine(t *testing.T) {
	var seen []*host
	fn := func(r *Runner, _ []byte) ([]byte, error) {
		seen = append(seen, r.current.host)
		return nil, nil
	}
	for range 2 {
		r := NewRunner(verifyInfo, fn, nil, nil)
		res, err := r.Step(started())
		if err != nil || res.Completion == nil {
			t.Fatalf("%v, %+v: want the workflow completed", err, res)
		}
		r.Close()
	}
	if len(seen) != 2 || seen[0] == nil || seen[0] != seen[1] {
		t.Fatalf("the two runs' coroutines ran on hosts %p, want one host for both", seen)
	}
}

// Past maxIdleHosts, a host whose coroutine ends stops its goroutine.
func TestIdleHostsAreBounded(t *testing.T) {
	var unwound atomic.Int64
	const n = maxIdleHosts + 40
	fn := func(r *Runner, _ []byte) ([]byte, error) {
		for range n - 1 {
			r.Go("b", func() {
				defer unwound.Add(1)
				r.Block(func() bool { return false })
			})
		}
		defer unwound.Add(1)
		r.Block(func() bool { return false })
		return nil, nil
	}
	before := runtime.NumGoroutine() - idleHostCount()
	r := NewRunner(verifyInfo, fn, nil, nil)
	if _, err := r.Step(started()); err != nil {
		t.Fatal(err)
	}
	if g := runtime.NumGoroutine(); g < before+n {
		t.Fatalf("%d goroutines with %d coroutines blocked, want at least %d", g, n, before+n)
	}
	r.Close()
	if u := unwound.Load(); u != n {
		t.Fatalf("Close unwound %d coroutines, want %d", u, n)
	}
	if idle := idleHostCount(); idle != maxIdleHosts {
		t.Fatalf("%d idle hosts, want %d", idle, maxIdleHosts)
	}
	if g := settledGoroutines(before + maxIdleHosts); g > before+maxIdleHosts {
		t.Fatalf("%d goroutines after Close, want at most %d", g, before+maxIdleHosts)
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

// schedulingProgram is a workflow whose coroutines, each driven by a
// random source of its own, wait on futures, set them, wait for a shared
// counter to reach a value, bump it, and start more coroutines; it logs
// every step to trace, so that two runs of it can be compared.
func schedulingProgram(seed uint64, trace *[]string) Func {
	return func(r *Runner, _ []byte) ([]byte, error) {
		const nFutures = 12
		futures := make([]*Future, nFutures)
		for i := range futures {
			futures[i] = r.NewSettable()
		}
		counter, started := 0, 0
		logf := func(format string, args ...any) { *trace = append(*trace, fmt.Sprintf(format, args...)) }
		var body func(name string, rng *rand.Rand, steps int)
		body = func(name string, rng *rand.Rand, steps int) {
			for step := range steps {
				switch k := rng.IntN(9); k {
				case 7, 8:
					f := rng.IntN(nFutures)
					logf("%s sets %d", name, f)
					futures[f].Set(nil, nil)
				case 0, 1:
					f := rng.IntN(nFutures)
					logf("%s waits on %d", name, f)
					futures[f].Wait()
					logf("%s got %d", name, f)
				case 2:
					f := rng.IntN(nFutures)
					logf("%s sets %d", name, f)
					futures[f].Set(nil, nil)
				case 3:
					want := counter + 1 + rng.IntN(3)
					logf("%s awaits %d", name, want)
					r.Block(func() bool { return counter >= want })
					logf("%s saw %d", name, counter)
				case 4:
					counter++
					logf("%s bumps to %d", name, counter)
				case 5:
					if started < 30 {
						started++
						child := fmt.Sprintf("%s.%d", name, step)
						crng := rand.New(rand.NewPCG(seed, uint64(started)))
						logf("%s starts %s", name, child)
						r.Go(child, func() { body(child, crng, 2+crng.IntN(6)) })
					}
				case 6:
					a, b := rng.IntN(nFutures), rng.IntN(nFutures)
					logf("%s waits on %d or %d", name, a, b)
					r.Block(func() bool { return futures[a].Ready() || futures[b].Ready() })
					logf("%s woke", name)
				}
			}
			logf("%s ends", name)
		}
		for i := range 6 {
			started++
			child := fmt.Sprint("c", i)
			crng := rand.New(rand.NewPCG(seed, uint64(started)))
			r.Go(child, func() { body(child, crng, 4+crng.IntN(8)) })
		}
		body("main", rand.New(rand.NewPCG(seed, 0)), 12)
		// Whatever is still blocked stays so; the workflow ends once the
		// others have had their turn.
		r.Block(func() bool { return false })
		return nil, nil
	}
}

// The scheduling that looks only at the coroutines that may run runs
// them in the order of passes over every coroutine (runFullPasses), for
// random programs of waits on futures and on conditions, settings and
// new coroutines.
func TestSchedulingMatchesFullPasses(t *testing.T) {
	steps := 0
	for seed := range uint64(300) {
		var traces [2][]string
		for k, full := range []bool{false, true} {
			r := NewRunner(verifyInfo, schedulingProgram(seed, &traces[k]), nil, nil)
			r.fullPasses = full
			if _, err := r.Step(started()); err != nil {
				t.Fatal(err)
			}
			r.Close()
		}
		if !slices.Equal(traces[0], traces[1]) {
			for i := range min(len(traces[0]), len(traces[1])) {
				if traces[0][i] != traces[1][i] {
					t.Fatalf("seed %d: step %d: %q, full passes %q", seed, i, traces[0][i], traces[1][i])
				}
			}
			t.Fatalf("seed %d: %d steps, full passes %d", seed, len(traces[0]), len(traces[1]))
		}
		steps += len(traces[0])
	}
	if steps < 300*40 {
		t.Fatalf("the programs ran %d steps in all: too few to compare", steps)
	}
}

// A pass looks at the coroutines that may run, not at every one: with
// 100 branches each waiting on a future of its own and the workflow
// waiting for them all, resolving one future looks at a few coroutines
// (the branch, and the workflow's own condition), where passes over
// every coroutine would look at about 200.
func TestPassLooksOnlyAtCoroutinesThatMayRun(t *testing.T) {
	const n = 100
	futures := make([]*Future, n)
	fn := func(r *Runner, _ []byte) ([]byte, error) {
		done := 0
		for i := range futures {
			futures[i] = r.NewSettable()
			r.Go(fmt.Sprint("b", i), func() {
				futures[i].Wait()
				done++
			})
		}
		r.Block(func() bool { return done == n })
		return nil, nil
	}
	r := NewRunner(verifyInfo, fn, nil, nil)
	defer r.Close()
	if _, err := r.Step(started()); err != nil {
		t.Fatal(err)
	}
	before := r.looked
	for _, f := range futures[:n-1] {
		f.Set(nil, nil)
		r.runUntilBlocked()
	}
	if per := float64(r.looked-before) / (n - 1); per > 4 {
		t.Fatalf("a resolved future made the passes look at %.1f coroutines, want at most 4", per)
	}
	futures[n-1].Set(nil, nil)
	r.runUntilBlocked()
	if r.completion == nil {
		t.Fatal("the workflow did not complete once every branch had run")
	}
}
