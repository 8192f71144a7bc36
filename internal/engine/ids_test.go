package engine

import (
	"regexp"
	"slices"
	"testing"
	"time"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewIDIsAUUIDv7(t *testing.T) {
	seen := make(map[string]bool)
	for range 100_000 {
		id := newID()
		if !uuidV7.MatchString(id) {
			t.Fatalf("%q is not a version 7 UUID", id)
		}
		if seen[id] {
			t.Fatalf("%q made twice", id)
		}
		seen[id] = true
	}
}

func TestNewIDCarriesItsTime(t *testing.T) {
	now := time.Date(2026, 12, 7, 21, 30, 15, 123_456_789, time.UTC)
	id := formatID(newIDBytes(now))
	// 2026-12-07T21:30:15.123Z is 1,796,679,015,123 ms (0x01a2526a1ad3)
	// after 1970; 0.456789 of that millisecond is 0x74f of 4096.
	if want := "01a2526a-1ad3-774f-"; id[:len(want)] != want {
		t.Fatalf("id %s, want it to start with %s", id, want)
	}
}

// Ids sort in the order they were made, to a fraction of a microsecond:
// what keeps a new run's rows at the right end of the indexes.
func TestNewIDsSortByTime(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 21, 30, 15, 0, time.UTC)
	var ids []string
	for i := range 5000 {
		ids = append(ids, formatID(newIDBytes(t0.Add(time.Duration(i)*250*time.Nanosecond))))
	}
	if !slices.IsSorted(ids) {
		t.Fatal("ids made 250 ns apart do not sort in the order they were made")
	}
	a, b := newID(), newID()
	time.Sleep(2 * time.Millisecond)
	if c := newID(); c <= a || c <= b {
		t.Fatalf("id %s made 2 ms after %s and %s sorts before them", c, a, b)
	}
}
