// Package gopool runs functions on pooled goroutines: a goroutine whose
// function returned waits for the next one, so that the stack it grew
// serves again instead of a new goroutine growing its own. Perdure's
// workflow tasks and activity attempts go deep (encoding, replay), and a
// new goroutine copies its stack several times on the way. (Workflow
// code runs on the hosts of internal/replay, pooled the same way.)
//
// Idle goroutines stay until a function comes: ending them after a while,
// with a timer each, cost 5–10 % of a burst's throughput.
package gopool

import "sync/atomic"

// Pool is a set of pooled goroutines, of which at most max wait idle.
type Pool struct {
	max  int32
	jobs chan func()
	idle atomic.Int32
}

// New returns a pool of which at most maxIdle goroutines wait idle.
func New(maxIdle int) *Pool {
	return &Pool{max: int32(maxIdle), jobs: make(chan func())}
}

// Go runs fn on an idle goroutine of p, or on a new one.
func (p *Pool) Go(fn func()) {
	select {
	case p.jobs <- fn:
	default:
		go p.run(fn)
	}
}

// Idle is the number of goroutines of p waiting for a function, or about
// to: one counts itself idle just before it waits.
func (p *Pool) Idle() int { return int(p.idle.Load()) }

func (p *Pool) run(fn func()) {
	for {
		fn()
		if p.idle.Add(1) > p.max {
			p.idle.Add(-1)
			return
		}
		fn = <-p.jobs
		p.idle.Add(-1)
	}
}
