package sqlitestore

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestLockAcrossProcesses opens a database, then runs this test binary
// again as a second process that must fail to open it.
func TestLockAcrossProcesses(t *testing.T) {
	if path := os.Getenv("PERDURE_SQLITESTORE_LOCK_CHILD"); path != "" {
		s, err := Open(path, Options{})
		if err == nil {
			s.Close()
			os.Stdout.WriteString("OPENED\n")
			os.Exit(0)
		}
		os.Stdout.WriteString(err.Error() + "\n")
		os.Exit(3)
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no advisory lock on this platform")
	}
	path := filepath.Join(t.TempDir(), "shared.db")
	s := open(t, path)
	child := func() (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockAcrossProcesses$")
		cmd.Env = append(os.Environ(), "PERDURE_SQLITESTORE_LOCK_CHILD="+path)
		out, err := cmd.Output()
		return string(out), err
	}
	out, err := child()
	if err == nil || !strings.Contains(out, "another Perdure process") {
		t.Fatalf("second process: err=%v output=%q, want a refusal naming another Perdure process", err, out)
	}
	s.Close()
	if out, err := child(); err != nil || !strings.Contains(out, "OPENED") {
		t.Fatalf("second process after Close: err=%v output=%q", err, out)
	}
}

// TestExclusiveLockingShutsOutOtherProcesses runs this test binary again as a
// process that reads the database with SQLite alone (as sqlite3's .backup
// would): it can while a store is open without Options.ExclusiveLocking,
// cannot while one is open with it, and can again once that one is
// closed.
func TestExclusiveLockingShutsOutOtherProcesses(t *testing.T) {
	if path := os.Getenv("PERDURE_SQLITESTORE_READ_CHILD"); path != "" {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(100)")
		if err == nil {
			var tx *sql.Tx
			var n int
			if tx, err = db.Begin(); err == nil {
				if err = tx.QueryRow(`SELECT count(*) FROM runs`).Scan(&n); err == nil {
					fmt.Printf("READ %d\n", n)
					if os.Getenv("PERDURE_SQLITESTORE_READ_HOLD") != "" {
						// Keep the read open until the parent closes stdin.
						_, _ = io.Copy(io.Discard, os.Stdin)
					}
					os.Exit(0)
				}
			}
		}
		fmt.Println(err)
		os.Exit(3)
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no unix-excl VFS on this platform")
	}
	path := filepath.Join(t.TempDir(), "excl.db")
	read := func() (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestExclusiveLockingShutsOutOtherProcesses$")
		cmd.Env = append(os.Environ(), "PERDURE_SQLITESTORE_READ_CHILD="+path)
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	s := open(t, path)
	mustApply(t, s, startOp("shared", []byte(`1`), t0))
	if out, err := read(); err != nil || out != "READ 1" {
		t.Fatalf("reader beside a shared store: %q, %v; want READ 1", out, err)
	}
	s.Close()

	x, err := Open(path, Options{ExclusiveLocking: true})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, x, startOp("exclusive", []byte(`2`), t0))
	if r, err := x.RunGet(context.Background(), "exclusive", ""); err != nil || r == nil {
		t.Fatalf("the exclusive store's own reader: %v, %v", r, err)
	}
	if out, err := read(); err == nil || !strings.Contains(out, "locked") {
		t.Fatalf("reader beside an exclusive store: %q, %v; want database is locked", out, err)
	}
	x.Close()
	if out, err := read(); err != nil || out != "READ 2" {
		t.Fatalf("reader after the exclusive store closed: %q, %v; want READ 2", out, err)
	}

	// The other way round: a process reading the file keeps an exclusive
	// store from opening, with an error that says why.
	cmd := exec.Command(os.Args[0], "-test.run=^TestExclusiveLockingShutsOutOtherProcesses$")
	cmd.Env = append(os.Environ(), "PERDURE_SQLITESTORE_READ_CHILD="+path, "PERDURE_SQLITESTORE_READ_HOLD=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || strings.TrimSpace(line) != "READ 2" {
		t.Fatalf("holding reader: %q, %v", line, err)
	}
	if x, err := Open(path, Options{ExclusiveLocking: true, BusyTimeout: 100 * time.Millisecond}); err == nil {
		x.Close()
		t.Fatal("an exclusive store opened while another process read the file")
	} else if !strings.Contains(err.Error(), "exclusive locking needs it alone") {
		t.Fatalf("exclusive store beside a reader: %v; want an error saying another process has the file open", err)
	}
}

// TestExclusiveLockingRecoversAfterAKill runs this test binary again as a process
// that commits to an exclusive store and exits without closing it, as a
// kill -9 would leave it: the WAL's index was in that process's memory
// only, and the next store rebuilds it from the WAL and finds every commit.
func TestExclusiveLockingRecoversAfterAKill(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if path := os.Getenv("PERDURE_SQLITESTORE_KILLED_CHILD"); path != "" {
		s, err := Open(path, Options{ExclusiveLocking: true})
		if err != nil {
			fmt.Println(err)
			os.Exit(3)
		}
		for i := range 20 {
			mustApply(t, s, startOp(fmt.Sprint("r", i), []byte(`1`), t0))
		}
		fmt.Println("COMMITTED")
		os.Exit(0) // without Close: no checkpoint, the WAL left as it is
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no unix-excl VFS on this platform")
	}
	path := filepath.Join(t.TempDir(), "killed.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestExclusiveLockingRecoversAfterAKill$")
	cmd.Env = append(os.Environ(), "PERDURE_SQLITESTORE_KILLED_CHILD="+path)
	if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != "COMMITTED" {
		t.Fatalf("child: %q, %v", out, err)
	}
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the child left no WAL to recover (%v): the test proves nothing", err)
	}
	s, err := Open(path, Options{ExclusiveLocking: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 20 {
		if r, err := s.RunGet(context.Background(), fmt.Sprint("r", i), ""); err != nil || r == nil || string(r.Input) != "1" {
			t.Fatalf("run r%d after the kill: %v, %v", i, r, err)
		}
	}
}
