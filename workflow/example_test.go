package workflow_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// run executes one workflow on an in-memory engine and prints its result.
func run[I, R any](wf func(workflow.Context, I) (R, error), input I, register func(w *worker.Worker), during func(c *perdure.Client, id string)) {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()
	c, _ := perdure.NewClient(perdure.Options{Store: st})
	defer c.Close()
	w := worker.New(c, worker.Options{})
	_ = worker.RegisterWorkflow(w, wf)
	if register != nil {
		register(w)
	}
	_ = w.Start()
	defer w.Stop()
	id, err := c.StartWorkflow(ctx, wf, input, perdure.StartOptions{InstanceID: "example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if during != nil {
		during(c, id)
	}
	out, err := perdure.GetResult[R](ctx, c, id)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(out)
}

func Double(_ context.Context, n int) (int, error) { return 2 * n, nil }

// DoubleAll doubles 1..n with one activity per item, three at a time.
func DoubleAll(ctx workflow.Context, n int) ([]int, error) {
	items := make([]int, n)
	for i := range items {
		items[i] = i + 1
	}
	return workflow.FanOut(ctx, items, 3, func(ctx workflow.Context, item int) (int, error) {
		return workflow.ExecuteActivity(ctx, Double, item).Get(ctx)
	})
}

// FanOut keeps the results in item order, whatever order they finish in.
func ExampleFanOut() {
	run(DoubleAll, 5, func(w *worker.Worker) { _ = worker.RegisterActivity(w, Double) }, nil)
	// Output: [2 4 6 8 10]
}

type Approval struct{ Approver string }

// ApprovalWorkflow waits up to a day for a human.
func ApprovalWorkflow(ctx workflow.Context, order string) (string, error) {
	a, err := workflow.WaitEventWithTimeout[Approval](ctx, "approval_received", 24*time.Hour).Get(ctx)
	if errors.Is(err, workflow.ErrEventTimeout) {
		return "Cancelled", nil
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s approved by %s", order, a.Approver), nil
}

// WaitEventWithTimeout: the event arrives before the timeout.
func ExampleWaitEventWithTimeout() {
	run(ApprovalWorkflow, "order-1", nil, func(c *perdure.Client, id string) {
		_ = c.RaiseEvent(context.Background(), id, "approval_received", Approval{"Jane Doe"})
	})
	// Output: order-1 approved by Jane Doe
}

var undone []string

func Book(_ context.Context, what string) (string, error) {
	if what == "flight" {
		return "", workflow.NewNonRetryableError("InvalidFlight", "no such flight")
	}
	return what + " booked", nil
}

func Undo(_ context.Context, what string) (string, error) {
	undone = append(undone, what)
	return "", nil
}

// TripWorkflow books three things; a failure undoes what was done, newest first.
func TripWorkflow(ctx workflow.Context, _ string) (string, error) {
	saga := workflow.NewSaga()
	for _, what := range []string{"car", "hotel", "flight"} {
		if _, err := workflow.ExecuteActivity(ctx, Book, what).Get(ctx); err != nil {
			return "", saga.Compensate(ctx, err)
		}
		workflow.AddCompensationActivity(saga, Undo, what)
	}
	return "booked", nil
}

// Saga: compensations run in reverse order.
func ExampleSaga() {
	undone = nil
	run(TripWorkflow, "", func(w *worker.Worker) {
		_ = worker.RegisterActivity(w, Book)
		_ = worker.RegisterActivity(w, Undo)
	}, nil)
	fmt.Println("undone:", strings.Join(undone, ", "))
	// Output:
	// error: workflow instance "example" FAILED: activity "Book" failed after 1 attempt: no such flight (InvalidFlight)
	// undone: hotel, car
}

// CountdownWorkflow continues as new until it reaches zero, so that its
// history never grows.
func CountdownWorkflow(ctx workflow.Context, n int) (string, error) {
	if n == 0 {
		return "liftoff", nil
	}
	if err := workflow.Sleep(ctx, time.Millisecond); err != nil {
		return "", err
	}
	return "", workflow.ContinueAsNew(ctx, n-1)
}

// ContinueAsNew: an eternal loop made of short runs.
func ExampleContinueAsNew() {
	run(CountdownWorkflow, 3, nil, nil)
	// Output: liftoff
}

// PaymentWorkflow makes an external call once: a replay returns the
// recorded result without calling again.
func PaymentWorkflow(ctx workflow.Context, user string) (string, error) {
	paymentID := workflow.NewUUID(ctx) // the same on every replay
	return workflow.Run(ctx, "payment", func(context.Context) (string, error) {
		return "PAY-" + strings.ToUpper(user) + "-" + fmt.Sprint(len(paymentID)), nil
	})
}

// Run is a durable step inside the workflow, like Restate's ctx.run.
func ExampleRun() {
	run(PaymentWorkflow, "sam", nil, nil)
	// Output: PAY-SAM-36
}
