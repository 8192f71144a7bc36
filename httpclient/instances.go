package httpclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/perdure/perdure/server/api"
)

// LongPoll is the wait of each request WaitForCompletion and Follow make;
// the server caps waits at 5 minutes.
const LongPoll = 30 * time.Second

// StartOptions are the HTTP-level options of Start.
type StartOptions struct {
	// IdempotencyKey makes retries of this start return the same instance,
	// even after it finished; without an instance id it is the instance id.
	IdempotencyKey string
	// Wait, when positive, waits up to that long for the instance to
	// finish before answering (start-and-wait).
	Wait time.Duration
}

// StartResult is the answer to a start.
type StartResult struct {
	Instance *api.Instance
	// Created is false when the start returned an existing run (an
	// identical start of a running instance, or an idempotent retry).
	Created bool
	// Location is the instance's status URL.
	Location string
}

// Start starts a workflow instance.
func (c *Client) Start(ctx context.Context, req api.StartRequest, opts StartOptions) (*StartResult, error) {
	r := request{method: http.MethodPost, path: "/api/v1/instances", body: req, out: new(api.Instance), query: url.Values{}}
	if opts.IdempotencyKey != "" {
		r.header = http.Header{api.HeaderIdempotencyKey: {opts.IdempotencyKey}}
	}
	if opts.Wait > 0 {
		r.query.Set("wait", opts.Wait.String())
	}
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	return &StartResult{Instance: r.out.(*api.Instance), Created: resp.Header.Get(api.HeaderCreated) == "true",
		Location: resp.Header.Get("Location")}, nil
}

// Get returns the status of the instance's current run.
func (c *Client) Get(ctx context.Context, id string) (*api.Instance, error) {
	return c.GetRun(ctx, id, "")
}

// GetRun returns the status of one run of the instance ("" for the
// current one).
func (c *Client) GetRun(ctx context.Context, id, runID string) (*api.Instance, error) {
	var q url.Values
	if runID != "" {
		q = url.Values{"runId": {runID}}
	}
	var inst api.Instance
	if _, err := c.do(ctx, request{method: http.MethodGet, path: instancePath(id), query: q, out: &inst}); err != nil {
		return nil, err
	}
	return &inst, nil
}

// Wait long-polls the instance once: it returns as soon as the instance
// has finished, or after wait with its current status.
func (c *Client) Wait(ctx context.Context, id string, wait time.Duration) (*api.Instance, error) {
	var inst api.Instance
	if _, err := c.do(ctx, request{method: http.MethodGet, path: instancePath(id), query: url.Values{"wait": {wait.String()}}, out: &inst}); err != nil {
		return nil, err
	}
	return &inst, nil
}

// WaitForCompletion long-polls until the instance has finished or ctx is
// done.
func (c *Client) WaitForCompletion(ctx context.Context, id string) (*api.Instance, error) {
	for {
		inst, err := c.Wait(ctx, id, LongPoll)
		if err != nil {
			return nil, err
		}
		if inst.Finished() {
			return inst, nil
		}
	}
}

// Progress returns where the instance is. With a version and a wait, it
// returns as soon as the progress differs from that version, or after the
// wait.
func (c *Client) Progress(ctx context.Context, id, version string, wait time.Duration) (*api.Progress, error) {
	q := url.Values{}
	if version != "" && wait > 0 {
		q.Set("version", version)
		q.Set("wait", wait.String())
	}
	var p api.Progress
	if _, err := c.do(ctx, request{method: http.MethodGet, path: instancePath(id, "progress"), query: q, out: &p}); err != nil {
		return nil, err
	}
	return &p, nil
}

// Follow calls fn with the instance's progress now and after each change,
// until the instance has finished (its final progress is passed too), fn
// returns an error, or ctx is done.
func (c *Client) Follow(ctx context.Context, id string, fn func(*api.Progress) error) error {
	version := ""
	for {
		p, err := c.Progress(ctx, id, version, LongPoll)
		if err != nil {
			return err
		}
		if p.Version != version || p.Instance.Finished() {
			if err := fn(p); err != nil {
				return err
			}
		}
		if p.Instance.Finished() {
			return nil
		}
		version = p.Version
	}
}

// ListOptions filter List. Zero values mean "any".
type ListOptions struct {
	Statuses         []api.Status
	Name             string
	InstanceID       string // exact
	InstanceIDPrefix string
	CreatedAfter     time.Time
	CreatedBefore    time.Time
	AllRuns          bool
	PageSize         int // default 100, at most 1000
	PageToken        string
}

// List returns one page of instances, newest first.
func (c *Client) List(ctx context.Context, o ListOptions) (*api.InstanceList, error) {
	q := url.Values{}
	for _, s := range o.Statuses {
		q.Add("status", string(s))
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("name", o.Name)
	set("instanceId", o.InstanceID)
	set("instanceIdPrefix", o.InstanceIDPrefix)
	if !o.CreatedAfter.IsZero() {
		q.Set("createdAfter", o.CreatedAfter.Format(time.RFC3339Nano))
	}
	if !o.CreatedBefore.IsZero() {
		q.Set("createdBefore", o.CreatedBefore.Format(time.RFC3339Nano))
	}
	if o.AllRuns {
		q.Set("allRuns", "true")
	}
	if o.PageSize > 0 {
		q.Set("pageSize", strconv.Itoa(o.PageSize))
	}
	set("pageToken", o.PageToken)
	var out api.InstanceList
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/instances", query: q, out: &out}); err != nil {
		return nil, err
	}
	return &out, nil
}

// HistoryOptions select a run and a page of its history.
type HistoryOptions struct {
	RunID     string // "" for the current run
	PageSize  int    // 0: the whole history
	PageToken string
}

// History returns the history of a run, or one page of it.
func (c *Client) History(ctx context.Context, id string, o HistoryOptions) (*api.History, error) {
	q := url.Values{}
	if o.RunID != "" {
		q.Set("runId", o.RunID)
	}
	if o.PageSize > 0 {
		q.Set("pageSize", strconv.Itoa(o.PageSize))
	}
	if o.PageToken != "" {
		q.Set("pageToken", o.PageToken)
	}
	var h api.History
	if _, err := c.do(ctx, request{method: http.MethodGet, path: instancePath(id, "history"), query: q, out: &h}); err != nil {
		return nil, err
	}
	return &h, nil
}

// RaiseEvent delivers an event; data is a JSON value (nil for none).
func (c *Client) RaiseEvent(ctx context.Context, id, name string, data json.RawMessage) error {
	var body any
	if len(data) > 0 {
		body = data
	}
	_, err := c.do(ctx, request{method: http.MethodPost, path: instancePath(id, "events", url.PathEscape(name)), body: body})
	return err
}

// Terminate ends the instance (and its running children) with status
// TERMINATED.
func (c *Client) Terminate(ctx context.Context, id, reason string) error {
	return c.control(ctx, id, "terminate", reason)
}

// Suspend pauses the instance until Resume.
func (c *Client) Suspend(ctx context.Context, id, reason string) error {
	return c.control(ctx, id, "suspend", reason)
}

// Resume continues a suspended instance.
func (c *Client) Resume(ctx context.Context, id, reason string) error {
	return c.control(ctx, id, "resume", reason)
}

func (c *Client) control(ctx context.Context, id, op, reason string) error {
	_, err := c.do(ctx, request{method: http.MethodPost, path: instancePath(id, op), body: api.ReasonRequest{Reason: reason}})
	return err
}

// Purge deletes a finished instance: all its runs and their history.
func (c *Client) Purge(ctx context.Context, id string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: instancePath(id)})
	return err
}

// PurgeWhere deletes the finished instances req selects and returns how
// many.
func (c *Client) PurgeWhere(ctx context.Context, req api.PurgeRequest) (int, error) {
	var res api.PurgeResult
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/purge", body: req, out: &res})
	return res.Purged, err
}

// Workflows lists the workflow names the server accepts.
func (c *Client) Workflows(ctx context.Context) (*api.WorkflowList, error) {
	var wl api.WorkflowList
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/workflows", out: &wl}); err != nil {
		return nil, err
	}
	return &wl, nil
}

// Health returns nil when the server and its store answer.
func (c *Client) Health(ctx context.Context) error {
	var h api.Health
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/healthz", out: &h})
	var ae *Error
	if errors.As(err, &ae) && ae.StatusCode == http.StatusServiceUnavailable {
		return &Error{StatusCode: ae.StatusCode, Code: api.CodeUnavailable, Message: "the Perdure server's store does not answer"}
	}
	return err
}
