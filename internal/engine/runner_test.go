package engine

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// waitIdle waits until at least n pooled goroutines are idle.
func waitIdle(t *testing.T, n int32) {
	t.Helper()
	for i := 0; idleRunners.Load() < n; i++ {
		if i == 2000 {
			t.Fatalf("%d idle pooled goroutines, want at least %d", idleRunners.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A task run once another has ended runs on that one's goroutine (an idle
// one), with the stack it grew; at most maxIdleRunners goroutines stay to
// wait for tasks.
func TestTasksRunOnPooledGoroutines(t *testing.T) {
	done := make(chan struct{})
	runPooled(func() { close(done) })
	<-done
	// An idle goroutine counts itself idle just before it waits: a task
	// handed over in between starts a goroutine of its own. So try a few
	// times; one of them must run on the idle goroutine.
	reused := false
	for try := 0; try < 100 && !reused; try++ {
		waitIdle(t, 1)
		time.Sleep(time.Millisecond)
		idle := idleRunners.Load()
		during := make(chan int32, 1)
		finished := make(chan struct{})
		runPooled(func() {
			during <- idleRunners.Load()
			close(finished)
		})
		reused = <-during == idle-1 // the task took an idle goroutine
		<-finished
	}
	if !reused {
		t.Fatal("no task ran on an idle pooled goroutine")
	}

	waitIdle(t, 1)
	before := runtime.NumGoroutine()
	const n = maxIdleRunners + 50
	releaseAll := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(n)
	for range n {
		runPooled(func() {
			defer wg.Done()
			<-releaseAll
		})
	}
	close(releaseAll)
	wg.Wait()
	waitIdle(t, maxIdleRunners)
	for i := 0; runtime.NumGoroutine() > before+maxIdleRunners && i < 2000; i++ {
		time.Sleep(time.Millisecond)
	}
	if idle, g := idleRunners.Load(), runtime.NumGoroutine(); idle > maxIdleRunners || g > before+maxIdleRunners {
		t.Fatalf("%d idle pooled goroutines and %d in all (%d before): want at most %d idle", idle, g, before, maxIdleRunners)
	}
}
