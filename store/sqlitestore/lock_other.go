//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package sqlitestore

import (
	"fmt"
	"os"
)

// lockFile creates path. On this platform it takes no lock: keep to one
// process per database file by other means.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open lock file %s: %w", path, err)
	}
	return f, nil
}
