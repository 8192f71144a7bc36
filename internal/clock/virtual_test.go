package clock

import (
	"testing"
	"time"
)

func TestVirtual(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	v := NewVirtual(start)
	a, _ := v.After(time.Hour)
	b, stopB := v.After(time.Minute)
	c, _ := v.After(24 * time.Hour)
	if next, ok := v.Next(); !ok || !next.Equal(start.Add(time.Minute)) {
		t.Fatalf("next %v", next)
	}
	if !stopB() || stopB() {
		t.Fatal("stop reports whether it stopped the timer")
	}
	v.AdvanceTo(start.Add(2 * time.Hour))
	select {
	case at := <-a:
		if !at.Equal(start.Add(2 * time.Hour)) {
			t.Fatalf("fired with %v", at)
		}
	default:
		t.Fatal("the one-hour timer did not fire")
	}
	select {
	case <-b:
		t.Fatal("a stopped timer fired")
	case <-c:
		t.Fatal("a later timer fired")
	default:
	}
	if !v.Now().Equal(start.Add(2 * time.Hour)) {
		t.Fatalf("now %v", v.Now())
	}
	v.AdvanceTo(start) // never backwards
	if !v.Now().Equal(start.Add(2 * time.Hour)) {
		t.Fatal("the clock went backwards")
	}
	if ch, _ := v.After(0); len(ch) != 1 {
		t.Fatal("After(0) must be ready at once")
	}
}
