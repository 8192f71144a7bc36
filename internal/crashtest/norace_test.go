//go:build !race

package crashtest

const (
	raceEnabled = false
	slow        = 1
)
