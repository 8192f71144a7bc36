package activity_test

import (
	"context"
	"fmt"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/store/memstore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

var outbox = make(chan string, 1)

// Transmit hands its task token to another system and returns at once;
// that system completes the activity later, through the client.
func Transmit(ctx context.Context, packet string) (string, error) {
	outbox <- activity.GetInfo(ctx).TaskToken
	return "", activity.ErrResultPending
}

func DeliverWorkflow(ctx workflow.Context, packet string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	return workflow.ExecuteActivity(ctx, Transmit, packet).Get(ctx)
}

// Asynchronous completion by task token.
func Example_asyncCompletion() {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()
	c, _ := perdure.NewClient(perdure.Options{Store: st})
	defer c.Close()
	w := worker.New(c, worker.Options{})
	_ = worker.RegisterWorkflow(w, DeliverWorkflow)
	_ = worker.RegisterActivity(w, Transmit)
	_ = w.Start()
	defer w.Stop()

	id, _ := c.StartWorkflow(ctx, DeliverWorkflow, "hello", perdure.StartOptions{})
	token := <-outbox                                      // the transmit service got the token…
	_ = c.CompleteActivity(ctx, token, "STATUS_DELIVERED") // …and calls back
	out, _ := perdure.GetResult[string](ctx, c, id)
	fmt.Println(out)
	fmt.Println(c.CompleteActivity(ctx, token, "again") != nil) // a used token is rejected
	// Output:
	// STATUS_DELIVERED
	// true
}

// Resume reads what an earlier attempt recorded with RecordHeartbeat.
func ExampleHeartbeatDetails() {
	process := func(ctx context.Context, files int) (int, error) {
		done, _, _ := activity.HeartbeatDetails[int](ctx) // 0 on the first attempt
		for i := done; i < files; i++ {
			activity.RecordHeartbeat(ctx, i+1)
		}
		return files - done, nil
	}
	fmt.Println(process(context.Background(), 3))
	// Output: 3 <nil>
}
