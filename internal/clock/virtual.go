package clock

import (
	"sort"
	"sync"
	"time"
)

// Virtual is a clock that moves only when told to: the test kit's clock.
// Timers made with After fire when the clock is advanced past them.
type Virtual struct {
	mu     sync.Mutex
	now    time.Time
	timers []*vtimer
}

type vtimer struct {
	at      time.Time
	ch      chan time.Time
	fn      func() // AfterFunc's: called on a goroutine of its own instead
	stopped bool
}

// NewVirtual returns a virtual clock showing start.
func NewVirtual(start time.Time) *Virtual { return &Virtual{now: start} }

// Now returns the virtual time.
func (v *Virtual) Now() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.now
}

// After returns a channel that receives once the clock reaches now+d.
func (v *Virtual) After(d time.Duration) (<-chan time.Time, func() bool) {
	t := &vtimer{ch: make(chan time.Time, 1)}
	return t.ch, v.add(t, d)
}

// AfterFunc calls f on a goroutine of its own once the clock reaches
// now+d.
func (v *Virtual) AfterFunc(d time.Duration, f func()) func() bool {
	return v.add(&vtimer{fn: f}, d)
}

// add arms t to fire d from now and returns its stop function.
func (v *Virtual) add(t *vtimer, d time.Duration) func() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	t.at = v.now.Add(d)
	if d <= 0 {
		t.fire(v.now)
		return func() bool { return false }
	}
	v.timers = append(v.timers, t)
	return func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		if t.stopped {
			return false
		}
		t.stopped = true
		v.remove(t)
		return true
	}
}

func (v *Virtual) remove(t *vtimer) {
	for i, x := range v.timers {
		if x == t {
			v.timers = append(v.timers[:i], v.timers[i+1:]...)
			return
		}
	}
}

// Next returns the time of the earliest pending timer.
func (v *Virtual) Next() (time.Time, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.timers) == 0 {
		return time.Time{}, false
	}
	at := v.timers[0].at
	for _, t := range v.timers[1:] {
		if t.at.Before(at) {
			at = t.at
		}
	}
	return at, true
}

// AdvanceTo moves the clock to t (never backwards) and fires every timer
// due by then, earliest first.
func (v *Virtual) AdvanceTo(t time.Time) {
	v.mu.Lock()
	if t.After(v.now) {
		v.now = t
	}
	var due []*vtimer
	keep := v.timers[:0]
	for _, x := range v.timers {
		if !x.at.After(v.now) {
			x.stopped = true
			due = append(due, x)
		} else {
			keep = append(keep, x)
		}
	}
	v.timers = keep
	now := v.now
	v.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, x := range due {
		x.fire(now)
	}
}

func (t *vtimer) fire(now time.Time) {
	if t.fn != nil {
		go t.fn()
		return
	}
	t.ch <- now
}

// IsReal reports whether c is the wall clock.
func IsReal(c Clock) bool {
	_, ok := c.(realClock)
	return ok
}
