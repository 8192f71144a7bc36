package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
)

// Result is the figures of one scenario run.
type Result interface {
	// WriteTable writes the figures as a readable table.
	WriteTable(w io.Writer) error
}

// Chain3Result holds the chain3 figures; the JSON keys are a contract.
type Chain3Result struct {
	Scenario           string  `json:"scenario"`
	Mode               string  `json:"mode"`
	Store              string  `json:"store"`
	Workflows          int     `json:"workflows"`
	Seconds            float64 `json:"seconds"`
	WorkflowsPerSecond float64 `json:"workflows_per_second"`
	LatencyRuns        int     `json:"latency_runs"`
	P50Ms              float64 `json:"p50_ms"`
	P99Ms              float64 `json:"p99_ms"`
	MaxMs              float64 `json:"max_ms"`
	FsyncMs            float64 `json:"fsync_ms"`
	WorkflowTasks      int     `json:"workflow_tasks"`
	ActivityWorkers    int     `json:"concurrent_activities"`
	GoVersion          string  `json:"go_version"`
	CPUs               int     `json:"cpus"`
}

// FanoutResult holds the fanout figures; the JSON keys are a contract.
type FanoutResult struct {
	Scenario            string  `json:"scenario"`
	Mode                string  `json:"mode"`
	Store               string  `json:"store"`
	Activities          int     `json:"activities"`
	Seconds             float64 `json:"seconds"`
	ActivitiesPerSecond float64 `json:"activities_per_second"`
	FsyncMs             float64 `json:"fsync_ms"`
	WorkflowTasks       int     `json:"workflow_tasks"`
	ActivityWorkers     int     `json:"concurrent_activities"`
	GoVersion           string  `json:"go_version"`
	CPUs                int     `json:"cpus"`
}

// WriteTable implements Result.
func (r *Chain3Result) WriteTable(w io.Writer) error {
	return table(w, fmt.Sprintf("chain3 (%s, %s)", r.Mode, r.Store), [][2]string{
		{"workflows started at once", fmt.Sprint(r.Workflows)},
		{"all completed in", fmt.Sprintf("%.3f s", r.Seconds)},
		{"throughput", fmt.Sprintf("%.1f workflows/s", r.WorkflowsPerSecond)},
		{"latency runs (one at a time)", fmt.Sprint(r.LatencyRuns)},
		{"latency p50", fmt.Sprintf("%.3f ms", r.P50Ms)},
		{"latency p99", fmt.Sprintf("%.3f ms", r.P99Ms)},
		{"latency max", fmt.Sprintf("%.3f ms", r.MaxMs)},
		{"disk fsync (median)", fmt.Sprintf("%.3f ms", r.FsyncMs)},
		{"worker", fmt.Sprintf("%d workflow tasks, %d activities", r.WorkflowTasks, r.ActivityWorkers)},
		{"go, cpus", fmt.Sprintf("%s, %d", r.GoVersion, r.CPUs)},
	})
}

// WriteTable implements Result.
func (r *FanoutResult) WriteTable(w io.Writer) error {
	return table(w, fmt.Sprintf("fanout (%s, %s)", r.Mode, r.Store), [][2]string{
		{"activities in one workflow", fmt.Sprint(r.Activities)},
		{"start to result", fmt.Sprintf("%.3f s", r.Seconds)},
		{"throughput", fmt.Sprintf("%.1f activities/s", r.ActivitiesPerSecond)},
		{"disk fsync (median)", fmt.Sprintf("%.3f ms", r.FsyncMs)},
		{"worker", fmt.Sprintf("%d workflow tasks, %d activities", r.WorkflowTasks, r.ActivityWorkers)},
		{"go, cpus", fmt.Sprintf("%s, %d", r.GoVersion, r.CPUs)},
	})
}

func table(w io.Writer, title string, rows [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\n", title)
	for _, r := range rows {
		fmt.Fprintf(tw, "  %s\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

// Write writes r as a table followed by its JSON object as the last line,
// or, when jsonOnly, the JSON line alone.
func Write(w io.Writer, r Result, jsonOnly bool) error {
	if !jsonOnly {
		if err := r.WriteTable(w); err != nil {
			return err
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// Run runs scenario on a fresh embedded store and returns its figures.
func Run(ctx context.Context, scenario string, cfg Config) (Result, error) {
	switch scenario {
	case Chain3, Fanout:
	case Sleepers, LongHistory:
		return nil, fmt.Errorf("scenario %s is %w: it is planned in the benchmark work; chain3 and fanout run today", scenario, ErrNotAvailable)
	default:
		return nil, fmt.Errorf("unknown scenario %q: use chain3, fanout, sleepers or long-history", scenario)
	}
	cfg.defaults()
	if err := CheckMode(cfg.Mode); err != nil {
		return nil, err
	}
	progress := func(format string, args ...any) {
		fmt.Fprintf(cfg.Progress, scenario+": "+format+"\n", args...)
	}
	e, err := NewEmbedded(cfg)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	progress("store %s (sqlite, embedded), disk fsync %.3f ms", e.Path, e.FsyncMs)
	// A few workflows first, so that statements are prepared and
	// connections open before anything is timed.
	progress("warm-up")
	for i := range 3 {
		if err := e.RunChain3(ctx, i); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	switch scenario {
	case Chain3:
		return runChain3(ctx, e, cfg, progress)
	default:
		return runFanout(ctx, e, cfg, progress)
	}
}

func runChain3(ctx context.Context, e *Env, cfg Config, progress func(string, ...any)) (*Chain3Result, error) {
	progress("throughput: starting %d workflows at once", cfg.Workflows)
	took, err := e.Chain3Throughput(ctx, cfg.Workflows)
	if err != nil {
		return nil, err
	}
	progress("throughput: %d workflows completed in %.3f s", cfg.Workflows, took.Seconds())
	progress("latency: %d workflows one at a time", cfg.LatencyRuns)
	lat, err := e.Chain3Latency(ctx, cfg.LatencyRuns)
	if err != nil {
		return nil, err
	}
	return &Chain3Result{
		Scenario: Chain3, Mode: cfg.Mode, Store: "sqlite",
		Workflows: cfg.Workflows, Seconds: round3(took.Seconds()),
		WorkflowsPerSecond: round1(float64(cfg.Workflows) / took.Seconds()),
		LatencyRuns:        cfg.LatencyRuns,
		P50Ms:              ms(percentile(lat, 50)), P99Ms: ms(percentile(lat, 99)), MaxMs: ms(percentile(lat, 100)),
		FsyncMs: e.FsyncMs, WorkflowTasks: cfg.WorkflowTasks, ActivityWorkers: cfg.ConcurrentActivities,
		GoVersion: runtime.Version(), CPUs: cpus(),
	}, nil
}

func runFanout(ctx context.Context, e *Env, cfg Config, progress func(string, ...any)) (*FanoutResult, error) {
	progress("one workflow over %d activities", cfg.Activities)
	took, err := e.RunFanout(ctx, cfg.Activities)
	if err != nil {
		return nil, err
	}
	progress("completed in %.3f s", took.Seconds())
	return &FanoutResult{
		Scenario: Fanout, Mode: cfg.Mode, Store: "sqlite",
		Activities: cfg.Activities, Seconds: round3(took.Seconds()),
		ActivitiesPerSecond: round1(float64(cfg.Activities) / took.Seconds()),
		FsyncMs:             e.FsyncMs, WorkflowTasks: cfg.WorkflowTasks, ActivityWorkers: cfg.ConcurrentActivities,
		GoVersion: runtime.Version(), CPUs: cpus(),
	}, nil
}
