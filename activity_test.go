package perdure_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// flaky fails until its attempt reaches n.Succeed (0: always fails) with an
// error of type n.Type.
type flakyIn struct {
	Key          string
	Succeed      int
	Type         string
	NonRetryable bool
}

var flakyAttempts sync.Map // key -> *atomic.Int64

func counter(key string) *atomic.Int64 {
	v, _ := flakyAttempts.LoadOrStore(key, new(atomic.Int64))
	return v.(*atomic.Int64)
}

func flaky(ctx context.Context, in flakyIn) (int, error) {
	n := counter(in.Key).Add(1)
	if in.Succeed > 0 && activity.GetInfo(ctx).Attempt >= in.Succeed {
		return activity.GetInfo(ctx).Attempt, nil
	}
	if in.NonRetryable {
		return 0, activity.NewNonRetryableError(in.Type, "attempt %d failed for good", n)
	}
	return 0, activity.NewError(in.Type, "attempt %d failed", n)
}

type retryIn struct {
	Flaky  flakyIn
	Policy workflow.RetryPolicy
}

func RetryWorkflow(ctx workflow.Context, in retryIn) (int, error) {
	ctx = workflow.WithRetryPolicy(ctx, in.Policy)
	return workflow.ExecuteActivity(ctx, flaky, in.Flaky).Get(ctx)
}

func registerRetry(w *worker.Worker) {
	mustReg(worker.RegisterWorkflow(w, RetryWorkflow))
	mustReg(worker.RegisterActivity(w, flaky))
}

func fastPolicy(max int) workflow.RetryPolicy {
	return workflow.RetryPolicy{InitialInterval: 5 * time.Millisecond, BackoffCoefficient: 2, MaximumInterval: 20 * time.Millisecond, MaximumAttempts: max}
}

func TestActivityRetriesThenSucceeds(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, registerRetry)
		key := t.Name()
		id, err := e.c.StartWorkflow(e.ctx, RetryWorkflow, retryIn{Flaky: flakyIn{Key: key, Succeed: 3, Type: "Flaky"}, Policy: fastPolicy(5)}, perdure.StartOptions{})
		must(t, err)
		got, err := perdure.GetResult[int](e.ctx, e.c, id)
		must(t, err)
		if got != 3 || counter(key).Load() != 3 {
			t.Fatalf("succeeded on attempt %d after %d runs, want 3 and 3", got, counter(key).Load())
		}
		hist, err := e.c.History(e.ctx, id, "")
		must(t, err)
		done := hist[2]
		if done.Type != "TaskCompleted" || len(done.Attempts) != 3 || done.Attempts[0].Failure == nil ||
			done.Attempts[0].NextRetryAt.IsZero() || done.Attempts[2].Failure != nil {
			t.Fatalf("completion event %+v", done)
		}
	})
}

func TestActivityErrorAfterRetriesExhausted(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, registerRetry)
		key := t.Name()
		id, err := e.c.StartWorkflow(e.ctx, RetryWorkflow, retryIn{Flaky: flakyIn{Key: key, Type: "ZeroDivisionError"}, Policy: fastPolicy(3)}, perdure.StartOptions{})
		must(t, err)
		inst := e.waitDone(id)
		if inst.Status != perdure.StatusFailed || counter(key).Load() != 3 {
			t.Fatalf("status %s after %d attempts", inst.Status, counter(key).Load())
		}
		f := inst.Failure
		if f.Type != "ActivityError" || f.ActivityName != "flaky" || f.Attempts != 3 || f.Cause.Type != "ZeroDivisionError" ||
			!strings.Contains(f.Message, `activity "flaky" failed after 3 attempts: attempt 3 failed`) {
			t.Fatalf("failure %+v cause %+v", f, f.Cause)
		}
	})
}

// ActivityErrorInspector returns what errors.As finds in an activity error.
func ActivityErrorInspector(ctx workflow.Context, in retryIn) (string, error) {
	ctx = workflow.WithRetryPolicy(ctx, in.Policy)
	_, err := workflow.ExecuteActivity(ctx, flaky, in.Flaky).Get(ctx)
	var ae *workflow.ActivityError
	if !errors.As(err, &ae) {
		return "", fmt.Errorf("not an ActivityError: %v", err)
	}
	var app *workflow.ApplicationError
	if !errors.As(err, &app) {
		return "", fmt.Errorf("no ApplicationError cause: %v", err)
	}
	return fmt.Sprintf("%s|%d|%s|%s|%v", ae.ActivityName, ae.Attempts, ae.Type, app.Message, ae.NonRetryable), nil
}

func TestActivityErrorIsTyped(t *testing.T) {
	e := newEnv(t, "memory", func(w *worker.Worker) {
		mustReg(worker.RegisterWorkflow(w, ActivityErrorInspector))
		mustReg(worker.RegisterActivity(w, flaky))
	})
	cases := []struct {
		name string
		in   retryIn
		want string
	}{
		{"exhausted", retryIn{Flaky: flakyIn{Type: "Boom"}, Policy: fastPolicy(2)}, "flaky|2|Boom|attempt 2 failed|false"},
		{"non-retryable error", retryIn{Flaky: flakyIn{Type: "Fatal", NonRetryable: true}, Policy: fastPolicy(5)}, "flaky|1|Fatal|attempt 1 failed for good|true"},
		{"non-retryable type", retryIn{Flaky: flakyIn{Type: "InvalidFlight"}, Policy: workflow.RetryPolicy{InitialInterval: time.Millisecond, NonRetryableErrorTypes: []string{"InvalidFlight"}}}, "flaky|1|InvalidFlight|attempt 1 failed|false"},
	}
	for _, tc := range cases {
		tc.in.Flaky.Key = t.Name() + tc.name
		id, err := e.c.StartWorkflow(e.ctx, ActivityErrorInspector, tc.in, perdure.StartOptions{})
		must(t, err)
		got, err := perdure.GetResult[string](e.ctx, e.c, id)
		must(t, err)
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// heartbeating records progress and fails on its first attempt; the next
// attempt resumes from the recorded details.
func heartbeating(ctx context.Context, upTo int) (string, error) {
	start, _, err := activity.HeartbeatDetails[int](ctx)
	if err != nil {
		return "", err
	}
	for i := start; i < upTo; i++ {
		activity.RecordHeartbeat(ctx, i+1)
		if activity.GetInfo(ctx).Attempt == 1 && i+1 == upTo/2 {
			time.Sleep(20 * time.Millisecond) // let the heartbeat reach the store
			return "", errors.New("crashed half-way")
		}
	}
	return fmt.Sprintf("attempt %d resumed at %d", activity.GetInfo(ctx).Attempt, start), nil
}

func HeartbeatWorkflow(ctx workflow.Context, upTo int) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{RetryPolicy: fastPolicy(3), HeartbeatTimeout: 5 * time.Second})
	return workflow.ExecuteActivity(ctx, heartbeating, upTo).Get(ctx)
}

func TestHeartbeatDetailsReachNextAttempt(t *testing.T) {
	eachStore(t, func(t *testing.T, kind string) {
		e := newEnv(t, kind, func(w *worker.Worker) {
			mustReg(worker.RegisterWorkflow(w, HeartbeatWorkflow))
			mustReg(worker.RegisterActivity(w, heartbeating))
		})
		id, err := e.c.StartWorkflow(e.ctx, HeartbeatWorkflow, 10, perdure.StartOptions{})
		must(t, err)
		got, err := perdure.GetResult[string](e.ctx, e.c, id)
		must(t, err)
		if got != "attempt 2 resumed at 5" {
			t.Fatalf("got %q", got)
		}
	})
}

func sleepy(ctx context.Context, d time.Duration) (string, error) {
	select {
	case <-time.After(d):
		return "slept", nil
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
}

type timeoutIn struct {
	Sleep time.Duration
	Opts  workflow.ActivityOptions
}

func TimeoutWorkflow(ctx workflow.Context, in timeoutIn) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, in.Opts)
	_, err := workflow.ExecuteActivity(ctx, sleepy, in.Sleep).Get(ctx)
	var te *workflow.TimeoutError
	if errors.As(err, &te) {
		var ae *workflow.ActivityError
		errors.As(err, &ae)
		return fmt.Sprintf("%s after %d", te.Kind, ae.Attempts), nil
	}
	return "", fmt.Errorf("want a timeout, got %v", err)
}

func TestActivityTimeouts(t *testing.T) {
	e := newEnv(t, "memory", func(w *worker.Worker) {
		mustReg(worker.RegisterWorkflow(w, TimeoutWorkflow))
		mustReg(worker.RegisterActivity(w, sleepy))
	})
	cases := map[string]struct {
		in   timeoutIn
		want string
	}{
		"start-to-close":    {timeoutIn{time.Second, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Millisecond, RetryPolicy: fastPolicy(2)}}, "StartToClose after 2"},
		"schedule-to-close": {timeoutIn{time.Second, workflow.ActivityOptions{ScheduleToCloseTimeout: 50 * time.Millisecond, RetryPolicy: fastPolicy(0)}}, "ScheduleToClose after 1"},
		"heartbeat":         {timeoutIn{time.Second, workflow.ActivityOptions{HeartbeatTimeout: 40 * time.Millisecond, RetryPolicy: fastPolicy(1)}}, "Heartbeat after 1"},
	}
	for name, tc := range cases {
		id, err := e.c.StartWorkflow(e.ctx, TimeoutWorkflow, tc.in, perdure.StartOptions{})
		must(t, err)
		got, err := perdure.GetResult[string](e.ctx, e.c, id)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", name, got, err, tc.want)
		}
	}
}

// Async completion: the activity hands its token to an outside system.
var tokens = make(chan string, 16)

func transmit(ctx context.Context, packet string) (string, error) {
	tokens <- activity.GetInfo(ctx).TaskToken
	return "", activity.ErrResultPending
}

func AsyncWorkflow(ctx workflow.Context, packet string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second, RetryPolicy: fastPolicy(3)})
	return workflow.ExecuteActivity(ctx, transmit, packet).Get(ctx)
}

func registerAsync(w *worker.Worker) {
	mustReg(worker.RegisterWorkflow(w, AsyncWorkflow))
	mustReg(worker.RegisterActivity(w, transmit))
}

func TestAsyncCompletionByToken(t *testing.T) {
	e := newEnv(t, "sqlite", registerAsync)
	id, err := e.c.StartWorkflow(e.ctx, AsyncWorkflow, "hello", perdure.StartOptions{})
	must(t, err)
	tok := <-tokens
	must(t, e.c.HeartbeatActivity(e.ctx, tok, "halfway"))
	must(t, e.c.CompleteActivity(e.ctx, tok, "delivered"))
	got, err := perdure.GetResult[string](e.ctx, e.c, id)
	must(t, err)
	if got != "delivered" {
		t.Fatalf("got %q", got)
	}
	err = e.c.CompleteActivity(e.ctx, tok, "again")
	if !errors.Is(err, perdure.ErrTokenRejected) {
		t.Fatalf("second completion: %v, want ErrTokenRejected", err)
	}
	if err := e.c.CompleteActivity(e.ctx, "not-a-token", 1); !errors.Is(err, perdure.ErrBadToken) {
		t.Fatalf("garbage token: %v", err)
	}
}

func TestAsyncFailByTokenRetriesWithNewToken(t *testing.T) {
	e := newEnv(t, "memory", registerAsync)
	id, err := e.c.StartWorkflow(e.ctx, AsyncWorkflow, "p", perdure.StartOptions{})
	must(t, err)
	first := <-tokens
	must(t, e.c.FailActivity(e.ctx, first, errors.New("ack lost")))
	second := <-tokens
	if second == first {
		t.Fatal("retry reused the token of the failed attempt")
	}
	if err := e.c.CompleteActivity(e.ctx, first, "late"); !errors.Is(err, perdure.ErrTokenRejected) ||
		!strings.Contains(err.Error(), "attempt 1") {
		t.Fatalf("stale token: %v", err)
	}
	must(t, e.c.CompleteActivity(e.ctx, second, "ok"))
	got, err := perdure.GetResult[string](e.ctx, e.c, id)
	must(t, err)
	if got != "ok" {
		t.Fatalf("got %q", got)
	}
}

func AsyncTimeoutWorkflow(ctx workflow.Context, _ string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 50 * time.Millisecond, RetryPolicy: fastPolicy(2)})
	_, err := workflow.ExecuteActivity(ctx, transmit, "x").Get(ctx)
	return fmt.Sprint(err), nil
}

func TestAsyncTokenRejectedAfterTimeout(t *testing.T) {
	e := newEnv(t, "memory", func(w *worker.Worker) {
		mustReg(worker.RegisterWorkflow(w, AsyncTimeoutWorkflow))
		mustReg(worker.RegisterActivity(w, transmit))
	})
	id, err := e.c.StartWorkflow(e.ctx, AsyncTimeoutWorkflow, "", perdure.StartOptions{})
	must(t, err)
	first := <-tokens
	second := <-tokens // the first attempt timed out and was retried
	got, err := perdure.GetResult[string](e.ctx, e.c, id)
	must(t, err)
	if !strings.Contains(got, "after 2 attempts") || !strings.Contains(got, "deadline") {
		t.Fatalf("workflow saw %q", got)
	}
	for _, tok := range []string{first, second} {
		if err := e.c.CompleteActivity(e.ctx, tok, "late"); !errors.Is(err, perdure.ErrTokenRejected) {
			t.Fatalf("late completion: %v, want ErrTokenRejected", err)
		}
	}
}

func panicky(context.Context, int) (int, error) { panic("boom") }

func PanickyWorkflow(ctx workflow.Context, _ int) (int, error) {
	ctx = workflow.WithRetryPolicy(ctx, fastPolicy(1))
	return workflow.ExecuteActivity(ctx, panicky, 0).Get(ctx)
}

// A panicking activity is an ordinary failed attempt, with its stack kept.
func TestActivityPanicKeepsStack(t *testing.T) {
	e := newEnv(t, "memory", func(w *worker.Worker) {
		mustReg(worker.RegisterWorkflow(w, PanickyWorkflow))
		mustReg(worker.RegisterActivity(w, panicky))
	})
	id, err := e.c.StartWorkflow(e.ctx, PanickyWorkflow, 0, perdure.StartOptions{})
	must(t, err)
	inst := e.waitDone(id)
	c := inst.Failure.Cause
	if inst.Status != perdure.StatusFailed || c == nil || c.Type != "PanicError" || c.Message != "activity panicked: boom" ||
		!strings.Contains(c.Stack, "panicky") {
		t.Fatalf("failure %+v cause %+v", inst.Failure, c)
	}
}

var longRuns atomic.Int64

func longActivity(ctx context.Context, d time.Duration) (int, error) {
	longRuns.Add(1)
	select {
	case <-time.After(d):
		return activity.GetInfo(ctx).Attempt, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func longCaller(ctx workflow.Context, d time.Duration) (int, error) {
	return workflow.ExecuteActivity[time.Duration, int](ctx, longActivity, d).Get(ctx)
}

// An attempt that runs several times longer than the lease keeps it: its
// heartbeats renew the lease while it runs, so it is neither run again
// beside itself nor counted as lost.
func TestLongAttemptKeepsItsLease(t *testing.T) {
	for _, kind := range []string{"memory", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			longRuns.Store(0)
			const lease = 300 * time.Millisecond
			e := newEnv(t, kind, nil)
			e.stop()
			e.opts.LeaseDuration, e.opts.PollInterval = lease, 50*time.Millisecond
			e.start(func(w *worker.Worker) {
				mustReg(worker.RegisterWorkflow(w, longCaller))
				mustReg(worker.RegisterActivity(w, longActivity))
			})
			c, ctx := e.c, e.ctx
			id, err := c.StartWorkflow(ctx, longCaller, 4*lease, perdure.StartOptions{})
			must(t, err)
			attempt, err := perdure.GetResult[int](ctx, c, id)
			must(t, err)
			if n := longRuns.Load(); attempt != 1 || n != 1 {
				t.Fatalf("the activity ran %d times, the result is from attempt %d: want once, attempt 1", n, attempt)
			}
		})
	}
}

// claimCounter counts the activity tasks that claims hand out.
type claimCounter struct {
	store.Store
	claimed atomic.Int64
}

func (s *claimCounter) ActivityTaskClaim(ctx context.Context, p *store.ActivityTaskClaimParams) ([]*store.ClaimedActivity, error) {
	tasks, err := s.Store.ActivityTaskClaim(ctx, p)
	s.claimed.Add(int64(len(tasks)))
	return tasks, err
}

var running, mostRunning atomic.Int64

func boundedAddOne(_ context.Context, n int) (int, error) {
	now := running.Add(1)
	defer running.Add(-1)
	for {
		m := mostRunning.Load()
		if now <= m || mostRunning.CompareAndSwap(m, now) {
			break
		}
	}
	time.Sleep(time.Millisecond)
	return n + 1, nil
}

func boundedChain(ctx workflow.Context, n int) (int, error) {
	for range 3 {
		var err error
		if n, err = workflow.ExecuteActivity(ctx, boundedAddOne, n).Get(ctx); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// With one activity slot, each activity of a chain starts in the slot of
// the one before, leased in the commit that records that one's result:
// none waits for a claim, and no two run at once.
func TestChainedActivitiesHandTheirSlotOn(t *testing.T) {
	for _, kind := range []string{"memory", "sqlite"} {
		t.Run(kind, func(t *testing.T) {
			running.Store(0)
			mostRunning.Store(0)
			e := newEnv(t, kind, nil)
			e.stop()
			cc := &claimCounter{Store: e.st}
			e.st = cc
			e.wopts.MaxConcurrentActivities = 1
			e.start(func(w *worker.Worker) {
				mustReg(worker.RegisterWorkflow(w, boundedChain))
				mustReg(worker.RegisterActivity(w, boundedAddOne))
			})
			c, ctx := e.c, e.ctx
			var ids []string
			for i := range 4 {
				id, err := c.StartWorkflow(ctx, boundedChain, 10*i, perdure.StartOptions{})
				must(t, err)
				ids = append(ids, id)
			}
			for i, id := range ids {
				out, err := perdure.GetResult[int](ctx, c, id)
				must(t, err)
				if out != 10*i+3 {
					t.Fatalf("workflow %d returned %d, want %d", i, out, 10*i+3)
				}
			}
			if n := mostRunning.Load(); n != 1 {
				t.Fatalf("%d activities ran at once with one slot", n)
			}
			if n := cc.claimed.Load(); n > 3 {
				// Each workflow's first activity may wait for the slot
				// (and be claimed); its next two start in the slot of
				// the one before.
				t.Fatalf("claims handed out %d activity tasks; want at most 3 (the first activities of the workflows that found the slot taken)", n)
			}
		})
	}
}
