// Package lockcheck tells, for tests, whether another process can read a
// SQLite database: what sqlite3 or its .backup would do beside a store
// that locks the file (sqlitestore.Options.ExclusiveLocking).
package lockcheck

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// childEnv names the database a child test process reads.
const childEnv = "PERDURE_LOCKCHECK_READ"

// Read opens the SQLite database at path read-only, with SQLite alone,
// and counts its runs, waiting at most 50 ms for a lock. It returns
// SQLite's error: "database is locked" when another process's locks
// refuse the read.
func Read(path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(50)")
	if err != nil {
		return err
	}
	defer db.Close()
	var n int
	return db.QueryRow(`SELECT count(*) FROM runs`).Scan(&n)
}

// Refused reports whether err is a read refused by another process's
// locks.
func Refused(err error) bool { return err != nil && strings.Contains(err.Error(), "locked") }

// RunChild makes this process the reader that FromAnotherProcess starts,
// when it is one: it reads, prints the outcome and exits. A test that
// calls FromAnotherProcess calls it first.
func RunChild() {
	path := os.Getenv(childEnv)
	if path == "" {
		return
	}
	if err := Read(path); err != nil {
		fmt.Println(err)
		os.Exit(3)
	}
	fmt.Println("READ")
	os.Exit(0)
}

// FromAnotherProcess runs this test binary again, test test alone, as a
// process that reads the database at path (RunChild), and returns its
// read's error.
func FromAnotherProcess(test, path string) error {
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.Output()
	if s := strings.TrimSpace(string(out)); err != nil || s != "READ" {
		return fmt.Errorf("%s (%v)", s, err)
	}
	return nil
}
