// Package gcfloor keeps the garbage collector from running while the heap
// is small.
//
// The Go runtime starts a collection when the heap has grown by GOGC
// percent (default 100) of what the last one left live. A Perdure node
// under load allocates quickly but keeps little alive (tens of MB), so with
// the default it collects every few milliseconds of a burst, and each
// collection scans every goroutine's stack: one per workflow in flight.
// Start sets GOGC, after each collection, so that the next one starts once
// the heap has grown by at least the floor: the percent is
// max(100, floor/live), where live, as for GOGC, counts the heap the last
// collection left live plus the stacks and globals it scans. A heap larger
// than the floor is collected as with the default; only small heaps are
// left to grow to about live+floor.
package gcfloor

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Default is the growth Start allows a small heap before a collection.
const Default = 64 << 20

// runtimeMinimum is the smallest heap goal of the runtime at GOGC=100: it
// never starts a collection before the heap reaches runtimeMinimum*GOGC/100,
// so a GOGC of floor*100/runtimeMinimum is enough for a heap almost empty.
const runtimeMinimum = 4 << 20

// Enabled reports whether the process should run with a floor: not when
// GOGC is set in its environment, which the user chose.
func Enabled() bool {
	_, set := os.LookupEnv("GOGC")
	return !set
}

var (
	mu      sync.Mutex
	running bool
	stopped bool
	floor   uint64
	current = -1 // the GOGC set last; -1 before the first
)

// Start keeps the heap's growth before each collection at least floor
// bytes until Stop. Called again while started, it only sets the floor
// that the next collection's adjustment uses.
func Start(bytes uint64) {
	mu.Lock()
	defer mu.Unlock()
	floor, stopped = bytes, false
	if running {
		return
	}
	running = true
	adjust()
	arm()
}

// Stop ends the adjustments and sets GOGC back to 100.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if !running {
		return
	}
	stopped = true
	debug.SetGCPercent(100)
	current = 100
}

// Percent returns what GOGC the floor set last, or -1 when it set none.
func Percent() int {
	mu.Lock()
	defer mu.Unlock()
	return current
}

// arm sets a finalizer on a new object: it runs after the next collection
// that finds the object unreachable, that is, after the next collection.
func arm() {
	s := new(sentinel)
	runtime.SetFinalizer(s, func(*sentinel) {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			running = false
			return
		}
		adjust()
		arm()
	})
}

type sentinel struct{ _ [16]byte } // not tiny-allocated, so collected alone

// scanned is what GOGC is a percent of: the heap the last collection left
// live, and the goroutine stacks and globals it scans.
var scanned = []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}

// adjust sets GOGC for what the last collection left; mu is held.
func adjust() {
	metrics.Read(scanned)
	var live uint64
	for _, s := range scanned {
		if s.Value.Kind() == metrics.KindUint64 {
			live += s.Value.Uint64()
		}
	}
	p := percentFor(live, floor)
	if p != current {
		debug.SetGCPercent(p)
		current = p
	}
}

// percentFor is the GOGC that lets a heap whose live bytes (heap, stacks
// and globals) are live grow by at least floor bytes, and never less than
// the default's 100.
func percentFor(live, floor uint64) int {
	most := math.Ceil(float64(floor) * 100 / runtimeMinimum)
	p := most
	if live > 0 {
		p = min(most, math.Ceil(float64(floor)*100/float64(live)))
	}
	if p <= 100 {
		return 100
	}
	// Steps of 25 %, so that a heap whose size wavers does not change
	// the setting at every collection.
	return int(math.Ceil(p/25)) * 25
}
