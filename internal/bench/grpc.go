package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/dapr/durabletask-go/api"
	"github.com/dapr/durabletask-go/api/protos"
	dtclient "github.com/dapr/durabletask-go/client"
	"github.com/dapr/durabletask-go/task"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/perdure/perdure/internal/names"
	"github.com/perdure/perdure/server/durabletask"
)

// gRPC mode: the Durable Task gRPC API of `perdure server` on a loopback
// port, the scenarios' workflows and activities written with the stock Go
// SDK (github.com/dapr/durabletask-go) and run by its worker, started and
// awaited with its client. Perdure's own Go worker serves nothing.

// grpcEnv is the gRPC side of an Env.
type grpcEnv struct {
	svc    *durabletask.Service
	srv    *grpc.Server
	conns  []*grpc.ClientConn
	client *dtclient.TaskHubGrpcClient
	cancel context.CancelFunc
}

// quietLogger drops the SDK's logs.
type quietLogger struct{}

func (quietLogger) Debug(...any)          {}
func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Info(...any)           {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warn(...any)           {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Error(...any)          {}
func (quietLogger) Errorf(string, ...any) {}

func dtAddOne(ctx task.ActivityContext) (any, error) {
	var n int
	if err := ctx.GetInput(&n); err != nil {
		return nil, err
	}
	return n + 1, nil
}

func dtChain3(ctx *task.WorkflowContext) (any, error) {
	var n int
	if err := ctx.GetInput(&n); err != nil {
		return nil, err
	}
	for range 3 {
		if err := ctx.CallActivity(addOneName, task.WithActivityInput(n)).Await(&n); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func dtFanout(ctx *task.WorkflowContext) (any, error) {
	var n int
	if err := ctx.GetInput(&n); err != nil {
		return nil, err
	}
	ts := make([]task.Task, n)
	for i := range n {
		ts[i] = ctx.CallActivity(addOneName, task.WithActivityInput(i))
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
}

// The SDK's workflows and activity have the names of the Go ones.
var (
	addOneName = mustName(AddOne)
	chain3Name = mustName(Chain3Workflow)
	fanoutName = mustName(FanoutWorkflow)
)

func mustName(fn any) string {
	n, err := names.Bare(fn)
	if err != nil {
		panic(err)
	}
	return n
}

// serveGRPC starts the Durable Task gRPC API on the first node's client,
// an SDK worker and an SDK client.
func (e *Env) serveGRPC() error {
	g := &grpcEnv{}
	e.grpc = g
	var err error
	if g.svc, err = durabletask.New(e.Client, durabletask.Options{Logger: e.cfg.Logger}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	g.srv = grpc.NewServer()
	g.svc.Register(g.srv)
	go func() { _ = g.srv.Serve(ln) }()
	e.URL = "grpc://" + ln.Addr().String()
	dial := func() (*dtclient.TaskHubGrpcClient, error) {
		conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		g.conns = append(g.conns, conn)
		return dtclient.NewTaskHubGrpcClient(conn, quietLogger{}), nil
	}
	reg := task.NewTaskRegistry()
	if err := errors.Join(reg.AddWorkflowN(chain3Name, dtChain3), reg.AddWorkflowN(fanoutName, dtFanout), reg.AddActivityN(addOneName, dtAddOne)); err != nil {
		return err
	}
	w, err := dial()
	if err != nil {
		return err
	}
	var ctx context.Context
	ctx, g.cancel = context.WithCancel(context.Background())
	if err := w.StartWorkItemListener(ctx, reg); err != nil {
		return err
	}
	g.client, err = dial()
	return err
}

func (g *grpcEnv) close() error {
	if g.cancel != nil {
		g.cancel()
	}
	if g.svc != nil {
		g.svc.Close()
	}
	if g.srv != nil {
		g.srv.Stop()
	}
	var errs []error
	for _, c := range g.conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// start starts a workflow through the SDK's client.
func (g *grpcEnv) start(ctx context.Context, id, name string, input any) error {
	_, err := g.client.ScheduleNewWorkflow(ctx, name, api.WithInstanceID(api.InstanceID(id)), api.WithInput(input))
	return err
}

// result waits through the SDK's client and decodes the output.
func (g *grpcEnv) result(ctx context.Context, id string, out any) error {
	md, err := g.client.WaitForWorkflowCompletion(ctx, api.InstanceID(id))
	if err != nil {
		return err
	}
	if md.RuntimeStatus != protos.OrchestrationStatus_ORCHESTRATION_STATUS_COMPLETED {
		return fmt.Errorf("instance %s ended %s: %v", id, md.RuntimeStatus, md.FailureDetails)
	}
	return json.Unmarshal([]byte(md.GetOutput().GetValue()), out)
}
