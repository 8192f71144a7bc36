//go:build race

package crashtest

// Under the race detector the node (this test binary) is several times
// slower, so the timings are stretched by slow for kills to land in the
// middle of the work rather than mostly during startup.
const (
	raceEnabled = true
	slow        = 2
)
