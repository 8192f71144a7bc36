package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/perdure/perdure/internal/bench"
)

func init() {
	addCommand(func() *cobra.Command {
		var cfg bench.Config
		var output, cpuProfile, traceFile string
		repeat := 1
		cmd := &cobra.Command{
			Use:   "bench [chain3|fanout|sleepers|long-history|targets]",
			Short: "Measure throughput, latency and memory on a fresh store",
			Long: `Run a benchmark scenario on a fresh store and print a table of the figures,
then, as the last line, one JSON object with every figure (--output json
prints the JSON line alone). Progress goes to stderr. Every result is
checked; a wrong or missing one fails the run.

chain3's burst and fanout are timed after an untimed run of the same
size, the state of a node that has been running; its figures are in the
JSON as warmup_*. --cold times the process's first run instead, which
also pays for the Go runtime's warm-up. --repeat N runs the scenario N
times, each in a process of its own, and reports each figure's median.

Embedded mode (the default) runs the client, the engine and a worker in one
process on a SQLite file with durable commits. --mode http (chain3 and
fanout) starts the same node behind the HTTP API of perdure server on a
loopback port and drives it over TCP through the Go HTTP client: start,
then long-poll for the result. --mode grpc (chain3 and fanout) serves the
Durable Task gRPC API (as perdure server --grpc-addr does) on a loopback
port and runs the scenarios' workflows and activities with the stock Go SDK
of Dapr Workflow (github.com/dapr/durabletask-go): its worker runs them,
its client starts them and waits for them. fsync_ms is the disk's measured fsync
latency and commit_ms its measured durable SQLite commit, so that figures
from different disks can be compared. On SQLite, chain3 also reports the
median of the WAL fsyncs its one-at-a-time runs waited for (wal_fsync_ms)
and how many a workflow made (wal_fsyncs_per_workflow), and each run's
latency less the WAL fsyncs it waited for (engine_p50_ms, engine_p99_ms):
the engine's own part of the latency, whatever the disk. chain3's
cpu_us_per_workflow is the process's CPU time during the timed burst per
workflow: what a workflow costs the machine, whatever its processors.

--store postgres://… (or postgresql://…) runs the embedded node on
PostgreSQL instead: the run creates a fresh schema named perdure_bench_
and random hex digits in that database (the user needs the CREATE
privilege), and drops it afterwards unless --keep. --nodes 2 (chain3 and
fanout) runs two nodes in the process, each with its own engine,
connection pool (--pool connections) and worker registering the same
workflows and activities, sharing that schema; workflows are started on
each node in turn, and awaited on every node (the node that finishes a
run knows at once, the others within a second). There,
commit_ms is the median of 20 one-row transactions committed over one
connection (a round trip and the server's durable commit), and fsync_ms
the disk of this machine.

  perdure bench chain3                3 chained activities: workflows/s, p50/p99 latency
  perdure bench chain3 --repeat 5     five runs: the median of each figure
  perdure bench chain3 --mode http    the same through the HTTP API
  perdure bench chain3 --mode grpc    the same with Dapr Workflow's Go SDK over gRPC
  perdure bench fanout                one workflow over 1,000 activities
  perdure bench sleepers              100,000 waiting workflows: memory, timer lateness,
                                      event delivery (a few minutes)
  perdure bench long-history          5 workflows of 10,000 events, evicted, then woken:
                                      time to resume
  perdure bench targets               every scenario with its defaults (3 runs each,
                                      sleepers once, about 3 minutes), against the
                                      targets: met or not, with the disk's fsync
  perdure bench chain3 --store postgres://postgres@127.0.0.1:5432/test?sslmode=disable
                                      chain3 on PostgreSQL, one node
  perdure bench chain3 --store postgres://… --nodes 2
                                      two nodes sharing one PostgreSQL schema`,
			Args: cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "Scenarios (perdure bench SCENARIO):")
					for _, s := range bench.Scenarios {
						note := ""
						switch {
						case !s.Available:
							note = " (not available yet)"
						case !s.HTTP:
							note = " (embedded mode)"
						}
						fmt.Fprintf(tw, "  %s\t%s%s\n", s.Name, s.Summary, note)
					}
					fmt.Fprintf(tw, "  %s\t%s\n", bench.Targets, "every scenario with its defaults, against the targets on a 2-core machine: met or not")
					return tw.Flush()
				}
				if output != "table" && output != "json" {
					return fmt.Errorf("--output %q: use table or json", output)
				}
				if args[0] == bench.Targets {
					if !cmd.Flags().Changed("repeat") {
						repeat = 3
					}
					if repeat < 1 {
						return fmt.Errorf("--repeat %d: give 1 or more runs", repeat)
					}
					return benchTargets(cmd, repeat, output == "json")
				}
				if err := bench.Check(args[0], cfg); err != nil {
					return err
				}
				if repeat < 1 {
					return fmt.Errorf("--repeat %d: give 1 or more runs", repeat)
				}
				if repeat > 1 && cfg.StorePath != "" && !bench.IsPostgres(cfg.StorePath) {
					return fmt.Errorf("--repeat %d with --store %s: each run needs a fresh store; leave --store out (a temporary file per run)", repeat, cfg.StorePath)
				}
				if repeat > 1 && (cpuProfile != "" || traceFile != "") {
					return fmt.Errorf("--repeat %d: --cpuprofile and --trace profile one run; leave --repeat out", repeat)
				}
				cfg.Progress = cmd.ErrOrStderr()
				stopCPU, err := profile(cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile)
				if err != nil {
					return err
				}
				defer stopCPU()
				stopTrace, err := profile(traceFile, trace.Start, trace.Stop)
				if err != nil {
					return err
				}
				defer stopTrace()
				if repeat == 1 {
					r, err := bench.Run(cmd.Context(), args[0], cfg)
					if err != nil {
						return err
					}
					return bench.Write(cmd.OutOrStdout(), r, output == "json")
				}
				runs, err := benchRuns(cmd, args[0], repeat)
				if err != nil {
					return err
				}
				c, err := bench.Combine(runs)
				if err != nil {
					return err
				}
				return bench.Write(cmd.OutOrStdout(), c, output == "json")
			},
		}
		fl := cmd.Flags()
		fl.IntVarP(&cfg.Workflows, "workflows", "n", bench.DefaultWorkflows, "chain3: workflows started at once for throughput")
		fl.IntVarP(&cfg.LatencyRuns, "latency-runs", "l", bench.DefaultLatencyRuns, "chain3: workflows run one at a time for latency")
		fl.IntVar(&cfg.Activities, "activities", bench.DefaultActivities, "fanout: activities in the workflow")
		fl.IntVar(&cfg.Sleepers, "sleepers", bench.DefaultSleepers, "sleepers: workflows waiting at once, half on a timer, half on an event")
		fl.IntVar(&cfg.TimerRate, "timer-rate", bench.DefaultTimerRate, "sleepers: timers due per second")
		fl.IntVar(&cfg.HistoryEvents, "history-events", bench.DefaultHistoryEvents, "long-history: history events of each workflow before it is evicted")
		fl.IntVar(&cfg.Resumes, "resumes", bench.DefaultResumes, "long-history: workflows built and resumed, one sample each")
		fl.StringVar(&cfg.StorePath, "store", "", "SQLite file to use (default: a fresh file in a temporary directory, removed afterwards), or a postgres:// URL: a fresh schema in that database")
		fl.BoolVar(&cfg.Force, "force", false, "use --store even when it exists and is not empty (SQLite)")
		fl.BoolVar(&cfg.ExclusiveLocking, "sqlite-exclusive-locking", false, "SQLite: open the store as perdure server --sqlite-exclusive-locking does (other processes locked out, fewer system calls per commit)")
		fl.IntVar(&cfg.Nodes, "nodes", 1, "PostgreSQL: nodes (engines with their own connection pool and worker) sharing the schema; chain3 and fanout")
		fl.IntVar(&cfg.PoolSize, "pool", 0, "PostgreSQL: connections of each node's pool (0: the store's default)")
		fl.BoolVar(&cfg.Keep, "keep", false, "PostgreSQL: keep the schema after the run (its name is in the progress)")
		fl.StringVar(&cfg.Mode, "mode", bench.ModeEmbedded, "embedded (client, engine and worker in one process) http (client → perdure server over TCP) or grpc (Dapr Workflow's Go SDK worker and client → Durable Task gRPC API); http and grpc run chain3 and fanout")
		fl.StringVarP(&output, "output", "o", "table", "table (a table, then the JSON line) or json (the JSON line alone)")
		fl.BoolVar(&cfg.Cold, "cold", false, "chain3 and fanout: time the process's first burst (or fanout) instead of the one after an untimed one of the same size")
		fl.BoolVar(&cfg.Stats, "stats", false, "chain3 and fanout: print what the group commits did (transactions, ops each, time) in the progress")
		fl.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (go tool pprof) to this file")
		fl.IntVar(&repeat, "repeat", 1, "run the scenario this many times, each in a process of its own on a fresh store, and report each figure's median (the runs' values of the figures that varied under <key>_runs)")
		fl.StringVar(&traceFile, "trace", "", "write an execution trace of the whole run (go tool trace) to this file")
		fl.IntVar(&cfg.WorkflowTasks, "workflow-tasks", bench.DefaultWorkflowTasks, "workflow tasks run at once by the worker")
		fl.IntVar(&cfg.ConcurrentActivities, "concurrent-activities", bench.DefaultConcurrentAct, "activity attempts run at once by the worker")
		return cmd
	})
}

// benchRuns runs the scenario n times, each as a child process of this
// binary (perdure bench SCENARIO with the same flags, --output json), so
// that no run starts warmer than the first; their progress goes to
// stderr as they run. It returns each run's JSON line.
func benchRuns(cmd *cobra.Command, scenario string, n int) ([][]byte, error) {
	args := []string{"bench", scenario}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		switch f.Name {
		case "repeat", "output":
		default:
			args = append(args, "--"+f.Name+"="+f.Value.String())
		}
	})
	args = append(args, "--output", "json")
	progress := cmd.ErrOrStderr()
	var runs [][]byte
	for i := range n {
		fmt.Fprintf(progress, "%s: run %d of %d\n", scenario, i+1, n)
		line, err := benchChild(cmd, args)
		if err != nil {
			return nil, fmt.Errorf("run %d of %d: %w", i+1, n, err)
		}
		fmt.Fprintf(progress, "%s\n", line)
		runs = append(runs, line)
	}
	return runs, nil
}

// benchChild runs this binary with args (a perdure bench command with
// --output json), its progress on stderr, and returns the JSON line it
// printed last.
func benchChild(cmd *cobra.Command, args []string) ([]byte, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to run it again: %w", err)
	}
	var out bytes.Buffer
	child := exec.CommandContext(cmd.Context(), exe, args...)
	child.Stdout, child.Stderr = &out, cmd.ErrOrStderr()
	if err := child.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", exe, strings.Join(args, " "), err)
	}
	line := bytes.TrimSpace(out.Bytes())
	if k := bytes.LastIndexByte(line, '\n'); k >= 0 {
		line = line[k+1:]
	}
	return line, nil
}

// profile starts writing a profile (CPU, execution trace) to path with
// start, when path is set; the returned func stops it and closes the file.
func profile(path string, start func(io.Writer) error, stop func()) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		stop()
		f.Close()
	}, nil
}
