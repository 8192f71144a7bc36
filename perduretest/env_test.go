package perduretest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/workflow"
)

func Charge(_ context.Context, amount int) (string, error) {
	return "", errors.New("the real Charge must not run")
}

func Ship(_ context.Context, ref string) (string, error) { return "shipped " + ref, nil }

// OrderWorkflow charges (with retries), then ships.
func OrderWorkflow(ctx workflow.Context, amount int) (string, error) {
	ctx = workflow.WithRetryPolicy(ctx, workflow.RetryPolicy{InitialInterval: time.Minute, BackoffCoefficient: 2, MaximumAttempts: 4})
	ref, err := workflow.ExecuteActivity(ctx, Charge, amount).Get(ctx)
	if err != nil {
		return "", err
	}
	return workflow.ExecuteActivity(ctx, Ship, ref).Get(ctx)
}

func TestMockedActivityWithRetries(t *testing.T) {
	env := NewEnv(t)
	must(t, RegisterWorkflow(env, OrderWorkflow))
	must(t, RegisterActivity(env, Ship))
	charge := OnActivity(env, Charge).
		ReturnOnce("", errors.New("card network down")).
		ReturnOnce("", errors.New("card network down")).
		Return("PAY-1", nil)
	began := time.Now()
	start := env.Now()
	got, err := ExecuteWorkflow[string](env, OrderWorkflow, 42)
	if err != nil {
		t.Fatal(err)
	}
	if got != "shipped PAY-1" {
		t.Fatalf("got %q", got)
	}
	if charge.Count() != 3 || fmt.Sprint(charge.Calls()) != "[42 42 42]" {
		t.Fatalf("Charge called %d times with %v, want 3 × 42", charge.Count(), charge.Calls())
	}
	// Backoff of 1 and 2 minutes passed on the virtual clock, not the wall.
	if elapsed := env.Now().Sub(start); elapsed < 3*time.Minute {
		t.Fatalf("virtual time advanced %v, want at least the 3 minutes of backoff", elapsed)
	}
	if time.Since(began) > 10*time.Second {
		t.Fatalf("took %v of real time", time.Since(began))
	}
}

func TestRetriesExhaustedGiveActivityError(t *testing.T) {
	env := NewEnv(t)
	must(t, RegisterWorkflow(env, OrderWorkflow))
	must(t, RegisterActivity(env, Ship))
	OnActivity(env, Charge).Return("", activity.NewError("CardDeclined", "declined"))
	_, err := ExecuteWorkflow[string](env, OrderWorkflow, 7)
	var ae *workflow.ActivityError
	if !errors.As(err, &ae) || ae.Attempts != 4 || ae.Type != "CardDeclined" || ae.ActivityName != "Charge" {
		t.Fatalf("want an ActivityError after 4 attempts, got %v", err)
	}
}

type approval struct{ Approver string }

func SendApprovalRequest(_ context.Context, order string) (bool, error) { return true, nil }

// ApprovalWorkflow waits a day for a human.
func ApprovalWorkflow(ctx workflow.Context, order string) (string, error) {
	if _, err := workflow.ExecuteActivity(ctx, SendApprovalRequest, order).Get(ctx); err != nil {
		return "", err
	}
	a, err := workflow.WaitEventWithTimeout[approval](ctx, "approval_received", 24*time.Hour).Get(ctx)
	if errors.Is(err, workflow.ErrEventTimeout) {
		return "Cancelled", nil
	}
	if err != nil {
		return "", err
	}
	return "Approved by '" + a.Approver + "'", nil
}

func TestDayLongTimeoutTakesMilliseconds(t *testing.T) {
	env := NewEnv(t)
	must(t, RegisterWorkflow(env, ApprovalWorkflow))
	must(t, RegisterActivity(env, SendApprovalRequest))
	began, start := time.Now(), env.Now()
	got, err := ExecuteWorkflow[string](env, ApprovalWorkflow, "laptop")
	if err != nil || got != "Cancelled" {
		t.Fatalf("got %q, %v", got, err)
	}
	if d := env.Now().Sub(start); d < 24*time.Hour || d > 25*time.Hour {
		t.Fatalf("virtual time advanced %v, want 24h", d)
	}
	if time.Since(began) > 5*time.Second {
		t.Fatalf("a 24-hour timeout took %v of real time", time.Since(began))
	}
}

func TestEventRaisedAtAVirtualTime(t *testing.T) {
	env := NewEnv(t)
	must(t, RegisterWorkflow(env, ApprovalWorkflow))
	must(t, RegisterActivity(env, SendApprovalRequest))
	env.RaiseEventAfter(3*time.Hour, "approval_received", approval{"Jane Doe"})
	start := env.Now()
	got, err := ExecuteWorkflow[string](env, ApprovalWorkflow, "laptop")
	if err != nil || got != "Approved by 'Jane Doe'" {
		t.Fatalf("got %q, %v", got, err)
	}
	if d := env.Now().Sub(start); d != 3*time.Hour {
		t.Fatalf("finished at +%v, want +3h", d)
	}
}

func Transmit(_ context.Context, packet string) (string, error) {
	return "", errors.New("the real Transmit must not run")
}

// TransmitWorkflow gives each transmit attempt 10 seconds.
func TransmitWorkflow(ctx workflow.Context, packet string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: workflow.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 2}})
	return workflow.ExecuteActivity(ctx, Transmit, packet).Get(ctx)
}

func TestActivityTakingVirtualTimeTimesOut(t *testing.T) {
	env := NewEnv(t)
	must(t, RegisterWorkflow(env, TransmitWorkflow))
	tx := OnActivity(env, Transmit).Return("ack", nil).After(15 * time.Second)
	_, err := ExecuteWorkflow[string](env, TransmitWorkflow, "p1")
	var te *workflow.TimeoutError
	if !errors.As(err, &te) || te.Kind != "StartToClose" || tx.Count() != 2 {
		t.Fatalf("want a StartToClose timeout after 2 attempts, got %v (%d calls)", err, tx.Count())
	}

	env = NewEnv(t)
	must(t, RegisterWorkflow(env, TransmitWorkflow))
	OnActivity(env, Transmit).Return("ack", nil).After(5 * time.Second)
	got, err := ExecuteWorkflow[string](env, TransmitWorkflow, "p1")
	if err != nil || got != "ack" {
		t.Fatalf("a 5s transmit within a 10s timeout: %q, %v", got, err)
	}
}

func TestAsyncCompletionByTokenInCallback(t *testing.T) {
	env := NewEnv(t)
	must(t, RegisterWorkflow(env, TransmitWorkflow))
	var late error
	OnActivity(env, Transmit).Do(func(ctx context.Context, packet string) (string, error) {
		token := activity.GetInfo(ctx).TaskToken
		if activity.GetInfo(ctx).Attempt == 1 { // the callback comes too late
			env.RegisterDelayedCallback(12*time.Second, func() { late = env.CompleteActivity(token, "too late") })
		} else {
			env.RegisterDelayedCallback(2*time.Second, func() { _ = env.CompleteActivity(token, "delivered "+packet) })
		}
		return "", activity.ErrResultPending
	})
	got, err := ExecuteWorkflow[string](env, TransmitWorkflow, "p2")
	if err != nil || got != "delivered p2" {
		t.Fatalf("got %q, %v", got, err)
	}
	if late == nil || !strings.Contains(late.Error(), "rejected") {
		t.Fatalf("a completion after the timeout should be rejected, got %v", late)
	}
}

func Child(ctx workflow.Context, n int) (int, error) {
	return 0, errors.New("the real Child must not run")
}

func ParentWorkflow(ctx workflow.Context, n int) (int, error) {
	a, err := workflow.ExecuteChildWorkflow(ctx, Child, n).Get(ctx)
	if err != nil {
		return 0, err
	}
	b, err := workflow.ExecuteChildWorkflow(ctx, Child, n+1).Get(ctx)
	var ce *workflow.ChildWorkflowError
	if errors.As(err, &ce) && ce.Type == "Overloaded" {
		return a, nil
	}
	return a + b, err
}

func TestMockedChildWorkflow(t *testing.T) {
	env := NewEnv(t)
	must(t, RegisterWorkflow(env, ParentWorkflow))
	child := OnWorkflow(env, Child).ReturnOnce(10, nil).ReturnOnce(0, workflow.NewError("Overloaded", "try later"))
	got, err := ExecuteWorkflow[int](env, ParentWorkflow, 1)
	if err != nil || got != 10 {
		t.Fatalf("got %d, %v", got, err)
	}
	if fmt.Sprint(child.Calls()) != "[1 2]" {
		t.Fatalf("child started with %v", child.Calls())
	}
}

// MonitorWorkflow checks every hour, three times, with continue-as-new.
func MonitorWorkflow(ctx workflow.Context, checks int) (int, error) {
	if checks == 3 {
		return checks, nil
	}
	if err := workflow.Sleep(ctx, time.Hour); err != nil {
		return 0, err
	}
	return 0, workflow.ContinueAsNew(ctx, checks+1)
}

func TestContinueAsNewAndTerminate(t *testing.T) {
	env := NewEnv(t)
	must(t, RegisterWorkflow(env, MonitorWorkflow))
	start := env.Now()
	got, err := ExecuteWorkflow[int](env, MonitorWorkflow, 0)
	if err != nil || got != 3 || env.Now().Sub(start) != 3*time.Hour {
		t.Fatalf("got %d, %v after %v", got, err, env.Now().Sub(start))
	}

	env = NewEnv(t)
	must(t, RegisterWorkflow(env, MonitorWorkflow))
	env.RegisterDelayedCallback(90*time.Minute, func() { env.Terminate("enough") })
	_, err = ExecuteWorkflow[int](env, MonitorWorkflow, 0)
	if err == nil || !strings.Contains(err.Error(), "terminated: enough") {
		t.Fatalf("want the termination, got %v", err)
	}
}

func TestSuspendHoldsTheWorkflow(t *testing.T) {
	env := NewEnv(t)
	must(t, RegisterWorkflow(env, ApprovalWorkflow))
	must(t, RegisterActivity(env, SendApprovalRequest))
	env.RegisterDelayedCallback(time.Hour, func() { env.Suspend("audit") })
	env.RaiseEventAfter(2*time.Hour, "approval_received", approval{"Sam"})
	env.RegisterDelayedCallback(30*time.Hour, func() { env.Resume("audit done") })
	start := env.Now()
	got, err := ExecuteWorkflow[string](env, ApprovalWorkflow, "desk")
	// The event (raised at +2h) and the timeout (+24h) both wait while the
	// instance is suspended; on resume they apply in the order they became
	// visible, so the approval wins, and only after the resume at +30h.
	if err != nil || got != "Approved by 'Sam'" || env.Now().Sub(start) != 30*time.Hour {
		t.Fatalf("got %q, %v at +%v", got, err, env.Now().Sub(start))
	}
}

func TestBlockedWorkflowIsReported(t *testing.T) {
	env := NewEnv(t)
	must(t, RegisterWorkflow(env, ForeverWorkflow))
	_, err := ExecuteWorkflow[string](env, ForeverWorkflow, "")
	if !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), `event "never"`) {
		t.Fatalf("want ErrBlocked naming the event, got %v", err)
	}
}

func ForeverWorkflow(ctx workflow.Context, _ string) (string, error) {
	return workflow.WaitEvent[string](ctx, "never").Get(ctx)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
