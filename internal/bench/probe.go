package bench

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// commitSamples is how many durable commits MeasureCommit times.
const commitSamples = 20

// MeasureCommit commits samples one-row transactions to a scratch SQLite
// database in dir, in WAL mode with synchronous=FULL as the store does,
// and returns the median commit time in milliseconds. It tells what one
// durable commit costs on this disk — more than fsync_ms, which times the
// fsync of a 4 KiB overwrite: a WAL commit appends frames and syncs them.
// Figures from different disks compare through it.
func MeasureCommit(dir string, samples int) (float64, error) {
	tmp, err := os.MkdirTemp(dir, ".perdure-commit-probe-")
	if err != nil {
		return 0, fmt.Errorf("measure commit: %w", err)
	}
	defer os.RemoveAll(tmp)
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(tmp, "probe.db"))+
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return 0, fmt.Errorf("measure commit: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE probe (k INTEGER PRIMARY KEY, v BLOB)`); err != nil {
		return 0, fmt.Errorf("measure commit: %w", err)
	}
	row := make([]byte, 200)
	times := make([]time.Duration, 0, samples)
	for i := range samples + 2 { // the first two warm the file up
		start := time.Now()
		if _, err := db.Exec(`INSERT OR REPLACE INTO probe (k, v) VALUES (?, ?)`, i%8, row); err != nil {
			return 0, fmt.Errorf("measure commit: %w", err)
		}
		if i >= 2 {
			times = append(times, time.Since(start))
		}
	}
	return ms(percentile(times, 50)), nil
}
