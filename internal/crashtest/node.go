package crashtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/pgstore"
	"github.com/perdure/perdure/store/sqlitestore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// Kinds of root workflows: instance i runs kind i % numKinds.
const (
	kindChain = iota
	kindTimers
	kindEvents
	kindChildren
	kindFanOut
	kindLoop
	numKinds
)

// StepIn is the input of the Add and Mul activities.
type StepIn struct {
	X   int64 `json:"x"`
	Arg int64 `json:"arg"`
}

// StepOut is what an activity returns: its business value and the nonce of
// the execution that computed it.
type StepOut struct {
	Value int64  `json:"value"`
	Nonce string `json:"nonce"`
}

// ChildIn is the input of ChildWorkflow.
type ChildIn struct {
	Parent string `json:"parent"`
	X      int64  `json:"x"`
}

var (
	actLog      *os.File
	incarnation int
)

// record appends one line to the activity log with a single write and syncs
// it. The process cannot go on without its log, so a failure exits.
func record(line string) {
	if _, err := actLog.Write([]byte(line + "\n")); err != nil {
		fmt.Fprintf(os.Stderr, "node: write activity log: %v\n", err)
		os.Exit(3)
	}
	if err := actLog.Sync(); err != nil {
		fmt.Fprintf(os.Stderr, "node: sync activity log: %v\n", err)
		os.Exit(3)
	}
}

func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// work logs the execution, takes 10 to 100 ms (so that kills land while
// activities run), and returns value with the execution's nonce.
func work(ctx context.Context, in StepIn, value int64) (StepOut, error) {
	info := activity.GetInfo(ctx)
	nonce := newNonce()
	record(fmt.Sprintf("start %s %d %d %s", info.IdempotencyKey, info.Attempt, incarnation, nonce))
	d := time.Duration(10+(in.X*31+in.Arg*17)%91) * time.Millisecond
	time.Sleep(d)
	record(fmt.Sprintf("end %s %d %s", info.IdempotencyKey, incarnation, nonce))
	return StepOut{Value: value, Nonce: nonce}, nil
}

// Add returns X + Arg.
func Add(ctx context.Context, in StepIn) (StepOut, error) { return work(ctx, in, in.X+in.Arg) }

// Mul returns X × Arg.
func Mul(ctx context.Context, in StepIn) (StepOut, error) { return work(ctx, in, in.X*in.Arg) }

// activityOptions: activities never fail, so the only failed attempts are
// attempts lost to a kill (WorkerLost), retried at once.
var activityOptions = workflow.ActivityOptions{RetryPolicy: workflow.RetryPolicy{
	InitialInterval: 10 * time.Millisecond, BackoffCoefficient: 1, MaximumInterval: 10 * time.Millisecond}}

func act(ctx workflow.Context, fn func(context.Context, StepIn) (StepOut, error), x, arg int64) (int64, error) {
	out, err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, activityOptions), fn, StepIn{X: x, Arg: arg}).Get(ctx)
	return out.Value, err
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// ChainWorkflow: a chain of eight activities with a durable sleep in the
// middle. v = i; four times: v = (v + s + 1) × 2.
func ChainWorkflow(ctx workflow.Context, i int64) (int64, error) {
	v := i
	for s := int64(0); s < 4; s++ {
		var err error
		if v, err = act(ctx, Add, v, s+1); err != nil {
			return 0, err
		}
		if v, err = act(ctx, Mul, v, 2); err != nil {
			return 0, err
		}
		if s == 1 {
			if err := workflow.Sleep(ctx, ms(20+(i*13)%180)); err != nil {
				return 0, err
			}
		}
	}
	return v, nil
}

// TimersWorkflow: a sleep, a timer racing an activity, and an event wait
// that always times out. (i + 10) × 3 + 1000.
func TimersWorkflow(ctx workflow.Context, i int64) (int64, error) {
	a, err := act(ctx, Add, i, 10)
	if err != nil {
		return 0, err
	}
	if err := workflow.Sleep(ctx, ms(20+(i*7)%180)); err != nil {
		return 0, err
	}
	timer := workflow.NewTimer(ctx, ms(20+(i*11)%180))
	mul := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, activityOptions), Mul, StepIn{X: a, Arg: 3})
	workflow.AllOf(ctx, timer, mul)
	if _, err := timer.Get(ctx); err != nil {
		return 0, err
	}
	m, err := mul.Get(ctx)
	if err != nil {
		return 0, err
	}
	bonus := int64(0)
	if _, err := workflow.WaitEventWithTimeout[int64](ctx, "never", 30*time.Millisecond).Get(ctx); errors.Is(err, workflow.ErrEventTimeout) {
		bonus = 1000
	} else {
		return 0, fmt.Errorf("event \"never\" was not expected to arrive (err %v)", err)
	}
	return act(ctx, Add, m.Value, bonus)
}

// ApproveValue and BonusValue are the payloads the node raises on
// EventsWorkflow instance i.
func ApproveValue(i int64) int64 { return i%7 + 2 }

// BonusValue: see ApproveValue.
func BonusValue(i int64) int64 { return i%3 + 1 }

// EventsWorkflow waits for two external events. (i + 5) × approve + bonus.
// Duplicate events (raised again by a later incarnation) stay buffered and
// are ignored.
func EventsWorkflow(ctx workflow.Context, i int64) (int64, error) {
	a, err := act(ctx, Add, i, 5)
	if err != nil {
		return 0, err
	}
	approve, err := workflow.WaitEvent[int64](ctx, "approve").Get(ctx)
	if err != nil {
		return 0, err
	}
	b, err := act(ctx, Mul, a, approve)
	if err != nil {
		return 0, err
	}
	bonus, err := workflow.WaitEventWithTimeout[int64](ctx, "bonus", 10*time.Minute).Get(ctx)
	if err != nil {
		return 0, err
	}
	return act(ctx, Add, b, bonus)
}

// ChildWorkflow: 3 × (X + 1), also sent to the parent as an event.
func ChildWorkflow(ctx workflow.Context, in ChildIn) (int64, error) {
	a, err := act(ctx, Add, in.X, 1)
	if err != nil {
		return 0, err
	}
	if err := workflow.Sleep(ctx, ms(20+in.X%50)); err != nil {
		return 0, err
	}
	b, err := act(ctx, Mul, a, 3)
	if err != nil {
		return 0, err
	}
	if err := workflow.SendEvent(ctx, in.Parent, "child-done", b); err != nil {
		return 0, err
	}
	return b, nil
}

// ParentWorkflow runs two children at once and waits for their results and
// their events. 3(i+1) + 3(i+2) + 7.
func ParentWorkflow(ctx workflow.Context, i int64) (int64, error) {
	id := workflow.GetInfo(ctx).InstanceID
	c0 := workflow.ExecuteChildWorkflow(ctx, ChildWorkflow, ChildIn{Parent: id, X: i})
	c1 := workflow.ExecuteChildWorkflow(ctx, ChildWorkflow, ChildIn{Parent: id, X: i + 1})
	r0, err := c0.Get(ctx)
	if err != nil {
		return 0, err
	}
	r1, err := c1.Get(ctx)
	if err != nil {
		return 0, err
	}
	var sum int64
	for range 2 {
		v, err := workflow.WaitEvent[int64](ctx, "child-done").Get(ctx)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	if sum != r0+r1 {
		return 0, workflow.NewNonRetryableError("Mismatch", "child events sum to %d, child results to %d", sum, r0+r1)
	}
	return act(ctx, Add, r0+r1, 7)
}

// FanOutWorkflow doubles i..i+5 in parallel (three at a time), sums, and
// adds a side effect. 12i + 30 + 1.
func FanOutWorkflow(ctx workflow.Context, i int64) (int64, error) {
	items := []int64{i, i + 1, i + 2, i + 3, i + 4, i + 5}
	res, err := workflow.FanOut(ctx, items, 3, func(ctx workflow.Context, x int64) (int64, error) {
		return act(ctx, Mul, x, 2)
	})
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, v := range res {
		sum += v
	}
	one, err := workflow.SideEffect(ctx, func() int64 { return 1 })
	if err != nil {
		return 0, err
	}
	return act(ctx, Add, sum, one)
}

// LoopRounds is how many times LoopWorkflow continues as new.
const LoopRounds = 3

// LoopIn is the input of each run of LoopWorkflow.
type LoopIn struct {
	I     int64 `json:"i"`
	Round int64 `json:"round"`
	Acc   int64 `json:"acc"`
}

// LoopWorkflow continues as new LoopRounds times; each of those runs sleeps
// and then adds its round number by an activity. i + 1 + 2 + 3.
func LoopWorkflow(ctx workflow.Context, in LoopIn) (int64, error) {
	if in.Round == LoopRounds {
		return in.Acc, nil
	}
	if err := workflow.Sleep(ctx, ms(10+(in.I+in.Round)%40)); err != nil {
		return 0, err
	}
	acc, err := act(ctx, Add, in.Acc, in.Round+1)
	if err != nil {
		return 0, err
	}
	return 0, workflow.ContinueAsNew(ctx, LoopIn{I: in.I, Round: in.Round + 1, Acc: acc})
}

// InstanceID names root instance i.
func InstanceID(i int) string { return fmt.Sprintf("wf-%03d", i) }

// rootStart gives the workflow and input of root instance i.
func rootStart(i int) (any, any) {
	in := int64(i)
	switch i % numKinds {
	case kindChain:
		return ChainWorkflow, in
	case kindTimers:
		return TimersWorkflow, in
	case kindEvents:
		return EventsWorkflow, in
	case kindChildren:
		return ParentWorkflow, in
	case kindFanOut:
		return FanOutWorkflow, in
	default:
		return LoopWorkflow, LoopIn{I: in, Acc: in}
	}
}

func register(w *worker.Worker) error {
	return errors.Join(
		worker.RegisterWorkflow(w, ChainWorkflow),
		worker.RegisterWorkflow(w, TimersWorkflow),
		worker.RegisterWorkflow(w, EventsWorkflow),
		worker.RegisterWorkflow(w, ParentWorkflow),
		worker.RegisterWorkflow(w, ChildWorkflow),
		worker.RegisterWorkflow(w, FanOutWorkflow),
		worker.RegisterWorkflow(w, LoopWorkflow),
		worker.RegisterActivity(w, Add),
		worker.RegisterActivity(w, Mul),
	)
}

// NodeMain runs the node with command-line arguments args and returns its
// exit code. The process must not run anything else: the node keeps its
// state in package variables.
func NodeMain(args []string) int {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	dbPath := fs.String("db", "", "the store: a SQLite database file, or a postgres:// URL")
	lease := fs.Duration("lease", 10*time.Second, "lease duration of claimed work")
	logPath := fs.String("actlog", "", "activity log file")
	fs.IntVar(&incarnation, "incarnation", 0, "number of this process in the test (recorded in the activity log)")
	n := fs.Int("n", 200, "number of root workflow instances")
	epochMs := fs.Int64("epoch", 0, "unix time in ms from which the starts of the instances are spread; 0: now")
	spread := fs.Duration("spread", 30*time.Millisecond, "delay between the scheduled starts of consecutive instances")
	exclusive := fs.Bool("sqlite-exclusive-locking", false, "open the SQLite store with exclusive locking (sqlitestore.Options.ExclusiveLocking)")
	exitWhenDone := fs.Bool("exit-when-done", false, "exit 0 once every instance has finished")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dbPath == "" || *logPath == "" || incarnation <= 0 {
		fmt.Fprintln(os.Stderr, "usage: node -db FILE -actlog FILE -incarnation N [-n 200] [-epoch MS] [-exit-when-done]")
		return 2
	}
	if err := runNode(*dbPath, *logPath, *n, *epochMs, *spread, *lease, *exitWhenDone, *exclusive); err != nil {
		fmt.Fprintf(os.Stderr, "node %d: %v\n", incarnation, err)
		return 1
	}
	return 0
}

// OpenStore opens the store a node runs on: a postgres:// URL, else a
// SQLite file.
func OpenStore(spec string) (store.Store, error) { return openStore(spec, false) }

// openStore is OpenStore, with sqlitestore.Options.ExclusiveLocking when
// exclusive.
func openStore(spec string, exclusive bool) (store.Store, error) {
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		return pgstore.Open(context.Background(), spec, pgstore.Options{})
	}
	return sqlitestore.Open(spec, sqlitestore.Options{ExclusiveLocking: exclusive})
}

func runNode(dbPath, logPath string, n int, epochMs int64, spread, lease time.Duration, exitWhenDone, exclusive bool) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).
		With("incarnation", incarnation)
	var err error
	actLog, err = os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	st, err := openStore(dbPath, exclusive)
	if err != nil {
		return err
	}
	c, err := perdure.NewClient(perdure.Options{Store: st, Logger: logger,
		LeaseDuration: lease, WorkflowTaskRetry: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	w := worker.New(c, worker.Options{})
	if err := register(w); err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return err
	}
	ctx := context.Background()
	epoch := time.Now()
	if epochMs > 0 {
		epoch = time.UnixMilli(epochMs)
	}

	// Start the instances that do not exist yet, several at a time so that
	// their commits are grouped.
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		startErr error
		started  int
	)
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			id := InstanceID(i)
			if _, err := c.GetInstance(ctx, id); err == nil {
				return
			} else if !errors.Is(err, perdure.ErrNotFound) {
				mu.Lock()
				startErr = errors.Join(startErr, err)
				mu.Unlock()
				return
			}
			wf, input := rootStart(i)
			_, err := c.StartWorkflow(ctx, wf, input, perdure.StartOptions{InstanceID: id,
				StartAt: epoch.Add(time.Duration(i) * spread)})
			mu.Lock()
			startErr = errors.Join(startErr, err)
			if err == nil {
				started++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if startErr != nil {
		return fmt.Errorf("start instances: %w", startErr)
	}
	fmt.Fprintf(os.Stderr, "node %d: started %d instances\n", incarnation, started)

	// Raise the events of EventsWorkflow instances once they run (raising on
	// a run that has not started would reach it before ExecutionStarted),
	// once per incarnation; then wait until every instance has finished.
	finished := make([]bool, n)
	raised := make([]bool, n)
	allDone := false
	for {
		done := 0
		for i := range n {
			if finished[i] {
				done++
				continue
			}
			id := InstanceID(i)
			inst, err := c.GetInstance(ctx, id)
			if err != nil {
				return fmt.Errorf("get %s: %w", id, err)
			}
			if inst.Status.Finished() {
				finished[i] = true
				done++
				if inst.Status != perdure.StatusCompleted {
					fmt.Fprintf(os.Stderr, "node %d: %s finished %s: %+v\n", incarnation, id, inst.Status, inst.Failure)
				}
				continue
			}
			if i%numKinds == kindEvents && !raised[i] && inst.Status == perdure.StatusRunning {
				err := errors.Join(c.RaiseEvent(ctx, id, "approve", ApproveValue(int64(i))),
					c.RaiseEvent(ctx, id, "bonus", BonusValue(int64(i))))
				if err != nil && !errors.Is(err, perdure.ErrNotRunning) {
					return fmt.Errorf("raise events on %s: %w", id, err)
				}
				raised[i] = true
			}
		}
		if done == n && !allDone {
			allDone = true
			fmt.Fprintf(os.Stderr, "node %d: all %d instances finished\n", incarnation, n)
			if exitWhenDone {
				return errors.Join(w.Stop(), c.Close(), st.Close(), actLog.Close())
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}
