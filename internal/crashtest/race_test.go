//go:build race

package crashtest

// raceEnabled: the test runs with the race detector, so the node is built
// with it too. It is then several times slower, so the timings are
// stretched by slow for kills to land in the middle of the work rather
// than mostly during startup.
const (
	raceEnabled = true
	slow        = 2
)
