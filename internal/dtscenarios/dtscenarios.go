// Package dtscenarios is the suite of workflows that Perdure's tests run
// with the stock Go SDK of Dapr Workflow (github.com/dapr/durabletask-go)
// over the Durable Task gRPC API: in process (server/durabletask) and
// against a real `perdure server` process (cmd/perdure).
package dtscenarios

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dapr/durabletask-go/api"
	"github.com/dapr/durabletask-go/api/protos"
	dtclient "github.com/dapr/durabletask-go/client"
	"github.com/dapr/durabletask-go/task"
)

// Suite holds the workflows and activities of the scenarios and what the
// activities count.
type Suite struct {
	// Prefix starts every instance id, so that suites can share a server.
	Prefix string
	flaky  atomic.Int32
}

// Timeout bounds each wait of a scenario.
const Timeout = 30 * time.Second

func inc(ctx task.ActivityContext) (any, error) {
	var n int
	if err := ctx.GetInput(&n); err != nil {
		return nil, err
	}
	return n + 1, nil
}

// Registry returns the scenarios' workflows and activities.
func (s *Suite) Registry() *task.TaskRegistry {
	reg := task.NewTaskRegistry()
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(reg.AddActivityN("Inc", inc))
	must(reg.AddActivityN("Flaky", func(ctx task.ActivityContext) (any, error) {
		if s.flaky.Add(1) < 3 {
			return nil, errors.New("not yet")
		}
		return "ok", nil
	}))
	must(reg.AddWorkflowN("Chain", func(ctx *task.WorkflowContext) (any, error) {
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		for i := 0; i < 3; i++ {
			if err := ctx.CallActivity("Inc", task.WithActivityInput(n)).Await(&n); err != nil {
				return nil, err
			}
			ctx.SetCustomStatus(fmt.Sprintf("step %d", i+1))
		}
		return n, nil
	}))
	must(reg.AddWorkflowN("FanOut", func(ctx *task.WorkflowContext) (any, error) {
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		ts := make([]task.Task, n)
		for i := range n {
			ts[i] = ctx.CallActivity("Inc", task.WithActivityInput(i))
		}
		sum := 0
		for _, t := range ts {
			var v int
			if err := t.Await(&v); err != nil {
				return nil, err
			}
			sum += v
		}
		return sum, nil
	}))
	must(reg.AddWorkflowN("Timer", func(ctx *task.WorkflowContext) (any, error) {
		start := ctx.CurrentTimeUtc
		if err := ctx.CreateTimer(300 * time.Millisecond).Await(nil); err != nil {
			return nil, err
		}
		return ctx.CurrentTimeUtc.Sub(start).Milliseconds(), nil
	}))
	must(reg.AddWorkflowN("Retries", func(ctx *task.WorkflowContext) (any, error) {
		var out string
		err := ctx.CallActivity("Flaky", task.WithActivityRetryPolicy(&task.RetryPolicy{MaxAttempts: 5,
			InitialRetryInterval: 10 * time.Millisecond, BackoffCoefficient: 1})).Await(&out)
		return out, err
	}))
	must(reg.AddWorkflowN("Counter", func(ctx *task.WorkflowContext) (any, error) {
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		if n < 5 {
			ctx.ContinueAsNew(n + 1)
			return nil, nil
		}
		return n, nil
	}))
	must(reg.AddWorkflowN("Approval", func(ctx *task.WorkflowContext) (any, error) {
		var first, second string
		if err := ctx.WaitForSingleEvent("first", time.Minute).Await(&first); err != nil {
			return nil, err
		}
		if err := ctx.WaitForSingleEvent("second", time.Minute).Await(&second); err != nil {
			return nil, err
		}
		return first + second, nil
	}))
	must(reg.AddWorkflowN("LateWaiter", func(ctx *task.WorkflowContext) (any, error) {
		if err := ctx.CreateTimer(200 * time.Millisecond).Await(nil); err != nil {
			return nil, err
		}
		var v string
		err := ctx.WaitForSingleEvent("early", time.Minute).Await(&v)
		return v, err
	}))
	must(reg.AddWorkflowN("Parent", func(ctx *task.WorkflowContext) (any, error) {
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		var c int
		err := ctx.CallChildWorkflow("Double", task.WithChildWorkflowInput(n), task.WithChildWorkflowInstanceID(string(ctx.ID)+"-child")).Await(&c)
		return c, err
	}))
	must(reg.AddWorkflowN("Double", func(ctx *task.WorkflowContext) (any, error) {
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		return n * 2, nil
	}))
	must(reg.AddWorkflowN("Forever", func(ctx *task.WorkflowContext) (any, error) {
		return nil, ctx.CallChildWorkflow("Sleeper", task.WithChildWorkflowInstanceID(string(ctx.ID)+"-child")).Await(nil)
	}))
	must(reg.AddWorkflowN("Sleeper", func(ctx *task.WorkflowContext) (any, error) {
		return nil, ctx.CreateTimer(time.Hour).Await(nil)
	}))
	return reg
}

// Run runs every scenario as a subtest, with c a client of a server that
// a worker of s.Registry() is connected to.
func (s *Suite) Run(t *testing.T, c *dtclient.TaskHubGrpcClient) {
	ctx := context.Background()
	id := func(name string) api.InstanceID { return api.InstanceID(s.Prefix + name) }
	t.Run("ChainWithCustomStatus", func(t *testing.T) {
		md := run(t, c, "Chain", id("chain"), 10)
		wantCompleted(t, md, "13")
		if got := md.GetCustomStatus().GetValue(); got != "step 3" {
			t.Fatalf("custom status %q, want step 3", got)
		}
	})
	t.Run("FanOut10", func(t *testing.T) {
		wantCompleted(t, run(t, c, "FanOut", id("fanout"), 10), "55")
	})
	t.Run("DurableTimer", func(t *testing.T) {
		began := time.Now()
		md := run(t, c, "Timer", id("timer"), nil)
		if md.RuntimeStatus != protos.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED {
			t.Fatalf("status %s: %v", md.RuntimeStatus, md.FailureDetails)
		}
		var waited int
		_, _ = fmt.Sscan(md.GetOutput().GetValue(), &waited)
		if waited < 300 || time.Since(began) < 300*time.Millisecond {
			t.Fatalf("the timer fired after %d ms of workflow time and %v of wall time, want 300 ms", waited, time.Since(began))
		}
	})
	t.Run("ActivityRetries", func(t *testing.T) {
		wantCompleted(t, run(t, c, "Retries", id("retries"), nil), `"ok"`)
		if n := s.flaky.Load(); n != 3 {
			t.Fatalf("the flaky activity ran %d times, want 3", n)
		}
	})
	t.Run("ContinueAsNew", func(t *testing.T) {
		wantCompleted(t, run(t, c, "Counter", id("counter"), 0), "5")
	})
	t.Run("SuspendRaiseResume", func(t *testing.T) {
		x := id("approval")
		if _, err := c.ScheduleNewWorkflow(ctx, "Approval", api.WithInstanceID(x)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.WaitForWorkflowStart(ctx, x); err != nil {
			t.Fatal(err)
		}
		if err := c.SuspendWorkflow(ctx, x, "hold"); err != nil {
			t.Fatal(err)
		}
		for _, e := range []struct{ name, data string }{{"second", "b"}, {"first", "a"}} {
			if err := c.RaiseEvent(ctx, x, e.name, api.WithEventPayload(e.data)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(200 * time.Millisecond)
		md, err := c.FetchWorkflowMetadata(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		if md.RuntimeStatus != protos.OrchestrationStatus_ORCHESTRATION_STATUS_SUSPENDED {
			t.Fatalf("status %s while suspended", md.RuntimeStatus)
		}
		if err := c.ResumeWorkflow(ctx, x, "go on"); err != nil {
			t.Fatal(err)
		}
		wantCompleted(t, wait(t, c, x), `"ab"`)
	})
	t.Run("EventBeforeWait", func(t *testing.T) {
		x := id("early")
		if _, err := c.ScheduleNewWorkflow(ctx, "LateWaiter", api.WithInstanceID(x)); err != nil {
			t.Fatal(err)
		}
		if err := c.RaiseEvent(ctx, x, "early", api.WithEventPayload("came first")); err != nil {
			t.Fatal(err)
		}
		wantCompleted(t, wait(t, c, x), `"came first"`)
	})
	t.Run("ChildWorkflow", func(t *testing.T) {
		wantCompleted(t, run(t, c, "Parent", id("parent"), 21), "42")
	})
	t.Run("TerminateAndPurge", func(t *testing.T) {
		x := id("forever")
		child := x + "-child"
		if _, err := c.ScheduleNewWorkflow(ctx, "Forever", api.WithInstanceID(x)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(Timeout)
		for {
			md, err := c.FetchWorkflowMetadata(ctx, child)
			if err == nil && md.RuntimeStatus == protos.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the child did not start: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := c.PurgeWorkflowState(ctx, x); err == nil {
			t.Fatal("a running instance was purged")
		}
		if err := c.TerminateWorkflow(ctx, x, api.WithRecursiveTerminate(true)); err != nil {
			t.Fatal(err)
		}
		for _, y := range []api.InstanceID{x, child} {
			if md := wait(t, c, y); md.RuntimeStatus != protos.OrchestrationStatus_ORCHESTRATION_STATUS_TERMINATED {
				t.Fatalf("%s: %s after a recursive terminate", y, md.RuntimeStatus)
			}
		}
		if err := c.PurgeWorkflowState(ctx, x, api.WithRecursivePurge(true)); err != nil {
			t.Fatal(err)
		}
		for _, y := range []api.InstanceID{x, child} {
			if _, err := c.FetchWorkflowMetadata(ctx, y); !errors.Is(err, api.ErrInstanceNotFound) {
				t.Fatalf("%s after purge: %v, want not found", y, err)
			}
		}
		if err := c.PurgeWorkflowState(ctx, x); !errors.Is(err, api.ErrInstanceNotFound) {
			t.Fatalf("second purge: %v, want not found", err)
		}
	})
}

func run(t *testing.T, c *dtclient.TaskHubGrpcClient, name string, id api.InstanceID, input any) *protos.WorkflowMetadata {
	t.Helper()
	opts := []api.NewWorkflowOptions{api.WithInstanceID(id)}
	if input != nil {
		opts = append(opts, api.WithInput(input))
	}
	if _, err := c.ScheduleNewWorkflow(context.Background(), name, opts...); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return wait(t, c, id)
}

func wait(t *testing.T, c *dtclient.TaskHubGrpcClient, id api.InstanceID) *protos.WorkflowMetadata {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	md, err := c.WaitForWorkflowCompletion(ctx, id)
	if err != nil {
		t.Fatalf("wait for %s: %v", id, err)
	}
	return md
}

func wantCompleted(t *testing.T, md *protos.WorkflowMetadata, output string) {
	t.Helper()
	if md.RuntimeStatus != protos.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED {
		t.Fatalf("%s: status %s, failure %v; want COMPLETED", md.InstanceId, md.RuntimeStatus, md.FailureDetails)
	}
	if got := md.GetOutput().GetValue(); got != output {
		t.Fatalf("%s: output %s, want %s", md.InstanceId, got, output)
	}
}
