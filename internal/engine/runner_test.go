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
	waitIdle(t, 1)
	idle := idleRunners.Load()
	running, release := make(chan int32, 1), make(chan struct{})
	runPooled(func() {
		running <- idleRunners.Load()
		<-release
	})
	if during := <-running; during != idle-1 {
		t.Fatalf("%d idle pooled goroutines while the task ran, %d before: want one fewer (the task's)", during, idle)
	}
	close(release)

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
