package durabletask_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dapr/durabletask-go/api"
	"github.com/dapr/durabletask-go/api/protos"
	"github.com/dapr/durabletask-go/backend"
	dtclient "github.com/dapr/durabletask-go/client"
	"github.com/dapr/durabletask-go/task"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/dtscenarios"
	"github.com/perdure/perdure/server/durabletask"
	"github.com/perdure/perdure/store"
	"github.com/perdure/perdure/store/sqlitestore"
)

// env is a Perdure client on a SQLite file, serving the protocol on a
// TCP port.
type env struct {
	t    *testing.T
	svc  *durabletask.Service
	c    *perdure.Client
	addr string
	dt   *dtclient.TaskHubGrpcClient
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, durabletask.Options{NotServedRetry: 200 * time.Millisecond}, nil)
}

// newEnvWith is newEnv with the service's options, and wrap (nil: none)
// around the store.
func newEnvWith(t *testing.T, opts durabletask.Options, wrap func(store.Store) store.Store, sopts ...grpc.ServerOption) *env {
	t.Helper()
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "perdure.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var s store.Store = st
	if wrap != nil {
		s = wrap(st)
	}
	c, err := perdure.NewClient(perdure.Options{Store: s, LeaseDuration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := durabletask.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(sopts...)
	svc.Register(g)
	go func() { _ = g.Serve(lis) }()
	e := &env{t: t, svc: svc, c: c, addr: lis.Addr().String()}
	e.dt = e.connect()
	t.Cleanup(func() {
		g.Stop()
		svc.Close()
		_ = c.Close()
		_ = st.Close()
	})
	return e
}

// connect returns a stock Durable Task client on the server.
func (e *env) connect() *dtclient.TaskHubGrpcClient {
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = conn.Close() })
	return dtclient.NewTaskHubGrpcClient(conn, backend.DefaultLogger())
}

// worker starts a stock worker serving reg and waits until its stream is
// connected; the returned function stops it.
func (e *env) worker(reg *task.TaskRegistry) func() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := e.svc.Streams()
	if err := e.connect().StartWorkItemListener(ctx, reg); err != nil {
		cancel()
		e.t.Fatal(err)
	}
	e.t.Cleanup(cancel)
	waitFor(e.t, func() bool { return e.svc.Streams() > n })
	return cancel
}

func (e *env) run(name string, input any, opts ...api.NewWorkflowOptions) *protos.WorkflowMetadata {
	e.t.Helper()
	id, err := e.dt.ScheduleNewWorkflow(context.Background(), name, append([]api.NewWorkflowOptions{api.WithInput(input)}, opts...)...)
	if err != nil {
		e.t.Fatalf("start %s: %v", name, err)
	}
	return e.wait(id)
}

func (e *env) wait(id api.InstanceID) *protos.WorkflowMetadata {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := e.dt.WaitForWorkflowCompletion(ctx, id)
	if err != nil {
		e.t.Fatalf("wait for %s: %v", id, err)
	}
	return md
}

func wantCompleted(t *testing.T, md *protos.WorkflowMetadata, output string) {
	t.Helper()
	if md.RuntimeStatus != protos.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED {
		t.Fatalf("status %s, failure %v; want COMPLETED", md.RuntimeStatus, md.FailureDetails)
	}
	if got := md.GetOutput().GetValue(); got != output {
		t.Fatalf("output %s, want %s", got, output)
	}
}

// chain3Registry serves "chain": three "inc" activities in a row.
func chain3Registry() *task.TaskRegistry {
	reg := task.NewTaskRegistry()
	_ = reg.AddActivityN("inc", inc)
	_ = reg.AddWorkflowN("chain", func(ctx *task.WorkflowContext) (any, error) {
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		for i := 0; i < 3; i++ {
			if err := ctx.CallActivity("inc", task.WithActivityInput(n)).Await(&n); err != nil {
				return nil, err
			}
		}
		return n, nil
	})
	return reg
}

func inc(ctx task.ActivityContext) (any, error) {
	var n int
	if err := ctx.GetInput(&n); err != nil {
		return nil, err
	}
	return n + 1, nil
}

// TestScenarios runs the scenario suite with the stock Go SDK's worker
// and client.
func TestScenarios(t *testing.T) {
	e := newEnv(t)
	suite := &dtscenarios.Suite{}
	e.worker(suite.Registry())
	suite.Run(t, e.dt)
}

// TestChainIsAPerdureInstance checks that a workflow run by an SDK worker
// is an ordinary Perdure instance, whose history reads back in both
// forms.
func TestChainIsAPerdureInstance(t *testing.T) {
	e := newEnv(t)
	e.worker((&dtscenarios.Suite{}).Registry())
	md := e.run("Chain", 10)
	wantCompleted(t, md, "13")
	if got := md.GetCustomStatus().GetValue(); got != "step 3" {
		t.Fatalf("custom status %q, want step 3", got)
	}
	// The instance is an ordinary Perdure instance, with its history.
	inst, err := e.c.GetInstance(context.Background(), md.InstanceId)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Status != perdure.StatusCompleted || string(inst.Output) != "13" || inst.Name != "Chain" {
		t.Fatalf("Perdure sees %s %s %s", inst.Name, inst.Status, inst.Output)
	}
	h, err := e.c.History(context.Background(), md.InstanceId, "")
	if err != nil {
		t.Fatal(err)
	}
	var scheduled, completed int
	for _, ev := range h {
		switch ev.Type {
		case "TaskScheduled":
			scheduled++
		case "TaskCompleted":
			completed++
		}
	}
	if scheduled != 3 || completed != 3 {
		t.Fatalf("history has %d TaskScheduled and %d TaskCompleted, want 3 and 3", scheduled, completed)
	}
	// And its history reads back in the protocol's form.
	hist, err := e.dt.GetInstanceHistory(context.Background(), api.InstanceID(md.InstanceId))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, ev := range hist.Events {
		if ev.GetTaskCompleted() != nil {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("GetInstanceHistory: %d TaskCompleted events, want 3", n)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw := protos.NewTaskHubSidecarServiceClient(conn)
	ctx := context.Background()
	check := func(what string, err error, want codes.Code) {
		t.Helper()
		if status.Code(err) != want {
			t.Errorf("%s: %v, want %s", what, err, want)
		}
	}
	_, err = raw.StartInstance(ctx, &protos.CreateInstanceRequest{})
	check("start without a name", err, codes.InvalidArgument)
	_, err = raw.StartInstance(ctx, &protos.CreateInstanceRequest{Name: "w", InstanceId: "bad id\x00"})
	check("start with a bad id", err, codes.InvalidArgument)
	_, err = raw.RaiseEvent(ctx, &protos.RaiseEventRequest{InstanceId: "nobody", Name: "e"})
	check("raise to an unknown instance", err, codes.NotFound)
	_, err = raw.TerminateInstance(ctx, &protos.TerminateRequest{InstanceId: "nobody"})
	check("terminate an unknown instance", err, codes.NotFound)
	_, err = raw.SuspendInstance(ctx, &protos.SuspendRequest{InstanceId: "nobody"})
	check("suspend an unknown instance", err, codes.NotFound)
	_, err = raw.GetInstanceHistory(ctx, &protos.GetInstanceHistoryRequest{InstanceId: "nobody"})
	check("history of an unknown instance", err, codes.NotFound)
	_, err = raw.CompleteActivityTask(ctx, &protos.ActivityResponse{InstanceId: "nobody", CompletionToken: "x"})
	check("answer to no work item", err, codes.NotFound)
	resp, err := raw.GetInstance(ctx, &protos.GetInstanceRequest{InstanceId: "nobody"})
	if err != nil || resp.Exists {
		t.Errorf("GetInstance of an unknown instance: %v %v, want exists=false", resp, err)
	}
	_, err = raw.StartInstance(ctx, &protos.CreateInstanceRequest{Name: "w", InstanceId: "dup", Input: nil})
	check("start", err, codes.OK)
	_, err = raw.StartInstance(ctx, &protos.CreateInstanceRequest{Name: "w", InstanceId: "dup", EnforceUniqueInstanceId: true})
	check("start of a running id", err, codes.AlreadyExists)
	_, err = raw.StartInstance(ctx, &protos.CreateInstanceRequest{Name: "other", InstanceId: "dup"})
	check("start of a running id with another workflow", err, codes.AlreadyExists)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWorkersOfDifferentApps connects two workers that registered
// different workflows and activities, without saying so: each item a
// worker answers as not registered goes to the other, and every workflow
// completes.
func TestWorkersOfDifferentApps(t *testing.T) {
	e := newEnv(t)
	a := task.NewTaskRegistry()
	_ = a.AddWorkflowN("orders", func(ctx *task.WorkflowContext) (any, error) {
		var s string
		if err := ctx.CallActivity("ship", task.WithActivityInput("box")).Await(&s); err != nil {
			return nil, err
		}
		return "order " + s, nil
	})
	_ = a.AddActivityN("pack", func(ctx task.ActivityContext) (any, error) { return "packed", nil })
	b := task.NewTaskRegistry()
	_ = b.AddWorkflowN("billing", func(ctx *task.WorkflowContext) (any, error) {
		var s string
		if err := ctx.CallActivity("pack").Await(&s); err != nil {
			return nil, err
		}
		return "bill " + s, nil
	})
	_ = b.AddActivityN("ship", func(ctx task.ActivityContext) (any, error) {
		var s string
		_ = ctx.GetInput(&s)
		return "shipped " + s, nil
	})
	e.worker(a)
	e.worker(b)
	for i := 0; i < 5; i++ {
		wantCompleted(t, e.run("orders", nil), `"order shipped box"`)
		wantCompleted(t, e.run("billing", nil), `"bill packed"`)
	}
}

// TestResiliencyAndCompensation is Dapr's resiliency-and-compensation
// tutorial with the Go SDK: minus_one, then division, retried three times
// and failing every time (the divisor is 0), then the compensation
// plus_one; the result and custom status are what the tutorial shows.
func TestResiliencyAndCompensation(t *testing.T) {
	e := newEnv(t)
	reg := task.NewTaskRegistry()
	var divisions atomic.Int32
	_ = reg.AddActivityN("minus_one", func(ctx task.ActivityContext) (any, error) {
		var n int
		_ = ctx.GetInput(&n)
		return n - 1, nil
	})
	_ = reg.AddActivityN("division", func(ctx task.ActivityContext) (any, error) {
		var n int
		_ = ctx.GetInput(&n)
		divisions.Add(1)
		if n == 0 {
			return nil, errors.New("division by zero")
		}
		return 100 / n, nil
	})
	_ = reg.AddActivityN("plus_one", func(ctx task.ActivityContext) (any, error) {
		var n int
		_ = ctx.GetInput(&n)
		return n + 1, nil
	})
	_ = reg.AddWorkflowN("resiliency_and_compensation_workflow", func(ctx *task.WorkflowContext) (any, error) {
		retry := &task.RetryPolicy{MaxAttempts: 3, InitialRetryInterval: 20 * time.Millisecond, BackoffCoefficient: 2}
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		var r int
		if err := ctx.CallActivity("minus_one", task.WithActivityInput(n), task.WithActivityRetryPolicy(retry)).Await(&r); err != nil {
			return nil, err
		}
		var q int
		if err := ctx.CallActivity("division", task.WithActivityInput(r), task.WithActivityRetryPolicy(retry)).Await(&q); err != nil {
			if err := ctx.CallActivity("plus_one", task.WithActivityInput(r), task.WithActivityRetryPolicy(retry)).Await(&r); err != nil {
				return nil, err
			}
			ctx.SetCustomStatus("Compensated minus_one activity with plus_one activity.")
			return r, nil
		}
		return q, nil
	})
	e.worker(reg)
	md := e.run("resiliency_and_compensation_workflow", 1)
	wantCompleted(t, md, "1")
	if got := md.GetCustomStatus().GetValue(); got != "Compensated minus_one activity with plus_one activity." {
		t.Fatalf("custom status %q", got)
	}
	if n := divisions.Load(); n != 3 {
		t.Fatalf("division ran %d times, want 3", n)
	}
	// Each of the three attempts is an activity task of its own in
	// Perdure's history, each failed.
	h, err := e.c.History(context.Background(), md.InstanceId, "")
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, ev := range h {
		if ev.Type == "TaskFailed" {
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("%d TaskFailed events, want 3", failed)
	}
}

// countingStore counts the activity results committed with the workflow
// task they wake (fused).
type countingStore struct {
	store.Store
	fused, starts atomic.Int32
}

func (s *countingStore) Apply(ctx context.Context, ops []store.Op) ([]error, error) {
	errs, err := s.Store.Apply(ctx, ops)
	for _, op := range ops {
		if f, ok := op.(*store.ActivityTaskFinishOp); ok && f.ThenApplied {
			s.fused.Add(1)
		}
		if c, ok := op.(*store.RunCreateOp); ok && c.ThenApplied {
			s.starts.Add(1)
		}
	}
	return errs, err
}

// TestFusedSteps checks that the start and each activity result of a
// chain are committed with the workflow task they wake, computed by the
// SDK's worker first.
func TestFusedSteps(t *testing.T) {
	cs := &countingStore{}
	e := newEnvWith(t, durabletask.Options{}, func(st store.Store) store.Store {
		cs.Store = st
		return cs
	})
	e.worker(chain3Registry())
	wantCompleted(t, e.run("chain", 1), "4")
	if n := cs.fused.Load(); n != 3 {
		t.Fatalf("%d activity results were committed with the task they woke, want 3", n)
	}
	if n := cs.starts.Load(); n != 1 {
		t.Fatalf("%d starts were committed with their first workflow task, want 1", n)
	}
}

// TestBusyWorker runs more workflows at once than the worker may hold:
// the rest wait for room, none is set aside as unserved (which would
// delay it by NotServedRetry, a minute here).
func TestBusyWorker(t *testing.T) {
	e := newEnvWith(t, durabletask.Options{MaxPendingPerStream: 2, NotServedRetry: time.Minute}, nil)
	e.worker(chain3Registry())
	ctx := context.Background()
	var ids []api.InstanceID
	for i := 0; i < 30; i++ {
		id, err := e.dt.ScheduleNewWorkflow(ctx, "chain", api.WithInput(i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i, id := range ids {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		md, err := e.dt.WaitForWorkflowCompletion(wctx, id)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		wantCompleted(t, md, fmt.Sprint(i+3))
	}
}

// TestRerunFromEvent reruns a failed workflow from its failed activity:
// the new instance keeps the steps before it, runs that activity again
// (with a new input) and the rest, and completes.
func TestRerunFromEvent(t *testing.T) {
	e := newEnv(t)
	reg := task.NewTaskRegistry()
	var runs atomic.Int32
	_ = reg.AddActivityN("inc", func(ctx task.ActivityContext) (any, error) {
		runs.Add(1)
		return inc(ctx)
	})
	_ = reg.AddActivityN("check", func(ctx task.ActivityContext) (any, error) {
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		if n < 100 {
			return nil, fmt.Errorf("%d is too small", n)
		}
		return n, nil
	})
	_ = reg.AddWorkflowN("waiter", func(ctx *task.WorkflowContext) (any, error) {
		return nil, ctx.WaitForSingleEvent("go", time.Hour).Await(nil)
	})
	_ = reg.AddWorkflowN("flow", func(ctx *task.WorkflowContext) (any, error) {
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		if err := ctx.CallActivity("inc", task.WithActivityInput(n)).Await(&n); err != nil {
			return nil, err
		}
		if err := ctx.CallActivity("check", task.WithActivityInput(n)).Await(&n); err != nil {
			return nil, err
		}
		if err := ctx.CallActivity("inc", task.WithActivityInput(n)).Await(&n); err != nil {
			return nil, err
		}
		return n, nil
	})
	e.worker(reg)
	ctx := context.Background()
	md := e.run("flow", 1, api.WithInstanceID("src"))
	if md.RuntimeStatus != protos.OrchestrationStatus_ORCHESTRATION_STATUS_FAILED {
		t.Fatalf("source: %s, want FAILED", md.RuntimeStatus)
	}
	if _, err := e.dt.RerunWorkflowFromEvent(ctx, "src", 7); status.Code(errors.Unwrap(err)) != codes.NotFound && status.Code(err) != codes.NotFound {
		t.Fatalf("rerun from a missing event: %v, want NotFound", err)
	}
	// Event 1 is the check activity (the SDK numbers actions 0, 1, 2…).
	id, err := e.dt.RerunWorkflowFromEvent(ctx, "src", 1, api.WithRerunNewInstanceID("rerun"), api.WithRerunInput(500))
	if err != nil {
		t.Fatal(err)
	}
	if id != "rerun" {
		t.Fatalf("new instance %q", id)
	}
	wantCompleted(t, e.wait(id), "501")
	if n := runs.Load(); n != 2 {
		t.Fatalf("inc ran %d times, want 2 (once in the source, once after the rerun point)", n)
	}
	// Into the id of a running instance: refused.
	if _, err := e.dt.ScheduleNewWorkflow(ctx, "waiter", api.WithInstanceID("busy")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dt.RerunWorkflowFromEvent(ctx, "src", 1, api.WithRerunNewInstanceID("busy")); status.Code(errors.Unwrap(err)) != codes.AlreadyExists && status.Code(err) != codes.AlreadyExists {
		t.Fatalf("rerun into a running instance's id: %v, want AlreadyExists", err)
	}
}

// TestWorkerDisconnects stops a worker while it runs an activity: the
// activity is offered at once to the next worker that connects, and the
// workflow completes with that worker's result.
func TestWorkerDisconnects(t *testing.T) {
	e := newEnv(t)
	started, release := make(chan struct{}, 1), make(chan struct{})
	t.Cleanup(func() { close(release) })
	first := task.NewTaskRegistry()
	_ = first.AddActivityN("slow", func(ctx task.ActivityContext) (any, error) {
		started <- struct{}{}
		<-release // answers only after the test
		return "first", nil
	})
	wf := func(ctx *task.WorkflowContext) (any, error) {
		var s string
		err := ctx.CallActivity("slow").Await(&s)
		return s, err
	}
	_ = first.AddWorkflowN("w", wf)
	stop := e.worker(first)
	id, err := e.dt.ScheduleNewWorkflow(context.Background(), "w")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the activity did not start")
	}
	stopped := time.Now()
	stop()
	waitFor(t, func() bool { return e.svc.Streams() == 0 })
	second := task.NewTaskRegistry()
	_ = second.AddActivityN("slow", func(ctx task.ActivityContext) (any, error) { return "second", nil })
	_ = second.AddWorkflowN("w", wf)
	e.worker(second)
	wantCompleted(t, e.wait(id), `"second"`)
	// At once, not when the first worker's lease (3 s here) expires.
	if took := time.Since(stopped); took > 2*time.Second {
		t.Fatalf("the activity was offered again %v after its worker stopped, want at once", took)
	}
}

// TestWorkerConnectsLater starts a workflow that the only connected worker
// does not have; the worker that has it connects a little later and gets
// it at once, not after NotServedRetry (a minute here).
func TestWorkerConnectsLater(t *testing.T) {
	e := newEnvWith(t, durabletask.Options{NotServedRetry: time.Minute}, nil)
	other := task.NewTaskRegistry()
	_ = other.AddWorkflowN("Other", func(ctx *task.WorkflowContext) (any, error) { return nil, nil })
	e.worker(other)
	id, err := e.dt.ScheduleNewWorkflow(context.Background(), "chain", api.WithInput(1))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	e.worker(chain3Registry())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	md, err := e.dt.WaitForWorkflowCompletion(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	wantCompleted(t, md, "4")
}

// TestListAndPurgeByFilter lists instance ids a page at a time and purges
// finished instances by status and creation time.
func TestListAndPurgeByFilter(t *testing.T) {
	e := newEnv(t)
	e.worker(chain3Registry())
	ctx := context.Background()
	began := time.Now()
	for i := 0; i < 3; i++ {
		wantCompleted(t, e.run("chain", i, api.WithInstanceID(api.InstanceID(fmt.Sprintf("done-%d", i)))), fmt.Sprint(i+3))
	}
	if _, err := e.dt.ScheduleNewWorkflow(ctx, "nobody-serves-this", api.WithInstanceID("pending")); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw := protos.NewTaskHubSidecarServiceClient(conn)
	seen := map[string]bool{}
	var token *string
	for pages := 0; ; pages++ {
		size := uint32(2)
		resp, err := raw.ListInstanceIDs(ctx, &protos.ListInstanceIDsRequest{PageSize: &size, ContinuationToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.InstanceIds) > 2 {
			t.Fatalf("page of %d ids, want at most 2", len(resp.InstanceIds))
		}
		for _, id := range resp.InstanceIds {
			seen[id] = true
		}
		if token = resp.ContinuationToken; token == nil {
			break
		}
		if pages > 10 {
			t.Fatal("the pages do not end")
		}
	}
	if len(seen) != 4 || !seen["pending"] || !seen["done-2"] {
		t.Fatalf("listed %v, want the 4 instances", seen)
	}
	// A filter that selects none (created before the test).
	resp, err := raw.PurgeInstances(ctx, &protos.PurgeInstancesRequest{Request: &protos.PurgeInstancesRequest_PurgeInstanceFilter{
		PurgeInstanceFilter: &protos.PurgeInstanceFilter{CreatedTimeTo: timestamppb.New(began.Add(-time.Hour))}}})
	if err != nil || resp.DeletedInstanceCount != 0 {
		t.Fatalf("purge of instances created an hour ago: %v %v", resp, err)
	}
	// A running status is not a purgeable one.
	_, err = raw.PurgeInstances(ctx, &protos.PurgeInstancesRequest{Request: &protos.PurgeInstancesRequest_PurgeInstanceFilter{
		PurgeInstanceFilter: &protos.PurgeInstanceFilter{RuntimeStatus: []protos.OrchestrationStatus{protos.OrchestrationStatus_ORCHESTRATION_STATUS_RUNNING}}}})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("purge of running instances: %v, want InvalidArgument", err)
	}
	resp, err = raw.PurgeInstances(ctx, &protos.PurgeInstancesRequest{Request: &protos.PurgeInstancesRequest_PurgeInstanceFilter{
		PurgeInstanceFilter: &protos.PurgeInstanceFilter{CreatedTimeFrom: timestamppb.New(began.Add(-time.Minute)),
			RuntimeStatus: []protos.OrchestrationStatus{protos.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED}}}})
	if err != nil || resp.DeletedInstanceCount != 3 || !resp.GetIsComplete().GetValue() {
		t.Fatalf("purge of the completed instances: %v %v, want 3", resp, err)
	}
	for i := 0; i < 3; i++ {
		if _, err := e.dt.FetchWorkflowMetadata(ctx, api.InstanceID(fmt.Sprintf("done-%d", i))); !errors.Is(err, api.ErrInstanceNotFound) {
			t.Fatalf("done-%d after purge: %v", i, err)
		}
	}
	if md, err := e.dt.FetchWorkflowMetadata(ctx, "pending"); err != nil || md.RuntimeStatus != protos.OrchestrationStatus_ORCHESTRATION_STATUS_PENDING {
		t.Fatalf("the pending instance after purge: %v %v", md, err)
	}
}

// TestOtherWorkflowsStayTheirs: a workflow that other (remote Go) workers
// serve is never offered to the SDK workers, even one that has it.
func TestOtherWorkflowsStayTheirs(t *testing.T) {
	e := newEnvWith(t, durabletask.Options{OtherWorkflows: func() []string { return []string{"GoOnly"} }}, nil)
	reg := chain3Registry()
	_ = reg.AddWorkflowN("GoOnly", func(ctx *task.WorkflowContext) (any, error) { return "taken by the SDK", nil })
	e.worker(reg)
	ctx := context.Background()
	if _, err := e.dt.ScheduleNewWorkflow(ctx, "GoOnly", api.WithInstanceID("go-only")); err != nil {
		t.Fatal(err)
	}
	wantCompleted(t, e.run("chain", 1), "4")
	time.Sleep(300 * time.Millisecond)
	md, err := e.dt.FetchWorkflowMetadata(ctx, "go-only")
	if err != nil {
		t.Fatal(err)
	}
	if md.RuntimeStatus != protos.OrchestrationStatus_ORCHESTRATION_STATUS_PENDING {
		t.Fatalf("a workflow of other workers was run by the SDK worker: %s %s", md.RuntimeStatus, md.GetOutput().GetValue())
	}
}

// sentItems records the workflow work items the server sends.
type sentItems struct {
	mu    sync.Mutex
	items []*protos.WorkflowRequest
}

type recordingStream struct {
	grpc.ServerStream
	r *sentItems
}

func (s recordingStream) SendMsg(m any) error {
	if wi, ok := m.(*protos.WorkItem); ok && wi.GetWorkflowRequest() != nil {
		s.r.mu.Lock()
		s.r.items = append(s.r.items, wi.GetWorkflowRequest())
		s.r.mu.Unlock()
	}
	return s.ServerStream.SendMsg(m)
}

// TestStatefulHistory: a worker that keeps histories between tasks (the
// Go SDK does by default) is sent only the events after those it was sent
// before; one that does not is sent whole histories. Both complete the
// workflow.
func TestStatefulHistory(t *testing.T) {
	rec := &sentItems{}
	e := newEnvWith(t, durabletask.Options{}, nil, grpc.StreamInterceptor(
		func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(srv, recordingStream{ss, rec})
		}))
	reg := task.NewTaskRegistry()
	_ = reg.AddActivityN("inc", inc)
	_ = reg.AddWorkflowN("long", func(ctx *task.WorkflowContext) (any, error) {
		n := 0
		for i := 0; i < 20; i++ {
			if err := ctx.CallActivity("inc", task.WithActivityInput(n)).Await(&n); err != nil {
				return nil, err
			}
		}
		return n, nil
	})
	stop := e.worker(reg)
	wantCompleted(t, e.run("long", nil), "20")
	rec.mu.Lock()
	delta, sent := 0, 0
	for _, r := range rec.items {
		sent += len(r.PastEvents)
		if r.CachedHistory != nil {
			delta++
		}
	}
	n := len(rec.items)
	rec.items = nil
	rec.mu.Unlock()
	if n < 20 || delta < n-2 {
		t.Fatalf("%d of %d workflow items carried only new events, want all but the first", delta, n)
	}
	if sent > 4*n {
		t.Fatalf("%d past events sent over %d items: the history was sent whole", sent, n)
	}

	stop()
	waitFor(t, func() bool { return e.svc.Streams() == 0 })
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := dtclient.NewTaskHubGrpcClient(conn, backend.DefaultLogger(), dtclient.WithStatefulHistoryDisabled()).StartWorkItemListener(ctx, reg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return e.svc.Streams() == 1 })
	wantCompleted(t, e.run("long", nil), "20")
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, r := range rec.items {
		if r.CachedHistory != nil {
			t.Fatal("a worker that keeps no histories was sent a part of one")
		}
	}
}

// TestUnansweredWorkflowItem: a workflow work item that its worker does
// not answer within WorkflowTaskTimeout is offered again.
func TestUnansweredWorkflowItem(t *testing.T) {
	e := newEnvWith(t, durabletask.Options{WorkflowTaskTimeout: 200 * time.Millisecond}, nil)
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	items, err := protos.NewTaskHubSidecarServiceClient(conn).GetWorkItems(ctx, &protos.GetWorkItemsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return e.svc.Streams() == 1 })
	if _, err := e.dt.ScheduleNewWorkflow(context.Background(), "mute", api.WithInstanceID("mute-1")); err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for len(tokens) < 2 {
		wi, err := items.Recv()
		if err != nil {
			t.Fatalf("after %d items: %v", len(tokens), err)
		}
		if wi.GetWorkflowRequest().GetInstanceId() != "mute-1" {
			t.Fatalf("unexpected item %v", wi)
		}
		tokens = append(tokens, wi.CompletionToken) // and no answer
	}
	if tokens[0] == tokens[1] {
		t.Fatal("the item was offered again under the same completion token")
	}
}
