package perdure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/perdure/perdure/internal/clock"
	"github.com/perdure/perdure/internal/engine"
	"github.com/perdure/perdure/internal/failure"
	"github.com/perdure/perdure/internal/history"
	"github.com/perdure/perdure/internal/hook"
	"github.com/perdure/perdure/internal/metrics"
	"github.com/perdure/perdure/internal/names"
	"github.com/perdure/perdure/internal/payload"
	"github.com/perdure/perdure/store"
)

// Codec encodes workflow and activity payloads. The default is JSON.
type Codec = payload.Codec

// Options configure a Client and the engine it runs. Zero values mean
// defaults.
type Options struct {
	// Store keeps everything; required (sqlitestore.Open, memstore.New).
	Store  store.Store
	Logger *slog.Logger
	Codec  Codec
	// NodeID names this process in leases; default a random id.
	NodeID string
	// LeaseDuration: how long claimed work stays with this process without
	// renewal before another takes it over. Default 30s.
	LeaseDuration time.Duration
	// CacheSize bounds the live workflow instances kept in memory. Default
	// 10000; negative disables the cache, so that every workflow task
	// replays the history (useful to test determinism).
	CacheSize int
	// WorkflowTaskRetry: delay before a failed workflow task (for example
	// non-deterministic code) is tried again. Default 5s.
	WorkflowTaskRetry time.Duration
	// PollInterval bounds how long an idle worker waits before it looks
	// for work another process made ready without telling it (on
	// PostgreSQL, a notification that was lost). Default 1s.
	PollInterval time.Duration
	// Metrics, when set, receives Perdure's Prometheus collectors:
	// workflows started and finished by name and status, workflow tasks,
	// activity attempts by outcome, group commit latency and queue depth.
	Metrics prometheus.Registerer

	clock clock.Clock
}

// Client starts, inspects and controls workflow instances. It runs the
// engine that workers attach to.
type Client struct {
	eng   *engine.Engine
	codec Codec
	// closeStore closes a store the client opened itself (Connect).
	closeStore func() error
}

func init() {
	hook.ClientEngine = func(c any) (*engine.Engine, bool) {
		cl, ok := c.(*Client)
		if !ok || cl == nil {
			return nil, false
		}
		return cl.eng, true
	}
	hook.NewClient = func(opts hook.ClientOptions) (any, error) {
		return newClient(Options{Store: opts.Store, Logger: opts.Logger, clock: opts.Clock}, opts.Tune)
	}
}

// NewClient creates a client and starts its engine.
func NewClient(opts Options) (*Client, error) { return newClient(opts, nil) }

// newClient is NewClient with engine settings that Options does not expose
// (the test kit's virtual clock and idle polling).
func newClient(opts Options, tune func(*engine.Config)) (*Client, error) {
	if opts.Store == nil {
		return nil, errors.New("perdure: Options.Store is required (for example sqlitestore.Open)")
	}
	if opts.Codec == nil {
		opts.Codec = payload.Default
	}
	var obs engine.Observer
	if opts.Metrics != nil {
		m, err := metrics.New(opts.Metrics, opts.Store)
		if err != nil {
			return nil, fmt.Errorf("perdure: register metrics: %w", err)
		}
		obs = m
	}
	cfg := engine.Config{Store: opts.Store, Clock: opts.clock, Logger: opts.Logger, Owner: opts.NodeID,
		LeaseDuration: opts.LeaseDuration, CacheSize: opts.CacheSize, WorkflowTaskRetry: opts.WorkflowTaskRetry,
		IdlePoll: opts.PollInterval, Observer: obs}
	if tune != nil {
		tune(&cfg)
	}
	eng, err := engine.New(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{eng: eng, codec: opts.Codec}, nil
}

// Close stops the engine after workers have stopped. It does not close the
// store, unless the client opened it (Connect).
func (c *Client) Close() error {
	err := c.eng.Close()
	if c.closeStore != nil {
		err = errors.Join(err, c.closeStore())
	}
	return err
}

// Codec returns the client's payload codec.
func (c *Client) Codec() Codec { return c.codec }

// Store returns the client's store.
func (c *Client) Store() store.Store { return c.eng.Store() }

// StartOptions configure StartWorkflow.
type StartOptions struct {
	// InstanceID: "" generates one. Starting an id that is running with the
	// same workflow and input returns it (idempotent retry); with another
	// input fails with ErrConflict; an id whose instance has finished starts
	// a new run that replaces it (earlier runs stay readable until purged).
	InstanceID string
	// StartAt delays the start; zero starts now.
	StartAt time.Time
	// TaskQueue routes the workflow to workers serving that queue
	// (worker.Options.TaskQueue); "" is the default queue.
	TaskQueue string
}

// StartWorkflow starts workflow (a registered function or its name) with
// input and returns the instance id. The start is durable when it returns.
func (c *Client) StartWorkflow(ctx context.Context, workflow any, input any, opts StartOptions) (string, error) {
	name, err := workflowName(workflow)
	if err != nil {
		return "", err
	}
	in, err := payload.Encode(c.codec, input)
	if err != nil {
		return "", fmt.Errorf("start %s: %w", name, err)
	}
	run, _, err := c.eng.Start(ctx, engine.StartRequest{InstanceID: opts.InstanceID, Name: name, Input: in,
		StartAt: opts.StartAt, TaskQueue: opts.TaskQueue})
	if err != nil {
		return "", err
	}
	return run.InstanceID, nil
}

// StartWorkflowRaw starts a workflow with an already encoded input and
// reports whether a new run was created (false for an idempotent retry).
func (c *Client) StartWorkflowRaw(ctx context.Context, name string, input []byte, opts StartOptions) (*Instance, bool, error) {
	run, created, err := c.eng.Start(ctx, engine.StartRequest{InstanceID: opts.InstanceID, Name: name, Input: input,
		StartAt: opts.StartAt, TaskQueue: opts.TaskQueue})
	if err != nil {
		return nil, false, err
	}
	return c.instance(run), created, nil
}

func workflowName(w any) (string, error) {
	switch v := w.(type) {
	case string:
		if v == "" {
			return "", errors.New("perdure: empty workflow name")
		}
		return v, nil
	case nil:
		return "", errors.New("perdure: nil workflow")
	}
	return names.Of(w)
}

// GetInstance returns the status of the instance's current run.
func (c *Client) GetInstance(ctx context.Context, instanceID string) (*Instance, error) {
	run, err := c.eng.Store().RunGet(ctx, instanceID, "")
	if err != nil {
		return nil, wrapNotFound(err, instanceID)
	}
	return c.instance(run), nil
}

// GetRun returns one run of an instance (runID "" for the current one).
func (c *Client) GetRun(ctx context.Context, instanceID, runID string) (*Instance, error) {
	run, err := c.eng.Store().RunGet(ctx, instanceID, runID)
	if err != nil {
		return nil, wrapNotFound(err, instanceID)
	}
	return c.instance(run), nil
}

func wrapNotFound(err error, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no workflow instance %q: %w", id, store.ErrNotFound)
	}
	return err
}

// WaitForCompletion blocks until the instance has finished (following
// continue-as-new to the final run) or ctx is done. It is woken by the
// engine, not by polling, when the instance runs in this process.
func (c *Client) WaitForCompletion(ctx context.Context, instanceID string) (*Instance, error) {
	run, err := c.eng.WaitForCompletion(ctx, instanceID)
	if err != nil {
		return nil, wrapNotFound(err, instanceID)
	}
	return c.instance(run), nil
}

// WaitForStart blocks until the instance has left PENDING.
func (c *Client) WaitForStart(ctx context.Context, instanceID string) (*Instance, error) {
	run, err := c.eng.WaitForStart(ctx, instanceID)
	if err != nil {
		return nil, wrapNotFound(err, instanceID)
	}
	return c.instance(run), nil
}

// GetResult waits for the instance and decodes its output into T. A failed
// or terminated instance gives a *WorkflowError.
func GetResult[T any](ctx context.Context, c *Client, instanceID string) (T, error) {
	var out T
	inst, err := c.WaitForCompletion(ctx, instanceID)
	if err != nil {
		return out, err
	}
	if inst.Status != StatusCompleted {
		return out, &WorkflowError{InstanceID: instanceID, Status: inst.Status, Failure: inst.Failure}
	}
	err = inst.DecodeOutput(&out)
	return out, err
}

// RaiseEvent delivers an external event to the instance. Events that
// arrive before the workflow waits for them are buffered in order.
func (c *Client) RaiseEvent(ctx context.Context, instanceID, name string, data any) error {
	b, err := payload.Encode(c.codec, data)
	if err != nil {
		return fmt.Errorf("raise event %q: %w", name, err)
	}
	return c.eng.RaiseEvent(ctx, instanceID, name, b)
}

// RaiseEventRaw delivers an event with an already encoded payload.
func (c *Client) RaiseEventRaw(ctx context.Context, instanceID, name string, data []byte) error {
	return c.eng.RaiseEvent(ctx, instanceID, name, data)
}

// Terminate ends the instance with status TERMINATED, and its running
// children too.
func (c *Client) Terminate(ctx context.Context, instanceID, reason string) error {
	return c.eng.Terminate(ctx, instanceID, reason, true)
}

// Suspend pauses the instance until Resume; events raised meanwhile wait.
func (c *Client) Suspend(ctx context.Context, instanceID, reason string) error {
	return c.eng.Suspend(ctx, instanceID, reason)
}

// Resume continues a suspended instance.
func (c *Client) Resume(ctx context.Context, instanceID, reason string) error {
	return c.eng.Resume(ctx, instanceID, reason)
}

// Purge deletes a finished instance: all its runs and their history.
func (c *Client) Purge(ctx context.Context, instanceID string) error {
	n, err := c.eng.Purge(ctx, &store.PurgeParams{InstanceID: instanceID})
	if err != nil {
		return wrapNotFound(err, instanceID)
	}
	if n == 0 {
		return fmt.Errorf("no workflow instance %q: %w", instanceID, store.ErrNotFound)
	}
	return nil
}

// PurgeFilter selects finished instances to purge.
type PurgeFilter struct {
	Statuses       []Status // finished statuses; nil: all finished
	Name           string
	FinishedBefore time.Time
	Limit          int
}

// PurgeWhere deletes finished instances matching f and returns how many.
func (c *Client) PurgeWhere(ctx context.Context, f PurgeFilter) (int, error) {
	for _, s := range f.Statuses {
		if !s.Finished() {
			return 0, fmt.Errorf("purge: status %s is not a finished status", s)
		}
	}
	return c.eng.Purge(ctx, &store.PurgeParams{Statuses: f.Statuses, Name: f.Name, FinishedBefore: f.FinishedBefore, Limit: f.Limit})
}

// ListFilter selects instances. Zero values mean "any".
type ListFilter struct {
	Statuses      []Status
	Name          string
	InstanceID    string // exact, or a prefix ending in '*'
	CreatedAfter  time.Time
	CreatedBefore time.Time
	AllRuns       bool // include earlier runs, not only current ones
	PageSize      int  // default 100
	PageToken     string
}

// InstancePage is one page of instances, newest first.
type InstancePage struct {
	Instances     []*Instance
	NextPageToken string // "" on the last page
}

// ListInstances lists instances, newest first.
func (c *Client) ListInstances(ctx context.Context, f ListFilter) (*InstancePage, error) {
	res, err := c.eng.Store().RunList(ctx, &store.RunListParams{Statuses: f.Statuses, Name: f.Name, InstanceID: f.InstanceID,
		CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore, AllRuns: f.AllRuns, Limit: f.PageSize, Cursor: f.PageToken})
	if err != nil {
		return nil, err
	}
	page := &InstancePage{NextPageToken: res.NextCursor}
	for _, r := range res.Runs {
		page.Instances = append(page.Instances, c.instance(r))
	}
	return page, nil
}

// CountInstances counts instances by status, with the filters of f except
// Statuses and the page fields (for status tabs and dashboards).
func (c *Client) CountInstances(ctx context.Context, f ListFilter) (map[Status]int64, error) {
	return c.eng.Store().RunCounts(ctx, &store.RunListParams{Name: f.Name, InstanceID: f.InstanceID,
		CreatedAfter: f.CreatedAfter, CreatedBefore: f.CreatedBefore, AllRuns: f.AllRuns})
}

// HistoryEvent is one event of a run's history.
type HistoryEvent = history.Event

// History returns the full history of a run (runID "" for the current one).
func (c *Client) History(ctx context.Context, instanceID, runID string) ([]*HistoryEvent, error) {
	run, err := c.eng.Store().RunGet(ctx, instanceID, runID)
	if err != nil {
		return nil, wrapNotFound(err, instanceID)
	}
	return c.eng.History(ctx, run.RunID)
}

// CompleteActivity completes an activity attempt that returned
// activity.ErrResultPending, using the task token it handed out. A token
// for an attempt that timed out, failed or finished is rejected with
// ErrTokenRejected.
func (c *Client) CompleteActivity(ctx context.Context, taskToken string, result any) error {
	b, err := payload.Encode(c.codec, result)
	if err != nil {
		return fmt.Errorf("complete activity: %w", err)
	}
	return c.eng.CompleteActivity(ctx, taskToken, b)
}

// CompleteActivityRaw completes an activity with an already encoded result.
func (c *Client) CompleteActivityRaw(ctx context.Context, taskToken string, result []byte) error {
	return c.eng.CompleteActivity(ctx, taskToken, result)
}

// FailActivity fails an activity attempt by task token; its retry policy
// decides whether it runs again.
func (c *Client) FailActivity(ctx context.Context, taskToken string, cause error) error {
	return c.eng.FailActivity(ctx, taskToken, cause)
}

// HeartbeatActivity records progress for an activity attempt by task token
// and keeps it alive under its heartbeat timeout.
func (c *Client) HeartbeatActivity(ctx context.Context, taskToken string, details any) error {
	b, err := payload.Encode(c.codec, details)
	if err != nil {
		return fmt.Errorf("heartbeat activity: %w", err)
	}
	return c.eng.HeartbeatActivity(ctx, taskToken, b)
}

// Failure describes why a workflow or activity failed.
type Failure = failure.Failure
