package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/perdure/perdure/store/sqlitestore"
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
	Nodes              int     `json:"nodes"`
	Workflows          int     `json:"workflows"`
	Seconds            float64 `json:"seconds"`
	WorkflowsPerSecond float64 `json:"workflows_per_second"`
	// The untimed burst before (none with Config.Cold): the figures of a
	// process's first burst.
	WarmupSeconds            float64 `json:"warmup_seconds,omitempty"`
	WarmupWorkflowsPerSecond float64 `json:"warmup_workflows_per_second,omitempty"`
	// The process's CPU time (user and system) during the timed burst,
	// per workflow: what a workflow costs the machine, so that throughputs
	// of machines with faster or slower processors can be compared (on
	// Unix; the client, the engine and the worker together, and in HTTP
	// mode the server and its client too).
	CPUMicrosPerWorkflow float64 `json:"cpu_us_per_workflow,omitempty"`
	LatencyRuns          int     `json:"latency_runs"`
	P50Ms                float64 `json:"p50_ms"`
	P99Ms                float64 `json:"p99_ms"`
	MaxMs                float64 `json:"max_ms"`
	// The WAL fsyncs of the latency runs (SQLite): their median and how
	// many a workflow made. A workflow waits for each, one after another,
	// so p50 less their product is about the engine's own part (EngineP50Ms
	// gives it exactly).
	WALFsyncMs           float64 `json:"wal_fsync_ms,omitempty"`
	WALFsyncsPerWorkflow float64 `json:"wal_fsyncs_per_workflow,omitempty"`
	// Each latency run's time less the WAL fsyncs it waited for (SQLite):
	// the engine's own part, whatever the disk.
	EngineP50Ms float64 `json:"engine_p50_ms,omitempty"`
	EngineP99Ms float64 `json:"engine_p99_ms,omitempty"`
	Setup
}

// Setup is what every result reports of the run's setting: the disk, the
// worker and the machine. Its JSON keys are part of each result's.
type Setup struct {
	FsyncMs  float64 `json:"fsync_ms"`
	CommitMs float64 `json:"commit_ms"`
	// "exclusive" for a SQLite store with
	// sqlitestore.Options.ExclusiveLocking, else empty.
	SQLiteLocking   string `json:"sqlite_locking,omitempty"`
	WorkflowTasks   int    `json:"workflow_tasks"`
	ActivityWorkers int    `json:"concurrent_activities"`
	GoVersion       string `json:"go_version"`
	CPUs            int    `json:"cpus"`
}

// setup is the Setup of runs of cfg on e.
func (e *Env) setup(cfg Config) Setup {
	return Setup{FsyncMs: e.FsyncMs, CommitMs: e.CommitMs, SQLiteLocking: lockingName(cfg.ExclusiveLocking), WorkflowTasks: cfg.WorkflowTasks,
		ActivityWorkers: cfg.ConcurrentActivities, GoVersion: runtime.Version(), CPUs: cpus()}
}

// cpuNote is the table's text for a CPU time per workflow in µs.
func cpuNote(us float64) string {
	if us == 0 {
		return "not measured on this platform"
	}
	return fmt.Sprintf("%.0f µs (user and system, all of the process)", us)
}

// lockingName is Setup.SQLiteLocking for exclusive locking or not.
func lockingName(exclusive bool) string {
	if exclusive {
		return "exclusive"
	}
	return ""
}

// rows are the table rows of s.
func (s Setup) rows() [][2]string {
	rows := [][2]string{
		{"disk fsync (median)", fmt.Sprintf("%.3f ms", s.FsyncMs)},
		{"durable commit (median)", fmt.Sprintf("%.3f ms", s.CommitMs)},
		{"worker", fmt.Sprintf("%d workflow tasks, %d activities", s.WorkflowTasks, s.ActivityWorkers)},
		{"go, cpus", fmt.Sprintf("%s, %d", s.GoVersion, s.CPUs)},
	}
	if s.SQLiteLocking != "" {
		rows = append(rows, [2]string{"SQLite locking", s.SQLiteLocking})
	}
	return rows
}

// FanoutResult holds the fanout figures; the JSON keys are a contract.
type FanoutResult struct {
	Scenario            string  `json:"scenario"`
	Mode                string  `json:"mode"`
	Store               string  `json:"store"`
	Nodes               int     `json:"nodes"`
	Activities          int     `json:"activities"`
	Seconds             float64 `json:"seconds"`
	ActivitiesPerSecond float64 `json:"activities_per_second"`
	// The untimed fanout before (none with Config.Cold).
	WarmupSeconds float64 `json:"warmup_seconds,omitempty"`
	Setup
}

// WriteTable implements Result.
func (r *Chain3Result) WriteTable(w io.Writer) error {
	rows := [][2]string{
		{"workflows started at once", fmt.Sprint(r.Workflows)},
		{"all completed in", fmt.Sprintf("%.3f s", r.Seconds)},
		{"throughput", fmt.Sprintf("%.1f workflows/s", r.WorkflowsPerSecond)},
		{"warm-up burst before", warmupNote(r.WarmupSeconds, fmt.Sprintf("%.1f workflows/s", r.WarmupWorkflowsPerSecond))},
		{"CPU per workflow in the burst", cpuNote(r.CPUMicrosPerWorkflow)},
		{"latency runs (one at a time)", fmt.Sprint(r.LatencyRuns)},
		{"latency p50", fmt.Sprintf("%.3f ms", r.P50Ms)},
		{"latency p99", fmt.Sprintf("%.3f ms", r.P99Ms)},
		{"latency max", fmt.Sprintf("%.3f ms", r.MaxMs)},
	}
	if r.WALFsyncsPerWorkflow > 0 {
		rows = append(rows, [2]string{"WAL fsyncs in those runs", fmt.Sprintf("%.1f a workflow, median %.3f ms", r.WALFsyncsPerWorkflow, r.WALFsyncMs)},
			[2]string{"latency less its WAL fsyncs", fmt.Sprintf("p50 %.3f ms, p99 %.3f ms", r.EngineP50Ms, r.EngineP99Ms)})
	}
	return table(w, fmt.Sprintf("chain3 (%s, %s%s)", r.Mode, r.Store, nodesNote(r.Nodes)), rows, r.Setup.rows()...)
}

// WriteTable implements Result.
func (r *FanoutResult) WriteTable(w io.Writer) error {
	return table(w, fmt.Sprintf("fanout (%s, %s%s)", r.Mode, r.Store, nodesNote(r.Nodes)), [][2]string{
		{"activities in one workflow", fmt.Sprint(r.Activities)},
		{"start to result", fmt.Sprintf("%.3f s", r.Seconds)},
		{"throughput", fmt.Sprintf("%.1f activities/s", r.ActivitiesPerSecond)},
		{"warm-up fanout before", warmupNote(r.WarmupSeconds, "")},
	}, r.Setup.rows()...)
}

// WriteTable implements Result.
func (r *SleepersResult) WriteTable(w io.Writer) error {
	return table(w, fmt.Sprintf("sleepers (%s, %s)", r.Mode, r.Store), [][2]string{
		{"sleepers", fmt.Sprintf("%d (%d on a timer, %d on an event)", r.Sleepers, r.Timers, r.Events)},
		{"started and waiting in", fmt.Sprintf("%.3f s (%.1f workflows/s)", r.StartSeconds, r.StartsPerSecond)},
		{"RSS while all wait", fmt.Sprintf("%.1f MB (before: %.1f MB; %.0f bytes per sleeper)", r.RSSMB, r.BaseRSSMB, r.RSSPerSleeper)},
		{"Go heap while all wait", fmt.Sprintf("%.1f MB live (before: %.1f MB; %.0f bytes per sleeper)", r.HeapMB, r.BaseHeapMB, r.BytesPerSleeper)},
		{"while the events only wait", fmt.Sprintf("RSS %.1f MB, Go heap %.1f MB, %d goroutines", r.HalfRSSMB, r.HalfHeapMB, r.HalfGoroutines)},
		{"goroutine stacks while all wait", fmt.Sprintf("%.1f MB", r.StackMB)},
		{"Go runtime from the OS", fmt.Sprintf("%.1f MB", r.GoSysMB)},
		{"goroutines while all wait", fmt.Sprintf("%d (before: %d)", r.Goroutines, r.BaseGoroutines)},
		{"peak RSS of the run", fmt.Sprintf("%.1f MB", r.PeakRSSMB)},
		{"timers", fmt.Sprintf("%d due at %d/s, all woken in %.3f s (%.1f/s)", r.Timers, r.TimerRate, r.TimerSeconds, r.TimersPerSecond)},
		{"timer fired late p50 / p99 / max", fmt.Sprintf("%.3f / %.3f / %.3f ms", r.TimerLateP50Ms, r.TimerLateP99Ms, r.TimerLateMaxMs)},
		{"timer result late p50 / p99 / max", fmt.Sprintf("%.3f / %.3f / %.3f ms", r.TimerDoneP50Ms, r.TimerDoneP99Ms, r.TimerDoneMaxMs)},
		{"timer tasks cached / replayed", fmt.Sprintf("%d / %d", r.TimerTasksCached, r.TimerTasksReplayed)},
		{"events", fmt.Sprintf("%d, %d raised at a time, delivered in %.3f s (%.1f events/s)", r.Events, r.EventConcurrency, r.EventSeconds, r.EventsPerSecond)},
		{"raise → result p50 / p99 / max", fmt.Sprintf("%.3f / %.3f / %.3f ms", r.EventP50Ms, r.EventP99Ms, r.EventMaxMs)},
		{"event tasks cached / replayed", fmt.Sprintf("%d / %d", r.EventTasksCached, r.EventTasksReplay)},
		{"completed with the right result", fmt.Sprintf("%d of %d", r.Completed, r.Sleepers)},
	}, r.Setup.rows()...)
}

// WriteTable implements Result.
func (r *LongHistoryResult) WriteTable(w io.Writer) error {
	samples := make([]string, len(r.ResumeMs))
	for i, v := range r.ResumeMs {
		samples[i] = fmt.Sprintf("%.3f", v)
	}
	return table(w, fmt.Sprintf("long-history (%s, %s)", r.Mode, r.Store), [][2]string{
		{"instances (one resume each)", fmt.Sprint(r.Instances)},
		{"history events when evicted", fmt.Sprintf("≥ %d", r.HistoryEvents)},
		{"histories built in", fmt.Sprintf("%.3f s", r.BuildSeconds)},
		{"resume (raise → result) median", fmt.Sprintf("%.3f ms", r.ResumeP50Ms)},
		{"resume min / max", fmt.Sprintf("%.3f / %.3f ms", r.ResumeMinMs, r.ResumeMaxMs)},
		{"resume samples", strings.Join(samples, ", ") + " ms"},
		{"resume workflow task median / max", fmt.Sprintf("%.3f / %.3f ms", r.TaskP50Ms, r.TaskMaxMs)},
		{"resumes that replayed the history", fmt.Sprintf("%d of %d", r.Replayed, r.Instances)},
	}, r.Setup.rows()...)
}

// nodesNote is ", N nodes" for more than one node.
func nodesNote(n int) string {
	if n > 1 {
		return fmt.Sprintf(", %d nodes", n)
	}
	return ""
}

func table(w io.Writer, title string, rows [][2]string, more ...[2]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\n", title)
	for _, r := range append(rows, more...) {
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

// Run runs scenario on a fresh store, in the mode of cfg, and returns its
// figures.
func Run(ctx context.Context, scenario string, cfg Config) (Result, error) {
	cfg.defaults()
	if err := Check(scenario, cfg); err != nil {
		return nil, err
	}
	cfg.observe = scenario == Sleepers || scenario == LongHistory
	progress := func(format string, args ...any) {
		fmt.Fprintf(cfg.Progress, scenario+": "+format+"\n", args...)
	}
	e, err := New(cfg)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	where := fmt.Sprintf("store %s (%s", e.Path, e.Store)
	if e.Schema != "" {
		where = fmt.Sprintf("store %s schema %s (%s", e.Path, e.Schema, e.Store)
		if cfg.Keep {
			where = fmt.Sprintf("store %s schema %s, kept afterwards (%s", e.Path, e.Schema, e.Store)
		}
	}
	if cfg.Nodes > 1 {
		where += fmt.Sprintf(", %d nodes", cfg.Nodes)
	}
	if e.URL != "" {
		progress("%s), perdure server on %s, disk fsync %.3f ms, durable commit %.3f ms", where, e.URL, e.FsyncMs, e.CommitMs)
	} else {
		progress("%s, embedded), disk fsync %.3f ms, durable commit %.3f ms", where, e.FsyncMs, e.CommitMs)
	}
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
	case Fanout:
		return runFanout(ctx, e, cfg, progress)
	case Sleepers:
		return runSleepers(ctx, e, cfg, progress)
	default:
		return runLongHistory(ctx, e, cfg, progress)
	}
}

func runChain3(ctx context.Context, e *Env, cfg Config, progress func(string, ...any)) (*Chain3Result, error) {
	warm, err := warmUp(cfg, progress, fmt.Sprintf("a burst of %d workflows", cfg.Workflows),
		func() (time.Duration, error) { return e.Chain3Throughput(ctx, cfg.Workflows) })
	if err != nil {
		return nil, err
	}
	progress("throughput: starting %d workflows at once", cfg.Workflows)
	before, _ := e.commitStats()
	cpu0, cpuOK := processCPU()
	took, err := e.Chain3Throughput(ctx, cfg.Workflows)
	if err != nil {
		return nil, err
	}
	cpu1, _ := processCPU()
	progress("throughput: %d workflows completed in %.3f s", cfg.Workflows, took.Seconds())
	e.reportCommits(progress, before, took)
	progress("latency: %d workflows one at a time", cfg.LatencyRuns)
	syncs := sqlitestore.ReadWALSyncs()
	lat, synced, err := e.Chain3Latency(ctx, cfg.LatencyRuns)
	if err != nil {
		return nil, err
	}
	syncs = sqlitestore.ReadWALSyncs().Since(syncs)
	r := &Chain3Result{
		Scenario: Chain3, Mode: cfg.Mode, Store: e.Store, Nodes: cfg.Nodes,
		Workflows: cfg.Workflows, Seconds: round3(took.Seconds()),
		WorkflowsPerSecond: round1(float64(cfg.Workflows) / took.Seconds()),
		WarmupSeconds:      round3(warm.Seconds()), WarmupWorkflowsPerSecond: perSecond(cfg.Workflows, warm),
		LatencyRuns: cfg.LatencyRuns,
		P50Ms:       ms(percentile(lat, 50)), P99Ms: ms(percentile(lat, 99)), MaxMs: ms(percentile(lat, 100)),
		Setup: e.setup(cfg),
	}
	if cpuOK && cfg.Workflows > 0 {
		r.CPUMicrosPerWorkflow = round1(float64((cpu1 - cpu0).Microseconds()) / float64(cfg.Workflows))
	}
	if n := syncs.Count(); n > 0 && cfg.LatencyRuns > 0 {
		r.WALFsyncMs = ms(syncs.Median())
		r.WALFsyncsPerWorkflow = round1(float64(n) / float64(cfg.LatencyRuns))
		own := make([]time.Duration, len(lat))
		for i := range lat {
			own[i] = lat[i] - synced[i]
		}
		r.EngineP50Ms, r.EngineP99Ms = ms(percentile(own, 50)), ms(percentile(own, 99))
	}
	return r, nil
}

func runFanout(ctx context.Context, e *Env, cfg Config, progress func(string, ...any)) (*FanoutResult, error) {
	warm, err := warmUp(cfg, progress, fmt.Sprintf("one workflow over %d activities", cfg.Activities),
		func() (time.Duration, error) { return e.RunFanout(ctx, cfg.Activities) })
	if err != nil {
		return nil, err
	}
	progress("one workflow over %d activities", cfg.Activities)
	before, _ := e.commitStats()
	took, err := e.RunFanout(ctx, cfg.Activities)
	if err != nil {
		return nil, err
	}
	progress("completed in %.3f s", took.Seconds())
	e.reportCommits(progress, before, took)
	return &FanoutResult{
		Scenario: Fanout, Mode: cfg.Mode, Store: e.Store, Nodes: cfg.Nodes,
		Activities: cfg.Activities, Seconds: round3(took.Seconds()),
		ActivitiesPerSecond: round1(float64(cfg.Activities) / took.Seconds()), WarmupSeconds: round3(warm.Seconds()),
		Setup: e.setup(cfg),
	}, nil
}

// perSecond is n per d, 0 when d is 0 (a phase that did not run).
func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return round1(float64(n) / d.Seconds())
}

// warmupNote describes the untimed run before the timed one.
func warmupNote(seconds float64, rate string) string {
	if seconds == 0 {
		return "none (--cold)"
	}
	if rate == "" {
		return fmt.Sprintf("%.3f s (untimed)", seconds)
	}
	return fmt.Sprintf("%.3f s, %s (untimed)", seconds, rate)
}

// warmUp runs the scenario's timed part once untimed first (unless
// cfg.Cold) and returns how long it took: a process's first run also pays
// for the Go runtime's warm-up (see Config.Cold).
func warmUp(cfg Config, progress func(string, ...any), what string, run func() (time.Duration, error)) (time.Duration, error) {
	if cfg.Cold {
		return 0, nil
	}
	progress("untimed first run: %s (--cold times the process's first run instead)", what)
	d, err := run()
	if err != nil {
		return 0, fmt.Errorf("untimed first run: %w", err)
	}
	progress("untimed first run: done in %.3f s", d.Seconds())
	return d, nil
}
