package sqlitestore

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
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
