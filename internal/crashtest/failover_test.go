//go:build linux

package crashtest

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/perdure/perdure/internal/pgtest"
)

// failoverKills is how many times TestFailoverPostgres kills a node.
const failoverKills = 24

// TestFailoverPostgres runs two node processes on one PostgreSQL database
// (a fresh schema), kills one of them with SIGKILL at random points again
// and again while the other goes on, restarting each killed node as a new
// incarnation, then lets two last nodes run every instance to its end, and
// checks the database and the activity log as TestCrash does: every
// workflow completed once with the right result, and no activity whose
// result was committed ran again. Work of a killed node is taken over by
// the other one when its leases expire.
func TestFailoverPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("the failover test kills real processes for a while; skipped with -short")
	}
	dsn := pgtest.Schema(t)
	began := time.Now()
	dir := t.TempDir()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	seed := crashSeed(t)
	t.Logf("seed %d (rerun with PERDURE_CRASH_SEED=%d); race detector: %v", seed, seed, raceEnabled)
	rng := rand.New(rand.NewPCG(seed, 0x51ed2701))
	n := &node{t: t, bin: bin, dir: dir, db: dsn, actlog: filepath.Join(dir, "activities.log"),
		epochMs: time.Now().Add(300 * time.Millisecond).UnixMilli(), lease: 2 * time.Second * slow}

	type live struct {
		inc int
		cmd *exec.Cmd
		out *os.File
	}
	inc := 0
	startNode := func(final bool) live {
		inc++
		cmd, out := n.start(inc, final)
		return live{inc, cmd, out}
	}
	kill := func(l live) {
		if err := syscall.Kill(l.cmd.Process.Pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill node %d: %v", l.inc, err)
		}
		_ = l.cmd.Wait()
		l.out.Close()
		ws, ok := l.cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("node %d did not die of SIGKILL but %v; its output:\n%s", l.inc, l.cmd.ProcessState, n.tail(l.inc))
		}
	}
	nodes := [2]live{startNode(false), startNode(false)}
	for range failoverKills {
		time.Sleep(minRun + time.Duration(rng.Int64N(int64(maxRun-minRun))))
		i := rng.IntN(2)
		kill(nodes[i])
		nodes[i] = startNode(false)
	}
	kill(nodes[0])
	kill(nodes[1])

	// Two last nodes run to the end, together.
	finals := [2]live{startNode(true), startNode(true)}
	survivors := map[int]bool{finals[0].inc: true, finals[1].inc: true}
	done := make(chan error, 2)
	for _, f := range finals {
		go func() { done <- f.cmd.Wait() }()
	}
	deadline := time.After(finalTimeout)
	for range finals {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("a last node failed: %v; outputs:\n%s\n%s", err, n.tail(finals[0].inc), n.tail(finals[1].inc))
			}
		case <-deadline:
			for _, f := range finals {
				_ = syscall.Kill(f.cmd.Process.Pid, syscall.SIGKILL)
			}
			t.Errorf("the last nodes did not finish every instance within %s", finalTimeout)
			n.dumpUnfinished()
			t.FailNow()
		}
	}
	for _, f := range finals {
		f.out.Close()
	}

	alog, err := readActivityLog(n.actlog)
	if err != nil {
		t.Fatal(err)
	}
	v := verify(t, n.db, alog, incarnations{survivors: survivors})
	perInc := make([]int, inc+1)
	extra := 0
	for _, execs := range alog.byKey {
		extra += len(execs) - 1
		for _, e := range execs {
			perInc[e.incarnation]++
		}
	}
	t.Logf("activity executions per incarnation: %v", perInc[1:])
	if v.ok() {
		t.Logf("%d kills of one of two nodes, then two last nodes; total %s", failoverKills+2, time.Since(began).Round(time.Millisecond))
		t.Logf("%d root workflows and %d children completed with the expected results; %d history events in %d runs",
			numWorkflows, v.children, v.events, v.runs)
		t.Logf("%d activity results committed, none recomputed; %d executions, %d of them again after a kill", v.activities, alog.total, extra)
	}
}
