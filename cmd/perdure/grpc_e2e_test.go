package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dapr/durabletask-go/api"
	"github.com/dapr/durabletask-go/api/protos"
	"github.com/dapr/durabletask-go/backend"
	dtclient "github.com/dapr/durabletask-go/client"
	"github.com/dapr/durabletask-go/task"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/perdure/perdure/internal/dtscenarios"
)

// startServer runs `perdure server` as a child process serving HTTP on
// addr and the Durable Task gRPC API on grpcAddr.
func startServer(t *testing.T, storePath, addr, grpcAddr string) *devProcess {
	t.Helper()
	p := spawn(t, "server", "--store", storePath, "--addr", addr, "--grpc-addr", grpcAddr, "--shutdown-grace", "2s", "--lease", "3s")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.logs.String(), "Durable Task gRPC API is ready") {
		select {
		case err := <-p.exited:
			t.Fatalf("perdure server exited early (%v):\n%s", err, p.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("perdure server did not become ready:\n%s", p.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// dtConnect returns a stock Durable Task client of the server at addr.
func dtConnect(t *testing.T, addr string) *dtclient.TaskHubGrpcClient {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return dtclient.NewTaskHubGrpcClient(conn, backend.DefaultLogger())
}

// TestDurableTaskServer runs workflows of the stock Go SDK's worker on a
// real `perdure server` process: the scenario suite (internal/dtscenarios),
// a workflow started over the Dapr-compatible HTTP API, then many at once
// while the server is killed with SIGKILL and started again: every
// workflow finishes with the right result.
func TestDurableTaskServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	dir := t.TempDir()
	storePath := filepath.Join(dir, "perdure.db")
	addr, grpcAddr := freeAddr(t), freeAddr(t)
	srv := startServer(t, storePath, addr, grpcAddr)

	var mu sync.Mutex
	runs := map[string]int{} // activity runs by instance and input
	suite := &dtscenarios.Suite{Prefix: "suite-"}
	reg := suite.Registry()
	_ = reg.AddActivityN("step", func(ctx task.ActivityContext) (any, error) {
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		mu.Lock()
		runs[fmt.Sprintf("%s/%d", ctx.GetTaskExecutionID(), n)]++
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		return n + 1, nil
	})
	_ = reg.AddWorkflowN("Pipeline", func(ctx *task.WorkflowContext) (any, error) {
		var n int
		if err := ctx.GetInput(&n); err != nil {
			return nil, err
		}
		for i := 0; i < 4; i++ {
			if err := ctx.CallActivity("step", task.WithActivityInput(n)).Await(&n); err != nil {
				return nil, err
			}
			if i == 1 {
				if err := ctx.CreateTimer(200 * time.Millisecond).Await(nil); err != nil {
					return nil, err
				}
			}
		}
		ctx.SetCustomStatus("done")
		return n, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := dtConnect(t, grpcAddr).StartWorkItemListener(ctx, reg); err != nil {
		t.Fatal(err)
	}
	dt := dtConnect(t, grpcAddr)

	// The scenarios: chain with custom status, fan-out, timer, retries,
	// continue-as-new, suspend/raise/resume, an event before the wait, a
	// child, terminate and purge.
	suite.Run(t, dt)

	// Started over gRPC.
	id, err := dt.ScheduleNewWorkflow(ctx, "Pipeline", api.WithInstanceID("grpc-1"), api.WithInput(10))
	if err != nil {
		t.Fatal(err)
	}
	md, err := dt.WaitForWorkflowCompletion(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if md.RuntimeStatus != protos.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED || md.GetOutput().GetValue() != "14" {
		t.Fatalf("grpc-1: %s %s %v", md.RuntimeStatus, md.GetOutput().GetValue(), md.FailureDetails)
	}

	// Started with curl's request to the Dapr-compatible API, run by the
	// gRPC worker, read back over HTTP.
	do(t, "POST", srv.base+"/v1.0-beta1/workflows/dapr/Pipeline/start?instanceID=http-1", "20", http.StatusAccepted, nil)
	if st := daprWait(t, srv.base, "http-1", 30*time.Second); st.RuntimeStatus != "COMPLETED" || st.Properties["dapr.workflow.output"] != "24" {
		t.Fatalf("http-1: %+v", st)
	}

	// Many at once; the server is killed while they run.
	const n = 30
	for i := 0; i < n; i++ {
		if _, err := dt.ScheduleNewWorkflow(ctx, "Pipeline", api.WithInstanceID(api.InstanceID(fmt.Sprintf("crash-%d", i))), api.WithInput(i*100)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	srv.kill()
	srv = startServer(t, storePath, addr, grpcAddr)
	for i := 0; i < n; i++ {
		id := api.InstanceID(fmt.Sprintf("crash-%d", i))
		wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
		md, err := dt.WaitForWorkflowCompletion(wctx, id)
		for err != nil && wctx.Err() == nil && !errors.Is(err, api.ErrInstanceNotFound) {
			// The client's connection may still be reconnecting.
			time.Sleep(100 * time.Millisecond)
			md, err = dt.WaitForWorkflowCompletion(wctx, id)
		}
		wcancel()
		if err != nil {
			t.Fatalf("%s: %v\nserver logs:\n%s", id, err, srv.logs)
		}
		if md.RuntimeStatus != protos.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED || md.GetOutput().GetValue() != fmt.Sprint(i*100+4) {
			t.Fatalf("%s: %s %s %v", id, md.RuntimeStatus, md.GetOutput().GetValue(), md.FailureDetails)
		}
		if md.GetCustomStatus().GetValue() != "done" {
			t.Fatalf("%s: custom status %q", id, md.GetCustomStatus().GetValue())
		}
	}
	// At least once: an activity runs again only when the crash hit it
	// before its result was committed; at most the activities in flight
	// then (one per workflow).
	mu.Lock()
	defer mu.Unlock()
	again := 0
	for k, c := range runs {
		if c > 1 {
			again += c - 1
			t.Logf("activity %s ran %d times", k, c)
		}
	}
	if again > n {
		t.Fatalf("%d activity runs were repeated, more than the %d that could have been in flight", again, n)
	}
}
