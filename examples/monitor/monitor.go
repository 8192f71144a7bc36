// Package monitor is the monitor pattern of the Dapr workflow patterns page:
// an eternal workflow that checks a job's status, sends an alert when the
// job becomes unhealthy, sleeps on a durable timer (60s while healthy, 5s
// while not) and continues as new with its updated state, so its history
// never grows.
//
//	{"job_id":"job1","healthy_interval_s":60,"unhealthy_interval_s":5,"max_cycles":0}
//
// max_cycles 0 runs forever; with max_cycles > 0 the monitor stops after
// that many checks with the output {"job_id":…,"is_healthy":…,"cycles":…}.
// The intervals are seconds (fractions allowed); absent or 0 means the
// defaults. is_healthy and cycles are the state carried from one run to the
// next; a new monitor assumes the job healthy.
//
// check_status looks random, like the pattern's random health check, but is
// a fixed pseudo-random function of the job id and the cycle, so that a run
// can be reproduced; health_script (a list of "healthy"/"unhealthy") gives
// the results of the first checks explicitly.
package monitor

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/perdure/perdure/activity"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// The registered names.
const (
	WorkflowName    = "MonitorWorkflow"
	CheckStatusName = "check_status"
	SendAlertName   = "send_alert"
)

// The statuses check_status returns.
const (
	Healthy   = "healthy"
	Unhealthy = "unhealthy"
)

// The default check intervals, in seconds.
const (
	DefaultHealthyIntervalS   = 60
	DefaultUnhealthyIntervalS = 5
)

// maxIntervalS bounds the intervals: one year.
const maxIntervalS = 365 * 24 * 60 * 60

// JobStatus is the workflow input: the job, the monitor's settings and the
// state carried over by continue-as-new.
type JobStatus struct {
	JobID              string   `json:"job_id"`
	HealthyIntervalS   float64  `json:"healthy_interval_s,omitempty"`
	UnhealthyIntervalS float64  `json:"unhealthy_interval_s,omitempty"`
	MaxCycles          int      `json:"max_cycles,omitempty"`
	HealthScript       []string `json:"health_script,omitempty"`
	// IsHealthy is the job's health at the last check; nil (a new monitor)
	// counts as healthy.
	IsHealthy *bool `json:"is_healthy,omitempty"`
	// Cycles counts the checks made so far.
	Cycles int `json:"cycles,omitempty"`
}

// Result is the output of a monitor that stopped after MaxCycles checks.
type Result struct {
	JobID     string `json:"job_id"`
	IsHealthy bool   `json:"is_healthy"`
	Cycles    int    `json:"cycles"`
}

// CheckRequest is check_status's input.
type CheckRequest struct {
	JobID  string   `json:"job_id"`
	Cycle  int      `json:"cycle"`
	Script []string `json:"script,omitempty"`
}

// MonitorWorkflow makes one check and continues as new.
func MonitorWorkflow(ctx workflow.Context, job JobStatus) (Result, error) {
	log := workflow.GetLogger(ctx)
	if job.JobID == "" {
		job.JobID = workflow.GetInfo(ctx).InstanceID
	}
	if job.HealthyIntervalS < 0 || job.UnhealthyIntervalS < 0 || job.HealthyIntervalS > maxIntervalS ||
		job.UnhealthyIntervalS > maxIntervalS || job.MaxCycles < 0 {
		return Result{}, workflow.NewNonRetryableError("InvalidInput",
			"intervals must be within 0..%d seconds and max_cycles not negative: %+v", maxIntervalS, job)
	}
	wasHealthy := job.IsHealthy == nil || *job.IsHealthy
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: workflow.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5}})

	status, err := workflow.ExecuteActivity(ctx, CheckStatus, CheckRequest{JobID: job.JobID, Cycle: job.Cycles, Script: job.HealthScript}).Get(ctx)
	if err != nil {
		return Result{}, err
	}
	log.Info(fmt.Sprintf("Job '%s' is %s.", job.JobID, status))
	healthy := status == Healthy
	next := seconds(job.HealthyIntervalS, DefaultHealthyIntervalS)
	if !healthy {
		if wasHealthy {
			if _, err := workflow.ExecuteActivity(ctx, SendAlert, fmt.Sprintf("Job '%s' is unhealthy!", job.JobID)).Get(ctx); err != nil {
				return Result{}, err
			}
		}
		next = seconds(job.UnhealthyIntervalS, DefaultUnhealthyIntervalS)
	}
	job.IsHealthy = &healthy
	job.Cycles++
	if err := workflow.SetCustomStatus(ctx, Result{JobID: job.JobID, IsHealthy: healthy, Cycles: job.Cycles}); err != nil {
		return Result{}, err
	}
	if job.MaxCycles > 0 && job.Cycles >= job.MaxCycles {
		return Result{JobID: job.JobID, IsHealthy: healthy, Cycles: job.Cycles}, nil
	}
	if err := workflow.Sleep(ctx, next); err != nil {
		return Result{}, err
	}
	return Result{}, workflow.ContinueAsNew(ctx, job)
}

func seconds(s, def float64) time.Duration {
	if s == 0 {
		s = def
	}
	return time.Duration(s * float64(time.Second))
}

// CheckStatus polls the job's status endpoint (simulated): the script's
// entry for the cycle if there is one, else a pseudo-random pick that is
// the same for the same job and cycle.
func CheckStatus(ctx context.Context, req CheckRequest) (string, error) {
	status := Unhealthy
	switch {
	case req.Cycle < len(req.Script):
		if req.Script[req.Cycle] != Healthy && req.Script[req.Cycle] != Unhealthy {
			return "", activity.NewNonRetryableError("InvalidScript", "health_script[%d] is %q, want %q or %q",
				req.Cycle, req.Script[req.Cycle], Healthy, Unhealthy)
		}
		status = req.Script[req.Cycle]
	default:
		if mix(req.JobID, req.Cycle)&1 == 0 {
			status = Healthy
		}
	}
	activity.GetLogger(ctx).Info(fmt.Sprintf("check_status: Job '%s' check %d: %s.", req.JobID, req.Cycle+1, status))
	return status, nil
}

// mix hashes the job id and cycle into well-spread bits.
func mix(jobID string, cycle int) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s#%d", jobID, cycle)
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// SendAlert sends an alert (here: logs it).
func SendAlert(ctx context.Context, message string) (struct{}, error) {
	activity.GetLogger(ctx).Warn(fmt.Sprintf("*** Alert: %s", message))
	return struct{}{}, nil
}

// Register registers the workflow and its activities on w.
func Register(w *worker.Worker) error {
	return errors.Join(
		worker.RegisterWorkflowAs(w, WorkflowName, MonitorWorkflow),
		worker.RegisterActivityAs(w, CheckStatusName, CheckStatus),
		worker.RegisterActivityAs(w, SendAlertName, SendAlert),
	)
}
