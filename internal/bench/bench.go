// Package bench measures Perdure end to end: scenarios that run real
// workflows on a fresh store and report throughput and latency figures.
// `perdure bench` and the Go benchmarks of this package use the same
// runners, so that the figures of the command and of `go test -bench`
// describe the same work.
//
// Embedded mode runs the client, the engine and a worker in one process on
// a SQLite file with durable commits (synchronous=FULL), as `perdure dev`
// and `perdure server` do. HTTP mode runs the same node behind a real
// `perdure server` HTTP API (package server) on a loopback TCP port, and
// drives it through package httpclient.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/perdure/perdure"
	"github.com/perdure/perdure/httpclient"
	"github.com/perdure/perdure/internal/names"
	"github.com/perdure/perdure/server/api"
	"github.com/perdure/perdure/store/sqlitestore"
	"github.com/perdure/perdure/worker"
	"github.com/perdure/perdure/workflow"
)

// Scenario names.
const (
	Chain3      = "chain3"
	Fanout      = "fanout"
	Sleepers    = "sleepers"
	LongHistory = "long-history"
)

// Scenarios lists every scenario of the benchmark issue with what it
// measures and whether it runs yet.
var Scenarios = []struct {
	Name, Summary string
	Available     bool
	// HTTP tells whether the scenario runs in --mode http too.
	HTTP bool
}{
	{Chain3, "workflows of 3 chained activities: throughput (workflows/s) and start-to-result latency (p50/p99)", true, true},
	{Fanout, "one workflow fanning out to N activities (default 1000) and collecting them: time and activities/s", true, true},
	{Sleepers, "100,000 workflows waiting on timers or events: memory while they wait, timer lateness, event delivery", true, false},
	{LongHistory, "workflows with 10,000 events evicted from the cache, then woken by an event: time to resume", true, false},
}

// Modes.
const (
	ModeEmbedded = "embedded"
	ModeHTTP     = "http"
)

// Defaults of the issue.
const (
	DefaultWorkflows     = 1000
	DefaultLatencyRuns   = 200
	DefaultActivities    = 1000
	DefaultWorkflowTasks = 64
	DefaultConcurrentAct = 256
	DefaultSleepers      = 100000
	DefaultTimerRate     = 1000
	DefaultHistoryEvents = 10000
	DefaultResumes       = 5
	fsyncSamples         = 20
)

// ErrNotAvailable is returned for combinations of scenario and mode that
// do not run (yet).
var ErrNotAvailable = errors.New("not available yet")

// Config selects what to run and where.
type Config struct {
	// Mode: "embedded" (default) or "http" (chain3 and fanout).
	Mode string
	// StorePath is the SQLite file; "" uses a fresh file in a temporary
	// directory that is removed afterwards.
	StorePath string
	// Force allows StorePath to name an existing, non-empty store.
	Force bool
	// Workflows started at once for chain3 throughput.
	Workflows int
	// LatencyRuns: chain3 workflows run one at a time for latency.
	LatencyRuns int
	// Activities: the fanout size.
	Activities int
	// Sleepers: workflows waiting at once in the sleepers scenario, half
	// on a timer, half on an event.
	Sleepers int
	// TimerRate: timers of the sleepers scenario due per second.
	TimerRate int
	// HistoryEvents: history length of each long-history workflow before
	// it waits for its event.
	HistoryEvents int
	// Resumes: long-history workflows built, evicted and resumed (one
	// sample each).
	Resumes int
	// WorkflowTasks and ConcurrentActivities configure the worker.
	WorkflowTasks        int
	ConcurrentActivities int
	// Progress receives a line per phase; nil discards them.
	Progress io.Writer
	// Logger for the engine; nil logs warnings and errors to Progress.
	Logger *slog.Logger

	// observe registers the engine's metrics on a private registry, for
	// the scenarios that read them (Env.taskCounts).
	observe bool
}

func (c *Config) defaults() {
	if c.Mode == "" {
		c.Mode = ModeEmbedded
	}
	if c.Workflows <= 0 {
		c.Workflows = DefaultWorkflows
	}
	if c.LatencyRuns <= 0 {
		c.LatencyRuns = DefaultLatencyRuns
	}
	if c.Activities <= 0 {
		c.Activities = DefaultActivities
	}
	if c.Sleepers <= 0 {
		c.Sleepers = DefaultSleepers
	}
	if c.TimerRate <= 0 {
		c.TimerRate = DefaultTimerRate
	}
	if c.HistoryEvents <= 0 {
		c.HistoryEvents = DefaultHistoryEvents
	}
	if c.Resumes <= 0 {
		c.Resumes = DefaultResumes
	}
	if c.WorkflowTasks <= 0 {
		c.WorkflowTasks = DefaultWorkflowTasks
	}
	if c.ConcurrentActivities <= 0 {
		c.ConcurrentActivities = DefaultConcurrentAct
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(c.Progress, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
}

// CheckMode fails for unknown modes.
func CheckMode(mode string) error {
	switch mode {
	case "", ModeEmbedded, ModeHTTP:
		return nil
	}
	return fmt.Errorf("--mode %q: use embedded or http", mode)
}

// CheckScenarioMode fails for unknown scenarios and for a mode the
// scenario does not run in.
func CheckScenarioMode(scenario, mode string) error {
	if err := CheckMode(mode); err != nil {
		return err
	}
	for _, s := range Scenarios {
		if s.Name != scenario {
			continue
		}
		if mode == ModeHTTP && !s.HTTP {
			return fmt.Errorf("%s in --mode http is %w: it measures the engine's memory, timers and cache, which HTTP does not change; use --mode embedded (http runs chain3 and fanout)", scenario, ErrNotAvailable)
		}
		return nil
	}
	return fmt.Errorf("unknown scenario %q: use chain3, fanout, sleepers or long-history", scenario)
}

// AddOne is the activity of the scenarios: it returns its input plus one.
func AddOne(_ context.Context, n int) (int, error) { return n + 1, nil }

// Chain3Workflow runs AddOne three times, each on the previous result, and
// returns n+3.
func Chain3Workflow(ctx workflow.Context, n int) (int, error) {
	for range 3 {
		var err error
		if n, err = workflow.ExecuteActivity(ctx, AddOne, n).Get(ctx); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// FanoutWorkflow runs AddOne on 0..n-1 all at once and returns the sum of
// the results, n(n+1)/2.
func FanoutWorkflow(ctx workflow.Context, n int) (int, error) {
	items := make([]int, n)
	for i := range items {
		items[i] = i
	}
	out, err := workflow.FanOut(ctx, items, 0, func(ctx workflow.Context, i int) (int, error) {
		return workflow.ExecuteActivity(ctx, AddOne, i).Get(ctx)
	})
	if err != nil {
		return 0, err
	}
	sum := 0
	for _, v := range out {
		sum += v
	}
	return sum, nil
}

// Env is a running node: a SQLite store, a client (engine) and a worker
// with the scenarios' workflows and activities; in HTTP mode, also a
// `perdure server` HTTP API on a loopback port and an HTTP client of it.
type Env struct {
	Client  *perdure.Client
	Path    string
	FsyncMs float64
	// CommitMs is the disk's measured durable SQLite commit time.
	CommitMs float64
	// URL is the HTTP API's address in HTTP mode, "" otherwise.
	URL string
	// HTTP is the client of the HTTP API in HTTP mode, nil otherwise.
	HTTP *httpclient.Client

	cfg     Config
	st      *sqlitestore.Store
	worker  *worker.Worker
	metrics *prometheus.Registry
	srv     *http.Server
	srvDone chan error
	tmpDir  string
	prefix  string
	seq     int
	mu      sync.Mutex
}

// NewEmbedded starts a node in embedded mode: see New.
func NewEmbedded(cfg Config) (*Env, error) {
	cfg.Mode = ModeEmbedded
	return New(cfg)
}

// New opens the store (refusing an existing non-empty one unless
// cfg.Force), measures the disk's fsync latency next to it, and starts a
// client and a worker; in HTTP mode, also the HTTP API on 127.0.0.1 and a
// client of it.
func New(cfg Config) (*Env, error) {
	cfg.defaults()
	if err := CheckMode(cfg.Mode); err != nil {
		return nil, err
	}
	e := &Env{cfg: cfg, Path: cfg.StorePath}
	if e.Path == "" {
		dir, err := os.MkdirTemp("", "perdure-bench-")
		if err != nil {
			return nil, err
		}
		e.tmpDir = dir
		e.Path = filepath.Join(dir, "bench.db")
	} else if fi, err := os.Stat(e.Path); err == nil && fi.Size() > 0 && !cfg.Force {
		return nil, fmt.Errorf("--store %s exists and is not empty: a benchmark needs a fresh store (remove it, choose another path, or pass --force)", e.Path)
	}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	var err error
	if e.FsyncMs, err = MeasureFsync(filepath.Dir(e.Path), fsyncSamples); err != nil {
		return nil, err
	}
	if e.CommitMs, err = MeasureCommit(filepath.Dir(e.Path), commitSamples); err != nil {
		return nil, err
	}
	if e.st, err = sqlitestore.Open(e.Path, sqlitestore.Options{}); err != nil {
		return nil, err
	}
	opts := perdure.Options{Store: e.st, Logger: cfg.Logger}
	if cfg.observe {
		// The engine's observer, read back through a private registry:
		// the scenarios that must know whether a task replayed history.
		e.metrics = prometheus.NewRegistry()
		opts.Metrics = e.metrics
	}
	if e.Client, err = perdure.NewClient(opts); err != nil {
		return nil, err
	}
	e.worker = worker.New(e.Client, worker.Options{MaxConcurrentWorkflowTasks: cfg.WorkflowTasks,
		MaxConcurrentActivities: cfg.ConcurrentActivities, Logger: cfg.Logger})
	for _, reg := range []func(*worker.Worker) error{
		func(w *worker.Worker) error { return worker.RegisterWorkflow(w, Chain3Workflow) },
		func(w *worker.Worker) error { return worker.RegisterWorkflow(w, FanoutWorkflow) },
		func(w *worker.Worker) error { return worker.RegisterWorkflow(w, SleeperTimerWorkflow) },
		func(w *worker.Worker) error { return worker.RegisterWorkflow(w, SleeperEventWorkflow) },
		func(w *worker.Worker) error { return worker.RegisterWorkflow(w, LongHistoryWorkflow) },
		func(w *worker.Worker) error { return worker.RegisterActivity(w, AddOne) },
	} {
		if err := reg(e.worker); err != nil {
			return nil, err
		}
	}
	if err := e.worker.Start(); err != nil {
		e.worker = nil
		return nil, err
	}
	if cfg.Mode == ModeHTTP {
		if err := e.serveHTTP(); err != nil {
			return nil, err
		}
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	e.prefix = "bench-" + hex.EncodeToString(b[:]) + "-"
	ok = true
	return e, nil
}

// Close stops the HTTP server, the worker and the engine, closes the store
// and removes the temporary directory, if any.
func (e *Env) Close() error {
	var errs []error
	if e.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := e.srv.Shutdown(ctx); err != nil {
			errs = append(errs, e.srv.Close())
		}
		cancel()
		if err := <-e.srvDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
		e.srv = nil
	}
	if e.worker != nil {
		errs = append(errs, e.worker.Stop())
		e.worker = nil
	}
	if e.Client != nil {
		errs = append(errs, e.Client.Close())
		e.Client = nil
	}
	if e.st != nil {
		errs = append(errs, e.st.Close())
		e.st = nil
	}
	if e.tmpDir != "" {
		errs = append(errs, os.RemoveAll(e.tmpDir))
		e.tmpDir = ""
	}
	return errors.Join(errs...)
}

func (e *Env) id() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	return fmt.Sprintf("%s%d", e.prefix, e.seq)
}

// start starts workflow fn with input under a fresh instance id, through
// the client in embedded mode or POST /api/v1/instances in HTTP mode, and
// returns the id when the start is durable.
func (e *Env) start(ctx context.Context, fn any, input any) (string, error) {
	id := e.id()
	if e.HTTP == nil {
		return e.Client.StartWorkflow(ctx, fn, input, perdure.StartOptions{InstanceID: id})
	}
	name, err := names.Bare(fn)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(input)
	if err != nil {
		return "", err
	}
	if _, err := e.HTTP.Start(ctx, api.StartRequest{WorkflowName: name, InstanceID: id, Input: b}, httpclient.StartOptions{}); err != nil {
		return "", err
	}
	return id, nil
}

// result waits for instance id to finish, through the client in embedded
// mode or the API's long-poll in HTTP mode, and decodes its output into
// out; a run that did not complete is an error.
func (e *Env) result(ctx context.Context, id string, out any) error {
	if e.HTTP == nil {
		inst, err := e.Client.WaitForCompletion(ctx, id)
		if err != nil {
			return err
		}
		if inst.Status != perdure.StatusCompleted {
			return &perdure.WorkflowError{InstanceID: id, Status: inst.Status, Failure: inst.Failure}
		}
		return inst.DecodeOutput(out)
	}
	inst, err := e.HTTP.WaitForCompletion(ctx, id)
	if err != nil {
		return err
	}
	if inst.Status != perdure.StatusCompleted {
		msg := "no details"
		if inst.Failure != nil {
			msg = inst.Failure.Message
		}
		return fmt.Errorf("instance %s ended %s: %s", id, inst.Status, msg)
	}
	return json.Unmarshal(inst.Output, out)
}

// RunChain3 starts one chain3 workflow with input n, waits for its result
// and checks that it is n+3.
func (e *Env) RunChain3(ctx context.Context, n int) error {
	id, err := e.start(ctx, Chain3Workflow, n)
	if err != nil {
		return fmt.Errorf("chain3: start: %w", err)
	}
	var out int
	if err := e.result(ctx, id, &out); err != nil {
		return fmt.Errorf("chain3: %s: %w", id, err)
	}
	if out != n+3 {
		return fmt.Errorf("chain3: %s: input %d gave %d, want %d", id, n, out, n+3)
	}
	return nil
}

// Chain3Throughput starts n chain3 workflows at once, waits for all of them
// and returns the time taken. Every result is checked.
func (e *Env) Chain3Throughput(ctx context.Context, n int) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			if err := e.RunChain3(ctx, i); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return took, nil
}

// Chain3Latency runs n chain3 workflows one at a time and returns each
// one's start-to-result time.
func (e *Env) Chain3Latency(ctx context.Context, n int) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for i := range n {
		start := time.Now()
		if err := e.RunChain3(ctx, i); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// RunFanout runs one fanout workflow over n activities, checks its result
// and returns the start-to-result time.
func (e *Env) RunFanout(ctx context.Context, n int) (time.Duration, error) {
	start := time.Now()
	id, err := e.start(ctx, FanoutWorkflow, n)
	if err != nil {
		return 0, fmt.Errorf("fanout: start: %w", err)
	}
	var sum int
	err = e.result(ctx, id, &sum)
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("fanout: %s: %w", id, err)
	}
	if want := n * (n + 1) / 2; sum != want {
		return 0, fmt.Errorf("fanout: %s: %d activities gave sum %d, want %d", id, n, sum, want)
	}
	return took, nil
}

// MeasureFsync writes and fsyncs a small file in dir samples times and
// returns the median fsync time in milliseconds.
func MeasureFsync(dir string, samples int) (float64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(dir, ".perdure-fsync-*")
	if err != nil {
		return 0, fmt.Errorf("measure fsync: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	times := make([]time.Duration, 0, samples)
	for i := range samples {
		buf[0] = byte(i)
		if _, err := f.WriteAt(buf, 0); err != nil {
			return 0, fmt.Errorf("measure fsync: %w", err)
		}
		start := time.Now()
		if err := f.Sync(); err != nil {
			return 0, fmt.Errorf("measure fsync: %w", err)
		}
		times = append(times, time.Since(start))
	}
	return ms(percentile(times, 50)), nil
}

// percentile is the nearest-rank percentile p (0-100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// ms is d in milliseconds, rounded to microseconds.
func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func cpus() int { return runtime.NumCPU() }
