package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestPercentFor(t *testing.T) {
	for _, c := range []struct {
		live, floor uint64
		want        int
	}{
		{0, 64 << 20, 1600},
		{1 << 10, 64 << 20, 1600}, // the runtime's 4 MiB minimum at 1600 % is 64 MiB
		{8 << 20, 64 << 20, 800},
		{16 << 20, 64 << 20, 400},
		{20 << 20, 64 << 20, 325}, // 320 rounded up to a step of 25
		{64 << 20, 64 << 20, 100},
		{1 << 30, 64 << 20, 100},
	} {
		if got := percentFor(c.live, c.floor); got != c.want {
			t.Errorf("percentFor(%d, %d) = %d, want %d", c.live, c.floor, got, c.want)
		}
	}
}

var sink []byte

// churn allocates n bytes of garbage in 64 KiB pieces and returns how many
// collections ran meanwhile.
func churn(n int) uint32 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i += 64 << 10 {
		sink = make([]byte, 64<<10)
	}
	runtime.ReadMemStats(&after)
	return after.NumGC - before.NumGC
}

// With a floor, a process that keeps little alive collects about once per
// floor of allocation; without one, every few MB.
func TestFloorSpacesCollections(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	const total = 512 << 20
	runtime.GC()
	without := churn(total)

	Start(64 << 20)
	runtime.GC() // the finalizer adjusts GOGC after this collection
	runtime.GC()
	if p := Percent(); p <= 100 {
		t.Fatalf("GOGC set to %d for a nearly empty heap; want more than 100", p)
	}
	with := churn(total)
	Stop()
	if p := Percent(); p != 100 {
		t.Fatalf("after Stop, GOGC %d; want 100", p)
	}
	t.Logf("collections while allocating %d MiB: %d without the floor, %d with it", total>>20, without, with)
	// About 512/64 = 8 with the floor; without it, the runtime's 4 MiB
	// minimum goal makes it 100 or more.
	if with < 4 || with > 16 || with*4 > without {
		t.Fatalf("%d collections with a 64 MiB floor against %d without: want 4 to 16, and a quarter as many", with, without)
	}
}
