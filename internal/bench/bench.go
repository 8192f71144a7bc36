// Package bench measures Perdure end to end: scenarios that run real
// workflows on a fresh store and report throughput and latency figures.
// `perdure bench` and the Go benchmarks of this package use the same
// runners, so that the figures of the command and of `go test -bench`
// describe the same work.
//
// Embedded mode runs the client, the engine and a worker in one process on
// a SQLite file with durable commits (synchronous=FULL), as `perdure dev`
// and `perdure server` do, or on a fresh schema of a PostgreSQL database,
// with one or more nodes (engines, each with its store's connection pool
// and its worker) in the process. HTTP mode runs the same node behind a
// real `perdure server` HTTP API (package server) on a loopback TCP port,
// and drives it through package httpclient.
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
	"github.com/perdure/perdure/store"
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
	ModeGRPC     = "grpc"
)

// Defaults of the issue.
const (
	DefaultWorkflows     = 1000
	DefaultLatencyRuns   = 200
	DefaultActivities    = 1000
	DefaultWorkflowTasks = 1024
	// DefaultConcurrentAct: an activity keeps its slot until its result
	// is durable (the slot then goes to the next activity the commit
	// leased, eager dispatch), so slots bound throughput at about slots /
	// commit latency: with 256, chain3 waited for slots (see
	// docs/performance.md, fourth round, item 23).
	DefaultConcurrentAct = 1024
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
	// directory that is removed afterwards. A postgres:// or
	// postgresql:// URL selects PostgreSQL instead: the run creates a
	// fresh schema (perdure_bench_ and random hex digits) in that
	// database and drops it afterwards, unless Keep.
	StorePath string
	// Force allows StorePath to name an existing, non-empty store.
	Force bool
	// ExclusiveLocking opens the SQLite store with
	// sqlitestore.Options.ExclusiveLocking.
	ExclusiveLocking bool
	// Nodes is the number of nodes sharing a PostgreSQL store (default 1):
	// each has its own engine, connection pool and worker, with the same
	// workflows and activities; workflows are started on each in turn.
	Nodes int
	// PoolSize is the connection pool of each node's PostgreSQL store; 0
	// keeps the store's default.
	PoolSize int
	// Keep leaves the PostgreSQL schema in place after the run.
	Keep bool
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

	// Stats prints, in the progress, what the engines' group commits did
	// during chain3's throughput phase and fanout: transactions, ops per
	// transaction, time spent in commits.
	Stats bool
	// Cold times chain3's burst and fanout in a process that has not run
	// them yet. By default a burst of the same size runs first, untimed:
	// a process's first burst also pays for the Go runtime's warm-up
	// (goroutine stacks that grow before the runtime learns their usual
	// size, the heap and stack pools growing from the OS), which a
	// running node has behind it.
	Cold bool

	// observe registers the engine's metrics on a private registry, for
	// the scenarios that read them (Env.taskCounts).
	observe bool
}

func (c *Config) defaults() {
	if c.Mode == "" {
		c.Mode = ModeEmbedded
	}
	if c.Nodes <= 0 {
		c.Nodes = 1
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
	case "", ModeEmbedded, ModeHTTP, ModeGRPC:
		return nil
	}
	return fmt.Errorf("--mode %q: use embedded, http or grpc", mode)
}

// Check fails for an unknown scenario or mode, a mode the scenario does
// not run in, and several nodes where they do not apply: --nodes above 1
// needs a PostgreSQL store, embedded mode, and chain3 or fanout.
func Check(scenario string, cfg Config) error {
	cfg.defaults()
	if err := CheckScenarioMode(scenario, cfg.Mode); err != nil {
		return err
	}
	return checkConfig(scenario, cfg)
}

// checkConfig checks the store and the nodes of cfg (with defaults) for
// scenario ("": any).
func checkConfig(scenario string, cfg Config) error {
	if err := CheckMode(cfg.Mode); err != nil {
		return err
	}
	if cfg.ExclusiveLocking && IsPostgres(cfg.StorePath) {
		return errors.New("--sqlite-exclusive-locking is for a SQLite store; --store is a PostgreSQL URL")
	}
	if cfg.Nodes == 1 {
		return nil
	}
	switch {
	case !IsPostgres(cfg.StorePath):
		return fmt.Errorf("--nodes %d needs a store shared by several nodes: --store postgres://…", cfg.Nodes)
	case cfg.Mode != ModeEmbedded:
		return fmt.Errorf("--nodes %d runs in --mode embedded only", cfg.Nodes)
	case scenario == Sleepers || scenario == LongHistory:
		return fmt.Errorf("%s with --nodes %d is %w: it reads one engine's memory and cache; several nodes run chain3 and fanout", scenario, cfg.Nodes, ErrNotAvailable)
	}
	return nil
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
		if mode == ModeGRPC && !s.HTTP {
			return fmt.Errorf("%s in --mode grpc is %w: use --mode embedded (grpc runs chain3 and fanout)", scenario, ErrNotAvailable)
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

// Env is a running benchmark: one node (a store, a client — the engine —
// and a worker with the scenarios' workflows and activities) on SQLite, or
// one or more nodes sharing a PostgreSQL schema; in HTTP mode, also a
// `perdure server` HTTP API on a loopback port and an HTTP client of it.
type Env struct {
	// Client is the first node's client.
	Client *perdure.Client
	// Path is the SQLite file, or the PostgreSQL URL without its password.
	Path string
	// Store is StoreSQLite or StorePostgres.
	Store string
	// Schema is the PostgreSQL schema of the run, "" on SQLite.
	Schema  string
	FsyncMs float64
	// CommitMs is the measured durable commit time: of a one-row SQLite
	// transaction on the disk, or of a one-row PostgreSQL transaction over
	// a connection to the server (MeasurePostgresCommit).
	CommitMs float64
	// URL is the HTTP API's address in HTTP mode, "" otherwise.
	URL string
	// HTTP is the client of the HTTP API in HTTP mode, nil otherwise.
	HTTP *httpclient.Client
	// grpc is the Durable Task gRPC side in gRPC mode, nil otherwise.
	grpc *grpcEnv

	cfg     Config
	nodes   []*node
	worker  *worker.Worker // the first node's
	metrics *prometheus.Registry
	srv     *http.Server
	srvDone chan error
	tmpDir  string
	prefix  string
	seq     int
	started map[string]*node // the node each instance was started on, with several nodes
	mu      sync.Mutex
}

// node is one engine of the benchmark with its store and worker.
type node struct {
	st      store.Store
	client  *perdure.Client
	worker  *worker.Worker
	metrics *prometheus.Registry // with Config.Stats or observe
}

// NewEmbedded starts a node in embedded mode: see New.
func NewEmbedded(cfg Config) (*Env, error) {
	cfg.Mode = ModeEmbedded
	return New(cfg)
}

// New opens the store — a SQLite file, refused when it exists and is not
// empty unless cfg.Force, or a fresh schema of the PostgreSQL database
// cfg.StorePath names, with a store per node — measures the disk's fsync
// latency and a durable commit, and starts a client and a worker per node;
// in HTTP mode, also the HTTP API on 127.0.0.1 and a client of it.
func New(cfg Config) (*Env, error) {
	cfg.defaults()
	if err := checkConfig("", cfg); err != nil {
		return nil, err
	}
	e := &Env{cfg: cfg, Path: cfg.StorePath, Store: StoreSQLite}
	pg := IsPostgres(cfg.StorePath)
	switch {
	case pg:
		e.Store, e.Path = StorePostgres, redact(cfg.StorePath)
	case e.Path == "":
		dir, err := os.MkdirTemp("", "perdure-bench-")
		if err != nil {
			return nil, err
		}
		e.tmpDir = dir
		e.Path = filepath.Join(dir, "bench.db")
	default:
		if fi, err := os.Stat(e.Path); err == nil && fi.Size() > 0 && !cfg.Force {
			return nil, fmt.Errorf("--store %s exists and is not empty: a benchmark needs a fresh store (remove it, choose another path, or pass --force)", e.Path)
		}
	}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	var err error
	if pg {
		// The disk of this machine, which is the server's when it runs
		// here.
		if e.FsyncMs, err = MeasureFsync(os.TempDir(), fsyncSamples); err != nil {
			return nil, err
		}
		if err := e.openPostgres(context.Background()); err != nil {
			return nil, err
		}
	} else {
		if e.FsyncMs, err = MeasureFsync(filepath.Dir(e.Path), fsyncSamples); err != nil {
			return nil, err
		}
		if e.CommitMs, err = MeasureCommit(filepath.Dir(e.Path), commitSamples); err != nil {
			return nil, err
		}
		st, err := sqlitestore.Open(e.Path, sqlitestore.Options{ExclusiveLocking: cfg.ExclusiveLocking})
		if err != nil {
			return nil, err
		}
		e.nodes = []*node{{st: st}}
	}
	for i, n := range e.nodes {
		opts := perdure.Options{Store: n.st, Logger: cfg.Logger}
		if cfg.observe || cfg.Stats {
			// The engine's observer, read back through a private registry:
			// the scenarios that must know whether a task replayed history,
			// and the commit figures of Config.Stats.
			n.metrics = prometheus.NewRegistry()
			opts.Metrics = n.metrics
			if i == 0 {
				e.metrics = n.metrics
			}
		}
		if n.client, err = perdure.NewClient(opts); err != nil {
			return nil, err
		}
		w := worker.New(n.client, worker.Options{MaxConcurrentWorkflowTasks: cfg.WorkflowTasks,
			MaxConcurrentActivities: cfg.ConcurrentActivities, Logger: cfg.Logger})
		for _, reg := range []func(*worker.Worker) error{
			func(w *worker.Worker) error { return worker.RegisterWorkflow(w, Chain3Workflow) },
			func(w *worker.Worker) error { return worker.RegisterWorkflow(w, FanoutWorkflow) },
			func(w *worker.Worker) error { return worker.RegisterWorkflow(w, SleeperTimerWorkflow) },
			func(w *worker.Worker) error { return worker.RegisterWorkflow(w, SleeperEventWorkflow) },
			func(w *worker.Worker) error { return worker.RegisterWorkflow(w, LongHistoryWorkflow) },
			func(w *worker.Worker) error { return worker.RegisterActivity(w, AddOne) },
		} {
			if err := reg(w); err != nil {
				return nil, err
			}
		}
		if cfg.Mode != ModeGRPC {
			if err := w.Start(); err != nil {
				return nil, err
			}
		}
		n.worker = w
	}
	e.Client, e.worker = e.nodes[0].client, e.nodes[0].worker
	if len(e.nodes) > 1 {
		e.started = map[string]*node{}
	}
	switch cfg.Mode {
	case ModeHTTP:
		if err := e.serveHTTP(); err != nil {
			return nil, err
		}
	case ModeGRPC:
		if err := e.serveGRPC(); err != nil {
			return nil, err
		}
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	e.prefix = "bench-" + hex.EncodeToString(b[:]) + "-"
	ok = true
	return e, nil
}

// Close stops the HTTP server, the workers and the engines, closes the
// stores, and removes the temporary directory or drops the PostgreSQL
// schema (unless Config.Keep).
func (e *Env) Close() error {
	var errs []error
	if e.grpc != nil {
		errs = append(errs, e.grpc.close())
		e.grpc = nil
	}
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
	for _, n := range e.nodes {
		if n.worker != nil {
			errs = append(errs, n.worker.Stop())
			n.worker = nil
		}
	}
	for _, n := range e.nodes {
		if n.client != nil {
			errs = append(errs, n.client.Close())
			n.client = nil
		}
		if n.st != nil {
			errs = append(errs, n.st.Close())
			n.st = nil
		}
	}
	e.nodes, e.Client, e.worker = nil, nil, nil
	if e.tmpDir != "" {
		errs = append(errs, os.RemoveAll(e.tmpDir))
		e.tmpDir = ""
	}
	if e.Schema != "" && !e.cfg.Keep {
		errs = append(errs, dropSchema(e.cfg.StorePath, e.Schema))
		e.Schema = ""
	}
	return errors.Join(errs...)
}

// id returns a fresh instance id and the node to start it on: each node
// in turn.
func (e *Env) id() (string, *node) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	id := fmt.Sprintf("%s%d", e.prefix, e.seq)
	n := e.nodes[e.seq%len(e.nodes)]
	if e.started != nil {
		e.started[id] = n
	}
	return id, n
}

// nodeOf returns the node instance id was started on (the first node for
// an id it does not know).
func (e *Env) nodeOf(id string) *node {
	e.mu.Lock()
	defer e.mu.Unlock()
	if n, ok := e.started[id]; ok {
		return n
	}
	return e.nodes[0]
}

// start starts workflow fn with input under a fresh instance id, through
// the client in embedded mode (with several nodes, each node's client in
// turn) or POST /api/v1/instances in HTTP mode, and returns the id when the
// start is durable.
func (e *Env) start(ctx context.Context, fn any, input any) (string, error) {
	id, n := e.id()
	if e.HTTP == nil && e.grpc == nil {
		return n.client.StartWorkflow(ctx, fn, input, perdure.StartOptions{InstanceID: id})
	}
	name, err := names.Bare(fn)
	if err != nil {
		return "", err
	}
	if e.grpc != nil {
		return id, e.grpc.start(ctx, id, name, input)
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

// result waits for instance id to finish, through the clients in embedded
// mode (see wait) or the API's long-poll in HTTP mode, and decodes its
// output into out; a run that did not complete is an error.
func (e *Env) result(ctx context.Context, id string, out any) error {
	if e.grpc != nil {
		return e.grpc.result(ctx, id, out)
	}
	if e.HTTP == nil {
		inst, err := e.wait(ctx, id)
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

// wait waits for instance id to finish. With several nodes it waits on
// every node's client and the first to see the run finish answers: the
// node that ran the last step knows at once, while the others would learn
// it only when they read the run again (once a second), which the figures
// would then measure instead of the work.
func (e *Env) wait(ctx context.Context, id string) (*perdure.Instance, error) {
	if len(e.nodes) == 1 {
		return e.Client.WaitForCompletion(ctx, id)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		inst *perdure.Instance
		err  error
	}
	answers := make(chan answer, len(e.nodes))
	for _, n := range e.nodes {
		go func() {
			inst, err := n.client.WaitForCompletion(ctx, id)
			answers <- answer{inst, err}
		}()
	}
	var first error
	for range e.nodes {
		a := <-answers
		if a.err == nil {
			return a.inst, nil
		}
		if first == nil {
			first = a.err
		}
	}
	return nil, first
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
// one's start-to-result time, and the time it spent waiting for the WAL's
// fsyncs (on SQLite; zero elsewhere): one workflow at a time, every WAL
// fsync made while it runs is one of its commits'.
func (e *Env) Chain3Latency(ctx context.Context, n int) (lat, synced []time.Duration, err error) {
	lat, synced = make([]time.Duration, 0, n), make([]time.Duration, 0, n)
	for i := range n {
		syncs := sqlitestore.WALSyncTime()
		start := time.Now()
		if err := e.RunChain3(ctx, i); err != nil {
			return nil, nil, err
		}
		lat = append(lat, time.Since(start))
		synced = append(synced, sqlitestore.WALSyncTime()-syncs)
	}
	return lat, synced, nil
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
