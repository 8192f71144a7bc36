package fanout_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/examples/fanout"
	"github.com/perdure/perdure/examples/internal/testenv"
)

func TestInputShapes(t *testing.T) {
	cases := map[string]fanout.BatchInput{
		`5`:  {Items: 5},
		` 7`: {Items: 7},
		`{"items":3,"work_ms":20,"max_parallel":2}`: {Items: 3, WorkMS: 20, MaxParallel: 2},
		`{"items":4}`: {Items: 4},
	}
	for in, want := range cases {
		var got fanout.BatchInput
		if err := json.Unmarshal([]byte(in), &got); err != nil || got != want {
			t.Errorf("%s: got %+v, %v; want %+v", in, got, err, want)
		}
	}
	var bad fanout.BatchInput
	if err := json.Unmarshal([]byte(`"five"`), &bad); err == nil {
		t.Errorf("a string was accepted as input")
	}
}

func TestBareCount(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, fanout.Register)
	if got := testenv.Result[int](e, fanout.WorkflowName, json.RawMessage(`10`)); got != 110 {
		t.Fatalf("got %d, want 110", got)
	}
	for i := 1; i <= 10; i++ {
		if n := e.Logs.Count(fmt.Sprintf("Processing work item: %d.", i)); n != 1 {
			t.Errorf("item %d logged %d times", i, n)
		}
		if n := e.Logs.Count(fmt.Sprintf("Work item %d processed. Result: %d.", i, 2*i)); n != 1 {
			t.Errorf("item %d result logged %d times", i, n)
		}
	}
	if got := e.Logs.Messages("Final result: "); !slices.Equal(got, []string{"Final result: 110."}) {
		t.Fatalf("final logs %q", got)
	}
}

// maxInFlight is the largest in_flight that process_work_item logged.
func maxInFlight(e *testenv.Env) int {
	peak := 0
	for _, r := range e.Logs.Records() {
		if n, err := strconv.Atoi(r.Attrs["in_flight"]); err == nil {
			peak = max(peak, n)
		}
	}
	return peak
}

func TestBoundedParallelism(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, fanout.Register)
	began := time.Now()
	got := testenv.Result[int](e, fanout.WorkflowName, json.RawMessage(`{"items":8,"work_ms":60,"max_parallel":3}`))
	if got != 72 {
		t.Fatalf("got %d, want 72", got)
	}
	if peak := maxInFlight(e); peak < 2 || peak > 3 {
		t.Fatalf("at most %d items in flight, want 2..3", peak)
	}
	// 8 items of 60ms, 3 at a time, take at least 3 rounds.
	if took := time.Since(began); took < 180*time.Millisecond {
		t.Fatalf("took %v: the bound was not applied", took)
	}
}

func TestUnboundedParallelism(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, fanout.Register)
	got := testenv.Result[int](e, fanout.WorkflowName, fanout.BatchInput{Items: 6, WorkMS: 150})
	if got != 42 {
		t.Fatalf("got %d, want 42", got)
	}
	if peak := maxInFlight(e); peak < 4 {
		t.Fatalf("at most %d items in flight, want them to overlap", peak)
	}
}

func TestEmptyAndInvalidBatch(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, fanout.Register)
	if got := testenv.Result[int](e, fanout.WorkflowName, 0); got != 0 {
		t.Fatalf("empty batch gave %d", got)
	}
	inst := e.Run(fanout.WorkflowName, -1)
	if inst.Status != perdure.StatusFailed || inst.Failure.Type != "InvalidInput" {
		t.Fatalf("negative count: %s %+v", inst.Status, inst.Failure)
	}
}

func TestRestartRunsOnlyTheRemainingItems(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, fanout.Register)
	id := e.Start(fanout.WorkflowName, fanout.BatchInput{Items: 12, WorkMS: 150, MaxParallel: 4})
	e.Eventually("some items processed", func() bool { return len(e.Logs.Messages("processed. Result:")) >= 4 })
	e.Restart()
	inst := e.Wait(id)
	var got int
	if err := inst.DecodeOutput(&got); err != nil || got != 156 {
		t.Fatalf("got %d, %v; want 156", got, err)
	}
	for i := 1; i <= 12; i++ {
		if n := e.Logs.Count(fmt.Sprintf("Work item %d processed. Result: %d.", i, 2*i)); n != 1 {
			t.Errorf("item %d completed %d times", i, n)
		}
	}
	if n := len(e.Logs.Messages("Processing work item: ")); n > 12+4 {
		t.Errorf("%d item attempts for 12 items and 4 interrupted at most", n)
	}
}
