// Package durabletask serves the Durable Task gRPC protocol
// (TaskHubSidecarService, the protocol of Dapr Workflow's SDKs) on a
// Perdure client: workflows and activities written with the Python, .NET,
// Java, JavaScript or Go SDKs run on Perdure's store, with Perdure's
// history, statuses, UI, CLI and HTTP APIs.
//
// Instances started or run over gRPC are ordinary Perdure instances. A
// workflow task of a run whose workflow no worker of this process serves
// in Go is handed to a connected SDK worker (GetWorkItems) as the run's
// history in the protocol's form; the actions the worker answers with are
// committed as one workflow task, exactly as Perdure's own engine commits
// a Go workflow's commands. Activities scheduled by those workflows are
// tasks on the task queue ActivityQueue, handed to SDK workers the same
// way. Work items are leased in the store: a worker that disconnects
// loses nothing (its items are handed to another worker at once), and a
// server that dies leaves leases that another node takes over when they
// expire. See docs/durabletask.md.
package durabletask

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/dapr/durabletask-go/api/protos"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/internal/engine"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/internal/hook"
	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/store"
)

// DefaultAddr is the address Dapr's SDKs connect to by default.
const DefaultAddr = "127.0.0.1:50001"

// Options configure a Service. Zero values mean defaults.
type Options struct {
	Logger *slog.Logger
	// MaxPendingPerStream is how many work items (workflow and activity
	// items together) each connected GetWorkItems stream adds to what
	// this node hands out and has not had answered yet. Default 256.
	MaxPendingPerStream int
	// WorkflowTaskTimeout is how long a worker may take to answer a
	// workflow work item before it is handed to another worker. Default
	// two thirds of the engine's lease.
	WorkflowTaskTimeout time.Duration
	// NotServedRetry is how long a run or an activity that no connected
	// worker serves waits before it is offered again. Default 5s.
	NotServedRetry time.Duration
	// OtherWorkflows (optional) returns workflow names that other workers
	// serve, such as remote Go workers connected to this server
	// (server.Server.RemoteWorkflows): their runs are left to them, as the
	// runs of this process's own Go workers are.
	OtherWorkflows func() []string
}

// Service implements TaskHubSidecarService.
type Service struct {
	protos.UnimplementedTaskHubSidecarServiceServer

	c    *perdure.Client
	eng  *engine.Engine
	gw   *engine.Gateway
	log  *slog.Logger
	opts Options
	d    *dispatcher
}

// New creates the service on c and starts handing work to the workers
// that connect. Close stops it.
func New(c *perdure.Client, opts Options) (*Service, error) {
	eng, ok := hook.ClientEngine(c)
	if !ok {
		return nil, errors.New("durabletask: the client has no engine")
	}
	if opts.Logger == nil {
		opts.Logger = eng.Logger()
	}
	if opts.MaxPendingPerStream <= 0 {
		opts.MaxPendingPerStream = 256
	}
	if opts.WorkflowTaskTimeout <= 0 {
		opts.WorkflowTaskTimeout = eng.LeaseDuration() * 2 / 3
	}
	if opts.NotServedRetry <= 0 {
		opts.NotServedRetry = 5 * time.Second
	}
	s := &Service{c: c, eng: eng, gw: eng.Gateway(), log: opts.Logger.With("component", "durabletask"), opts: opts}
	s.d = newDispatcher(s)
	return s, nil
}

// Register adds the service to g.
func (s *Service) Register(g *grpc.Server) { protos.RegisterTaskHubSidecarServiceServer(g, s) }

// Close stops handing out work; work items not answered yet go back to
// the store at once (their leases are released), so that another node or
// the next start of this one runs them.
func (s *Service) Close() { s.d.close() }

// grpcErr maps an error to a gRPC status.
func grpcErr(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, store.ErrConflict):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, store.ErrNotRunning), errors.Is(err, store.ErrStillRunning):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, store.ErrClosed), errors.Is(err, engine.ErrClosed):
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func checkID(id string) error {
	if err := api.CheckInstanceID(id); err != nil {
		return invalid("%v", err)
	}
	return nil
}

// Hello answers the SDKs' connection check.
func (s *Service) Hello(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// StartInstance starts a workflow. A start of an id that is running with
// the same workflow and input returns it; with another, AlreadyExists.
func (s *Service) StartInstance(ctx context.Context, req *protos.CreateInstanceRequest) (*protos.CreateInstanceResponse, error) {
	if err := api.CheckName("workflow name", req.Name); err != nil {
		return nil, invalid("%v", err)
	}
	if req.InstanceId != "" {
		if err := checkID(req.InstanceId); err != nil {
			return nil, err
		}
	}
	opts := perdure.StartOptions{InstanceID: req.InstanceId}
	if t := req.ScheduledStartTimestamp; t != nil {
		if err := t.CheckValid(); err != nil {
			return nil, invalid("scheduledStartTimestamp: %v", err)
		}
		opts.StartAt = t.AsTime()
	}
	inst, created, err := s.c.StartWorkflowRaw(ctx, req.Name, bytesOf(req.Input), opts)
	if err != nil {
		return nil, grpcErr(err)
	}
	if !created && req.EnforceUniqueInstanceId {
		return nil, status.Errorf(codes.AlreadyExists, "workflow instance %q is already running", inst.InstanceID)
	}
	return &protos.CreateInstanceResponse{InstanceId: inst.InstanceID}, nil
}

// stateOf converts an instance's status.
func stateOf(inst *perdure.Instance, withPayloads bool) *protos.WorkflowState {
	st := &protos.WorkflowState{InstanceId: inst.InstanceID, Name: inst.Name, WorkflowStatus: statusOf(inst.Status),
		CreatedTimestamp: ts(inst.CreatedAt), LastUpdatedTimestamp: ts(inst.UpdatedAt), CompletedTimestamp: ts(inst.CompletedAt),
		ExecutionId: optStr(inst.RunID), ParentInstanceId: optStr(inst.ParentInstanceID), CustomStatus: strOf(inst.CustomStatus)}
	if inst.Failure != nil {
		st.FailureDetails = detailsOf(inst.Failure)
	}
	if withPayloads {
		st.Input, st.Output = strOf(inst.Input), strOf(inst.Output)
	}
	return st
}

func (s *Service) instanceResponse(inst *perdure.Instance, err error, withPayloads bool) (*protos.GetInstanceResponse, error) {
	if errors.Is(err, store.ErrNotFound) {
		return &protos.GetInstanceResponse{Exists: false}, nil
	}
	if err != nil {
		return nil, grpcErr(err)
	}
	return &protos.GetInstanceResponse{Exists: true, WorkflowState: stateOf(inst, withPayloads)}, nil
}

// GetInstance returns an instance's status; Exists is false for an
// unknown instance (what the SDKs expect).
func (s *Service) GetInstance(ctx context.Context, req *protos.GetInstanceRequest) (*protos.GetInstanceResponse, error) {
	if err := checkID(req.InstanceId); err != nil {
		return nil, err
	}
	inst, err := s.c.GetInstance(ctx, req.InstanceId)
	return s.instanceResponse(inst, err, req.GetInputsAndOutputs)
}

// WaitForInstanceStart waits until the instance has left PENDING.
func (s *Service) WaitForInstanceStart(ctx context.Context, req *protos.GetInstanceRequest) (*protos.GetInstanceResponse, error) {
	if err := checkID(req.InstanceId); err != nil {
		return nil, err
	}
	inst, err := s.c.WaitForStart(ctx, req.InstanceId)
	return s.instanceResponse(inst, err, req.GetInputsAndOutputs)
}

// WaitForInstanceCompletion waits until the instance has finished.
func (s *Service) WaitForInstanceCompletion(ctx context.Context, req *protos.GetInstanceRequest) (*protos.GetInstanceResponse, error) {
	if err := checkID(req.InstanceId); err != nil {
		return nil, err
	}
	inst, err := s.c.WaitForCompletion(ctx, req.InstanceId)
	return s.instanceResponse(inst, err, req.GetInputsAndOutputs)
}

// RaiseEvent delivers an external event.
func (s *Service) RaiseEvent(ctx context.Context, req *protos.RaiseEventRequest) (*protos.RaiseEventResponse, error) {
	if err := checkID(req.InstanceId); err != nil {
		return nil, err
	}
	if err := api.CheckName("event name", req.Name); err != nil {
		return nil, invalid("%v", err)
	}
	if err := s.c.RaiseEventRaw(ctx, req.InstanceId, req.Name, bytesOf(req.Input)); err != nil {
		return nil, grpcErr(err)
	}
	return &protos.RaiseEventResponse{}, nil
}

// TerminateInstance terminates an instance, and its running children when
// Recursive is set.
func (s *Service) TerminateInstance(ctx context.Context, req *protos.TerminateRequest) (*protos.TerminateResponse, error) {
	if err := checkID(req.InstanceId); err != nil {
		return nil, err
	}
	if err := s.eng.Terminate(ctx, req.InstanceId, req.GetOutput().GetValue(), req.Recursive); err != nil {
		return nil, grpcErr(notFound(err, req.InstanceId))
	}
	return &protos.TerminateResponse{}, nil
}

// SuspendInstance suspends an instance.
func (s *Service) SuspendInstance(ctx context.Context, req *protos.SuspendRequest) (*protos.SuspendResponse, error) {
	if err := checkID(req.InstanceId); err != nil {
		return nil, err
	}
	if err := s.c.Suspend(ctx, req.InstanceId, req.GetReason().GetValue()); err != nil {
		return nil, grpcErr(err)
	}
	return &protos.SuspendResponse{}, nil
}

// ResumeInstance resumes a suspended instance.
func (s *Service) ResumeInstance(ctx context.Context, req *protos.ResumeRequest) (*protos.ResumeResponse, error) {
	if err := checkID(req.InstanceId); err != nil {
		return nil, err
	}
	if err := s.c.Resume(ctx, req.InstanceId, req.GetReason().GetValue()); err != nil {
		return nil, grpcErr(err)
	}
	return &protos.ResumeResponse{}, nil
}

func notFound(err error, id string) error {
	if errors.Is(err, store.ErrNotFound) && !strings.Contains(err.Error(), id) {
		return fmt.Errorf("no workflow instance %q: %w", id, err)
	}
	return err
}

// PurgeInstances deletes finished instances, by id or by filter, with
// their children's when Recursive is set. An unknown id deletes nothing
// (DeletedInstanceCount 0, which the SDKs report as not found).
func (s *Service) PurgeInstances(ctx context.Context, req *protos.PurgeInstancesRequest) (*protos.PurgeInstancesResponse, error) {
	switch r := req.Request.(type) {
	case *protos.PurgeInstancesRequest_InstanceId:
		if err := checkID(r.InstanceId); err != nil {
			return nil, err
		}
		n, err := s.purge(ctx, r.InstanceId, req.Recursive, map[string]bool{})
		if err != nil {
			return nil, grpcErr(err)
		}
		return &protos.PurgeInstancesResponse{DeletedInstanceCount: int32(n), IsComplete: wrapperspb.Bool(true)}, nil
	case *protos.PurgeInstancesRequest_PurgeInstanceFilter:
		n, err := s.purgeWhere(ctx, r.PurgeInstanceFilter, req.Recursive)
		if err != nil {
			return nil, grpcErr(err)
		}
		return &protos.PurgeInstancesResponse{DeletedInstanceCount: int32(n), IsComplete: wrapperspb.Bool(true)}, nil
	}
	return nil, invalid("purge needs an instance id or a filter")
}

// purge deletes instance id (and its children first, when recursive) and
// returns how many instances it deleted.
func (s *Service) purge(ctx context.Context, id string, recursive bool, seen map[string]bool) (int, error) {
	if seen[id] {
		return 0, nil
	}
	seen[id] = true
	inst, err := s.c.GetInstance(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if !inst.Status.Finished() {
		return 0, fmt.Errorf("workflow instance %q is %s: only finished instances can be purged: %w", id, inst.Status, store.ErrStillRunning)
	}
	n := 0
	if recursive {
		children, err := s.children(ctx, id)
		if err != nil {
			return 0, err
		}
		for _, c := range children {
			k, err := s.purge(ctx, c, true, seen)
			if err != nil && !errors.Is(err, store.ErrStillRunning) {
				return n, err
			}
			n += k
		}
	}
	if err := s.c.Purge(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return n, nil
		}
		return n, err
	}
	return n + 1, nil
}

// children returns the ids of the child workflows every run of instance
// id started.
func (s *Service) children(ctx context.Context, id string) ([]string, error) {
	page, err := s.c.ListInstances(ctx, perdure.ListFilter{InstanceID: id, AllRuns: true, PageSize: 1000})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, inst := range page.Instances {
		evs, err := s.eng.LoadHistory(ctx, inst.RunID, history.DecodeForReplay)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if ev.Type == history.SubOrchestrationInstanceCreated {
				out = append(out, ev.InstanceID)
			}
		}
	}
	return out, nil
}

// purgeWhere deletes the finished instances a filter selects.
func (s *Service) purgeWhere(ctx context.Context, f *protos.PurgeInstanceFilter, recursive bool) (int, error) {
	lf := perdure.ListFilter{PageSize: 1000}
	if f.CreatedTimeFrom != nil {
		lf.CreatedAfter = f.CreatedTimeFrom.AsTime().Add(-time.Microsecond)
	}
	if f.CreatedTimeTo != nil {
		lf.CreatedBefore = f.CreatedTimeTo.AsTime()
	}
	for _, st := range f.RuntimeStatus {
		ps, ok := storeStatusOf(st)
		if !ok || !ps.Finished() {
			return 0, invalid("purge filter: status %s is not a finished status", st)
		}
		lf.Statuses = append(lf.Statuses, ps)
	}
	if len(lf.Statuses) == 0 {
		lf.Statuses = []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusTerminated}
	}
	n := 0
	seen := map[string]bool{}
	for {
		page, err := s.c.ListInstances(ctx, lf)
		if err != nil {
			return n, err
		}
		for _, inst := range page.Instances {
			k, err := s.purge(ctx, inst.InstanceID, recursive, seen)
			if err != nil && !errors.Is(err, store.ErrStillRunning) {
				return n, err
			}
			n += k
		}
		if page.NextPageToken == "" {
			return n, nil
		}
		lf.PageToken = page.NextPageToken
	}
}

// ListInstanceIDs lists instance ids, newest first, a page at a time.
func (s *Service) ListInstanceIDs(ctx context.Context, req *protos.ListInstanceIDsRequest) (*protos.ListInstanceIDsResponse, error) {
	lf := perdure.ListFilter{PageSize: int(req.GetPageSize()), PageToken: req.GetContinuationToken()}
	if lf.PageSize <= 0 || lf.PageSize > 1000 {
		lf.PageSize = 100
	}
	page, err := s.c.ListInstances(ctx, lf)
	if err != nil {
		return nil, grpcErr(err)
	}
	out := &protos.ListInstanceIDsResponse{}
	for _, inst := range page.Instances {
		out.InstanceIds = append(out.InstanceIds, inst.InstanceID)
	}
	if page.NextPageToken != "" {
		tok := page.NextPageToken
		out.ContinuationToken = &tok
	}
	return out, nil
}

// GetInstanceHistory returns the history of an instance's current run.
func (s *Service) GetInstanceHistory(ctx context.Context, req *protos.GetInstanceHistoryRequest) (*protos.GetInstanceHistoryResponse, error) {
	if err := checkID(req.InstanceId); err != nil {
		return nil, err
	}
	inst, err := s.c.GetInstance(ctx, req.InstanceId)
	if err != nil {
		return nil, grpcErr(err)
	}
	evs, err := s.eng.LoadHistory(ctx, inst.RunID, history.DecodeForReplay)
	if err != nil {
		return nil, grpcErr(err)
	}
	out, _ := historyOf(evs, time.Time{})
	return &protos.GetInstanceHistoryResponse{Events: out}, nil
}

// RerunWorkflowFromEvent starts a new instance from a finished one's
// history up to the activity scheduled as event EventID (the SDK's
// sequence number), which runs again (with a new input when
// OverwriteInput), as do the activities and timers the source was waiting
// on at that point. A point where a child workflow was running cannot be
// rerun from (FailedPrecondition).
func (s *Service) RerunWorkflowFromEvent(ctx context.Context, req *protos.RerunWorkflowFromEventRequest) (*protos.RerunWorkflowFromEventResponse, error) {
	if err := checkID(req.SourceInstanceID); err != nil {
		return nil, err
	}
	newID := req.GetNewInstanceID()
	if newID == "" {
		newID = engine.NewID()
	}
	if err := checkID(newID); err != nil {
		return nil, err
	}
	src, err := s.c.GetInstance(ctx, req.SourceInstanceID)
	if err != nil {
		return nil, grpcErr(err)
	}
	if !src.Status.Finished() {
		return nil, status.Errorf(codes.FailedPrecondition, "workflow instance %q is %s: only a finished instance can be rerun", src.InstanceID, src.Status)
	}
	evs, err := s.eng.LoadHistory(ctx, src.RunID, history.DecodeForReplay)
	if err != nil {
		return nil, grpcErr(err)
	}
	at := -1
	for i, ev := range evs {
		if ev.Type == history.TaskScheduled && ev.Seq == seqOf(int32(req.EventID)) {
			at = i
			break
		}
	}
	if at < 1 || evs[0].Type != history.ExecutionStarted {
		return nil, status.Errorf(codes.NotFound, "workflow instance %q has no activity scheduled as event %d", src.InstanceID, req.EventID)
	}
	now := s.gw.Now()
	runID := engine.NewID()
	start := *evs[0]
	start.InstanceID, start.RunID = newID, runID
	start.ParentInstanceID, start.ParentRunID, start.ParentSeq = "", "", 0
	target := *evs[at]
	if req.OverwriteInput {
		target.Input = bytesOf(req.Input)
	}
	copied := append(append([]*history.Event{&start}, evs[1:at]...), &target)
	then := &store.WorkflowTaskCommitOp{InstanceID: newID, RunID: runID, UpdatedAt: now, Status: store.StatusRunning}
	answered := map[int64]bool{}
	for _, ev := range copied {
		switch ev.Type {
		case history.TaskCompleted, history.TaskFailed, history.TimerFired,
			history.SubOrchestrationInstanceCompleted, history.SubOrchestrationInstanceFailed:
			answered[ev.Seq] = true
		}
	}
	for _, ev := range copied {
		if answered[ev.Seq] {
			continue
		}
		switch ev.Type {
		case history.TaskScheduled:
			then.NewActivities = append(then.NewActivities, &store.ActivityTask{InstanceID: newID, RunID: runID, Seq: ev.Seq, Name: ev.Name,
				TaskQueue: ActivityQueue, Input: ev.Input, Options: ev.Options, State: store.ActivityReady, ScheduledAt: now, VisibleAt: now})
		case history.TimerCreated:
			then.Messages = append(then.Messages, &store.MessageSendOp{InstanceID: newID, RunID: runID, IgnoreFinished: true,
				Message: history.Message(history.TimerFired, &history.Data{Seq: ev.Seq, FireAt: ev.FireAt, Purpose: ev.Purpose}, ev.FireAt, false)})
		case history.SubOrchestrationInstanceCreated:
			return nil, status.Errorf(codes.FailedPrecondition, "child workflow %q was running at event %d of %q: rerun from an earlier or a later activity", ev.InstanceID, req.EventID, src.InstanceID)
		}
	}
	for i, ev := range copied {
		e := *ev
		e.ID = int64(i) + 1
		se, err := e.Encode()
		if err != nil {
			return nil, grpcErr(err)
		}
		then.NewEvents = append(then.NewEvents, se)
	}
	op := &store.RunCreateOp{FailIfExists: true, Then: then,
		Run:   store.Run{InstanceID: newID, RunID: runID, Name: src.Name, Status: store.StatusPending, Input: src.Input, CreatedAt: now, UpdatedAt: now},
		Start: history.Message(history.ExecutionStarted, &start.Data, now, false)}
	errs, err := s.gw.Apply(ctx, []store.Op{op})
	if err == nil {
		err = errs[0]
	}
	if err != nil {
		return nil, grpcErr(err)
	}
	if !op.Created || !op.ThenApplied {
		return nil, status.Errorf(codes.AlreadyExists, "workflow instance %q exists", newID)
	}
	return &protos.RerunWorkflowFromEventResponse{NewInstanceID: newID}, nil
}
