// Package fanout is the fan-out/fan-in pattern of the Dapr workflow patterns
// page: get_work_batch returns N work items, process_work_item runs for all
// of them in parallel (at most max_parallel at a time), and process_results
// receives the sum of their results.
//
// The input is either a bare item count or an object:
//
//	5
//	{"items": 5, "work_ms": 5000, "max_parallel": 2}
//
// work_ms is how long each item takes (0 for a bare count); max_parallel 0
// means no bound. Item i gives 2i, so the output is N(N+1): 30 for 5 items.
// The fan-out is durable: if the process crashes after 40 of 100 items, only
// the remaining 60 run after the restart.
package fanout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// The registered names.
const (
	WorkflowName        = "FanOutFanInWorkflow"
	GetWorkBatchName    = "get_work_batch"
	ProcessWorkItemName = "process_work_item"
	ProcessResultsName  = "process_results"
)

// MaxItems bounds the batch size.
const MaxItems = 10000

// itemTimeout bounds one attempt of process_work_item beyond its work time.
const itemTimeout = 10 * time.Minute

// BatchInput is the workflow input.
type BatchInput struct {
	Items       int `json:"items"`
	WorkMS      int `json:"work_ms"`
	MaxParallel int `json:"max_parallel"`
}

// UnmarshalJSON accepts a bare item count as well as the object form.
func (in *BatchInput) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] != '{' && !bytes.Equal(b, []byte("null")) {
		var n int
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("fan-out input: want an item count or {\"items\":N,\"work_ms\":M,\"max_parallel\":P}: %w", err)
		}
		*in = BatchInput{Items: n}
		return nil
	}
	type plain BatchInput
	return json.Unmarshal(b, (*plain)(in))
}

// WorkItem is process_work_item's input.
type WorkItem struct {
	Item   int `json:"item"`
	WorkMS int `json:"work_ms"`
}

// FanOutFanInWorkflow fans out process_work_item over the batch and fans in
// the results.
func FanOutFanInWorkflow(ctx workflow.Context, in BatchInput) (int, error) {
	if in.Items < 0 || in.Items > MaxItems || in.WorkMS < 0 || in.MaxParallel < 0 {
		return 0, workflow.NewNonRetryableError("InvalidInput",
			"fan-out input: items must be 0..%d, work_ms and max_parallel not negative; got %+v", MaxItems, in)
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Duration(in.WorkMS)*time.Millisecond + itemTimeout,
		RetryPolicy:         workflow.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5},
	})
	batch, err := workflow.ExecuteActivity(ctx, GetWorkBatch, in.Items).Get(ctx)
	if err != nil {
		return 0, err
	}
	outputs, err := workflow.FanOut(ctx, batch, in.MaxParallel, func(ctx workflow.Context, item int) (int, error) {
		return workflow.ExecuteActivity(ctx, ProcessWorkItem, WorkItem{Item: item, WorkMS: in.WorkMS}).Get(ctx)
	})
	if err != nil {
		return 0, err
	}
	total := 0
	for _, v := range outputs {
		total += v
	}
	if _, err := workflow.ExecuteActivity(ctx, ProcessResults, total).Get(ctx); err != nil {
		return 0, err
	}
	return total, nil
}

// GetWorkBatch returns the work items 1..n.
func GetWorkBatch(ctx context.Context, n int) ([]int, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("Getting a batch of %d work items.", n))
	batch := make([]int, n)
	for i := range batch {
		batch[i] = i + 1
	}
	return batch, nil
}

// ProcessWorkItem works on one item for WorkMS milliseconds and returns
// twice the item. Its first log line carries in_flight: how many items of
// the same instance this process is working on, this one included.
func ProcessWorkItem(ctx context.Context, in WorkItem) (int, error) {
	log := activity.GetLogger(ctx)
	n, done := inFlight.enter(activity.GetInfo(ctx).InstanceID)
	defer done()
	log.Info(fmt.Sprintf("Processing work item: %d.", in.Item), "in_flight", n)
	if in.WorkMS > 0 {
		t := time.NewTimer(time.Duration(in.WorkMS) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		}
	}
	result := in.Item * 2
	log.Info(fmt.Sprintf("Work item %d processed. Result: %d.", in.Item, result))
	return result, nil
}

// ProcessResults receives the aggregated total.
func ProcessResults(ctx context.Context, total int) (struct{}, error) {
	activity.GetLogger(ctx).Info(fmt.Sprintf("Final result: %d.", total))
	return struct{}{}, nil
}

// Register registers the workflow and its activities on w.
func Register(w *worker.Worker) error {
	return errors.Join(
		worker.RegisterWorkflowAs(w, WorkflowName, FanOutFanInWorkflow),
		worker.RegisterActivityAs(w, GetWorkBatchName, GetWorkBatch),
		worker.RegisterActivityAs(w, ProcessWorkItemName, ProcessWorkItem),
		worker.RegisterActivityAs(w, ProcessResultsName, ProcessResults),
	)
}

var inFlight = &gauge{cur: map[string]int{}}

// gauge counts the work items in progress per instance.
type gauge struct {
	mu  sync.Mutex
	cur map[string]int
}

func (g *gauge) enter(id string) (int, func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cur[id]++
	return g.cur[id], func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.cur[id]--; g.cur[id] <= 0 {
			delete(g.cur, id)
		}
	}
}
