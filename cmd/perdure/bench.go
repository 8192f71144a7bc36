package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/perdure/perdure/internal/bench"
)

func init() {
	addCommand(func() *cobra.Command {
		var cfg bench.Config
		var output string
		cmd := &cobra.Command{
			Use:   "bench [chain3|fanout|sleepers|long-history]",
			Short: "Measure throughput and latency on a fresh store",
			Long: `Run a benchmark scenario on a fresh store and print a table of the figures,
then, as the last line, one JSON object with every figure (--output json
prints the JSON line alone). Progress goes to stderr.

Embedded mode (the default and, for now, the only one) runs the client, the
engine and a worker in one process on a SQLite file with durable commits.
fsync_ms is the disk's measured fsync latency, so that figures from
different disks can be compared.

  perdure bench chain3                3 chained activities: workflows/s, p50/p99 latency
  perdure bench fanout                one workflow over 1,000 activities`,
			Args: cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "Scenarios (perdure bench SCENARIO):")
					for _, s := range bench.Scenarios {
						note := ""
						if !s.Available {
							note = " (not available yet)"
						}
						fmt.Fprintf(tw, "  %s\t%s%s\n", s.Name, s.Summary, note)
					}
					return tw.Flush()
				}
				if output != "table" && output != "json" {
					return fmt.Errorf("--output %q: use table or json", output)
				}
				if err := bench.CheckMode(cfg.Mode); err != nil {
					return err
				}
				cfg.Progress = cmd.ErrOrStderr()
				r, err := bench.Run(cmd.Context(), args[0], cfg)
				if err != nil {
					return err
				}
				return bench.Write(cmd.OutOrStdout(), r, output == "json")
			},
		}
		fl := cmd.Flags()
		fl.IntVarP(&cfg.Workflows, "workflows", "n", bench.DefaultWorkflows, "chain3: workflows started at once for throughput")
		fl.IntVarP(&cfg.LatencyRuns, "latency-runs", "l", bench.DefaultLatencyRuns, "chain3: workflows run one at a time for latency")
		fl.IntVar(&cfg.Activities, "activities", bench.DefaultActivities, "fanout: activities in the workflow")
		fl.StringVar(&cfg.StorePath, "store", "", "SQLite file to use (default: a fresh file in a temporary directory, removed afterwards)")
		fl.BoolVar(&cfg.Force, "force", false, "use --store even when it exists and is not empty")
		fl.StringVar(&cfg.Mode, "mode", bench.ModeEmbedded, "embedded (client, engine and worker in one process); http is planned")
		fl.StringVarP(&output, "output", "o", "table", "table (a table, then the JSON line) or json (the JSON line alone)")
		fl.IntVar(&cfg.WorkflowTasks, "workflow-tasks", bench.DefaultWorkflowTasks, "workflow tasks run at once by the worker")
		fl.IntVar(&cfg.ConcurrentActivities, "concurrent-activities", bench.DefaultConcurrentAct, "activity attempts run at once by the worker")
		return cmd
	})
}
