//go:build linux

package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/internal/lockcheck"
)

// Timings are multiplied by slow (race_test.go, norace_test.go).
const (
	// Each killed incarnation runs for a random time in [minRun, maxRun).
	minRun = 100 * time.Millisecond * slow
	maxRun = 600 * time.Millisecond * slow
	// The scheduled starts of the instances are spread by startSpread, so
	// that work is in flight during most of the killed incarnations.
	startSpread = 45 * time.Millisecond * slow
)

const (
	numWorkflows = 200
	numKills     = 25
	// finalTimeout bounds the last incarnation, which runs to the end.
	finalTimeout = 120 * time.Second
	// maxProblems bounds the problems reported one by one.
	maxProblems = 40
)

// expectedOutput computes the result of root instance i from the
// definition of its workflow kind, independently of the workflow code.
func expectedOutput(i int64) int64 {
	switch i % numKinds {
	case kindChain:
		v := i
		for s := int64(0); s < 4; s++ {
			v = (v + s + 1) * 2
		}
		return v
	case kindTimers:
		return (i+10)*3 + 1000
	case kindEvents:
		return (i+5)*(i%7+2) + i%3 + 1
	case kindChildren:
		return 3*(i+1) + 3*(i+2) + 7
	case kindFanOut:
		return 2*(6*i+15) + 1
	default:
		return i + 1 + 2 + 3
	}
}

// expectedRuns is the number of runs of root instance i: one, but for the
// instances that continue as new.
func expectedRuns(i int64) int {
	if i%numKinds == kindLoop {
		return LoopRounds + 1
	}
	return 1
}

// expectedChildren gives the children of root instance i (by instance id)
// and their results.
func expectedChildren(i int64) map[string]int64 {
	if i%numKinds != kindChildren {
		return nil
	}
	id := InstanceID(int(i))
	return map[string]int64{id + ":0001": 3 * (i + 1), id + ":0002": 3 * (i + 2)}
}

// execution is one execution of an activity, from the activity log.
type execution struct {
	key         string
	attempt     int
	incarnation int
	nonce       string
	ended       bool
	line        int
}

type activityLog struct {
	byKey   map[string][]*execution // in log order
	byNonce map[string]*execution
	total   int
}

func readActivityLog(path string) (*activityLog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l := &activityLog{byKey: map[string][]*execution{}, byNonce: map[string]*execution{}}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		fields := strings.Fields(sc.Text())
		bad := func(why string) error {
			return fmt.Errorf("activity log line %d %q: %s", n, sc.Text(), why)
		}
		switch {
		case len(fields) == 5 && fields[0] == "start":
			attempt, err1 := strconv.Atoi(fields[2])
			inc, err2 := strconv.Atoi(fields[3])
			if err1 != nil || err2 != nil {
				return nil, bad("malformed start record")
			}
			e := &execution{key: fields[1], attempt: attempt, incarnation: inc, nonce: fields[4], line: n}
			if l.byNonce[e.nonce] != nil {
				return nil, bad("nonce used twice")
			}
			l.byNonce[e.nonce] = e
			l.byKey[e.key] = append(l.byKey[e.key], e)
			l.total++
		case len(fields) == 4 && fields[0] == "end":
			inc, err := strconv.Atoi(fields[2])
			e := l.byNonce[fields[3]]
			switch {
			case err != nil:
				return nil, bad("malformed end record")
			case e == nil:
				return nil, bad("end without start")
			case e.key != fields[1] || e.incarnation != inc:
				return nil, bad(fmt.Sprintf("end does not match its start (line %d)", e.line))
			case e.ended:
				return nil, bad("second end of one execution")
			}
			e.ended = true
		default:
			return nil, bad("unknown record")
		}
	}
	return l, sc.Err()
}

// node runs and kills incarnations of the node program.
type node struct {
	t       *testing.T
	bin     string
	dir     string
	db      string // the store: a SQLite file or a postgres:// URL
	actlog  string
	epochMs int64
	lease   time.Duration // 0: the node's default
	// exclusiveLocking: the nodes open their SQLite store with
	// sqlitestore.Options.ExclusiveLocking.
	exclusiveLocking bool
	// lockedOut counts the reads of the database from this process, one
	// just before each kill, that the running node's locks refused.
	lockedOut int
}

func (n *node) logPath(inc int) string {
	return filepath.Join(n.dir, fmt.Sprintf("node-%02d.log", inc))
}

func (n *node) start(inc int, final bool) (*exec.Cmd, *os.File) {
	n.t.Helper()
	out, err := os.Create(n.logPath(inc))
	if err != nil {
		n.t.Fatal(err)
	}
	args := []string{"-db", n.db, "-actlog", n.actlog, "-incarnation", strconv.Itoa(inc),
		"-n", strconv.Itoa(numWorkflows), "-epoch", strconv.FormatInt(n.epochMs, 10), "-spread", startSpread.String()}
	if final {
		args = append(args, "-exit-when-done")
	}
	if n.lease > 0 {
		args = append(args, "-lease", n.lease.String())
	}
	if n.exclusiveLocking {
		args = append(args, "-sqlite-exclusive-locking")
	}
	cmd := exec.Command(n.bin, args...)
	cmd.Env = append(os.Environ(), nodeEnv+"=1")
	if !final {
		// A node meant to be killed never exits by itself: should the test
		// die first, the kernel kills it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start node %d: %v", inc, err)
	}
	return cmd, out
}

// tail returns the end of an incarnation's output.
func (n *node) tail(inc int) string {
	b, _ := os.ReadFile(n.logPath(inc))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// runAndKill runs incarnation inc for d, then kills it with SIGKILL and
// checks that it died of that signal (not of its own accord before).
func (n *node) runAndKill(inc int, d time.Duration) {
	n.t.Helper()
	cmd, out := n.start(inc, false)
	defer out.Close()
	time.Sleep(d)
	if n.exclusiveLocking && lockcheck.Refused(lockcheck.Read(n.db)) {
		n.lockedOut++
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		n.t.Fatalf("kill node %d: %v", inc, err)
	}
	_ = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		n.t.Fatalf("node %d did not die of SIGKILL but %v; its output:\n%s", inc, cmd.ProcessState, n.tail(inc))
	}
}

// runToEnd runs incarnation inc until it exits by itself having seen every
// instance finish.
func (n *node) runToEnd(inc int) {
	n.t.Helper()
	cmd, out := n.start(inc, true)
	defer out.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			n.t.Fatalf("final node %d: %v; its output:\n%s", inc, err, n.tail(inc))
		}
	case <-time.After(finalTimeout):
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-done
		n.t.Errorf("final node %d did not finish every instance within %s; its output:\n%s", inc, finalTimeout, n.tail(inc))
		n.dumpUnfinished()
		n.t.FailNow()
	}
}

// dumpUnfinished reports the instances that have not finished, to explain
// a hang.
func (n *node) dumpUnfinished() {
	st, err := OpenStore(n.db)
	if err != nil {
		n.t.Errorf("open the database: %v", err)
		return
	}
	defer st.Close()
	c, err := perdure.NewClient(perdure.Options{Store: st, Logger: quietLogger()})
	if err != nil {
		n.t.Errorf("client: %v", err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	runs, err := allRuns(ctx, c)
	if err != nil {
		n.t.Errorf("list: %v", err)
		return
	}
	shown := 0
	for _, r := range runs {
		if r.Status.Finished() || shown >= 10 {
			continue
		}
		shown++
		hist, _ := c.History(ctx, r.InstanceID, r.RunID)
		var evs []string
		for _, ev := range hist {
			evs = append(evs, fmt.Sprintf("%d:%s(seq %d)", ev.ID, ev.Type, ev.Seq))
		}
		msgs, _ := st.MessageList(ctx, r.RunID)
		tasks, _ := st.ActivityTaskList(ctx, r.RunID)
		var pend []string
		for _, m := range msgs {
			pend = append(pend, fmt.Sprintf("%s@%s", m.Type, m.VisibleAt.Format(time.RFC3339Nano)))
		}
		for _, a := range tasks {
			pend = append(pend, fmt.Sprintf("activity %s seq %d %s attempt %d lease %s until %s", a.Name, a.Seq, a.State, a.Attempt, a.LeaseOwner, a.LeaseUntil.Format(time.RFC3339Nano)))
		}
		n.t.Errorf("unfinished %s run %s: %s task error %q\n  history: %s\n  inbox and tasks: %s",
			r.InstanceID, r.RunID, r.Status, r.TaskError, strings.Join(evs, " "), strings.Join(pend, "; "))
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func allRuns(ctx context.Context, c *perdure.Client) ([]*perdure.Instance, error) {
	var out []*perdure.Instance
	token := ""
	for {
		page, err := c.ListInstances(ctx, perdure.ListFilter{AllRuns: true, PageSize: 500, PageToken: token})
		if err != nil {
			return nil, err
		}
		out = append(out, page.Instances...)
		if page.NextPageToken == "" {
			return out, nil
		}
		token = page.NextPageToken
	}
}

func crashSeed(t *testing.T) uint64 {
	if s := os.Getenv("PERDURE_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PERDURE_CRASH_SEED=%q: %v", s, err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// nodeEnv set to 1 makes the test binary run as a node (NodeMain).
const nodeEnv = "PERDURE_CRASHTEST_NODE"

func TestMain(m *testing.M) {
	if os.Getenv(nodeEnv) == "1" {
		os.Exit(NodeMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestCrash runs the node program on one SQLite database, kills it with
// SIGKILL numKills times at random points, runs it once more to the end,
// and then checks the database and the activity log.
func TestCrash(t *testing.T) { crash(t, false) }

// TestCrashExclusiveLocking is TestCrash with nodes whose SQLite store has
// exclusive locking: the WAL's index lives in the killed process's memory
// only, and each new node rebuilds it from the WAL.
func TestCrashExclusiveLocking(t *testing.T) { crash(t, true) }

func crash(t *testing.T, exclusiveLocking bool) {
	if testing.Short() {
		t.Skip("the crash test kills real processes for a while; skipped with -short")
	}
	began := time.Now()
	dir := t.TempDir()
	if keep := os.Getenv("PERDURE_CRASH_DIR"); keep != "" {
		// Keep the database, the activity log and the node outputs.
		var err error
		if dir, err = os.MkdirTemp(keep, "crash-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("files kept in %s", dir)
	}
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	seed := crashSeed(t)
	t.Logf("seed %d (rerun with PERDURE_CRASH_SEED=%d); race detector: %v", seed, seed, raceEnabled)
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))

	n := &node{t: t, bin: bin, dir: dir, db: filepath.Join(dir, "perdure.db"), actlog: filepath.Join(dir, "activities.log"),
		epochMs: time.Now().Add(200 * time.Millisecond).UnixMilli(), exclusiveLocking: exclusiveLocking}
	var killedAfter []time.Duration
	for inc := 1; inc <= numKills; inc++ {
		d := minRun + time.Duration(rng.Int64N(int64(maxRun-minRun)))
		n.runAndKill(inc, d)
		killedAfter = append(killedAfter, d)
	}
	// A node that opened its store with exclusive locking shuts this
	// process out; at least one of the reads before the kills must have
	// met a node that had opened it.
	if exclusiveLocking {
		if n.lockedOut == 0 {
			t.Errorf("no read of the database before %d kills was refused: the nodes did not lock the file", numKills)
		}
		t.Logf("%d of %d reads of the database from this process before the kills were refused", n.lockedOut, numKills)
	}
	final := numKills + 1
	finalStart := time.Now()
	n.runToEnd(final)
	finalTook := time.Since(finalStart)

	for inc := 1; inc <= final; inc++ {
		b, err := os.ReadFile(n.logPath(inc))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "level=ERROR") {
				t.Errorf("node %d logged an error: %s", inc, line)
			}
		}
	}

	alog, err := readActivityLog(n.actlog)
	if err != nil {
		t.Fatal(err)
	}
	v := verify(t, n.db, alog, incarnations{survivors: map[int]bool{final: true}, sequential: true})

	var midRun, afterEnd, extra, bound int
	killsWithActivity := map[int]bool{}
	for _, execs := range alog.byKey {
		during := map[int]bool{}
		for j, e := range execs {
			if e.incarnation != final && !e.ended {
				killsWithActivity[e.incarnation] = true
			}
			if j == len(execs)-1 {
				continue
			}
			extra++
			during[e.incarnation] = true
			if e.ended {
				afterEnd++
			} else {
				midRun++
			}
		}
		bound += len(during)
	}
	if extra > bound {
		t.Errorf("%d extra activity executions, but kills hit running activities only %d times", extra, bound)
	}
	perInc := make([]int, final+1)
	for _, execs := range alog.byKey {
		for _, e := range execs {
			if e.incarnation >= 1 && e.incarnation <= final {
				perInc[e.incarnation]++
			}
		}
	}
	t.Logf("activity executions per incarnation: %v", perInc[1:])
	if v.ok() {
		t.Logf("%d kills (after %s … %s), %d of them while activities ran; final incarnation took %s; total %s",
			numKills, slices.Min(killedAfter), slices.Max(killedAfter), len(killsWithActivity), finalTook.Round(time.Millisecond),
			time.Since(began).Round(time.Millisecond))
		t.Logf("%d root workflows and %d children completed with the expected results; %d history events in %d runs, none corrupted",
			numWorkflows, v.children, v.events, v.runs)
		t.Logf("%d activity calls, %d executions: %d extra (%d killed mid-run, %d killed between their end and the commit of their result), bound by kills during them: %d; %d results committed, none recomputed",
			v.activities, alog.total, extra, midRun, afterEnd, bound, v.activities)
	}
}

// verification collects problems and counts.
type verification struct {
	t        *testing.T
	problems []string
	runs     int
	events   int
	children int
	// activities counts committed activity results.
	activities int
}

func (v *verification) problem(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

func (v *verification) ok() bool { return len(v.problems) == 0 }

func (v *verification) report() {
	for i, p := range v.problems {
		if i == maxProblems {
			v.t.Errorf("… and %d more problems", len(v.problems)-maxProblems)
			break
		}
		v.t.Error(p)
	}
}

// incarnations describes the node processes of a test.
type incarnations struct {
	// survivors are the incarnations that were never killed.
	survivors map[int]bool
	// sequential: one incarnation ran at a time, in number order.
	sequential bool
}

// verify checks the database against the expected results and the
// activity log.
func verify(t *testing.T, db string, alog *activityLog, incs incarnations) *verification {
	t.Helper()
	v := &verification{t: t}
	defer v.report()
	st, err := OpenStore(db)
	if err != nil {
		t.Fatalf("open the database after the test: %v", err)
	}
	defer st.Close()
	c, err := perdure.NewClient(perdure.Options{Store: st, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	runs, err := allRuns(ctx, c)
	if err != nil {
		t.Fatal(err)
	}

	// 1. Every instance completed once (after continuing as new for some),
	// with the expected result.
	want := map[string]int64{}
	wantRuns := map[string]int{}
	parent := map[string]string{}
	for i := range int64(numWorkflows) {
		want[InstanceID(int(i))] = expectedOutput(i)
		wantRuns[InstanceID(int(i))] = expectedRuns(i)
		for id, out := range expectedChildren(i) {
			want[id] = out
			wantRuns[id] = 1
			parent[id] = InstanceID(int(i))
		}
	}
	byInstance := map[string][]*perdure.Instance{}
	for _, r := range runs {
		byInstance[r.InstanceID] = append(byInstance[r.InstanceID], r)
	}
	for id := range byInstance {
		if _, ok := want[id]; !ok {
			v.problem("unexpected instance %s", id)
		}
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	committed := map[string]bool{}
	for _, id := range ids {
		chain := runChain(byInstance[id])
		if len(chain) != wantRuns[id] || len(chain) != len(byInstance[id]) {
			v.problem("instance %s has %d runs (%d chained by continue-as-new), want %d", id, len(byInstance[id]), len(chain), wantRuns[id])
			continue
		}
		if parent[id] != "" {
			v.children++
		}
		for j, r := range chain {
			v.runs++
			var next *perdure.Instance
			wantStatus := perdure.StatusContinuedAsNew
			if j < len(chain)-1 {
				next = chain[j+1]
			} else {
				wantStatus = perdure.StatusCompleted
			}
			if r.Status != wantStatus || r.Current != (next == nil) {
				v.problem("instance %s run %d is %s (current %v), want %s; failure %+v, task error %q",
					id, j+1, r.Status, r.Current, wantStatus, r.Failure, r.TaskError)
				continue
			}
			if r.ParentInstanceID != parent[id] {
				v.problem("instance %s has parent %q, want %q", id, r.ParentInstanceID, parent[id])
			}
			if next == nil {
				var got int64
				if err := r.DecodeOutput(&got); err != nil || got != want[id] {
					v.problem("instance %s output %s (%v), want %d", id, r.Output, err, want[id])
				}
			}
			hist, err := c.History(ctx, id, r.RunID)
			if err != nil {
				v.problem("history of %s: %v", id, err)
				continue
			}
			v.events += len(hist)
			// 2 and 3.
			v.checkHistory(r, next, hist, alog, committed)
		}
	}

	// 3 and 4: every execution belongs to a committed activity call, and
	// only executions interrupted by a kill ran again.
	keys := make([]string, 0, len(alog.byKey))
	for key := range alog.byKey {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		execs := alog.byKey[key]
		if !committed[key] {
			v.problem("activity %s ran %d times but no result of it is in any history", key, len(execs))
			continue
		}
		for j, e := range execs {
			if incs.survivors[e.incarnation] && !e.ended {
				v.problem("activity %s: execution %s in incarnation %d, never killed, has no end record", key, e.nonce, e.incarnation)
			}
			if j == 0 {
				continue
			}
			prev := execs[j-1]
			if incs.survivors[prev.incarnation] {
				v.problem("activity %s ran again (execution %s, line %d) after an execution in incarnation %d, never killed (line %d)",
					key, e.nonce, e.line, prev.incarnation, prev.line)
			}
			if e.incarnation == prev.incarnation || (incs.sequential && e.incarnation < prev.incarnation) {
				v.problem("activity %s ran twice in incarnation %d, or out of order (lines %d and %d)", key, e.incarnation, prev.line, e.line)
			}
			if e.attempt <= prev.attempt {
				v.problem("activity %s: attempt %d (line %d) after attempt %d (line %d)", key, e.attempt, e.line, prev.attempt, prev.line)
			}
		}
	}
	return v
}

// runChain orders the runs of an instance from the first by their links
// (PreviousRunID); runs that are not on the chain are left out.
func runChain(runs []*perdure.Instance) []*perdure.Instance {
	var chain []*perdure.Instance
	prev := ""
	for range runs {
		found := false
		for _, r := range runs {
			if r.PreviousRunID == prev {
				chain = append(chain, r)
				prev, found = r.RunID, true
				break
			}
		}
		if !found {
			break
		}
	}
	return chain
}

// checkHistory checks the history of a finished run for corruption, and its
// activity results against the activity log. next is the run it continued
// as, nil for a completed run.
func (v *verification) checkHistory(r, next *perdure.Instance, hist []*perdure.HistoryEvent, alog *activityLog, committed map[string]bool) {
	id := r.InstanceID
	if len(hist) == 0 {
		v.problem("%s: empty history", id)
		return
	}
	if hist[0].Type != history.ExecutionStarted {
		v.problem("%s: history starts with %s, want ExecutionStarted", id, hist[0].Type)
	} else if !bytes.Equal(hist[0].Input, r.Input) || hist[0].Name != r.Name {
		v.problem("%s: ExecutionStarted has %s %s, the run %s %s", id, hist[0].Name, hist[0].Input, r.Name, r.Input)
	}
	last := hist[len(hist)-1]
	switch {
	case next != nil && last.Type != history.ContinueAsNew:
		v.problem("%s: history of continued run %s ends with %s, want ContinueAsNew", id, r.RunID, last.Type)
	case next != nil && (last.RunID != next.RunID || !bytes.Equal(last.Input, next.Input)):
		v.problem("%s: ContinueAsNew names run %s with input %s, but run %s with input %s follows",
			id, last.RunID, last.Input, next.RunID, next.Input)
	case next == nil && (last.Type != history.ExecutionCompleted || last.Status != perdure.StatusCompleted):
		v.problem("%s: history ends with %s %s, want ExecutionCompleted COMPLETED", id, last.Type, last.Status)
	case next == nil && !bytes.Equal(last.Result, r.Output):
		v.problem("%s: ExecutionCompleted result %s, run output %s", id, last.Result, r.Output)
	}
	type command struct {
		ev   *history.Event
		done bool
	}
	commands := map[int64]*command{}
	nextSeq := int64(1)
	for i, ev := range hist {
		if ev.ID != int64(i+1) {
			v.problem("%s: event %d has id %d", id, i+1, ev.ID)
		}
		if history.IsCommand(ev.Type) {
			if ev.Seq != nextSeq {
				v.problem("%s: event %d %s has seq %d, want %d", id, ev.ID, ev.Type, ev.Seq, nextSeq)
			}
			if commands[ev.Seq] != nil {
				v.problem("%s: seq %d issued twice (events %d and %d)", id, ev.Seq, commands[ev.Seq].ev.ID, ev.ID)
			}
			commands[ev.Seq] = &command{ev: ev}
			nextSeq = ev.Seq + 1
			continue
		}
		answers := func(want string) *command {
			c := commands[ev.Seq]
			switch {
			case c == nil || c.ev.Type != want:
				v.problem("%s: event %d %s answers seq %d, which is no %s", id, ev.ID, ev.Type, ev.Seq, want)
				return nil
			case c.done:
				v.problem("%s: event %d %s answers seq %d a second time", id, ev.ID, ev.Type, ev.Seq)
				return nil
			}
			c.done = true
			return c
		}
		switch ev.Type {
		case history.ExecutionStarted:
			if i != 0 {
				v.problem("%s: second ExecutionStarted at event %d", id, ev.ID)
			}
		case history.ExecutionCompleted, history.ContinueAsNew:
			if i != len(hist)-1 {
				v.problem("%s: %s at event %d of %d", id, ev.Type, ev.ID, len(hist))
			}
		case history.TaskCompleted:
			if c := answers(history.TaskScheduled); c != nil {
				if c.ev.Name != ev.Name {
					v.problem("%s: event %d completes activity %s of seq %d, scheduled as %s", id, ev.ID, ev.Name, ev.Seq, c.ev.Name)
				}
				v.checkResult(r, ev, alog, committed)
			}
		case history.TaskFailed:
			answers(history.TaskScheduled)
			v.problem("%s: activity seq %d failed (%+v); activities here never fail", id, ev.Seq, ev.Failure)
		case history.TimerFired:
			if c := answers(history.TimerCreated); c != nil && ev.Time.Before(c.ev.FireAt) {
				v.problem("%s: timer seq %d fired at %s, before %s", id, ev.Seq, ev.Time, c.ev.FireAt)
			}
		case history.SubOrchestrationInstanceCompleted:
			if c := answers(history.SubOrchestrationInstanceCreated); c != nil && c.ev.InstanceID != ev.InstanceID {
				v.problem("%s: child seq %d completed as %s, started as %s", id, ev.Seq, ev.InstanceID, c.ev.InstanceID)
			}
		case history.SubOrchestrationInstanceFailed:
			answers(history.SubOrchestrationInstanceCreated)
			v.problem("%s: child seq %d failed: %+v", id, ev.Seq, ev.Failure)
		case history.EventRaised:
		default:
			v.problem("%s: unexpected event %d %s", id, ev.ID, ev.Type)
		}
	}
	for seq := int64(1); seq < nextSeq; seq++ {
		c := commands[seq]
		if c == nil {
			continue
		}
		switch c.ev.Type {
		case history.TaskScheduled, history.SubOrchestrationInstanceCreated:
			if !c.done {
				v.problem("%s: %s seq %d never answered", id, c.ev.Type, seq)
			}
		case history.TimerCreated:
			// Every workflow here waits for its timers; only the timeout of
			// an event wait that got its event may be left unfired.
			if !c.done && c.ev.Purpose == "" {
				v.problem("%s: timer seq %d never fired", id, seq)
			}
		}
	}
}

// checkResult checks a committed activity result against the activity log:
// it must come from the last execution of that call, which ended, and the
// attempts before it must all have been lost to kills.
func (v *verification) checkResult(r *perdure.Instance, ev *history.Event, alog *activityLog, committed map[string]bool) {
	key := fmt.Sprintf("%s/%s/%d", r.InstanceID, r.RunID, ev.Seq)
	committed[key] = true
	v.activities++
	var out StepOut
	if err := json.Unmarshal(ev.Result, &out); err != nil || out.Nonce == "" {
		v.problem("activity %s: result %s carries no nonce (%v)", key, ev.Result, err)
		return
	}
	execs := alog.byKey[key]
	e := alog.byNonce[out.Nonce]
	switch {
	case len(execs) == 0:
		v.problem("activity %s: committed result %s, but no execution of it is logged", key, ev.Result)
		return
	case e == nil || e.key != key:
		v.problem("activity %s: committed result %s comes from no logged execution of it", key, ev.Result)
		return
	case execs[len(execs)-1] != e:
		later := execs[len(execs)-1]
		v.problem("activity %s: result of execution %s (incarnation %d, line %d) was committed, yet it ran again: execution %s (incarnation %d, line %d)",
			key, e.nonce, e.incarnation, e.line, later.nonce, later.incarnation, later.line)
	case !e.ended:
		v.problem("activity %s: committed execution %s has no end record", key, e.nonce)
	}
	if len(ev.Attempts) == 0 {
		v.problem("activity %s: no attempts recorded", key)
		return
	}
	lastAttempt := ev.Attempts[len(ev.Attempts)-1]
	if lastAttempt.Attempt != e.attempt || lastAttempt.Failure != nil {
		v.problem("activity %s: the successful attempt is %+v, the committed execution ran attempt %d", key, lastAttempt, e.attempt)
	}
	lost := map[int]bool{}
	for _, a := range ev.Attempts[:len(ev.Attempts)-1] {
		if a.Failure == nil || a.Failure.Type != failure.TypeWorkerLost {
			v.problem("activity %s: attempt %d failed with %+v; only attempts lost to a kill may fail", key, a.Attempt, a.Failure)
		}
		lost[a.Attempt] = true
	}
	// Every execution interrupted by a kill is an attempt recorded as lost
	// (the log keeps the newest attempts only).
	for _, x := range execs[:len(execs)-1] {
		if x.attempt >= ev.Attempts[0].Attempt && !lost[x.attempt] {
			v.problem("activity %s: execution %s of attempt %d (incarnation %d) ran again, but its attempt is not recorded as lost: %+v",
				key, x.nonce, x.attempt, x.incarnation, ev.Attempts)
		}
	}
}
