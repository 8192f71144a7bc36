package gopool

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// WaitIdle waits until at least n goroutines of p are idle.
func waitIdle(t *testing.T, p *Pool, n int) {
	t.Helper()
	for i := 0; p.Idle() < n; i++ {
		if i == 2000 {
			t.Fatalf("%d idle pooled goroutines, want at least %d", p.Idle(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A function run once another has returned runs on that one's goroutine
// (an idle one), with the stack it grew.
func TestGoReusesIdleGoroutines(t *testing.T) {
	p := New(4)
	done := make(chan struct{})
	p.Go(func() { close(done) })
	<-done
	// A goroutine counts itself idle just before it waits: a function
	// handed over in between starts a goroutine of its own. So try a few
	// times; one of them must run on the idle goroutine.
	reused := false
	for try := 0; try < 100 && !reused; try++ {
		waitIdle(t, p, 1)
		time.Sleep(time.Millisecond)
		idle := p.Idle()
		during := make(chan int, 1)
		finished := make(chan struct{})
		p.Go(func() {
			during <- p.Idle()
			close(finished)
		})
		reused = <-during == idle-1 // the function took an idle goroutine
		<-finished
	}
	if !reused {
		t.Fatal("no function ran on an idle pooled goroutine")
	}
}

// At most maxIdle goroutines stay to wait for functions.
func TestAtMostMaxIdleWait(t *testing.T) {
	const maxIdle = 16
	p := New(maxIdle)
	before := runtime.NumGoroutine()
	const n = maxIdle + 50
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(n)
	for range n {
		p.Go(func() {
			defer wg.Done()
			<-release
		})
	}
	close(release)
	wg.Wait()
	waitIdle(t, p, maxIdle)
	for i := 0; runtime.NumGoroutine() > before+maxIdle && i < 2000; i++ {
		time.Sleep(time.Millisecond)
	}
	if idle, g := p.Idle(), runtime.NumGoroutine(); idle > maxIdle || g > before+maxIdle {
		t.Fatalf("%d idle pooled goroutines and %d in all (%d before): want at most %d idle", idle, g, before, maxIdle)
	}
}
